//! A channel's picture in the layer views: its best atlas crop when an atlas is open and its
//! crops were read, else its feature-visualisation icon when made, else its tile (its map on
//! this photo, as the tiles colour it). Textures are made once per picture and dropped when
//! the image, the layer or the weights change.

use std::collections::HashMap;

use egui::{TextureHandle, TextureOptions};

use crate::state::{AppState, Crops};
use crate::view::LayerView;
use crate::widgets::{color_image, tile_image};

/// Where a picture came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// The channel's best atlas crop.
    Crop,
    /// Its feature-visualisation icon.
    Icon,
    /// Its map on this photo.
    Tile,
}

/// Textures of channels' pictures for one view.
pub struct Pictures {
    name: &'static str,
    /// The view (layer, image, settings) the textures belong to.
    view_version: u64,
    /// The weights serial the icons belong to.
    weights: u64,
    textures: HashMap<(usize, Source), TextureHandle>,
}

impl Pictures {
    /// An empty cache; `name` names the textures for egui's debugging.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            view_version: u64::MAX,
            weights: u64::MAX,
            textures: HashMap::new(),
        }
    }

    /// Drop everything made for another view or other weights.
    pub fn follow(&mut self, state: &AppState, view: &LayerView) {
        if (self.view_version, self.weights) != (view.version, state.weights_serial) {
            self.textures.clear();
            (self.view_version, self.weights) = (view.version, state.weights_serial);
        }
    }

    /// What a channel's picture is now.
    pub fn source(state: &AppState, view: &LayerView, channel: usize) -> Source {
        if best_crop(state, view, channel).is_some() {
            Source::Crop
        } else if state.layer_views.icons.get(&view.id, channel).is_some() {
            Source::Icon
        } else {
            Source::Tile
        }
    }

    /// The texture of `channel`'s picture (made on first use).
    pub fn get(
        &mut self,
        ctx: &egui::Context,
        state: &AppState,
        view: &LayerView,
        channel: usize,
    ) -> Option<TextureHandle> {
        let source = Self::source(state, view, channel);
        if let Some(t) = self.textures.get(&(channel, source)) {
            return Some(t.clone());
        }
        let image = match source {
            Source::Crop => color_image(best_crop(state, view, channel)?),
            Source::Icon => color_image(state.layer_views.icons.get(&view.id, channel)?),
            Source::Tile if channel < view.maps.channels => tile_image(view, channel, 1),
            Source::Tile => return None,
        };
        let options = match source {
            Source::Tile => TextureOptions::NEAREST,
            _ => TextureOptions::LINEAR,
        };
        let tex = ctx.load_texture(self.name, image, options);
        self.textures.insert((channel, source), tex.clone());
        Some(tex)
    }
}

/// The first (best) crop of the channel's atlas list, when read.
fn best_crop<'s>(
    state: &'s AppState,
    view: &LayerView,
    channel: usize,
) -> Option<&'s image::RgbImage> {
    let atlas = state.atlas.as_ref()?;
    match atlas.crops.get(&atlas.key(&view.id, channel))? {
        Crops::Ready(list) => list.first().map(|(_, img)| img),
        _ => None,
    }
}
