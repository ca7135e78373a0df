//! Reverse-mode gradients through Inception-V3, walked by hand over the catalogue's graph.
//!
//! burn's autodiff takes plain gradients only; deconvnet and guided backprop change how the
//! gradient crosses every ReLU (non-linearly in the gradient), which no forward composition can
//! express. So the backward pass is written out once, op by op, with [`ReluRule::backward`] as
//! its single switch, and it runs on any device (wgpu or the CPU) without an autodiff backend:
//!
//! - conv + BatchNorm (inference) + ReLU: the rule at the ReLU (gated by the recorded output),
//!   the BatchNorm's per-channel scale `γ / √(σ² + ε)`, then the conv's transpose
//!   (`conv_transpose2d` with the same weights, output padding restoring the input size);
//! - max pools: the gradient goes to each window's argmax (`max_pool2d_with_indices_backward`);
//! - average pools: `avg_pool2d_backward`, with the padding semantics of the weights;
//! - concats: the gradient is split along channels; the global pool spreads it evenly;
//! - the head's dense layers: `grad · Wᵀ`, their ReLUs under the same rule.
//!
//! A [`Recorded`] pass keeps every layer the target depends on (taps of the ordinary forward
//! pass); any number of backward walks (one per rule) reuse it. A walk starts at the target, or
//! at gradients given at any recorded layers ([`Recorded::backward_from`]: each image's own
//! class, [`Recorded::class_seed`]; one unit of a block's output), and runs down to the input
//! or stops at a given layer (one block's influence on the next).

use std::collections::{BTreeSet, HashMap};

use burn::tensor::module::{
    avg_pool2d_backward, conv_transpose2d, max_pool2d_with_indices,
    max_pool2d_with_indices_backward,
};
use burn::tensor::ops::{ConvTransposeOptions, MaxPoolOptions};
use burn::tensor::{Tensor, TensorData};

use crate::catalogue::{Catalogue, LayerInfo, LayerKind};
use crate::error::NetError;
use crate::model::host::{HostView, tensor_like};
use crate::model::{BasicConv2d, Folded, HeadStep, InceptionV3, cpu_pool};
use crate::taps::{ReluRule, TapRequest};

use super::Pass;

/// What a gradient is taken of.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// Channel `channel` of layer `layer`'s tapped (post-ReLU) output, summed over H×W, or at
    /// one position `[y, x]`.
    Channel {
        /// torchvision id.
        layer: String,
        /// Channel index.
        channel: usize,
        /// One unit instead of the whole map.
        at: Option<[usize; 2]>,
    },
    /// A class score of the head: its logit (before softmax).
    Class(usize),
}

impl Target {
    /// A channel target over the whole map; the layer may be an id or a Keras alias.
    pub fn channel(layer: &str, channel: usize) -> Result<Self, NetError> {
        let info = Catalogue::inception_v3()
            .resolve(layer)
            .ok_or_else(|| NetError::UnknownLayer(layer.to_string()))?;
        if channel >= info.shape[0] {
            return Err(NetError::Attribution(format!(
                "`{}` has {} channels; there is no channel {channel}",
                info.id, info.shape[0]
            )));
        }
        Ok(Self::Channel {
            layer: info.id.clone(),
            channel,
            at: None,
        })
    }

    /// The same target at one position.
    pub fn at(self, y: usize, x: usize) -> Self {
        match self {
            Self::Channel { layer, channel, .. } => Self::Channel {
                layer,
                channel,
                at: Some([y, x]),
            },
            other => other,
        }
    }

    /// The same quantity at the conv that computes it: a channel of a concat (a block's output)
    /// is a channel of one branch's conv, so its gradient reaches the block's input through that
    /// branch alone. Walking from there skips the other branches, whose gradient is zero, and
    /// recording the forward to there skips computing them. Other targets are returned as they
    /// are.
    pub fn source(&self) -> Self {
        let Self::Channel { layer, channel, at } = self else {
            return self.clone();
        };
        let cat = Catalogue::inception_v3();
        match super::channel_source(layer, *channel) {
            Some((id, k)) if cat.resolve(&id).is_some_and(|l| l.kind == LayerKind::Conv) => {
                Self::Channel {
                    layer: id,
                    channel: k,
                    at: *at,
                }
            }
            _ => self.clone(),
        }
    }

