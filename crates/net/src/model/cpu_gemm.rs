//! The conv's GEMM with its weights packed once at load (as ONNX Runtime's MLAS does) and its
//! epilogue (bias, ReLU) applied in registers before the one store, on x86-64 with AVX-512.
//!
//! `out[c, p] = relu(Σ_k W[c, k] · A[k, p] + bias[c])`, with `A` an im2col tile, a 1x1 conv's
//! image itself, a padded input (or a stride-2 conv's phase planes) read at per-row offsets, or
//! one of Winograd's transformed inputs. The microkernel holds 64 pixels × 6 output channels in
//! 24 registers: per `k` it loads 64 values of `A` and broadcasts 6 of the packed weights. `k` runs
//! in blocks of [`KC`] so that one 64-pixel panel of `A` stays in L1 while every channel group
//! passes over it; partial sums between blocks go to the output itself.
//!
//! The `gemm` crate (what the other CPUs use, see `cpu_conv`) packs both operands again on
//! every call and has no epilogue: it cannot take weights packed once, and its bias and ReLU
//! were a second pass over the output.

use std::ops::Range;

/// Pixels per microkernel: four 16-lane registers.
pub const MR: usize = 64;
/// Output channels per microkernel.
pub const NR: usize = 6;
/// `k` per block: a 64 × 128 panel of `A` (32 KiB) stays in L1.
const KC: usize = 128;

/// A conv's `[c_out, k]` weights packed for the microkernel: channel groups of [`NR`], each
/// `[k][NR]` (the last group padded with zero rows).
#[derive(Clone, Debug)]
pub struct Packed {
    data: Vec<f32>,
    c_out: usize,
    k: usize,
}

/// Where a tile's product goes: a row-major output with row stride `ldc`, `ptr` at the tile's
/// first column of its first channel group's first row.
#[derive(Clone, Copy)]
pub struct Dst {
    pub ptr: *mut f32,
    pub ldc: usize,
}

impl Packed {
    /// The packed weights of the row-major `[c_out, k]` matrix, or `None` when this CPU has no
    /// AVX-512 (the caller keeps the `gemm` crate) or the sizes disagree.
    pub fn new(weight: &[f32], c_out: usize, k: usize) -> Option<Self> {
        if !available() || weight.len() != c_out * k || k == 0 {
            return None;
        }
        let groups = c_out.div_ceil(NR);
        let mut data = vec![0.0f32; groups * k * NR];
        for (g, block) in data.chunks_exact_mut(k * NR).enumerate() {
            for (r, row) in weight.chunks_exact(k).skip(g * NR).take(NR).enumerate() {
                for (kk, &w) in row.iter().enumerate() {
                    block[kk * NR + r] = w;
                }
            }
        }
        Some(Self { data, c_out, k })
    }

    /// The length of the weights' rows (`c_in·kh·kw`).
    pub fn k(&self) -> usize {
        self.k
    }

    /// The row-major `[c_out, k]` matrix back.
    pub fn unpack(&self) -> Vec<f32> {
        let mut weight = vec![0.0f32; self.c_out * self.k];
        for (o, row) in weight.chunks_exact_mut(self.k).enumerate() {
            let block = &self.data[(o / NR) * self.k * NR..];
            for (kk, w) in row.iter_mut().enumerate() {
                *w = block[kk * NR + o % NR];
            }
        }
        weight
    }

    /// How many groups of [`NR`] output channels.
    pub fn groups(&self) -> usize {
        self.c_out.div_ceil(NR)
    }

    /// Columns `0..width` of `A` times the channel groups `groups`, plus the bias (if any),
    /// then (`relu`) the ReLU as burn's computes it (negatives and −0 become 0, NaN stays):
    /// into `dst` from its column 0, its row 0 being the first of `groups`.
    ///
    /// # Safety
    /// `dst.ptr` must point to the first of `width` columns of a row-major buffer with row
    /// stride `dst.ldc` holding the groups' rows (`NR` each, fewer in the last group of the
    /// matrix; columns `0..width` of each in bounds), and no other thread may read or write
    /// those rows and columns meanwhile.
    #[allow(unsafe_code)]
    pub unsafe fn tile(
        &self,
        a: Operand,
        width: usize,
        groups: Range<usize>,
        dst: Dst,
        bias: Option<&[f32]>,
        relu: bool,
    ) {
        assert!(groups.end <= self.groups() && bias.is_none_or(|b| b.len() == self.c_out));
        let job = Job {
            width,
            groups,
            dst,
            bias,
            relu,
        };
        match a {
            Operand::Strided(a, lda) => {
                assert!(width <= lda && a.len() + lda >= self.k * lda + width);
                self.blocks(Strided(a.as_ptr(), lda), &job);
            }
            Operand::Gathered(a, offsets) => {
                assert!(offsets.len() == self.k);
                assert!(offsets.iter().all(|&o| o + width <= a.len()));
                self.blocks(Gathered(a.as_ptr(), offsets.as_ptr()), &job);
            }
        }
    }

