//! The legend under the toolbar: the colour bar with its range, and what the tiles show.

use egui::{RichText, TextureOptions, vec2};
use featurescope_maps::Colormap;

use crate::settings::NormMode;
use crate::state::AppState;
use crate::widgets::TextureSlot;

/// The legend and its colour bar's texture.
pub struct Legend {
    bar: TextureSlot<Colormap>,
}

impl Default for Legend {
    fn default() -> Self {
        Self {
            bar: TextureSlot::new("colorbar"),
        }
    }
}

impl Legend {
    /// Draw it for the view on screen.
    pub fn ui(&mut self, ui: &mut egui::Ui, state: &AppState) {
        let Some(view) = &state.view else { return };
        let bar = self
            .bar
            .get(ui.ctx(), view.colormap, TextureOptions::LINEAR, || {
                let pixels: Vec<u8> = view
                    .colormap
                    .lut()
                    .iter()
                    .flat_map(|&[r, g, b]| [r, g, b, 255])
                    .collect();
                egui::ColorImage::from_rgba_unmultiplied([256, 1], &pixels)
            });
        ui.horizontal(|ui| {
            let (lo, hi) = if state.settings.norm == NormMode::PerTile {
                ("tile min".to_string(), "tile max".to_string())
            } else {
                let r = view.range(0);
                (format!("{:.3}", r.lo), format!("{:.3}", r.hi))
            };
            ui.label(RichText::new(lo).monospace());
            ui.image((bar.id(), vec2(220.0, 12.0)));
            ui.label(RichText::new(hi).monospace());
            let what = if view.pre_relu {
                "pre-ReLU"
            } else {
                "post-ReLU"
            };
            let (c, h, w) = (view.maps.channels, view.maps.height, view.maps.width);
            ui.label(
                RichText::new(format!(
                    "{} · {what} · {c} filters of {h}x{w} · {} shown · {} dead",
                    view.id,
                    view.order.len(),
                    view.dead
                ))
                .weak(),
            );
        });
    }
}
