//! The selected layer, prepared for display (stats, normalisation, order), and the bounded cache
//! of tile textures: textures exist only for tiles that were visible recently, within a byte
//! budget, and are dropped (freeing GPU memory) when the view changes.

use std::collections::HashMap;

use egui::{Color32, ColorImage, TextureHandle, TextureOptions};
use featurescope_maps::{ChannelStats, Colormap, LayerMaps, PreparedNorm, ValueRange};
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
    /// Each channel's colour range, computed once.
    ranges: Vec<ValueRange>,
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
        // Per-tile min..max comes straight from the stats; other modes ask the normaliser.
        let ranges = (0..c)
            .map(
                |ch| match (norm_settings.mode, norm_settings.clip_percentile) {
                    (featurescope_maps::Normalization::PerTile, None) => {
                        let s = stats[ch];
                        let (lo, hi) = if norm_settings.symmetric {
                            let m = s.min.abs().max(s.max.abs());
                            (-m, m)
                        } else {
                            (s.min, s.max)
                        };
                        ValueRange::sanitized(lo, hi)
                    }
                    _ => norm.range(&maps, ch),
                },
            )
            .collect();
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
            ranges,
        })
    }

    /// The value range channel `c` is coloured with.
    pub fn range(&self, c: usize) -> ValueRange {
        self.ranges
            .get(c)
            .copied()
            .unwrap_or_else(|| self.norm.range(&self.maps, c))
    }

    /// One channel coloured at full resolution.
    pub fn image(&self, c: usize) -> ColorImage {
        self.image_scaled(c, 1)
    }

    /// One channel coloured, box-averaged by `k` in each direction first (k = 1: full size).
    /// Tiles of large maps use this so a 147x147 map shown at 72 px is not uploaded whole.
    pub fn image_scaled(&self, c: usize, k: usize) -> ColorImage {
        let (w, h) = (self.maps.width, self.maps.height);
        let values = self.maps.channel(c);
        let range = self.range(c);
        let lut = self.colormap.lut();
        let color = |v: f32| {
            let t = range.normalize(v);
            if t.is_nan() {
                let [r, g, b] = featurescope_maps::INVALID_COLOR;
                return Color32::from_rgb(r, g, b);
            }
            let [r, g, b] = lut[((t * 255.0).round() as usize).min(255)];
            Color32::from_rgb(r, g, b)
        };
        let k = k.max(1);
        if k == 1 || values.len() < w * h {
            let pixels = values.iter().map(|&v| color(v)).collect();
            return ColorImage::new([w, h], pixels);
        }
        let (ow, oh) = (w.div_ceil(k), h.div_ceil(k));
        let mut pixels = Vec::with_capacity(ow * oh);
        for oy in 0..oh {
            let rows = oy * k..((oy + 1) * k).min(h);
            for ox in 0..ow {
                let cols = ox * k..((ox + 1) * k).min(w);
                let mut sum = 0.0f32;
                let mut n = 0.0f32;
                for y in rows.clone() {
                    for v in &values[y * w + cols.start..y * w + cols.end] {
                        sum += v;
                        n += 1.0;
                    }
                }
                pixels.push(color(sum / n.max(1.0)));
            }
        }
        ColorImage::new([ow, oh], pixels)
    }

    /// Downsampling factor for tiles drawn `tile_pixels` physical pixels wide: the largest
    /// integer k that keeps the texture at least as large as the tile.
    pub fn tile_factor(&self, tile_pixels: f32) -> usize {
        let side = self.maps.width.max(self.maps.height) as f32;
        ((side / tile_pixels.max(1.0)).floor() as usize).max(1)
    }
}

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
    /// Textures created this frame (for the performance display).
    pub created_this_frame: usize,
}

impl TileCache {
    /// The texture of channel `c` (created on first use), downsampled by `factor`.
    pub fn get(
        &mut self,
        ctx: &egui::Context,
        view: &LayerView,
        c: usize,
        factor: usize,
    ) -> &TextureHandle {
        self.sync(view, factor);
        if !self.entries.contains_key(&c) {
            let image = view.image_scaled(c, factor);
            self.insert(ctx, view, c, image);
        }
        let frame = self.frame;
        match self.entries.get_mut(&c) {
            Some(entry) => {
                entry.1 = frame;
                &entry.0
            }
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
        self.created_this_frame += 1;
        let tex = ctx.load_texture(
            format!("tile-{}-{c}", view.id),
            image,
            TextureOptions::NEAREST,
        );
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
        let chunk = missing.len().div_ceil(threads.max(1));
        let images: Vec<(usize, ColorImage)> = std::thread::scope(|scope| {
            let handles: Vec<_> = missing
                .chunks(chunk.max(1))
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|&c| (c, view.image_scaled(c, factor)))
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

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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
        self.created_this_frame = 0;
    }
}
