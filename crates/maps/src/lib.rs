//! Feature-map processing: colormaps, normalisation, statistics, sorting, tile grids and the
//! top-K image atlas ([`atlas`]), two models compared over a collection ([`compare`]), two
//! analyses of one layer on one scale ([`pair`], [`pair_figure`]), and what a layer sees in one
//! image: the semantic dictionary ([`dictionary`]), neuron groups by non-negative matrix
//! factorisation ([`groups`]) and their pictures ([`figures`]); no burn, no egui.
//! Everything here works on plain `f32` slices laid out NCHW with N = 1.

#![warn(missing_docs)]

pub mod atlas;
pub mod attribution;
pub mod classes;
mod colormap;
pub mod compare;
pub mod dictionary;
mod error;
pub mod figures;
mod grid;
pub mod groups;
mod layer;
mod norm;
mod npy;
pub mod pair;
pub mod pair_figure;
mod resample;
pub mod save;
mod sort;
mod stats;
mod text;

pub use colormap::{Colormap, INVALID_COLOR, colorize};
pub use error::MapsError;
pub use grid::{GridOptions, MAX_GRID_SIDE, grid_dimensions, render_grid};
pub use layer::LayerMaps;
pub use norm::{NormSettings, Normalization, PreparedNorm, ValueRange};
pub use npy::{read_npy, write_npy};
pub use pair::{DiffScore, LayerPair};
pub use pair_figure::{FigureOptions, FigureSide, render_figure};
pub use resample::{Resample, resample};
pub use save::{Overwrite, save_image, write_atomic};
pub use sort::{SortKey, tile_order};
pub use stats::ChannelStats;
