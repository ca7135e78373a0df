//! Inception-V3 ("Rethinking the Inception Architecture for Computer Vision", Szegedy et al.,
//! 2016) exactly as torchvision's `Inception3` defines it, with every layer tapped.
#![allow(non_snake_case)]

pub mod blocks;
pub mod cpu_conv;
mod cpu_gemm;
pub mod cpu_pool;
mod cpu_winograd;
pub mod host;

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Tensor};

pub use blocks::{
    BN_EPSILON, BasicConv2d, Folded, InceptionA, InceptionB, InceptionC, InceptionD, InceptionE,
};

use crate::catalogue::{Catalogue, LayerKind};
use crate::taps::{DeviceTaps, Recorder, ReluRule, TapRequest, TapVisitor};

/// Whether the CPU path's own kernels (`cpu_conv`, `cpu_pool`) run on `device`: burn's `flex`
/// CPU device without autodiff (an autodiff pass needs burn's own ops to record the graph).
pub fn cpu_kernels_serve(device: &Device) -> bool {
    !device.is_autodiff() && *device == Device::flex()
}

/// Activation after a dense layer of a Keras head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenseActivation {
    /// None (`linear`).
    Linear,
    /// ReLU.
    Relu,
    /// Softmax (the last layer of a classifier; the model reports logits before it).
    Softmax,
}

/// A Keras classifier head: dense layers after the global pool (the nsfwjs model's
/// Dense 256 relu → Dense 128 relu → Dense 5 softmax). Dropout is the identity at inference.
#[derive(Module, Debug)]
pub struct DenseHead {
    /// The dense layers, in order.
    pub layers: Vec<Linear>,
    /// Activation after each layer.
    #[module(skip)]
    pub activations: Vec<DenseActivation>,
}

/// Which Inception-V3: the published one (Keras, torchvision, TF.js), or Google's 2015 graph
/// (`inception-2015-12-05`, what TensorFlow for Poets retrains), whose last block pools its
/// pool branch with a 3x3 max pool instead of an average pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Variant {
    /// Keras / torchvision / TF.js.
    #[default]
    Standard,
    /// The 2015 TensorFlow graph: `Mixed_7c`'s pool branch is a max pool.
    Graph2015,
}

impl Variant {
    /// In words, for the UI.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Standard => "Inception-V3",
            Self::Graph2015 => {
                "Inception-V3, 2015 TensorFlow graph (Mixed_7c pool branch: max pool)"
            }
        }
    }
}

/// The layer the 2015 graph pools differently.
pub const GRAPH_2015_MAX_POOL: &str = "Mixed_7c.branch_pool.avg_pool";

/// What head a model is built with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeadSpec {
    /// Trunk only.
    None,
    /// torchvision's `fc`: Linear 2048 → classes.
    Fc {
        /// Number of classes.
        classes: usize,
    },
    /// A Keras dense stack: (units, activation) per layer.
    Dense(Vec<(usize, DenseActivation)>),
}

/// One dense layer of a head as the forward pass ran it.
pub struct HeadStep<'a> {
    /// The layer.
    pub layer: &'a Linear,
    /// Its output after the ReLU, when it has one.
    pub relu_output: Option<Tensor<2>>,
}

/// torchvision `Inception3` (AuxLogits are accepted in weight files and ignored).
#[derive(Module, Debug)]
pub struct InceptionV3 {
    pub Conv2d_1a_3x3: BasicConv2d,
    pub Conv2d_2a_3x3: BasicConv2d,
    pub Conv2d_2b_3x3: BasicConv2d,
    pub Conv2d_3b_1x1: BasicConv2d,
    pub Conv2d_4a_3x3: BasicConv2d,
    pub Mixed_5b: InceptionA,
    pub Mixed_5c: InceptionA,
    pub Mixed_5d: InceptionA,
    pub Mixed_6a: InceptionB,
    pub Mixed_6b: InceptionC,
    pub Mixed_6c: InceptionC,
    pub Mixed_6d: InceptionC,
    pub Mixed_6e: InceptionC,
    pub Mixed_7a: InceptionD,
    pub Mixed_7b: InceptionE,
    pub Mixed_7c: InceptionE,
    /// torchvision's classifier, when the weights carry one.
    pub fc: Option<Linear>,
    /// A Keras dense head, when the weights carry one.
    pub dense_head: Option<DenseHead>,
    /// Average-pool semantics: torchvision counts padded zeros, Keras/TF does not.
    #[module(skip)]
    pub avg_pool_counts_padding: bool,
    /// Run burn's ops only, never the CPU path's own kernels ([`InceptionV3::plain`]).
    #[module(skip)]
    pub burn_ops_only: bool,
}

