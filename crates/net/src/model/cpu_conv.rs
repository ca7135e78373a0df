//! The CPU path's convolution (burn's `flex` device, no autodiff): a folded conv as one GEMM per
//! image, `out[c_out, h·w] = W[c_out, c_in·kh·kw] · col[c_in·kh·kw, h·w] + bias`.
//!
//! burn-flex 0.22's generic convolution re-lays the weights out and converts the input to NHWC
//! on every call, single-threaded, then scatters the GEMM's result back to NCHW
//! (docs/PERFORMANCE.md). Here the weights stay as loaded (OIHW is already the `[c_out, K]`
//! matrix), the im2col rows are built in parallel straight from NCHW, the GEMM (the `gemm` crate
//! burn-flex itself uses) writes NCHW directly and starts from the bias. Everything else (pools,
//! concatenation, ReLU, the taps) stays burn's.

use std::ops::Range;
use std::sync::Arc;

use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

/// A folded conv's weights and geometry, on the host.
#[derive(Clone, Debug)]
pub struct CpuConv {
    /// OIHW weights: row `o` of the `[c_out, c_in·kh·kw]` matrix.
    weight: Arc<Vec<f32>>,
    /// One bias per output channel.
    bias: Arc<Vec<f32>>,
    /// `[c_out, c_in, kh, kw]`.
    dims: [usize; 4],
    stride: [usize; 2],
    padding: [usize; 2],
}

/// Where one output row of the im2col matrix reads from.
struct Geometry {
    h: usize,
    w: usize,
    ho: usize,
    wo: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
}

