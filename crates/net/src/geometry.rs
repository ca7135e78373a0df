//! Receptive fields, from the catalogue's geometry (kernel, stride and padding of every layer on
//! every path from the input): which input pixels a unit of a tapped layer can see.
//!
//! Along one axis a unit at grid position `i` of a layer sees input pixels
//! `i * jump + lo ..= i * jump + hi` (before clipping to the image). The input itself has
//! `jump = 1, lo = hi = 0`; a conv or pool with kernel `k`, stride `s` and padding `p` on a layer
//! with `(J, lo, hi)` gives `(J * s, lo - p * J, hi + (k - 1 - p) * J)`; a concat takes the union
//! of its inputs (their jumps agree); the global pool sees the whole image.

use crate::catalogue::{Catalogue, INPUT_SIZE, LayerKind};

/// The receptive field of a tapped layer's units, per axis `[y, x]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceptiveField {
    /// Input pixels between neighbouring units.
    pub jump: [usize; 2],
    /// First input pixel unit 0 sees (negative: in the padding).
    pub lo: [i64; 2],
    /// Last input pixel unit 0 sees.
    pub hi: [i64; 2],
}

impl ReceptiveField {
    const INPUT: Self = Self {
        jump: [1, 1],
        lo: [0, 0],
        hi: [0, 0],
    };

    /// The input pixels unit `(y, x)` sees, clipped to the image: `[y0, x0, y1, x1]`, half-open.
    pub fn input_box(&self, y: usize, x: usize) -> [usize; 4] {
        let n = INPUT_SIZE as i64;
        let span = |a: usize, i: usize| {
            let start = (i * self.jump[a]) as i64;
            let lo = (start + self.lo[a]).clamp(0, n);
            let hi = (start + self.hi[a] + 1).clamp(0, n);
            (lo as usize, hi as usize)
        };
        let (y0, y1) = span(0, y);
        let (x0, x1) = span(1, x);
        [y0, x0, y1, x1]
    }
}

/// The receptive field of every layer of `cat`, in the catalogue's order.
pub fn receptive_fields(cat: &Catalogue) -> Vec<ReceptiveField> {
    let mut fields: Vec<ReceptiveField> = Vec::with_capacity(cat.layers.len());
    for layer in &cat.layers {
        let inputs: Vec<ReceptiveField> = if layer.inputs.is_empty() {
            vec![ReceptiveField::INPUT]
        } else {
            layer.inputs.iter().map(|&i| fields[i]).collect()
        };
        let union = union(&inputs);
        let field = match (layer.kind, layer.kernel, layer.stride, layer.padding) {
            (LayerKind::GlobalAvgPool, ..) => ReceptiveField {
                jump: [INPUT_SIZE; 2],
                lo: [0; 2],
                hi: [INPUT_SIZE as i64 - 1; 2],
            },
            (LayerKind::Concat, ..) | (_, None, _, _) | (_, _, None, _) => union,
            (_, Some(k), Some(s), p) => {
                let p = p.unwrap_or([0, 0]);
                let axis = |a: usize| {
                    let j = union.jump[a] as i64;
                    (
                        union.jump[a] * s[a],
                        union.lo[a] - p[a] as i64 * j,
                        union.hi[a] + (k[a] as i64 - 1 - p[a] as i64) * j,
                    )
                };
                let (y, x) = (axis(0), axis(1));
                ReceptiveField {
                    jump: [y.0, x.0],
                    lo: [y.1, x.1],
                    hi: [y.2, x.2],
                }
            }
        };
        fields.push(field);
    }
    fields
}

/// The union of the fields of a concat's inputs (equal jumps: they share the output grid).
fn union(fields: &[ReceptiveField]) -> ReceptiveField {
    let mut u = fields[0];
    for f in &fields[1..] {
        for a in 0..2 {
            u.jump[a] = u.jump[a].max(f.jump[a]);
            u.lo[a] = u.lo[a].min(f.lo[a]);
            u.hi[a] = u.hi[a].max(f.hi[a]);
        }
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(id: &str) -> ReceptiveField {
        let cat = Catalogue::inception_v3();
        let i = cat.position(id).expect("layer");
        receptive_fields(cat)[i]
    }

    #[test]
    fn stem_by_hand() {
        // 3x3/2 valid: unit 0 sees pixels 0..=2, neighbours 2 apart.
        assert_eq!(
            field("Conv2d_1a_3x3"),
            ReceptiveField {
                jump: [2, 2],
                lo: [0, 0],
                hi: [2, 2]
            }
        );
        // + 3x3/1 valid: 0..=6; + 3x3/1 pad 1: -2..=8.
        assert_eq!(field("Conv2d_2a_3x3").hi, [6, 6]);
        assert_eq!(field("Conv2d_2b_3x3").lo, [-2, -2]);
        assert_eq!(field("Conv2d_2b_3x3").hi, [8, 8]);
        // + maxpool 3x3/2: jump 4, -2..=12.
        let m = field("maxpool1");
        assert_eq!((m.jump, m.lo, m.hi), ([4, 4], [-2, -2], [12, 12]));
    }

    #[test]
    fn asymmetric_kernels_and_concats() {
        // Mixed_6b.branch7x7_2 is 1x7 (pad 0,3): the field widens along x only.
        let before = field("Mixed_6b.branch7x7_1");
        let after = field("Mixed_6b.branch7x7_2");
        assert_eq!(after.lo[0], before.lo[0]);
        assert_eq!(after.lo[1], before.lo[1] - 3 * before.jump[1] as i64);
        // A block's concat is the union of its branches: at least as wide as each.
        let concat = field("Mixed_6b");
        for b in ["Mixed_6b.branch1x1", "Mixed_6b.branch7x7dbl_5"] {
            let f = field(b);
            assert!(concat.lo[1] <= f.lo[1] && concat.hi[1] >= f.hi[1]);
        }
        let g = field("avgpool");
        assert_eq!(g.input_box(0, 0), [0, 0, INPUT_SIZE, INPUT_SIZE]);
    }

    #[test]
    fn boxes_clip_to_the_image() {
        let f = field("Mixed_7c");
        assert_eq!(f.jump, [32, 32]);
        let [y0, x0, y1, x1] = f.input_box(0, 7);
        assert_eq!((y0, x0), (0, (7 * 32 + f.lo[1]).max(0) as usize));
        assert_eq!(x1, INPUT_SIZE);
        assert!(y1 > y0);
    }
}
