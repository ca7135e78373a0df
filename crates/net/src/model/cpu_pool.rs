//! The CPU path's 3x3 pools (burn's `flex` device, no autodiff), as two separable passes per
//! channel plane (a 3-wide pass along each row, then a 3-tall pass over those rows) that the
//! compiler vectorises (for AVX-512 where the CPU has it: the same operations per element, so
//! the same bits, 16 lanes wide), runs of planes in parallel. burn-flex 0.22 pools with a
//! scalar loop per output element, which took a quarter of the CPU forward
//! (docs/PERFORMANCE.md). Max pools give the
//! same values bit for bit (a max is exact); average pools differ from burn's by float rounding
//! only (the same nine values, summed in another order).

use burn::tensor::Tensor;
use rayon::prelude::*;

use super::host::{HostView, tensor_like};

/// 3x3 stride-1 average pool padded by one; the divisor is 9, or the number of cells inside
/// the image when padding is not counted. `Err(x)` off the CPU path.
pub fn avg_pool_3x3_s1(x: Tensor<4>, counts_padding: bool) -> Result<Tensor<4>, Box<Tensor<4>>> {
    planes(x, Plane::Average { counts_padding })
}

/// 3x3 max pool, stride 2 without padding or stride 1 padded by one (padding never wins).
/// `Err(x)` off the CPU path.
pub fn max_pool_3x3(x: Tensor<4>, stride: usize) -> Result<Tensor<4>, Box<Tensor<4>>> {
    match stride {
        1 => planes(x, Plane::Max),
        2 => planes(x, Plane::MaxStride2),
        _ => Err(Box::new(x)),
    }
}

/// The gradient at a 3x3 stride-2 max pool's input: each window's gradient goes to its
/// argmax, the first maximum in row-major order (a NaN wins, the last one if several), as
/// burn's `max_pool2d_with_indices` picks it. `x` is the pool's input, `g` the gradient at its
/// output. `Err(g)` off the CPU path.
pub fn max_pool_3x3_s2_backward(x: &Tensor<4>, g: Tensor<4>) -> Result<Tensor<4>, Box<Tensor<4>>> {
    let [n, c, h, w] = x.dims();
    let expected = [n, c, (h.max(3) - 3) / 2 + 1, (w.max(3) - 3) / 2 + 1];
    if h < 3 || w < 3 || g.dims() != expected {
        return Err(Box::new(g));
    }
    planes_with_input(g, x, [h, w], |grad, src, dst| {
        max_plane_s2_backward(grad, src, dst, w)
    })
}

/// The gradient at a 3x3 stride-1 average pool's input (padded by one; the divisor counts
/// padded cells or not, as the forward did): each output's gradient, divided by its divisor,
/// spread over its window. `Err(g)` off the CPU path.
pub fn avg_pool_3x3_s1_backward(
    g: Tensor<4>,
    counts_padding: bool,
) -> Result<Tensor<4>, Box<Tensor<4>>> {
    planes(g, Plane::AverageBackward { counts_padding })
}

/// Run `plane(grad, input, dst)` over every plane of the gradient `g` (at a pool's output) and
/// of the pool's input `x` (`[h, w]` planes), giving the gradient at the input.
fn planes_with_input(
    g: Tensor<4>,
    x: &Tensor<4>,
    [h, w]: [usize; 2],
    plane: impl Fn(&[f32], &[f32], &mut [f32]) + Sync,
) -> Result<Tensor<4>, Box<Tensor<4>>> {
    let [n, c, ho, wo] = g.dims();
    let serve = |t: &Tensor<4>| crate::model::cpu_kernels_serve(&t.device());
    if !serve(&g) || !serve(x) {
        return Err(Box::new(g));
    }
    let (Some(grad), Some(src)) = (HostView::of(&g), HostView::of(x)) else {
        return Err(Box::new(g));
    };
    let mut out = vec![0.0f32; n * c * h * w];
    out.par_chunks_mut(h * w)
        .zip(src.values().par_chunks(h * w))
        .zip(grad.values().par_chunks(ho * wo))
        .for_each(|((dst, src), grad)| plane(grad, src, dst));
    Ok(tensor_like(&g, out, [n, c, h, w]))
}