/// A conv by layer id: the stem's by field, a block's through its `conv` / `conv_mut`
/// (`$access`), borrowed as `$($borrow)+`.
macro_rules! conv_by_id {
    ($model:ident, $id:expr, $access:ident, $($borrow:tt)+) => {{
        let (block, name) = $id.split_once('.').unwrap_or(("", $id));
        match block {
            "" => match name {
                "Conv2d_1a_3x3" => Some($($borrow)+ $model.Conv2d_1a_3x3),
                "Conv2d_2a_3x3" => Some($($borrow)+ $model.Conv2d_2a_3x3),
                "Conv2d_2b_3x3" => Some($($borrow)+ $model.Conv2d_2b_3x3),
                "Conv2d_3b_1x1" => Some($($borrow)+ $model.Conv2d_3b_1x1),
                "Conv2d_4a_3x3" => Some($($borrow)+ $model.Conv2d_4a_3x3),
                _ => None,
            },
            "Mixed_5b" => $model.Mixed_5b.$access(name),
            "Mixed_5c" => $model.Mixed_5c.$access(name),
            "Mixed_5d" => $model.Mixed_5d.$access(name),
            "Mixed_6a" => $model.Mixed_6a.$access(name),
            "Mixed_6b" => $model.Mixed_6b.$access(name),
            "Mixed_6c" => $model.Mixed_6c.$access(name),
            "Mixed_6d" => $model.Mixed_6d.$access(name),
            "Mixed_6e" => $model.Mixed_6e.$access(name),
            "Mixed_7a" => $model.Mixed_7a.$access(name),
            "Mixed_7b" => $model.Mixed_7b.$access(name),
            "Mixed_7c" => $model.Mixed_7c.$access(name),
            _ => None,
        }
    }};
}

/// Stop the pass as soon as the recorder has everything it needs.
macro_rules! step {
    ($rec:ident, $e:expr) => {{
        let y = $e;
        if $rec.finished() {
            return None;
        }
        y
    }};
}

impl InceptionV3 {
    /// An Inception-V3 with zero weights (load real ones with the `weights` module's importers).
    pub fn new(head: &HeadSpec, avg_pool_counts_padding: bool, device: &Device) -> Self {
        use blocks::conv;
        let linear = |i: usize, o: usize| {
            LinearConfig::new(i, o)
                .with_initializer(Initializer::Zeros)
                .init(device)
        };
        let (fc, dense_head) = match head {
            HeadSpec::None => (None, None),
            HeadSpec::Fc { classes } => (Some(linear(2048, *classes)), None),
            HeadSpec::Dense(layers) => {
                let mut inputs = 2048;
                let mut lin = Vec::new();
                let mut acts = Vec::new();
                for &(units, act) in layers {
                    lin.push(linear(inputs, units));
                    acts.push(act);
                    inputs = units;
                }
                (
                    None,
                    Some(DenseHead {
                        layers: lin,
                        activations: acts,
                    }),
                )
            }
        };
        Self {
            Conv2d_1a_3x3: conv("", "Conv2d_1a_3x3", device),
            Conv2d_2a_3x3: conv("", "Conv2d_2a_3x3", device),
            Conv2d_2b_3x3: conv("", "Conv2d_2b_3x3", device),
            Conv2d_3b_1x1: conv("", "Conv2d_3b_1x1", device),
            Conv2d_4a_3x3: conv("", "Conv2d_4a_3x3", device),
            Mixed_5b: InceptionA::new("Mixed_5b", device),
            Mixed_5c: InceptionA::new("Mixed_5c", device),
            Mixed_5d: InceptionA::new("Mixed_5d", device),
            Mixed_6a: InceptionB::new("Mixed_6a", device),
            Mixed_6b: InceptionC::new("Mixed_6b", device),
            Mixed_6c: InceptionC::new("Mixed_6c", device),
            Mixed_6d: InceptionC::new("Mixed_6d", device),
            Mixed_6e: InceptionC::new("Mixed_6e", device),
            Mixed_7a: InceptionD::new("Mixed_7a", device),
            Mixed_7b: InceptionE::new("Mixed_7b", device),
            Mixed_7c: InceptionE::new("Mixed_7c", device),
            fc,
            dense_head,
            avg_pool_counts_padding,
            burn_ops_only: false,
        }
    }

