//! The Classes window: an open class summary (File ▸ Open class summary…, or built from a
//! folder with progress and Stop). Pick a class: its graph as layered columns, one per block
//! (bottom to top, left to right), each node the channel's picture (its best atlas crop when an
//! atlas is open, its feature visualisation once asked for, else its map on the current
//! photo), edges as wide as their weight; its image count and accuracy in the header. Pick a
//! second class: per block, the channels whose mean attribution differs most between the two,
//! as one diverging column. A click on a node shows its layer in the tiles and inspects it.

use std::collections::HashMap;
use std::sync::Arc;

use egui::{Color32, Pos2, Rect, RichText, Sense, Stroke, TextureHandle, TextureOptions, vec2};
use featurescope_atlas::classes::GRAPH_BLOCKS;
use featurescope_maps::classes::{ClassStats, ClassSummary};

use crate::action::Action;
use crate::panel::{Panel, Place};
use crate::state::{AppState, ClassesState, Crops};
use crate::view::LayerView;
use crate::widgets::{color_image, tile_image};

/// Side of a node's picture.
const NODE: f32 = 48.0;
/// Room under a node for its channel number.
const LABEL: f32 = 24.0;
/// Room under a compared node for its bar and channel number.
const BAR_LABEL: f32 = 32.0;
/// Gap between columns, where the edges run (12 columns fit the window's default width).
const GAP: f32 = 32.0;
/// Height of the block names above the columns.
const TOP: f32 = 18.0;
/// Channels per block when the summary has no graph (its top attributed ones).
const UNGRAPHED_NODES: usize = 6;
/// Channels per block and side compared.
const COMPARED: usize = 3;
/// Edges thinner than this share of the class's heaviest are not drawn.
const HIDDEN_EDGE: f64 = 0.05;
/// The picked class, and positive edges.
const FIRST: Color32 = Color32::from_rgb(235, 150, 60);
/// The class compared with, and negative edges.
const SECOND: Color32 = Color32::from_rgb(80, 160, 235);

/// Where a node's picture comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Source {
    Crop,
    Icon,
    Tile,
}

/// A node to draw: its channel, its column and its place in it.
struct Node<'a> {
    layer: &'a str,
    channel: u32,
    rect: Rect,
}

/// The window and the textures of its nodes.
#[derive(Default)]
pub struct ClassesPanel {
    /// (analysis, weights, view version) the textures and layer views belong to.
    made_for: (u64, u64, u64),
    textures: HashMap<(String, u32, Source), TextureHandle>,
    /// Layers of the current photo prepared for their tiles.
    views: HashMap<String, Option<LayerView>>,
    /// The last two classes compared (summary, picked, other) and their columns: computed once,
    /// not every frame.
    compared: Option<(CompareKey, Columns)>,
}

/// Which summary (held, so its address cannot be reused) and which two classes a comparison is
/// of.
type CompareKey = (Arc<ClassSummary>, Option<u32>, u32);
/// Per block, channels with their attribution difference.
type Columns = Vec<(String, Vec<(u32, f64)>)>;

impl Panel for ClassesPanel {
    fn id(&self) -> &'static str {
        "classes"
    }

    fn place(&self) -> Place {
        Place::Floating
    }

    fn shown(&self, state: &AppState) -> bool {
        state.classes.is_some() || state.class_build.is_some()
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
        self.follow(state);
        let mut open = true;
        let screen = ui.ctx().content_rect();
        egui::Window::new("Classes")
            .id(egui::Id::unique("featurescope-classes"))
            .open(&mut open)
            .default_pos(screen.left_top() + vec2(230.0, 180.0))
            .default_width(1000.0)
            // The height follows the graph (up to the screen's), the width is the person's.
            .resizable([true, false])
            .show(ui.ctx(), |ui| {
                build_ui(ui, state, actions);
                if let Some(c) = &state.classes {
                    let max_height = (screen.height() - 300.0).max(200.0);
                    header_ui(ui, c, actions);
                    ui.separator();
                    egui::ScrollArea::both()
                        .id_salt("classes-graph")
                        .auto_shrink([false, true])
                        .max_height(max_height)
                        .min_scrolled_height(graph_height(c).min(max_height))
                        .show(ui, |ui| self.body_ui(ui, state, c, actions));
                }
            });
        if !open {
            if state.class_build.is_some() {
                actions.push(Action::StopClassBuild);
            }
            actions.push(Action::CloseClasses);
        }
    }
}

