//! Per-channel statistics.

/// Summary of one channel's activations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChannelStats {
    /// Smallest finite value (0 if there is none).
    pub min: f32,
    /// Largest finite value (0 if there is none).
    pub max: f32,
    /// Mean of the finite values (0 if there is none).
    pub mean: f32,
    /// Fraction of positions whose value is `> 0`, over all positions.
    pub active_fraction: f32,
    /// `max == min`: the map is constant (all-zero included), so it carries no spatial information.
    pub dead: bool,
}

impl ChannelStats {
    /// Computes the statistics of one channel's values. Non-finite values are left out of
    /// min, max and mean; an empty or all-non-finite channel is reported as dead with zeros.
    pub fn of(values: &[f32]) -> Self {
        let mut min = f32::INFINITY;
        let mut max = f32::NEG_INFINITY;
        let mut sum = 0.0f64;
        let mut finite = 0usize;
        let mut active = 0usize;
        for &v in values {
            if v > 0.0 {
                active += 1;
            }
            if v.is_finite() {
                min = min.min(v);
                max = max.max(v);
                sum += f64::from(v);
                finite += 1;
            }
        }
        if finite == 0 {
            min = 0.0;
            max = 0.0;
        }
        let mean = if finite == 0 {
            0.0
        } else {
            (sum / finite as f64) as f32
        };
        let active_fraction = if values.is_empty() {
            0.0
        } else {
            (active as f64 / values.len() as f64) as f32
        };
        Self {
            min,
            max,
            mean,
            active_fraction,
            dead: max == min,
        }
    }
}

/// `(min, max)` over the finite values, or `None` when there are none.
pub(crate) fn finite_range(values: &[f32]) -> Option<(f32, f32)> {
    values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// The `p`-th and `(100 - p)`-th percentiles of the finite values (numpy's default linear
/// interpolation), or `None` when there are none. `p` is clamped to `[0, 50]`.
pub(crate) fn percentile_range(values: &[f32], p: f32) -> Option<(f32, f32)> {
    let mut v: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_unstable_by(f32::total_cmp);
    let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 50.0) };
    Some((
        quantile_sorted(&v, p / 100.0),
        quantile_sorted(&v, 1.0 - p / 100.0),
    ))
}

/// Linear-interpolated quantile `q` in `[0, 1]` of a sorted, non-empty slice.
fn quantile_sorted(sorted: &[f32], q: f32) -> f32 {
    let last = sorted.len() - 1;
    let pos = f64::from(q) * last as f64;
    let i = (pos.floor() as usize).min(last);
    let j = (i + 1).min(last);
    let frac = pos - i as f64;
    let a = f64::from(sorted[i]);
    let b = f64::from(sorted[j]);
    (a + (b - a) * frac) as f32
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::LayerMaps;

    #[test]
    fn stats_on_hand_made_maps() {
        let m = LayerMaps::new(
            3,
            2,
            2,
            vec![
                -1.0, 0.0, 2.0, 3.0, // mixed
                0.0, 0.0, 0.0, 0.0, // all zero: dead
                5.0, 5.0, 5.0, 5.0, // constant positive: dead, fully active
            ],
        )
        .unwrap();
        let s = m.stats();
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].min, s[0].max, s[0].mean), (-1.0, 3.0, 1.0));
        assert_eq!(s[0].active_fraction, 0.5);
        assert!(!s[0].dead);
        assert!(s[1].dead);
        assert_eq!(s[1].active_fraction, 0.0);
        assert!(s[2].dead);
        assert_eq!(s[2].active_fraction, 1.0);
        assert_eq!(s[2].mean, 5.0);
    }

    #[test]
    fn stats_skip_non_finite_and_handle_empty() {
        let s = ChannelStats::of(&[f32::NAN, 1.0, 3.0, f32::INFINITY]);
        assert_eq!((s.min, s.max, s.mean), (1.0, 3.0, 2.0));
        assert_eq!(s.active_fraction, 0.75);
        let e = ChannelStats::of(&[]);
        assert!(e.dead);
        assert_eq!(e.active_fraction, 0.0);
    }

    #[test]
    fn percentiles_match_numpy_linear() {
        let v: Vec<f32> = (0..=100).map(|i| i as f32).collect();
        assert_eq!(percentile_range(&v, 1.0), Some((1.0, 99.0)));
        assert_eq!(percentile_range(&[0.0, 10.0], 25.0), Some((2.5, 7.5)));
        assert_eq!(percentile_range(&[f32::NAN], 1.0), None);
    }
}
