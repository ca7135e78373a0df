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

use burn::tensor::Tensor;
use rayon::prelude::*;

use super::host::{HostView, tensor_like};

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

impl Geometry {
    /// A 1x1 stride-1 unpadded conv: the image is already the `[c_in, h·w]` matrix.
    fn pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == [0, 0]
    }
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

    /// The conv of `x` (NCHW, float32, on the flex device), followed by the ReLU when `relu`
    /// (applied to the output in place, as burn's `relu` computes it: NaN stays NaN). `x` is
    /// read where it lies, not copied. Gives `x` back untouched (`Err`) when its channels or
    /// dtype do not fit.
    pub fn forward(&self, x: Tensor<4>, relu: bool) -> Result<Tensor<4>, Box<Tensor<4>>> {
        let [n, c, h, w] = x.dims();
        let [c_out, c_in, _, _] = self.dims;
        let (Some(g), Some(view)) = (self.geometry([h, w]), HostView::of(&x)) else {
            return Err(Box::new(x));
        };
        if c != c_in {
            return Err(Box::new(x));
        }
        let mut out = vec![0.0f32; n * c_out * g.ho * g.wo];
        // One image: its conv split over the threads. A batch: images in parallel, each conv on
        // one thread (no fork and join per tile: what the folder commands' batches buy).
        let split_image = n == 1;
        view.values()
            .par_chunks_exact(c * h * w)
            .zip(out.par_chunks_exact_mut(c_out * g.ho * g.wo))
            .for_each(|(image, out)| self.conv_image(image, out, &g, [split_image, relu]));
        Ok(tensor_like(&x, out, [n, c_out, g.ho, g.wo]))
    }

    /// Where the conv of an `[h, w]` input reads and writes; `None` when the kernel does not
    /// fit in the padded input.
    fn geometry(&self, [h, w]: [usize; 2]) -> Option<Geometry> {
        let [_, _, kh, kw] = self.dims;
        let [sh, sw] = self.stride;
        let [ph, pw] = self.padding;
        Some(Geometry {
            h,
            w,
            ho: (h + 2 * ph).checked_sub(kh)? / sh + 1,
            wo: (w + 2 * pw).checked_sub(kw)? / sw + 1,
            kernel: [kh, kw],
            stride: self.stride,
            padding: self.padding,
        })
    }

    /// One image: `out` takes `W · col` tile by tile, then the bias and (`relu`) the ReLU while
    /// the tile is still in cache (the epilogue). `parallel`: split this image's work over
    /// rayon's threads (else the calling thread does it all).
    fn conv_image(
        &self,
        image: &[f32],
        out: &mut [f32],
        g: &Geometry,
        [parallel, relu]: [bool; 2],
    ) {
        let [c_out, c_in, kh, kw] = self.dims;
        let (hw, k) = (g.ho * g.wo, c_in * kh * kw);
        let dst = OutPtr(out.as_mut_ptr());
        let epilogue = |cols: Range<usize>| bias_relu(dst, hw, &self.bias, cols, relu);
        if g.pointwise() {
            // The image is already the [c_in, h·w] matrix.
            gemm_into(
                dst,
                hw,
                &self.weight,
                image,
                [c_out, k, hw],
                0..hw,
                parallel,
            );
            match parallel {
                true => (0..hw)
                    .into_par_iter()
                    .step_by(EPILOGUE_COLUMNS)
                    .for_each(|s| epilogue(s..(s + EPILOGUE_COLUMNS).min(hw))),
                false => epilogue(0..hw),
            }
            return;
        }
        // Tiles of output pixels whose im2col block stays in cache; many tiles run in parallel
        // with one thread per GEMM, a few run one after another with a parallel GEMM.
        let tile = (TILE_ELEMENTS / k).max(16).min(hw);
        let tiles = hw.div_ceil(tile);
        let columns = |t: usize| t * tile..((t + 1) * tile).min(hw);
        if parallel && tiles >= 2 * rayon::current_num_threads() {
            (0..tiles)
                .into_par_iter()
                .for_each_init(Vec::new, |col: &mut Vec<f32>, t| {
                    let cols = columns(t);
                    col.resize(k * cols.len(), 0.0);
                    im2col(image, g, cols.clone(), col);
                    gemm_into(
                        dst,
                        hw,
                        &self.weight,
                        col,
                        [c_out, k, hw],
                        cols.clone(),
                        false,
                    );
                    epilogue(cols);
                });
        } else {
            let mut col = Vec::new();
            for t in 0..tiles {
                let cols = columns(t);
                col.resize(k * cols.len(), 0.0);
                im2col(image, g, cols.clone(), &mut col);
                gemm_into(
                    dst,
                    hw,
                    &self.weight,
                    &col,
                    [c_out, k, hw],
                    cols.clone(),
                    parallel,
                );
                epilogue(cols);
            }
        }
    }
}

