//! The map view: the filter's map magnified (nearest or bilinear) with the value under the
//! cursor.

use egui::{RichText, Sense, TextureOptions, vec2};

use super::{Filter, InspectorView, Row};
use crate::action::Action;
use crate::state::ViewId;
use crate::widgets::{TextureSlot, tile_image};

/// The map view.
pub struct MapView {
    texture: TextureSlot<(u64, usize, bool)>,
}

impl Default for MapView {
    fn default() -> Self {
        Self {
            texture: TextureSlot::new("inspector-map"),
        }
    }
}

impl InspectorView for MapView {
    fn id(&self) -> ViewId {
        ViewId::MAP
    }

    fn title(&self) -> &'static str {
        "Map"
    }

    fn row(&self) -> Row {
        Row::Look
    }

    fn ui(&mut self, ui: &mut egui::Ui, filter: &Filter<'_>, actions: &mut Vec<Action>) {
        let (view, c) = (filter.view, filter.channel);
        let mut settings = filter.state.settings.clone();
        if ui.checkbox(&mut settings.smooth, "bilinear").changed() {
            actions.push(Action::ChangeSettings(Box::new(settings)));
        }
        let smooth = filter.state.settings.smooth;
        let options = match smooth {
            true => TextureOptions::LINEAR,
            false => TextureOptions::NEAREST,
        };
        let key = (view.version, c, smooth);
        let tex = self
            .texture
            .get(ui.ctx(), key, options, || tile_image(view, c, 1));
        let side = ui.available_width().clamp(200.0, 640.0);
        let (w, h) = (view.maps.width, view.maps.height);
        let size = vec2(side, side * h as f32 / w as f32);
        let r = ui.add(egui::Image::new((tex.id(), size)).sense(Sense::hover()));
        let Some(p) = r.hover_pos() else {
            ui.label(RichText::new("hover for values").weak());
            return;
        };
        let at = |t: f32, n: usize| (t * n as f32).floor().clamp(0.0, (n - 1) as f32) as usize;
        let x = at((p.x - r.rect.left()) / r.rect.width(), w);
        let y = at((p.y - r.rect.top()) / r.rect.height(), h);
        let v = view.maps.channel(c).get(y * w + x).copied().unwrap_or(0.0);
        ui.label(RichText::new(format!("({x}, {y}) = {v:.5}")).monospace());
    }
}