    /// Catalogue index of the deepest layer the target needs (the global pool for a class).
    pub(crate) fn top(&self) -> Result<usize, NetError> {
        let cat = Catalogue::inception_v3();
        let id = match self {
            Self::Channel { layer, .. } => layer.as_str(),
            Self::Class(_) => "avgpool",
        };
        cat.position(id)
            .ok_or_else(|| NetError::UnknownLayer(id.to_string()))
    }

    /// A short description: `Mixed_6e channel 100`, `… at (3, 4)`, `class 2`.
    pub fn describe(&self) -> String {
        match self {
            Self::Channel {
                layer,
                channel,
                at: None,
            } => format!("{layer} channel {channel}"),
            Self::Channel {
                layer,
                channel,
                at: Some([y, x]),
            } => format!("{layer} channel {channel} at ({y}, {x})"),
            Self::Class(c) => format!("class {c}"),
        }
    }
}

/// The layers `top` depends on (its ancestors and itself), as catalogue indices.
pub fn ancestors(top: usize) -> BTreeSet<usize> {
    let cat = Catalogue::inception_v3();
    let mut set = BTreeSet::new();
    let mut stack = vec![top];
    while let Some(i) = stack.pop() {
        if set.insert(i) {
            stack.extend(cat.layers[i].inputs.iter().copied());
        }
    }
    set
}

/// The layers a recorded pass for `target` keeps: its ancestors; `extra` must lie among them,
/// and a class target needs the model's head.
fn needed_for(
    model: &InceptionV3,
    target: &Target,
    extra: &[usize],
) -> Result<BTreeSet<usize>, NetError> {
    let cat = Catalogue::inception_v3();
    let needed = ancestors(target.top()?);
    if let Some(&e) = extra.iter().find(|e| !needed.contains(e)) {
        return Err(NetError::Attribution(format!(
            "`{}` does not lie below {}: its gradient is zero",
            cat.layers[e].id,
            target.describe()
        )));
    }
    if matches!(target, Target::Class(_)) && !model.has_head() {
        return Err(NetError::Attribution(
            "these weights have no classifier head: a class target needs one".into(),
        ));
    }
    Ok(needed)
}

/// One forward pass kept for backward walks: the input and every layer the target needs.
pub struct Recorded<'m> {
    model: &'m InceptionV3,
    input: Tensor<4>,
    values: HashMap<usize, Tensor<4>>,
    needed: BTreeSet<usize>,
    head: Option<(Tensor<2>, Vec<HeadStep<'m>>)>,
}

/// How a backward walk starts and what it keeps.
#[derive(Clone, Debug, Default)]
pub struct BackwardOptions {
    /// Seed the target's pre-ReLU value instead of its output (a conv target's own ReLU is then
    /// skipped): feature visualisation optimises pre-ReLU values, which have a gradient even
    /// where the filter is off.
    pub skip_target_relu: bool,
    /// Layers (catalogue indices) whose total gradient to return (Grad-CAM's layer).
    pub capture: Vec<usize>,
    /// Stop once the captured layers' gradients are complete, below the lowest of them: the
    /// input gradient is then not computed (returned as zeros). A layer's gradient is
    /// complete once every layer after it in execution order has been walked, so the walk
    /// (in reverse execution order) may stop right after it.
    pub stop_after_capture: bool,
}

/// What one backward walk produced.
pub struct Backward {
    /// d target / d input, `[N, 3, H, W]`.
    pub input: Tensor<4>,
    /// The captured layers' gradients, by catalogue index.
    pub captured: HashMap<usize, Tensor<4>>,
}

/// Where one backward walk starts, where it stops and what it keeps.
struct Walk<'a> {
    /// Gradients at layers' outputs (catalogue index, gradient).
    seeds: Vec<(usize, Tensor<4>)>,
    /// The layer the walk stops at; `None`: the input.
    floor: Option<usize>,
    /// A conv whose own ReLU is not crossed (feature visualisation's pre-ReLU target).
    skip_relu_at: Option<usize>,
    /// Layers whose total gradient to return.
    capture: &'a [usize],
}

fn internal(msg: String) -> NetError {
    NetError::Attribution(msg)
}

