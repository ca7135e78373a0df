//! What does this filter respond to? Gradient-based attribution for any channel of any layer
//! (or a class score): saliency (Simonyan et al. 2014), SmoothGrad (Smilkov et al. 2017),
//! integrated gradients (Sundararajan et al. 2017), guided backprop (Springenberg et al. 2015),
//! deconvnet (Zeiler & Fergus 2014), Grad-CAM and guided Grad-CAM (Selvaraju et al. 2017);
//! feature visualisation ([`visualize`]), the randomisation sanity check ([`sanity`]) and
//! spatial attribution to a class at a layer ([`spatial`]).
//!
//! Every method is one file implementing [`AttributionMethod`], listed once in
//! [`Method::implementation`]. All of them run on the hand-written backward pass of
//! [`engine`], on whatever device the network runs on.

pub mod classes;
pub mod engine;
mod fvis;
pub mod sanity;
pub mod spatial;
pub mod visualize;

mod deconv;
mod gradcam;
mod guided;
mod guided_gradcam;
mod integrated;
mod pass;
mod saliency;
mod smoothgrad;

use burn::tensor::{Device, Tensor, TensorData};

pub use engine::{BackwardOptions, Recorded, Target};
pub use pass::Pass;

use crate::catalogue::{Catalogue, INPUT_SIZE, LayerKind};
use crate::error::NetError;
use crate::model::InceptionV3;
use crate::preprocess::InputImage;
use crate::taps::ReluRule;

/// An attribution method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// |d target / d input|, max over colour channels.
    Saliency,
    /// Saliency averaged over noisy copies of the input.
    SmoothGrad,
    /// Integrated gradients from a baseline.
    Integrated,
    /// Guided backprop.
    Guided,
    /// Deconvnet projection.
    Deconv,
    /// Grad-CAM at a conv or concat layer.
    GradCam,
    /// Guided backprop × Grad-CAM.
    GuidedGradCam,
}

impl Method {
    /// Every method, in menu order.
    pub const ALL: [Method; 7] = [
        Self::Saliency,
        Self::SmoothGrad,
        Self::Integrated,
        Self::Guided,
        Self::Deconv,
        Self::GradCam,
        Self::GuidedGradCam,
    ];

    /// The method's implementation.
    pub fn implementation(self) -> &'static dyn AttributionMethod {
        match self {
            Self::Saliency => &saliency::Saliency,
            Self::SmoothGrad => &smoothgrad::SmoothGrad,
            Self::Integrated => &integrated::IntegratedGradients,
            Self::Guided => &guided::GuidedBackprop,
            Self::Deconv => &deconv::Deconvnet,
            Self::GradCam => &gradcam::GradCam,
            Self::GuidedGradCam => &guided_gradcam::GuidedGradCam,
        }
    }

    /// Command-line name (`saliency`, `guided-gradcam`, …).
    pub fn id(self) -> &'static str {
        self.implementation().id()
    }

    /// Name for people.
    pub fn title(self) -> &'static str {
        self.implementation().title()
    }

    /// Whether the raw result is a signed input gradient best seen as colour (guided
    /// backprop, deconvnet and guided Grad-CAM, as their papers show them) rather than a
    /// magnitude through a colormap.
    pub fn shows_signed_gradient(self) -> bool {
        matches!(self, Self::Guided | Self::Deconv | Self::GuidedGradCam)
    }

    /// Parse a command-line name.
    pub fn from_id(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.id() == s)
    }
}

/// Where integrated gradients start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Baseline {
    /// A black image.
    #[default]
    Black,
    /// The photo blurred (Gaussian, σ = 1/15 of the side): removes detail, keeps colour.
    Blurred,
}

/// Parameters of the methods (each reads the ones it needs).
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// SmoothGrad: noisy copies.
    pub samples: usize,
    /// SmoothGrad: noise σ as a fraction of the input's range.
    pub noise: f32,
    /// Integrated gradients: steps from the baseline.
    pub steps: usize,
    /// Integrated gradients: the baseline.
    pub baseline: Baseline,
    /// Grad-CAM layer (id or alias); `None` = the default for the target
    /// ([`gradcam::default_layer`]).
    pub cam_layer: Option<String>,
    /// Seed of every random choice (SmoothGrad's noise).
    pub seed: u64,
    /// Images per pass for the methods that take many (SmoothGrad, integrated gradients).
    pub batch: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            samples: 16,
            noise: 0.15,
            steps: 32,
            baseline: Baseline::Black,
            cam_layer: None,
            seed: 0,
            batch: 8,
        }
    }
}

