//! The inspector's explanation views: one per attribution method, each its own file behind
//! [`MethodView`] (the method and its own controls), listed in [`super::views`]. The shared
//! part here asks for the explanation (computed on the worker with progress and Cancel, cached
//! per image, weights, target, method and options), shows it alone and over the photo, and
//! runs the sanity check.

pub mod deconv;
pub mod gradcam;
pub mod guided;
pub mod guided_gradcam;
pub mod integrated;
pub mod saliency;
pub mod smoothgrad;

use egui::{RichText, TextureOptions, vec2};
use featurescope_net::attribution::sanity::Randomize;
use featurescope_net::attribution::{Method, Options, Target};

use super::{Filter, InspectorView, Row};
use crate::action::{Action, Cancel};
use crate::services::attribution::ExplainKey;
use crate::state::{Entry, TargetChoice, ViewId};
use crate::widgets::TextureMap;

/// One method's part of its view: which method, and its own controls.
pub trait MethodView: Sync {
    /// The method.
    fn method(&self) -> Method;
    /// Controls for the method's parameters (a change makes a new cache key, so a new run).
    fn controls(&self, _ui: &mut egui::Ui, _options: &mut Options) {}
}

/// The inspector view of a method.
pub fn view(method: &'static dyn MethodView) -> Box<dyn InspectorView> {
    Box::new(ExplainView {
        method,
        textures: TextureMap::new("explain", TextureOptions::LINEAR),
    })
}

struct ExplainView {
    method: &'static dyn MethodView,
    textures: TextureMap<ExplainKey>,
}

impl InspectorView for ExplainView {
    fn id(&self) -> ViewId {
        ViewId::explain(self.method.method())
    }

    fn title(&self) -> &'static str {
        self.method.method().title()
    }

    fn row(&self) -> Row {
        Row::Explain
    }

    fn ui(&mut self, ui: &mut egui::Ui, filter: &Filter<'_>, actions: &mut Vec<Action>) {
        let state = filter.state;
        self.textures
            .retain(|k| state.explain.cache.contains_key(k));
        let method = self.method.method();
        ui.label(RichText::new(method.implementation().summary()).weak());
        let Some(target) = self.settings_ui(ui, filter, actions) else {
            ui.label("no image yet");
            return;
        };
        let generation = state.analysis.as_ref().map_or(0, |a| a.generation);
        let key = ExplainKey::new(
            generation,
            state.weights_serial,
            target,
            method,
            &state.explain.options,
        );
        sanity_buttons(ui, &key, &filter.view.id, actions);
        // Not while a slider is being dragged: each value it passes would be a run.
        let settling = ui.input(|i| i.pointer.any_down());
        if !state.explain.cache.contains_key(&key) && !settling {
            actions.push(Action::Explain(key.clone()));
        }
        let pinned = pinned_key(filter, &key);
        if pinned.is_some() {
            ui.label(RichText::new("B (on screen)").strong());
        }
        self.entry_ui(ui, filter, &key, actions);
        if let Some((key_a, label)) = pinned {
            ui.separator();
            ui.label(RichText::new(label).strong());
            if !state.explain.cache.contains_key(&key_a) && !settling {
                actions.push(Action::Explain(key_a.clone()));
            }
            self.entry_ui(ui, filter, &key_a, actions);
        }
        let mut checks: Vec<&ExplainKey> = state
            .explain
            .cache
            .keys()
            .filter(|k| k.sanity.is_some() && k.plain() == key)
            .collect();
        checks.sort_by_key(|k| k.sanity.as_ref().map(Randomize::describe));
        for k in checks {
            ui.separator();
            if let Some(scope) = &k.sanity {
                ui.label(format!(
                    "Sanity check, {} re-initialised:",
                    scope.describe()
                ));
            }
            self.entry_ui(ui, filter, k, actions);
        }
    }
}

impl ExplainView {
    /// What is explained and the method's parameters; the target (None without an image).
    fn settings_ui(
        &self,
        ui: &mut egui::Ui,
        filter: &Filter<'_>,
        actions: &mut Vec<Action>,
    ) -> Option<Target> {
        let state = filter.state;
        let analysis = state.analysis.as_ref()?;
        let top_class = analysis
            .activations
            .head
            .as_ref()
            .and_then(|h| h.top_k(1).first().map(|t| t.0));
        let mut choice = state.explain.target;
        ui.horizontal(|ui| {
            egui::ComboBox::from_label("explains")
                .selected_text(choice.label())
                .show_ui(ui, |ui| {
                    for t in TargetChoice::ALL {
                        if t != TargetChoice::TopClass || top_class.is_some() {
                            ui.selectable_value(&mut choice, t, t.label());
                        }
                    }
                });
        });
        if choice != state.explain.target {
            actions.push(Action::ExplainTarget(choice));
        }
        let mut options = state.explain.options.clone();
        self.method.controls(ui, &mut options);
        if options != state.explain.options {
            actions.push(Action::ExplainOptions(Box::new(options)));
        }
        target_of(filter.view, filter.channel, state.explain.target, top_class)
    }