/// Output columns per task of a 1x1 conv's epilogue.
const EPILOGUE_COLUMNS: usize = 256;

/// The conv's epilogue on columns `cols` of the `[c_out, n]` output at `dst`: each row's bias
/// added, then (`relu`) the ReLU as burn's computes it (negatives and −0 become 0, NaN stays).
fn bias_relu(dst: OutPtr, n: usize, bias: &[f32], cols: Range<usize>, relu: bool) {
    assert!(cols.end <= n);
    for (r, &b) in bias.iter().enumerate() {
        // SAFETY: `dst` points to the `[bias.len(), n]` row-major output of `conv_image`; row
        // `r`'s columns `cols` lie inside it (`cols.end ≤ n`), and no other thread touches
        // those columns meanwhile (the callers' column ranges are disjoint and their GEMMs
        // into them have returned).
        #[allow(unsafe_code)]
        let row = unsafe {
            std::slice::from_raw_parts_mut(dst.get().add(r * n + cols.start), cols.len())
        };
        for v in row.iter_mut() {
            let x = *v + b;
            *v = if relu && x <= 0.0 { 0.0 } else { x };
        }
    }
}

impl CpuConv {
    /// The gradient at the conv's input from the gradient `g` at its output (before the ReLU):
    /// the transposed conv with the folded weights, so BatchNorm's scale is already in.
    /// Per image, `col = Wᵀ · G` (`[c_in·kh·kw, ho·wo]`) tile by tile, each tile added back
    /// where im2col read it from (col2im). `input` is the forward input's `[h, w]` (rows and
    /// columns a stride dropped get zero). `Err(g)` when the sizes do not fit.
    pub fn backward_input(
        &self,
        g: Tensor<4>,
        [h, w]: [usize; 2],
    ) -> Result<Tensor<4>, Box<Tensor<4>>> {
        let [n, c, ho, wo] = g.dims();
        let [c_out, c_in, _, _] = self.dims;
        let (Some(geometry), Some(view)) = (self.geometry([h, w]), HostView::of(&g)) else {
            return Err(Box::new(g));
        };
        if c != c_out || [geometry.ho, geometry.wo] != [ho, wo] {
            return Err(Box::new(g));
        }
        let gs = view.values();
        let mut out = vec![0.0f32; n * c_in * h * w];
        for (grad, out) in gs
            .chunks_exact(c_out * ho * wo)
            .zip(out.chunks_exact_mut(c_in * h * w))
        {
            self.backward_image(grad, out, &geometry);
        }
        Ok(tensor_like(&g, out, [n, c_in, h, w]))
    }

    /// One image: `out` (zeros) takes `Wᵀ · grad`, through col2im unless the conv is 1x1.
    /// A large conv splits its input channels into blocks, one task each: a task computes its
    /// channels' rows of `Wᵀ · grad` and adds them into its own planes, so the tasks share
    /// nothing and meet once per conv, not at every tile's GEMM and col2im. Few input channels
    /// (the RGB input) keep one block with a parallel GEMM and col2im.
    fn backward_image(&self, grad: &[f32], out: &mut [f32], g: &Geometry) {
        let [c_out, c_in, kh, kw] = self.dims;
        let (plane, work) = (g.h * g.w, c_in * kh * kw * c_out * g.ho * g.wo);
        let threads = rayon::current_num_threads();
        if threads < 2 || work < 1 << 20 || c_in < 4 * threads {
            self.backward_channels(grad, out, g, 0..c_in, true);
            return;
        }
        let per = c_in.div_ceil(2 * threads);
        out.par_chunks_mut(per * plane)
            .enumerate()
            .for_each(|(b, planes)| {
                let channels = b * per..b * per + planes.len() / plane;
                self.backward_channels(grad, planes, g, channels, false);
            });
    }

