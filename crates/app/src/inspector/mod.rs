//! The inspector: one filter of the selected layer, seen through several views. Each view is
//! one file behind [`InspectorView`], listed once in [`views`]; every attribution method has
//! its view there (a test fails when one is missing).

pub mod atlas;
pub mod dictionary;
pub mod explain;
pub mod groups;
pub mod map;
pub mod overlay;
pub mod pair;
pub mod spatial;
pub mod visualize;

use egui::RichText;

use crate::action::{Action, Choose, Export};
use crate::panel::{Panel, Place};
use crate::state::{AppState, Inspector, ViewId};
use crate::view::LayerView;
use crate::widgets::branch_of;

/// The filter a view shows.
pub struct Filter<'a> {
    /// The whole state.
    pub state: &'a AppState,
    /// The selected layer, prepared.
    pub view: &'a LayerView,
    /// The channel.
    pub channel: usize,
}

/// Which row of tabs a view sits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Row {
    /// Ways of looking at the map: magnified, over the photo, top images.
    Look,
    /// What drives the filter: the attribution methods, feature visualisation.
    Explain,
    /// The whole layer on this photo: the dictionary, neuron groups, spatial attribution.
    Layer,
}

/// One view of the inspected filter.
pub trait InspectorView {
    /// Its id (what [`Inspector::view`] holds).
    fn id(&self) -> ViewId;
    /// Its tab's title.
    fn title(&self) -> &'static str;
    /// Its row of tabs.
    fn row(&self) -> Row;
    /// Whether it can be shown now (the atlas view needs an atlas).
    fn available(&self, _state: &AppState) -> bool {
        true
    }
    /// Draw it; what the person did goes into `actions`.
    fn ui(&mut self, ui: &mut egui::Ui, filter: &Filter<'_>, actions: &mut Vec<Action>);
}

/// Every view, in tab order.
pub fn views() -> Vec<Box<dyn InspectorView>> {
    vec![
        Box::new(map::MapView::default()),
        Box::new(pair::PairView::default()),
        Box::new(overlay::OverlayView::default()),
        Box::new(atlas::AtlasView::default()),
        explain::view(&explain::saliency::SaliencyView),
        explain::view(&explain::smoothgrad::SmoothGradView),
        explain::view(&explain::integrated::IntegratedView),
        explain::view(&explain::guided::GuidedView),
        explain::view(&explain::deconv::DeconvView),
        explain::view(&explain::gradcam::GradCamView),
        explain::view(&explain::guided_gradcam::GuidedGradCamView),
        Box::new(visualize::VisualizeView::default()),
        Box::new(dictionary::DictionaryView::default()),
        Box::new(groups::GroupsView::default()),
        Box::new(spatial::SpatialView::default()),
    ]
}

/// The inspector's window (a floating panel).
pub struct InspectorWindow {
    views: Vec<Box<dyn InspectorView>>,
}

impl Default for InspectorWindow {
    fn default() -> Self {
        Self { views: views() }
    }
}

impl Panel for InspectorWindow {
    fn id(&self) -> &'static str {
        "inspector"
    }

    fn place(&self) -> Place {
        Place::Floating
    }

    fn shown(&self, state: &AppState) -> bool {
        state.inspector.is_some()
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
        let Some(inspector) = state.inspector else {
            return;
        };
        let c = inspector.channel;
        let mut open = true;
        let title = format!("{} · filter {c}", state.selected.id());
        egui::Window::new(title)
            .id(egui::Id::unique("featurescope-inspector"))
            .open(&mut open)
            .default_width(420.0)
            .resizable(true)
            .show(ui.ctx(), |ui| match &state.view {
                Some(view) if c < view.maps.channels => {
                    let filter = Filter {
                        state,
                        view,
                        channel: c,
                    };
                    self.contents_ui(ui, &filter, inspector, actions);
                }
                // The layer's values are on their way (pre-ReLU values, a GPU read): the
                // inspector stays on this filter and shows it when they arrive.
                _ => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label(RichText::new("waiting for the layer's values…").weak());
                    });
                }
            });
        if !open {
            actions.push(Action::CloseInspector);
        }
    }
}

impl InspectorWindow {
    fn contents_ui(
        &mut self,
        ui: &mut egui::Ui,
        filter: &Filter<'_>,
        inspector: Inspector,
        actions: &mut Vec<Action>,
    ) {
        self.tabs_ui(ui, filter, inspector, actions);
        stats_ui(ui, filter);
        let active = self
            .views
            .iter_mut()
            .find(|v| v.id() == inspector.view && v.available(filter.state));
        match active {
            Some(view) => view.ui(ui, filter, actions),
            None => {
                ui.label(RichText::new("this view is not available now").weak());
            }
        }
    }

