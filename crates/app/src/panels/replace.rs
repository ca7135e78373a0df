//! "Replace file?": asked when an export chosen in the in-app browser would replace a file
//! (system dialogs ask by themselves).

use crate::action::Action;
use crate::panel::{Panel, Place};
use crate::state::AppState;

/// The question.
pub struct Replace;

impl Panel for Replace {
    fn id(&self) -> &'static str {
        "replace"
    }

    fn place(&self) -> Place {
        Place::Floating
    }

    fn shown(&self, state: &AppState) -> bool {
        state.files.replace.is_some()
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
        let Some(question) = &state.files.replace else {
            return;
        };
        let name = question.path.file_name().map_or_else(
            || question.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        egui::Modal::new(egui::Id::unique("featurescope-replace")).show(ui.ctx(), |ui| {
            ui.heading("Replace file?");
            ui.label(format!(
                "\"{name}\" already exists. Replace it with this export?"
            ));
            ui.horizontal(|ui| {
                if ui.button("Replace").clicked() {
                    actions.push(Action::Replace(true));
                }
                if ui.button("Cancel").clicked() || ui.input(|i| i.key_pressed(egui::Key::Escape)) {
                    actions.push(Action::Replace(false));
                }
            });
        });
    }
}
