//! The virtualised tile grid: only visible rows are laid out, and only their textures exist.
//! While the network shares the window's GPU, the tiles are one texture the GPU coloured from
//! the tap there (`services::gpu_tiles`); otherwise each visible tile is coloured on the CPU.

use egui::{Color32, Rect, Sense, Stroke, TextureId, pos2, vec2};

use super::TileCache;
use crate::action::Action;
use crate::gpu_textures::GpuTexture;
use crate::services::gpu_tiles::{GpuTiles, TileParams};
use crate::state::{AppState, Inspector};
use crate::view::LayerView;
use crate::widgets::branch_of;

/// Where the grid's pixels come from this frame.
pub struct Sources<'a> {
    /// Tiles coloured on the CPU.
    pub cache: &'a mut TileCache,
    /// The GPU tiles' registration.
    pub gpu: &'a mut GpuTexture,
}

/// The GPU colours the tiles of `view` with these parameters, when it can (the network on the
/// window's device, a renderer to register with, post-ReLU values, no percentile clipping).
fn gpu_params(
    ctx: &egui::Context,
    state: &AppState,
    view: &LayerView,
    factor: usize,
) -> Option<TileParams> {
    if !state.gpu_tiles.colours() || view.pre_relu || crate::gpu_textures::renderer(ctx).is_none() {
        return None;
    }
    let norm = state.settings.norm_settings(view.pre_relu);
    TileParams::new(&view.id, norm, view.colormap, factor)
}

/// Height of the label above each tile.
const LABEL_H: f32 = 14.0;
/// Space between tiles.
const SPACING: f32 = 4.0;

/// How many cells `cell` points wide, `spacing` apart, fit in a row `grid_width` wide beside the
/// scrollbar (at least one).
pub(super) fn columns(ui: &egui::Ui, grid_width: f32, cell: f32, spacing: f32) -> usize {
    let scrollbar = ui.spacing().scroll.bar_width + ui.spacing().scroll.bar_outer_margin;
    ((grid_width - scrollbar + spacing) / (cell + spacing))
        .floor()
        .max(1.0) as usize
}

/// The filters on rows `rows` of a grid `cols` wide, in the view's order.
pub(super) fn visible(order: &[usize], rows: &std::ops::Range<usize>, cols: usize) -> Vec<usize> {
    order
        .iter()
        .skip(rows.start * cols)
        .take(rows.len() * cols)
        .copied()
        .collect()
}

/// The grid of `view`'s tiles, `grid_width` wide. A click inspects a filter; Ctrl + wheel
/// resizes the tiles.
pub fn ui(
    ui: &mut egui::Ui,
    state: &AppState,
    view: &LayerView,
    sources: Sources<'_>,
    grid_width: f32,
    actions: &mut Vec<Action>,
) {
    zoom(ui, state, actions);
    let ctx = ui.ctx().clone();
    let tile = state.settings.tile_px.round();
    let cols = columns(ui, grid_width, tile, SPACING);
    let rows = view.order.len().div_ceil(cols);
    let factor = view.tile_factor(tile * ctx.pixels_per_point());
    let generation = state.analysis.as_ref().map_or(0, |a| a.generation);
    let gpu = gpu_params(&ctx, state, view, factor);
    let gpu_tiles = gpu
        .as_ref()
        .and_then(|p| state.gpu_tiles.tiles(generation, p));
    if let Some(p) = gpu
        .as_ref()
        .filter(|p| state.gpu_tiles.to_ask(generation, p))
    {
        actions.push(Action::ColourOnGpu(p.clone()));
    }
    let gpu_texture = gpu_tiles.and_then(|t| Some((sources.gpu.id(&ctx, t)?, &**t)));
    let mut images = Images {
        on_gpu: gpu.is_some(),
        gpu: gpu_texture,
        cache: sources.cache,
        view,
        factor,
    };
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .id_salt(("tiles", &view.id))
        .show_rows(ui, tile + LABEL_H, rows, |ui, range| {
            if !images.on_gpu {
                let visible = visible(&view.order, &range, cols);
                images.cache.prefetch(&ctx, view, &visible, factor);
            }
            for row in range {
                ui.horizontal(|ui| {
                    ui.spacing_mut().item_spacing.x = SPACING;
                    let channels = view.order.iter().skip(row * cols).take(cols);
                    for &c in channels {
                        if tile_ui(ui, view, &mut images, c, tile) {
                            actions.push(Action::Inspect(Inspector::map(c)));
                        }
                    }
                });
            }
        });
    images
        .cache
        .end_frame(view.maps.width * view.maps.height * 4);
}

