//! The CPU path's 3x3 pools (burn's `flex` device, no autodiff), as two separable passes per
//! channel plane (a 3-wide pass along each row, then a 3-tall pass over those rows) that the
//! compiler vectorises, planes in parallel. burn-flex 0.22 pools with a scalar loop per output
//! element, which took a quarter of the CPU forward (docs/PERFORMANCE.md). Max pools give the
//! same values bit for bit (a max is exact); average pools differ from burn's by float rounding
//! only (the same nine values, summed in another order).

use burn::tensor::Tensor;
use rayon::prelude::*;

use super::host::{HostView, tensor_like};

/// 3x3 stride-1 average pool padded by one; the divisor is 9, or the number of cells inside
/// the image when padding is not counted. `Err(x)` off the CPU path.
pub fn avg_pool_3x3_s1(x: Tensor<4>, counts_padding: bool) -> Result<Tensor<4>, Box<Tensor<4>>> {
    planes(
        x,
        |[h, w]| [h, w],
        |src, dst, [h, w]| avg_plane(src, dst, [h, w], counts_padding),
    )
}

/// 3x3 max pool, stride 2 without padding or stride 1 padded by one (padding never wins).
/// `Err(x)` off the CPU path.
pub fn max_pool_3x3(x: Tensor<4>, stride: usize) -> Result<Tensor<4>, Box<Tensor<4>>> {
    match stride {
        1 => planes(x, |[h, w]| [h, w], max_plane_s1),
        2 => planes(
            x,
            |[h, w]| [(h.max(3) - 3) / 2 + 1, (w.max(3) - 3) / 2 + 1],
            max_plane_s2,
        ),
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
    planes(
        g,
        |[h, w]| [h, w],
        |src, dst, [h, w]| avg_plane_backward(src, dst, [h, w], counts_padding),
    )
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

fn avg_plane_backward(grad: &[f32], dst: &mut [f32], [h, w]: [usize; 2], counts_padding: bool) {
    // Each output's share per input cell: its gradient over its divisor.
    let span = |i: usize, n: usize| if i == 0 || i == n - 1 { 2.0 } else { 3.0 };
    let mut share = grad.to_vec();
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
    box_sums(&share, dst, [h, w], |_, _| {});
}

/// `dst` = each cell's sum over its 3x3 neighbourhood in `src` (cells outside count as zero),
/// then `finish(y, row)` on each finished output row.
fn box_sums(src: &[f32], dst: &mut [f32], [h, w]: [usize; 2], finish: impl Fn(usize, &mut [f32])) {
    let mut rows = vec![0.0f32; h * w];
    row_sums(src, w, &mut rows);
    vertical_3(&rows, dst, [h, w], |a, b| a + b, finish);
}

/// The 3-tall pass: `dst` row `y` = `combine` of `rows` `y − 1`, `y`, `y + 1` (those inside),
/// then `finish(y, row)`.
fn vertical_3(
    rows: &[f32],
    dst: &mut [f32],
    [h, w]: [usize; 2],
    combine: impl Fn(f32, f32) -> f32,
    finish: impl Fn(usize, &mut [f32]),
) {
    for (y, out) in dst.chunks_exact_mut(w).enumerate() {
        out.copy_from_slice(&rows[y * w..(y + 1) * w]);
        let up = y.checked_sub(1).map(|u| &rows[u * w..(u + 1) * w]);
        let down = (y + 1 < h).then(|| &rows[(y + 1) * w..(y + 2) * w]);
        for neighbour in [up, down].into_iter().flatten() {
            for (o, v) in out.iter_mut().zip(neighbour) {
                *o = combine(*o, *v);
            }
        }
        finish(y, out);
    }
}

/// Run `plane(src, dst, [h, w])` over every `[h, w]` plane of `x` in parallel.
fn planes(
    x: Tensor<4>,
    out_size: impl Fn([usize; 2]) -> [usize; 2],
    plane: impl Fn(&[f32], &mut [f32], [usize; 2]) + Sync,
) -> Result<Tensor<4>, Box<Tensor<4>>> {
    let [n, c, h, w] = x.dims();
    if !crate::model::cpu_kernels_serve(&x.device()) || h < 3 || w < 3 {
        return Err(Box::new(x));
    }
    let [ho, wo] = out_size([h, w]);
    let Some(view) = HostView::of(&x) else {
        return Err(Box::new(x));
    };
    let mut out = vec![0.0f32; n * c * ho * wo];
    out.par_chunks_mut(ho * wo)
        .zip(view.values().par_chunks(h * w))
        .for_each(|(dst, src)| plane(src, dst, [h, w]));
    Ok(tensor_like(&x, out, [n, c, ho, wo]))
}

/// Sums of three neighbours along each row (missing neighbours count as zero).
fn row_sums(src: &[f32], w: usize, rows: &mut [f32]) {
    for (s, r) in src.chunks_exact(w).zip(rows.chunks_exact_mut(w)) {
        r[0] = s[0] + s[1];
        for x in 1..w - 1 {
            r[x] = s[x - 1] + s[x] + s[x + 1];
        }
        r[w - 1] = s[w - 2] + s[w - 1];
    }
}

fn avg_plane(src: &[f32], dst: &mut [f32], [h, w]: [usize; 2], counts_padding: bool) {
    // Cells inside the image along one axis: 2 at either edge, 3 inside.
    let span = |i: usize, n: usize| if i == 0 || i == n - 1 { 2.0 } else { 3.0 };
    let inv_w: Vec<f32> = (0..w).map(|x| 1.0 / span(x, w)).collect();
    box_sums(src, dst, [h, w], |y, out| {
        if counts_padding {
            out.iter_mut().for_each(|o| *o /= 9.0);
        } else {
            let inv_h = 1.0 / span(y, h);
            for (o, iw) in out.iter_mut().zip(&inv_w) {
                *o *= inv_h * iw;
            }
        }
    });
}

fn max_plane_s1(src: &[f32], dst: &mut [f32], [h, w]: [usize; 2]) {
    let mut rows = vec![0.0f32; h * w];
    for (s, r) in src.chunks_exact(w).zip(rows.chunks_exact_mut(w)) {
        r[0] = s[0].max(s[1]);
        for x in 1..w - 1 {
            r[x] = s[x - 1].max(s[x]).max(s[x + 1]);
        }
        r[w - 1] = s[w - 2].max(s[w - 1]);
    }
    vertical_3(&rows, dst, [h, w], f32::max, |_, _| {});
}

fn max_plane_s2(src: &[f32], dst: &mut [f32], [_, w]: [usize; 2]) {
    let wo = (w - 3) / 2 + 1;
    let ho = dst.len() / wo;
    let row_max = |y: usize, x: usize| {
        let s = &src[y * w + 2 * x..y * w + 2 * x + 3];
        s[0].max(s[1]).max(s[2])
    };
    for (y, out) in dst.chunks_exact_mut(wo).enumerate().take(ho) {
        for (x, o) in out.iter_mut().enumerate() {
            *o = row_max(2 * y, x)
                .max(row_max(2 * y + 1, x))
                .max(row_max(2 * y + 2, x));
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
