//! The neuron-groups view (Olah et al. 2018): the selected layer's activations on this photo
//! factorised into k groups (non-negative matrix factorisation, on a task thread), each a
//! coloured mask over the photo — ordered left to right — and its strongest channels.

use egui::{Color32, RichText, TextureOptions, vec2};
use featurescope_maps::figures::group_colour;

use super::{Filter, InspectorView, Row};
use crate::action::Action;
use crate::pictures::Pictures;
use crate::services::layer_views::{GroupsDrawn, GroupsKey};
use crate::state::ViewId;
use crate::widgets::TextureMap;

/// Channels shown per group.
const STRONGEST: usize = 4;

/// The groups view.
pub struct GroupsView {
    textures: TextureMap<GroupsKey>,
    pictures: Pictures,
}

impl Default for GroupsView {
    fn default() -> Self {
        Self {
            textures: TextureMap::new("groups", TextureOptions::LINEAR),
            pictures: Pictures::new("groups-channels"),
        }
    }
}

impl InspectorView for GroupsView {
    fn id(&self) -> ViewId {
        ViewId("groups")
    }

    fn title(&self) -> &'static str {
        "Neuron groups"
    }

    fn row(&self) -> Row {
        Row::Layer
    }

    fn ui(&mut self, ui: &mut egui::Ui, filter: &Filter<'_>, actions: &mut Vec<Action>) {
        let (state, view) = (filter.state, filter.view);
        let Some(analysis) = &state.analysis else {
            return;
        };
        let views = &state.layer_views;
        self.textures.retain(|k| views.groups.contains_key(k));
        ui.label(
            RichText::new(
                "Which channels act together where: the layer's activations on this photo \
                 factorised into groups (NMF; NNDSVD start, multiplicative updates), masks \
                 ordered left to right.",
            )
            .weak(),
        );
        let (mut k, mut iters) = (views.groups_k, views.groups_iters);
        ui.horizontal(|ui| {
            ui.add(egui::Slider::new(&mut k, 1..=12).text("groups"));
            ui.add(
                egui::DragValue::new(&mut iters)
                    .range(1..=2000)
                    .prefix("rounds "),
            );
        });
        if (k, iters) != (views.groups_k, views.groups_iters) {
            actions.push(Action::GroupsSettings { k, iters });
        }
        let key = GroupsKey {
            generation: analysis.generation,
            layer: view.id.clone(),
            k: views.groups_k,
            iters: views.groups_iters,
        };
        super::entry_ui(
            ui,
            views.groups.get(&key),
            ("factorising…", Action::Groups(key.clone())),
            actions,
            |ui, drawn, actions| self.groups_ui(ui, filter, &key, drawn, actions),
        );
    }
}

impl GroupsView {
    fn groups_ui(
        &mut self,
        ui: &mut egui::Ui,
        filter: &Filter<'_>,
        key: &GroupsKey,
        drawn: &GroupsDrawn,
        actions: &mut Vec<Action>,
    ) {
        let (state, view) = (filter.state, filter.view);
        let g = &drawn.groups;
        let mut images = vec![&drawn.overlay];
        images.extend(drawn.alone.iter());
        let textures = self.textures.get(ui.ctx(), key, &images).to_vec();
        let side = ui.available_width().clamp(200.0, 420.0);
        if let Some(t) = textures.first() {
            ui.image((t.id(), vec2(side, side)));
        }
        let time = if state.hide_machine_details {
            String::new()
        } else {
            format!(" · {:.0} ms", drawn.millis)
        };
        ui.label(
            RichText::new(format!(
                "{} groups · relative error ‖A − WH‖/‖A‖ = {:.4}{time}",
                g.k(),
                g.error
            ))
            .monospace(),
        );
        self.pictures.follow(state, view);
        let mut named = Vec::new();
        egui::Grid::new("groups-grid")
            .spacing([8.0, 4.0])
            .show(ui, |ui| {
                for (i, tex) in textures.iter().skip(1).enumerate() {
                    let [r, gr, b] = group_colour(i);
                    ui.colored_label(Color32::from_rgb(r, gr, b), format!("group {}", i + 1));
                    ui.image((tex.id(), vec2(64.0, 64.0)));
                    for (c, weight) in g.strongest(i, STRONGEST) {
                        named.push(c);
                        ui.vertical(|ui| {
                            if let Some(p) = self.pictures.get(ui.ctx(), state, view, c) {
                                ui.image((p.id(), vec2(40.0, 40.0)));
                            }
                            ui.label(RichText::new(format!("{c} · {weight:.2}")).small());
                        });
                    }
                    ui.end_row();
                }
            });
        let wanted: Vec<usize> = named
            .into_iter()
            .filter(|&c| !state.layer_views.icons.known(&view.id, c))
            .collect();
        if !wanted.is_empty() {
            actions.push(Action::WantIcons {
                layer: view.id.clone(),
                channels: wanted,
            });
        }
    }
}
