//! The window's parts: each panel is one file behind [`Panel`], listed once in
//! the panels module's `all` (egui_demo_lib's `View`, rerun's views). A panel reads the state and
//! returns actions; it keeps only what drawing needs (textures, a text field's contents).

use crate::action::Action;
use crate::state::AppState;

/// Where a panel sits in the window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Place {
    /// A bar across the top.
    Top,
    /// A bar across the bottom.
    Bottom,
    /// A resizable column on the left, this wide at first.
    Left(f32),
    /// A resizable column on the right, this wide at first.
    Right(f32),
    /// The middle, below the panels before it in the list.
    Central,
    /// Above everything: windows, dialogs, overlays.
    Floating,
}

/// One part of the window.
pub trait Panel {
    /// A stable id (egui's panel id; persisted sizes are keyed on it).
    fn id(&self) -> &'static str;

    /// Where it sits.
    fn place(&self) -> Place;

    /// Whether it shows now.
    fn shown(&self, _state: &AppState) -> bool {
        true
    }

    /// Draw it; what the person did goes into `actions`.
    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>);

    /// Textures it holds and their bytes (the tile grid's; soak tests and benches watch them).
    fn textures(&self) -> (usize, usize) {
        (0, 0)
    }
}