impl Options {
    /// These options with the fields `method` does not read set to their defaults, so that
    /// two requests that compute the same thing compare equal (caches key on this).
    pub fn relevant_to(&self, method: Method) -> Options {
        let d = Options::default();
        let mut o = Options {
            seed: self.seed,
            batch: self.batch,
            ..d.clone()
        };
        match method {
            Method::SmoothGrad => {
                o.samples = self.samples;
                o.noise = self.noise;
            }
            Method::Integrated => {
                o.steps = self.steps;
                o.baseline = self.baseline;
            }
            Method::GradCam | Method::GuidedGradCam => o.cam_layer = self.cam_layer.clone(),
            Method::Saliency | Method::Guided | Method::Deconv => {}
        }
        o
    }
}

/// What the raw result is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawKind {
    /// A gradient-shaped result with respect to the network input, `[1, 3, H, W]` NCHW.
    InputGradient,
    /// A map at a layer's resolution, `[h, w]` (Grad-CAM).
    Map,
}

/// Integrated gradients' completeness: the attributions should sum to F(x) − F(baseline).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Completeness {
    /// Σ attributions.
    pub sum: f32,
    /// F(x) − F(baseline).
    pub difference: f32,
}

impl Completeness {
    /// |Σ attributions − difference| / |difference|.
    pub fn relative_error(&self) -> f32 {
        (self.sum - self.difference).abs() / self.difference.abs().max(1e-12)
    }
}

/// One method's result for one image and target, before any display processing.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribution {
    /// The method.
    pub method: Method,
    /// The target.
    pub target: Target,
    /// What `data` is.
    pub kind: RawKind,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
    /// The target's value on the photo.
    pub target_value: f32,
    /// For integrated gradients.
    pub completeness: Option<Completeness>,
    /// The Grad-CAM layer, for Grad-CAM and guided Grad-CAM.
    pub cam_layer: Option<String>,
}

/// One attribution method: an id, a title, and its computation.
pub trait AttributionMethod: Sync {
    /// Which [`Method`] this is.
    fn method(&self) -> Method;
    /// Command-line name.
    fn id(&self) -> &'static str;
    /// Name for people.
    fn title(&self) -> &'static str;
    /// One line on what it shows.
    fn summary(&self) -> &'static str;
    /// Compute it.
    fn compute(&self, job: &mut Job<'_>) -> Result<Attribution, NetError>;
}

/// Everything a method needs: the model, the photo, the target, the options, and a progress
/// callback (`(done, total)`; returning `false` cancels).
pub struct Job<'a> {
    /// The model.
    pub model: &'a InceptionV3,
    /// Where it runs.
    pub device: &'a Device,
    /// The photo.
    pub image: &'a InputImage,
    /// What to explain.
    pub target: &'a Target,
    /// Method parameters.
    pub options: &'a Options,
    /// Progress and cancellation.
    pub progress: &'a mut dyn FnMut(usize, usize) -> bool,
    /// A pass already run on the image with this model, whose taps the methods walking the
    /// photo itself take instead of running the forward again.
    pub pass: Option<Pass<'a>>,
}

impl<'a> Job<'a> {
    /// Report progress; `Err(Cancelled)` when the person cancelled.
    pub fn tick(&mut self, done: usize, total: usize) -> Result<(), NetError> {
        if (self.progress)(done, total) {
            Ok(())
        } else {
            Err(NetError::Cancelled)
        }
    }

    /// A batch of NCHW input images as one tensor on the device.
    pub fn batch(&self, images: &[&[f32]]) -> Tensor<4> {
        let n = images.len();
        let mut data = Vec::with_capacity(n * 3 * INPUT_SIZE * INPUT_SIZE);
        for im in images {
            data.extend_from_slice(im);
        }
        Tensor::from_data(
            TensorData::new(data, [n, 3, INPUT_SIZE, INPUT_SIZE]),
            self.device,
        )
    }

