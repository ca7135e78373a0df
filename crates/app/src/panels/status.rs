//! The status bar: what is running (loading the network, an analysis, an atlas build with its
//! Cancel) or what is on screen, and on the right the newest information line. The right text
//! takes at most half the bar and both sides are cut short rather than drawn over each other.

use egui::RichText;

use crate::action::Action;
use crate::panel::{Panel, Place};
use crate::services::worker::Stage;
use crate::state::{AppState, NoticeLevel};
use crate::widgets::progress_row;

/// The status bar.
pub struct Status;

impl Panel for Status {
    fn id(&self) -> &'static str {
        "status"
    }

    fn place(&self) -> Place {
        Place::Bottom
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let info = state
                .notices
                .iter()
                .rev()
                .find(|n| n.level == NoticeLevel::Info)
                .filter(|_| !state.hide_machine_details);
            if let Some(n) = info {
                let half = ui.available_width() / 2.0;
                ui.scope(|ui| {
                    ui.set_max_width(half);
                    let label = egui::Label::new(RichText::new(&n.text).weak()).truncate();
                    ui.add(label).on_hover_text(&n.text);
                });
            }
            ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| {
                activity_ui(ui, state, actions);
            });
        });
    }
}

/// The left side: what runs, or what is on screen.
fn activity_ui(ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
    let short = |ui: &mut egui::Ui, text: String| {
        ui.add(egui::Label::new(text).truncate());
    };
    if let (None, Some(p)) = (&state.weights, &state.progress) {
        // The window is up before the network: say what it is waiting for.
        ui.spinner();
        let secs = p.started.elapsed().as_secs_f32();
        short(ui, format!("loading Inception-V3 weights… {secs:.1} s"));
    } else if let Some(b) = &state.atlas_build {
        ui.spinner();
        let secs = b.started.elapsed().as_secs_f32();
        let text = format!(
            "building atlas: {}/{} images · {secs:.0} s",
            b.done, b.total
        );
        progress_row(ui, b.done, b.total, 120.0, text);
        if ui.small_button("Cancel").clicked() {
            actions.push(Action::StopAtlasBuild);
        }
    } else if let Some(p) = &state.progress {
        ui.spinner();
        let secs = p.started.elapsed().as_secs_f32();
        let text = match p.stage {
            Stage::Decoding => format!("decoding {}… {secs:.1} s", p.image),
            Stage::Running => format!(
                "running Inception-V3 on {} · {}/{} layers read back · {secs:.1} s",
                p.image, p.done, p.total
            ),
        };
        let fraction = p.done as f32 / p.total.max(1) as f32;
        ui.add(
            egui::ProgressBar::new(fraction)
                .desired_width(160.0)
                .show_percentage(),
        );
        short(ui, text);
    } else if let Some(a) = &state.analysis {
        let mut text = a.source.name();
        if !state.hide_machine_details {
            text += &format!(" · forward + readback {:.0} ms", a.forward_ms);
            if let Some(ms) = state.last_drop_to_tiles_ms {
                text += &format!(" · image to tiles {ms:.0} ms");
            }
        }
        short(ui, text);
    }
}