    /// [`Self::tile`] once `A`'s rows are checked: `k` in blocks of [`KC`], each 64-pixel panel
    /// times every channel group.
    fn blocks<R: Rows>(&self, a: R, job: &Job) {
        let (k, dst) = (self.k, job.dst);
        for kb in (0..k).step_by(KC) {
            let kc = KC.min(k - kb);
            let step = Step {
                load: kb > 0,
                last: kb + kc == k,
                relu: job.relu,
            };
            for panel in (0..job.width).step_by(MR) {
                let pixels = MR.min(job.width - panel);
                let last_panel = panel + MR >= job.width;
                for g in job.groups.clone() {
                    let channels = NR.min(self.c_out - g * NR);
                    // The weights the next call reads (the next group's, or the first group's
                    // of the next `k` block), fetched ahead while this one runs: they come from
                    // memory, one stream per group.
                    let next = match (g + 1 < job.groups.end, last_panel) {
                        (true, _) => (g + 1) * k * NR + kb * NR,
                        (false, true) => job.groups.start * k * NR + (kb + KC) * NR,
                        (false, false) => usize::MAX,
                    };
                    let block = Block {
                        a,
                        rows: kb..kb + kc,
                        panel,
                        next: self.data.as_ptr().wrapping_add(next),
                        b: &self.data[g * k * NR + kb * NR..][..kc * NR],
                        // SAFETY: the group's `channels` rows and columns panel .. panel +
                        // pixels lie inside `dst` (the caller's contract).
                        #[allow(unsafe_code)]
                        c: unsafe { dst.ptr.add((g - job.groups.start) * NR * dst.ldc + panel) },
                        ldc: dst.ldc,
                        channels,
                        bias: job.bias.map(|b| &b[g * NR..g * NR + channels]),
                    };
                    // SAFETY: AVX-512 is present (`Packed` exists only then); `A`'s rows hold
                    // `panel + pixels` columns (checked in `tile`) and the output block is the
                    // caller's.
                    #[allow(unsafe_code)]
                    unsafe {
                        match pixels.div_ceil(16) {
                            _ if pixels == MR => kernel::<4, true, R>(&block, MR, step),
                            1 => kernel::<1, false, R>(&block, pixels, step),
                            2 => kernel::<2, false, R>(&block, pixels, step),
                            3 => kernel::<3, false, R>(&block, pixels, step),
                            _ => kernel::<4, false, R>(&block, pixels, step),
                        }
                    }
                }
            }
        }
    }
}

/// The `[k, width]` matrix `A` of a tile.
#[derive(Clone, Copy)]
pub enum Operand<'a> {
    /// Row-major with this row stride (an im2col tile, or a 1x1 conv's image).
    Strided(&'a [f32], usize),
    /// Row `kk` starts at `offsets[kk]` (a stride-1 conv read straight from its padded input:
    /// row `(c, i, j)` is the padded plane `c` shifted by `i` rows and `j` columns).
    Gathered(&'a [f32], &'a [usize]),
}

/// One tile's output side, for [`Packed::blocks`].
struct Job<'a> {
    width: usize,
    groups: Range<usize>,
    dst: Dst,
    bias: Option<&'a [f32]>,
    relu: bool,
}

/// Where row `kk` of `A` starts.
trait Rows: Copy {
    fn row(self, kk: usize) -> *const f32;
}

/// Rows `lda` apart.
#[derive(Clone, Copy)]
struct Strided(*const f32, usize);

/// Rows at their own offsets.
#[derive(Clone, Copy)]
struct Gathered(*const f32, *const usize);

impl Rows for Strided {
    #[inline(always)]
    fn row(self, kk: usize) -> *const f32 {
        self.0.wrapping_add(kk * self.1)
    }
}