fn max_plane_s2_backward(grad: &[f32], src: &[f32], dst: &mut [f32], w: usize) {
    let wo = (w - 3) / 2 + 1;
    for (y, row) in grad.chunks_exact(wo).enumerate() {
        for (x, &gv) in row.iter().enumerate() {
            let mut best = (2 * y) * w + 2 * x;
            for i in 0..3 {
                for j in 0..3 {
                    let at = (2 * y + i) * w + 2 * x + j;
                    if src[at] > src[best] || src[at].is_nan() {
                        best = at;
                    }
                }
            }
            dst[best] += gv;
        }
    }
}

#[inline(always)]
fn avg_plane_backward(
    grad: &[f32],
    dst: &mut [f32],
    [h, w]: [usize; 2],
    counts_padding: bool,
    scratch: &mut Scratch,
) {
    // Each output's share per input cell: its gradient over its divisor.
    let span = |i: usize, n: usize| if i == 0 || i == n - 1 { 2.0 } else { 3.0 };
    let mut share = std::mem::take(&mut scratch.share);
    share.clear();
    share.extend_from_slice(grad);
    if counts_padding {
        share.iter_mut().for_each(|v| *v /= 9.0);
    } else {
        for (y, row) in share.chunks_exact_mut(w).enumerate() {
            for (x, v) in row.iter_mut().enumerate() {
                *v /= span(y, h) * span(x, w);
            }
        }
    }
    // Every input cell gathers the shares of the (up to) nine windows that hold it: the same
    // 3x3 box sum as the forward's.
    box_sums(&share, dst, [h, w], &mut scratch.rows);
    scratch.share = share;
}

/// A run of planes' buffers, kept from plane to plane.
#[derive(Default)]
struct Scratch {
    /// The horizontal pass's output.
    rows: Vec<f32>,
    /// An average pool's divisors, as factors per cell (`[h, w]`).
    factors: Vec<f32>,
    /// The average pool backward's shares.
    share: Vec<f32>,
}

/// `dst` = each cell's sum over its 3x3 neighbourhood in `src` (cells outside count as zero);
/// `rows` holds the row sums between.
#[inline(always)]
fn box_sums(src: &[f32], dst: &mut [f32], [h, w]: [usize; 2], rows: &mut Vec<f32>) {
    let add = |a: f32, b: f32| a + b;
    rows.resize(h * w, 0.0);
    horizontal_3(src, w, rows, add);
    vertical_3(rows, dst, [h, w], add);
}

/// `out[i] = f(f(a[i], b[i]), c[i])` over slices of one length (a loop that vectorises).
#[inline(always)]
fn three(out: &mut [f32], a: &[f32], b: &[f32], c: &[f32], f: impl Fn(f32, f32) -> f32) {
    for (o, ((x, y), z)) in out.iter_mut().zip(a.iter().zip(b).zip(c)) {
        *o = f(f(*x, *y), *z);
    }
}

/// `out[i] = f(a[i], b[i])`.
#[inline(always)]
fn two(out: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) {
    for (o, (x, y)) in out.iter_mut().zip(a.iter().zip(b)) {
        *o = f(*x, *y);
    }
}

/// The 3-wide pass over a whole plane (rows `w` long): `f(f(left, centre), right)`, the
/// neighbours outside the row left out, computed as one run over the plane and each row's two
/// ends redone.
#[inline(always)]
fn horizontal_3(src: &[f32], w: usize, rows: &mut [f32], f: impl Fn(f32, f32) -> f32) {
    let n = src.len();
    three(
        &mut rows[1..n - 1],
        &src[..n - 2],
        &src[1..n - 1],
        &src[2..],
        &f,
    );
    for (s, r) in src.chunks_exact(w).zip(rows.chunks_exact_mut(w)) {
        r[0] = f(s[0], s[1]);
        r[w - 1] = f(s[w - 2], s[w - 1]);
    }
}