impl<'m> Recorded<'m> {
    /// Run the forward pass over `input` (`[N, 3, H, W]`) keeping what `target` needs, plus
    /// the layers in `extra` (which must lie below the target).
    pub fn new(
        model: &'m InceptionV3,
        input: Tensor<4>,
        target: &Target,
        extra: &[usize],
    ) -> Result<Self, NetError> {
        let needed = needed_for(model, target, extra)?;
        let cat = Catalogue::inception_v3();
        let request =
            TapRequest::layers(needed.iter().map(|&i| cat.layers[i].id.as_str()))?.with_head(false);
        let taps = model.forward_taps(input.clone(), &request, ReluRule::Standard);
        let mut values = HashMap::new();
        for (id, t) in taps.layers {
            if let Some(i) = cat.position(&id) {
                values.insert(i, t);
            }
        }
        Self::with_values(model, input, target, needed, values)
    }

    /// [`Recorded::new`] from the taps of a pass already run on `input` with `model`, with no
    /// forward pass of its own; when the pass lacks a layer the target needs, the forward pass
    /// runs after all. The values are the pass's own, so every walk gives what it gives after
    /// [`Recorded::new`].
    pub fn from_pass(
        model: &'m InceptionV3,
        input: Tensor<4>,
        target: &Target,
        extra: &[usize],
        pass: &Pass<'_>,
    ) -> Result<Self, NetError> {
        let needed = needed_for(model, target, extra)?;
        let cat = Catalogue::inception_v3();
        let device = input.device();
        let values: Option<HashMap<usize, Tensor<4>>> = needed
            .iter()
            .map(|&i| Some((i, pass.tap(&cat.layers[i].id, &device)?)))
            .collect();
        match values {
            Some(values) => Self::with_values(model, input, target, needed, values),
            None => Self::new(model, input, target, extra),
        }
    }

    /// A recorded pass from its values (and the head's forward for a class target).
    fn with_values(
        model: &'m InceptionV3,
        input: Tensor<4>,
        target: &Target,
        needed: BTreeSet<usize>,
        values: HashMap<usize, Tensor<4>>,
    ) -> Result<Self, NetError> {
        let top = target.top()?;
        let head = match target {
            Target::Class(_) => {
                let pooled = values
                    .get(&top)
                    .ok_or_else(|| internal("the global pool was not recorded".into()))?;
                let [n, c, _, _] = pooled.dims();
                model.head_forward(pooled.clone().reshape([n, c]))
            }
            Target::Channel { .. } => None,
        };
        Ok(Self {
            model,
            input,
            values,
            needed,
            head,
        })
    }

    /// A recorded layer's output (catalogue index).
    pub fn value(&self, index: usize) -> Option<&Tensor<4>> {
        self.values.get(&index)
    }

    /// The recorded logits, for a class target.
    pub fn logits(&self) -> Option<&Tensor<2>> {
        self.head.as_ref().map(|(l, _)| l)
    }

    /// The target's value per image, `[N]`.
    pub fn target_value(&self, target: &Target) -> Result<Tensor<1>, NetError> {
        match target {
            Target::Class(c) => {
                let logits = self.logits().ok_or_else(|| internal("no logits".into()))?;
                let [n, classes] = logits.dims();
                check_class(*c, classes)?;
                Ok(logits.clone().narrow(1, *c, 1).reshape([n]))
            }
            Target::Channel { channel, at, .. } => {
                let t = self
                    .value(target.top()?)
                    .ok_or_else(|| internal(format!("{} was not recorded", target.describe())))?;
                let [n, _, h, w] = t.dims();
                let mut ch = t.clone().narrow(1, *channel, 1);
                if let Some([y, x]) = at {
                    check_position([*y, *x], [h, w])?;
                    ch = ch.narrow(2, *y, 1).narrow(3, *x, 1);
                }
                let [_, _, hh, ww] = ch.dims();
                Ok(ch.reshape([n, hh * ww]).sum_dim(1).reshape([n]))
            }
        }
    }

