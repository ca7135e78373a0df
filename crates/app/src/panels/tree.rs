//! The layer tree: the network's blocks, branches and layers as torchvision names them, with
//! Keras aliases and output shapes, a filter box, and the predictions at the end.

use egui::RichText;
use featurescope_net::catalogue::{BlockInfo, BlockKind, LayerInfo};
use featurescope_net::model::{GRAPH_2015_MAX_POOL, Variant};
use featurescope_net::{Catalogue, LayerKind};

use crate::action::Action;
use crate::panel::{Panel, Place};
use crate::state::{AppState, LayerRef};

/// Marker drawn next to layers on the 48-deep longest path.
pub const PATH_MARK: &str = "◆";

/// The layer tree.
#[derive(Default)]
pub struct Tree {
    /// The filter box's text.
    filter: String,
    /// The selection last scrolled into view (a new one is revealed once).
    revealed: Option<LayerRef>,
}

/// What one frame of the tree needs to draw a row.
struct Rows<'a> {
    state: &'a AppState,
    reveal: bool,
    actions: &'a mut Vec<Action>,
}

impl Panel for Tree {
    fn id(&self) -> &'static str {
        "layers"
    }

    fn place(&self) -> Place {
        Place::Left(300.0)
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
        let reveal = self.revealed != Some(state.selected);
        self.revealed = Some(state.selected);
        ui.horizontal(|ui| {
            ui.heading("Layers");
            let legend = format!("{PATH_MARK} = on the 48-deep path");
            ui.label(RichText::new(legend).monospace().weak());
        });
        ui.horizontal(|ui| {
            let label = ui.label("Find");
            ui.add(
                egui::TextEdit::singleline(&mut self.filter)
                    .hint_text("name or Keras alias (mixed7, conv2d_12)")
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(label.id);
        });
        ui.separator();
        let needle = self.filter.trim().to_ascii_lowercase();
        let mut rows = Rows {
            state,
            reveal,
            actions,
        };
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                if needle.is_empty() {
                    rows.tree(ui);
                } else {
                    rows.matches(ui, &needle);
                }
            });
    }
}

