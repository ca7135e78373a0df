//! Per-image reduction of a layer: each channel's maximum, its position, and its mean.

use crate::layer::LayerMaps;

/// One channel of one image, reduced to what the atlas ranks.
///
/// Non-finite values (NaN and ±infinity) are ignored, as in [`crate::ChannelStats`]. A channel
/// without any finite value has `max = -inf`, `argmax = (0, 0)` and `mean = NaN`; such a summary
/// is not [`ChannelSummary::is_finite`] and never enters a ranking or the statistics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChannelSummary {
    /// Largest finite value.
    pub max: f32,
    /// `(y, x)` of the first occurrence of `max` in row-major order.
    pub argmax: (u32, u32),
    /// Mean of the finite values, accumulated in `f64`.
    pub mean: f32,
}

impl ChannelSummary {
    /// The summary of a channel without finite values.
    pub const EMPTY: Self = Self {
        max: f32::NEG_INFINITY,
        argmax: (0, 0),
        mean: f32::NAN,
    };

    /// Whether the channel had at least one finite value (then `max` and `mean` are finite).
    pub fn is_finite(&self) -> bool {
        self.max.is_finite() && self.mean.is_finite()
    }
}

/// Summaries of every channel of `maps`, in channel order.
pub fn channel_summaries(maps: &LayerMaps) -> Vec<ChannelSummary> {
    (0..maps.channels)
        .map(|c| summarize(maps.channel(c), maps.width))
        .collect()
}

/// The summary of one row-major channel of the given width.
fn summarize(values: &[f32], width: usize) -> ChannelSummary {
    let mut max = f32::NEG_INFINITY;
    let mut at = 0usize;
    let mut sum = 0.0f64;
    let mut finite = 0usize;
    for (i, &v) in values.iter().enumerate() {
        if !v.is_finite() {
            continue;
        }
        // Strict `>`: the first maximum wins (and -0.0 does not displace an earlier 0.0).
        if v > max {
            max = v;
            at = i;
        }
        sum += f64::from(v);
        finite += 1;
    }
    if finite == 0 || width == 0 {
        return ChannelSummary::EMPTY;
    }
    let coord = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    ChannelSummary {
        max,
        argmax: (coord(at / width), coord(at % width)),
        mean: (sum / finite as f64) as f32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_max_mean_and_nan_handling() {
        let maps = LayerMaps::new(
            3,
            2,
            3,
            vec![
                1.0,
                5.0,
                2.0,
                5.0,
                f32::NAN,
                5.0, // first max at (0, 1)
                f32::NAN,
                f32::INFINITY,
                -1.0,
                -3.0,
                f32::NAN,
                -1.0, // finite: -1, -3, -1
                f32::NAN,
                f32::NAN,
                f32::NAN,
                f32::NAN,
                f32::NAN,
                f32::NAN,
            ],
        )
        .unwrap();
        let s = channel_summaries(&maps);
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[0].max, s[0].argmax, s[0].mean),
            (5.0, (0, 1), 18.0 / 5.0)
        );
        assert_eq!((s[1].max, s[1].argmax), (-1.0, (0, 2)));
        assert_eq!(s[1].mean, (-5.0f64 / 3.0) as f32);
        assert!(s[0].is_finite() && s[1].is_finite());
        assert!(!s[2].is_finite());
        assert_eq!(s[2].max, f32::NEG_INFINITY);
        assert!(s[2].mean.is_nan());
    }

    #[test]
    fn signed_zero_tie_keeps_the_first() {
        let maps = LayerMaps::new(1, 1, 3, vec![-0.0, 0.0, -1.0]).unwrap();
        let s = channel_summaries(&maps)[0];
        assert_eq!(s.argmax, (0, 0));
        assert!(s.max.is_sign_negative());
    }
}
