//! The two passes of a class summary, over a batch of images, on the backward [`engine`]:
//! - [`class_pass`]: per image its top-1 class and, per chosen layer and channel, the spatial
//!   maximum and the attribution Σ_{y,x} a_k(y,x) · ∂z_c/∂a_k(y,x) to the logit `z_c` of the
//!   class the image is filed under (standard ReLU rule);
//! - [`influences`]: between the nodes of consecutive blocks, Σ_{y,x} a_j(y,x) ·
//!   ∂a_k(y*,x*)/∂a_j(y,x), (y*,x*) the position of k's maximum in that image: one backward walk
//!   per upper node, seeded at each image's own maximum and stopped at the lower block.
//!
//! [`engine`]: super::engine

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};

use super::engine::{Recorded, Target};
use super::read;
use crate::catalogue::{Catalogue, INPUT_SIZE, LayerKind};
use crate::error::NetError;
use crate::model::InceptionV3;
use crate::preprocess::InputImage;
use crate::taps::ReluRule;

/// One layer of one image: per channel the spatial maximum and the attribution.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChannelValues {
    /// Per channel: the spatial maximum.
    pub maxima: Vec<f32>,
    /// Per channel: Σ activation × gradient of the class logit, summed in `f64`.
    pub attribution: Vec<f32>,
}

/// One image's influences between the nodes of two consecutive blocks, by (lower, upper) node.
pub type Influences = BTreeMap<(u32, u32), f32>;

/// What [`class_pass`] found for one image.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClassValues {
    /// The model's top-1 class (ties: the lower index).
    pub predicted: usize,
    /// The class the attributions are to.
    pub class: usize,
    /// Per chosen layer.
    pub layers: Vec<ChannelValues>,
}

fn batch_tensor(inputs: &[InputImage], device: &Device) -> Tensor<4> {
    let mut data = Vec::with_capacity(inputs.len() * 3 * INPUT_SIZE * INPUT_SIZE);
    for input in inputs {
        data.extend_from_slice(&input.tensor);
    }
    Tensor::from_data(
        TensorData::new(data, [inputs.len(), 3, INPUT_SIZE, INPUT_SIZE]),
        device,
    )
}

/// The index of the largest value (the first of equal ones; NaN never wins).
fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] || values[best].is_nan() {
            best = i;
        }
    }
    best
}

/// One forward and one backward pass over `inputs`: per image its top-1 class and, for each
/// layer of `layers` (catalogue indices), channel maxima and attributions to `classes[b]` (the
/// predicted class where `classes` is `None`).
pub fn class_pass(
    model: &InceptionV3,
    device: &Device,
    inputs: &[InputImage],
    classes: Option<&[usize]>,
    layers: &[usize],
) -> Result<Vec<ClassValues>, NetError> {
    let n = inputs.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let rec = Recorded::new(model, batch_tensor(inputs, device), &Target::Class(0), &[])?;
    let logits = rec
        .logits()
        .ok_or_else(|| NetError::Attribution("no logits".into()))?;
    let count = logits.dims()[1];
    let logits = read(logits.clone())?;
    let predicted: Vec<usize> = (0..n)
        .map(|b| argmax(&logits[b * count..(b + 1) * count]))
        .collect();
    let classes = classes.map_or_else(|| predicted.clone(), <[usize]>::to_vec);
    let (at, seed) = rec.class_seed(&classes, ReluRule::Standard)?;
    let mut back = rec.backward_from(vec![(at, seed)], None, ReluRule::Standard, layers)?;
    let mut out: Vec<ClassValues> = (0..n)
        .map(|b| ClassValues {
            predicted: predicted[b],
            class: classes[b],
            layers: Vec::with_capacity(layers.len()),
        })
        .collect();
    for &l in layers {
        let value = rec
            .value(l)
            .ok_or_else(|| NetError::Attribution(format!("layer {l} was not recorded")))?;
        let [_, c, h, w] = value.dims();
        let a = read(value.clone())?;
        let g = match back.captured.remove(&l) {
            Some(g) => read(g)?,
            None => vec![0.0; a.len()],
        };
        for (b, image) in out.iter_mut().enumerate() {
            image.layers.push(channel_values(&a, &g, b, c, h * w));
        }
    }
    Ok(out)
}

