//! The 3x3 stride-1 convs as Winograd F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for
//! Convolutional Neural Networks", 2016): each 2x2 block of output pixels from the 4x4 block of
//! input around it with 16 products per input channel instead of 36.
//!
//! `Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A` for one tile; summed over the input channels, the `⊙`
//! becomes 16 GEMMs, `M[ξ] = U[ξ] · V[ξ]` with `U[ξ]` the `[c_out, c_in]` matrix of the
//! transformed weights (packed once at load for `cpu_gemm`'s kernel) and `V[ξ]` the
//! `[c_in, tiles]` matrix of the transformed input. Tiles go in blocks of [`MR`] (one panel of
//! the kernel): a block's `V` and `M` stay in L2 between the input transform, the 16 products
//! and the output transform (which adds the bias and applies the ReLU).
//!
//! The transforms only add and subtract (`G`'s halves are exact in binary), so the result
//! differs from the direct conv by rounding, as any other order of the sums does.

use std::cell::RefCell;
use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::cpu_gemm::{Dst, MR, Operand, Packed};
use super::host::{Planes, padded_planes};

/// Transformed values per tile.
const XI: usize = 16;

/// A 3x3 conv's weights transformed and packed: `U[ξ]`, `ξ = 4·i + j`.
#[derive(Clone, Debug)]
pub struct Winograd {
    u: Vec<Packed>,
    c_out: usize,
    c_in: usize,
}

/// The output side of one conv.
pub struct Epilogue<'a> {
    pub bias: &'a [f32],
    pub relu: bool,
}

impl Winograd {
    /// The transformed weights of OIHW `[c_out, c_in, 3, 3]` `weight`, or `None` without the
    /// packed kernel (no AVX-512) or when the sizes disagree.
    pub fn new(weight: &[f32], c_out: usize, c_in: usize) -> Option<Self> {
        if weight.len() != c_out * c_in * 9 || c_in == 0 {
            return None;
        }
        let mut u = vec![vec![0.0f32; c_out * c_in]; XI];
        for (oc, g) in weight.chunks_exact(9).enumerate() {
            for (xi, value) in transform_weights(g).into_iter().enumerate() {
                u[xi][oc] = value;
            }
        }
        let u = u
            .iter()
            .map(|m| Packed::new(m, c_out, c_in))
            .collect::<Option<Vec<_>>>()?;
        Some(Self { u, c_out, c_in })
    }

    /// How many tiles an `[ho, wo]` output has.
    pub fn tiles([ho, wo]: [usize; 2]) -> usize {
        ho.div_ceil(2) * wo.div_ceil(2)
    }

    /// The conv of one `[c_in, h, w]` image with `padding` into its whole `[c_out, ho, wo]`
    /// output (every value written). `parallel`: tile blocks over rayon's threads.
    pub fn conv(
        &self,
        image: &[f32],
        out: &mut [MaybeUninit<f32>],
        [h, w]: [usize; 2],
        [ph, pw]: [usize; 2],
        epilogue: &Epilogue,
        parallel: bool,
    ) {
        let (ho, wo) = (h + 2 * ph - 2, w + 2 * pw - 2);
        assert!(image.len() == self.c_in * h * w && out.len() == self.c_out * ho * wo);
        assert!(epilogue.bias.len() == self.c_out);
        // Padded so that every tile's 4x4 block lies inside: 2·tiles + 2 rows and columns.
        let grid = Grid {
            tw: wo.div_ceil(2),
            ho,
            wo,
            hp: 2 * ho.div_ceil(2) + 2,
            wp: 2 * wo.div_ceil(2) + 2,
        };
        // The vector loads of the last tiles read up to 48 values from a row's start.
        let shape = [grid.hp, grid.wp];
        let padded = padded_planes(
            image,
            [h, w],
            [ph, pw],
            shape,
            3 * 16,
            Planes::AsIs,
            parallel,
        );
        let tiles = grid.tw * ho.div_ceil(2);
        let dst = OutPtr(out.as_mut_ptr().cast::<f32>());
        let block = |b: usize| {
            let first = b * MR;
            let block = Block {
                first,
                count: MR.min(tiles - first),
            };
            BUFFERS.with_borrow_mut(|(v, m)| {
                self.block(&padded, &grid, &block, [v, m], (dst, epilogue));
            });
        };
        match parallel {
            true => (0..tiles.div_ceil(MR)).into_par_iter().for_each(block),
            false => (0..tiles.div_ceil(MR)).for_each(block),
        }
    }

