//! The middle of the window: the selected layer's toolbar, legend and virtualised tile grid
//! (or the predictions, or what the layer waits for).

mod cache;
mod grid;
mod legend;
mod pair;
mod toolbar;

use egui::RichText;

use crate::action::Action;
use crate::panel::{Panel, Place};
use crate::state::{AppState, LayerRef};
use crate::widgets::predictions_ui;

pub use cache::TileCache;

/// The tiles panel.
#[derive(Default)]
pub struct Tiles {
    cache: TileCache,
    gpu: crate::gpu_textures::GpuTexture,
    legend: legend::Legend,
    pair: pair::PairCaches,
}

impl Panel for Tiles {
    fn id(&self) -> &'static str {
        "tiles"
    }

    fn place(&self) -> Place {
        Place::Central
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
        if state.selected == LayerRef::Head {
            ui.heading("Predictions");
            predictions_ui(ui, state);
            return;
        }
        // The grid's width, taken before the toolbar can widen the panel's content.
        let grid_width = ui.available_width();
        toolbar::ui(ui, state, actions);
        pair::header_ui(ui, state, actions);
        match (&state.view, &state.pair) {
            (Some(view), Some(p)) => {
                self.pair.legend_ui(ui, state, view, p);
                ui.separator();
                self.pair.grid_ui(ui, state, view, p, grid_width, actions);
            }
            (Some(view), None) => {
                self.legend.ui(ui, state);
                ui.separator();
                let sources = grid::Sources {
                    cache: &mut self.cache,
                    gpu: &mut self.gpu,
                };
                grid::ui(ui, state, view, sources, grid_width, actions);
            }
            (None, _) => {
                ui.separator();
                waiting_ui(ui, state);
            }
        }
    }

    fn textures(&self) -> (usize, usize) {
        let (n, b) = self.pair.usage();
        let gpu = usize::from(self.gpu.bytes() > 0);
        (
            self.cache.len() + n + gpu,
            self.cache.bytes() + b + self.gpu.bytes(),
        )
    }
}

/// No view: what the layer waits for, or that there is nothing to show.
fn waiting_ui(ui: &mut egui::Ui, state: &AppState) {
    let what = if state.weights.is_none() {
        "Loading Inception-V3…".to_string()
    } else if state.analysis.is_none() {
        "Analysing…".to_string()
    } else if state.showing_pre_relu() && state.waiting_for_layer() {
        format!("Computing {}'s pre-ReLU values…", state.selected.id())
    } else if state.waiting_for_layer() {
        format!("Reading {} back from the GPU…", state.selected.id())
    } else {
        ui.label("no data for this layer");
        return;
    };
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() * 0.4);
        ui.spinner();
        ui.label(RichText::new(what).weak());
    });
}
