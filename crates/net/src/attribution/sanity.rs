//! The randomisation sanity check (Adebayo et al. 2018, "Sanity checks for saliency maps"):
//! re-run a method with some of the network's weights re-initialised and measure how much the
//! map changed (Spearman rank correlation of the maps' magnitudes). A method that explains the
//! model must change when the model does; guided backprop famously barely does.

use burn::module::{Param, RunningState};
use burn::tensor::{Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::{Attribution, Job, Method};
use crate::catalogue::{Catalogue, LayerKind};
use crate::error::NetError;
use crate::model::InceptionV3;

/// Which weights to re-initialise.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Randomize {
    /// Cascading randomisation from the top: every weight layer from this one (id or alias)
    /// up to the head, the head included. A concat has no weights of its own: from a block's
    /// output (`Mixed_5b`) means from the block's first conv.
    From(String),
    /// Every weight of the network.
    All,
}

impl Randomize {
    /// A description: `layers from Mixed_6a up`, `all layers`.
    pub fn describe(&self) -> String {
        match self {
            Self::From(l) => format!("layers from {l} up"),
            Self::All => "all layers".into(),
        }
    }
}

/// The result of one sanity check.
#[derive(Clone, Debug)]
pub struct SanityReport {
    /// The method's result with the trained weights.
    pub original: Attribution,
    /// The same with the weights re-initialised.
    pub randomized: Attribution,
    /// Spearman rank correlation of the two maps' magnitudes (1 = unchanged ranking).
    pub rank_correlation: f64,
}

fn normal_tensor<const D: usize>(
    shape: [usize; D],
    std: f32,
    rng: &mut ChaCha8Rng,
    device: &burn::tensor::Device,
) -> Result<Tensor<D>, NetError> {
    let normal = Normal::new(0.0f32, std)
        .map_err(|e| NetError::Attribution(format!("random weights: {e}")))?;
    let len = shape.iter().product();
    let data: Vec<f32> = (0..len).map(|_| normal.sample(rng)).collect();
    Ok(Tensor::from_data(TensorData::new(data, shape), device))
}

/// A copy of `model` with the chosen layers re-initialised (He-normal conv and dense weights,
/// BatchNorm reset to the identity), seeded.
pub fn randomized(
    model: &InceptionV3,
    scope: &Randomize,
    seed: u64,
) -> Result<InceptionV3, NetError> {
    let cat = Catalogue::inception_v3();
    let from = match scope {
        Randomize::All => 0,
        Randomize::From(l) => first_weight_layer(l)?,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = model.clone();
    for info in cat.layers.iter().skip(from) {
        if info.kind != LayerKind::Conv {
            continue;
        }
        let Some(conv) = out.basic_conv_mut(&info.id) else {
            continue;
        };
        let w = conv.conv.weight.val();
        let device = w.device();
        let dims = w.dims();
        let fan_in = dims[1] * dims[2] * dims[3];
        let std = (2.0 / fan_in as f32).sqrt();
        conv.conv.weight = Param::from_tensor(normal_tensor(dims, std, &mut rng, &device)?);
        let c = dims[0];
        conv.bn.gamma = Param::from_tensor(Tensor::ones([c], &device));
        conv.bn.beta = Param::from_tensor(Tensor::zeros([c], &device));
        conv.bn.running_mean = RunningState::new(Tensor::zeros([c], &device));
        conv.bn.running_var = RunningState::new(Tensor::ones([c], &device));
        if conv.folded.is_some() {
            conv.fold();
        }
    }
    let linears = out
        .fc
        .iter_mut()
        .chain(out.dense_head.iter_mut().flat_map(|h| h.layers.iter_mut()));
    for linear in linears {
        let w = linear.weight.val();
        let device = w.device();
        let dims = w.dims();
        let std = (2.0 / dims[0] as f32).sqrt();
        linear.weight = Param::from_tensor(normal_tensor(dims, std, &mut rng, &device)?);
        if let Some(b) = &linear.bias {
            let zeros = b.val().zeros_like();
            linear.bias = Some(Param::from_tensor(zeros));
        }
    }
    Ok(out)
}

/// Catalogue position where randomising "from `layer` up" starts: the layer itself, or for a
/// concat the first of the layers it concatenates within its block.
fn first_weight_layer(layer: &str) -> Result<usize, NetError> {
    let cat = Catalogue::inception_v3();
    let pos = cat
        .position(layer)
        .ok_or_else(|| NetError::UnknownLayer(layer.to_string()))?;
    let info = &cat.layers[pos];
    if info.kind != LayerKind::Concat {
        return Ok(pos);
    }
    let block = info.id.split('.').next().unwrap_or(&info.id);
    let prefix = format!("{block}.");
    Ok(super::engine::ancestors(pos)
        .into_iter()
        .filter(|&i| cat.layers[i].id.starts_with(&prefix))
        .min()
        .unwrap_or(pos))
}

/// Run `method` on the job's model and on a randomised copy; compare.
pub fn check(
    job: &mut Job<'_>,
    method: Method,
    scope: &Randomize,
    seed: u64,
) -> Result<SanityReport, NetError> {
    let original = method.implementation().compute(job)?;
    compare(original, job, scope, seed)
}

/// [`check`] for a result already computed on the job's model: only the randomised run.
pub fn compare(
    original: Attribution,
    job: &mut Job<'_>,
    scope: &Randomize,
    seed: u64,
) -> Result<SanityReport, NetError> {
    let model = randomized(job.model, scope, seed)?;
    let mut shuffled = Job {
        model: &model,
        device: job.device,
        image: job.image,
        target: job.target,
        options: job.options,
        progress: &mut *job.progress,
        // The pass ran with the original weights.
        pass: None,
    };
    let randomized = original.method.implementation().compute(&mut shuffled)?;
    let rank_correlation = spearman(&original.magnitude().0, &randomized.magnitude().0);
    Ok(SanityReport {
        original,
        randomized,
        rank_correlation,
    })
}

/// Ranks (1-based, ties get their average rank).
fn ranks(v: &[f32]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            out[k] = rank;
        }
        i = j + 1;
    }
    out
}

/// Spearman rank correlation (Pearson correlation of the ranks); 0 when either side is constant.
pub fn spearman(a: &[f32], b: &[f32]) -> f64 {
    pearson(&ranks(a), &ranks(b))
}

/// Pearson correlation; 0 when either side is constant.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let ma = a[..n].iter().sum::<f64>() / n as f64;
    let mb = b[..n].iter().sum::<f64>() / n as f64;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a[..n].iter().zip(&b[..n]) {
        let (dx, dy) = (x - ma, y - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    if saa == 0.0 || sbb == 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_of_monotone_maps_is_one_and_of_reversed_is_minus_one() {
        let a = [1.0, 2.0, 3.0, 10.0, 20.0];
        let b = [0.1, 0.2, 0.3, 0.4, 100.0];
        assert!((spearman(&a, &b) - 1.0).abs() < 1e-12);
        let r: Vec<f32> = b.iter().map(|v| -v).collect();
        assert!((spearman(&a, &r) + 1.0).abs() < 1e-12);
        // Ties share their average rank.
        assert_eq!(ranks(&[5.0, 1.0, 5.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
        assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), 0.0);
    }
}