    /// One block of tiles: input transform into `v` (`[16][c_in][MR]`), the 16 products into
    /// `m` (`[16][c_out][MR]`), output transform into the output.
    fn block(
        &self,
        padded: &[f32],
        grid: &Grid,
        block: &Block,
        [v, m]: [&mut Vec<f32>; 2],
        (dst, epilogue): (OutPtr, &Epilogue),
    ) {
        let (c_in, c_out) = (self.c_in, self.c_out);
        v.resize(XI * c_in * MR, 0.0);
        m.resize(XI * c_out * MR, 0.0);
        // SAFETY: AVX-512F is present (`Packed` exists only then); `padded` holds the
        // `c_in` padded planes and the loads' slack, `v` the block's `[16][c_in][MR]`.
        #[allow(unsafe_code)]
        unsafe {
            transform_input(padded, grid, block, c_in, v);
        }
        for (xi, u) in self.u.iter().enumerate() {
            let to = Dst {
                ptr: m[xi * c_out * MR..].as_mut_ptr(),
                ldc: MR,
            };
            // SAFETY: `to` is `m`'s `[c_out, MR]` matrix of `ξ` (`count ≤ MR` columns), this
            // thread's own buffer; `V[ξ]` holds `c_in` rows of stride MR.
            #[allow(unsafe_code)]
            unsafe {
                let a = Operand::Strided(&v[xi * c_in * MR..], MR);
                u.tile(a, block.count, 0..u.groups(), to, None, false);
            }
        }
        // SAFETY: as above; `m` holds the block's `[16][c_out][MR]` products and `dst` the
        // `[c_out, ho, wo]` output, of which this block writes its own tiles' pixels only.
        #[allow(unsafe_code)]
        unsafe {
            transform_output(m, grid, block, epilogue, dst.0);
        }
    }
}

/// The tiles of one conv and its padded input.
struct Grid {
    /// Tiles per row.
    tw: usize,
    ho: usize,
    wo: usize,
    /// The padded input's rows and columns.
    hp: usize,
    wp: usize,
}

impl Grid {
    /// `(row, column)` of tile `t`.
    fn tile(&self, t: usize) -> (usize, usize) {
        (t / self.tw, t % self.tw)
    }
}

/// Tiles `first .. first + count` (`count ≤ MR`).
struct Block {
    first: usize,
    count: usize,
}

/// The output, written by the blocks at their own pixels.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);

// SAFETY: the blocks write disjoint pixels (see `Winograd::block`).
#[allow(unsafe_code)]
unsafe impl Send for OutPtr {}
// SAFETY: as above.
#[allow(unsafe_code)]
unsafe impl Sync for OutPtr {}

