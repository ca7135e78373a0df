//! Receptive-field geometry of a layer and the input crop around one unit.

use serde::{Deserialize, Serialize};

/// Where the units of one layer look in the network input. Axes are `[y, x]`.
///
/// The unit at grid position `i` along an axis covers the input pixels
/// `i * jump + lo ..= i * jump + hi` (before clipping to `0..input`). The caller computes these
/// numbers from the network's strides, kernels and paddings; the atlas only stores them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RfGeometry {
    /// Input pixels between neighbouring units (the product of the strides), at least 1.
    pub jump: [u32; 2],
    /// Offset of the first covered pixel of unit 0 (may be negative: padding).
    pub lo: [i32; 2],
    /// Offset of the last covered pixel of unit 0, inclusive; `lo <= hi`.
    pub hi: [i32; 2],
    /// Network input size `[height, width]` in pixels, at least 1.
    pub input: [u32; 2],
}

/// A half-open pixel rectangle `[x0, x1) x [y0, y1)` of the network input; empty when
/// `x0 == x1` or `y0 == y1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CropBox {
    /// First column.
    pub x0: u32,
    /// First row.
    pub y0: u32,
    /// One past the last column.
    pub x1: u32,
    /// One past the last row.
    pub y1: u32,
}

impl CropBox {
    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.x1.saturating_sub(self.x0)
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.y1.saturating_sub(self.y0)
    }
}

impl RfGeometry {
    /// The input pixels seen by the unit at grid position `(y, x)`, clipped to the input.
    pub fn crop(&self, y: u32, x: u32) -> CropBox {
        let (y0, y1) = self.span(0, y);
        let (x0, x1) = self.span(1, x);
        CropBox { x0, y0, x1, y1 }
    }

    /// Half-open clipped span along `axis` of the unit at position `i`.
    fn span(&self, axis: usize, i: u32) -> (u32, u32) {
        // i128: `u32::MAX * u32::MAX + i32::MAX` does not fit in i64.
        let start = i128::from(i) * i128::from(self.jump[axis]);
        let size = i128::from(self.input[axis]);
        let lo = (start + i128::from(self.lo[axis])).clamp(0, size);
        let hi = (start + i128::from(self.hi[axis]) + 1).clamp(lo, size);
        (to_u32(lo), to_u32(hi))
    }

    /// `Err` with a reason when the geometry is unusable (zero jump or input, `lo > hi`).
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.jump.contains(&0) {
            return Err(format!("rf jump {:?} has a zero", self.jump));
        }
        if self.input.contains(&0) {
            return Err(format!("rf input size {:?} has a zero", self.input));
        }
        if self.lo[0] > self.hi[0] || self.lo[1] > self.hi[1] {
            return Err(format!("rf lo {:?} exceeds hi {:?}", self.lo, self.hi));
        }
        Ok(())
    }
}

/// `v` (already clamped to `0..=u32::MAX`) as `u32`.
fn to_u32(v: i128) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rf() -> RfGeometry {
        RfGeometry {
            jump: [2, 4],
            lo: [-1, -3],
            hi: [1, 3],
            input: [9, 10],
        }
    }

    #[test]
    fn crop_inside_and_clipped_at_borders() {
        let g = rf();
        assert_eq!(
            g.crop(0, 0),
            CropBox {
                x0: 0,
                y0: 0,
                x1: 4,
                y1: 2
            }
        );
        assert_eq!(
            g.crop(2, 1),
            CropBox {
                x0: 1,
                y0: 3,
                x1: 8,
                y1: 6
            }
        );
        // Bottom-right: clipped to the input.
        let c = g.crop(4, 2);
        assert_eq!((c.x0, c.y0, c.x1, c.y1), (5, 7, 10, 9));
        assert_eq!((c.width(), c.height()), (5, 2));
        // Entirely outside: empty, still inside the input.
        let c = g.crop(100, 100);
        assert_eq!((c.x0, c.x1, c.y0, c.y1), (10, 10, 9, 9));
        assert_eq!((c.width(), c.height()), (0, 0));
        // Huge values do not overflow.
        let big = RfGeometry {
            jump: [u32::MAX; 2],
            lo: [i32::MIN; 2],
            hi: [i32::MAX; 2],
            input: [u32::MAX; 2],
        };
        let c = big.crop(u32::MAX, 0);
        assert_eq!((c.x0, c.x1), (0, 1 << 31));
        assert_eq!((c.y0, c.y1), (u32::MAX, u32::MAX));
    }

    #[test]
    fn check_rejects_bad_geometry() {
        assert!(rf().check().is_ok());
        let mut g = rf();
        g.jump = [0, 1];
        assert!(g.check().is_err());
        let mut g = rf();
        g.lo = [2, 0];
        assert!(g.check().unwrap_err().contains("exceeds"));
        let mut g = rf();
        g.input = [0, 3];
        assert!(g.check().is_err());
    }
}
