//! While a file is dragged over the window: a veil that says dropping it analyses it.

use egui::Color32;

use crate::action::Action;
use crate::panel::{Panel, Place};
use crate::state::AppState;

/// The drop hint.
pub struct DropHint;

impl Panel for DropHint {
    fn id(&self) -> &'static str {
        "drop-hint"
    }

    fn place(&self) -> Place {
        Place::Floating
    }

    fn ui(&mut self, ui: &mut egui::Ui, _state: &AppState, _actions: &mut Vec<Action>) {
        let ctx = ui.ctx();
        if ctx.input(|i| i.raw.hovered_files.is_empty()) {
            return;
        }
        let painter = ctx.layer_painter(egui::LayerId::new(
            egui::Order::Foreground,
            egui::Id::unique("featurescope-drop"),
        ));
        let rect = ctx.content_rect();
        painter.rect_filled(rect, 0.0, Color32::from_black_alpha(160));
        painter.text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            "Drop the image to analyse it",
            egui::FontId::proportional(28.0),
            Color32::WHITE,
        );
    }
}