    /// One result: progress with Cancel, the failure with Retry, or the images and summary.
    fn entry_ui(
        &mut self,
        ui: &mut egui::Ui,
        filter: &Filter<'_>,
        key: &ExplainKey,
        actions: &mut Vec<Action>,
    ) {
        match filter.state.explain.cache.get(key) {
            None => {}
            Some(Entry::Pending { done, total, .. }) => {
                ui.horizontal(|ui| {
                    let f = *done as f32 / (*total).max(1) as f32;
                    let text = format!("{} {done}/{total}", key.method.title());
                    ui.add(egui::ProgressBar::new(f).desired_width(220.0).text(text));
                    if ui.button("Cancel").clicked() {
                        actions.push(Action::Cancel(Cancel::Explain(key.clone())));
                    }
                });
            }
            Some(Entry::Failed(e)) => {
                ui.horizontal(|ui| {
                    ui.colored_label(ui.visuals().error_fg_color, e.as_str());
                    if ui.button("Retry").clicked() {
                        actions.push(Action::RetryExplain(key.clone()));
                    }
                });
            }
            Some(Entry::Ready(done)) => {
                let side = ((ui.available_width() - 8.0) / 2.0).clamp(120.0, 320.0);
                let tex = self
                    .textures
                    .get(ui.ctx(), key, &[&done.alone, &done.overlay]);
                ui.horizontal(|ui| {
                    for t in tex {
                        ui.image((t.id(), vec2(side, side)));
                    }
                });
                let timing = match filter.state.hide_machine_details {
                    true => String::new(),
                    false => format!(" · {:.0} ms", done.millis),
                };
                let summary = format!("{}{timing}", done.summary);
                ui.label(RichText::new(summary).monospace().small());
                if let Some(rho) = done.rank_correlation {
                    ui.label(format!(
                        "rank correlation with the trained network's map: {rho:.3} \
                         (1 = unchanged: the map did not depend on these weights)"
                    ));
                }
            }
        }
    }
}

/// What `choice` explains of channel `c` of `view`: its strongest unit, its whole map, or the
/// top class.
fn target_of(
    view: &crate::view::LayerView,
    c: usize,
    choice: TargetChoice,
    top_class: Option<usize>,
) -> Option<Target> {
    let whole = Target::channel(&view.id, c).ok()?;
    Some(match (choice, top_class) {
        (TargetChoice::TopClass, Some(class)) => Target::Class(class),
        (TargetChoice::WholeMap, _) => whole,
        _ => {
            let map = view.maps.channel(c);
            let best = (0..map.len())
                .max_by(|&a, &b| map[a].total_cmp(&map[b]))
                .unwrap_or(0);
            let w = view.maps.width.max(1);
            whole.at(best / w, best % w)
        }
    })
}

/// With a pinned pair on screen: the same explanation of the pinned analysis (its own
/// strongest unit, its own top class), and its label.
fn pinned_key(filter: &Filter<'_>, key: &ExplainKey) -> Option<(ExplainKey, String)> {
    let state = filter.state;
    let pair = state.pair.as_ref()?;
    let p = state.pinned.as_ref()?.ready()?;
    let top_class = p
        .activations
        .head
        .as_ref()
        .and_then(|h| h.top_k(1).first().map(|t| t.0));
    let target = target_of(&pair.a, filter.channel, state.explain.target, top_class)?;
    let key_a = ExplainKey {
        target,
        ..key.of(p.generation, p.weights_serial)
    };
    Some((key_a, format!("A (pinned): {} · {}", p.image, p.weights)))
}

/// The sanity check's buttons: from this layer up, or every layer.
fn sanity_buttons(ui: &mut egui::Ui, key: &ExplainKey, layer: &str, actions: &mut Vec<Action>) {
    ui.horizontal(|ui| {
        let from_here = ui
            .button("Sanity check: randomise from here up")
            .on_hover_text(
                "Re-run with the weights of this layer and every layer above it re-initialised \
                 (Adebayo et al. 2018): a method that explains the model must change",
            );
        if from_here.clicked() {
            let scope = Randomize::From(layer.to_string());
            actions.push(Action::SanityCheck(key.clone(), scope));
        }
        if ui.button("... all layers").clicked() {
            actions.push(Action::SanityCheck(key.clone(), Randomize::All));
        }
    });
}
