//! The input panel: the image as opened and the 299x299 center crop fed to the network, then
//! the predictions.

use egui::{RichText, TextureOptions};

use crate::action::Action;
use crate::panel::{Panel, Place};
use crate::state::AppState;
use crate::widgets::{TextureSlot, color_image, predictions_ui};

/// The input panel.
pub struct Input {
    original: TextureSlot<u64>,
    crop: TextureSlot<u64>,
}

impl Default for Input {
    fn default() -> Self {
        Self {
            original: TextureSlot::new("input-original"),
            crop: TextureSlot::new("input-crop"),
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

    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, _actions: &mut Vec<Action>) {
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
        ui.image((c.id(), egui::vec2(s, s)));
        ui.separator();
        predictions_ui(ui, state);
    }
}
