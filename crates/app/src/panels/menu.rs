//! The menu bar: File and View, and on the right the loaded weights and where they run.

use egui::RichText;
use featurescope_net::{WeightsInfo, WeightsSource};

use crate::action::{Action, Choose, Export};
use crate::panel::{Panel, Place};
use crate::services::dialogs::DialogChoice;
use crate::services::worker::ImageSource;
use crate::state::{AppState, LayerRef};

/// The menu bar.
pub struct Menu;

impl Panel for Menu {
    fn id(&self) -> &'static str {
        "menu"
    }

    fn place(&self) -> Place {
        Place::Top
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| file_menu(ui, state, actions));
            ui.menu_button("View", |ui| view_menu(ui, actions));
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                weights_ui(ui, state);
            });
        });
    }
}

/// A menu entry that pushes `action` when clicked.
fn item(
    ui: &mut egui::Ui,
    actions: &mut Vec<Action>,
    label: &str,
    enabled: bool,
    hover: &str,
    action: Action,
) {
    let r = ui.add_enabled(enabled, egui::Button::new(label));
    let r = if hover.is_empty() {
        r
    } else {
        r.on_hover_text(hover)
    };
    if r.clicked() {
        actions.push(action);
    }
}

fn file_menu(ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
    let open = Action::Choose(Choose::Image);
    item(ui, actions, "Open image…  (Ctrl+O)", true, "", open);
    item(
        ui,
        actions,
        "Paste image  (Ctrl+V)",
        true,
        "",
        Action::Paste,
    );
    ui.menu_button("Open recent", |ui| {
        if state.settings.recent.is_empty() {
            ui.label("(none yet)");
        }
        for p in &state.settings.recent {
            if ui.button(p.display().to_string()).clicked() {
                actions.push(Action::Analyse(ImageSource::File(p.clone())));
            }
        }
    });
    ui.separator();
    let weights = Action::Choose(Choose::Weights);
    item(ui, actions, "Open weights…", true, "", weights);
    let bundled = Action::LoadWeights(WeightsSource::Bundled);
    item(ui, actions, "Bundled weights", true, "", bundled);
    let names_hover = "A labels file for the model's predictions: one name per line \
                       (retrained_labels.txt), or a JSON list";
    let names = Action::Choose(Choose::ClassNames);
    item(
        ui,
        actions,
        "Open class names…",
        state.has_head(),
        names_hover,
        names,
    );
    ui.separator();
    item(
        ui,
        actions,
        "Open atlas…",
        true,
        "",
        Action::Choose(Choose::Atlas),
    );
    let build_hover = "Which images of a folder excite each filter most: their crops appear \
                       beside the tiles";
    let idle = state.atlas_build.is_none();
    let build = Action::Choose(Choose::AtlasFolder);
    item(
        ui,
        actions,
        "Build atlas from folder…",
        idle,
        build_hover,
        build,
    );
    ui.separator();
    compare_items(ui, state, actions);
    ui.separator();
    class_items(ui, state, actions);
    ui.separator();
    let has_view = state.view.is_some();
    let grid = Action::Choose(Choose::ExportTo(Export::Grid));
    item(ui, actions, "Export grid as PNG…", has_view, "", grid);
    let layer = Action::Choose(Choose::ExportTo(Export::Layer));
    item(ui, actions, "Export layer as .npy…", has_view, "", layer);
    ui.separator();
    dialog_choice_ui(ui, state, actions);
    ui.separator();
    if ui.button("Quit").clicked() {
        ui.send_viewport_cmd(egui::ViewportCommand::Close);
    }
}

/// Pinning, comparison reports and the comparison figure.
fn compare_items(ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
    match state.pinned {
        None => {
            let hover = "Keep this analysis as A: the next image, or the same image under other \
                         weights, is B, shown beside it on one colour scale";
            item(
                ui,
                actions,
                "Pin analysis as A",
                state.analysis.is_some(),
                hover,
                Action::Pin,
            );
        }
        Some(_) => item(ui, actions, "Unpin A", true, "", Action::Unpin),
    }
    let figure = Action::Choose(Choose::ExportTo(Export::Figure));
    let hover = "Both inputs, the layer's tiles of both and the difference, labels and colour \
                 bars (PNG at 2x)";
    item(
        ui,
        actions,
        "Export comparison figure…",
        state.pair.is_some(),
        hover,
        figure,
    );
    let open = Action::Choose(Choose::Report);
    item(ui, actions, "Open comparison report…", true, "", open);
    let hover = "Which layers and filters differ between the loaded weights (A) and other \
                 weights (B) over a folder of images: CKA per layer beside the tree";
    let build = Action::Choose(Choose::ReportFolder);
    let idle = state.report_build.is_none();
    item(
        ui,
        actions,
        "Compare models over a folder…",
        idle,
        hover,
        build,
    );
}

/// Class summaries: open one, or build one from a folder of class folders.
fn class_items(ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
    let open = Action::Choose(Choose::Classes);
    item(ui, actions, "Open class summary…", true, "", open);
    let hover = "From a folder with one sub-folder per class (named as the model's classes, or \
                 their indices): per class which channels the model uses, and the graph of how \
                 they feed each other, in the Classes window";
    let build = Action::Choose(Choose::ClassesFolder);
    let idle = state.class_build.is_none() && state.has_head();
    item(ui, actions, "Build class summary…", idle, hover, build);
}

fn dialog_choice_ui(ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
    let mut built_in = state.settings.file_dialog == DialogChoice::BuiltIn;
    let changed = ui
        .checkbox(&mut built_in, "Use featurescope's file browser")
        .on_hover_text(
            "Instead of the system's file dialog (used automatically when the desktop has none)",
        )
        .changed();
    if changed {
        let mut settings = state.settings.clone();
        settings.file_dialog = match built_in {
            true => DialogChoice::BuiltIn,
            false => DialogChoice::Auto,
        };
        actions.push(Action::ChangeSettings(Box::new(settings)));
    }
}

fn view_menu(ui: &mut egui::Ui, actions: &mut Vec<Action>) {
    for (label, action) in [
        ("Previous layer  (Up arrow)", Action::StepLayer(-1)),
        ("Next layer  (Down arrow)", Action::StepLayer(1)),
        ("Predictions (head)", Action::Select(LayerRef::Head)),
    ] {
        if ui.button(label).clicked() {
            actions.push(action);
        }
    }
}

/// The loaded weights and where they run (right to left), or a spinner while they load.
fn weights_ui(ui: &mut egui::Ui, state: &AppState) {
    let Some(w) = &state.weights else {
        ui.spinner();
        ui.label("loading weights…");
        return;
    };
    let device = if state.hide_machine_details {
        w.device.backend.name().to_string()
    } else {
        w.device.to_string()
    };
    ui.label(RichText::new(device).weak());
    let info = &w.info;
    ui.label(format!(
        "{} · {}",
        info.source.short_name(),
        info.head.description
    ))
    .on_hover_text(weights_details(info));
}

/// The loaded weights in words: file, format, network variant, pixel scaling, class names.
fn weights_details(info: &WeightsInfo) -> String {
    let labels = match &info.head.labels_file {
        Some(p) => format!("class names from {}", p.display()),
        None if info.head.labels.is_empty() => "no head".to_string(),
        None => "class names: built in or numbered".to_string(),
    };
    format!(
        "{}\n{} · {}\ninput scaled {}\n{labels}",
        info.source,
        info.format.name(),
        info.variant.describe(),
        info.normalization.describe()
    )
}
