//! The keyboard and files dropped on the window, as actions: Ctrl+O, Ctrl+V (or a paste),
//! ↑/↓ through the layers (unless a text field has the keyboard).

use crate::action::{Action, Choose};

/// What this frame's input asks for.
pub fn actions(ctx: &egui::Context) -> Vec<Action> {
    let mut actions: Vec<Action> = ctx.input(|i| {
        i.raw
            .dropped_files
            .iter()
            .take(1)
            .map(|f| Action::Dropped(f.path().to_path_buf()))
            .collect()
    });
    let text_focus = ctx.egui_wants_keyboard_input();
    let (open, paste, up, down) = ctx.input_mut(|i| {
        let paste_event = i.events.iter().any(|e| matches!(e, egui::Event::Paste(_)));
        (
            i.consume_key(egui::Modifiers::COMMAND, egui::Key::O),
            i.consume_key(egui::Modifiers::COMMAND, egui::Key::V) || paste_event,
            !text_focus && i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowUp),
            !text_focus && i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowDown),
        )
    });
    let wanted = [
        (open, Action::Choose(Choose::Image)),
        (paste && !text_focus, Action::Paste),
        (up, Action::StepLayer(-1)),
        (down, Action::StepLayer(1)),
    ];
    actions.extend(wanted.into_iter().filter(|(on, _)| *on).map(|(_, a)| a));
    actions
}