    /// Input channels `channels` of one image's gradient into `planes` (zeros, those channels'
    /// planes): their rows of `Wᵀ · grad`, tile by tile through col2im unless the conv is 1x1.
    /// `parallel`: split each GEMM and col2im over rayon's threads.
    fn backward_channels(
        &self,
        grad: &[f32],
        planes: &mut [f32],
        g: &Geometry,
        channels: Range<usize>,
        parallel: bool,
    ) {
        let [c_out, c_in, kh, kw] = self.dims;
        let (hw, k, taps) = (g.ho * g.wo, c_in * kh * kw, kh * kw);
        let rows = channels.start * taps..channels.end * taps;
        let product = |dst: &mut [f32], cols: Range<usize>| {
            let [rows, cols] = [rows.clone(), cols];
            gemm_weights_transposed(
                dst,
                &self.weight,
                grad,
                [k, c_out, hw],
                [rows, cols],
                parallel,
            );
        };
        if g.pointwise() {
            // The planes' gradient is their rows of the [c_in, h·w] matrix Wᵀ · G itself.
            product(planes, 0..hw);
            return;
        }
        let tile = (TILE_ELEMENTS / rows.len()).max(16).min(hw);
        let mut col = Vec::new();
        for start in (0..hw).step_by(tile) {
            let cols = start..(start + tile).min(hw);
            col.resize(rows.len() * cols.len(), 0.0);
            product(&mut col, cols.clone());
            col2im_add(&col, g, cols, planes, parallel);
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
        for (at, x0, iy) in segments(g, cols.clone(), i) {
            let seg = &mut dst[at];
            match iy {
                Some(iy) => fill_segment(seg, &plane[iy * g.w..(iy + 1) * g.w], j, x0, g),
                None => seg.fill(0.0),
            }
        }
    }
}

/// Columns `cols` of im2col's matrix cut at output rows, for kernel row `i`: each piece's place
/// in the tile, its first output column `x0`, and the input row it reads (`None` in the
/// padding). im2col and its adjoint walk the same pieces.
fn segments(
    g: &Geometry,
    cols: Range<usize>,
    i: usize,
) -> impl Iterator<Item = (Range<usize>, usize, Option<usize>)> + '_ {
    let mut p = cols.start;
    std::iter::from_fn(move || {
        (p < cols.end).then(|| {
            let (y, x0) = (p / g.wo, p % g.wo);
            let len = (g.wo - x0).min(cols.end - p);
            let at = p - cols.start;
            let iy = (y * g.stride[0] + i)
                .checked_sub(g.padding[0])
                .filter(|&iy| iy < g.h);
            p += len;
            (at..at + len, x0, iy)
        })
    })
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

/// The im2col adjoint: `out[c, y·sh + i − ph, x·sw + j − pw] += col[(c, i, j), p − cols.start]`
/// for output pixels `p = y·wo + x` in `cols` (nothing where that falls in the padding), over
/// the planes of `out` (as many as `col` has channels). Each plane takes only its own rows of
/// `col`; `parallel`: the planes run in parallel.
fn col2im_add(col: &[f32], g: &Geometry, cols: Range<usize>, out: &mut [f32], parallel: bool) {
    let rows_per_plane = g.kernel[0] * g.kernel[1] * cols.len();
    let one = |(plane, rows): (&mut [f32], &[f32])| col2im_plane(rows, g, cols.clone(), plane);
    match parallel {
        true => out
            .par_chunks_mut(g.h * g.w)
            .zip(col.par_chunks(rows_per_plane))
            .for_each(one),
        false => out
            .chunks_mut(g.h * g.w)
            .zip(col.chunks(rows_per_plane))
            .for_each(one),
    }
}

/// [`col2im_add`] for one input channel: `rows` are its `kh·kw` rows of `col`.
fn col2im_plane(rows: &[f32], g: &Geometry, cols: Range<usize>, plane: &mut [f32]) {
    let kw = g.kernel[1];
    let n = cols.len();
    for (r, src) in rows.chunks_exact(n).enumerate() {
        let (i, j) = (r / kw, r % kw);
        for (at, x0, iy) in segments(g, cols.clone(), i) {
            if let Some(iy) = iy {
                add_segment(&mut plane[iy * g.w..(iy + 1) * g.w], &src[at], j, x0, g);
            }
        }
    }
}

/// The adjoint of [`fill_segment`]: `dst[(x0 + t)·sw + j − pw] += src[t]` where that lies
/// inside the row.
fn add_segment(dst: &mut [f32], src: &[f32], j: usize, x0: usize, g: &Geometry) {
    let (sw, pw) = (g.stride[1], g.padding[1]);
    if sw == 1 {
        let first = pw.saturating_sub(x0 + j).min(src.len());
        let last = (g.w + pw).saturating_sub(x0 + j).min(src.len()).max(first);
        if last > first {
            let start = x0 + first + j - pw;
            for (d, s) in dst[start..start + (last - first)]
                .iter_mut()
                .zip(&src[first..last])
            {
                *d += s;
            }
        }
        return;
    }
    for (t, s) in src.iter().enumerate() {
        let ix = ((x0 + t) * sw + j).checked_sub(pw);
        if let Some(d) = ix.and_then(|ix| dst.get_mut(ix)) {
            *d += s;
        }
    }
}

/// `dst = Wᵀ[rows, :] · rhs[:, cols]`: `weight` is the `[k, m]` row-major matrix (`m =
/// c_in·kh·kw` columns, one row per output channel), `rhs` the `[k, n]` gradient, `dst` the
/// dense `[rows.len(), cols.len()]` result. `parallel`: split over rayon's threads when large.
fn gemm_weights_transposed(
    dst: &mut [f32],
    weight: &[f32],
    rhs: &[f32],
    [m, k, n]: [usize; 3],
    [rows, cols]: [Range<usize>; 2],
    parallel: bool,
) {
    let (height, width) = (rows.len(), cols.len());
    assert!(weight.len() == m * k && rhs.len() == k * n);
    assert!(rows.end <= m && cols.end <= n && dst.len() == height * width);
    let parallelism = parallelism(parallel, height * width * k);
    // SAFETY: `dst` is a dense row-major `[height, width]` slice (asserted), written whole. The
    // lhs is rows `rows` of `weight` read transposed: element (r, o) at `o·m + rows.start + r`
    // (column stride m, row stride 1), inside its `k·m` elements since `rows.end ≤ m`. The rhs
    // is columns `cols` of the row-major `[k, n]` `rhs`: element (o, t) at
    // `o·n + cols.start + t`, inside since `cols.end ≤ n`. Neither aliases `dst` (shared
    // borrows against a unique one).
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            height,
            width,
            k,
            dst.as_mut_ptr(),
            1,
            width as isize,
            false,
            weight.as_ptr().add(rows.start),
            m as isize,
            1,
            rhs.as_ptr().add(cols.start),
            1,
            n as isize,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        );
    }
}

