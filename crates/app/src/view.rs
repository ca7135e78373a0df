//! The selected layer, prepared for display (stats, normalisation, order), and the bounded cache
//! of tile textures: textures exist only for tiles that were visible recently, within a byte
//! budget, and are dropped (freeing GPU memory) when the view changes.

use std::collections::HashMap;

use egui::{ColorImage, TextureHandle, TextureOptions};
use featurescope_maps::{ChannelStats, Colormap, LayerMaps, PreparedNorm, ValueRange, colorize};
use featurescope_net::LayerData;

use crate::settings::Settings;

/// What the tile grid shows.
pub struct LayerView {
    /// torchvision id.
    pub id: String,
    /// Pre-ReLU values (convs only).
    pub pre_relu: bool,
    /// The maps.
    pub maps: LayerMaps,
    /// Per-channel statistics.
    pub stats: Vec<ChannelStats>,
    /// Prepared normalisation.
    pub norm: PreparedNorm,
    /// Colormap.
    pub colormap: Colormap,
    /// Display order of channels (sorted, dead ones hidden on request).
    pub order: Vec<usize>,
    /// Number of dead (constant) channels.
    pub dead: usize,
    /// Changes whenever anything that affects pixels changes.
    pub version: u64,
}

impl LayerView {
    /// Prepare a layer's data for display.
    pub fn new(
        data: &LayerData,
        pre_relu: bool,
        settings: &Settings,
        version: u64,
    ) -> Option<Self> {
        let [_, c, h, w] = data.shape;
        let maps = LayerMaps::new(c, h, w, data.data.clone()).ok()?;
        let stats = maps.stats();
        let norm_settings = settings.norm_settings(pre_relu);
        let norm = norm_settings.prepare(&maps);
        let order = featurescope_maps::tile_order(&stats, settings.sort_key(), settings.hide_dead);
        let dead = stats.iter().filter(|s| s.dead).count();
        Some(Self {
            id: data.id.clone(),
            pre_relu,
            maps,
            stats,
            norm,
            colormap: settings.colormap(pre_relu),
            order,
            dead,
            version,
        })
    }

    /// The value range channel `c` is coloured with.
    pub fn range(&self, c: usize) -> ValueRange {
        self.norm.range(&self.maps, c)
    }

    /// RGBA pixels of one channel.
    pub fn image(&self, c: usize) -> ColorImage {
        let mut rgba = Vec::new();
        colorize(
            self.maps.channel(c),
            self.range(c),
            self.colormap,
            &mut rgba,
        );
        ColorImage::from_rgba_unmultiplied([self.maps.width, self.maps.height], &rgba)
    }
}

/// Texture budget for tiles, in bytes of RGBA8.
pub const TILE_TEXTURE_BUDGET: usize = 96 << 20;

/// Bounded LRU cache of tile textures for the current view.
#[derive(Default)]
pub struct TileCache {
    version: u64,
    frame: u64,
    bytes: usize,
    entries: HashMap<usize, (TextureHandle, u64)>,
    /// Textures created this frame (for the performance display).
    pub created_this_frame: usize,
}

impl TileCache {
    /// The texture of channel `c` (created on first use).
    pub fn get(&mut self, ctx: &egui::Context, view: &LayerView, c: usize) -> &TextureHandle {
        if self.version != view.version {
            self.entries.clear();
            self.bytes = 0;
            self.version = view.version;
        }
        let frame = self.frame;
        let bytes = &mut self.bytes;
        let created = &mut self.created_this_frame;
        let entry = self.entries.entry(c).or_insert_with(|| {
            *bytes += view.maps.width * view.maps.height * 4;
            *created += 1;
            let tex = ctx.load_texture(
                format!("tile-{}-{c}", view.id),
                view.image(c),
                TextureOptions::NEAREST,
            );
            (tex, frame)
        });
        entry.1 = frame;
        &entry.0
    }

    /// Number of live textures.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Call once per frame after drawing: evicts least recently used textures over budget.
    pub fn end_frame(&mut self, tile_bytes: usize) {
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
        self.created_this_frame = 0;
    }
}
