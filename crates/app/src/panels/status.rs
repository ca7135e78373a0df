//! The status bar: what is running (loading the network, an analysis, an atlas build with its
//! Cancel) or what is on screen, and on the right the newest information line. When both do
//! not fit, the right text gives way down to half the bar and both are cut short with "…"
//! rather than drawn over each other.

use egui::{RichText, TextWrapMode, WidgetText};

use crate::action::Action;
use crate::panel::{Panel, Place};
use crate::services::worker::Stage;
use crate::state::{AppState, NoticeLevel};

/// The status bar.
pub struct Status;

/// The left side of the bar, before it is drawn.
struct Activity {
    spinner: bool,
    /// A progress bar: done / total, width.
    bar: Option<(f32, f32)>,
    text: String,
    /// An atlas build that a click stops.
    stoppable: bool,
}

impl Panel for Status {
    fn id(&self) -> &'static str {
        "status"
    }

    fn place(&self) -> Place {
        Place::Bottom
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
        let activity = Activity::of(state);
        let info = state
            .notices
            .iter()
            .rev()
            .find(|n| n.level == NoticeLevel::Info)
            .filter(|_| !state.hide_machine_details);
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if let Some(n) = info {
                let width = ui.available_width();
                let room = (width - activity.width(ui) - 24.0).max(width / 2.0);
                ui.scope(|ui| {
                    ui.set_max_width(room);
                    let label = egui::Label::new(RichText::new(&n.text).weak()).truncate();
                    ui.add(label).on_hover_text(&n.text);
                });
            }
            ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| {
                if activity.ui(ui) {
                    actions.push(Action::StopAtlasBuild);
                }
            });
        });
    }
}

impl Activity {
    /// What runs, or what is on screen.
    fn of(state: &AppState) -> Self {
        let idle = |text| Self {
            spinner: false,
            bar: None,
            text,
            stoppable: false,
        };
        if let (None, Some(p)) = (&state.weights, &state.progress) {
            // The window is up before the network: say what it is waiting for.
            let secs = p.started.elapsed().as_secs_f32();
            return Self {
                spinner: true,
                ..idle(format!("loading Inception-V3 weights… {secs:.1} s"))
            };
        }
        if let Some(b) = &state.atlas_build {
            let secs = b.started.elapsed().as_secs_f32();
            let text = format!(
                "building atlas: {}/{} images · {secs:.0} s",
                b.done, b.total
            );
            return Self {
                spinner: true,
                bar: Some((b.done as f32 / b.total.max(1) as f32, 120.0)),
                stoppable: true,
                ..idle(text)
            };
        }
        if let Some(p) = &state.progress {
            let secs = p.started.elapsed().as_secs_f32();
            let text = match p.stage {
                Stage::Decoding => format!("decoding {}… {secs:.1} s", p.image),
                Stage::Running => format!(
                    "running Inception-V3 on {} · {}/{} layers read back · {secs:.1} s",
                    p.image, p.done, p.total
                ),
            };
            return Self {
                spinner: true,
                bar: Some((p.done as f32 / p.total.max(1) as f32, 160.0)),
                ..idle(text)
            };
        }
        let Some(a) = &state.analysis else {
            return idle(String::new());
        };
        let mut text = a.source.name();
        if !state.hide_machine_details {
            text += &format!(" · forward + readback {:.0} ms", a.forward_ms);
            if let Some(ms) = state.last_drop_to_tiles_ms {
                text += &format!(" · image to tiles {ms:.0} ms");
            }
        }
        idle(text)
    }

    /// The width it takes drawn whole.
    fn width(&self, ui: &egui::Ui) -> f32 {
        let text = WidgetText::from(self.text.as_str());
        let galley = text.into_galley(
            ui,
            Some(TextWrapMode::Extend),
            f32::INFINITY,
            egui::TextStyle::Body,
        );
        let gap = ui.spacing().item_spacing.x;
        let spinner = if self.spinner { 20.0 } else { 0.0 };
        let bar = self.bar.map_or(0.0, |(_, w)| w + gap);
        let stop = if self.stoppable { 60.0 } else { 0.0 };
        galley.size().x + spinner + bar + stop
    }

    /// Draw it; whether the atlas build's Cancel was clicked.
    fn ui(&self, ui: &mut egui::Ui) -> bool {
        if self.spinner {
            ui.spinner();
        }
        if let Some((fraction, width)) = self.bar {
            let bar = egui::ProgressBar::new(fraction)
                .desired_width(width)
                .show_percentage();
            ui.add(bar);
        }
        if self.stoppable && ui.small_button("Cancel").clicked() {
            return true;
        }
        ui.add(egui::Label::new(self.text.as_str()).truncate());
        false
    }
}
