//! Host-side maths for feature visualisation (activation maximisation) in the
//! style of Olah et al. 2017 ("Feature Visualization", Distill) and the Lucid
//! library's defaults.
//!
//! The network (forward pass and gradient of the objective with respect to its
//! input image) lives elsewhere. This module provides:
//!
//! * [`FourierImage`]: Lucid's `fft_image(decay_power=1, sd=0.01)` followed by
//!   `to_valid_rgb(decorrelate=True, sigmoid=True)`, with an exact hand-derived
//!   backward pass;
//! * [`Transform`]: Lucid's `standard_transforms` (pad 12, jitter 8, scale,
//!   rotate, jitter 4) fused into one bilinear affine resampling with an exact
//!   adjoint;
//! * [`Adam`]: TensorFlow-style Adam used for gradient *ascent*;
//! * [`Optimisation`]: the loop glue; [`to_rgb8`]: conversion for saving PNGs.
//!
//! Images are planar RGB `f32`, layout `[3, h, w]` row-major, values in
//! `[0, 1]`. All randomness comes from `ChaCha8Rng::seed_from_u64`, so a run is
//! bit-for-bit reproducible on one machine.
//!
//! # FFT conventions (exactly what is implemented)
//!
//! Parameters are, per channel, a complex spectrum `P[ky, kx]` of size
//! `h × (w/2+1)`. With `fy = fftfreq(h)[ky]`, `fx = rfftfreq(w)[kx] = kx/w`,
//! `f = sqrt(fy² + fx²)` and Lucid's `scale = sqrt(h·w) / max(f, 1/max(h, w))`,
//! the pre-colour image is `x = irfft2(scale · P) / 4` where `irfft2` is numpy's
//! (`1/(h·w)` normalised; the imaginary part left after the inverse column DFT
//! in the DC and, for even `w`, Nyquist columns is discarded). Equivalently
//! `x[y, n] = Σ c(kx) · Re(k[ky,kx] P[ky,kx] e^{2πi(ky·y/h + kx·n/w)})` with
//! `k = scale / (4·h·w)` and `c(kx) = 1` for DC/Nyquist, `2` otherwise. Its
//! adjoint is therefore `∂/∂P = c(kx) · k · rfft2(g)` (unnormalised forward
//! DFT), which is what [`FourierImage::backward`] implements.
//!
//! Difference from Lucid: for odd `w` Lucid keeps `w/2+2` columns, runs an
//! irfft of length `w+1` and crops one pixel; here the spectrum has exactly
//! `w/2+1` columns and the irfft has length `w` (no crop), as for even `w`.

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// Lucid's `color_correlation_svd_sqrt` (square root of the ImageNet colour
/// correlation matrix).
pub const COLOR_CORRELATION_SVD_SQRT: [[f32; 3]; 3] =
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]];

/// Value used outside the source image by [`Transform`] (Lucid's
/// `pad(12, mode="constant", constant_value=0.5)`).
pub const PAD_VALUE: f32 = 0.5;

/// Standard deviation of the initial spectrum parameters (Lucid's `sd=0.01`).
pub const INIT_SD: f32 = 0.01;

/// Lucid's default Adam learning rate.
pub const DEFAULT_LR: f32 = 0.05;