/// A build under way: which pass, progress and Stop.
fn build_ui(ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
    let Some(b) = &state.class_build else { return };
    ui.horizontal(|ui| {
        let f = &b.folder;
        let pass = if b.graphs { "graphs" } else { "counting" };
        let text = format!("{pass} {}/{}", f.done, f.total);
        let fraction = f.done as f32 / f.total.max(1) as f32;
        ui.add(
            egui::ProgressBar::new(fraction)
                .desired_width(180.0)
                .text(text),
        );
        if ui.button("Stop").clicked() {
            actions.push(Action::StopClassBuild);
        }
        let hint = "what is done is kept and opened; building the same folder again continues";
        ui.label(RichText::new(hint).weak().small());
    });
}

/// The class picker, its images and accuracy, the class compared with, feature
/// visualisations on request.
fn header_ui(ui: &mut egui::Ui, c: &ClassesState, actions: &mut Vec<Action>) {
    ui.horizontal(|ui| {
        let label = ui.label("class").id;
        let picked = c.class.map_or_else(|| "-".into(), |k| c.name(k));
        egui::ComboBox::from_id_salt("classes-pick")
            .selected_text(picked)
            .show_ui(ui, |ui| {
                for (&k, stats) in c.summary.classes() {
                    let text = format!("{} ({})", c.name(k), stats.images());
                    if ui.selectable_label(c.class == Some(k), text).clicked() {
                        actions.push(Action::PickClass(k));
                    }
                }
            })
            .response
            .labelled_by(label);
        if let (Some(k), Some(stats)) = (c.class, c.stats()) {
            let accuracy = 100.0 * stats.correct(k) as f64 / stats.images().max(1) as f64;
            ui.label(format!(
                "images {} · accuracy {accuracy:.0} %",
                stats.images()
            ));
        }
        ui.separator();
        let label = ui.label("compare with").id;
        let other = c.other.map_or_else(|| "-".into(), |k| c.name(k));
        egui::ComboBox::from_id_salt("classes-other")
            .selected_text(other)
            .show_ui(ui, |ui| {
                if ui.selectable_label(c.other.is_none(), "-").clicked() {
                    actions.push(Action::CompareClass(None));
                }
                for &k in c.summary.classes().keys().filter(|&&k| Some(k) != c.class) {
                    if ui.selectable_label(c.other == Some(k), c.name(k)).clicked() {
                        actions.push(Action::CompareClass(Some(k)));
                    }
                }
            })
            .response
            .labelled_by(label);
        ui.separator();
        let hover = "Compute each node's feature visualisation (on the worker, a few seconds \
                     each): it replaces the node's map on this photo";
        if ui
            .button("Feature visualisations")
            .on_hover_text(hover)
            .clicked()
        {
            for (layer, channels) in columns(c) {
                let channels = channels.into_iter().map(|k| k as usize).collect();
                actions.push(Action::ComputeIcons { layer, channels });
            }
        }
    });
}

/// The channels shown per block: the class's graph nodes, or compared, the union of both
/// sides' (for feature visualisations on request).
fn columns(c: &ClassesState) -> Vec<(String, Vec<u32>)> {
    let Some(stats) = c.stats() else {
        return Vec::new();
    };
    match c.other.and_then(|o| c.summary.classes().get(&o)) {
        Some(other) => compared(c, stats, other)
            .into_iter()
            .map(|(layer, list)| (layer, list.into_iter().map(|(k, _)| k).collect()))
            .collect(),
        None => graph_nodes(c, stats),
    }
}

