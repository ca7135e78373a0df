//! The menu bar, status bar, layer tree and input/predictions panels.

use egui::{Color32, RichText};
use featurescope_net::catalogue::{BlockKind, LayerInfo};
use featurescope_net::model::{GRAPH_2015_MAX_POOL, Variant};
use featurescope_net::{Catalogue, LayerKind, WeightsInfo, WeightsSource};

use crate::app::FeaturescopeApp;
use crate::files::{DialogChoice, FileRequest};
use crate::worker::{ImageSource, Stage};

/// A status-bar progress bar of `done` of `total` steps, then `text`.
pub(crate) fn progress_row(ui: &mut egui::Ui, done: usize, total: usize, width: f32, text: String) {
    let fraction = if total > 0 {
        done as f32 / total as f32
    } else {
        0.0
    };
    ui.add(
        egui::ProgressBar::new(fraction)
            .desired_width(width)
            .show_percentage(),
    );
    ui.label(text);
}

/// Marker drawn next to layers on the 48-deep longest path.
pub const PATH_MARK: &str = "◆";

impl FeaturescopeApp {
    pub(crate) fn menu_ui(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open image…  (Ctrl+O)").clicked() {
                    self.choose_file(FileRequest::OpenImage);
                }
                if ui.button("Paste image  (Ctrl+V)").clicked() {
                    self.tasks.paste();
                }
                ui.menu_button("Open recent", |ui| {
                    if self.settings.recent.is_empty() {
                        ui.label("(none yet)");
                    }
                    let mut pick = None;
                    for p in &self.settings.recent {
                        if ui.button(p.display().to_string()).clicked() {
                            pick = Some(p.clone());
                        }
                    }
                    if let Some(p) = pick {
                        self.analyse(ImageSource::File(p));
                    }
                });
                ui.separator();
                if ui.button("Open weights…").clicked() {
                    self.choose_file(FileRequest::OpenWeights);
                }
                if ui.button("Bundled weights").clicked() {
                    self.load_weights(WeightsSource::Bundled);
                }
                let has_head = self.has_head();
                if ui
                    .add_enabled(has_head, egui::Button::new("Open class names…"))
                    .on_hover_text(
                        "A labels file for the model's predictions: one name per line \
                         (retrained_labels.txt), or a JSON list",
                    )
                    .clicked()
                {
                    self.choose_file(FileRequest::OpenLabels);
                }
                ui.separator();
                if ui.button("Open atlas…").clicked() {
                    self.choose_file(FileRequest::OpenAtlas);
                }
                if ui
                    .add_enabled(
                        self.atlas_build.is_none(),
                        egui::Button::new("Build atlas from folder…"),
                    )
                    .on_hover_text(
                        "Which images of a folder excite each filter most: their crops appear \
                         beside the tiles",
                    )
                    .clicked()
                {
                    self.choose_file(FileRequest::AtlasFolder);
                }
                ui.separator();
                let has_view = self.view.is_some();
                if ui
                    .add_enabled(has_view, egui::Button::new("Export grid as PNG…"))
                    .clicked()
                {
                    self.export_grid();
                }
                if ui
                    .add_enabled(has_view, egui::Button::new("Export layer as .npy…"))
                    .clicked()
                {
                    self.export_npy();
                }
                ui.separator();
                let mut built_in = self.settings.file_dialog == DialogChoice::BuiltIn;
                if ui
                    .checkbox(&mut built_in, "Use featurescope's file browser")
                    .on_hover_text(
                        "Instead of the system's file dialog (used automatically when the \
                         desktop has none)",
                    )
                    .changed()
                {
                    self.settings.file_dialog = if built_in {
                        DialogChoice::BuiltIn
                    } else {
                        DialogChoice::Auto
                    };
                }
                ui.separator();
                if ui.button("Quit").clicked() {
                    ui.send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
            ui.menu_button("View", |ui| {
                if ui.button("Previous layer  (Up arrow)").clicked() {
                    self.step_layer(-1);
                }
                if ui.button("Next layer  (Down arrow)").clicked() {
                    self.step_layer(1);
                }
                if ui.button("Predictions (head)").clicked() {
                    self.select("head");
                }
            });
            ui.with_layout(
                egui::Layout::right_to_left(egui::Align::Center),
                |ui| match &self.weights {
                    Some((info, device)) => {
                        let device = if self.hide_machine_details {
                            device.split(" · ").next().unwrap_or_default()
                        } else {
                            device.as_str()
                        };
                        ui.label(RichText::new(device).weak());
                        ui.label(format!(
                            "{} · {}",
                            info.source.short_name(),
                            info.head.description
                        ))
                        .on_hover_text(weights_details(info));
                    }
                    None => {
                        ui.spinner();
                        ui.label("loading weights…");
                    }
                },
            );
        });
    }

    pub(crate) fn status_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if let (None, Some(p)) = (&self.weights, &self.progress) {
                // The window is up before the network: say what it is waiting for.
                ui.spinner();
                ui.label(format!(
                    "loading Inception-V3 weights… {:.1} s",
                    p.started.elapsed().as_secs_f32()
                ));
            } else if self.atlas_build.is_some() {
                self.atlas_build_ui(ui);
            } else if let Some(p) = &self.progress {
                ui.spinner();
                let secs = p.started.elapsed().as_secs_f32();
                let text = match p.stage {
                    Stage::Decoding => format!("decoding image… {secs:.1} s"),
                    Stage::Running => format!(
                        "running Inception-V3 · {}/{} layers read back · {secs:.1} s",
                        p.done, p.total
                    ),
                };
                progress_row(ui, p.done, p.total, 160.0, text);
            } else if let Some(a) = &self.analysis {
                if self.hide_machine_details {
                    ui.label(a.source.name());
                } else {
                    ui.label(format!(
                        "{} · forward + readback {:.0} ms",
                        a.source.name(),
                        a.forward_ms
                    ));
                }
                if let Some(ms) = self
                    .last_drop_to_tiles_ms
                    .filter(|_| !self.hide_machine_details)
                {
                    ui.label(RichText::new(format!("· image to tiles {ms:.0} ms")).weak());
                }
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if let Some(n) = self
                    .notices
                    .iter()
                    .rev()
                    .find(|n| n.level == crate::app::NoticeLevel::Info)
                    && !self.hide_machine_details
                {
                    ui.label(RichText::new(&n.text).weak());
                }
            });
        });
    }

    fn layer_row(
        &mut self,
        ui: &mut egui::Ui,
        l: &LayerInfo,
        indent: f32,
        full: bool,
        reveal: bool,
    ) {
        let selected = self.selected == l.id;
        let short = l.id.rsplit_once('.').map_or(l.id.as_str(), |(_, s)| s);
        let short = if full {
            l.id.as_str()
        } else if l.kind == LayerKind::Concat && !l.id.contains('.') {
            "concat"
        } else if l.kind == LayerKind::Concat {
            &l.id[l.id.find('.').map_or(0, |i| i + 1)..]
        } else if short == "avg_pool" || short == "max_pool" {
            &l.id[l.id.find('.').map_or(0, |i| i + 1)..]
        } else {
            short
        };
        let mark = if l.on_longest_path { PATH_MARK } else { " " };
        // The 2015 TensorFlow graph pools this branch by max: the tree says so.
        let by_max = self
            .weights
            .as_ref()
            .is_some_and(|(w, _)| w.variant == Variant::Graph2015 && l.id == GRAPH_2015_MAX_POOL);
        let short = if by_max {
            "branch_pool.MAX_pool"
        } else {
            short
        };
        // Its name in the graph it came from, not a Keras alias it does not have there.
        let alias = if by_max {
            "mixed_10/tower_2/pool"
        } else {
            l.keras.as_str()
        };
        let text = format!(
            "{mark} {short:<18} {alias:<10} {}x{}x{}",
            l.shape[0], l.shape[1], l.shape[2]
        );
        ui.horizontal(|ui| {
            ui.add_space(indent);
            let r = ui.selectable_label(selected, RichText::new(text).monospace());
            let r = r.on_hover_text(format!(
                "{}\nKeras: {}{}\n{} · {}x{}x{}{}",
                l.id,
                l.keras,
                if l.keras_extra.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", l.keras_extra.join(", "))
                },
                if by_max {
                    "max pool 3x3 / 1 (the 2015 TensorFlow graph's; Keras and torchvision average here)"
                } else {
                    l.kind.name()
                },
                l.shape[0],
                l.shape[1],
                l.shape[2],
                if l.on_longest_path {
                    "\n◆ on the 48-layer-deep longest path"
                } else {
                    ""
                }
            ));
            if selected && reveal {
                r.scroll_to_me(Some(egui::Align::Center));
            }
            if r.clicked() {
                self.select(&l.id);
            }
        });
    }

    pub(crate) fn tree_ui(&mut self, ui: &mut egui::Ui) {
        let cat = Catalogue::inception_v3();
        // Reveal the selection once after it changed (a click below may ask again next frame).
        let reveal = std::mem::take(&mut self.scroll_tree);
        ui.horizontal(|ui| {
            ui.heading("Layers");
            ui.label(
                RichText::new(format!("{PATH_MARK} = on the 48-deep path"))
                    .monospace()
                    .weak(),
            );
        });
        ui.horizontal(|ui| {
            let label = ui.label("Find");
            ui.add(
                egui::TextEdit::singleline(&mut self.filter)
                    .hint_text("name or Keras alias (mixed7, conv2d_12)")
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(label.id);
        });
        ui.separator();
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                let needle = self.filter.trim().to_ascii_lowercase();
                if !needle.is_empty() {
                    let hits: Vec<&LayerInfo> = cat
                        .layers
                        .iter()
                        .filter(|l| {
                            l.id.to_ascii_lowercase().contains(&needle)
                                || l.keras.contains(&needle)
                                || l.keras_extra.iter().any(|k| k.contains(&needle))
                        })
                        .collect();
                    if hits.is_empty() {
                        ui.label(RichText::new("no layer matches").weak());
                    }
                    for l in hits {
                        self.layer_row(ui, l, 0.0, true, reveal);
                    }
                    return;
                }
                for block in &cat.blocks {
                    let contains_selection = block
                        .branches
                        .iter()
                        .flat_map(|b| &b.layers)
                        .chain(&block.output)
                        .any(|&i| cat.layers[i].id == self.selected);
                    match block.kind {
                        BlockKind::Stem | BlockKind::Pool => {
                            for &i in block.branches.iter().flat_map(|b| &b.layers) {
                                self.layer_row(ui, &cat.layers[i], 0.0, false, reveal);
                            }
                        }
                        _ => {
                            let id = ui.make_persistent_id(&block.id);
                            let mut state =
                                egui::collapsing_header::CollapsingState::load_with_default_open(
                                    ui.ctx(),
                                    id,
                                    false,
                                );
                            if contains_selection && reveal {
                                state.set_open(true);
                            }
                            let header = format!(
                                "{}  {:?}  {}",
                                block.id,
                                block.kind,
                                block
                                    .output
                                    .map(|o| {
                                        let s = cat.layers[o].shape;
                                        format!("{}x{}x{}", s[0], s[1], s[2])
                                    })
                                    .unwrap_or_default()
                            );
                            state
                                .show_header(ui, |ui| {
                                    let r = ui.selectable_label(
                                        block
                                            .output
                                            .is_some_and(|o| cat.layers[o].id == self.selected),
                                        RichText::new(header).strong(),
                                    );
                                    if r.clicked()
                                        && let Some(o) = block.output
                                    {
                                        self.select(&cat.layers[o].id);
                                    }
                                })
                                .body(|ui| {
                                    for branch in &block.branches {
                                        ui.label(RichText::new(&branch.name).italics().weak());
                                        for &i in &branch.layers {
                                            self.layer_row(ui, &cat.layers[i], 10.0, false, reveal);
                                        }
                                    }
                                    if let Some(o) = block.output {
                                        self.layer_row(ui, &cat.layers[o], 0.0, false, reveal);
                                    }
                                });
                        }
                    }
                }
                let has_head = self.has_head();
                let label = if has_head {
                    format!("{PATH_MARK} head (predictions)")
                } else if self.weights.is_none() {
                    "  head (loading…)".to_string()
                } else {
                    "  head: none in these weights".to_string()
                };
                if ui
                    .add_enabled(
                        has_head,
                        egui::Button::selectable(
                            self.selected == "head",
                            RichText::new(label).monospace(),
                        ),
                    )
                    .clicked()
                {
                    self.select("head");
                }
            });
    }

    pub(crate) fn input_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        ui.heading("Input");
        let Some((original, crop)) = self.input_textures(&ctx) else {
            ui.label("Drop an image here, or File > Open image…");
            return;
        };
        let width = ui.available_width();
        if let Some(a) = &self.analysis {
            let (w, h) = a.input.original.dimensions();
            ui.label(format!("{} · {w}x{h}", a.source.name()));
        }
        let size = original.size_vec2();
        let scale = (width / size.x).min(1.0).min(220.0 / size.y.max(1.0));
        ui.image((original.id(), size * scale));
        ui.label(RichText::new("fed to the network: center crop, 299x299").weak());
        let s = width.min(299.0);
        ui.image((crop.id(), egui::vec2(s, s)));
        ui.separator();
        self.predictions_ui(ui);
    }

    pub(crate) fn predictions_ui(&mut self, ui: &mut egui::Ui) {
        let Some(head) = self
            .analysis
            .as_ref()
            .and_then(|a| a.activations.head.as_ref())
        else {
            ui.label(RichText::new("no head in these weights: no predictions").weak());
            return;
        };
        ui.heading("Predictions");
        for (_, label, p) in head.top_k(5) {
            ui.horizontal(|ui| {
                ui.add(
                    egui::ProgressBar::new(p)
                        .desired_width(90.0)
                        .fill(Color32::from_rgb(60, 120, 200)),
                );
                ui.label(format!("{:5.1}%  {label}", p * 100.0));
            });
        }
    }
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