impl CpuConv {
    /// From folded OIHW weights `[c_out, c_in, kh, kw]` and their bias. `None` when the sizes
    /// disagree (the caller then keeps burn's conv).
    pub fn new(
        weight: Vec<f32>,
        bias: Vec<f32>,
        dims: [usize; 4],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> Option<Self> {
        let [c_out, c_in, kh, kw] = dims;
        let ok = weight.len() == c_out * c_in * kh * kw
            && bias.len() == c_out
            && stride.iter().all(|&s| s > 0)
            && kh * kw > 0;
        ok.then(|| Self {
            weight: Arc::new(weight),
            bias: Arc::new(bias),
            dims,
            stride,
            padding,
        })
    }

    /// The conv of `x` (NCHW, float32, on the flex device). Gives `x` back untouched (`Err`)
    /// when its channels or dtype do not fit.
    pub fn forward(&self, x: Tensor<4>) -> Result<Tensor<4>, Box<Tensor<4>>> {
        let [n, c, h, w] = x.dims();
        let [c_out, c_in, kh, kw] = self.dims;
        let [sh, sw] = self.stride;
        let [ph, pw] = self.padding;
        if c != c_in || h + 2 * ph < kh || w + 2 * pw < kw {
            return Err(Box::new(x));
        }
        let device = x.device();
        let data = x.into_data();
        let Ok(xs) = data.as_slice::<f32>() else {
            return Err(Box::new(Tensor::from_data(data, &device)));
        };
        let g = Geometry {
            h,
            w,
            ho: (h + 2 * ph - kh) / sh + 1,
            wo: (w + 2 * pw - kw) / sw + 1,
            kernel: [kh, kw],
            stride: self.stride,
            padding: self.padding,
        };
        let mut out = vec![0.0f32; n * c_out * g.ho * g.wo];
        for (image, out) in xs
            .chunks_exact(c * h * w)
            .zip(out.chunks_exact_mut(c_out * g.ho * g.wo))
        {
            self.conv_image(image, out, &g);
        }
        let out = TensorData::new(out, [n, c_out, g.ho, g.wo]);
        Ok(Tensor::from_data(out, &device))
    }

    /// One image: `out` starts as the bias, then takes `W · col`, tile by tile.
    fn conv_image(&self, image: &[f32], out: &mut [f32], g: &Geometry) {
        let [c_out, c_in, kh, kw] = self.dims;
        let (hw, k) = (g.ho * g.wo, c_in * kh * kw);
        out.par_chunks_mut(hw)
            .zip(self.bias.par_iter())
            .for_each(|(row, &b)| row.fill(b));
        let dst = OutPtr(out.as_mut_ptr());
        let pointwise = kh == 1 && kw == 1 && g.stride == [1, 1] && g.padding == [0, 0];
        if pointwise {
            // The image is already the [c_in, h·w] matrix.
            gemm_into(dst, hw, &self.weight, image, [c_out, k, hw], 0..hw, true);
            return;
        }
        // Tiles of output pixels whose im2col block stays in cache; many tiles run in parallel
        // with one thread per GEMM, a few run one after another with a parallel GEMM.
        let tile = (TILE_ELEMENTS / k).max(16).min(hw);
        let tiles = hw.div_ceil(tile);
        let columns = |t: usize| t * tile..((t + 1) * tile).min(hw);
        if tiles >= 2 * rayon::current_num_threads() {
            (0..tiles)
                .into_par_iter()
                .for_each_init(Vec::new, |col: &mut Vec<f32>, t| {
                    let cols = columns(t);
                    col.resize(k * cols.len(), 0.0);
                    im2col(image, g, cols.clone(), col);
                    gemm_into(dst, hw, &self.weight, col, [c_out, k, hw], cols, false);
                });
        } else {
            let mut col = Vec::new();
            for t in 0..tiles {
                let cols = columns(t);
                col.resize(k * cols.len(), 0.0);
                im2col(image, g, cols.clone(), &mut col);
                gemm_into(dst, hw, &self.weight, &col, [c_out, k, hw], cols, true);
            }
        }
    }
}

/// im2col elements per tile: 256 KiB of f32, about a core's share of L2.
const TILE_ELEMENTS: usize = 1 << 16;

/// The output of one image, written by several threads at once, each in its own columns.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);

impl OutPtr {
    /// The pointer (a method, so closures capture the whole `Send + Sync` wrapper).
    fn get(self) -> *mut f32 {
        self.0
    }
}

// SAFETY: an `OutPtr` points into one `&mut [f32]` that outlives every thread using it (the
// parallel loops end before `conv_image` returns), and concurrent users write disjoint column
// ranges of its rows (`gemm_into`).
#[allow(unsafe_code)]
unsafe impl Send for OutPtr {}
#[allow(unsafe_code)]
unsafe impl Sync for OutPtr {}

/// Columns `cols` of the im2col matrix: `col[(c, i, j), p − cols.start] =
/// image[c, y·sh + i − ph, x·sw + j − pw]` for output pixel `p = y·wo + x` (zero outside).
fn im2col(image: &[f32], g: &Geometry, cols: Range<usize>, col: &mut [f32]) {
    let [kh, kw] = g.kernel;
    let n = cols.len();
    for (row, dst) in col.chunks_exact_mut(n).enumerate() {
        let (c, i, j) = (row / (kh * kw), (row / kw) % kh, row % kw);
        let plane = &image[c * g.h * g.w..(c + 1) * g.h * g.w];
        let mut p = cols.start;
        while p < cols.end {
            let (y, x0) = (p / g.wo, p % g.wo);
            let len = (g.wo - x0).min(cols.end - p);
            let seg = &mut dst[p - cols.start..p - cols.start + len];
            let iy = (y * g.stride[0] + i).checked_sub(g.padding[0]);
            match iy.filter(|&iy| iy < g.h) {
                Some(iy) => fill_segment(seg, &plane[iy * g.w..(iy + 1) * g.w], j, x0, g),
                None => seg.fill(0.0),
            }
            p += len;
        }
    }
}

/// Output pixels `x0 ..` of one output row from one input row: `dst[t] = src[(x0 + t)·sw + j −
/// pw]`, zero where that falls in the padding.
fn fill_segment(dst: &mut [f32], src: &[f32], j: usize, x0: usize, g: &Geometry) {
    let (sw, pw) = (g.stride[1], g.padding[1]);
    if sw == 1 {
        // x0 + t + j − pw within [0, w): a contiguous copy with zeros either side.
        let first = pw.saturating_sub(x0 + j).min(dst.len());
        let last = (g.w + pw).saturating_sub(x0 + j).min(dst.len()).max(first);
        dst[..first].fill(0.0);
        if last > first {
            // first ≥ pw − (x0 + j) here, so the start is not negative.
            let start = x0 + first + j - pw;
            dst[first..last].copy_from_slice(&src[start..start + (last - first)]);
        }
        dst[last..].fill(0.0);
        return;
    }
    for (t, d) in dst.iter_mut().enumerate() {
        *d = ((x0 + t) * sw + j)
            .checked_sub(pw)
            .and_then(|ix| src.get(ix))
            .copied()
            .unwrap_or(0.0);
    }
}

/// `dst[:, cols] += lhs · rhs`: `lhs` is `[m, k]`, `rhs` the dense `[k, cols.len()]` block of
/// those columns, `dst` the `[m, n]` output (row stride `n`). `parallel`: split the GEMM over
/// rayon's threads (otherwise the caller's thread alone).
fn gemm_into(
    dst: OutPtr,
    n: usize,
    lhs: &[f32],
    rhs: &[f32],
    [m, k, _]: [usize; 3],
    cols: Range<usize>,
    parallel: bool,
) {
    let width = cols.len();
    assert!(lhs.len() == m * k && rhs.len() == k * width && cols.end <= n);
    let parallelism = if parallel && m * width * k >= 1 << 20 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: `lhs` and `rhs` are dense row-major `[m, k]` and `[k, width]` matrices (sizes
    // asserted above). `dst` points to an `[m, n]` row-major buffer (`conv_image`'s `out`, of
    // exactly `m·n` elements); this call writes its `m × width` block at column `cols.start`,
    // inside the buffer since `cols.end ≤ n`, and no other thread touches those columns
    // meanwhile (the tiles' column ranges are disjoint). `lhs` / `rhs` never alias `dst`.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            width,
            k,
            dst.get().add(cols.start),
            1,
            n as isize,
            true,
            lhs.as_ptr(),
            1,
            k as isize,
            rhs.as_ptr(),
            1,
            width as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use burn::tensor::module::conv2d;
    use burn::tensor::ops::ConvOptions;
    use burn::tensor::{Device, Distribution, Tensor};

    use super::*;

    fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    }

    /// Every geometry Inception-V3 has (and a batch of two) against burn's own conv2d.
    #[test]
    fn equals_burn_conv2d_for_every_inception_geometry() {
        let device = Device::flex();
        assert!(crate::model::cpu_kernels_serve(&device));
        assert!(!crate::model::cpu_kernels_serve(&device.clone().autodiff()));
        // (c_in, c_out, [kh, kw], stride, [ph, pw], [h, w], batch)
        let cases = [
            (3, 8, [3, 3], 2, [0, 0], [17, 19], 1),
            (8, 16, [3, 3], 1, [1, 1], [9, 9], 1),
            (8, 12, [1, 7], 1, [0, 3], [11, 10], 1),
            (8, 12, [7, 1], 1, [3, 0], [10, 11], 2),
            (16, 8, [1, 1], 1, [0, 0], [7, 7], 2),
            (6, 5, [5, 5], 1, [2, 2], [8, 9], 1),
            (4, 6, [1, 3], 1, [0, 1], [5, 5], 1),
            (4, 6, [3, 1], 1, [1, 0], [5, 5], 1),
            (4, 6, [3, 3], 2, [0, 0], [8, 8], 2),
            // k = 576: tiles of 113 pixels, 8 tiles (in parallel) and 2 (one after another).
            (64, 24, [3, 3], 1, [1, 1], [30, 30], 1),
            (64, 24, [3, 3], 1, [1, 1], [15, 15], 1),
            (64, 24, [3, 3], 2, [0, 0], [61, 59], 2),
            (96, 20, [1, 7], 1, [0, 3], [29, 31], 1),
        ];
        for (c_in, c_out, [kh, kw], s, [ph, pw], [h, w], n) in cases {
            let normal = Distribution::Normal(0.0, 1.0);
            let x = Tensor::<4>::random([n, c_in, h, w], normal, &device);
            let wt = Tensor::<4>::random([c_out, c_in, kh, kw], normal, &device);
            let b = Tensor::<1>::random([c_out], normal, &device);
            let options = ConvOptions::new([s, s], [ph, pw], [1, 1], 1);
            let expected = conv2d(x.clone(), wt.clone(), Some(b.clone()), options);
            let cpu =
                CpuConv::new(host(wt), host(b), [c_out, c_in, kh, kw], [s, s], [ph, pw]).unwrap();
            let got = cpu.forward(x).unwrap();
            assert_eq!(got.dims(), expected.dims(), "{c_in}->{c_out} {kh}x{kw}/{s}");
            let (got, expected) = (host(got), host(expected));
            let worst = got
                .iter()
                .zip(&expected)
                .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                worst < 1e-4,
                "{c_in}->{c_out} {kh}x{kw}/{s} pad {ph},{pw}: {worst}"
            );
        }
    }

    #[test]
    fn gives_the_input_back_when_it_does_not_fit() {
        let device = Device::flex();
        let cpu = CpuConv::new(
            vec![0.0; 2 * 3 * 9],
            vec![0.0; 2],
            [2, 3, 3, 3],
            [1, 1],
            [0, 0],
        )
        .unwrap();
        let x = Tensor::<4>::zeros([1, 4, 5, 5], &device);
        assert_eq!(cpu.forward(x).unwrap_err().dims(), [1, 4, 5, 5]);
        let small = Tensor::<4>::zeros([1, 3, 2, 2], &device);
        assert!(cpu.forward(small).is_err());
        assert!(CpuConv::new(vec![0.0; 5], vec![0.0; 2], [2, 3, 3, 3], [1, 1], [0, 0]).is_none());
    }
}
