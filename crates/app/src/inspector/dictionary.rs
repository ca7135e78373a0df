//! The dictionary view (Olah et al. 2018): for every position of the selected layer, its k
//! strongest channels drawn as pictures over the photo — atlas crops, feature-visualisation
//! icons (filled in by the worker as they are made) or tiles (flat colours, one per channel, when
//! a picture would be under 16 points). Hover a cell for its channels; a click pins that point
//! for "what fires here"; Export PNG writes the figure.

use egui::{Color32, Mesh, Pos2, Rect, RichText, Sense, TextureOptions, pos2, vec2};
use featurescope_maps::dictionary::{Fires, dictionary};
use featurescope_maps::figures::{cell_grid, channel_colour};

use super::{Filter, InspectorView, Row};
use crate::action::{Action, Choose, Export};
use crate::pictures::{Pictures, Source};
use crate::state::ViewId;
use crate::state::layer_views::Probe;
use crate::widgets::{TextureSlot, color_image};

/// The dictionary view.
pub struct DictionaryView {
    pictures: Pictures,
    photo: TextureSlot<u64>,
    /// The dictionary of (view version, k).
    fires: Option<((u64, usize), Vec<Fires>)>,
}

impl Default for DictionaryView {
    fn default() -> Self {
        Self {
            pictures: Pictures::new("dictionary"),
            photo: TextureSlot::new("dictionary-photo"),
            fires: None,
        }
    }
}

impl InspectorView for DictionaryView {
    fn id(&self) -> ViewId {
        ViewId("dictionary")
    }

    fn title(&self) -> &'static str {
        "Dictionary"
    }

    fn row(&self) -> Row {
        Row::Layer
    }

    fn ui(&mut self, ui: &mut egui::Ui, filter: &Filter<'_>, actions: &mut Vec<Action>) {
        let (state, view) = (filter.state, filter.view);
        let Some(analysis) = &state.analysis else {
            return;
        };
        let k = state.layer_views.k;
        controls_ui(ui, state, k, actions);
        let key = (view.version, k);
        if self.fires.as_ref().is_none_or(|(have, _)| *have != key) {
            self.fires = Some((key, dictionary(&view.maps, k)));
        }
        let Some((_, fires)) = &self.fires else {
            return;
        };
        let mut channels: Vec<usize> = fires.iter().flat_map(|f| f.channels.clone()).collect();
        channels.sort_unstable();
        channels.dedup();
        let wanted: Vec<usize> = channels
            .iter()
            .copied()
            .filter(|&c| !state.layer_views.icons.known(&view.id, c))
            .collect();
        if !wanted.is_empty() {
            actions.push(Action::WantIcons {
                layer: view.id.clone(),
                channels: wanted,
            });
        }
        let icons = channels
            .iter()
            .filter(|&&c| state.layer_views.icons.get(&view.id, c).is_some())
            .count();
        let side = ui.available_width().clamp(240.0, 640.0);
        let others = if swatches(side, view.maps.width, k) {
            "colours"
        } else {
            "their maps"
        };
        ui.label(
            RichText::new(format!(
                "{} channels named · {icons} as feature visualizations, the others as {others}",
                channels.len()
            ))
            .weak(),
        );
        self.pictures.follow(state, view);
        let photo = self.photo.get(
            ui.ctx(),
            analysis.generation,
            TextureOptions::LINEAR,
            || color_image(&analysis.input.crop),
        );
        let (rect, response) = ui.allocate_exact_size(vec2(side, side), Sense::click());
        let painter = ui.painter_at(rect);
        painter.image(
            photo.id(),
            rect,
            Rect::from_min_max(Pos2::ZERO, pos2(1.0, 1.0)),
            Color32::from_gray(110),
        );
        let (h, w) = (view.maps.height, view.maps.width);
        self.cells_ui(ui, state, view, &painter, rect, k);
        let Some((_, fires)) = &self.fires else {
            return;
        };
        hover_ui(ui, &response, rect, fires, (h, w), actions);
    }
}

