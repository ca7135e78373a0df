//! The tiles of a pinned comparison: above them which analysis is A and which is B, their
//! colour bars (A and B share one, the difference has its own), and per filter A, B and A − B
//! side by side, virtualised like the plain grid.

use egui::{Color32, RichText, Sense, Stroke, TextureOptions, pos2, vec2};
use featurescope_maps::Colormap;

use super::{TileCache, grid};
use crate::action::{Action, Choose, Export};
use crate::settings::NormMode;
use crate::state::{AppState, Inspector, PairView, Pinned, ViewId};
use crate::view::LayerView;
use crate::widgets::TextureSlot;

/// Height of the label above each cell.
const LABEL_H: f32 = 14.0;
/// Space between cells, and between the three tiles of a cell.
const SPACING: f32 = 6.0;
const INNER: f32 = 2.0;

/// The textures of the three sides.
#[derive(Default)]
pub struct PairCaches {
    a: TileCache,
    b: TileCache,
    diff: TileCache,
    bars: [Option<TextureSlot<Colormap>>; 2],
}

impl PairCaches {
    /// Live textures and their bytes.
    pub fn usage(&self) -> (usize, usize) {
        [&self.a, &self.b, &self.diff]
            .iter()
            .fold((0, 0), |(n, b), c| (n + c.len(), b + c.bytes()))
    }
}

/// What is pinned, what is compared, and the way out; while pinning, that it is under way.
/// Nothing until File → Pin analysis as A, so the plain tiles keep their layout.
pub fn header_ui(ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
    let Some(pinned) = &state.pinned else {
        return;
    };
    ui.horizontal_wrapped(|ui| match pinned {
        Pinned::Pinning(_) => {
            ui.spinner();
            ui.label("pinning: reading every layer of this analysis…");
        }
        Pinned::Ready(p) => {
            let b = state
                .analysis
                .as_ref()
                .map_or(String::new(), |a| a.source.name());
            let wb = state
                .weights
                .as_ref()
                .map_or(String::new(), |w| w.info.source.short_name());
            ui.label(RichText::new(format!("A: {} · {}", p.image, p.weights)).strong());
            ui.label(RichText::new(format!("B: {b} · {wb}")).strong());
            if state.pair.is_none() {
                let why = if state.showing_pre_relu() {
                    "(the comparison shows post-ReLU values)"
                } else {
                    "(waiting for this layer)"
                };
                ui.label(RichText::new(why).weak());
            }
            if ui.button("Export figure…").clicked() {
                actions.push(Action::Choose(Choose::ExportTo(Export::Figure)));
            }
            if ui.button("Unpin").clicked() {
                actions.push(Action::Unpin);
            }
        }
    });
}

impl PairCaches {
    /// The two colour bars: A and B's shared range, and the difference's.
    pub fn legend_ui(
        &mut self,
        ui: &mut egui::Ui,
        state: &AppState,
        view: &LayerView,
        pair: &PairView,
    ) {
        ui.horizontal(|ui| {
            let per_tile = state.settings.norm == NormMode::PerTile;
            for (k, (name, v, cmap)) in [
                ("A and B", view, view.colormap),
                ("A − B", &pair.diff, Colormap::Diverging),
            ]
            .into_iter()
            .enumerate()
            {
                let slot = self.bars[k].get_or_insert_with(|| TextureSlot::new("pair-colorbar"));
                let bar = slot.get(ui.ctx(), cmap, TextureOptions::LINEAR, || {
                    let pixels: Vec<u8> = cmap
                        .lut()
                        .iter()
                        .flat_map(|&[r, g, b]| [r, g, b, 255])
                        .collect();
                    egui::ColorImage::from_rgba_unmultiplied([256, 1], &pixels)
                });
                let (lo, hi) = if per_tile {
                    ("tile min".to_string(), "tile max".to_string())
                } else {
                    let r = v.range(0);
                    (format!("{:.3}", r.lo), format!("{:.3}", r.hi))
                };
                ui.label(RichText::new(name).strong());
                ui.label(RichText::new(lo).monospace());
                ui.image((bar.id(), vec2(160.0, 12.0)));
                ui.label(RichText::new(hi).monospace());
                ui.add_space(12.0);
            }
            let how = if per_tile {
                "each filter's range over A and B"
            } else {
                "one range over A and B"
            };
            ui.label(RichText::new(format!("{} · {how}", view.id)).weak());
        });
    }

