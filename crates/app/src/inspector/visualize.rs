//! The feature-visualisation view: an image optimised to drive the filter (computed on the
//! worker, with progress and Cancel), cached per weights, layer, filter, steps and seed.

use egui::{RichText, TextureOptions, vec2};

use super::{Filter, InspectorView, Row};
use crate::action::{Action, Cancel};
use crate::services::attribution::VisKey;
use crate::state::{Entry, ViewId};
use crate::widgets::TextureMap;

/// The feature-visualisation view.
pub struct VisualizeView {
    textures: TextureMap<VisKey>,
}

impl Default for VisualizeView {
    fn default() -> Self {
        Self {
            textures: TextureMap::new("feature-vis", TextureOptions::LINEAR),
        }
    }
}

impl InspectorView for VisualizeView {
    fn id(&self) -> ViewId {
        ViewId("visualize")
    }

    fn title(&self) -> &'static str {
        "Feature visualization"
    }

    fn row(&self) -> Row {
        Row::Explain
    }

    fn ui(&mut self, ui: &mut egui::Ui, filter: &Filter<'_>, actions: &mut Vec<Action>) {
        let visual = &filter.state.visual;
        self.textures.retain(|k| visual.cache.contains_key(k));
        ui.label(
            RichText::new(
                "An image optimised to make this filter fire (Olah et al. 2017): decorrelated \
                 Fourier colours, random jitter, scale and rotation each step.",
            )
            .weak(),
        );
        let (mut steps, mut seed) = (visual.steps, visual.seed);
        let start = ui
            .horizontal(|ui| {
                let slider = egui::Slider::new(&mut steps, 16..=1024)
                    .logarithmic(true)
                    .text("steps");
                ui.add(slider);
                ui.add(egui::DragValue::new(&mut seed).prefix("seed "));
                ui.button("Visualize").clicked()
            })
            .inner;
        if (steps, seed) != (visual.steps, visual.seed) {
            actions.push(Action::VisualizeSettings { steps, seed });
        }
        let key = VisKey {
            weights: filter.state.weights_serial,
            layer: filter.view.id.clone(),
            channel: filter.channel,
            steps: visual.steps,
            seed: visual.seed,
        };
        if start {
            actions.push(Action::Visualize(key.clone()));
        }
        self.entry_ui(ui, filter, &key, actions);
    }
}

impl VisualizeView {
    fn entry_ui(
        &mut self,
        ui: &mut egui::Ui,
        filter: &Filter<'_>,
        key: &VisKey,
        actions: &mut Vec<Action>,
    ) {
        match filter.state.visual.cache.get(key) {
            None => {
                ui.label(RichText::new("Not run yet for these settings.").weak());
            }
            Some(Entry::Pending { done, total, .. }) => {
                ui.horizontal(|ui| {
                    ui.add(
                        egui::ProgressBar::new(*done as f32 / (*total).max(1) as f32)
                            .desired_width(220.0)
                            .text(format!("step {done}/{total}")),
                    );
                    if ui.button("Cancel").clicked() {
                        actions.push(Action::Cancel(Cancel::Visualize(key.clone())));
                    }
                });
            }
            Some(Entry::Failed(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, e.as_str());
            }
            Some(Entry::Ready(v)) => {
                let side = ui.available_width().clamp(160.0, 448.0);
                if let Some(tex) = self.textures.get(ui.ctx(), key, &[&v.image]).first() {
                    ui.image((tex.id(), vec2(side, side)));
                }
                ui.label(RichText::new(v.summary.as_str()).monospace().small());
            }
        }
    }
}
