//! One layer under two analyses (two images, or one image under two weights) on one scale: the
//! colour range of each channel comes from both maps together (per layer, per tile across the
//! pair, or fixed), so equal values get equal colours on both sides; and their difference
//! `A − B` on a symmetric range for a diverging colormap.

use crate::error::MapsError;
use crate::layer::LayerMaps;
use crate::norm::{NormSettings, Normalization, ValueRange};
use crate::stats::{finite_range, percentile_range};

/// What a channel's difference is scored by (for sorting the tiles).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DiffScore {
    /// `‖A − B‖₂` over the map.
    L2,
    /// `|max A − max B|`: how much the strongest response moved.
    MaxChange,
}

/// One layer under analysis A and analysis B, and `A − B`.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerPair {
    /// The first (pinned) analysis.
    pub a: LayerMaps,
    /// The second (current) analysis.
    pub b: LayerMaps,
    /// `a − b`, element by element.
    pub diff: LayerMaps,
}

impl LayerPair {
    /// Pairs two analyses of the same layer; their shapes must be equal.
    pub fn new(a: LayerMaps, b: LayerMaps) -> Result<Self, MapsError> {
        if (a.channels, a.height, a.width) != (b.channels, b.height, b.width) {
            return Err(MapsError::Compare(format!(
                "the two maps differ in shape: {}x{}x{} and {}x{}x{}",
                a.channels, a.height, a.width, b.channels, b.height, b.width
            )));
        }
        let data = a.data.iter().zip(&b.data).map(|(x, y)| x - y).collect();
        let diff = LayerMaps::new(a.channels, a.height, a.width, data)?;
        Ok(Self { a, b, diff })
    }

    /// Channels.
    pub fn channels(&self) -> usize {
        self.a.channels
    }

    /// The range channel `c` is coloured with on both sides: from A's and B's values together
    /// (the whole layer, that channel, or the fixed range, as `norm` says).
    pub fn shared_ranges(&self, norm: &NormSettings) -> Vec<ValueRange> {
        let both = |a: &[f32], b: &[f32]| raw_union(a, b, norm.clip_percentile);
        let layer = match norm.mode {
            Normalization::PerTile => None,
            Normalization::PerLayer => Some(both(&self.a.data, &self.b.data)),
            Normalization::Fixed { lo, hi } => Some(Some((lo, hi))),
        };
        (0..self.channels())
            .map(|c| {
                let raw = match layer {
                    Some(r) => r,
                    None => both(self.a.channel(c), self.b.channel(c)),
                };
                finish(raw, norm.symmetric)
            })
            .collect()
    }

    /// The range channel `c` of the difference is coloured with: `±` its largest magnitude
    /// (over the layer, or that channel), or `±(hi − lo)` of a fixed range.
    pub fn diff_ranges(&self, norm: &NormSettings) -> Vec<ValueRange> {
        let magnitude = |v: &[f32]| {
            let r = match norm.clip_percentile {
                Some(p) => percentile_range(v, p),
                None => finite_range(v),
            };
            r.map(|(lo, hi)| lo.abs().max(hi.abs()))
        };
        let layer = match norm.mode {
            Normalization::PerTile => None,
            Normalization::PerLayer => Some(magnitude(&self.diff.data)),
            Normalization::Fixed { lo, hi } => Some(Some((hi - lo).abs())),
        };
        (0..self.channels())
            .map(|c| {
                let m = match layer {
                    Some(m) => m,
                    None => magnitude(self.diff.channel(c)),
                };
                let m = m.filter(|m| *m > 0.0 && m.is_finite()).unwrap_or(0.0);
                ValueRange::sanitized(-m, m)
            })
            .collect()
    }

    /// Each channel's score under `key` (larger = changed more).
    pub fn scores(&self, key: DiffScore) -> Vec<f32> {
        (0..self.channels())
            .map(|c| match key {
                DiffScore::L2 => {
                    let s: f64 = self
                        .diff
                        .channel(c)
                        .iter()
                        .filter(|v| v.is_finite())
                        .map(|&v| f64::from(v) * f64::from(v))
                        .sum();
                    s.sqrt() as f32
                }
                DiffScore::MaxChange => {
                    let max = |m: &LayerMaps| finite_range(m.channel(c)).map_or(0.0, |r| r.1);
                    (max(&self.a) - max(&self.b)).abs()
                }
            })
            .collect()
    }
}

