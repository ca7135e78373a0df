//! Normalisation: which value range maps onto a colormap's `[0, 1]`.

use crate::layer::LayerMaps;
use crate::stats::{finite_range, percentile_range};

/// How values become colours.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Normalization {
    /// Each channel is stretched over its own range: shows structure, hides magnitude.
    PerTile,
    /// One range for the whole layer: channels are comparable.
    PerLayer,
    /// A caller-chosen range (`lo > hi` is swapped).
    Fixed {
        /// Value drawn at the low end of the colormap.
        lo: f32,
        /// Value drawn at the high end of the colormap.
        hi: f32,
    },
}

/// Normalisation mode plus optional percentile clipping and symmetry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NormSettings {
    /// Where the range comes from.
    pub mode: Normalization,
    /// `Some(p)` uses the `p`-th and `(100 - p)`-th percentiles instead of min/max, e.g.
    /// `Some(1.0)` clips to `[p1, p99]`. `p` is clamped to `[0, 50]`; ignored for `Fixed`.
    pub clip_percentile: Option<f32>,
    /// For diverging maps: the range becomes `[-m, m]`, `m = max(|lo|, |hi|)`, so 0 sits at the centre.
    pub symmetric: bool,
}

impl Default for NormSettings {
    /// Per-layer, no clipping, not symmetric.
    fn default() -> Self {
        Self {
            mode: Normalization::PerLayer,
            clip_percentile: None,
            symmetric: false,
        }
    }
}

/// A value range `lo < hi` that maps onto the colormap.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValueRange {
    /// Value drawn at `t = 0`.
    pub lo: f32,
    /// Value drawn at `t = 1`.
    pub hi: f32,
}

impl ValueRange {
    /// `(v - lo) / (hi - lo)` clamped to `[0, 1]`. NaN stays NaN (drawn as the invalid colour);
    /// a degenerate range (`hi <= lo` or non-finite) maps every finite value to 0.5.
    pub fn normalize(&self, v: f32) -> f32 {
        if v.is_nan() {
            return f32::NAN;
        }
        let (lo, hi) = (f64::from(self.lo), f64::from(self.hi));
        let span = hi - lo;
        if !(span > 0.0 && span.is_finite()) {
            return 0.5;
        }
        ((f64::from(v) - lo) / span).clamp(0.0, 1.0) as f32
    }

    /// Turns raw `(lo, hi)` into a usable range: swaps reversed bounds, replaces non-finite
    /// bounds by `[0, 1]`, and widens a zero-width range symmetrically around its value.
    pub fn sanitized(lo: f32, hi: f32) -> Self {
        if !lo.is_finite() || !hi.is_finite() {
            return Self { lo: 0.0, hi: 1.0 };
        }
        let (lo, hi) = if lo > hi { (hi, lo) } else { (lo, hi) };
        if lo < hi {
            return Self { lo, hi };
        }
        // Constant: a small range centred on the value, so it draws as one flat mid colour.
        let half = (lo.abs() * 1e-3).max(1e-6);
        let (a, b) = (lo - half, lo + half);
        if a < b {
            Self { lo: a, hi: b }
        } else {
            Self { lo: -1.0, hi: 1.0 }
        }
    }
}

/// [`NormSettings`] with the per-layer part (layer min/max or percentiles) computed once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PreparedNorm {
    settings: NormSettings,
    /// Raw `(lo, hi)` for per-layer and fixed modes; `None` for per-tile.
    layer: Option<(f32, f32)>,
}

impl NormSettings {
    /// The value range used to colour channel `c`. Never returns `lo == hi`: a constant map gets
    /// a range around its value so it draws as one flat colour (dead filters are flagged separately).
    /// This scans the whole layer for per-layer modes; use [`NormSettings::prepare`] for many tiles.
    pub fn range(&self, maps: &LayerMaps, c: usize) -> ValueRange {
        self.prepare(maps).range(maps, c)
    }

    /// Precomputes the per-layer parts once so per-tile calls are O(tile).
    pub fn prepare(&self, maps: &LayerMaps) -> PreparedNorm {
        let layer = match self.mode {
            Normalization::PerTile => None,
            Normalization::PerLayer => Some(self.raw_range(&maps.data)),
            Normalization::Fixed { lo, hi } => Some((lo, hi)),
        };
        PreparedNorm {
            settings: *self,
            layer,
        }
    }

    /// Min/max or percentile range of `values`, `(0, 0)` when there is no finite value.
    fn raw_range(&self, values: &[f32]) -> (f32, f32) {
        let r = match self.clip_percentile {
            Some(p) => percentile_range(values, p),
            None => finite_range(values),
        };
        r.unwrap_or((0.0, 0.0))
    }
}

impl PreparedNorm {
    /// The settings this was prepared from.
    pub fn settings(&self) -> NormSettings {
        self.settings
    }

    /// Whether the range is the same for every channel (per-layer or fixed mode).
    pub fn is_shared(&self) -> bool {
        self.layer.is_some()
    }