impl Rows<'_> {
    /// The layers whose id or Keras alias contains `needle`.
    fn matches(&mut self, ui: &mut egui::Ui, needle: &str) {
        let hits: Vec<&LayerInfo> = Catalogue::inception_v3()
            .layers
            .iter()
            .filter(|l| {
                l.id.to_ascii_lowercase().contains(needle)
                    || l.keras.contains(needle)
                    || l.keras_extra.iter().any(|k| k.contains(needle))
            })
            .collect();
        if hits.is_empty() {
            ui.label(RichText::new("no layer matches").weak());
        }
        for l in hits {
            self.row(ui, l, 0.0, true);
        }
    }

    /// Every block, then the head.
    fn tree(&mut self, ui: &mut egui::Ui) {
        let cat = Catalogue::inception_v3();
        for block in &cat.blocks {
            match block.kind {
                BlockKind::Stem | BlockKind::Pool => {
                    for &i in block.branches.iter().flat_map(|b| &b.layers) {
                        self.row(ui, &cat.layers[i], 0.0, false);
                    }
                }
                _ => self.block(ui, block),
            }
        }
        self.head(ui);
    }

    /// A block as a collapsing header (its output selectable), its branches inside.
    fn block(&mut self, ui: &mut egui::Ui, block: &BlockInfo) {
        let cat = Catalogue::inception_v3();
        let selected = self.state.selected.id();
        let contains_selection = block
            .branches
            .iter()
            .flat_map(|b| &b.layers)
            .chain(&block.output)
            .any(|&i| cat.layers[i].id == selected);
        let id = ui.make_persistent_id(&block.id);
        let mut state =
            egui::collapsing_header::CollapsingState::load_with_default_open(ui.ctx(), id, false);
        if contains_selection && self.reveal {
            state.set_open(true);
        }
        let shape = block
            .output
            .map(|o| shape(&cat.layers[o]))
            .unwrap_or_default();
        let header = format!("{}  {:?}  {shape}", block.id, block.kind);
        let output_selected = block.output.is_some_and(|o| cat.layers[o].id == selected);
        state
            .show_header(ui, |ui| {
                let r = ui.selectable_label(output_selected, RichText::new(header).strong());
                if r.clicked()
                    && let Some(o) = block.output
                {
                    self.actions.push(Action::Select(LayerRef::Layer(o)));
                }
            })
            .body(|ui| {
                for branch in &block.branches {
                    ui.label(RichText::new(&branch.name).italics().weak());
                    for &i in &branch.layers {
                        self.row(ui, &cat.layers[i], 10.0, false);
                    }
                }
                if let Some(o) = block.output {
                    self.row(ui, &cat.layers[o], 0.0, false);
                }
            });
    }

    /// The predictions, at the end of the tree.
    fn head(&mut self, ui: &mut egui::Ui) {
        let has_head = self.state.has_head();
        let label = if has_head {
            format!("{PATH_MARK} head (predictions)")
        } else if self.state.weights.is_none() {
            "  head (loading…)".to_string()
        } else {
            "  head: none in these weights".to_string()
        };
        let selected = self.state.selected == LayerRef::Head;
        let button = egui::Button::selectable(selected, RichText::new(label).monospace());
        if ui.add_enabled(has_head, button).clicked() {
            self.actions.push(Action::Select(LayerRef::Head));
        }
    }

    /// One layer: mark, short name, alias, shape; the whole story on hover.
    fn row(&mut self, ui: &mut egui::Ui, l: &LayerInfo, indent: f32, full: bool) {
        let selected = self.state.selected.id() == l.id;
        // The 2015 TensorFlow graph pools this branch by max: the tree says so.
        let by_max =
            self.state.weights.as_ref().is_some_and(|w| {
                w.info.variant == Variant::Graph2015 && l.id == GRAPH_2015_MAX_POOL
            });
        let (short, alias) = match by_max {
            // Its name in the graph it came from, not a Keras alias it does not have there.
            true => ("branch_pool.MAX_pool", "mixed_10/tower_2/pool"),
            false => (short_name(l, full), l.keras.as_str()),
        };
        let mark = if l.on_longest_path { PATH_MARK } else { " " };
        let text = format!("{mark} {short:<18} {alias:<10} {}", shape(l));
        let reveal = self.reveal;
        let clicked = ui
            .horizontal(|ui| {
                ui.add_space(indent);
                let r = ui.selectable_label(selected, RichText::new(text).monospace());
                let r = r.on_hover_text(row_details(l, by_max));
                if selected && reveal {
                    r.scroll_to_me(Some(egui::Align::Center));
                }
                r.clicked()
            })
            .inner;
        if clicked && let Some(layer) = LayerRef::resolve(&l.id) {
            self.actions.push(Action::Select(layer));
        }
    }
}

/// `CxHxW` for 299x299 inputs.
fn shape(l: &LayerInfo) -> String {
    format!("{}x{}x{}", l.shape[0], l.shape[1], l.shape[2])
}

/// The name a row shows: the last part of the id (a block's concat as `concat`), or the whole
/// id in a filtered list.
fn short_name(l: &LayerInfo, full: bool) -> &str {
    let last = l.id.rsplit_once('.').map_or(l.id.as_str(), |(_, s)| s);
    let after_block = &l.id[l.id.find('.').map_or(0, |i| i + 1)..];
    if full {
        l.id.as_str()
    } else if l.kind == LayerKind::Concat && !l.id.contains('.') {
        "concat"
    } else if l.kind == LayerKind::Concat || last == "avg_pool" || last == "max_pool" {
        after_block
    } else {
        last
    }
}

/// The hover text of a row: id, Keras names, kind, shape, the longest path.
fn row_details(l: &LayerInfo, by_max: bool) -> String {
    let extra = if l.keras_extra.is_empty() {
        String::new()
    } else {
        format!(" ({})", l.keras_extra.join(", "))
    };
    let kind = if by_max {
        "max pool 3x3 / 1 (the 2015 TensorFlow graph's; Keras and torchvision average here)"
    } else {
        l.kind.name()
    };
    let path = if l.on_longest_path {
        "\n◆ on the 48-layer-deep longest path"
    } else {
        ""
    };
    format!(
        "{}\nKeras: {}{extra}\n{kind} · {}{path}",
        l.id,
        l.keras,
        shape(l)
    )
}