/// Image `b`'s per-channel maxima and Σ a·g of `[N, c, hw]` activations `a` and gradients `g`.
fn channel_values(a: &[f32], g: &[f32], b: usize, c: usize, hw: usize) -> ChannelValues {
    let mut out = ChannelValues::default();
    for k in 0..c {
        let at = (b * c + k) * hw;
        let (a, g) = (&a[at..at + hw], &g[at..at + hw]);
        out.maxima
            .push(a.iter().copied().fold(f32::NEG_INFINITY, f32::max));
        let sum: f64 = a
            .iter()
            .zip(g)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum();
        out.attribution.push(sum as f32);
    }
    out
}

/// The graph's edge weights for each image of `inputs`: `nodes` are the graph's blocks, bottom
/// to top (catalogue index, node channels); the result holds per image, per consecutive pair
/// of blocks, the influence of lower node j on upper node k by `(j, k)`.
pub fn influences(
    model: &InceptionV3,
    device: &Device,
    inputs: &[InputImage],
    nodes: &[(usize, Vec<u32>)],
) -> Result<Vec<Vec<Influences>>, NetError> {
    let n = inputs.len();
    let pairs = nodes.len().saturating_sub(1);
    let mut out = vec![vec![BTreeMap::new(); pairs]; n];
    let Some(top) = nodes.last() else {
        return Ok(out);
    };
    if n == 0 {
        return Ok(out);
    }
    let cat = Catalogue::inception_v3();
    let target = Target::channel(&cat.layers[top.0].id, 0)?;
    let rec = Recorded::new(model, batch_tensor(inputs, device), &target, &[])?;
    let value = |i: usize| {
        rec.value(i).ok_or_else(|| {
            NetError::Attribution(format!("`{}` was not recorded", cat.layers[i].id))
        })
    };
    for (p, pair) in nodes.windows(2).enumerate() {
        let ((lo, los), (hi, his)) = (&pair[0], &pair[1]);
        let upper = value(*hi)?;
        let dims = upper.dims();
        let a_hi = read(upper.clone())?;
        let [_, clo, hlo, wlo] = value(*lo)?.dims();
        let a_lo = read(value(*lo)?.clone())?;
        for &k in his {
            // k lies in one branch of the block: seeding that branch's own output walks only
            // its layers (the concat would send the other branches zeros).
            let (at, channel) = branch_of(cat, *hi, k as usize);
            let [_, c_at, ..] = value(at)?.dims();
            let seed = max_seed(&a_hi, dims, k as usize, channel, c_at, device);
            let mut back =
                rec.backward_from(vec![(at, seed)], Some(*lo), ReluRule::Standard, &[*lo])?;
            let g = match back.captured.remove(lo) {
                Some(g) => read(g)?,
                None => vec![0.0; a_lo.len()],
            };
            for (b, image) in out.iter_mut().enumerate() {
                let v = channel_values(&a_lo, &g, b, clo, hlo * wlo);
                for &j in los {
                    image[p].insert((j, k), v.attribution[j as usize]);
                }
            }
        }
    }
    Ok(out)
}

/// The layer and channel whose output is channel `k` of `layer`: through concatenations down
/// to the branch that produced it (a layer that is no concat is its own).
fn branch_of(cat: &Catalogue, layer: usize, k: usize) -> (usize, usize) {
    let info = &cat.layers[layer];
    if info.kind != LayerKind::Concat {
        return (layer, k);
    }
    let mut start = 0;
    for &j in &info.inputs {
        let c = cat.layers[j].shape[0];
        if k < start + c {
            return branch_of(cat, j, k - start);
        }
        start += c;
    }
    (layer, k)
}

/// A gradient of 1 at each image's maximum of channel `k` of `a` (`[N, C, H, W]` = `dims`; the
/// first of equal values in row-major order), 0 elsewhere, placed at channel `channel` of a
/// layer with `channels` channels and the same `N, H, W` (the branch that holds channel `k`).
fn max_seed(
    a: &[f32],
    [n, c, h, w]: [usize; 4],
    k: usize,
    channel: usize,
    channels: usize,
    device: &Device,
) -> Tensor<4> {
    let mut g = vec![0f32; n * channels * h * w];
    for b in 0..n {
        let at = (b * c + k) * h * w;
        g[(b * channels + channel) * h * w + argmax(&a[at..at + h * w])] = 1.0;
    }
    Tensor::from_data(TensorData::new(g, [n, channels, h, w]), device)
}
