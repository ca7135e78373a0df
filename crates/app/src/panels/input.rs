//! The input panel: the image as opened and the 299x299 center crop fed to the network —
//! hover or click a point of the crop for "what fires here": the selected layer's strongest
//! channels at the unit under it, as pictures with their values — then the predictions.

use egui::{Color32, Rect, RichText, Sense, Stroke, StrokeKind, TextureOptions, vec2};
use featurescope_maps::dictionary::{position_at, top_channels};

use crate::action::Action;
use crate::panel::{Panel, Place};
use crate::pictures::Pictures;
use crate::state::layer_views::Probe;
use crate::state::{AppState, Inspector};
use crate::widgets::{TextureSlot, color_image, predictions_ui};

/// The input panel.
pub struct Input {
    original: TextureSlot<u64>,
    crop: TextureSlot<u64>,
    pictures: Pictures,
}

impl Default for Input {
    fn default() -> Self {
        Self {
            original: TextureSlot::new("input-original"),
            crop: TextureSlot::new("input-crop"),
            pictures: Pictures::new("fires-here"),
        }
    }
}

impl Panel for Input {
    fn id(&self) -> &'static str {
        "input"
    }

    fn place(&self) -> Place {
        Place::Right(260.0)
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
        ui.heading("Input");
        let Some(a) = &state.analysis else {
            match &state.progress {
                // The first image is on its way (the network may still be loading).
                Some(p) => {
                    ui.spinner();
                    ui.label(format!("Analysing {}…", p.image));
                }
                None => {
                    ui.label("Drop an image here, or File > Open image…");
                }
            }
            return;
        };
        let ctx = ui.ctx().clone();
        let (original, crop) = &*a.previews;
        let linear = TextureOptions::LINEAR;
        let o = self
            .original
            .get(&ctx, a.generation, linear, || color_image(original));
        let c = self
            .crop
            .get(&ctx, a.generation, linear, || color_image(crop));
        let width = ui.available_width();
        let (w, h) = a.input.original.dimensions();
        ui.label(format!("{} · {w}x{h}", a.source.name()));
        let size = o.size_vec2();
        let scale = (width / size.x).min(1.0).min(220.0 / size.y.max(1.0));
        ui.image((o.id(), size * scale));
        ui.label(RichText::new("fed to the network: center crop, 299x299").weak());
        let s = width.min(299.0);
        let image = egui::Image::new((c.id(), vec2(s, s)))
            .sense(Sense::click())
            .alt_text("the network's input: hover or click for what fires here");
        let response = ui.add(image).on_hover_text(
            "what fires here: the selected layer's strongest channels below; click to pin",
        );
        probe_input(&response, state, actions);
        self.fires_ui(ui, state, response.rect, actions);
        ui.separator();
        predictions_ui(ui, state);
    }
}

/// A hover over the crop moves the probe, a click pins it there, leaving clears a hovered one.
fn probe_input(response: &egui::Response, state: &AppState, actions: &mut Vec<Action>) {
    let rect = response.rect;
    let current = state.layer_views.probe;
    match response.hover_pos() {
        Some(p) => {
            let probe = Probe {
                u: ((p.x - rect.min.x) / rect.width()).clamp(0.0, 1.0),
                v: ((p.y - rect.min.y) / rect.height()).clamp(0.0, 1.0),
                pinned: response.clicked(),
            };
            if current != Some(probe) {
                actions.push(Action::Probe(Some(probe)));
            }
        }
        None if current.is_some_and(|p| !p.pinned) => actions.push(Action::Probe(None)),
        None => {}
    }
}

impl Input {
    /// The probed unit of the selected layer: its cell outlined on the crop, then its
    /// strongest channels (a click on one inspects it).
    fn fires_ui(
        &mut self,
        ui: &mut egui::Ui,
        state: &AppState,
        crop: Rect,
        actions: &mut Vec<Action>,
    ) {
        let (Some(probe), Some(view)) = (state.layer_views.probe, &state.view) else {
            return;
        };
        let Some([y, x]) = position_at(&view.maps, probe.u, probe.v) else {
            return;
        };
        let (h, w) = (view.maps.height as f32, view.maps.width as f32);
        let cell = Rect::from_min_size(
            crop.min + vec2(x as f32 * crop.width() / w, y as f32 * crop.height() / h),
            vec2(crop.width() / w, crop.height() / h),
        );
        let stroke = Stroke::new(2.0, Color32::from_rgb(255, 200, 0));
        ui.painter()
            .rect_stroke(cell.expand(1.0), 0.0, stroke, StrokeKind::Outside);
        let k = state.layer_views.k;
        let Some(fires) = top_channels(&view.maps, y, x, k) else {
            return;
        };
        let pin = if probe.pinned { " (pinned)" } else { "" };
        ui.label(
            RichText::new(format!("What fires here: {} at ({y}, {x}){pin}", view.id)).strong(),
        );
        self.pictures.follow(state, view);
        want_pictures(state, &view.id, &fires.channels, actions);
        egui::Grid::new("fires-here")
            .spacing([6.0, 2.0])
            .show(ui, |ui| {
                for (&c, &v) in fires.channels.iter().zip(&fires.values) {
                    if let Some(t) = self.pictures.get(ui.ctx(), state, view, c) {
                        ui.image((t.id(), vec2(40.0, 40.0)));
                    }
                    let label = format!("channel {c} · {v:.3}");
                    if ui.link(label).clicked() {
                        actions.push(Action::Inspect(Inspector::map(c)));
                    }
                    ui.end_row();
                }
            });
        if probe.pinned && ui.small_button("unpin").clicked() {
            actions.push(Action::Probe(None));
        }
    }
}

/// The pictures of these channels: icons (disk cache, else the worker), atlas crops.
fn want_pictures(state: &AppState, layer: &str, channels: &[usize], actions: &mut Vec<Action>) {
    let icons = &state.layer_views.icons;
    let wanted: Vec<usize> = channels
        .iter()
        .copied()
        .filter(|&c| !icons.known(layer, c))
        .collect();
    if !wanted.is_empty() {
        actions.push(Action::WantIcons {
            layer: layer.to_string(),
            channels: wanted,
        });
    }
    if let Some(atlas) = &state.atlas
        && atlas.loaded.atlas.layer(layer).is_some()
    {
        for &c in channels {
            let key = atlas.key(layer, c);
            if !atlas.crops.contains_key(&key) {
                actions.push(Action::LoadCrops(key));
            }
        }
    }
}
