//! Feature visualisation (activation maximisation; Olah et al. 2017, "Feature Visualization"):
//! optimise an image so that one filter fires as strongly as it can. The image is Lucid's
//! decorrelated-colour Fourier parameterisation, each step sees it through a random jitter,
//! scale and rotation ([`super::fvis`]), and the gradient is the network's own backward pass
//! ([`super::engine`]). Seeded and reproducible; progress and cancel per step.

use burn::tensor::{Device, Tensor, TensorData};

use super::engine::{BackwardOptions, Recorded, Target};
use super::{channel_source, fvis, read};
use crate::catalogue::{Catalogue, LayerKind};
use crate::error::NetError;
use crate::model::InceptionV3;
use crate::taps::ReluRule;

/// Parameters of one visualisation.
#[derive(Clone, Debug, PartialEq)]
pub struct VisualizeOptions {
    /// Optimisation steps.
    pub steps: usize,
    /// Seed of the starting image and of every transform.
    pub seed: u64,
    /// Side of the optimised image, in pixels.
    pub size: usize,
    /// Adam's learning rate.
    pub learning_rate: f32,
}

impl Default for VisualizeOptions {
    fn default() -> Self {
        Self {
            steps: 256,
            seed: 0,
            size: 224,
            learning_rate: fvis::DEFAULT_LR,
        }
    }
}

/// A finished visualisation.
#[derive(Clone, Debug, PartialEq)]
pub struct Visualization {
    /// The layer asked for.
    pub layer: String,
    /// The channel asked for.
    pub channel: usize,
    /// The layer and channel actually optimised (a concat's channel is its branch's).
    pub source: (String, usize),
    /// Side in pixels.
    pub size: usize,
    /// Interleaved RGB8, `size × size`.
    pub rgb: Vec<u8>,
    /// The channel's mean activation (after its ReLU, as the tiles show it) at every step.
    /// The optimisation itself ascends the mean before the ReLU for a conv: a ReLU's output is
    /// flat where the filter is off, its input still says how far off it is.
    pub objective: Vec<f32>,
}

/// Smallest image the network can take (the stem and the reductions need 75 px).
pub const MIN_SIZE: usize = 75;

/// Visualise channel `channel` of `layer`. `progress` gets `(step, steps)` and returns `false`
/// to cancel.
pub fn visualize(
    model: &InceptionV3,
    device: &Device,
    layer: &str,
    channel: usize,
    options: &VisualizeOptions,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Visualization, NetError> {
    let cat = Catalogue::inception_v3();
    let info = cat
        .resolve(layer)
        .ok_or_else(|| NetError::UnknownLayer(layer.to_string()))?;
    let Objective { source, backward } = objective(&info.id, channel)?;
    let target = Objective::target(&source);
    if options.size < MIN_SIZE {
        return Err(NetError::Attribution(format!(
            "a visualisation needs at least {MIN_SIZE} px, not {}",
            options.size
        )));
    }
    let s = options.size;
    let mut opt = fvis::Optimisation::new(s, s, options.seed, options.learning_rate);
    let mut objective = Vec::with_capacity(options.steps);
    if !progress(0, options.steps) {
        return Err(NetError::Cancelled);
    }
    for step in 0..options.steps {
        let (seen, transform) = opt.next_input();
        // The network reads x / 127.5 − 1 of 8-bit pixels: 2u − 1 of the [0, 1] image.
        let x: Vec<f32> = seen.iter().map(|u| 2.0 * u - 1.0).collect();
        let x = Tensor::from_data(TensorData::new(x, [1, 3, s, s]), device);
        let rec = Recorded::new(model, x, &target, &[])?;
        objective.push(channel_mean(&rec, &target)?);
        let back = rec.backward(&target, ReluRule::Standard, &backward)?;
        let grad: Vec<f32> = read(back.input)?.iter().map(|g| 2.0 * g).collect();
        opt.apply_gradient(&transform, &grad);
        if !progress(step + 1, options.steps) {
            return Err(NetError::Cancelled);
        }
    }
    Ok(Visualization {
        layer: info.id.clone(),
        channel,
        source,
        size: s,
        rgb: fvis::to_rgb8(&opt.image(), s, s),
        objective,
    })
}

/// What a visualization of one channel ascends: the channel of the conv or concat it comes
/// from, and the backward walk that seeds it (before a conv's ReLU, which has a gradient even
/// where the filter is off).
pub struct Objective {
    /// (layer id, channel) of the source.
    pub source: (String, usize),
    /// The walk each step takes.
    pub backward: BackwardOptions,
}

impl Objective {
    /// The source channel as a target over its whole map.
    pub fn target((layer, channel): &(String, usize)) -> Target {
        Target::Channel {
            layer: layer.clone(),
            channel: *channel,
            at: None,
        }
    }
}

/// The [`Objective`] of channel `channel` of layer `id`.
pub fn objective(id: &str, channel: usize) -> Result<Objective, NetError> {
    let cat = Catalogue::inception_v3();
    let source = channel_source(id, channel).ok_or_else(|| {
        let channels = cat.get(id).map_or(0, |l| l.shape[0]);
        NetError::Attribution(format!(
            "`{id}` has {channels} channels; there is no channel {channel}"
        ))
    })?;
    let is_conv = cat
        .get(&source.0)
        .is_some_and(|l| l.kind == LayerKind::Conv);
    let backward = BackwardOptions {
        skip_target_relu: is_conv,
        ..BackwardOptions::default()
    };
    Ok(Objective { source, backward })
}

/// The target channel's mean over its map (after the ReLU: what the tiles show).
fn channel_mean(rec: &Recorded<'_>, target: &Target) -> Result<f32, NetError> {
    let t = rec
        .value(target.top()?)
        .ok_or_else(|| NetError::Attribution("target not recorded".into()))?;
    let [_, _, h, w] = t.dims();
    Ok(read(rec.target_value(target)?)?[0] / (h * w) as f32)
}
