//! The CPU path's convolution (burn's `flex` device, no autodiff): a folded conv as one GEMM per
//! image, `out[c_out, h·w] = W[c_out, c_in·kh·kw] · col[c_in·kh·kw, h·w] + bias`, and its input
//! gradient for the backward engine.
//!
//! burn-flex 0.22's generic convolution re-lays the weights out and converts the input to NHWC
//! on every call, single-threaded, then scatters the GEMM's result back to NCHW
//! (docs/PERFORMANCE.md). Here the GEMM writes NCHW directly, with the bias and ReLU in its
//! epilogue. Where the CPU has AVX-512 it is `cpu_gemm`'s kernel with the weights packed at
//! load; stride-1 convs read their padded input and stride-2 convs its phase planes in place
//! instead of an im2col, and the larger 3x3 stride-1 convs are Winograd's (`cpu_winograd`);
//! elsewhere
//! the weights stay as loaded (OIHW is already the `[c_out, K]` matrix) for the `gemm` crate
//! (which burn-flex itself uses), with im2col rows built in parallel straight from NCHW.
//! Everything else (pools, concatenation, the taps) stays burn's.

use std::borrow::Cow;
use std::mem::MaybeUninit;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use burn::tensor::Tensor;
use rayon::prelude::*;

use super::cpu_gemm::{Dst, MR, NR, Operand, Packed};
use super::cpu_winograd::{Epilogue, Winograd};
use super::host::{HostView, Planes, fill_planes, padded_planes, tensor_like, unwritten, written};

/// A folded conv's weights and geometry, on the host.
#[derive(Clone, Debug)]
pub struct CpuConv {
    /// OIHW weights: row `o` of the `[c_out, c_in·kh·kw]` matrix; `None` when `packed` holds
    /// them (one copy in memory, not two; [`Self::plain_weight`] unpacks them).
    weight: Option<Arc<Vec<f32>>>,
    /// One bias per output channel.
    bias: Arc<Vec<f32>>,
    /// `[c_out, c_in, kh, kw]`.
    dims: [usize; 4],
    stride: [usize; 2],
    padding: [usize; 2],
    /// The weights packed for `cpu_gemm`'s kernel, where this CPU has one.
    packed: Option<Arc<Packed>>,
    /// Their transpose packed the same way, for the backward: at its first use (a forward
    /// alone never needs it), shared by the clones.
    transposed: Arc<OnceLock<Option<Packed>>>,
    /// A stride-1 conv's transpose as a conv ([`Self::flipped`]), at its first use.
    flipped: Arc<OnceLock<Option<CpuConv>>>,
    /// A 3x3 stride-1 conv's weights for Winograd F(2x2, 3x3), beside `packed`.
    winograd: Option<Arc<Winograd>>,
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

    /// The same conv on planes transposed (rows for columns): a 1xN conv becomes an Nx1.
    fn transposed(&self) -> Geometry {
        let swap = |[a, b]: [usize; 2]| [b, a];
        Geometry {
            h: self.w,
            w: self.h,
            ho: self.wo,
            wo: self.ho,
            kernel: swap(self.kernel),
            stride: swap(self.stride),
            padding: swap(self.padding),
        }
    }

    /// The padded input's width, for a stride-1 conv that the packed kernel reads straight
    /// from its padded input: its output is then computed on rows of that width and the
    /// columns past `wo` dropped, so only where that adds at most an eighth (not the 1x7 and
    /// 3x3 convs on 17x17 and 8x8 maps).
    fn padded_width(&self) -> Option<usize> {
        let wp = self.w + 2 * self.padding[1];
        (self.stride == [1, 1] && !self.pointwise() && wp <= self.wo + self.wo / 8).then_some(wp)
    }