impl Rows for Gathered {
    #[inline(always)]
    fn row(self, kk: usize) -> *const f32 {
        // SAFETY: `kk < k`, the offsets' length (checked in `Packed::tile`).
        #[allow(unsafe_code)]
        let offset = unsafe { *self.1.add(kk) };
        self.0.wrapping_add(offset)
    }
}

/// Whether this CPU runs the packed kernels.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// One microkernel's operands: rows `rows` of `A` from column `panel`, their `NR` packed
/// weights each, and the `channels × 64` block of the output.
struct Block<'a, R> {
    a: R,
    rows: Range<usize>,
    panel: usize,
    /// Weights to fetch into the cache meanwhile (any address: a prefetch never faults).
    next: *const f32,
    b: &'a [f32],
    c: *mut f32,
    ldc: usize,
    channels: usize,
    bias: Option<&'a [f32]>,
}

/// Which `k` block the kernel computes: each block sums from zero (shorter chains of rounding
/// than one running sum over all of `k`); `load` adds it to the output's partial sums, `last`
/// applies the bias and (`relu`) the ReLU.
#[derive(Clone, Copy)]
struct Step {
    load: bool,
    last: bool,
    relu: bool,
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(unsafe_code)]
unsafe fn kernel<const V: usize, const FULL: bool, R: Rows>(_: &Block<R>, _: usize, _: Step) {
    unreachable!("Packed exists only with AVX-512")
}

/// The microkernel: `16·V` pixels × 6 output channels in `6·V` registers. `FULL`: all 64
/// pixels (plain loads and stores); else the first `pixels` (≤ 16·V) through masks.
///
/// # Safety
/// AVX-512F must be present; each row of `block.rows` must be readable from column
/// `block.panel` over `pixels` columns, and `block.c` writable over `channels` rows of stride
/// `ldc` and the same columns.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[target_feature(enable = "avx512f")]
unsafe fn kernel<const V: usize, const FULL: bool, R: Rows>(
    block: &Block<R>,
    pixels: usize,
    step: Step,
) {
    use std::arch::x86_64::*;
    let masks: [u16; V] = std::array::from_fn(|j| {
        let n = pixels.saturating_sub(16 * j).min(16);
        ((1u32 << n) - 1) as u16
    });
    // SAFETY (every pointer access below): inside the regions the contract names; masked
    // accesses touch only the first `pixels` columns.
    unsafe {
        let load = |p: *const f32, j: usize| match FULL {
            true => _mm512_loadu_ps(p),
            false => _mm512_maskz_loadu_ps(masks[j], p),
        };
        let mut acc = [[_mm512_setzero_ps(); V]; NR];
        for (i, (kk, b)) in block.rows.clone().zip(block.b.chunks_exact(NR)).enumerate() {
            if i % 8 == 0 {
                // One 64-byte line ahead every 8 steps of 6 weights (48 values): the stream.
                _mm_prefetch::<_MM_HINT_T0>(block.next.wrapping_add(i * NR).cast());
                _mm_prefetch::<_MM_HINT_T0>(block.next.wrapping_add(i * NR + 16).cast());
                _mm_prefetch::<_MM_HINT_T0>(block.next.wrapping_add(i * NR + 32).cast());
            }
            let a = block.a.row(kk).add(block.panel);
            let x: [__m512; V] = std::array::from_fn(|j| load(a.add(16 * j), j));
            for (row, &w) in acc.iter_mut().zip(b) {
                let w = _mm512_set1_ps(w);
                for (v, &x) in row.iter_mut().zip(&x) {
                    *v = _mm512_fmadd_ps(x, w, *v);
                }
            }
        }
        let zero = _mm512_setzero_ps();
        for (r, row) in acc.iter().enumerate() {
            if r >= block.channels {
                break;
            }
            let bias = _mm512_set1_ps(block.bias.map_or(0.0, |b| b[r]));
            for (j, &v) in row.iter().enumerate() {
                let p = block.c.add(r * block.ldc + 16 * j);
                let mut v = v;
                if step.load {
                    v = _mm512_add_ps(load(p, j), v);
                }
                if step.last {
                    v = _mm512_add_ps(v, bias);
                    if step.relu {
                        let negative = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(v, zero);
                        v = _mm512_mask_blend_ps(negative, v, zero);
                    }
                }
                match FULL {
                    true => _mm512_storeu_ps(p, v),
                    false => _mm512_mask_storeu_ps(p, masks[j], v),
                }
            }
        }
    }
}