    /// The gradient of the target (summed over the batch: each image's own gradient, as the
    /// images do not interact) with respect to the input, under `rule`.
    pub fn backward(
        &self,
        target: &Target,
        rule: ReluRule,
        options: &BackwardOptions,
    ) -> Result<Backward, NetError> {
        let top = target.top()?;
        let walk = Walk {
            seeds: vec![(top, self.seed(target, rule)?)],
            floor: options
                .stop_after_capture
                .then(|| options.capture.iter().copied().min())
                .flatten(),
            skip_relu_at: options.skip_target_relu.then_some(top),
            capture: &options.capture,
        };
        self.walk(walk, rule)
    }

    /// A backward walk from gradients given at layers' outputs (`seeds`: catalogue index and
    /// the gradient there, `[N, C, H, W]`; several at one layer add up) down to `floor`: the
    /// walk stops at that layer (its gradient is among the captured ones when `capture` names
    /// it) and leaves the input's gradient zero; `None` walks down to the input. What lies
    /// between is what [`Recorded::new`] recorded: the seeds' layers must lie below its target.
    pub fn backward_from(
        &self,
        seeds: Vec<(usize, Tensor<4>)>,
        floor: Option<usize>,
        rule: ReluRule,
        capture: &[usize],
    ) -> Result<Backward, NetError> {
        let cat = Catalogue::inception_v3();
        if let Some((i, _)) = seeds.iter().find(|(i, _)| !self.needed.contains(i)) {
            let id = cat.layers.get(*i).map_or("?", |l| l.id.as_str());
            return Err(internal(format!(
                "`{id}` was not recorded: no gradient from it"
            )));
        }
        let walk = Walk {
            seeds,
            floor,
            skip_relu_at: None,
            capture,
        };
        self.walk(walk, rule)
    }

    /// The gradient at the global pool's output of each image's own class logit (`classes[b]`
    /// for image b), pushed through the head under `rule`: a seed for
    /// [`Recorded::backward_from`] at the catalogue index returned with it.
    pub fn class_seed(
        &self,
        classes: &[usize],
        rule: ReluRule,
    ) -> Result<(usize, Tensor<4>), NetError> {
        let device = self.input.device();
        let (logits, steps) = self
            .head
            .as_ref()
            .ok_or_else(|| internal("no head recorded".into()))?;
        let [n, count] = logits.dims();
        if classes.len() != n {
            return Err(internal(format!(
                "{} classes for {n} images",
                classes.len()
            )));
        }
        let mut data = vec![0f32; n * count];
        for (b, &class) in classes.iter().enumerate() {
            check_class(class, count)?;
            data[b * count + class] = 1.0;
        }
        let mut g: Tensor<2> = Tensor::from_data(TensorData::new(data, [n, count]), &device);
        for step in steps.iter().rev() {
            if let Some(y) = &step.relu_output {
                g = rule.backward(y.clone(), g);
            }
            g = g.matmul(step.layer.weight.val().transpose());
        }
        let [_, features] = g.dims();
        let pool = Target::Class(0).top()?;
        Ok((pool, g.reshape([n, features, 1, 1])))
    }

    /// The backward pass itself: every recorded layer from the top down, each sending its
    /// gradient to its inputs ([`Recorded::layer_backward`]), until the floor or the input.
    fn walk(&self, walk: Walk<'_>, rule: ReluRule) -> Result<Backward, NetError> {
        // On one of rayon's threads, as the forward pass (`InceptionV3::forward_taps`).
        rayon::scope(|_| self.walk_in_pool(walk, rule))
    }

    fn walk_in_pool(&self, walk: Walk<'_>, rule: ReluRule) -> Result<Backward, NetError> {
        let cat = Catalogue::inception_v3();
        let mut grads: HashMap<usize, Tensor<4>> = HashMap::new();
        for (i, g) in walk.seeds {
            let sum = match grads.remove(&i) {
                Some(prev) => prev + g,
                None => g,
            };
            grads.insert(i, sum);
        }
        let mut input_grad: Option<Tensor<4>> = None;
        let mut captured = HashMap::new();
        for &i in self.needed.iter().rev() {
            if walk.floor.is_some_and(|f| i < f) {
                break;
            }
            let Some(g) = grads.remove(&i) else { continue };
            if walk.capture.contains(&i) {
                captured.insert(i, g.clone());
            }
            if walk.floor == Some(i) {
                break;
            }
            let info = &cat.layers[i];
            let skip_relu = walk.skip_relu_at == Some(i);
            for (slot, gin) in self.layer_backward(info, i, g, rule, skip_relu)? {
                let entry = match slot {
                    Some(j) => grads.remove(&j),
                    None => input_grad.take(),
                };
                let sum = match entry {
                    Some(prev) => prev + gin,
                    None => gin,
                };
                match slot {
                    Some(j) => {
                        grads.insert(j, sum);
                    }
                    None => input_grad = Some(sum),
                }
            }
        }
        let input = input_grad.unwrap_or_else(|| self.input.zeros_like());
        Ok(Backward { input, captured })
    }

