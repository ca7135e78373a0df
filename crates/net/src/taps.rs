//! What a forward pass records: the tap request, the recorder the blocks write into, and the one
//! switchable point where every ReLU of the network is applied.

use std::collections::BTreeSet;

use burn::tensor::Tensor;
use burn::tensor::activation::relu;

use crate::catalogue::Catalogue;
use crate::error::NetError;

/// The backward rule of every ReLU in the network. Forward values are the same for all rules;
/// attribution methods (saliency, deconvnet, guided backprop) differ only in how the gradient
/// crosses a ReLU, so this is the single point they switch: the forward pass applies
/// [`ReluRule::apply`], the backward pass (the attribution engine) applies
/// [`ReluRule::backward`] at every ReLU, the target's own included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ReluRule {
    /// Plain ReLU: gradient passes where the input was positive (saliency, Grad-CAM):
    /// `grad · [x > 0]`.
    #[default]
    Standard,
    /// Guided backprop (Springenberg et al. 2015): `grad · [x > 0] · [grad > 0]`.
    Guided,
    /// Deconvnet (Zeiler & Fergus 2014): `relu(grad)`, whatever the input was.
    Deconv,
}

impl ReluRule {
    /// Apply the ReLU (forward; the same for every rule).
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        relu(x)
    }

    /// The gradient at a ReLU's input, given its output `y` (`y > 0` exactly where its input
    /// was) and the gradient `grad` at its output.
    pub fn backward<const D: usize>(self, y: Tensor<D>, grad: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Standard => grad.mask_fill(y.lower_equal_elem(0.0), 0.0),
            Self::Guided => relu(grad).mask_fill(y.lower_equal_elem(0.0), 0.0),
            Self::Deconv => relu(grad),
        }
    }

    /// [`ReluRule::backward`] on a tensor's values, in one pass (burn's ops take three and a
    /// mask tensor): `y` the ReLU's output, `grad` the gradient there, of the same length.
    pub fn backward_values(self, y: &[f32], grad: &[f32]) -> Vec<f32> {
        // As `mask_fill(lower_equal_elem(0))`: a NaN output keeps its gradient.
        let on = |v: f32| v > 0.0 || v.is_nan();
        match self {
            Self::Standard => y
                .iter()
                .zip(grad)
                .map(|(&y, &g)| if on(y) { g } else { 0.0 })
                .collect(),
            Self::Guided => y
                .iter()
                .zip(grad)
                .map(|(&y, &g)| if on(y) { g.max(0.0) } else { 0.0 })
                .collect(),
            Self::Deconv => grad.iter().map(|&g| g.max(0.0)).collect(),
        }
    }
}

/// Which layers one forward pass should return.
#[derive(Clone, Debug, PartialEq)]
pub struct TapRequest {
    /// Post-activation layer ids (torchvision paths); `None` = every tapped layer.
    layers: Option<BTreeSet<String>>,
    /// Conv ids whose pre-ReLU values (after BatchNorm) are wanted too.
    pre_relu: BTreeSet<String>,
    /// Whether to run the head and return its output.
    head: bool,
}

impl TapRequest {
    /// Every one of the 123 taps and the head.
    pub fn all() -> Self {
        Self {
            layers: None,
            pre_relu: BTreeSet::new(),
            head: true,
        }
    }

    /// Only the head (no layer tapped).
    pub fn head_only() -> Self {
        Self {
            layers: Some(BTreeSet::new()),
            pre_relu: BTreeSet::new(),
            head: true,
        }
    }

    /// These layers (ids or Keras aliases), no head. The pass stops after the deepest of them.
    pub fn layers<I, S>(names: I) -> Result<Self, NetError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(Self {
            layers: Some(resolve_all(names)?),
            pre_relu: BTreeSet::new(),
            head: false,
        })
    }

    /// Also return pre-ReLU values for these convs (ids or aliases).
    pub fn with_pre_relu<I, S>(mut self, names: I) -> Result<Self, NetError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let cat = Catalogue::inception_v3();
        let ids = resolve_all(names)?;
        for id in &ids {
            if cat
                .get(id)
                .is_none_or(|l| l.kind != crate::catalogue::LayerKind::Conv)
            {
                return Err(NetError::UnknownLayer(format!(
                    "{id} (pre-ReLU values exist for convs only)"
                )));
            }
        }
        self.pre_relu.extend(ids);
        Ok(self)
    }

    /// Whether to run the head too.
    pub fn with_head(mut self, head: bool) -> Self {
        self.head = head;
        self
    }

    /// Whether the head is wanted.
    pub fn wants_head(&self) -> bool {
        self.head
    }

    /// Number of post-activation taps this request yields.
    pub fn layer_count(&self) -> usize {
        match &self.layers {
            None => Catalogue::inception_v3().layers.len(),
            Some(set) => set.len(),
        }
    }

    fn wants(&self, id: &str) -> bool {
        self.layers.as_ref().is_none_or(|s| s.contains(id))
    }
}

