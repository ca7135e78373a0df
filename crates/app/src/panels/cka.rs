//! The CKA strip beside the layer tree: each layer's linear CKA between two models over a
//! folder (1 = unchanged), the bar showing how far it fell; a click shows the layer and lists
//! its most changed channels with their top images under both models, and a click on one of
//! those opens it under both models side by side.

use egui::{Color32, RichText, Sense, TextureOptions, vec2};
use featurescope_maps::compare::{LayerCompare, Side};

use crate::action::Action;
use crate::panel::{Panel, Place};
use crate::state::{AppState, LayerRef, ReportState, Thumb, ThumbKey};
use crate::widgets::TextureMap;

/// Channels listed for a clicked layer.
const CHANNELS_LISTED: usize = 8;
/// Top images shown per channel and model.
const THUMBS_SHOWN: usize = 3;
/// Side of a thumbnail in the list.
const THUMB_SIDE: f32 = 48.0;

/// The strip and its channel list.
pub struct CkaStrip {
    thumbs: TextureMap<ThumbKey>,
    /// The selection last scrolled into view (a new one is revealed once).
    revealed: Option<LayerRef>,
}

impl Default for CkaStrip {
    fn default() -> Self {
        Self {
            thumbs: TextureMap::new("report-thumb", TextureOptions::LINEAR),
            revealed: None,
        }
    }
}

impl Panel for CkaStrip {
    fn id(&self) -> &'static str {
        "cka"
    }

    fn place(&self) -> Place {
        Place::Left(250.0)
    }

    fn shown(&self, state: &AppState) -> bool {
        state.report.is_some() || state.report_build.is_some()
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
        ui.horizontal(|ui| {
            ui.heading("CKA");
            ui.label(RichText::new("1 = unchanged").weak());
        });
        build_ui(ui, state, actions);
        let Some(r) = &state.report else { return };
        header_ui(ui, r, actions);
        ui.separator();
        let reveal = self.revealed != Some(state.selected);
        self.revealed = Some(state.selected);
        egui::ScrollArea::vertical()
            .id_salt("cka-strip")
            .auto_shrink([false, false])
            .show(ui, |ui| strip_ui(ui, state, r, reveal, actions));
        if let Some(layer) = r.layer.as_deref().and_then(|id| r.report.layer(id)) {
            self.channels_window(ui, r, layer, actions);
        }
    }
}

/// A build under way: progress and Stop.
fn build_ui(ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
    let Some(b) = &state.report_build else { return };
    ui.horizontal(|ui| {
        let f = b.done as f32 / b.total.max(1) as f32;
        let text = format!("comparing {}/{}", b.done, b.total);
        ui.add(egui::ProgressBar::new(f).desired_width(110.0).text(text));
        if ui.button("Stop").clicked() {
            actions.push(Action::StopReportBuild);
        }
    });
}

/// Which models, how many images, Close.
fn header_ui(ui: &mut egui::Ui, r: &ReportState, actions: &mut Vec<Action>) {
    let s = r.report.settings();
    let name = |text: &str| {
        let t = text.rsplit('/').next().unwrap_or(text);
        t.split(" (").next().unwrap_or(t).to_string()
    };
    ui.label(RichText::new(format!("A: {}", name(&s.model_a))).small());
    ui.label(RichText::new(format!("B: {}", name(&s.model_b))).small());
    ui.horizontal(|ui| {
        let done = if r.report.is_complete() {
            ""
        } else {
            " (partial)"
        };
        let images = format!("{} images{done}", r.report.images().len());
        ui.label(RichText::new(images).weak().small());
        if ui.small_button("Close").clicked() {
            actions.push(Action::CloseReport);
        }
    });
}