/// `COLOR_CORRELATION_SVD_SQRT / max column L2 norm` (Lucid's
/// `color_correlation_normalized`). RGB = spatial @ this^T, i.e.
/// `rgb[c] = Σ_j M[c][j] · spatial[j]`.
pub fn color_matrix() -> [[f32; 3]; 3] {
    let c = COLOR_CORRELATION_SVD_SQRT;
    let max_norm = (0..3)
        .map(|j| {
            (0..3)
                .map(|i| f64::from(c[i][j]).powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .fold(0.0f64, f64::max);
    let mut m = [[0.0f32; 3]; 3];
    for (mi, ci) in m.iter_mut().zip(c.iter()) {
        for (v, &x) in mi.iter_mut().zip(ci.iter()) {
            *v = (f64::from(x) / max_norm) as f32;
        }
    }
    m
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Unnormalised 2D real FFT pair over an `h × w` grid with an `h × (w/2+1)`
/// half spectrum (row-major `[ky][kx]`): real FFTs along rows (realfft),
/// complex FFTs down the columns (rustfft).
#[derive(Clone)]
struct Fft2 {
    h: usize,
    w: usize,
    wf: usize,
    row_fwd: Arc<dyn RealToComplex<f32>>,
    row_inv: Arc<dyn ComplexToReal<f32>>,
    col_fwd: Arc<dyn rustfft::Fft<f32>>,
    col_inv: Arc<dyn rustfft::Fft<f32>>,
}

impl Fft2 {
    fn new(h: usize, w: usize) -> Self {
        let mut planner = RealFftPlanner::<f32>::new();
        let mut complex = rustfft::FftPlanner::<f32>::new();
        Self {
            h,
            w,
            wf: w / 2 + 1,
            row_fwd: planner.plan_fft_forward(w),
            row_inv: planner.plan_fft_inverse(w),
            col_fwd: complex.plan_fft_forward(h),
            col_inv: complex.plan_fft_inverse(h),
        }
    }

    /// In-place unnormalised complex DFT of every column (`e^{-}` forward,
    /// `e^{+}` inverse).
    fn columns(&self, spec: &mut [Complex<f32>], inverse: bool) {
        let (h, wf) = (self.h, self.wf);
        let fft = if inverse {
            &self.col_inv
        } else {
            &self.col_fwd
        };
        let mut column = vec![Complex::new(0.0, 0.0); h];
        for kx in 0..wf {
            for (y, c) in column.iter_mut().enumerate() {
                *c = spec[y * wf + kx];
            }
            fft.process(&mut column);
            for (y, c) in column.iter().enumerate() {
                spec[y * wf + kx] = *c;
            }
        }
    }

    /// `out = h·w · irfft2(spec)` (numpy semantics); `spec` is used as scratch.
    fn inverse(&self, spec: &mut [Complex<f32>], out: &mut [f32]) {
        self.columns(spec, true);
        let wf = self.wf;
        let mut scratch = self.row_inv.make_scratch_vec();
        for (row, orow) in spec.chunks_exact_mut(wf).zip(out.chunks_exact_mut(self.w)) {
            row[0].im = 0.0;
            if 2 * (wf - 1) == self.w {
                row[wf - 1].im = 0.0;
            }
            let r = self.row_inv.process_with_scratch(row, orow, &mut scratch);
            debug_assert!(r.is_ok());
        }
    }

    /// `spec = rfft2(img)` (unnormalised, numpy semantics).
    fn forward(&self, img: &[f32], spec: &mut [Complex<f32>]) {
        let mut input = self.row_fwd.make_input_vec();
        let mut scratch = self.row_fwd.make_scratch_vec();
        for (irow, srow) in img.chunks_exact(self.w).zip(spec.chunks_exact_mut(self.wf)) {
            input.copy_from_slice(irow);
            let r = self
                .row_fwd
                .process_with_scratch(&mut input, srow, &mut scratch);
            debug_assert!(r.is_ok());
        }
        self.columns(spec, false);
    }
}

/// Lucid's Fourier-parameterised, colour-decorrelated, sigmoid-squashed image
/// (`fft_image` + `to_valid_rgb(decorrelate=True, sigmoid=True)`); see the
/// module docs for the exact FFT conventions.
#[derive(Clone)]
pub struct FourierImage {
    h: usize,
    w: usize,
    wf: usize,
    /// `[3][h][w/2+1][re, im]`.
    params: Vec<f32>,
    /// Per-bin factor `k = scale / (4·h·w)`, `[h][w/2+1]`.
    factor: Vec<f32>,
    /// Adjoint factor `c(kx)·k` (`c` = 1 for DC/Nyquist columns, else 2).
    adj_factor: Vec<f32>,
    fft: Fft2,
}

impl FourierImage {
    /// New image of size `h × w` (both ≥ 2) with parameters drawn i.i.d. from
    /// `N(0, 0.01²)` using `ChaCha8Rng::seed_from_u64(seed)`.
    pub fn new(h: usize, w: usize, seed: u64) -> Self {
        assert!(h >= 2 && w >= 2, "image must be at least 2x2");
        let wf = w / 2 + 1;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let params = (0..3 * h * wf * 2)
            .map(|_| INIT_SD * rng.sample::<f32, _>(StandardNormal))
            .collect();
        let (hf, wfl) = (h as f64, w as f64);
        let min_f = 1.0 / hf.max(wfl);
        let (mut factor, mut adj_factor) = (Vec::new(), Vec::new());
        for ky in 0..h {
            let fy = if ky <= (h - 1) / 2 {
                ky as f64
            } else {
                ky as f64 - hf
            } / hf;
            for kx in 0..wf {
                let fx = kx as f64 / wfl;
                let f = (fy * fy + fx * fx).sqrt().max(min_f);
                let scale = (hf * wfl).sqrt() / f;
                let c = if kx == 0 || 2 * kx == w { 1.0 } else { 2.0 };
                factor.push((scale / (4.0 * hf * wfl)) as f32);
                adj_factor.push((c * scale / (4.0 * hf * wfl)) as f32);
            }
        }
        Self {
            h,
            w,
            wf,
            params,
            factor,
            adj_factor,
            fft: Fft2::new(h, w),
        }
    }

    /// Spectrum parameters, layout `[3][h][w/2+1][re, im]` (interleaved).
    #[cfg(test)]
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// Mutable spectrum parameters (same layout as [`Self::params`]).
    #[cfg(test)]
    pub fn params_mut(&mut self) -> &mut [f32] {
        &mut self.params
    }

    /// Pre-colour spatial image `irfft2(scale·P)/4`, `[3, h, w]`.
    fn spatial(&self) -> Vec<f32> {
        let (n, m) = (self.h * self.w, self.h * self.wf);
        let mut out = vec![0.0f32; 3 * n];
        let mut spec = vec![Complex::new(0.0f32, 0.0); m];
        for (c, oc) in out.chunks_exact_mut(n).enumerate() {
            let p = &self.params[2 * c * m..2 * (c + 1) * m];
            for ((s, pp), &k) in spec.iter_mut().zip(p.chunks_exact(2)).zip(&self.factor) {
                *s = Complex::new(pp[0] * k, pp[1] * k);
            }
            self.fft.inverse(&mut spec, oc);
        }
        out
    }

    /// Renders the RGB image, `[3, h, w]`, values in `(0, 1)`.
    pub fn render(&self) -> Vec<f32> {
        let n = self.h * self.w;
        let s = self.spatial();
        let m = color_matrix();
        let mut out = vec![0.0f32; 3 * n];
        for p in 0..n {
            let x = [s[p], s[n + p], s[2 * n + p]];
            for (c, mc) in m.iter().enumerate() {
                out[c * n + p] = sigmoid(mc[0] * x[0] + mc[1] * x[1] + mc[2] * x[2]);
            }
        }
        out
    }

    /// Exact gradient of `Σ grad_rgb · render()` with respect to the spectrum
    /// parameters (layout of [`Self::params`]). Renders internally.
    #[cfg(test)]
    pub fn backward(&self, grad_rgb: &[f32]) -> Vec<f32> {
        self.backward_from(&self.render(), grad_rgb)
    }

    /// As [`Self::backward`] but reusing `rendered`, which must equal
    /// `self.render()` for the current parameters.
    pub fn backward_from(&self, rendered: &[f32], grad_rgb: &[f32]) -> Vec<f32> {
        let (n, m) = (self.h * self.w, self.h * self.wf);
        assert_eq!(rendered.len(), 3 * n, "rendered must be [3, h, w]");
        assert_eq!(grad_rgb.len(), 3 * n, "grad_rgb must be [3, h, w]");
        let cm = color_matrix();
        let mut gs = vec![0.0f32; 3 * n];
        for p in 0..n {
            let gp: [f32; 3] = std::array::from_fn(|c| {
                let s = rendered[c * n + p];
                grad_rgb[c * n + p] * s * (1.0 - s)
            });
            for j in 0..3 {
                gs[j * n + p] = cm[0][j] * gp[0] + cm[1][j] * gp[1] + cm[2][j] * gp[2];
            }
        }
        let mut grad = vec![0.0f32; self.params.len()];
        let mut spec = vec![Complex::new(0.0f32, 0.0); m];
        for c in 0..3 {
            self.fft.forward(&gs[c * n..(c + 1) * n], &mut spec);
            let gc = &mut grad[2 * c * m..2 * (c + 1) * m];
            for (i, (g, s)) in gc.chunks_exact_mut(2).zip(&spec).enumerate() {
                let k = self.adj_factor[i];
                g[0] = s.re * k;
                g[1] = s.im * k;
            }
        }
        grad
    }
}

/// One sample of Lucid's `standard_transforms`, fused into a single affine
/// bilinear resampling `[3, h, w] → [3, h, w]`.
///
/// In pixel coordinates centred on the image centre, the forward map of
/// content is `q_out = R(angle) · scale · (q_src − jitter1) − jitter2`; each
/// output pixel is inverse-mapped to the source and bilinearly interpolated.
/// Bilinear taps outside the source read [`PAD_VALUE`] (constant 0.5, as
/// Lucid's `pad(12, constant_value=0.5)`, but unbounded, so rotated corners are
/// never black). The output keeps the input size (Lucid's output is a few
/// pixels larger; here the centre is kept).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transform {
    /// First jitter `[dy, dx]`, each in `-4..=4` (Lucid `jitter(8)`).
    pub jitter1: [i32; 2],
    /// Scale factor from `1 + (i − 5)/50`, `i in 0..11`.
    pub scale: f32,
    /// Rotation in degrees, uniform over Lucid's list `-10..=10` plus five
    /// extra zeros (26 entries).
    pub angle_deg: f32,
    /// Second jitter `[dy, dx]`, each in `-2..=2` (Lucid `jitter(4)`).
    pub jitter2: [i32; 2],
}

/// Bilinear taps of one output pixel: (source plane index or `None` = pad,
/// weight).
type Taps = [(Option<usize>, f32); 4];

impl Transform {
    /// The identity transform (no jitter, scale 1, angle 0).
    #[cfg(test)]
    pub fn identity() -> Self {
        Self {
            jitter1: [0, 0],
            scale: 1.0,
            angle_deg: 0.0,
            jitter2: [0, 0],
        }
    }

    /// Draws a transform as Lucid's `standard_transforms` would (size
    /// independent).
    pub fn random<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let j1 = [rng.random_range(0..=8) - 4, rng.random_range(0..=8) - 4];
        let scale = 1.0 + (rng.random_range(0..11i32) - 5) as f32 / 50.0;
        let idx = rng.random_range(0..26i32);
        let angle_deg = if idx <= 20 { (idx - 10) as f32 } else { 0.0 };
        let j2 = [rng.random_range(0..=4) - 2, rng.random_range(0..=4) - 2];
        Self {
            jitter1: j1,
            scale,
            angle_deg,
            jitter2: j2,
        }
    }

    /// Returns a closure computing the taps of output pixel `(i, j)`.
    fn taps(&self, h: usize, w: usize) -> impl Fn(usize, usize) -> Taps {
        let (sin, cos) = f64::from(self.angle_deg).to_radians().sin_cos();
        let inv_s = 1.0 / f64::from(self.scale);
        let (cy, cx) = ((h as f64 - 1.0) / 2.0, (w as f64 - 1.0) / 2.0);
        let (j1, j2) = (self.jitter1.map(f64::from), self.jitter2.map(f64::from));
        move |i, j| {
            let yc = i as f64 - cy + j2[0];
            let xc = j as f64 - cx + j2[1];
            let ys = (cos * yc + sin * xc) * inv_s + j1[0] + cy;
            let xs = (-sin * yc + cos * xc) * inv_s + j1[1] + cx;
            let (y0, x0) = (ys.floor(), xs.floor());
            let (fy, fx) = ((ys - y0) as f32, (xs - x0) as f32);
            let idx = |y: f64, x: f64| {
                (y >= 0.0 && x >= 0.0 && y < h as f64 && x < w as f64)
                    .then(|| y as usize * w + x as usize)
            };
            [
                (idx(y0, x0), (1.0 - fy) * (1.0 - fx)),
                (idx(y0, x0 + 1.0), (1.0 - fy) * fx),
                (idx(y0 + 1.0, x0), fy * (1.0 - fx)),
                (idx(y0 + 1.0, x0 + 1.0), fy * fx),
            ]
        }
    }

    /// Applies the transform to `img` (`[3, h, w]`), returning `[3, h, w]`.
    pub fn apply(&self, img: &[f32], h: usize, w: usize) -> Vec<f32> {
        let n = h * w;
        debug_assert_eq!(img.len(), 3 * n, "img must be [3, h, w]");
        let taps = self.taps(h, w);
        let mut out = vec![0.0f32; 3 * n];
        for i in 0..h {
            for j in 0..w {
                let t = taps(i, j);
                for c in 0..3 {
                    let plane = &img[c * n..(c + 1) * n];
                    out[c * n + i * w + j] = t
                        .iter()
                        .map(|&(k, wt)| wt * k.map_or(PAD_VALUE, |k| plane[k]))
                        .sum();
                }
            }
        }
        out
    }

    /// Exact transpose of the linear part of [`Self::apply`]: scatters
    /// `grad_out` (`[3, h, w]`) back through the bilinear weights. Padding is a
    /// constant and receives no gradient.
    pub fn adjoint(&self, grad_out: &[f32], h: usize, w: usize) -> Vec<f32> {
        let n = h * w;
        assert_eq!(grad_out.len(), 3 * n, "grad_out must be [3, h, w]");
        let taps = self.taps(h, w);
        let mut out = vec![0.0f32; 3 * n];
        for i in 0..h {
            for j in 0..w {
                for (k, wt) in taps(i, j) {
                    if let Some(k) = k {
                        for c in 0..3 {
                            out[c * n + k] += wt * grad_out[c * n + i * w + j];
                        }
                    }
                }
            }
        }
        out
    }
}

/// Adam (TensorFlow's formulation, as used by Lucid) performing gradient
/// **ascent**: `step` moves parameters *along* the gradient, because we
/// maximise the objective.
///
/// `m ← β1 m + (1−β1) g`, `v ← β2 v + (1−β2) g²`,
/// `p ← p + lr·sqrt(1−β2^t)/(1−β1^t) · m / (sqrt(v) + eps)`.
#[derive(Clone, Debug)]
pub struct Adam {
    /// Learning rate (Lucid default 0.05).
    pub lr: f32,
    /// First-moment decay (0.9).
    pub beta1: f32,
    /// Second-moment decay (0.999).
    pub beta2: f32,
    /// Denominator epsilon (1e-8).
    pub eps: f32,
    m: Vec<f32>,
    v: Vec<f32>,
    t: i32,
}

impl Default for Adam {
    fn default() -> Self {
        Self::new(DEFAULT_LR)
    }
}

impl Adam {
    /// New optimiser with learning rate `lr` and default betas/epsilon.
    pub fn new(lr: f32) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            m: Vec::new(),
            v: Vec::new(),
            t: 0,
        }
    }

    /// One ascent step: `params += update(grad)`. State is sized on first use.
    pub fn step(&mut self, params: &mut [f32], grad: &[f32]) {
        assert_eq!(params.len(), grad.len(), "params/grad length mismatch");
        if self.m.len() != params.len() {
            self.m = vec![0.0; params.len()];
            self.v = vec![0.0; params.len()];
            self.t = 0;
        }
        self.t += 1;
        let (b1, b2) = (f64::from(self.beta1), f64::from(self.beta2));
        let lr_t =
            (f64::from(self.lr) * (1.0 - b2.powi(self.t)).sqrt() / (1.0 - b1.powi(self.t))) as f32;
        for (((p, &g), m), v) in params
            .iter_mut()
            .zip(grad)
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            *m = self.beta1 * *m + (1.0 - self.beta1) * g;
            *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
            *p += lr_t * *m / (v.sqrt() + self.eps);
        }
    }
}