    /// The value range used to colour channel `c` of `maps` (the layer it was prepared from).
    pub fn range(&self, maps: &LayerMaps, c: usize) -> ValueRange {
        let (lo, hi) = match self.layer {
            Some(r) => r,
            None => self.settings.raw_range(maps.channel(c)),
        };
        let (lo, hi) = if self.settings.symmetric && lo.is_finite() && hi.is_finite() {
            let m = lo.abs().max(hi.abs());
            (-m, m)
        } else {
            (lo, hi)
        };
        ValueRange::sanitized(lo, hi)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Colormap;

    fn two_channels() -> LayerMaps {
        LayerMaps::new(2, 1, 3, vec![0.0, 1.0, 2.0, -4.0, 0.0, 8.0]).unwrap()
    }

    #[test]
    fn per_tile_vs_per_layer() {
        let m = two_channels();
        let tile = NormSettings {
            mode: Normalization::PerTile,
            ..Default::default()
        };
        assert_eq!(tile.range(&m, 0), ValueRange { lo: 0.0, hi: 2.0 });
        assert_eq!(tile.range(&m, 1), ValueRange { lo: -4.0, hi: 8.0 });
        let layer = NormSettings::default();
        assert_eq!(layer.range(&m, 0), ValueRange { lo: -4.0, hi: 8.0 });
        assert_eq!(layer.range(&m, 1), layer.range(&m, 0));
        let prepared = layer.prepare(&m);
        assert!(prepared.is_shared());
        assert_eq!(prepared.range(&m, 0), layer.range(&m, 0));
        let fixed = NormSettings {
            mode: Normalization::Fixed { lo: 3.0, hi: -1.0 },
            ..Default::default()
        };
        assert_eq!(fixed.range(&m, 1), ValueRange { lo: -1.0, hi: 3.0 });
    }

    #[test]
    fn percentile_clipping() {
        let mut data: Vec<f32> = (0..=100).map(|i| i as f32).collect();
        data[100] = 1e6; // one outlier
        let m = LayerMaps::new(1, 1, 101, data).unwrap();
        let plain = NormSettings::default().range(&m, 0);
        assert_eq!(plain.hi, 1e6);
        let clipped = NormSettings {
            clip_percentile: Some(1.0),
            ..Default::default()
        };
        let r = clipped.range(&m, 0);
        assert_eq!(r.lo, 1.0);
        assert!(r.hi < 200.0, "{r:?}");
        let per_tile = NormSettings {
            mode: Normalization::PerTile,
            clip_percentile: Some(1.0),
            symmetric: false,
        };
        assert_eq!(per_tile.range(&m, 0), r);
    }

    #[test]
    fn symmetric_puts_zero_on_white_centre() {
        let m = two_channels();
        let s = NormSettings {
            symmetric: true,
            ..Default::default()
        };
        let r = s.range(&m, 0);
        assert_eq!(r, ValueRange { lo: -8.0, hi: 8.0 });
        assert_eq!(r.normalize(0.0), 0.5);
        let centre = Colormap::Diverging.map(r.normalize(0.0));
        assert!(centre.iter().all(|&c| c > 230), "{centre:?}");
        let neg = Colormap::Diverging.map(r.normalize(-4.0));
        assert!(neg[2] > neg[0]);
    }

    #[test]
    fn constant_map_never_divides_by_zero() {
        let m = LayerMaps::new(2, 2, 2, vec![0.0, 0.0, 0.0, 0.0, 3.0, 3.0, 3.0, 3.0]).unwrap();
        for mode in [Normalization::PerTile, Normalization::PerLayer] {
            for symmetric in [false, true] {
                for clip in [None, Some(2.0)] {
                    let s = NormSettings {
                        mode,
                        clip_percentile: clip,
                        symmetric,
                    };
                    for c in 0..2 {
                        let r = s.range(&m, c);
                        assert!(r.lo < r.hi, "{s:?} {r:?}");
                        let t = r.normalize(m.channel(c)[0]);
                        assert!(t.is_finite() && (0.0..=1.0).contains(&t));
                    }
                }
            }
        }
        let tile = NormSettings {
            mode: Normalization::PerTile,
            ..Default::default()
        };
        assert_eq!(tile.range(&m, 1).normalize(3.0), 0.5);
        let fixed = NormSettings {
            mode: Normalization::Fixed { lo: 2.0, hi: 2.0 },
            ..Default::default()
        };
        assert!(fixed.range(&m, 0).lo < fixed.range(&m, 0).hi);
        let nan = ValueRange::sanitized(f32::NAN, 1.0);
        assert_eq!(nan, ValueRange { lo: 0.0, hi: 1.0 });
        assert_eq!(ValueRange { lo: 1.0, hi: 1.0 }.normalize(5.0), 0.5);
        assert!(ValueRange { lo: 0.0, hi: 1.0 }.normalize(f32::NAN).is_nan());
    }
}