    /// The gradient at the target layer's output (or the logits' gradient pushed through the
    /// head, for a class).
    fn seed(&self, target: &Target, rule: ReluRule) -> Result<Tensor<4>, NetError> {
        let device = self.input.device();
        match target {
            Target::Channel { channel, at, .. } => {
                let t = self
                    .value(target.top()?)
                    .ok_or_else(|| internal("target not recorded".into()))?;
                let [n, c, h, w] = t.dims();
                if let Some(p) = at {
                    check_position(*p, [h, w])?;
                }
                let mut data = vec![0f32; n * c * h * w];
                for b in 0..n {
                    let base = (b * c + channel) * h * w;
                    match at {
                        Some([y, x]) => data[base + y * w + x] = 1.0,
                        None => data[base..base + h * w].fill(1.0),
                    }
                }
                Ok(Tensor::from_data(
                    TensorData::new(data, [n, c, h, w]),
                    &device,
                ))
            }
            Target::Class(class) => {
                let n = self.input.dims()[0];
                Ok(self.class_seed(&vec![*class; n], rule)?.1)
            }
        }
    }

    fn input_value(&self, info: &LayerInfo) -> Result<&Tensor<4>, NetError> {
        match info.inputs.first() {
            None => Ok(&self.input),
            Some(j) => self
                .value(*j)
                .ok_or_else(|| internal(format!("input of `{}` not recorded", info.id))),
        }
    }

    /// The gradients one layer sends to its inputs: `(input slot, gradient)`, where slot
    /// `None` is the network input.
    fn layer_backward(
        &self,
        info: &LayerInfo,
        index: usize,
        g: Tensor<4>,
        rule: ReluRule,
        skip_relu: bool,
    ) -> Result<Vec<(Option<usize>, Tensor<4>)>, NetError> {
        let slot = info.inputs.first().copied();
        let out = match info.kind {
            LayerKind::Conv => {
                let y = self
                    .value(index)
                    .ok_or_else(|| internal(format!("`{}` not recorded", info.id)))?;
                let g = if skip_relu {
                    g
                } else {
                    relu_backward(rule, y, g)
                };
                let conv = self
                    .model
                    .basic_conv(&info.id)
                    .ok_or_else(|| internal(format!("no conv `{}`", info.id)))?;
                let x = self.input_value(info)?;
                vec![(slot, conv_backward(conv, info, g, x.dims())?)]
            }
            LayerKind::MaxPool => {
                let x = self.input_value(info)?;
                vec![(slot, max_pool_backward(x.clone(), g))]
            }
            LayerKind::AvgPool if self.model.pools_by_max(&info.id) => {
                let x = self.input_value(info)?;
                vec![(slot, max_pool_s1_backward(x.clone(), g))]
            }
            LayerKind::AvgPool => {
                let x = self.input_value(info)?;
                let counts = self.model.avg_pool_counts_padding;
                vec![(slot, avg_pool_backward(x.clone(), g, counts))]
            }
            LayerKind::GlobalAvgPool => {
                let x = self.input_value(info)?;
                vec![(slot, global_pool_backward(g, x.dims()))]
            }
            LayerKind::Concat => {
                let cat = Catalogue::inception_v3();
                let mut start = 0;
                let mut parts = Vec::new();
                for &j in &info.inputs {
                    let c = self
                        .value(j)
                        .map(|t| t.dims()[1])
                        .unwrap_or(cat.layers[j].shape[0]);
                    parts.push((Some(j), g.clone().narrow(1, start, c)));
                    start += c;
                }
                parts
            }
        };
        Ok(out)
    }
}