/// The height the graph (or the comparison) takes, to size the window to it.
fn graph_height(c: &ClassesState) -> f32 {
    let rows = columns(c).iter().map(|(_, n)| n.len()).max().unwrap_or(0) as f32;
    let (row, extra) = match c.other {
        Some(_) => (NODE + BAR_LABEL, 28.0),
        None => (NODE + LABEL, 20.0),
    };
    TOP + rows * row + 4.0 + extra
}

/// The class's graph nodes per block; without a graph, its top attributed channels of each
/// block the summary has.
fn graph_nodes(c: &ClassesState, stats: &ClassStats) -> Vec<(String, Vec<u32>)> {
    if let Some(g) = stats.graph() {
        return g
            .nodes
            .iter()
            .filter(|(_, n)| !n.is_empty())
            .cloned()
            .collect();
    }
    let Some(class) = c.class else {
        return Vec::new();
    };
    GRAPH_BLOCKS
        .iter()
        .filter_map(|b| {
            let i = c.summary.layer_index(b)?;
            let top = c.summary.top_attributed(class, i, UNGRAPHED_NODES);
            Some((b.to_string(), top))
        })
        .collect()
}

/// Per block the summary has: the channels of largest attribution(picked) − attribution(other),
/// most positive first, then the most negative, each with its difference.
fn compared(c: &ClassesState, first: &ClassStats, second: &ClassStats) -> Columns {
    GRAPH_BLOCKS
        .iter()
        .filter_map(|b| {
            let i = c.summary.layer_index(b)?;
            let (a, z) = (first.attribution(i)?, second.attribution(i)?);
            let mut diff: Vec<(u32, f64)> = a
                .iter()
                .zip(&z)
                .enumerate()
                .map(|(k, (x, y))| (k as u32, x - y))
                .collect();
            diff.sort_by(|p, q| q.1.total_cmp(&p.1).then(p.0.cmp(&q.0)));
            let pos = diff.iter().filter(|d| d.1 > 0.0).take(COMPARED);
            let neg = diff.iter().rev().filter(|d| d.1 < 0.0).take(COMPARED);
            let mut list: Vec<(u32, f64)> = pos.copied().collect();
            let mut low: Vec<(u32, f64)> = neg.copied().collect();
            low.reverse();
            list.extend(low);
            Some((b.to_string(), list))
        })
        .collect()
}

impl ClassesPanel {
    /// Drop the textures made for another photo, other weights or other display settings.
    fn follow(&mut self, state: &AppState) {
        let generation = state.analysis.as_ref().map_or(0, |a| a.generation);
        let key = (generation, state.weights_serial, state.view_version);
        if key != self.made_for {
            self.made_for = key;
            self.textures.clear();
            self.views.clear();
        }
    }

    /// The graph, or the two classes compared.
    fn body_ui(
        &mut self,
        ui: &mut egui::Ui,
        state: &AppState,
        c: &ClassesState,
        actions: &mut Vec<Action>,
    ) {
        let Some(stats) = c.stats() else {
            ui.label(RichText::new("pick a class").weak());
            return;
        };
        match c
            .other
            .and_then(|o| c.summary.classes().get(&o).map(|s| (o, s)))
        {
            Some((o, other)) => self.compared_ui(ui, state, c, (stats, o, other), actions),
            None => self.graph_ui(ui, state, c, stats, actions),
        }
    }