fn resolve_all<I, S>(names: I) -> Result<BTreeSet<String>, NetError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let cat = Catalogue::inception_v3();
    names
        .into_iter()
        .map(|n| {
            let n = n.as_ref().trim();
            cat.resolve(n)
                .map(|l| l.id.clone())
                .ok_or_else(|| NetError::UnknownLayer(n.to_string()))
        })
        .collect()
}

/// Tensors one pass recorded, still on the device, in execution order.
#[derive(Debug, Default)]
pub struct DeviceTaps {
    /// Post-activation taps: (id, NCHW tensor).
    pub layers: Vec<(String, Tensor<4>)>,
    /// Pre-ReLU taps of convs: (id, NCHW tensor).
    pub pre_relu: Vec<(String, Tensor<4>)>,
    /// The head's logits [1, classes] (before softmax), when the head ran.
    pub logits: Option<Tensor<2>>,
}

/// What a pass hands each requested post-activation tap to instead of keeping it:
/// `(id, tensor)`, called as soon as the tap is computed (while its values are still in cache),
/// on the pass's thread.
pub type TapVisitor<'a> = &'a mut (dyn FnMut(&str, &Tensor<4>) + Send);

/// The recorder the blocks write into during a pass.
pub struct Recorder<'a> {
    request: &'a TapRequest,
    /// Where the taps go instead of [`DeviceTaps::layers`], when set.
    visit: Option<TapVisitor<'a>>,
    remaining: usize,
    /// The ReLU rule of this pass.
    pub relu: ReluRule,
    /// Whether average pools count padded zeros (torchvision) or not (Keras/TF).
    pub avg_pool_counts_padding: bool,
    /// Whether the CPU path's own kernels may run (`false`: burn's ops only, the plain
    /// baseline of `bench --compare-plain`).
    pub cpu_kernels: bool,
    /// What was recorded so far.
    pub taps: DeviceTaps,
}

impl<'a> Recorder<'a> {
    /// A recorder for one pass.
    pub fn new(request: &'a TapRequest, relu: ReluRule, avg_pool_counts_padding: bool) -> Self {
        let remaining = request.layer_count() + request.pre_relu.len();
        Self {
            request,
            visit: None,
            remaining,
            relu,
            avg_pool_counts_padding,
            cpu_kernels: true,
            taps: DeviceTaps::default(),
        }
    }

    /// Hand the requested post-activation taps to `visit` instead of keeping them: each is
    /// dropped once the network no longer needs it.
    pub fn visiting(mut self, visit: TapVisitor<'a>) -> Self {
        self.visit = Some(visit);
        self
    }

    /// Record a post-activation output if it was asked for (or hand it to the visitor).
    pub fn tap(&mut self, id: &str, x: &Tensor<4>) {
        if self.request.wants(id) {
            match self.visit.as_mut() {
                Some(visit) => visit(id, x),
                None => self.taps.layers.push((id.to_string(), x.clone())),
            }
            self.remaining = self.remaining.saturating_sub(1);
        }
    }

    /// Whether the pre-ReLU value of this conv is wanted.
    pub fn wants_pre_relu(&self, id: &str) -> bool {
        self.request.pre_relu.contains(id)
    }

    /// Record a conv's pre-ReLU value.
    pub fn tap_pre_relu(&mut self, id: &str, x: &Tensor<4>) {
        self.taps.pre_relu.push((id.to_string(), x.clone()));
        self.remaining = self.remaining.saturating_sub(1);
    }

    /// True once nothing further down the network is needed: the pass can stop.
    pub fn finished(&self) -> bool {
        self.remaining == 0 && !self.request.head
    }
}