fn check_class(class: usize, classes: usize) -> Result<(), NetError> {
    if class >= classes {
        return Err(NetError::Attribution(format!(
            "the head has {classes} classes; there is no class {class}"
        )));
    }
    Ok(())
}

fn check_position([y, x]: [usize; 2], [h, w]: [usize; 2]) -> Result<(), NetError> {
    if y >= h || x >= w {
        return Err(NetError::Attribution(format!(
            "position ({y}, {x}) lies outside the {h}x{w} map"
        )));
    }
    Ok(())
}

/// [`ReluRule::backward`] at a conv's ReLU (`y` its output): on the CPU kernels' path one pass
/// over the values in place where they lie, else burn's ops.
pub fn relu_backward(rule: ReluRule, y: &Tensor<4>, g: Tensor<4>) -> Tensor<4> {
    if crate::model::cpu_kernels_serve(&g.device())
        && let (Some(yv), Some(gv)) = (HostView::of(y), HostView::of(&g))
        && y.dims() == g.dims()
    {
        let values = rule.backward_values(yv.values(), gv.values());
        return tensor_like(&g, values, g.dims());
    }
    rule.backward(y.clone(), g)
}

/// Gradient at a conv's input from the gradient `g` at its BatchNorm's output (pre-ReLU).
pub fn conv_backward(
    conv: &BasicConv2d,
    info: &LayerInfo,
    g: Tensor<4>,
    input_dims: [usize; 4],
) -> Result<Tensor<4>, NetError> {
    if let Some(Folded::Cpu(cpu)) = &conv.folded
        && crate::model::cpu_kernels_serve(&g.device())
    {
        // The folded weights carry BatchNorm's scale: one transposed GEMM + col2im.
        match cpu.backward_input(g, [input_dims[2], input_dims[3]]) {
            Ok(grad) => return Ok(grad),
            Err(back) => return conv_backward_burn(conv, info, *back, input_dims),
        }
    }
    conv_backward_burn(conv, info, g, input_dims)
}

/// [`conv_backward`] with burn's ops: BatchNorm's scale, then `conv_transpose2d` with the
/// conv's own weights.
fn conv_backward_burn(
    conv: &BasicConv2d,
    info: &LayerInfo,
    g: Tensor<4>,
    input_dims: [usize; 4],
) -> Result<Tensor<4>, NetError> {
    let [_, c, ho, wo] = g.dims();
    let g = g * conv.bn_scale().reshape([1, c, 1, 1]);
    let kernel = info.kernel.unwrap_or([1, 1]);
    let stride = info.stride.unwrap_or([1, 1]);
    let padding = info.padding.unwrap_or([0, 0]);
    let mut padding_out = [0; 2];
    for (d, (out, input)) in [(ho, input_dims[2]), (wo, input_dims[3])]
        .into_iter()
        .enumerate()
    {
        // A transposed conv yields (out − 1)·s − 2p + k rows; the forward conv dropped up to
        // s − 1 trailing input rows, which get a zero gradient through the output padding.
        let base = ((out - 1) * stride[d] + kernel[d])
            .checked_sub(2 * padding[d])
            .filter(|&b| b <= input && input - b < stride[d].max(1))
            .ok_or_else(|| internal(format!("`{}`: shape mismatch in backward", info.id)))?;
        padding_out[d] = input - base;
    }
    let options = ConvTransposeOptions::new(stride, padding, padding_out, [1, 1], 1);
    Ok(conv_transpose2d(g, conv.conv.weight.val(), None, options))
}

/// Gradient at the 2015 graph's 3x3 stride-1 padded max pool's input (argmax routing).
pub fn max_pool_s1_backward(x: Tensor<4>, g: Tensor<4>) -> Tensor<4> {
    let options = MaxPoolOptions::new([3, 3])
        .with_stride([1, 1])
        .with_padding([1, 1]);
    let (_, indices) = max_pool2d_with_indices(x.clone(), options);
    max_pool2d_with_indices_backward(x, [3, 3], [1, 1], [1, 1], [1, 1], false, g, indices)
}

