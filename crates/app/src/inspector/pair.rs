//! The pair view: the inspected filter under the pinned analysis (A) and the one on screen (B),
//! on their shared scale, and A − B on a diverging colormap, magnified, with the three values
//! under the cursor.

use egui::{RichText, Sense, TextureOptions, vec2};

use super::{Filter, InspectorView, Row};
use crate::action::Action;
use crate::state::{AppState, ViewId};
use crate::widgets::{TextureSlot, tile_image};

/// The pair view.
pub struct PairView {
    textures: [TextureSlot<(u64, usize)>; 3],
}

impl Default for PairView {
    fn default() -> Self {
        Self {
            textures: [
                TextureSlot::new("inspector-pair-a"),
                TextureSlot::new("inspector-pair-b"),
                TextureSlot::new("inspector-pair-diff"),
            ],
        }
    }
}

impl InspectorView for PairView {
    fn id(&self) -> ViewId {
        ViewId::PAIR
    }

    fn title(&self) -> &'static str {
        "A | B | A−B"
    }

    fn row(&self) -> Row {
        Row::Look
    }

    fn available(&self, state: &AppState) -> bool {
        state.pair.is_some()
    }

    fn ui(&mut self, ui: &mut egui::Ui, filter: &Filter<'_>, _actions: &mut Vec<Action>) {
        let Some(pair) = &filter.state.pair else {
            return;
        };
        let (view, c) = (filter.view, filter.channel);
        let views = [&pair.a, view, &pair.diff];
        let side = ((ui.available_width() - 16.0) / 3.0).clamp(120.0, 320.0);
        let (w, h) = (view.maps.width, view.maps.height);
        let size = vec2(side, side * h as f32 / w as f32);
        let mut hovered = None;
        ui.horizontal(|ui| {
            for ((slot, v), name) in self.textures.iter_mut().zip(views).zip(["A", "B", "A − B"])
            {
                ui.vertical(|ui| {
                    ui.label(RichText::new(name).strong());
                    let tex = slot.get(ui.ctx(), (v.version, c), TextureOptions::NEAREST, || {
                        tile_image(v, c, 1)
                    });
                    let r = ui.add(egui::Image::new((tex.id(), size)).sense(Sense::hover()));
                    if let Some(p) = r.hover_pos() {
                        let at = |t: f32, n: usize| {
                            (t * n as f32).floor().clamp(0.0, (n - 1) as f32) as usize
                        };
                        let x = at((p.x - r.rect.left()) / r.rect.width(), w);
                        let y = at((p.y - r.rect.top()) / r.rect.height(), h);
                        hovered = Some((x, y));
                    }
                });
            }
        });
        let Some((x, y)) = hovered else {
            ui.label(RichText::new("hover for values; A and B share one colour scale").weak());
            return;
        };
        let value =
            |v: &crate::view::LayerView| v.maps.channel(c).get(y * w + x).copied().unwrap_or(0.0);
        ui.label(
            RichText::new(format!(
                "({x}, {y}): A = {:.5}, B = {:.5}, A − B = {:.5}",
                value(&pair.a),
                value(view),
                value(&pair.diff)
            ))
            .monospace(),
        );
    }
}