impl DictionaryView {
    /// Every position's channels as pictures, one mesh per picture's texture.
    fn cells_ui(
        &mut self,
        ui: &egui::Ui,
        state: &crate::state::AppState,
        view: &crate::view::LayerView,
        painter: &egui::Painter,
        rect: Rect,
        k: usize,
    ) {
        let Some((_, fires)) = &self.fires else {
            return;
        };
        let (h, w) = (view.maps.height, view.maps.width);
        let cell = vec2(
            rect.width() / w.max(1) as f32,
            rect.height() / h.max(1) as f32,
        );
        let g = cell_grid(k);
        let sub = cell / g as f32;
        let top = fires
            .iter()
            .flat_map(|f| f.values.iter().copied())
            .fold(0.0f32, f32::max);
        // Channels without a picture of their own (a crop or an icon) are their tiles, or flat
        // colours, one per channel, when a picture would be under 16 px: at a few pixels a
        // tile of the map says nothing, a colour shows where the same channel wins.
        let flat = swatches(rect.width(), w, k);
        let mut swatches = Mesh::default();
        let mut meshes: std::collections::HashMap<egui::TextureId, Mesh> = Default::default();
        for f in fires {
            for (i, (&c, &v)) in f.channels.iter().zip(&f.values).enumerate() {
                let strength = if top > 0.0 {
                    (v / top).clamp(0.0, 1.0).sqrt()
                } else {
                    0.0
                };
                let min = rect.min
                    + vec2(f.x as f32 * cell.x, f.y as f32 * cell.y)
                    + vec2((i % g) as f32, (i / g) as f32) * sub;
                let area = Rect::from_min_size(min, sub);
                let alpha = (strength * 230.0) as u8;
                if flat && Pictures::source(state, view, c) == Source::Tile {
                    let [r, gr, b] = channel_colour(c);
                    let colour = Color32::from_rgba_unmultiplied(r, gr, b, alpha);
                    swatches.add_colored_rect(area, colour);
                    continue;
                }
                let Some(tex) = self.pictures.get(ui.ctx(), state, view, c) else {
                    continue;
                };
                let mesh = meshes
                    .entry(tex.id())
                    .or_insert_with(|| Mesh::with_texture(tex.id()));
                mesh.add_rect_with_uv(
                    area,
                    Rect::from_min_max(Pos2::ZERO, pos2(1.0, 1.0)),
                    Color32::from_white_alpha(alpha),
                );
            }
        }
        painter.add(swatches);
        for (_, mesh) in meshes {
            painter.add(mesh);
        }
    }
}

/// Whether channels without a crop or an icon are drawn as flat colours: their pictures, `k`
/// to a cell of a layer `width` cells wide over `side` points, would be under 16 points.
fn swatches(side: f32, width: usize, k: usize) -> bool {
    side / width.max(1) as f32 / (cell_grid(k) as f32) < 16.0
}

fn controls_ui(
    ui: &mut egui::Ui,
    state: &crate::state::AppState,
    k: usize,
    actions: &mut Vec<Action>,
) {
    ui.label(
        RichText::new(
            "Each position of this layer over the photo, with the channels that fire most \
             there (Olah et al. 2018, the semantic dictionary).",
        )
        .weak(),
    );
    ui.horizontal(|ui| {
        let mut new_k = k;
        ui.add(egui::Slider::new(&mut new_k, 1..=9).text("channels per position"));
        if new_k != k {
            actions.push(Action::DictionaryK(new_k));
        }
        let mut background = !state.layer_views.icons.background_off;
        if ui
            .checkbox(&mut background, "feature visualizations in the background")
            .changed()
        {
            actions.push(Action::IconsInBackground(background));
        }
        if ui.button("Export PNG…").clicked() {
            actions.push(Action::Choose(Choose::ExportTo(Export::Dictionary)));
        }
    });
}

/// The hovered cell's channels; a click pins that point of the photo.
fn hover_ui(
    ui: &mut egui::Ui,
    response: &egui::Response,
    rect: Rect,
    fires: &[Fires],
    (h, w): (usize, usize),
    actions: &mut Vec<Action>,
) {
    let Some(p) = response.hover_pos() else {
        return;
    };
    let (u, v) = (
        (p.x - rect.min.x) / rect.width(),
        (p.y - rect.min.y) / rect.height(),
    );
    let (y, x) = (
        ((v * h as f32) as usize).min(h.saturating_sub(1)),
        ((u * w as f32) as usize).min(w.saturating_sub(1)),
    );
    if let Some(f) = fires.iter().find(|f| (f.y, f.x) == (y, x)) {
        let list: Vec<String> = f
            .channels
            .iter()
            .zip(&f.values)
            .map(|(c, v)| format!("{c} ({v:.2})"))
            .collect();
        ui.label(RichText::new(format!("({y}, {x}): {}", list.join(" · "))).monospace());
    }
    if response.clicked() {
        actions.push(Action::Probe(Some(Probe { u, v, pinned: true })));
    }
}