thread_local! {
    /// Each thread's `V` and `M` blocks, kept between convs.
    static BUFFERS: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// `G g Gᵀ` of one 3x3 kernel (row-major), in float64, rounded once: `ξ = 4·i + j`.
fn transform_weights(g: &[f32]) -> [f32; XI] {
    const G: [[f64; 3]; 4] = [
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
    ];
    std::array::from_fn(|xi| {
        let (i, j) = (xi / 4, xi % 4);
        let mut sum = 0.0f64;
        for (a, &ga) in G[i].iter().enumerate() {
            for (b, &gb) in G[j].iter().enumerate() {
                sum += ga * f64::from(g[3 * a + b]) * gb;
            }
        }
        sum as f32
    })
}

/// A block's tiles as runs along one tile row: `(row, first column, first tile of the block,
/// length)`.
fn runs(grid: &Grid, block: &Block) -> impl Iterator<Item = (usize, usize, usize, usize)> {
    let (mut t, end) = (block.first, block.first + block.count);
    std::iter::from_fn(move || {
        if t >= end {
            return None;
        }
        let (ty, tx) = grid.tile(t);
        let len = (grid.tw - tx).min(end - t);
        let run = (ty, tx, t - block.first, len);
        t += len;
        Some(run)
    })
}

/// Lanes of a register.
const LANES: usize = 16;

/// The first `n` (≤ 16) lanes.
fn lanes(n: usize) -> u16 {
    ((1u32 << n.min(LANES)) - 1) as u16
}

/// `Bᵀ d B` of each tile of the block, 16 tiles of a run at a time (one per lane), into
/// `v[ξ][c][t]`: the 4x4 blocks' even and odd columns come from two overlapping loads per row.
///
/// # Safety
/// AVX-512F must be present; `padded` holds `c_in` planes of `grid.hp × grid.wp` and 48 values
/// more; `v` holds `16 · c_in · MR` values.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[target_feature(enable = "avx512f")]
unsafe fn transform_input(padded: &[f32], grid: &Grid, block: &Block, c_in: usize, v: &mut [f32]) {
    use std::arch::x86_64::*;
    let plane = grid.hp * grid.wp;
    assert!(padded.len() >= c_in * plane + 48 && v.len() >= XI * c_in * MR);
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for c in 0..c_in {
        for (ty, tx0, t0, len) in runs(grid, block) {
            for s in (0..len).step_by(LANES) {
                let mask = lanes(len - s);
                // SAFETY: row `2·ty + i ≤ hp − 1` of plane `c`, column `2·(tx0 + s)`; the
                // loads reach 34 values on, inside the planes or their slack.
                let d: [[__m512; 4]; 4] = std::array::from_fn(|i| unsafe {
                    let r = padded
                        .as_ptr()
                        .add(c * plane + (2 * ty + i) * grid.wp + 2 * (tx0 + s));
                    let (a, b) = (_mm512_loadu_ps(r), _mm512_loadu_ps(r.add(16)));
                    let (a2, b2) = (_mm512_loadu_ps(r.add(2)), _mm512_loadu_ps(r.add(18)));
                    [
                        _mm512_permutex2var_ps(a, even, b),
                        _mm512_permutex2var_ps(a, odd, b),
                        _mm512_permutex2var_ps(a2, even, b2),
                        _mm512_permutex2var_ps(a2, odd, b2),
                    ]
                });
                let bt = |r: [__m512; 4]| {
                    [
                        _mm512_sub_ps(r[0], r[2]),
                        _mm512_add_ps(r[1], r[2]),
                        _mm512_sub_ps(r[2], r[1]),
                        _mm512_sub_ps(r[1], r[3]),
                    ]
                };
                // Over the rows, column by column (`e[j][i]`), then over the columns.
                let e: [[__m512; 4]; 4] =
                    std::array::from_fn(|j| bt([d[0][j], d[1][j], d[2][j], d[3][j]]));
                let rows: [[__m512; 4]; 4] =
                    std::array::from_fn(|i| bt([e[0][i], e[1][i], e[2][i], e[3][i]]));
                for (i, row) in rows.into_iter().enumerate() {
                    for (j, x) in row.into_iter().enumerate() {
                        let at = ((4 * i + j) * c_in + c) * MR + t0 + s;
                        // SAFETY: `t0 + s + 16 ≤ MR` wherever `mask` is set.
                        unsafe { _mm512_mask_storeu_ps(v.as_mut_ptr().add(at), mask, x) };
                    }
                }
            }
        }
    }
}

/// `Aᵀ m A` of each tile of the block plus the bias, then the ReLU as burn's (negatives and −0
/// become 0, NaN stays), 16 tiles of a run at a time; each tile's two output rows interleaved
/// back into pixels.
///
/// # Safety
/// AVX-512F must be present; `m` holds `16 · c_out · MR` values; `dst` is the `[c_out, ho, wo]`
/// output and no other thread writes this block's pixels.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[target_feature(enable = "avx512f")]
unsafe fn transform_output(
    m: &[f32],
    grid: &Grid,
    block: &Block,
    epilogue: &Epilogue,
    dst: *mut f32,
) {
    use std::arch::x86_64::*;
    let c_out = epilogue.bias.len();
    assert!(m.len() >= XI * c_out * MR);
    let first = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    let second = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    let zero = _mm512_setzero_ps();
    for (o, &bias) in epilogue.bias.iter().enumerate() {
        let bias = _mm512_set1_ps(bias);
        let finish = |y: __m512| {
            let y = _mm512_add_ps(y, bias);
            match epilogue.relu {
                true => _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_LE_OQ>(y, zero), y, zero),
                false => y,
            }
        };
        for (ty, tx0, t0, len) in runs(grid, block) {
            for s in (0..len).step_by(LANES) {
                let mask = lanes(len - s);
                // SAFETY: row `(ξ, o)` of `m`, columns `t0 + s ..` (masked to the run).
                let x: [__m512; XI] = std::array::from_fn(|xi| unsafe {
                    _mm512_maskz_loadu_ps(mask, m.as_ptr().add((xi * c_out + o) * MR + t0 + s))
                });
                let at = |r: [__m512; 4]| {
                    [
                        _mm512_add_ps(_mm512_add_ps(r[0], r[1]), r[2]),
                        _mm512_sub_ps(_mm512_sub_ps(r[1], r[2]), r[3]),
                    ]
                };
                // Over the rows, column by column (`s[j][r]`), then over the columns.
                let sj: [[__m512; 2]; 4] =
                    std::array::from_fn(|j| at([x[j], x[4 + j], x[8 + j], x[12 + j]]));
                let ox = 2 * (tx0 + s);
                let columns = (2 * (len - s).min(LANES)).min(grid.wo - ox);
                let wide = (1u64 << columns) - 1;
                let rows: [[__m512; 2]; 2] =
                    std::array::from_fn(|dy| at([sj[0][dy], sj[1][dy], sj[2][dy], sj[3][dy]]));
                for (dy, y) in rows.into_iter().enumerate() {
                    let oy = 2 * ty + dy;
                    if oy >= grid.ho {
                        break;
                    }
                    let y = y.map(finish);
                    let row = dst.wrapping_add((o * grid.ho + oy) * grid.wo + ox);
                    // SAFETY: the first `columns` pixels from `(o, oy, ox)` lie in the row.
                    unsafe {
                        _mm512_mask_storeu_ps(
                            row,
                            wide as u16,
                            _mm512_permutex2var_ps(y[0], first, y[1]),
                        );
                        _mm512_mask_storeu_ps(
                            row.wrapping_add(16),
                            (wide >> 16) as u16,
                            _mm512_permutex2var_ps(y[0], second, y[1]),
                        );
                    }
                }
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(unsafe_code)]
unsafe fn transform_input(_: &[f32], _: &Grid, _: &Block, _: usize, _: &mut [f32]) {
    unreachable!("Packed exists only with AVX-512")
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(unsafe_code)]
unsafe fn transform_output(_: &[f32], _: &Grid, _: &Block, _: &Epilogue, _: *mut f32) {
    unreachable!("Packed exists only with AVX-512")
}