/// The 3-tall pass (`h ≥ 2`): `dst` row `y` = `f(f(rows[y], rows[y − 1]), rows[y + 1])`, the
/// rows outside the plane left out.
#[inline(always)]
fn vertical_3(rows: &[f32], dst: &mut [f32], [h, w]: [usize; 2], f: impl Fn(f32, f32) -> f32) {
    let n = h * w;
    two(&mut dst[..w], &rows[..w], &rows[w..2 * w], &f);
    if h > 2 {
        let (mid, up, down) = (&rows[w..n - w], &rows[..n - 2 * w], &rows[2 * w..]);
        three(&mut dst[w..n - w], mid, up, down, &f);
    }
    two(
        &mut dst[n - w..],
        &rows[n - w..],
        &rows[n - 2 * w..n - w],
        &f,
    );
}

/// Input values per parallel task: runs of whole planes, so that a 17x17 or 8x8 layer is not
/// thousands of tasks of a few hundred values.
const TASK_VALUES: usize = 1 << 14;

/// What one plane of a pool (or of an average pool's backward) computes.
#[derive(Clone, Copy)]
enum Plane {
    Average { counts_padding: bool },
    AverageBackward { counts_padding: bool },
    Max,
    MaxStride2,
}

impl Plane {
    /// The output plane's size for an `[h, w]` input (`h, w ≥ 3`).
    fn out_size(self, [h, w]: [usize; 2]) -> [usize; 2] {
        match self {
            Self::MaxStride2 => [(h - 3) / 2 + 1, (w - 3) / 2 + 1],
            _ => [h, w],
        }
    }

    /// One plane: `dst` from `src` (`[h, w]`).
    #[inline(always)]
    fn run(self, src: &[f32], dst: &mut [f32], hw: [usize; 2], scratch: &mut Scratch) {
        match self {
            Self::Average { counts_padding } => avg_plane(src, dst, hw, counts_padding, scratch),
            Self::AverageBackward { counts_padding } => {
                avg_plane_backward(src, dst, hw, counts_padding, scratch)
            }
            Self::Max => max_plane_s1(src, dst, hw, &mut scratch.rows),
            Self::MaxStride2 => max_plane_s2(src, dst, hw, &mut scratch.rows),
        }
    }

    /// Planes one after another (`src` and `dst` hold whole planes).
    #[inline(always)]
    fn run_all(self, src: &[f32], dst: &mut [f32], [h, w]: [usize; 2]) {
        let [ho, wo] = self.out_size([h, w]);
        let mut scratch = Scratch::default();
        if let Self::Average {
            counts_padding: false,
        } = self
        {
            scratch.factors = divisor_factors([h, w]);
        }
        for (dst, src) in dst.chunks_exact_mut(ho * wo).zip(src.chunks_exact(h * w)) {
            self.run(src, dst, [h, w], &mut scratch);
        }
    }

    /// [`Plane::run_all`], compiled for AVX-512 where this CPU has it: its loops vectorise 16
    /// lanes wide, each element computed by the same operations (the same bits) either way.
    fn run_wide(self, src: &[f32], dst: &mut [f32], hw: [usize; 2]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F is present (checked just above).
            #[allow(unsafe_code)]
            unsafe {
                self.run_avx512(src, dst, hw)
            };
            return;
        }
        self.run_all(src, dst, hw)
    }

    /// # Safety
    /// The CPU must have AVX-512F.
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx512f")]
    unsafe fn run_avx512(self, src: &[f32], dst: &mut [f32], hw: [usize; 2]) {
        self.run_all(src, dst, hw)
    }
}