    /// The same job on a pass already run on the image with this model.
    pub fn on_pass(self, pass: Pass<'a>) -> Self {
        Self {
            pass: Some(pass),
            ..self
        }
    }

    /// The photo's forward pass recorded for `target` (and the layers in `extra`): the taps of
    /// the job's pass when it has one, else a forward pass now.
    pub fn record(&self, target: &Target, extra: &[usize]) -> Result<Recorded<'a>, NetError> {
        let x = self.batch(&[&self.image.tensor]);
        match &self.pass {
            Some(pass) => Recorded::from_pass(self.model, x, target, extra, pass),
            None => Recorded::new(self.model, x, target, extra),
        }
    }

    /// The photo's input gradient under `rule`, and the target's value.
    pub fn input_gradient(&mut self, rule: ReluRule) -> Result<(Vec<f32>, f32), NetError> {
        self.tick(0, 1)?;
        let target = self.target.source();
        let rec = self.record(&target, &[])?;
        let value = read(rec.target_value(&target)?)?;
        let grad = rec.backward(&target, rule, &BackwardOptions::default())?;
        let out = read(grad.input)?;
        self.tick(1, 1)?;
        Ok((out, value.first().copied().unwrap_or(0.0)))
    }

    /// An input-gradient result.
    pub fn gradient_result(&self, method: Method, data: Vec<f32>, value: f32) -> Attribution {
        Attribution {
            method,
            target: self.target.clone(),
            kind: RawKind::InputGradient,
            shape: vec![1, 3, INPUT_SIZE, INPUT_SIZE],
            data,
            target_value: value,
            completeness: None,
            cam_layer: None,
        }
    }
}

/// Read a tensor back as f32 values.
pub fn read<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, NetError> {
    crate::to_f32(
        t.try_into_data()
            .map_err(|e| NetError::Device(format!("reading a gradient back: {e:?}")))?,
    )
}

/// Where a concat's channel comes from: the branch layer (a conv or pool, never a concat) and
/// its channel. Other layers return themselves.
pub fn channel_source(layer: &str, channel: usize) -> Option<(String, usize)> {
    let cat = Catalogue::inception_v3();
    let mut info = cat.resolve(layer)?;
    let mut k = channel;
    if k >= info.shape[0] {
        return None;
    }
    while info.kind == LayerKind::Concat {
        let mut next = None;
        for &j in &info.inputs {
            let c = cat.layers[j].shape[0];
            if k < c {
                next = Some(&cat.layers[j]);
                break;
            }
            k -= c;
        }
        info = next?;
    }
    Some((info.id.clone(), k))
}

impl Attribution {
    /// What to draw: `(values, [h, w], signed)`. Signed results (guided backprop, deconvnet,
    /// guided Grad-CAM) are the planar `[3, h, w]` gradient itself, drawn as colour; the others
    /// are [`Attribution::magnitude`], drawn through a colormap.
    pub fn display_values(&self) -> (Vec<f32>, [usize; 2], bool) {
        if self.method.shows_signed_gradient() && self.kind == RawKind::InputGradient {
            (self.data.clone(), [self.shape[2], self.shape[3]], true)
        } else {
            let (v, hw) = self.magnitude();
            (v, hw, false)
        }
    }

    /// The map a person looks at, `(values, [h, w])`, non-negative: for an input gradient the
    /// saliency image (max over colour channels of |value|); for a layer map (Grad-CAM) the
    /// map itself.
    pub fn magnitude(&self) -> (Vec<f32>, [usize; 2]) {
        match self.kind {
            RawKind::Map => {
                let h = self.shape.first().copied().unwrap_or(0);
                let w = self.shape.get(1).copied().unwrap_or(0);
                (self.data.clone(), [h, w])
            }
            RawKind::InputGradient => {
                let (h, w) = (self.shape[2], self.shape[3]);
                let plane = h * w;
                let out = (0..plane)
                    .map(|i| {
                        (0..3)
                            .map(|c| self.data[c * plane + i].abs())
                            .fold(0.0, f32::max)
                    })
                    .collect();
                (out, [h, w])
            }
        }
    }
}