/// The feature-visualisation loop state: image parameterisation, optimiser and
/// transform RNG (`ChaCha8Rng::seed_from_u64(seed)`, stream 1; the image
/// initialisation uses stream 0 of the same seed).
///
/// Per step: `let (x, t) = opt.next_input();` → network gives
/// `d objective / d x` → `opt.apply_gradient(&t, &grad)`.
#[derive(Clone)]
pub struct Optimisation {
    image: FourierImage,
    adam: Adam,
    rng: ChaCha8Rng,
    step: usize,
    rendered: Option<Vec<f32>>,
}

impl Optimisation {
    /// New optimisation of an `h × w` image with the given seed and Adam `lr`.
    pub fn new(h: usize, w: usize, seed: u64, lr: f32) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(1);
        let image = FourierImage::new(h, w, seed);
        Self {
            image,
            adam: Adam::new(lr),
            rng,
            step: 0,
            rendered: None,
        }
    }

    /// Renders the image, samples a [`Transform`] and returns the transformed
    /// `[3, h, w]` image (values in `[0, 1]`) that the network should see.
    pub fn next_input(&mut self) -> (Vec<f32>, Transform) {
        let img = self.image.render();
        let t = Transform::random(&mut self.rng);
        let x = t.apply(&img, self.image.h, self.image.w);
        self.rendered = Some(img);
        (x, t)
    }

    /// Chains `grad_input` (d objective / d transformed image, `[3, h, w]`)
    /// through the transform adjoint and [`FourierImage::backward_from`], then
    /// takes one Adam ascent step.
    pub fn apply_gradient(&mut self, transform: &Transform, grad_input: &[f32]) {
        let (h, w) = (self.image.h, self.image.w);
        let g_img = transform.adjoint(grad_input, h, w);
        let rendered = self.rendered.take().unwrap_or_else(|| self.image.render());
        let g = self.image.backward_from(&rendered, &g_img);
        self.adam.step(&mut self.image.params, &g);
        self.step += 1;
    }

    /// Current untransformed render, `[3, h, w]`.
    pub fn image(&self) -> Vec<f32> {
        self.image.render()
    }

    /// Number of gradient steps applied.
    #[cfg(test)]
    pub fn step(&self) -> usize {
        self.step
    }
}

