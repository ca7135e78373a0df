//! Banners above the tiles: the newest two warnings or errors, each with Dismiss.

use egui::{Color32, RichText};

use crate::action::Action;
use crate::panel::{Panel, Place};
use crate::state::{AppState, NoticeLevel};

/// The banners.
pub struct Notices;

impl Panel for Notices {
    fn id(&self) -> &'static str {
        "notices"
    }

    fn place(&self) -> Place {
        Place::Central
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
        let banners = state.notices.iter().enumerate().rev();
        for (i, n) in banners
            .filter(|(_, n)| n.level != NoticeLevel::Info)
            .take(2)
        {
            let (fill, title) = match n.level {
                NoticeLevel::Error => (Color32::from_rgb(110, 24, 24), "Error"),
                _ => (Color32::from_rgb(110, 80, 16), "Note"),
            };
            egui::Frame::new()
                .fill(fill)
                .inner_margin(6.0)
                .corner_radius(4.0)
                .show(ui, |ui| {
                    ui.set_width(ui.available_width());
                    ui.horizontal(|ui| {
                        ui.label(RichText::new(title).strong().color(Color32::WHITE));
                        banner_text(ui, &n.text, || actions.push(Action::Dismiss(i)));
                    });
                });
        }
    }
}

/// The banner's text, cut short to leave room for Dismiss on the right.
fn banner_text(ui: &mut egui::Ui, text: &str, dismiss: impl FnOnce()) {
    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
        if ui.small_button("Dismiss").clicked() {
            dismiss();
        }
        ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| {
            let label = egui::Label::new(RichText::new(text).color(Color32::WHITE)).truncate();
            ui.add(label).on_hover_text(text);
        });
    });
}