    /// The `BasicConv2d` of a conv layer id (`Conv2d_1a_3x3`, `Mixed_6e.branch7x7_2`).
    pub fn basic_conv(&self, id: &str) -> Option<&BasicConv2d> {
        conv_by_id!(self, id, conv, &)
    }

    /// [`InceptionV3::basic_conv`], mutably.
    pub fn basic_conv_mut(&mut self, id: &str) -> Option<&mut BasicConv2d> {
        conv_by_id!(self, id, conv_mut, &mut)
    }

    /// The head's forward from the global pool's `[N, 2048]` output, keeping each dense
    /// layer's post-activation value (what the backward pass needs to gate its ReLUs).
    /// Returns `(logits, [(layer, post-activation)])`; `None` without a head.
    pub fn head_forward(&self, x: Tensor<2>) -> Option<(Tensor<2>, Vec<HeadStep<'_>>)> {
        if let Some(fc) = &self.fc {
            let steps = vec![HeadStep {
                layer: fc,
                relu_output: None,
            }];
            return Some((fc.forward(x), steps));
        }
        let head = self.dense_head.as_ref()?;
        let mut x = x;
        let mut steps = Vec::new();
        for (layer, act) in head.layers.iter().zip(&head.activations) {
            x = layer.forward(x);
            let relu_output = if *act == DenseActivation::Relu {
                x = ReluRule::default().apply(x);
                Some(x.clone())
            } else {
                None
            };
            steps.push(HeadStep { layer, relu_output });
        }
        Some((x, steps))
    }

    /// Every conv layer's `BasicConv2d`, mutably, in catalogue order.
    fn for_each_conv(&mut self, mut f: impl FnMut(&mut BasicConv2d)) {
        let cat = Catalogue::inception_v3();
        for info in cat.layers.iter().filter(|l| l.kind == LayerKind::Conv) {
            if let Some(conv) = self.basic_conv_mut(&info.id) {
                f(conv);
            }
        }
    }

    /// Fold every BatchNorm into its conv ([`BasicConv2d::fold`]): what inference runs.
    pub fn fold_batch_norms(mut self) -> Self {
        self.for_each_conv(BasicConv2d::fold);
        self
    }

    /// Undo [`InceptionV3::fold_batch_norms`]: every conv then BatchNorm runs as burn's modules
    /// compute them (the plain baseline of `featurescope bench --compare-plain`).
    pub fn unfold_batch_norms(mut self) -> Self {
        self.for_each_conv(BasicConv2d::unfold);
        self
    }

    /// A plain burn Inception-V3 of these weights: BatchNorm not folded and burn's own ops
    /// throughout (the baseline `featurescope bench --compare-plain` times ours against).
    pub fn plain(self) -> Self {
        let mut model = self.unfold_batch_norms();
        model.burn_ops_only = true;
        model
    }

    /// Build the given variant (the 2015 graph's max-pool branch in `Mixed_7c`).
    pub fn with_variant(mut self, variant: Variant) -> Self {
        self.Mixed_7c.max_pool_branch = variant == Variant::Graph2015;
        self
    }

    /// Whether the pool tap `id` is a 3x3 stride-1 max pool in this model (it is an average
    /// pool in the catalogue).
    pub fn pools_by_max(&self, id: &str) -> bool {
        self.Mixed_7c.max_pool_branch && id == GRAPH_2015_MAX_POOL
    }

    /// Whether the model has a classifier head.
    pub fn has_head(&self) -> bool {
        self.fc.is_some() || self.dense_head.is_some()
    }