/// Converts planar `[3, h, w]` values in `[0, 1]` to interleaved RGB8
/// (clamped, rounded), e.g. for saving a PNG.
pub fn to_rgb8(img: &[f32], h: usize, w: usize) -> Vec<u8> {
    let n = h * w;
    debug_assert_eq!(img.len(), 3 * n, "img must be [3, h, w]");
    (0..3 * n)
        .map(|i| (img[(i % 3) * n + i / 3].clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn randn(n: usize, seed: u64, sd: f32) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| sd * rng.sample::<f32, _>(StandardNormal))
            .collect()
    }

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| f64::from(x) * f64::from(y))
            .sum()
    }

    #[test]
    fn fft2_inverse_matches_naive_numpy_irfft2() {
        // numpy: irfft2(S)·h·w = Σ c(kx)·Re(S e^{iθ}); imag of DC/Nyquist columns
        // after the column transform is discarded.
        for (h, w) in [(5, 6), (6, 7), (4, 4)] {
            let wf = w / 2 + 1;
            let r = randn(2 * h * wf, 7, 1.0);
            let spec: Vec<_> = r.chunks(2).map(|p| Complex::new(p[0], p[1])).collect();
            let mut out = vec![0.0; h * w];
            Fft2::new(h, w).inverse(&mut spec.clone(), &mut out);
            for (i, &o) in out.iter().enumerate() {
                let (y, n) = (i / w, i % w);
                let acc: f64 = (0..h * wf)
                    .map(|b| {
                        let (ky, kx) = (b / wf, b % wf);
                        let c = if kx == 0 || 2 * kx == w { 1.0 } else { 2.0 };
                        let th =
                            2.0 * PI * ((ky * y) as f64 / h as f64 + (kx * n) as f64 / w as f64);
                        let s = spec[b];
                        c * (f64::from(s.re) * th.cos() - f64::from(s.im) * th.sin())
                    })
                    .sum();
                assert!((acc - f64::from(o)).abs() < 1e-4, "{h}x{w} {i}");
            }
        }
    }

    #[test]
    fn fourier_backward_matches_finite_differences() {
        for (h, w) in [(6, 7), (8, 8), (7, 6)] {
            let mut img = FourierImage::new(h, w, 3);
            // Larger parameters than the init so the sigmoid is nonlinear.
            let p = randn(img.params().len(), 4, 0.3);
            img.params_mut().copy_from_slice(&p);
            let g = randn(3 * h * w, 5, 1.0);
            let an = img.backward(&g);
            let max_an = an.iter().fold(0.0f32, |a, &b| a.max(b.abs())) as f64;
            let eps = 1e-2f32;
            let mut worst = 0.0f64;
            for (i, &a) in an.iter().enumerate() {
                let mut ip = img.clone();
                ip.params_mut()[i] += eps;
                let mut im = img.clone();
                im.params_mut()[i] -= eps;
                let (rp, rm) = (ip.render(), im.render());
                let fd: f64 = g
                    .iter()
                    .zip(rp.iter().zip(&rm))
                    .map(|(&g, (&a, &b))| f64::from(g) * (f64::from(a) - f64::from(b)))
                    .sum::<f64>()
                    / (2.0 * f64::from(eps));
                let err = (fd - f64::from(a)).abs();
                worst = worst.max(err / max_an);
                assert!(
                    err <= 2e-3 * max_an + 1e-2 * fd.abs(),
                    "{h}x{w} i={i} fd={fd} an={a}"
                );
            }
            println!("{h}x{w}: max |fd-an|/max|an| = {worst:.2e}");
        }
    }

    #[test]
    fn render_range_and_seed_reproducibility() {
        let a = FourierImage::new(12, 9, 1);
        let r = a.render();
        assert_eq!(r.len(), 3 * 12 * 9);
        assert!(r.iter().all(|&v| v > 0.0 && v < 1.0));
        assert_eq!(r, FourierImage::new(12, 9, 1).render());
        assert_ne!(r, FourierImage::new(12, 9, 2).render());
    }

    #[test]
    fn identity_transform_is_exact() {
        let x = randn(3 * 10 * 13, 1, 1.0);
        assert_eq!(Transform::identity().apply(&x, 10, 13), x);
        assert_eq!(Transform::identity().adjoint(&x, 10, 13), x);
    }

    #[test]
    fn transform_adjoint_dot_product() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for (h, w) in [(16, 16), (13, 17), (31, 24)] {
            for s in 0..8u64 {
                let t = Transform::random(&mut rng);
                let x = randn(3 * h * w, 100 + s, 1.0);
                let y = randn(3 * h * w, 200 + s, 1.0);
                // Linear part: subtract the image of zero (the pad contribution).
                let a0 = t.apply(&vec![0.0; 3 * h * w], h, w);
                let ax: Vec<f32> = t
                    .apply(&x, h, w)
                    .iter()
                    .zip(&a0)
                    .map(|(a, b)| a - b)
                    .collect();
                let lhs = dot(&ax, &y);
                let rhs = dot(&x, &t.adjoint(&y, h, w));
                assert!(
                    (lhs - rhs).abs() <= 1e-4 * lhs.abs().max(1.0),
                    "{t:?} {lhs} {rhs}"
                );
            }
        }
    }

    #[test]
    fn transform_random_ranges_and_determinism() {
        let mut a = ChaCha8Rng::seed_from_u64(5);
        let mut b = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..500 {
            let t = Transform::random(&mut a);
            assert_eq!(t, Transform::random(&mut b));
            assert!(t.jitter1.iter().all(|v| (-4..=4).contains(v)));
            assert!(t.jitter2.iter().all(|v| (-2..=2).contains(v)));
            assert!((0.9..=1.1).contains(&t.scale) && (-10.0..=10.0).contains(&t.angle_deg));
        }
    }

    #[test]
    fn adam_ascends_concave_quadratic() {
        // f(p) = -Σ (p - target)², gradient 2 (target - p).
        let target = [1.0f32, -2.0, 0.5];
        let mut p = [0.0f32; 3];
        let mut adam = Adam::new(0.05);
        for _ in 0..500 {
            let g: Vec<f32> = p.iter().zip(&target).map(|(p, t)| 2.0 * (t - p)).collect();
            adam.step(&mut p, &g);
        }
        assert!(
            p.iter().zip(&target).all(|(p, t)| (p - t).abs() < 0.05),
            "{p:?}"
        );
    }

    fn toy_run(seed: u64, steps: usize) -> (f32, f32, Vec<f32>) {
        let (h, w) = (24, 20);
        let n = h * w;
        let obj =
            |x: &[f32]| (x[..n].iter().sum::<f32>() - x[2 * n..].iter().sum::<f32>()) / n as f32;
        let mut opt = Optimisation::new(h, w, seed, DEFAULT_LR);
        let before = obj(&opt.image());
        let mut grad = vec![0.0f32; 3 * n];
        grad[..n].fill(1.0 / n as f32);
        grad[2 * n..].fill(-1.0 / n as f32);
        for _ in 0..steps {
            let (_x, t) = opt.next_input();
            opt.apply_gradient(&t, &grad);
        }
        assert_eq!(opt.step(), steps);
        let img = opt.image();
        (before, obj(&img), img)
    }

    #[test]
    fn optimisation_toy_objective_rises_and_is_reproducible() {
        let (before, after, img) = toy_run(42, 50);
        println!("toy objective: {before:.4} -> {after:.4}");
        assert!(before.abs() < 0.01 && after > 0.08, "{before} -> {after}");
        assert_eq!(toy_run(42, 50).2, img);
        assert_ne!(toy_run(43, 50).2, img);
    }

    #[test]
    fn to_rgb8_interleaves_and_clamps() {
        let img = [0.0, 1.0, -1.0, 2.0, 0.5, 0.25];
        assert_eq!(to_rgb8(&img, 1, 2), vec![0, 0, 128, 255, 255, 64]);
    }
}