    /// The grid: per filter A | B | A − B, `grid_width` wide; a click opens the pair view.
    pub fn grid_ui(
        &mut self,
        ui: &mut egui::Ui,
        state: &AppState,
        view: &LayerView,
        pair: &PairView,
        grid_width: f32,
        actions: &mut Vec<Action>,
    ) {
        let ctx = ui.ctx().clone();
        let tile = state.settings.tile_px.round();
        let cell = 3.0 * tile + 2.0 * INNER;
        let cols = grid::columns(ui, grid_width, cell, SPACING);
        let rows = view.order.len().div_ceil(cols);
        let factor = view.tile_factor(tile * ctx.pixels_per_point());
        let views = [&pair.a, view, &pair.diff];
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .id_salt(("pair-tiles", &view.id))
            .show_rows(ui, tile + LABEL_H, rows, |ui, range| {
                let visible = grid::visible(&view.order, &range, cols);
                for (cache, v) in [&mut self.a, &mut self.b, &mut self.diff]
                    .into_iter()
                    .zip(views)
                {
                    cache.prefetch(&ctx, v, &visible, factor);
                }
                for row in range {
                    ui.horizontal(|ui| {
                        ui.spacing_mut().item_spacing.x = SPACING;
                        for &c in view.order.iter().skip(row * cols).take(cols) {
                            if self.cell_ui(ui, views, c, tile, factor) {
                                actions.push(Action::Inspect(Inspector {
                                    channel: c,
                                    view: ViewId::PAIR,
                                }));
                            }
                        }
                    });
                }
            });
        let full = view.maps.width * view.maps.height * 4;
        for cache in [&mut self.a, &mut self.b, &mut self.diff] {
            cache.end_frame(full);
        }
    }

    /// One filter: its number, then A, B and A − B; whether it was clicked.
    fn cell_ui(
        &mut self,
        ui: &mut egui::Ui,
        views: [&LayerView; 3],
        c: usize,
        tile: f32,
        factor: usize,
    ) -> bool {
        let size = vec2(3.0 * tile + 2.0 * INNER, tile + LABEL_H);
        let (rect, response) = ui.allocate_exact_size(size, Sense::click());
        if !ui.is_rect_visible(rect) {
            return false;
        }
        let uv = egui::Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0));
        let caches = [&mut self.a, &mut self.b, &mut self.diff];
        for (k, (cache, v)) in caches.into_iter().zip(views).enumerate() {
            let tex = cache.get(ui.ctx(), v, c, factor);
            let min = rect.min + vec2(k as f32 * (tile + INNER), LABEL_H);
            let img = egui::Rect::from_min_size(min, vec2(tile, tile));
            ui.painter().image(tex.id(), img, uv, Color32::WHITE);
        }
        let font = egui::FontId::monospace(11.0);
        let label = format!("{c}   A | B | A−B");
        let color = ui.visuals().weak_text_color();
        ui.painter()
            .text(rect.min, egui::Align2::LEFT_TOP, label, font, color);
        if response.hovered() {
            let s = Stroke::new(2.0, Color32::WHITE);
            ui.painter()
                .rect_stroke(rect, 0.0, s, egui::StrokeKind::Inside);
        }
        response.widget_info(|| {
            egui::WidgetInfo::labeled(egui::Role::Button, true, format!("filter {c}"))
        });
        let (a, b) = (views[0].stats[c], views[1].stats[c]);
        let hover = format!(
            "filter {c}\nA: max {:.4}, mean {:.4}\nB: max {:.4}, mean {:.4}\nmax change {:.4}",
            a.max,
            a.mean,
            b.max,
            b.mean,
            (a.max - b.max).abs()
        );
        response.on_hover_text(hover).clicked()
    }
}
