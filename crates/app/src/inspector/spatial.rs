//! The spatial-attribution view (Olah et al. 2018): per position of the selected layer,
//! Σ_k a_k · ∂z_c/∂a_k — where the layer pushes the class logit up (orange) or down (blue);
//! with a second class, their difference (orange: toward the first, blue: toward the second).
//! Computed on the worker.

use egui::{RichText, TextureOptions, vec2};

use super::{Filter, InspectorView, Row};
use crate::action::Action;
use crate::services::layer_views::{SpatialDrawn, SpatialKey};
use crate::state::{AppState, ViewId};
use crate::widgets::TextureMap;

/// The spatial-attribution view.
pub struct SpatialView {
    textures: TextureMap<SpatialKey>,
}

impl Default for SpatialView {
    fn default() -> Self {
        Self {
            textures: TextureMap::new("spatial", TextureOptions::LINEAR),
        }
    }
}

/// The head's labels and the current image's top class.
fn classes(state: &AppState) -> Option<(&[String], usize)> {
    let head = state.analysis.as_ref()?.activations.head.as_ref()?;
    let top = head.top_k(1).first().map(|t| t.0)?;
    Some((&head.labels, top))
}

fn label(labels: &[String], c: usize) -> String {
    let name = labels.get(c).map_or("?", String::as_str);
    format!("{c}: {name}")
}

impl InspectorView for SpatialView {
    fn id(&self) -> ViewId {
        ViewId("spatial")
    }

    fn title(&self) -> &'static str {
        "Spatial attribution"
    }

    fn row(&self) -> Row {
        Row::Layer
    }

    fn available(&self, state: &AppState) -> bool {
        classes(state).is_some()
    }

    fn ui(&mut self, ui: &mut egui::Ui, filter: &Filter<'_>, actions: &mut Vec<Action>) {
        let state = filter.state;
        let (Some((labels, top)), Some(analysis)) = (classes(state), &state.analysis) else {
            return;
        };
        let views = &state.layer_views;
        self.textures.retain(|k| views.spatial.contains_key(k));
        ui.label(
            RichText::new(
                "Where this layer pushes a class: activation × gradient of the class logit, \
                 summed over channels (orange: toward, blue: away).",
            )
            .weak(),
        );
        let (first, second) = views.classes.unwrap_or((top, None));
        let (mut a, mut b) = (first, second);
        ui.horizontal(|ui| {
            egui::ComboBox::from_label("class")
                .selected_text(label(labels, a))
                .show_ui(ui, |ui| {
                    for c in 0..labels.len() {
                        ui.selectable_value(&mut a, c, label(labels, c));
                    }
                });
            egui::ComboBox::from_label("against")
                .selected_text(b.map_or("nothing".into(), |c| label(labels, c)))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut b, None, "nothing");
                    for c in 0..labels.len() {
                        ui.selectable_value(&mut b, Some(c), label(labels, c));
                    }
                });
        });
        if (a, b) != (first, second) {
            actions.push(Action::SpatialClasses(Some((a, b))));
        }
        let key = SpatialKey {
            generation: analysis.generation,
            weights: state.weights_serial,
            layer: filter.view.id.clone(),
            classes: (first, second),
        };
        super::entry_ui(
            ui,
            views.spatial.get(&key),
            ("computing on the worker…", Action::Spatial(key.clone())),
            actions,
            |ui, drawn, _| self.result_ui(ui, state, &key, labels, drawn),
        );
    }
}

impl SpatialView {
    fn result_ui(
        &mut self,
        ui: &mut egui::Ui,
        state: &AppState,
        key: &SpatialKey,
        labels: &[String],
        drawn: &SpatialDrawn,
    ) {
        let mut images = vec![&drawn.image];
        if key.classes.1.is_some() {
            images.extend(drawn.per_class.iter());
        }
        let textures = self.textures.get(ui.ctx(), key, &images).to_vec();
        let side = ui.available_width().clamp(200.0, 420.0);
        if let Some(t) = textures.first() {
            ui.image((t.id(), vec2(side, side)));
        }
        let s = &drawn.spatial;
        let what = match key.classes {
            (a, Some(b)) => format!(
                "{} minus {} (orange: toward the first, blue: toward the second)",
                label(labels, a),
                label(labels, b)
            ),
            (a, None) => label(labels, a),
        };
        ui.label(RichText::new(what).strong());
        for m in &s.maps {
            let sum: f32 = m.data.iter().sum();
            ui.label(
                RichText::new(format!(
                    "{}: logit {:.3} · Σ map {sum:.3}",
                    label(labels, m.class),
                    m.logit
                ))
                .monospace(),
            );
        }
        if textures.len() > 1 {
            ui.horizontal(|ui| {
                for t in textures.iter().skip(1) {
                    ui.image((t.id(), vec2(side / 2.0 - 4.0, side / 2.0 - 4.0)));
                }
            });
        }
        let time = if state.hide_machine_details {
            String::new()
        } else {
            format!(", {:.0} ms", drawn.millis)
        };
        ui.label(RichText::new(format!("at {} ({}x{}){time}", s.layer, s.height, s.width)).weak());
    }
}