    /// Layered columns, edges first, then the nodes over them.
    fn graph_ui(
        &mut self,
        ui: &mut egui::Ui,
        state: &AppState,
        c: &ClassesState,
        stats: &ClassStats,
        actions: &mut Vec<Action>,
    ) {
        let cols = graph_nodes(c, stats);
        if stats.graph().is_none() {
            let note = "this summary has no graph (built without every block, or with 0 nodes): \
                        each block's most attributed channels, without edges";
            ui.label(RichText::new(note).weak().small());
        }
        let rows = cols.iter().map(|(_, n)| n.len()).max().unwrap_or(0);
        let (origin, painter) = canvas(ui, cols.len(), rows, NODE + LABEL);
        let nodes = place(&cols, origin, NODE + LABEL);
        block_names(&painter, ui, &cols, origin);
        if let Some(g) = stats.graph() {
            let weights = g.weights();
            let max = weights.iter().fold(1e-12f64, |m, w| m.max(w.abs()));
            for (e, w) in g.edges.iter().zip(weights) {
                let at = |(l, k): &(String, u32)| {
                    nodes
                        .iter()
                        .find(|n| n.layer == l && n.channel == *k)
                        .map(|n| n.rect)
                };
                let (Some(a), Some(b)) = (at(&e.from), at(&e.to)) else {
                    continue;
                };
                edge(&painter, a, b, w / max);
            }
        }
        for n in &nodes {
            let info = node_info(c, stats, n.layer, n.channel);
            let r = self.node_ui(
                ui,
                state,
                n,
                Stroke::new(1.0, Color32::from_gray(90)),
                actions,
            );
            r.on_hover_text(info);
            let text = format!("{}", n.channel);
            let at = n.rect.center_bottom() + vec2(0.0, 2.0);
            let font = egui::FontId::monospace(10.0);
            let color = ui.visuals().text_color();
            painter.text(at, egui::Align2::CENTER_TOP, text, font, color);
        }
    }

    /// Per block, one diverging column: the channels the picked class uses more on top, those
    /// the other uses more below, each with a bar as long as the difference.
    fn compared_ui(
        &mut self,
        ui: &mut egui::Ui,
        state: &AppState,
        c: &ClassesState,
        (first, o, second): (&ClassStats, u32, &ClassStats),
        actions: &mut Vec<Action>,
    ) {
        let picked = c.class.map_or_else(String::new, |k| c.name(k));
        legend_ui(ui, &picked, &c.name(o));
        let fresh = |(k, _): &(CompareKey, Columns)| {
            Arc::ptr_eq(&k.0, &c.summary) && (k.1, k.2) == (c.class, o)
        };
        if !self.compared.as_ref().is_some_and(fresh) {
            let key = (Arc::clone(&c.summary), c.class, o);
            self.compared = Some((key, compared(c, first, second)));
        }
        let cols = self
            .compared
            .as_ref()
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let rows = cols.iter().map(|(_, n)| n.len()).max().unwrap_or(0);
        let (origin, painter) = canvas(ui, cols.len(), rows, NODE + BAR_LABEL);
        let ids: Vec<(String, Vec<u32>)> = cols
            .iter()
            .map(|(l, v)| (l.clone(), v.iter().map(|d| d.0).collect()))
            .collect();
        let nodes = place(&ids, origin, NODE + BAR_LABEL);
        block_names(&painter, ui, &ids, origin);
        for (layer, list) in &cols {
            let most = list.iter().fold(1e-12f64, |m, d| m.max(d.1.abs()));
            for (k, d) in list {
                let Some(n) = nodes.iter().find(|n| n.layer == layer && n.channel == *k) else {
                    continue;
                };
                let color = if *d > 0.0 { FIRST } else { SECOND };
                let info = format!(
                    "{}\nattribution {picked} − {}: {d:+.4}",
                    node_info(c, first, layer, *k),
                    c.name(o)
                );
                self.node_ui(ui, state, n, Stroke::new(2.0, color), actions)
                    .on_hover_text(info);
                difference_bar(&painter, ui, n.rect, *k, *d / most, color);
            }
        }
    }