/// One row per layer: a bar as long as the layer's change, its CKA, its id.
fn strip_ui(
    ui: &mut egui::Ui,
    state: &AppState,
    r: &ReportState,
    reveal: bool,
    actions: &mut Vec<Action>,
) {
    let layers = r.report.layers();
    let worst = layers
        .iter()
        .filter_map(LayerCompare::cka)
        .map(|c| 1.0 - c)
        .fold(1e-9f64, f64::max);
    for l in layers {
        let cka = l.cka();
        let selected = state.selected.id() == l.id;
        let (rect, response) =
            ui.allocate_exact_size(vec2(ui.available_width(), 16.0), Sense::click());
        if selected {
            ui.painter()
                .rect_filled(rect, 2.0, ui.visuals().selection.bg_fill);
        }
        let change = cka.map_or(0.0, |c| ((1.0 - c) / worst).clamp(0.0, 1.0)) as f32;
        let bar = egui::Rect::from_min_size(rect.min + vec2(2.0, 4.0), vec2(40.0, 8.0));
        ui.painter().rect_filled(bar, 1.0, Color32::from_gray(70));
        let filled = egui::Rect::from_min_size(bar.min, vec2(40.0 * change, 8.0));
        let red = Color32::from_rgb(120 + (135.0 * change) as u8, 90, 70);
        ui.painter().rect_filled(filled, 1.0, red);
        let text = format!(
            "{}  {}",
            cka.map_or_else(|| "  -   ".to_string(), |c| format!("{c:.4}")),
            l.id
        );
        let color = ui.visuals().text_color();
        let font = egui::FontId::monospace(11.0);
        let at = rect.min + vec2(46.0, 2.0);
        ui.painter()
            .text(at, egui::Align2::LEFT_TOP, text, font, color);
        if selected && reveal {
            response.scroll_to_me(Some(egui::Align::Center));
        }
        response.widget_info(|| {
            egui::WidgetInfo::labeled(egui::Role::Button, true, format!("CKA {}", l.id))
        });
        let hover = format!(
            "{}: CKA {} over {} batches\n(1 = the two models represent the images alike)",
            l.id,
            cka.map_or_else(|| "undefined".into(), |c| format!("{c:.6}")),
            l.batches()
        );
        if response.on_hover_text(hover).clicked() {
            actions.push(Action::ReportLayer(l.id.clone()));
        }
    }
}

impl CkaStrip {
    /// The clicked layer's most changed channels, with their top images under both models.
    fn channels_window(
        &mut self,
        ui: &mut egui::Ui,
        r: &ReportState,
        layer: &LayerCompare,
        actions: &mut Vec<Action>,
    ) {
        self.thumbs
            .retain(|k| matches!(r.thumbs.get(k), Some(Thumb::Ready(_))));
        egui::Window::new(format!("Most changed · {}", layer.id))
            .id(egui::Id::unique("featurescope-cka-channels"))
            .default_width(420.0)
            .default_pos(ui.max_rect().right_top() + vec2(12.0, 40.0))
            .show(ui.ctx(), |ui| {
                ui.label(
                    RichText::new(
                        "r: correlation of the filter's maximum across the images under A and \
                         B · J: overlap of its top images. Click an image: it opens under both \
                         models side by side.",
                    )
                    .weak(),
                );
                egui::ScrollArea::vertical().show(ui, |ui| {
                    for c in layer.channel_changes().into_iter().take(CHANNELS_LISTED) {
                        ui.separator();
                        let r_text = c
                            .correlation
                            .map_or_else(|| "-".into(), |v| format!("{v:.3}"));
                        ui.label(
                            RichText::new(format!(
                                "filter {}  r {r_text}  J {:.2}",
                                c.channel, c.jaccard
                            ))
                            .monospace(),
                        );
                        for side in [Side::A, Side::B] {
                            self.thumbs_row(ui, r, &layer.id, c.channel, side, actions);
                        }
                    }
                });
            });
    }

    /// One model's top images of a channel.
    fn thumbs_row(
        &mut self,
        ui: &mut egui::Ui,
        r: &ReportState,
        layer: &str,
        channel: usize,
        side: Side,
        actions: &mut Vec<Action>,
    ) {
        let keys = r.top_keys(layer, channel, side, THUMBS_SHOWN);
        ui.horizontal(|ui| {
            let name = if side == Side::A { "A" } else { "B" };
            ui.label(RichText::new(name).monospace());
            for key in keys {
                let size = vec2(THUMB_SIDE, THUMB_SIDE);
                match r.thumbs.get(&key) {
                    None => {
                        actions.push(Action::LoadThumb(key.clone()));
                        ui.add_sized(size, egui::Spinner::new());
                    }
                    Some(Thumb::Loading) => {
                        ui.add_sized(size, egui::Spinner::new());
                    }
                    Some(Thumb::Failed(e)) => {
                        ui.add_sized(size, egui::Label::new("?")).on_hover_text(e);
                    }
                    Some(Thumb::Ready(img)) => {
                        let tex = self.thumbs.get(ui.ctx(), &key, &[img]);
                        let Some(t) = tex.first() else { continue };
                        let image = egui::Image::new(t)
                            .fit_to_exact_size(size)
                            .alt_text(format!("{name} top image {}", key.image))
                            .sense(Sense::click());
                        let response = ui.add(image).on_hover_text(format!(
                            "{}: open under both models side by side",
                            key.image
                        ));
                        if response.clicked() {
                            actions.push(Action::SideBySide {
                                image: key.image.clone(),
                                layer: layer.to_string(),
                                channel,
                            });
                        }
                    }
                }
            }
        });
    }
}