/// `plane` over every `[h, w]` plane of `x`, runs of planes in parallel.
fn planes(x: Tensor<4>, plane: Plane) -> Result<Tensor<4>, Box<Tensor<4>>> {
    let [n, c, h, w] = x.dims();
    if !crate::model::cpu_kernels_serve(&x.device()) || h < 3 || w < 3 {
        return Err(Box::new(x));
    }
    let [ho, wo] = plane.out_size([h, w]);
    let Some(view) = HostView::of(&x) else {
        return Err(Box::new(x));
    };
    let mut out = vec![0.0f32; n * c * ho * wo];
    let per = (TASK_VALUES / (h * w)).max(1);
    out.par_chunks_mut(per * ho * wo)
        .zip(view.values().par_chunks(per * h * w))
        .for_each(|(dst, src)| plane.run_wide(src, dst, [h, w]));
    Ok(tensor_like(&x, out, [n, c, ho, wo]))
}

/// Each cell's factor `1 / span_y · 1 / span_x` of an average pool that does not count the
/// padding, as `(1 / span_y) · (1 / span_x)` (cells inside the image along an axis: 2 at
/// either edge, 3 inside).
fn divisor_factors([h, w]: [usize; 2]) -> Vec<f32> {
    let span = |i: usize, n: usize| if i == 0 || i == n - 1 { 2.0f32 } else { 3.0 };
    let inv_w: Vec<f32> = (0..w).map(|x| 1.0 / span(x, w)).collect();
    (0..h)
        .flat_map(|y| {
            let inv_h = 1.0 / span(y, h);
            inv_w.iter().map(move |iw| inv_h * iw)
        })
        .collect()
}

#[inline(always)]
fn avg_plane(
    src: &[f32],
    dst: &mut [f32],
    [h, w]: [usize; 2],
    counts_padding: bool,
    scratch: &mut Scratch,
) {
    box_sums(src, dst, [h, w], &mut scratch.rows);
    if counts_padding {
        dst.iter_mut().for_each(|o| *o /= 9.0);
    } else {
        for (o, f) in dst.iter_mut().zip(&scratch.factors) {
            *o *= f;
        }
    }
}

#[inline(always)]
fn max_plane_s1(src: &[f32], dst: &mut [f32], [h, w]: [usize; 2], rows: &mut Vec<f32>) {
    rows.resize(h * w, 0.0);
    horizontal_3(src, w, rows, f32::max);
    vertical_3(rows, dst, [h, w], f32::max);
}