    /// The width of the phase planes a stride-2 conv reads straight from (see
    /// [`phase_rows`]): its output is computed on rows of that width, so only where
    /// that adds at most a sixteenth (`Conv2d_1a_3x3`, `Mixed_6a`; the 17 → 8 convs of
    /// `Mixed_7a` were slower so than through im2col).
    fn phase_width(&self) -> Option<usize> {
        let wp = (self.w + 2 * self.padding[1]).div_ceil(2);
        (self.stride == [2, 2] && wp <= self.wo + self.wo / 16).then_some(wp)
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
        let packed = ok
            .then(|| Packed::new(&weight, c_out, c_in * kh * kw))
            .flatten()
            .map(Arc::new);
        let winograd = (packed.is_some() && [kh, kw] == [3, 3] && stride == [1, 1])
            .then(|| Winograd::new(&weight, c_out, c_in))
            .flatten()
            .map(Arc::new);
        ok.then(|| Self {
            weight: packed.is_none().then(|| Arc::new(weight)),
            packed,
            transposed: Arc::default(),
            flipped: Arc::default(),
            winograd,
            bias: Arc::new(bias),
            dims,
            stride,
            padding,
        })
    }

    /// The same conv through the `gemm` crate, as CPUs without AVX-512 run it (the kernels'
    /// bench and tests compare the two paths).
    pub fn without_packing(self) -> Self {
        Self {
            weight: Some(Arc::new(self.plain_weight().into_owned())),
            packed: None,
            transposed: Arc::new(OnceLock::from(None)),
            flipped: Arc::new(OnceLock::from(None)),
            winograd: None,
            ..self
        }
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
        let mut out = unwritten(n * c_out * g.ho * g.wo);
        // One image: its conv split over the threads. A batch: images in parallel, each conv on
        // one thread (no fork and join per tile). An image on a pool of one thread (a batch's
        // image on its own thread, `visit_batch_layers`) runs as one of a batch: the same bits.
        let split_image = n == 1 && rayon::current_num_threads() > 1;
        view.values()
            .par_chunks_exact(c * h * w)
            .zip(out.par_chunks_exact_mut(c_out * g.ho * g.wo))
            .for_each(|(image, out)| self.conv_image(image, out, &g, [split_image, relu]));
        // SAFETY: `conv_image` wrote each image's `[c_out, ho·wo]` output whole.
        #[allow(unsafe_code)]
        let out = unsafe { written(out) };
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

    /// One image: `out` (all of it written here) takes `W · col` tile by tile, then the bias
    /// and (`relu`) the ReLU while the tile is still in cache (the epilogue): through the packed
    /// kernel where this CPU has one, else the `gemm` crate. `parallel`: split this image's
    /// work over rayon's threads (else the calling thread does it all).
    fn conv_image(
        &self,
        image: &[f32],
        out: &mut [MaybeUninit<f32>],
        g: &Geometry,
        [parallel, relu]: [bool; 2],
    ) {
        if let Some(packed) = &self.packed {
            self.conv_image_packed(packed, image, out, g, [parallel, relu]);
            return;
        }
        let [c_out, c_in, kh, kw] = self.dims;
        let (hw, k) = (g.ho * g.wo, c_in * kh * kw);
        let weight = self.plain_weight();
        let dst = OutPtr(out.as_mut_ptr().cast::<f32>());
        let epilogue = |cols: Range<usize>| bias_relu(dst, hw, &self.bias, cols, relu);
        if g.pointwise() {
            // The image is already the [c_in, h·w] matrix.
            gemm_into(dst, hw, &weight, image, [c_out, k, hw], 0..hw, parallel);
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
                    gemm_into(dst, hw, &weight, col, [c_out, k, hw], cols.clone(), false);
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
                    &weight,
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

impl CpuConv {
    /// [`Self::conv_image`] through the packed weights, in items of whole 64-pixel panels times
    /// channel groups, bias and ReLU in the kernel. `A` is the image itself for a 1x1 conv;
    /// with enough tiles for every thread, each item builds its own im2col tile; with few (the
    /// 17x17 and 8x8 layers) the image's whole im2col matrix is built once, in parallel, and
    /// the items split its panels and the channel groups between them.
    fn conv_image_packed(
        &self,
        packed: &Packed,
        image: &[f32],
        out: &mut [MaybeUninit<f32>],
        g: &Geometry,
        [parallel, relu]: [bool; 2],
    ) {
        let [_, c_in, kh, kw] = self.dims;
        let (hw, k) = (g.ho * g.wo, c_in * kh * kw);
        let threads = if parallel {
            rayon::current_num_threads()
        } else {
            1
        };
        let tile = (TILE_ELEMENTS / k / MR).clamp(1, hw.div_ceil(MR)) * MR;
        let job = Products {
            dst: OutPtr(out.as_mut_ptr().cast::<f32>()),
            hw,
            items: ITEMS_PER_THREAD * threads,
            parallel,
            relu,
        };
        let winograd = self
            .winograd
            .as_ref()
            .filter(|_| Winograd::tiles([g.ho, g.wo]) >= WINOGRAD_TILES);
        if let Some(winograd) = winograd {
            let epilogue = Epilogue {
                bias: &self.bias,
                relu,
            };
            winograd.conv(image, out, [g.h, g.w], g.padding, &epilogue, parallel);
        } else if g.pointwise() {
            self.products(packed, Source::Matrix(image), &job);
        } else if let Some(wp) = g.padded_width() {
            let (rows, offsets) = padded_rows(image, g, wp, Planes::AsIs, job.parallel);
            self.wide_products(packed, Source::Gathered(&rows, &offsets), out, g, wp, job);
        } else if let Some(wp) = g.phase_width() {
            let (rows, offsets) = phase_rows(image, g, wp, job.parallel);
            self.wide_products(packed, Source::Gathered(&rows, &offsets), out, g, wp, job);
        } else if let Some(wp) = g.transposed().padded_width().filter(|_| g.kernel[0] == 1) {
            // A 1xN whose padded width would add too much (the 1x7s on 17x17 maps, the 1x3s on
            // 8x8) is an Nx1 on transposed planes, whose padding adds rows instead. The packed
            // weights serve as they are: row `(c, 0, j)` of the 1xN is row `(c, j, 0)` of the Nx1.
            // The input's planes go into the padded buffer transposed, in one pass.
            let mut flipped = unwritten(out.len());
            let t = g.transposed();
            let (rows, offsets) = padded_rows(image, &t, wp, Planes::Transposed, job.parallel);
            self.wide_products(
                packed,
                Source::Gathered(&rows, &offsets),
                &mut flipped,
                &t,
                wp,
                job,
            );
            transpose_planes(&flipped, out, [g.wo, g.ho], parallel);
        } else if hw.div_ceil(tile) >= job.items {
            self.products(packed, Source::Tiles(image, g, tile), &job);
        } else {
            let mut col = vec![0.0f32; k * hw];
            let rows = kh * kw * hw;
            let plane = g.h * g.w;
            let one = |(col, image): (&mut [f32], &[f32])| im2col(image, g, 0..hw, col);
            fill_planes(&mut col, rows, image, plane, parallel, one);
            self.products(packed, Source::Matrix(&col), &job);
        }
    }

    /// [`Self::products`] of an output laid out on rows `wp` wide, the columns past `wo`
    /// dropped on the way into `out` (written directly when `wp` is `wo`).
    fn wide_products(
        &self,
        packed: &Packed,
        source: Source,
        out: &mut [MaybeUninit<f32>],
        g: &Geometry,
        wp: usize,
        job: Products,
    ) {
        let [c_out, _, _, _] = self.dims;
        if wp == g.wo {
            // No padding columns (the Nx1 convs): the output rows are the padded width already.
            let dst = OutPtr(out.as_mut_ptr().cast::<f32>());
            self.products(packed, source, &Products { dst, ..job });
            return;
        }
        let wide_len = g.ho * wp;
        let mut wide = unwritten(c_out * wide_len);
        let dropped = |(out, wide): (&mut [MaybeUninit<f32>], &[MaybeUninit<f32>])| {
            for (out, wide) in out.chunks_exact_mut(g.wo).zip(wide.chunks_exact(wp)) {
                out.copy_from_slice(&wide[..g.wo]);
            }
        };
        let job = Products {
            dst: OutPtr(wide.as_mut_ptr().cast::<f32>()),
            hw: wide_len,
            ..job
        };
        self.products(packed, source, &job);
        fill_planes(out, g.ho * g.wo, &wide, wide_len, job.parallel, dropped);
    }

    /// The items of one image's packed conv: its pixel tiles times, when there are fewer tiles
    /// than `job.items`, chunks of the channel groups.
    fn products(&self, packed: &Packed, source: Source, job: &Products) {
        let hw = job.hw;
        let tile = match source {
            Source::Matrix(_) | Source::Gathered(..) => MR,
            Source::Tiles(_, _, tile) => tile,
        };
        let (tiles, groups) = (hw.div_ceil(tile), packed.groups());
        let chunks = job.items.div_ceil(tiles).clamp(1, groups);
        let per = groups.div_ceil(chunks);
        let item = |i: usize| {
            let (t, c) = (i / chunks, i % chunks);
            let cols = t * tile..((t + 1) * tile).min(hw);
            let part = c * per..((c + 1) * per).min(groups);
            let to = Dst {
                // SAFETY: row `part.start·NR < c_out`, column `cols.start < hw` of the
                // `[c_out, hw]` output.
                #[allow(unsafe_code)]
                ptr: unsafe { job.dst.get().add(part.start * NR * hw + cols.start) },
                ldc: hw,
            };
            let product = |a: Operand| {
                // SAFETY: `to` is columns `cols` of the `[c_out, hw]` output (`cols.end ≤
                // hw`); each item writes its own columns and channel groups, no others.
                #[allow(unsafe_code)]
                unsafe {
                    packed.tile(a, cols.len(), part.clone(), to, Some(&self.bias), job.relu);
                }
            };
            match source {
                Source::Matrix(a) => product(Operand::Strided(&a[cols.start..], hw)),
                Source::Gathered(a, offsets) => {
                    product(Operand::Gathered(&a[cols.start..], offsets))
                }
                Source::Tiles(image, g, _) => COLUMNS.with_borrow_mut(|col| {
                    col.resize(packed.k() * cols.len(), 0.0);
                    im2col(image, g, cols.clone(), col);
                    product(Operand::Strided(col, cols.len()));
                }),
            }
        };
        match job.parallel {
            true => (0..tiles * chunks).into_par_iter().for_each(item),
            false => (0..tiles * chunks).for_each(item),
        }
    }
}

/// The fewest tiles a 3x3 stride-1 conv goes through Winograd with: one panel of the kernel
/// (the 8x8 maps' 16 tiles stay direct).
const WINOGRAD_TILES: usize = MR;

/// Work items per thread of a packed conv: enough that the threads end together.
const ITEMS_PER_THREAD: usize = 8;

/// Where a packed conv's `A` comes from.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// The whole `[k, hw]` matrix: a 1x1 conv's image, or an im2col built in advance.
    Matrix(&'a [f32]),
    /// The image, each tile of this many pixels through its own im2col.
    Tiles(&'a [f32], &'a Geometry, usize),
    /// Rows at their own offsets into one buffer ([`padded_rows`], [`phase_rows`]).
    Gathered(&'a [f32], &'a [usize]),
}

/// One image's packed conv: its output (`[c_out, hw]`), how many items to split it into,
/// whether they run in parallel, and whether the ReLU follows.
#[derive(Clone, Copy)]
struct Products {
    dst: OutPtr,
    hw: usize,
    items: usize,
    parallel: bool,
    relu: bool,
}

thread_local! {
    /// Each thread's im2col tile, kept between tiles and convs.
    static COLUMNS: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
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
    /// the transposed conv with the folded weights, so BatchNorm's scale is already in. A
    /// stride-1 conv with the packed kernel runs it as a conv of its own ([`Self::flipped`]);
    /// otherwise, per image, `col = Wᵀ · G` (`[c_in·kh·kw, ho·wo]`) tile by tile, each tile
    /// added back where im2col read it from (col2im). `input` is the forward input's `[h, w]` (rows and
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
        if let Some(flipped) = self.flipped() {
            // A stride-1 conv's transpose is a stride-1 conv of `g` (see `flipped`).
            drop(view);
            return flipped.forward(g, false);
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
        // Blocks start on a group of the packed transpose's rows (kh·kw per channel).
        let align = NR / gcd(kh * kw, NR);
        let per = c_in.div_ceil(2 * threads).next_multiple_of(align);
        out.par_chunks_mut(per * plane)
            .enumerate()
            .for_each(|(b, planes)| {
                let channels = b * per..b * per + planes.len() / plane;
                self.backward_channels(grad, planes, g, channels, false);
            });
    }

    /// The OIHW weights (`[c_out, c_in·kh·kw]`), unpacked when only the packed copy is kept.
    fn plain_weight(&self) -> Cow<'_, [f32]> {
        match (&self.weight, &self.packed) {
            (Some(weight), _) => Cow::Borrowed(weight.as_slice()),
            (None, Some(packed)) => Cow::Owned(packed.unpack()),
            (None, None) => Cow::Borrowed(&[]),
        }
    }

    /// For a stride-1 conv on a CPU with the packed kernel (not a 1x1, whose transpose is the
    /// plain `Wᵀ · G`): its transpose as a conv of its own,
    /// built at its first use. The input gradient of `y = W ∗ x` (padding `p`) is the
    /// stride-1 conv of the output gradient with `W` swapped in its two channel axes and
    /// flipped in both spatial ones, padded by `k − 1 − p`: the same `[h, w]` back, through
    /// the forward's kernels (the padded input read in place, no col2im), with no bias.
    fn flipped(&self) -> Option<&CpuConv> {
        self.flipped
            .get_or_init(|| {
                let [c_out, c_in, kh, kw] = self.dims;
                let [ph, pw] = self.padding;
                let pointwise = [kh, kw, ph, pw] == [1, 1, 0, 0];
                if self.stride != [1, 1]
                    || pointwise
                    || self.packed.is_none()
                    || ph >= kh
                    || pw >= kw
                {
                    return None;
                }
                let plain = self.plain_weight();
                let mut weight = vec![0.0f32; plain.len()];
                for (o, c, i, j) in (0..c_out).flat_map(|o| {
                    (0..c_in).flat_map(move |c| {
                        (0..kh).flat_map(move |i| (0..kw).map(move |j| (o, c, i, j)))
                    })
                }) {
                    let to = ((c * c_out + o) * kh + (kh - 1 - i)) * kw + (kw - 1 - j);
                    weight[to] = plain[((o * c_in + c) * kh + i) * kw + j];
                }
                let padding = [kh - 1 - ph, kw - 1 - pw];
                CpuConv::new(
                    weight,
                    vec![0.0; c_in],
                    [c_in, c_out, kh, kw],
                    [1, 1],
                    padding,
                )
            })
            .as_ref()
    }

    /// `Wᵀ` (`[c_in·kh·kw, c_out]`) packed for the kernel, once, where this CPU has one.
    fn transposed_packed(&self) -> Option<&Packed> {
        self.transposed
            .get_or_init(|| {
                let [c_out, c_in, kh, kw] = self.dims;
                let k = c_in * kh * kw;
                self.packed.as_ref()?;
                let mut t = vec![0.0f32; k * c_out];
                for (o, row) in self.plain_weight().chunks_exact(k).enumerate() {
                    for (r, &w) in row.iter().enumerate() {
                        t[r * c_out + o] = w;
                    }
                }
                Packed::new(&t, k, c_out)
            })
            .as_ref()
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
        let aligned = rows.start % NR == 0 && (rows.end % NR == 0 || rows.end == k);
        let transposed = self.transposed_packed().filter(|_| aligned);
        // Unpacked once per call, and only where the packed transpose does not serve.
        let plain = transposed.is_none().then(|| self.plain_weight());
        let product = |dst: &mut [f32], cols: Range<usize>| match transposed {
            Some(t) => {
                let groups = rows.start / NR..rows.end.div_ceil(NR);
                let to = Dst {
                    ptr: dst.as_mut_ptr(),
                    ldc: cols.len(),
                };
                // SAFETY: `dst` is the dense `[rows.len(), cols.len()]` block, and the groups
                // cover exactly `rows` (aligned: they start on a group and end on one or at
                // the matrix's last row).
                #[allow(unsafe_code)]
                unsafe {
                    t.tile(
                        Operand::Strided(&grad[cols.start..], hw),
                        cols.len(),
                        groups,
                        to,
                        None,
                        false,
                    );
                }
            }
            None => gemm_weights_transposed(
                dst,
                plain.as_deref().unwrap_or_default(),
                grad,
                [k, c_out, hw],
                [rows.clone(), cols],
                parallel,
            ),
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

/// Each `[rows, cols]` plane of `from` into `to` as `[cols, rows]`; `parallel`: the planes in
/// parallel.
fn transpose_planes<T: Copy + Send + Sync>(
    from: &[T],
    to: &mut [T],
    [rows, cols]: [usize; 2],
    parallel: bool,
) {
    let one = |(to, from): (&mut [T], &[T])| {
        for (r, row) in from.chunks_exact(cols).enumerate() {
            for (c, &v) in row.iter().enumerate() {
                to[c * rows + r] = v;
            }
        }
    };
    fill_planes(to, rows * cols, from, rows * cols, parallel, one);
}

/// A stride-1 conv's `A` without im2col: row `(c, i, j)` is the zero-padded input plane `c`
/// from row `i`, column `j`, when the output is laid out on the padded width `wp`
/// (`[c_out, ho·wp]`; the columns past `wo` are dropped later). The padded planes, and each
/// row's offset into them.
fn padded_rows(
    image: &[f32],
    g: &Geometry,
    wp: usize,
    layout: Planes,
    parallel: bool,
) -> (Vec<f32>, Vec<usize>) {
    let ([kh, kw], [ph, pw]) = (g.kernel, g.padding);
    let c_in = image.len() / (g.h * g.w);
    let plane = (g.h + 2 * ph) * wp;
    // The last row of the last plane reads up to kw − 1 values past the planes.
    let shape = [g.h + 2 * ph, wp];
    let padded = padded_planes(image, [g.h, g.w], [ph, pw], shape, kw, layout, parallel);
    let offsets = (0..c_in)
        .flat_map(|c| (0..kh).flat_map(move |i| (0..kw).map(move |j| c * plane + i * wp + j)))
        .collect();
    (padded, offsets)
}

/// A stride-2 conv's `A` without im2col: the zero-padded input split into its four phase
/// planes (even and odd rows times even and odd columns, each `wp` wide); row `(c, i, j)` is
/// phase `(i mod 2, j mod 2)` of plane `c` from row `i / 2`, column `j / 2`, when the output is
/// laid out on the phases' width. The phase planes, and each row's offset into them.
fn phase_rows(image: &[f32], g: &Geometry, wp: usize, parallel: bool) -> (Vec<f32>, Vec<usize>) {
    let ([kh, kw], [ph, pw]) = (g.kernel, g.padding);
    let c_in = image.len() / (g.h * g.w);
    let phase = (g.h + 2 * ph).div_ceil(2) * wp;
    // The last row of the last phase reads up to (kw − 1) / 2 values past the planes.
    let mut phases = vec![0.0f32; c_in * 4 * phase + kw];
    let fill = |(phases, image): (&mut [f32], &[f32])| {
        for (y, row) in image.chunks_exact(g.w).enumerate() {
            let (py, yy) = ((y + ph) % 2, (y + ph) / 2);
            for (x, &v) in row.iter().enumerate() {
                let (px, xx) = ((x + pw) % 2, (x + pw) / 2);
                phases[(2 * py + px) * phase + yy * wp + xx] = v;
            }
        }
    };
    let planes = c_in * 4 * phase;
    fill_planes(
        &mut phases[..planes],
        4 * phase,
        image,
        g.h * g.w,
        parallel,
        fill,
    );
    let offsets = (0..c_in)
        .flat_map(|c| (0..kh).flat_map(move |i| (0..kw).map(move |j| (c, i, j))))
        .map(|(c, i, j)| (4 * c + 2 * (i % 2) + j % 2) * phase + (i / 2) * wp + j / 2)
        .collect();
    (phases, offsets)
}

/// The greatest common divisor.
fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
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
    use burn::tensor::{Device, Tensor, TensorData};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Normal};

    use super::*;
    use crate::model::cpu_gemm;

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
    const GEOMETRIES: [Case; 21] = [
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
        // One image with a 64-pixel tile of im2col per item (18 tiles, the last of one pixel),
        // the packed kernel's last channel group short (20 = 3·6 + 2).
        (64, 20, [3, 3], 2, [0, 0], [67, 67], 1),
        // A 5x5 read straight from the padded input (35 + 4 columns).
        (16, 8, [5, 5], 1, [2, 2], [35, 35], 1),
        // Winograd: unpadded, odd output (a last row and column of half tiles), and padded by
        // two (a valid 3x3's backward), batches of two.
        (16, 12, [3, 3], 1, [0, 0], [33, 37], 2),
        (12, 16, [3, 3], 1, [2, 2], [31, 30], 2),
        // A padded stride-2 conv read from its phase planes (odd and even sizes).
        (8, 12, [3, 3], 2, [1, 1], [41, 40], 2),
    ];

    /// The conv in float64, straight from its definition: `[n, c_out, ho, wo]` values.
    fn exact(x: &[f32], weight: &[f32], bias: &[f32], case: Case) -> Vec<f64> {
        let (c_in, c_out, [kh, kw], s, [ph, pw], [h, w], n) = case;
        let [ho, wo] = [(h + 2 * ph - kh) / s + 1, (w + 2 * pw - kw) / s + 1];
        let mut out = Vec::with_capacity(n * c_out * ho * wo);
        for b in 0..n {
            for o in 0..c_out {
                for (y, x0) in (0..ho).flat_map(|y| (0..wo).map(move |x0| (y, x0))) {
                    let mut sum = f64::from(bias[o]);
                    for (c, i, j) in (0..c_in)
                        .flat_map(|c| (0..kh).flat_map(move |i| (0..kw).map(move |j| (c, i, j))))
                    {
                        let (iy, ix) =
                            ((y * s + i).wrapping_sub(ph), (x0 * s + j).wrapping_sub(pw));
                        if iy < h && ix < w {
                            let v = x[((b * c_in + c) * h + iy) * w + ix];
                            sum += f64::from(weight[((o * c_in + c) * kh + i) * kw + j])
                                * f64::from(v);
                        }
                    }
                    out.push(sum);
                }
            }
        }
        out
    }

    fn worst64(got: &[f32], expected: &[f64]) -> f64 {
        assert_eq!(got.len(), expected.len());
        got.iter()
            .zip(expected)
            .fold(0.0f64, |m, (&a, b)| m.max((f64::from(a) - b).abs()))
    }

    /// The tests' random values: fixed, so a failure reproduces.
    const SEED: u64 = 23;

    /// A tensor of standard normal values from `rng`.
    fn normal<const D: usize>(
        shape: [usize; D],
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Tensor<D> {
        let dist = Normal::new(0.0f32, 1.0).unwrap();
        let values: Vec<f32> = (0..shape.iter().product())
            .map(|_| dist.sample(rng))
            .collect();
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    fn worst(got: &[f32], expected: &[f32]) -> f32 {
        assert_eq!(got.len(), expected.len());
        got.iter()
            .zip(expected)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()))
    }

    /// Every geometry Inception-V3 has (and a batch of two) against burn's own conv2d and the
    /// float64 conv, through the packed kernel (where the CPU has AVX-512) and the `gemm` crate.
    #[test]
    fn equals_burn_conv2d_for_every_inception_geometry() {
        let device = Device::flex();
        assert!(crate::model::cpu_kernels_serve(&device));
        assert!(!crate::model::cpu_kernels_serve(&device.clone().autodiff()));
        for (c_in, c_out, [kh, kw], s, [ph, pw], [h, w], n) in GEOMETRIES {
            let mut rng = ChaCha8Rng::seed_from_u64(SEED);
            let x = normal([n, c_in, h, w], &mut rng, &device);
            let wt = normal([c_out, c_in, kh, kw], &mut rng, &device);
            let b = normal([c_out], &mut rng, &device);
            let options = ConvOptions::new([s, s], [ph, pw], [1, 1], 1);
            let expected = conv2d(x.clone(), wt.clone(), Some(b.clone()), options);
            let truth = exact(
                &host(x.clone()),
                &host(wt.clone()),
                &host(b.clone()),
                (c_in, c_out, [kh, kw], s, [ph, pw], [h, w], n),
            );
            let cpu =
                CpuConv::new(host(wt), host(b), [c_out, c_in, kh, kw], [s, s], [ph, pw]).unwrap();
            assert_eq!(cpu.packed.is_some(), cpu_gemm::available());
            for cpu in [cpu.clone(), cpu.without_packing()] {
                let path = if cpu.packed.is_some() {
                    "packed"
                } else {
                    "gemm"
                };
                let fused = cpu.forward(x.clone(), true).unwrap();
                assert_eq!(
                    host(fused),
                    host(burn::tensor::activation::relu(
                        cpu.forward(x.clone(), false).unwrap()
                    )),
                    "{path}: fused ReLU {c_in}->{c_out} {kh}x{kw}/{s}"
                );
                let got = cpu.forward(x.clone(), false).unwrap();
                assert_eq!(got.dims(), expected.dims(), "{c_in}->{c_out} {kh}x{kw}/{s}");
                // Against the float64 conv too: the kernels change rounding, not results. (The
                // k = 576 cases' sums of normal products reach ~100: burn's conv and the gemm
                // crate are up to ~1e-4 from float64 there, the packed kernel ~3e-5.)
                let off = worst64(&host(got.clone()), &truth);
                assert!(
                    off < 2e-4,
                    "{path} vs float64: {c_in}->{c_out} {kh}x{kw}/{s}: {off}"
                );
                let worst = worst(&host(got), &host(expected.clone()));
                assert!(
                    worst < 1e-4,
                    "{path}: {c_in}->{c_out} {kh}x{kw}/{s} pad {ph},{pw} on {h}x{w}: {worst}"
                );
            }
        }
    }

    /// The input gradient against burn's `conv_transpose2d` (with the output padding that
    /// restores the input size), for every geometry of the network and a batch of two, through
    /// the packed transpose (where the CPU has AVX-512) and the `gemm` crate.
    #[test]
    fn backward_equals_burn_conv_transpose2d_for_every_inception_geometry() {
        use burn::tensor::module::conv_transpose2d;
        use burn::tensor::ops::ConvTransposeOptions;
        let device = Device::flex();
        for (c_in, c_out, [kh, kw], s, [ph, pw], [h, w], n) in GEOMETRIES {
            let mut rng = ChaCha8Rng::seed_from_u64(SEED);
            let [ho, wo] = [(h + 2 * ph - kh) / s + 1, (w + 2 * pw - kw) / s + 1];
            let g = normal([n, c_out, ho, wo], &mut rng, &device);
            let wt = normal([c_out, c_in, kh, kw], &mut rng, &device);
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
            assert_eq!(cpu.transposed_packed().is_some(), cpu_gemm::available());
            for cpu in [cpu.clone(), cpu.without_packing()] {
                let path = match cpu.transposed_packed() {
                    Some(_) => "packed",
                    None => "gemm",
                };
                let got = cpu.backward_input(g.clone(), [h, w]).unwrap();
                assert_eq!(got.dims(), expected.dims(), "{c_in}->{c_out} {kh}x{kw}/{s}");
                let worst = worst(&host(got), &host(expected.clone()));
                assert!(
                    worst < 1e-3,
                    "{path}: {c_in}->{c_out} {kh}x{kw}/{s} pad {ph},{pw} on {h}x{w}: {worst}"
                );
            }
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
