//! The window's panels, one file each, listed once in [`all`] in the order egui lays them out:
//! bars, side columns, the middle, then what floats above it.

mod atlas;
mod browser;
mod cka;
mod classes;
mod drop_hint;
mod input;
mod menu;
mod notices;
mod replace;
mod status;
mod tiles;
mod tree;

use crate::panel::Panel;

/// Every panel of the window.
pub fn all() -> Vec<Box<dyn Panel>> {
    vec![
        Box::new(menu::Menu),
        Box::new(status::Status),
        Box::new(tree::Tree::default()),
        Box::new(cka::CkaStrip::default()),
        Box::new(input::Input::default()),
        Box::new(atlas::AtlasPanel::default()),
        Box::new(notices::Notices),
        Box::new(tiles::Tiles::default()),
        Box::new(classes::ClassesPanel::default()),
        Box::new(crate::inspector::InspectorWindow::default()),
        Box::new(browser::Browser::default()),
        Box::new(replace::Replace),
        Box::new(drop_hint::DropHint),
    ]
}