    /// One node: its picture (or its number on grey), framed; a click inspects it.
    fn node_ui(
        &mut self,
        ui: &mut egui::Ui,
        state: &AppState,
        n: &Node<'_>,
        frame: Stroke,
        actions: &mut Vec<Action>,
    ) -> egui::Response {
        let id = ui.make_persistent_id(("class-node", n.layer, n.channel));
        let r = ui.interact(n.rect, id, Sense::click());
        let painter = ui.painter();
        match self.picture(ui.ctx(), state, n.layer, n.channel, actions) {
            Some(tex) => {
                let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
                painter.image(tex.id(), n.rect, uv, Color32::WHITE);
            }
            None => {
                painter.rect_filled(n.rect, 2.0, Color32::from_gray(45));
            }
        }
        let stroke = if r.hovered() {
            Stroke::new(frame.width + 1.0, ui.visuals().strong_text_color())
        } else {
            frame
        };
        painter.rect_stroke(n.rect, 2.0, stroke, egui::StrokeKind::Outside);
        let (layer, channel) = (n.layer.to_string(), n.channel);
        r.widget_info(|| {
            egui::WidgetInfo::labeled(
                egui::Role::Button,
                true,
                format!("class node {layer} {channel}"),
            )
        });
        if r.clicked() {
            actions.push(Action::InspectChannel {
                layer: n.layer.to_string(),
                channel: n.channel as usize,
            });
        }
        r
    }

    /// The texture of a node's picture: the best atlas crop (asked for when the atlas has the
    /// layer), else the feature visualisation when made, else the map on this photo.
    fn picture(
        &mut self,
        ctx: &egui::Context,
        state: &AppState,
        layer: &str,
        channel: u32,
        actions: &mut Vec<Action>,
    ) -> Option<TextureHandle> {
        let c = channel as usize;
        let crop = state.atlas.as_ref().and_then(|atlas| {
            atlas.loaded.atlas.layer(layer)?;
            let key = atlas.key(layer, c);
            match atlas.crops.get(&key) {
                Some(Crops::Ready(list)) => list.first().map(|(_, img)| img),
                Some(_) => None,
                None => {
                    actions.push(Action::LoadCrops(key));
                    None
                }
            }
        });
        let icon = state.layer_views.icons.get(layer, c);
        let source = match (crop, icon) {
            (Some(_), _) => Source::Crop,
            (None, Some(_)) => Source::Icon,
            (None, None) => Source::Tile,
        };
        let key = (layer.to_string(), channel, source);
        if let Some(t) = self.textures.get(&key) {
            return Some(t.clone());
        }
        let (image, options) = match (crop, icon) {
            (Some(img), _) => (color_image(img), TextureOptions::LINEAR),
            (None, Some(img)) => (color_image(img), TextureOptions::LINEAR),
            (None, None) => (self.tile(state, layer, c)?, TextureOptions::NEAREST),
        };
        let tex = ctx.load_texture("class-node", image, options);
        self.textures.insert(key, tex.clone());
        Some(tex)
    }

    /// The channel's map on the current photo, coloured as the tiles are (when the layer was
    /// read back: every layer on the CPU).
    fn tile(&mut self, state: &AppState, layer: &str, c: usize) -> Option<egui::ColorImage> {
        let view = self.views.entry(layer.to_string()).or_insert_with(|| {
            let data = state.analysis.as_ref()?.activations.get(layer)?;
            LayerView::new(data, false, &state.settings, 0, None)
        });
        let view = view.as_ref().filter(|v| c < v.maps.channels)?;
        Some(tile_image(view, c, 1))
    }
}

/// Room for `cols` columns of `rows` nodes `row` apart: the top-left corner and a painter.
fn canvas(ui: &mut egui::Ui, cols: usize, rows: usize, row: f32) -> (Pos2, egui::Painter) {
    let size = vec2(
        cols as f32 * (NODE + GAP) + 8.0,
        TOP + rows as f32 * row + 4.0,
    );
    let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
    (rect.min + vec2(4.0, 0.0), ui.painter_at(rect))
}

