//! The selected layer, prepared for display: statistics, normalisation, colour ranges, tile
//! order. Plain data, made when the layer, its values or the settings change; the panels colour
//! tiles from it (any pixel type: egui's on screen, RGBA bytes for an export).

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
    /// Prepare a layer's data for display; `scores`: per-channel scores for an order that
    /// needs them (an atlas' selectivity).
    pub fn new(
        data: &LayerData,
        pre_relu: bool,
        settings: &Settings,
        version: u64,
        scores: Option<&[f32]>,
    ) -> Option<Self> {
        let [_, c, h, w] = data.shape;
        let maps = LayerMaps::new(c, h, w, data.data.clone()).ok()?;
        Some(Self::from_maps(
            &data.id, maps, pre_relu, settings, version, scores,
        ))
    }

    /// [`LayerView::new`] for maps already on hand (one side of a pinned pair).
    pub fn from_maps(
        id: &str,
        maps: LayerMaps,
        pre_relu: bool,
        settings: &Settings,
        version: u64,
        scores: Option<&[f32]>,
    ) -> Self {
        let c = maps.channels;
        let stats = maps.stats();
        let norm_settings = settings.norm_settings(pre_relu);
        let norm = norm_settings.prepare(&maps);
        let order =
            featurescope_maps::tile_order(&stats, settings.sort, settings.hide_dead, scores);
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
        Self {
            id: id.to_string(),
            pre_relu,
            maps,
            stats,
            norm,
            colormap: settings.colormap(pre_relu),
            order,
            dead,
            version,
            ranges,
        }
    }

    /// The same view coloured with `ranges` (one per channel) and `colormap`: one side of a
    /// pinned pair on the scale shared with the other, or their difference.
    pub fn with_colors(mut self, ranges: Vec<ValueRange>, colormap: Colormap) -> Self {
        if ranges.len() == self.maps.channels {
            self.ranges = ranges;
        }
        self.colormap = colormap;
        self
    }

    /// The same view in another channel order.
    pub fn with_order(mut self, order: Vec<usize>) -> Self {
        self.order = order;
        self
    }

    /// The value range channel `c` is coloured with.
    pub fn range(&self, c: usize) -> ValueRange {
        self.ranges
            .get(c)
            .copied()
            .unwrap_or_else(|| self.norm.range(&self.maps, c))
    }

    /// One channel coloured at full resolution, as RGBA bytes: `([w, h], bytes)`.
    pub fn rgba(&self, c: usize) -> ([usize; 2], Vec<u8>) {
        let (size, pixels) = self.pixels(c, 1, |r, g, b| [r, g, b, 255]);
        (size, pixels.into_iter().flatten().collect())
    }

    /// One channel coloured, box-averaged by `k` in each direction first (k = 1: full size),
    /// each pixel made by `pixel(r, g, b)`: `([w, h], pixels)`, rows top to bottom. Tiles of
    /// large maps use this so a 147x147 map shown at 72 px is not uploaded whole.
    pub fn pixels<P>(
        &self,
        c: usize,
        k: usize,
        pixel: impl Fn(u8, u8, u8) -> P,
    ) -> ([usize; 2], Vec<P>) {
        let (w, h) = (self.maps.width, self.maps.height);
        let values = self.maps.channel(c);
        let range = self.range(c);
        let lut = self.colormap.lut();
        let color = |v: f32| {
            let t = range.normalize(v);
            if t.is_nan() {
                let [r, g, b] = featurescope_maps::INVALID_COLOR;
                return pixel(r, g, b);
            }
            let [r, g, b] = lut[((t * 255.0).round() as usize).min(255)];
            pixel(r, g, b)
        };
        let k = k.max(1);
        if k == 1 || values.len() < w * h {
            return ([w, h], values.iter().map(|&v| color(v)).collect());
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
        ([ow, oh], pixels)
    }

    /// Downsampling factor for tiles drawn `tile_pixels` physical pixels wide: the largest
    /// integer k that keeps the texture at least as large as the tile.
    pub fn tile_factor(&self, tile_pixels: f32) -> usize {
        let side = self.maps.width.max(self.maps.height) as f32;
        ((side / tile_pixels.max(1.0)).floor() as usize).max(1)
    }
}