/// The tiles' pixels this frame: the GPU's texture, or the CPU's.
struct Images<'a> {
    /// The GPU colours these tiles (`gpu`: once they are here).
    on_gpu: bool,
    gpu: Option<(TextureId, &'a GpuTiles)>,
    cache: &'a mut TileCache,
    view: &'a LayerView,
    factor: usize,
}

impl Images<'_> {
    /// Channel `c`'s texture and its part of it; `None` while the GPU's is on its way.
    fn get(&mut self, ctx: &egui::Context, c: usize) -> Option<(TextureId, Rect)> {
        let rect = |min: [f32; 2], max: [f32; 2]| {
            Rect::from_min_max(pos2(min[0], min[1]), pos2(max[0], max[1]))
        };
        if self.on_gpu {
            let (id, tiles) = self.gpu?;
            let (min, max) = tiles.uv(c);
            return Some((id, rect(min, max)));
        }
        let tex = self.cache.get(ctx, self.view, c, self.factor);
        Some((tex.id(), rect([0.0, 0.0], [1.0, 1.0])))
    }
}

/// Ctrl + wheel over the grid: a new tile size.
fn zoom(ui: &egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
    if !ui.rect_contains_pointer(ui.max_rect()) {
        return;
    }
    let zoom = ui.input(|i| i.zoom_delta());
    if (zoom - 1.0).abs() > f32::EPSILON {
        let mut settings = state.settings.clone();
        settings.tile_px = (settings.tile_px * zoom).clamp(24.0, 320.0);
        actions.push(Action::ChangeSettings(Box::new(settings)));
    }
}

/// One tile with its label (dead ones crossed out), hover statistics; whether it was clicked.
fn tile_ui(
    ui: &mut egui::Ui,
    view: &LayerView,
    images: &mut Images<'_>,
    c: usize,
    tile: f32,
) -> bool {
    let (rect, response) = ui.allocate_exact_size(vec2(tile, tile + LABEL_H), Sense::click());
    if !ui.is_rect_visible(rect) {
        return false;
    }
    let img_rect = egui::Rect::from_min_size(rect.min + vec2(0.0, LABEL_H), vec2(tile, tile));
    let painter = ui.painter();
    match images.get(ui.ctx(), c) {
        Some((id, uv)) => {
            painter.image(id, img_rect, uv, Color32::WHITE);
        }
        None => {
            painter.rect_filled(img_rect, 0.0, ui.visuals().faint_bg_color);
        }
    }
    let stats = view.stats[c];
    let (label, label_color) = if stats.dead {
        (format!("{c} dead"), Color32::from_rgb(255, 110, 110))
    } else {
        (c.to_string(), ui.visuals().weak_text_color())
    };
    let font = egui::FontId::monospace(11.0);
    painter.text(rect.min, egui::Align2::LEFT_TOP, label, font, label_color);
    if stats.dead {
        let s = Stroke::new(2.0, Color32::from_rgb(230, 60, 60));
        painter.rect_stroke(img_rect, 0.0, s, egui::StrokeKind::Inside);
        painter.line_segment([img_rect.left_top(), img_rect.right_bottom()], s);
    }
    if response.hovered() {
        let s = Stroke::new(2.0, Color32::WHITE);
        painter.rect_stroke(img_rect, 0.0, s, egui::StrokeKind::Inside);
    }
    response
        .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, format!("filter {c}")));
    response.on_hover_text(hover_text(view, c)).clicked()
}

/// A filter's statistics, and for a concat's channel the branch it comes from.
fn hover_text(view: &LayerView, c: usize) -> String {
    let stats = view.stats[c];
    format!(
        "filter {c}{}{}\nmin {:.4}\nmax {:.4}\nmean {:.4}\nactive {:.1}%",
        if stats.dead { " (dead: constant)" } else { "" },
        branch_of(&view.id, c)
            .map(|(s, k)| format!("\nfrom {s} channel {k}"))
            .unwrap_or_default(),
        stats.min,
        stats.max,
        stats.mean,
        stats.active_fraction * 100.0
    )
}