fn parallelism(parallel: bool, work: usize) -> gemm::Parallelism {
    match parallel && work >= 1 << 20 {
        true => gemm::Parallelism::Rayon(0),
        false => gemm::Parallelism::None,
    }
}

/// `dst[:, cols] = lhs · rhs`: `lhs` is `[m, k]`, `rhs` the dense `[k, cols.len()]` block of
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
    let parallelism = parallelism(parallel, m * width * k);
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
            false,
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

    /// Every geometry Inception-V3 has, odd and even sizes, batches of two:
    /// (c_in, c_out, [kh, kw], stride, [ph, pw], [h, w], batch).
    type Case = (
        usize,
        usize,
        [usize; 2],
        usize,
        [usize; 2],
        [usize; 2],
        usize,
    );
    const GEOMETRIES: [Case; 16] = [
        (3, 8, [3, 3], 2, [0, 0], [17, 19], 1),
        (3, 8, [3, 3], 2, [0, 0], [18, 20], 1),
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
        (288, 64, [1, 1], 1, [0, 0], [35, 35], 1),
        // The backward's channel blocks (2 per thread) of unequal sizes: 8, 8, 8 and 6 on two.
        (30, 16, [3, 3], 1, [1, 1], [40, 40], 1),
    ];

    fn worst(got: &[f32], expected: &[f32]) -> f32 {
        assert_eq!(got.len(), expected.len());
        got.iter()
            .zip(expected)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()))
    }

    /// Every geometry Inception-V3 has (and a batch of two) against burn's own conv2d.
    #[test]
    fn equals_burn_conv2d_for_every_inception_geometry() {
        let device = Device::flex();
        assert!(crate::model::cpu_kernels_serve(&device));
        assert!(!crate::model::cpu_kernels_serve(&device.clone().autodiff()));
        for (c_in, c_out, [kh, kw], s, [ph, pw], [h, w], n) in GEOMETRIES {
            let normal = Distribution::Normal(0.0, 1.0);
            let x = Tensor::<4>::random([n, c_in, h, w], normal, &device);
            let wt = Tensor::<4>::random([c_out, c_in, kh, kw], normal, &device);
            let b = Tensor::<1>::random([c_out], normal, &device);
            let options = ConvOptions::new([s, s], [ph, pw], [1, 1], 1);
            let expected = conv2d(x.clone(), wt.clone(), Some(b.clone()), options);
            let cpu =
                CpuConv::new(host(wt), host(b), [c_out, c_in, kh, kw], [s, s], [ph, pw]).unwrap();
            let fused = cpu.forward(x.clone(), true).unwrap();
            assert_eq!(
                host(fused),
                host(burn::tensor::activation::relu(
                    cpu.forward(x.clone(), false).unwrap()
                )),
                "fused ReLU {c_in}->{c_out} {kh}x{kw}/{s}"
            );
            let got = cpu.forward(x, false).unwrap();
            assert_eq!(got.dims(), expected.dims(), "{c_in}->{c_out} {kh}x{kw}/{s}");
            let worst = worst(&host(got), &host(expected));
            assert!(
                worst < 1e-4,
                "{c_in}->{c_out} {kh}x{kw}/{s} pad {ph},{pw}: {worst}"
            );
        }
    }

    /// The input gradient against burn's `conv_transpose2d` (with the output padding that
    /// restores the input size), for every geometry of the network and a batch of two.
    #[test]
    fn backward_equals_burn_conv_transpose2d_for_every_inception_geometry() {
        use burn::tensor::module::conv_transpose2d;
        use burn::tensor::ops::ConvTransposeOptions;
        let device = Device::flex();
        for (c_in, c_out, [kh, kw], s, [ph, pw], [h, w], n) in GEOMETRIES {
            let normal = Distribution::Normal(0.0, 1.0);
            let [ho, wo] = [(h + 2 * ph - kh) / s + 1, (w + 2 * pw - kw) / s + 1];
            let g = Tensor::<4>::random([n, c_out, ho, wo], normal, &device);
            let wt = Tensor::<4>::random([c_out, c_in, kh, kw], normal, &device);
            let padding_out = [
                h - ((ho - 1) * s + kh - 2 * ph),
                w - ((wo - 1) * s + kw - 2 * pw),
            ];
            let options = ConvTransposeOptions::new([s, s], [ph, pw], padding_out, [1, 1], 1);
            let expected = conv_transpose2d(g.clone(), wt.clone(), None, options);
            let cpu = CpuConv::new(
                host(wt),
                vec![0.0; c_out],
                [c_out, c_in, kh, kw],
                [s, s],
                [ph, pw],
            )
            .unwrap();
            let got = cpu.backward_input(g, [h, w]).unwrap();
            assert_eq!(got.dims(), expected.dims(), "{c_in}->{c_out} {kh}x{kw}/{s}");
            let worst = worst(&host(got), &host(expected));
            assert!(
                worst < 1e-3,
                "{c_in}->{c_out} {kh}x{kw}/{s} pad {ph},{pw} on {h}x{w}: {worst}"
            );
        }
        let cpu = CpuConv::new(vec![0.0; 54], vec![0.0; 2], [2, 3, 3, 3], [1, 1], [0, 0]).unwrap();
        let wrong = Tensor::<4>::zeros([1, 2, 4, 4], &device);
        assert!(cpu.backward_input(wrong, [5, 5]).is_err());
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
        assert_eq!(cpu.forward(x, false).unwrap_err().dims(), [1, 4, 5, 5]);
        let small = Tensor::<4>::zeros([1, 3, 2, 2], &device);
        assert!(cpu.forward(small, false).is_err());
        assert!(CpuConv::new(vec![0.0; 5], vec![0.0; 2], [2, 3, 3, 3], [1, 1], [0, 0]).is_none());
    }
}