    /// Both rows of tabs, with the channel stepper and the export between them.
    fn tabs_ui(
        &self,
        ui: &mut egui::Ui,
        filter: &Filter<'_>,
        inspector: Inspector,
        actions: &mut Vec<Action>,
    ) {
        let c = inspector.channel;
        ui.horizontal(|ui| {
            self.row_ui(ui, Row::Look, filter.state, inspector, actions);
            ui.separator();
            let last = filter.view.maps.channels - 1;
            for (label, channel) in [
                ("< prev", c.saturating_sub(1)),
                ("next >", (c + 1).min(last)),
            ] {
                if ui.button(label).clicked() {
                    actions.push(Action::Inspect(Inspector {
                        channel,
                        ..inspector
                    }));
                }
            }
            if ui.button("Export PNG…").clicked() {
                actions.push(Action::Choose(Choose::ExportTo(Export::Tile(c))));
            }
        });
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new("explain:").weak());
            self.row_ui(ui, Row::Explain, filter.state, inspector, actions);
        });
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new("the layer on this photo:").weak());
            self.row_ui(ui, Row::Layer, filter.state, inspector, actions);
        });
    }
}

impl InspectorWindow {
    /// The tabs of one row: a click shows that view.
    fn row_ui(
        &self,
        ui: &mut egui::Ui,
        row: Row,
        state: &AppState,
        inspector: Inspector,
        actions: &mut Vec<Action>,
    ) {
        for v in self.views.iter().filter(|v| v.row() == row) {
            if v.available(state)
                && ui
                    .selectable_label(inspector.view == v.id(), v.title())
                    .clicked()
            {
                actions.push(Action::Inspect(Inspector {
                    view: v.id(),
                    ..inspector
                }));
            }
        }
    }
}

/// Where a concat's channel comes from, and the filter's statistics and colour range.
fn stats_ui(ui: &mut egui::Ui, filter: &Filter<'_>) {
    let (view, c) = (filter.view, filter.channel);
    if let Some((src, k)) = branch_of(&view.id, c) {
        let text = format!("channel {c} of this concat is {src} channel {k}");
        ui.label(RichText::new(text).weak());
    }
    let stats = view.stats[c];
    let range = view.range(c);
    ui.label(
        RichText::new(format!(
            "min {:.4} · max {:.4} · mean {:.4} · active {:.1}% · colours {:.3} … {:.3}{}",
            stats.min,
            stats.max,
            stats.mean,
            stats.active_fraction * 100.0,
            range.lo,
            range.hi,
            if stats.dead {
                " · dead (constant)"
            } else {
                ""
            }
        ))
        .monospace(),
    );
}

/// A layer view's result: asked for (the action `ask`) when there is none yet, a spinner with
/// `waiting` while it is computed, the error when it failed, else drawn by `ready`.
pub(crate) fn entry_ui<T>(
    ui: &mut egui::Ui,
    entry: Option<&crate::state::Entry<T>>,
    (waiting, ask): (&str, Action),
    actions: &mut Vec<Action>,
    ready: impl FnOnce(&mut egui::Ui, &T, &mut Vec<Action>),
) {
    use crate::state::Entry;
    match entry {
        None => {
            actions.push(ask);
            ui.spinner();
        }
        Some(Entry::Pending { .. }) => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(waiting);
            });
        }
        Some(Entry::Failed(e)) => {
            ui.colored_label(ui.visuals().error_fg_color, e.as_str());
        }
        Some(Entry::Ready(drawn)) => ready(ui, drawn, actions),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use featurescope_net::attribution::Method;

    /// Every attribution method has exactly one view; no two views share an id.
    #[test]
    fn every_method_has_its_view() {
        let views = views();
        for m in Method::ALL {
            let n = views
                .iter()
                .filter(|v| v.id() == ViewId::explain(m))
                .count();
            assert_eq!(n, 1, "{m:?} has {n} views in inspector::views()");
        }
        let mut ids: Vec<ViewId> = views.iter().map(|v| v.id()).collect();
        ids.sort_by_key(|v| v.0);
        ids.dedup();
        assert_eq!(ids.len(), views.len(), "two views share an id");
        assert!(
            ids.contains(&ViewId::MAP),
            "a tile click opens the map view"
        );
    }
}