/// The 3x3 stride-2 max: per output row, the three input rows' maximum along columns, then
/// that of every window of three along it (runs that vectorise), of which every other one is
/// an output. The maximum of the same nine values in another order: the same value.
#[inline(always)]
fn max_plane_s2(src: &[f32], dst: &mut [f32], [_, w]: [usize; 2], scratch: &mut Vec<f32>) {
    let wo = (w - 3) / 2 + 1;
    let ho = dst.len() / wo;
    scratch.resize(2 * w, 0.0);
    let (column, windows) = scratch.split_at_mut(w);
    for (y, out) in dst.chunks_exact_mut(wo).enumerate().take(ho) {
        let row = |i: usize| &src[(2 * y + i) * w..(2 * y + i + 1) * w];
        three(column, row(0), row(1), row(2), f32::max);
        let windows = &mut windows[..w - 2];
        three(
            windows,
            &column[..w - 2],
            &column[1..w - 1],
            &column[2..],
            f32::max,
        );
        for (o, m) in out.iter_mut().zip(windows.iter().step_by(2)) {
            *o = *m;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use burn::tensor::module::{avg_pool2d, max_pool2d};
    use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};
    use burn::tensor::{Device, Distribution};

    use super::*;

    fn host(t: Tensor<4>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    }

    fn worst(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
    }

    /// Odd and even sizes, a batch of two, a map barely larger than the window.
    const SHAPES: [[usize; 4]; 5] = [
        [1, 3, 35, 35],
        [2, 4, 17, 16],
        [1, 2, 8, 8],
        [1, 5, 3, 4],
        [1, 1, 147, 147],
    ];

    /// Against burn's own pools, on every shape, both pad semantics.
    #[test]
    fn equal_burn_pools() {
        let device = Device::flex();
        for [n, c, h, w] in SHAPES {
            let x = Tensor::<4>::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &device);
            for counts in [true, false] {
                let opts = AvgPoolOptions::new([3, 3])
                    .with_stride([1, 1])
                    .with_padding([1, 1])
                    .with_count_include_pad(counts);
                let expected = host(avg_pool2d(x.clone(), opts));
                let got = host(avg_pool_3x3_s1(x.clone(), counts).unwrap());
                assert!(
                    worst(&got, &expected) < 1e-6,
                    "avg {n}x{c}x{h}x{w} counts {counts}"
                );
            }
            let s1 = MaxPoolOptions::new([3, 3])
                .with_stride([1, 1])
                .with_padding([1, 1]);
            let got = max_pool_3x3(x.clone(), 1).unwrap();
            assert_eq!(
                host(got),
                host(max_pool2d(x.clone(), s1)),
                "max/1 {n}x{c}x{h}x{w}"
            );
            let s2 = MaxPoolOptions::new([3, 3]).with_stride([2, 2]);
            let expected = max_pool2d(x.clone(), s2);
            let got = max_pool_3x3(x, 2).unwrap();
            assert_eq!(got.dims(), expected.dims());
            assert_eq!(host(got), host(expected), "max/2 {n}x{c}x{h}x{w}");
        }
    }

    /// The backward kernels against burn's own pool backward ops.
    #[test]
    fn backward_equals_burn_pool_backward() {
        use burn::tensor::module::{
            avg_pool2d_backward, max_pool2d_with_indices, max_pool2d_with_indices_backward,
        };
        let device = Device::flex();
        for [n, c, h, w] in SHAPES {
            let normal = Distribution::Normal(0.0, 1.0);
            let x = Tensor::<4>::random([n, c, h, w], normal, &device);
            // Ties as after a ReLU: a third of the values exactly zero.
            let x = x.clone().mask_fill(x.lower_elem(-0.43), 0.0);
            for counts in [true, false] {
                let g = Tensor::<4>::random([n, c, h, w], normal, &device);
                let expected = avg_pool2d_backward(
                    x.clone(),
                    g.clone(),
                    [3, 3],
                    [1, 1],
                    [1, 1],
                    counts,
                    false,
                );
                let got = avg_pool_3x3_s1_backward(g, counts).unwrap();
                assert!(
                    worst(&host(got), &host(expected)) < 1e-6,
                    "avg backward {n}x{c}x{h}x{w} counts {counts}"
                );
            }
            let s2 = MaxPoolOptions::new([3, 3]).with_stride([2, 2]);
            let (pooled, indices) = max_pool2d_with_indices(x.clone(), s2);
            let g = Tensor::<4>::random(pooled.dims(), normal, &device);
            let expected = max_pool2d_with_indices_backward(
                x.clone(),
                [3, 3],
                [2, 2],
                [0, 0],
                [1, 1],
                false,
                g.clone(),
                indices,
            );
            let got = max_pool_3x3_s2_backward(&x, g).unwrap();
            assert!(
                worst(&host(got), &host(expected)) < 1e-6,
                "max backward {n}x{c}x{h}x{w}"
            );
        }
    }

    #[test]
    fn leave_other_devices_and_sizes_to_burn() {
        let device = Device::flex();
        let small = Tensor::<4>::zeros([1, 2, 2, 5], &device);
        assert!(avg_pool_3x3_s1(small.clone(), true).is_err());
        assert!(max_pool_3x3(small, 2).is_err());
        let autodiff = Tensor::<4>::zeros([1, 2, 5, 5], &device.autodiff());
        assert!(max_pool_3x3(autodiff, 1).is_err());
    }
}