/// Gradient at a 3x3 stride-2 max pool's input: each window's gradient goes to its argmax.
pub fn max_pool_backward(x: Tensor<4>, g: Tensor<4>) -> Tensor<4> {
    let g = match cpu_pool::max_pool_3x3_s2_backward(&x, g) {
        Ok(grad) => return grad,
        Err(g) => *g,
    };
    let options = MaxPoolOptions::new([3, 3]).with_stride([2, 2]);
    let (_, indices) = max_pool2d_with_indices(x.clone(), options);
    max_pool2d_with_indices_backward(x, [3, 3], [2, 2], [0, 0], [1, 1], false, g, indices)
}

/// Gradient at a 3x3 stride-1 average pool's input (padded by one; padded zeros counted in
/// the divisor or not, as the forward pass did).
pub fn avg_pool_backward(x: Tensor<4>, g: Tensor<4>, counts_padding: bool) -> Tensor<4> {
    let g = match x.dims() == g.dims() {
        true => match cpu_pool::avg_pool_3x3_s1_backward(g, counts_padding) {
            Ok(grad) => return grad,
            Err(g) => *g,
        },
        false => g,
    };
    avg_pool2d_backward(x, g, [3, 3], [1, 1], [1, 1], counts_padding, false)
}

/// Gradient at the global average pool's input: spread evenly over H×W.
pub fn global_pool_backward(g: Tensor<4>, input_dims: [usize; 4]) -> Tensor<4> {
    let [n, c, h, w] = input_dims;
    g.div_scalar((h * w) as f32).expand([n, c, h, w])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use burn::module::{Param, RunningState};
    use burn::tensor::Device;
    use burn::tensor::module::{avg_pool2d, max_pool2d};
    use burn::tensor::ops::AvgPoolOptions;

    use super::*;

    fn det(shape: [usize; 4], seed: u32, device: &Device) -> Tensor<4> {
        // Deterministic, distinct values (a scrambled ramp): no ties for the max pool.
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n)
            .map(|i| {
                let j = (i as u64 * 2_654_435_761 + u64::from(seed) * 97) % n as u64;
                j as f32 / n as f32 - 0.5
            })
            .collect();
        Tensor::from_data(TensorData::new(data, shape), device)
    }

    fn dot(a: Tensor<4>, b: Tensor<4>) -> f64 {
        read(a * b).iter().map(|&v| f64::from(v)).sum()
    }

    fn read(t: Tensor<4>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    /// ⟨backward(g), v⟩ = ⟨g, forward(v)⟩ for a linear op: the backward is the forward's exact
    /// transpose (what a finite difference of a linear map measures, without its rounding).
    fn check_adjoint(
        forward: impl Fn(Tensor<4>) -> Tensor<4>,
        backward: impl Fn(Tensor<4>) -> Tensor<4>,
        input: [usize; 4],
        what: &str,
    ) {
        let d = Device::flex();
        let v = det(input, 1, &d);
        let out = forward(v.clone());
        let g = det(out.dims(), 2, &d);
        let lhs = dot(backward(g.clone()), v);
        let rhs = dot(g, out);
        assert!(
            (lhs - rhs).abs() <= 1e-4 * rhs.abs().max(1e-3),
            "{what}: ⟨Bᵀg, v⟩ = {lhs} vs ⟨g, Bv⟩ = {rhs}"
        );
    }

    fn random_conv(id: &str, device: &Device) -> (BasicConv2d, LayerInfo) {
        let info = Catalogue::inception_v3().get(id).unwrap().clone();
        let mut conv = BasicConv2d::new(&info, device);
        let [o, i, kh, kw] = conv.conv.weight.val().dims();
        conv.conv.weight = Param::from_tensor(det([o, i, kh, kw], 3, device));
        let c = |s: u32, off: f32| {
            let t: Tensor<1> = det([1, 1, 1, o], s, device).reshape([o]);
            t.add_scalar(off)
        };
        conv.bn.gamma = Param::from_tensor(c(4, 1.0));
        conv.bn.running_var = RunningState::new(c(5, 1.0));
        (conv, info)
    }

    #[test]
    fn conv_backward_is_the_transpose_of_conv_and_batchnorm() {
        let d = Device::flex();
        // Stride 2 with trailing rows the conv drops (odd and even sizes), asymmetric kernels.
        for (id, input) in [
            ("Conv2d_1a_3x3", [1, 3, 11, 12]),
            ("Mixed_6a.branch3x3dbl_3", [2, 96, 8, 9]),
            ("Mixed_6b.branch7x7_2", [1, 128, 5, 9]),
            ("Mixed_7b.branch3x3_2b", [1, 384, 6, 4]),
        ] {
            let (conv, info) = random_conv(id, &d);
            let scale = conv.bn_scale();
            let c = scale.dims()[0];
            check_adjoint(
                |x| conv.conv.forward(x) * scale.clone().reshape([1, c, 1, 1]),
                |g| conv_backward(&conv, &info, g, input).unwrap(),
                input,
                id,
            );
        }
    }

    #[test]
    fn average_pool_backward_is_its_transpose_in_both_semantics() {
        for counts in [false, true] {
            check_adjoint(
                |x| {
                    avg_pool2d(
                        x,
                        AvgPoolOptions::new([3, 3])
                            .with_stride([1, 1])
                            .with_padding([1, 1])
                            .with_count_include_pad(counts),
                    )
                },
                |g| avg_pool_backward(Tensor::zeros([1, 2, 7, 6], &Device::flex()), g, counts),
                [1, 2, 7, 6],
                "avg pool",
            );
        }
        check_adjoint(
            |x| {
                let [n, c, _, _] = x.dims();
                x.reshape([n, c, 42]).mean_dim(2).reshape([n, c, 1, 1])
            },
            |g| global_pool_backward(g, [1, 2, 7, 6]),
            [1, 2, 7, 6],
            "global pool",
        );
    }

    /// Max pool: each element's gradient by finite differences (distinct inputs 1/N apart, a
    /// step far below that: no window changes its winner).
    #[test]
    fn max_pool_backward_matches_finite_differences() {
        let d = Device::flex();
        let shape = [1, 2, 7, 8];
        let x = det(shape, 9, &d);
        let opts = MaxPoolOptions::new([3, 3]).with_stride([2, 2]);
        let out = max_pool2d(x.clone(), opts.clone());
        let g = det(out.dims(), 10, &d);
        let grad = read(max_pool_backward(x.clone(), g.clone()));
        let base = read(x);
        let gv = read(g);
        let f = |xs: &[f32]| -> f64 {
            let t = Tensor::from_data(TensorData::new(xs.to_vec(), shape), &d);
            read(max_pool2d(t, opts.clone()))
                .iter()
                .zip(&gv)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum()
        };
        let eps = 1e-4f32;
        for i in 0..base.len() {
            let mut p = base.clone();
            p[i] += eps;
            let mut m = base.clone();
            m[i] -= eps;
            let fd = (f(&p) - f(&m)) / (2.0 * f64::from(eps));
            assert!(
                (fd - f64::from(grad[i])).abs() < 1e-2,
                "element {i}: finite difference {fd}, backward {}",
                grad[i]
            );
        }
    }

    #[test]
    fn relu_rules_follow_their_definitions() {
        let d = Device::flex();
        let t = |v: [f32; 4]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [4]), &d);
        let y = t([0.0, 1.0, 2.0, 0.0]);
        let g = t([1.0, -1.0, 2.0, -3.0]);
        let run = |r: ReluRule| {
            r.backward(y.clone(), g.clone())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        assert_eq!(run(ReluRule::Standard), [0.0, -1.0, 2.0, 0.0]);
        assert_eq!(run(ReluRule::Guided), [0.0, 0.0, 2.0, 0.0]);
        assert_eq!(run(ReluRule::Deconv), [1.0, 0.0, 2.0, 0.0]);
    }

    #[test]
    fn one_pass_relu_backward_equals_burns_ops() {
        let d = Device::flex();
        let shape = [2, 3, 5, 7];
        // A ReLU's output (zeros where it was off) and a gradient of both signs.
        let y = det(shape, 11, &d).clamp_min(0.0);
        let g = det(shape, 12, &d);
        for rule in [ReluRule::Standard, ReluRule::Guided, ReluRule::Deconv] {
            let fused = read(relu_backward(rule, &y, g.clone()));
            let ops = read(rule.backward(y.clone(), g.clone()));
            assert_eq!(fused, ops, "{rule:?}");
        }
    }
}
