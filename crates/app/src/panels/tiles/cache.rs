//! The bounded cache of tile textures: textures exist only for tiles that were visible
//! recently, within a byte budget, and are dropped (freeing GPU memory) when the view changes.

use std::collections::HashMap;

use egui::{ColorImage, TextureHandle, TextureOptions};

use crate::view::LayerView;
use crate::widgets::tile_image;

/// Texture budget for tiles, in bytes of RGBA8.
pub const TILE_TEXTURE_BUDGET: usize = 96 << 20;

/// Bounded LRU cache of tile textures for the current view.
#[derive(Default)]
pub struct TileCache {
    version: u64,
    factor: usize,
    frame: u64,
    bytes: usize,
    entries: HashMap<usize, (TextureHandle, u64)>,
}

impl TileCache {
    /// The texture of channel `c` (created on first use), downsampled by `factor`.
    pub fn get(
        &mut self,
        ctx: &egui::Context,
        view: &LayerView,
        c: usize,
        factor: usize,
    ) -> TextureHandle {
        self.sync(view, factor);
        let frame = self.frame;
        if let Some(entry) = self.entries.get_mut(&c) {
            entry.1 = frame;
            return entry.0.clone();
        }
        let image = tile_image(view, c, factor);
        self.insert(ctx, view, c, image);
        match self.entries.get(&c) {
            Some((tex, _)) => tex.clone(),
            None => unreachable!("inserted above"),
        }
    }

    /// Drop everything when the view or the downsampling factor changed.
    fn sync(&mut self, view: &LayerView, factor: usize) {
        if self.version != view.version || self.factor != factor {
            self.entries.clear();
            self.bytes = 0;
            self.version = view.version;
            self.factor = factor;
        }
    }

    fn insert(&mut self, ctx: &egui::Context, view: &LayerView, c: usize, image: ColorImage) {
        self.bytes += image.size[0] * image.size[1] * 4;
        let name = format!("tile-{}-{c}", view.id);
        let tex = ctx.load_texture(name, image, TextureOptions::NEAREST);
        self.entries.insert(c, (tex, self.frame));
    }

    /// Create the textures of `channels` that are not cached yet, colouring them on all cores
    /// (the first frame of a layer with large maps would otherwise colour them one by one).
    pub fn prefetch(
        &mut self,
        ctx: &egui::Context,
        view: &LayerView,
        channels: &[usize],
        factor: usize,
    ) {
        self.sync(view, factor);
        let missing: Vec<usize> = channels
            .iter()
            .copied()
            .filter(|c| !self.entries.contains_key(c))
            .collect();
        if missing.len() < 2 {
            return;
        }
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let chunk = missing.len().div_ceil(threads.max(1)).max(1);
        let images: Vec<(usize, ColorImage)> = std::thread::scope(|scope| {
            let handles: Vec<_> = missing
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|&c| (c, tile_image(view, c, factor)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        for (c, image) in images {
            self.insert(ctx, view, c, image);
        }
    }

    /// Number of live textures.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Call once per frame after drawing: evicts least recently used textures over budget.
    pub fn end_frame(&mut self, full_tile_bytes: usize) {
        let tile_bytes = full_tile_bytes / (self.factor.max(1) * self.factor.max(1));
        if self.bytes > TILE_TEXTURE_BUDGET {
            let mut by_age: Vec<(usize, u64)> =
                self.entries.iter().map(|(&c, &(_, f))| (c, f)).collect();
            by_age.sort_by_key(|&(_, f)| f);
            for (c, f) in by_age {
                if self.bytes <= TILE_TEXTURE_BUDGET * 3 / 4 || f == self.frame {
                    break;
                }
                self.entries.remove(&c);
                self.bytes = self.bytes.saturating_sub(tile_bytes);
            }
        }
        self.frame += 1;
    }
}
