//! [`LayerMaps`]: one layer's activations for one image.

use crate::error::MapsError;
use crate::stats::{ChannelStats, finite_range};

/// One layer's activations for one image: C maps of H x W, row-major, NCHW with N = 1.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerMaps {
    /// Number of channels (feature maps).
    pub channels: usize,
    /// Height of each map.
    pub height: usize,
    /// Width of each map.
    pub width: usize,
    /// `channels * height * width` values, channel-major then row-major.
    pub data: Vec<f32>,
}

impl LayerMaps {
    /// Wraps `data`, checking that it holds exactly `channels * height * width` values.
    pub fn new(
        channels: usize,
        height: usize,
        width: usize,
        data: Vec<f32>,
    ) -> Result<Self, MapsError> {
        let expected = channels
            .checked_mul(height)
            .and_then(|n| n.checked_mul(width))
            .ok_or_else(|| MapsError::BadShape {
                shape: vec![channels as u64, height as u64, width as u64],
                reason: "element count overflows usize".into(),
            })?;
        if data.len() != expected {
            return Err(MapsError::ShapeMismatch {
                channels,
                height,
                width,
                expected,
                got: data.len(),
            });
        }
        Ok(Self {
            channels,
            height,
            width,
            data,
        })
    }

    /// Builds from an array shape as stored in a tensor or `.npy` file: `[C, H, W]` or `[1, C, H, W]`.
    pub fn from_shape(shape: &[u64], data: Vec<f32>) -> Result<Self, MapsError> {
        let bad = |reason: &str| MapsError::BadShape {
            shape: shape.to_vec(),
            reason: reason.into(),
        };
        let chw = match shape {
            [c, h, w] | [1, c, h, w] => [*c, *h, *w],
            [_, _, _, _] => return Err(bad("batch size must be 1")),
            _ => return Err(bad("expected [C, H, W] or [1, C, H, W]")),
        };
        let to_usize = |v: u64| usize::try_from(v).map_err(|_| bad("dimension overflows usize"));
        Self::new(
            to_usize(chw[0])?,
            to_usize(chw[1])?,
            to_usize(chw[2])?,
            data,
        )
    }

    /// Number of values in one channel (`height * width`).
    pub fn plane_len(&self) -> usize {
        self.height * self.width
    }

    /// The values of channel `c` (row-major, `height * width` long); empty if `c` is out of range.
    pub fn channel(&self, c: usize) -> &[f32] {
        let n = self.plane_len();
        if c >= self.channels {
            return &[];
        }
        self.data.get(c * n..(c + 1) * n).unwrap_or(&[])
    }

    /// Statistics for every channel, in channel order.
    pub fn stats(&self) -> Vec<ChannelStats> {
        (0..self.channels)
            .map(|c| ChannelStats::of(self.channel(c)))
            .collect()
    }

    /// `(min, max)` over all finite values of the layer; `(0.0, 0.0)` when there are none.
    pub fn layer_range(&self) -> (f32, f32) {
        finite_range(&self.data).unwrap_or((0.0, 0.0))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn new_checks_length() {
        assert!(LayerMaps::new(2, 2, 2, vec![0.0; 8]).is_ok());
        let err = LayerMaps::new(2, 2, 2, vec![0.0; 7]).unwrap_err();
        assert!(matches!(
            err,
            MapsError::ShapeMismatch {
                expected: 8,
                got: 7,
                ..
            }
        ));
        assert!(err.to_string().contains("2x2x2"));
        assert!(LayerMaps::new(usize::MAX, 2, 2, vec![]).is_err());
    }

    #[test]
    fn channel_slices_and_out_of_range() {
        let m = LayerMaps::new(2, 1, 2, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(m.channel(1), &[3.0, 4.0]);
        assert!(m.channel(2).is_empty());
        assert_eq!(m.layer_range(), (1.0, 4.0));
    }

    #[test]
    fn from_shape_accepts_chw_and_nchw() {
        let m = LayerMaps::from_shape(&[1, 2, 1, 2], vec![0.0; 4]).unwrap();
        assert_eq!((m.channels, m.height, m.width), (2, 1, 2));
        assert!(LayerMaps::from_shape(&[2, 1, 2], vec![0.0; 4]).is_ok());
        assert!(LayerMaps::from_shape(&[2, 2, 1, 2], vec![0.0; 8]).is_err());
        assert!(LayerMaps::from_shape(&[4], vec![0.0; 4]).is_err());
    }

    #[test]
    fn layer_range_ignores_non_finite() {
        let m = LayerMaps::new(1, 1, 4, vec![f32::NAN, -2.0, f32::INFINITY, 3.0]).unwrap();
        assert_eq!(m.layer_range(), (-2.0, 3.0));
        let empty = LayerMaps::new(1, 1, 1, vec![f32::NAN]).unwrap();
        assert_eq!(empty.layer_range(), (0.0, 0.0));
    }
}