/// Each column's nodes, top to bottom.
fn place(cols: &[(String, Vec<u32>)], origin: Pos2, row: f32) -> Vec<Node<'_>> {
    let mut out = Vec::new();
    for (i, (layer, channels)) in cols.iter().enumerate() {
        for (j, &channel) in channels.iter().enumerate() {
            let min = origin + vec2(i as f32 * (NODE + GAP), TOP + j as f32 * row);
            out.push(Node {
                layer,
                channel,
                rect: Rect::from_min_size(min, vec2(NODE, NODE)),
            });
        }
    }
    out
}

/// The blocks' names above their columns.
fn block_names(painter: &egui::Painter, ui: &egui::Ui, cols: &[(String, Vec<u32>)], at: Pos2) {
    let font = egui::FontId::proportional(10.0);
    let color = ui.visuals().weak_text_color();
    for (i, (layer, _)) in cols.iter().enumerate() {
        let x = at.x + i as f32 * (NODE + GAP) + NODE / 2.0;
        let name = layer.strip_prefix("Mixed_").unwrap_or(layer);
        let pos = Pos2::new(x, at.y + 2.0);
        painter.text(pos, egui::Align2::CENTER_TOP, name, font.clone(), color);
    }
}

/// An edge from the right of `a` to the left of `b`, as wide as its share of the heaviest
/// (`share` signed: positive influences in one colour, negative in the other).
fn edge(painter: &egui::Painter, a: Rect, b: Rect, share: f64) {
    if share.abs() < HIDDEN_EDGE {
        return;
    }
    let base = if share > 0.0 { FIRST } else { SECOND };
    let alpha = (80.0 + 175.0 * share.abs()) as u8;
    let color = Color32::from_rgba_unmultiplied(base.r(), base.g(), base.b(), alpha);
    let width = (0.5 + 5.0 * share.abs()) as f32;
    let points = [a.right_center(), b.left_center()];
    painter.line_segment(points, Stroke::new(width, color));
}

/// Under a compared node: its channel and difference, and a bar as long as its share of the
/// block's largest.
fn difference_bar(
    painter: &egui::Painter,
    ui: &egui::Ui,
    node: Rect,
    channel: u32,
    share: f64,
    color: Color32,
) {
    let bar = Rect::from_min_size(
        node.left_bottom() + vec2(0.0, 3.0),
        vec2(NODE * share.abs() as f32, 4.0),
    );
    painter.rect_filled(bar, 1.0, color);
    let font = egui::FontId::monospace(10.0);
    let at = node.center_bottom() + vec2(0.0, 10.0);
    let text_color = ui.visuals().text_color();
    painter.text(
        at,
        egui::Align2::CENTER_TOP,
        channel.to_string(),
        font,
        text_color,
    );
}

/// Which colour stands for which class.
fn legend_ui(ui: &mut egui::Ui, first: &str, second: &str) {
    ui.horizontal(|ui| {
        ui.label(RichText::new("■").color(FIRST));
        ui.label(format!("{first} uses more"));
        ui.label(RichText::new("■").color(SECOND));
        ui.label(format!("{second} uses more"));
        let note = "(mean attribution to each class over its images; top of each column: the \
                    largest differences)";
        ui.label(RichText::new(note).weak().small());
    });
}

/// A node's hover text: layer, channel, count and mean attribution in the class.
fn node_info(c: &ClassesState, stats: &ClassStats, layer: &str, channel: u32) -> String {
    let k = channel as usize;
    let i = c.summary.layer_index(layer);
    let count = i
        .and_then(|i| stats.counts(i))
        .and_then(|v| v.get(k).copied());
    let attribution = i
        .and_then(|i| stats.attribution(i))
        .and_then(|v| v.get(k).copied());
    let count = count.map_or_else(|| "-".into(), |n| format!("{n} of {}", stats.images()));
    let attribution = attribution.map_or_else(|| "-".into(), |a| format!("{a:.4}"));
    format!(
        "{layer} · channel {channel}\namong the top channels in {count} images · mean \
         attribution {attribution}\nclick: show it in the tiles and the inspector"
    )
}