    /// One pass over an NCHW input in [-1, 1]; returns the requested taps (on the device).
    /// Stops after the deepest requested layer when the head is not wanted.
    pub fn forward_taps(
        &self,
        x: Tensor<4>,
        request: &TapRequest,
        relu_rule: ReluRule,
    ) -> DeviceTaps {
        self.run(x, self.recorder(request, relu_rule))
    }

    /// [`Self::forward_taps`] handing each requested post-activation tap to `visit` as soon as
    /// it is computed instead of keeping it (the returned taps hold no layers): a pass over a
    /// batch then holds only what the network still needs, and `visit` reads each tap while it
    /// is in cache.
    pub fn forward_visiting(
        &self,
        x: Tensor<4>,
        request: &TapRequest,
        relu_rule: ReluRule,
        visit: TapVisitor,
    ) -> DeviceTaps {
        self.run(x, self.recorder(request, relu_rule).visiting(visit))
    }

    fn recorder<'a>(&self, request: &'a TapRequest, relu_rule: ReluRule) -> Recorder<'a> {
        let mut rec = Recorder::new(request, relu_rule, self.avg_pool_counts_padding);
        rec.cpu_kernels = !self.burn_ops_only;
        rec
    }

    fn run(&self, x: Tensor<4>, mut rec: Recorder) -> DeviceTaps {
        // The pass runs on one of rayon's threads: each kernel's parallel loop then splits
        // from inside the pool (work stealing), not as a job injected from outside, which
        // wakes the pool's threads and puts the caller to sleep at every kernel.
        let logits = rayon::scope(|_| self.forward_inner(x, &mut rec));
        let mut taps = rec.taps;
        taps.logits = logits;
        taps
    }

    fn forward_inner(&self, x: Tensor<4>, rec: &mut Recorder) -> Option<Tensor<2>> {
        let x = step!(rec, self.Conv2d_1a_3x3.forward(x, "Conv2d_1a_3x3", rec));
        let x = step!(rec, self.Conv2d_2a_3x3.forward(x, "Conv2d_2a_3x3", rec));
        let x = step!(rec, self.Conv2d_2b_3x3.forward(x, "Conv2d_2b_3x3", rec));
        let x = step!(rec, {
            let y = blocks::max_pool_3x3_s2(x, rec.cpu_kernels);
            rec.tap("maxpool1", &y);
            y
        });
        let x = step!(rec, self.Conv2d_3b_1x1.forward(x, "Conv2d_3b_1x1", rec));
        let x = step!(rec, self.Conv2d_4a_3x3.forward(x, "Conv2d_4a_3x3", rec));
        let x = step!(rec, {
            let y = blocks::max_pool_3x3_s2(x, rec.cpu_kernels);
            rec.tap("maxpool2", &y);
            y
        });
        let x = step!(rec, self.Mixed_5b.forward(x, "Mixed_5b", rec));
        let x = step!(rec, self.Mixed_5c.forward(x, "Mixed_5c", rec));
        let x = step!(rec, self.Mixed_5d.forward(x, "Mixed_5d", rec));
        let x = step!(rec, self.Mixed_6a.forward(x, "Mixed_6a", rec));
        let x = step!(rec, self.Mixed_6b.forward(x, "Mixed_6b", rec));
        let x = step!(rec, self.Mixed_6c.forward(x, "Mixed_6c", rec));
        let x = step!(rec, self.Mixed_6d.forward(x, "Mixed_6d", rec));
        let x = step!(rec, self.Mixed_6e.forward(x, "Mixed_6e", rec));
        let x = step!(rec, self.Mixed_7a.forward(x, "Mixed_7a", rec));
        let x = step!(rec, self.Mixed_7b.forward(x, "Mixed_7b", rec));
        let x = step!(rec, self.Mixed_7c.forward(x, "Mixed_7c", rec));
        let x = step!(rec, {
            let y = adaptive_avg_pool2d(x, [1, 1]);
            rec.tap("avgpool", &y);
            y
        });
        let [n, c, _, _] = x.dims();
        self.head_forward(x.reshape([n, c]))
            .map(|(logits, _)| logits)
    }
}