/// Min/max (or percentiles) of A's and B's values together.
fn raw_union(a: &[f32], b: &[f32], clip: Option<f32>) -> Option<(f32, f32)> {
    match clip {
        Some(p) => {
            let mut both = Vec::with_capacity(a.len() + b.len());
            both.extend_from_slice(a);
            both.extend_from_slice(b);
            percentile_range(&both, p)
        }
        None => match (finite_range(a), finite_range(b)) {
            (Some(x), Some(y)) => Some((x.0.min(y.0), x.1.max(y.1))),
            (x, y) => x.or(y),
        },
    }
}

fn finish(raw: Option<(f32, f32)>, symmetric: bool) -> ValueRange {
    let (lo, hi) = raw.unwrap_or((0.0, 0.0));
    if symmetric && lo.is_finite() && hi.is_finite() {
        let m = lo.abs().max(hi.abs());
        return ValueRange::sanitized(-m, m);
    }
    ValueRange::sanitized(lo, hi)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn maps(data: Vec<f32>) -> LayerMaps {
        LayerMaps::new(2, 1, 3, data).unwrap()
    }

    fn norm(mode: Normalization) -> NormSettings {
        NormSettings {
            mode,
            clip_percentile: None,
            symmetric: false,
        }
    }

    #[test]
    fn the_same_image_twice_gives_equal_halves_and_a_zero_difference() {
        let a = maps(vec![0.0, 1.0, 2.0, 0.5, 4.0, 8.0]);
        let pair = LayerPair::new(a.clone(), a.clone()).unwrap();
        assert!(pair.diff.data.iter().all(|&d| d == 0.0));
        for mode in [Normalization::PerTile, Normalization::PerLayer] {
            let shared = pair.shared_ranges(&norm(mode));
            // Exactly the ranges the single analysis has on its own.
            let alone: Vec<ValueRange> = (0..2).map(|c| norm(mode).range(&a, c)).collect();
            assert_eq!(shared, alone, "{mode:?}");
        }
        assert_eq!(pair.scores(DiffScore::L2), vec![0.0, 0.0]);
        assert_eq!(pair.scores(DiffScore::MaxChange), vec![0.0, 0.0]);
    }

    #[test]
    fn two_images_take_their_ranges_from_the_union() {
        let a = maps(vec![0.0, 1.0, 2.0, 0.5, 4.0, 8.0]);
        let b = maps(vec![-1.0, 0.0, 1.0, 3.0, 3.0, 3.0]);
        let pair = LayerPair::new(a, b).unwrap();
        let tile = pair.shared_ranges(&norm(Normalization::PerTile));
        assert_eq!(tile[0], ValueRange { lo: -1.0, hi: 2.0 });
        assert_eq!(tile[1], ValueRange { lo: 0.5, hi: 8.0 });
        let layer = pair.shared_ranges(&norm(Normalization::PerLayer));
        assert_eq!(layer, vec![ValueRange { lo: -1.0, hi: 8.0 }; 2]);
        let fixed = pair.shared_ranges(&norm(Normalization::Fixed { lo: 0.0, hi: 6.0 }));
        assert_eq!(fixed[1], ValueRange { lo: 0.0, hi: 6.0 });
        // A − B = [1, 1, 1, -2.5, 1, 5]: symmetric ranges for the diverging map.
        let d_tile = pair.diff_ranges(&norm(Normalization::PerTile));
        assert_eq!(d_tile[0], ValueRange { lo: -1.0, hi: 1.0 });
        assert_eq!(d_tile[1], ValueRange { lo: -5.0, hi: 5.0 });
        let d_layer = pair.diff_ranges(&norm(Normalization::PerLayer));
        assert_eq!(d_layer, vec![ValueRange { lo: -5.0, hi: 5.0 }; 2]);
        assert_eq!(pair.scores(DiffScore::MaxChange), vec![1.0, 5.0]);
        let l2 = pair.scores(DiffScore::L2);
        assert!((l2[1] - (6.25f32 + 1.0 + 25.0).sqrt()).abs() < 1e-6);
    }

    #[test]
    fn shapes_must_match() {
        let a = maps(vec![0.0; 6]);
        let b = LayerMaps::new(3, 1, 2, vec![0.0; 6]).unwrap();
        assert!(LayerPair::new(a, b).is_err());
    }
}
