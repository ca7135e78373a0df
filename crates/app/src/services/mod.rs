//! Services: the work that happens off the UI thread — the network worker, short tasks (file
//! dialogs, clipboard, exports, reading atlases), explanations and feature visualisations, the
//! layer views' computations and the icon cache — and
//! the data they exchange (f32 maps, RGB images, results). Nothing here knows the window: no
//! egui, no panel, no view; the window makes textures of what comes back, and the command line
//! uses the same services.

pub mod attribution;
pub mod dialogs;
pub mod gpu_tiles;
pub mod icons;
pub mod layer_views;
pub mod paths;
pub mod tasks;
pub mod worker;
