//! The toolbar above the tiles: colormap, normalisation, clipping, order, dead filters,
//! pre-ReLU values, tile size. It edits a copy of the settings and hands back the new ones.

use featurescope_maps::{Colormap, SortKey};

use crate::action::Action;
use crate::settings::{NormMode, Settings};
use crate::state::AppState;

/// The toolbar; a change becomes [`Action::ChangeSettings`].
pub fn ui(ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
    let mut s = state.settings.clone();
    ui.horizontal_wrapped(|ui| {
        colormap_ui(ui, &mut s, state.showing_pre_relu());
        ui.separator();
        norm_ui(ui, &mut s);
        ui.separator();
        order_ui(ui, &mut s, state);
        ui.checkbox(&mut s.hide_dead, "hide dead");
        if state.selected.is_conv() {
            ui.checkbox(&mut s.pre_relu, "pre-ReLU")
                .on_hover_text("Show the conv's values before its ReLU (diverging colormap)");
        }
        ui.separator();
        ui.add(
            egui::Slider::new(&mut s.tile_px, 24.0..=320.0)
                .logarithmic(true)
                .text("tile px"),
        )
        .on_hover_text("Ctrl + mouse wheel over the grid also zooms");
    });
    if s != state.settings {
        actions.push(Action::ChangeSettings(Box::new(s)));
    }
}

/// The colormap of the values shown (post- or pre-ReLU each keep their own).
fn colormap_ui(ui: &mut egui::Ui, s: &mut Settings, pre: bool) {
    let current = s.colormap(pre);
    egui::ComboBox::from_label("colormap")
        .selected_text(current.name())
        .show_ui(ui, |ui| {
            for c in Colormap::ALL {
                if ui.selectable_label(c == current, c.name()).clicked() {
                    match pre {
                        true => s.pre_relu_colormap = c,
                        false => s.colormap = c,
                    }
                }
            }
        });
}

/// Per tile, per layer or a fixed range, and percentile clipping.
fn norm_ui(ui: &mut egui::Ui, s: &mut Settings) {
    for (mode, label) in [
        (NormMode::PerTile, "per tile"),
        (NormMode::PerLayer, "per layer"),
        (NormMode::Fixed, "fixed"),
    ] {
        ui.selectable_value(&mut s.norm, mode, label);
    }
    if s.norm == NormMode::Fixed {
        let lo = egui::DragValue::new(&mut s.fixed_lo)
            .speed(0.05)
            .prefix("lo ");
        ui.add(lo);
        let hi = egui::DragValue::new(&mut s.fixed_hi)
            .speed(0.05)
            .prefix("hi ");
        ui.add(hi);
    }
    let mut clip = s.clip_percentile.is_some();
    if ui
        .checkbox(&mut clip, "clip")
        .on_hover_text("Clip to percentiles")
        .changed()
    {
        s.clip_percentile = clip.then_some(1.0);
    }
    if let Some(p) = &mut s.clip_percentile {
        let value = egui::DragValue::new(p)
            .range(0.0..=49.0)
            .speed(0.1)
            .suffix(" %");
        ui.add(value);
    }
}

/// The tile order; selectivity only where the open atlas has the layer, the differences only
/// with a pinned pair, the class's scores only with a class picked in an open summary that has
/// the layer.
fn order_ui(ui: &mut egui::Ui, s: &mut Settings, state: &AppState) {
    let atlas_has_layer = state
        .atlas
        .as_ref()
        .is_some_and(|a| a.loaded.atlas.layer(state.selected.id()).is_some());
    let class_has_layer = state
        .classes
        .as_ref()
        .is_some_and(|c| c.sorts(state.selected.id()));
    egui::ComboBox::from_label("sort by")
        .selected_text(s.sort.name())
        .show_ui(ui, |ui| {
            for k in SortKey::ALL {
                let available = match k {
                    SortKey::Selectivity => atlas_has_layer,
                    k if k.needs_pair() => state.pair.is_some(),
                    k if k.needs_class() => class_has_layer,
                    _ => true,
                };
                if !available {
                    continue;
                }
                let mut r = ui.selectable_label(s.sort == k, k.name());
                let hover = match k {
                    SortKey::Selectivity => {
                        "Most selective across the atlas first: how far the best image's \
                         maximum stands above the filter's usual maximum (z-score)"
                    }
                    SortKey::DiffL2 => "Most different first: the L2 norm of A − B",
                    SortKey::DiffMax => "Most changed maximum first: |max A − max B|",
                    SortKey::ClassAttribution => {
                        "Most used by the class picked in the Classes panel first: the mean \
                         attribution to the class over its images"
                    }
                    SortKey::ClassCount => {
                        "Most often among the top channels of the class's images first (the \
                         class picked in the Classes panel)"
                    }
                    _ => "",
                };
                if !hover.is_empty() {
                    r = r.on_hover_text(hover);
                }
                if r.clicked() {
                    s.sort = k;
                }
            }
        });
}
