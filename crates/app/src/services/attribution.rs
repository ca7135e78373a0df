//! Explanations and feature visualisations as jobs: what identifies one (the cache keys), and
//! computing and drawing it on the worker. The results are plain RGB images; the window makes
//! textures of them, the command line writes them to files.

use std::hash::{Hash, Hasher};

use featurescope_maps::Colormap;
use featurescope_maps::attribution::{Look, render_attribution};
use featurescope_net::attribution::sanity::{self, Randomize};
use featurescope_net::attribution::visualize::{VisualizeOptions, visualize as optimise};
use featurescope_net::attribution::{Attribution, Baseline, Method, Options, Pass, Target};
use featurescope_net::{InputImage, Network};
use image::RgbImage;

/// Identifies one computed explanation: image, weights, target, method, the options the method
/// reads, and the sanity check's scope.
#[derive(Clone, Debug)]
pub struct ExplainKey {
    /// The analysis (image) it belongs to.
    pub generation: u64,
    /// The weights it was computed with (counts loads).
    pub weights: u64,
    /// What is explained.
    pub target: Target,
    /// How.
    pub method: Method,
    /// The method's parameters, reduced to those it reads ([`Options::relevant_to`]).
    pub options: Options,
    /// Also re-run with these weights re-initialised (the sanity check).
    pub sanity: Option<Randomize>,
}

impl ExplainKey {
    /// The key of `method` on `target`, keeping only the options it reads.
    pub fn new(
        generation: u64,
        weights: u64,
        target: Target,
        method: Method,
        options: &Options,
    ) -> Self {
        Self {
            generation,
            weights,
            target,
            method,
            options: options.relevant_to(method),
            sanity: None,
        }
    }

    /// The same explanation with `scope` re-initialised.
    pub fn sanity_check(&self, scope: Randomize) -> Self {
        Self {
            sanity: Some(scope),
            ..self.clone()
        }
    }

    /// The plain explanation a sanity check belongs to (itself when it is one).
    pub fn plain(&self) -> Self {
        Self {
            sanity: None,
            ..self.clone()
        }
    }

    /// Whether `other` is the same explanation on any image and weights (a sanity check of it
    /// included): target, method and the options it reads.
    pub fn same_view(&self, other: &Self) -> bool {
        self.target == other.target
            && self.method == other.method
            && self.option_fields() == other.option_fields()
    }

    /// The same explanation of another analysis (the pinned one).
    pub fn of(&self, generation: u64, weights: u64) -> Self {
        Self {
            generation,
            weights,
            ..self.clone()
        }
    }

    /// The option fields, with the float compared by its bits (a key must equal itself).
    fn option_fields(&self) -> (usize, u32, usize, Baseline, Option<&str>, u64, usize) {
        let o = &self.options;
        (
            o.samples,
            o.noise.to_bits(),
            o.steps,
            o.baseline,
            o.cam_layer.as_deref(),
            o.seed,
            o.batch,
        )
    }
}

impl PartialEq for ExplainKey {
    fn eq(&self, other: &Self) -> bool {
        self.generation == other.generation
            && self.weights == other.weights
            && self.target == other.target
            && self.method == other.method
            && self.option_fields() == other.option_fields()
            && self.sanity == other.sanity
    }
}

impl Eq for ExplainKey {}

impl Hash for ExplainKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.generation.hash(state);
        self.weights.hash(state);
        self.target.hash(state);
        self.method.hash(state);
        self.option_fields().hash(state);
        self.sanity.hash(state);
    }
}

/// A finished explanation, drawn. For a sanity check: the re-initialised network's result.
#[derive(Debug)]
pub struct Explained {
    /// The result alone.
    pub alone: RgbImage,
    /// Over the photo.
    pub overlay: RgbImage,
    /// One line: value, Grad-CAM layer, completeness.
    pub summary: String,
    /// Time it took on the worker.
    pub millis: f64,
    /// For a sanity check: the rank correlation with the trained network's map.
    pub rank_correlation: Option<f64>,
}

/// A result drawn alone and over the photo (the colouring the command line uses too).
pub fn draw(result: &Attribution, photo: &RgbImage) -> (RgbImage, RgbImage) {
    let (values, [h, w], signed) = result.display_values();
    let look = if signed { Look::Signed } else { Look::Heat };
    render_attribution(look, &values, w, h, photo, Colormap::Inferno, 0.7)
}

fn summary(a: &Attribution) -> String {
    let mut s = format!("{} · value {:.4}", a.target.describe(), a.target_value);
    if let Some(l) = &a.cam_layer {
        s += &format!(" · Grad-CAM at {l}");
    }
    if let Some(c) = a.completeness {
        s += &format!(
            " · attributions sum to {:.3}, F(photo) - F(baseline) = {:.3} ({:.2} % off)",
            c.sum,
            c.difference,
            c.relative_error() * 100.0
        );
    }
    s
}

/// Compute and draw an explanation (on the worker), walking back from `pass` (the image's pass
/// with `net`) where one is given; `progress(done, total)` returns false to cancel.
pub fn explain(
    net: &Network,
    input: &InputImage,
    pass: Option<Pass<'_>>,
    key: &ExplainKey,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Explained, String> {
    let t = std::time::Instant::now();
    let mut job = net.job(input, &key.target, &key.options, progress);
    if let Some(pass) = pass {
        job = job.on_pass(pass);
    }
    let (result, rank_correlation) = match &key.sanity {
        None => (
            key.method
                .implementation()
                .compute(&mut job)
                .map_err(|e| e.to_string())?,
            None,
        ),
        Some(scope) => {
            let r = sanity::check(&mut job, key.method, scope, key.options.seed)
                .map_err(|e| e.to_string())?;
            (r.randomized, Some(r.rank_correlation))
        }
    };
    let (alone, overlay) = draw(&result, &input.crop);
    Ok(Explained {
        alone,
        overlay,
        summary: summary(&result),
        millis: t.elapsed().as_secs_f64() * 1e3,
        rank_correlation,
    })
}

/// Identifies one feature visualisation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VisKey {
    /// Weights (counts loads).
    pub weights: u64,
    /// Layer id.
    pub layer: String,
    /// Channel.
    pub channel: usize,
    /// Steps.
    pub steps: usize,
    /// Seed.
    pub seed: u64,
}

/// A finished feature visualisation.
#[derive(Clone, Debug)]
pub struct Visualization {
    /// The optimised image.
    pub image: RgbImage,
    /// Steps, seed, how far the objective rose, time.
    pub summary: String,
}

/// Run a feature visualisation (on the worker); `progress(done, total)` returns false to cancel.
pub fn visualize(
    net: &Network,
    key: &VisKey,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Visualization, String> {
    let t = std::time::Instant::now();
    let options = VisualizeOptions {
        steps: key.steps,
        seed: key.seed,
        ..VisualizeOptions::default()
    };
    let v = optimise(
        net.model(),
        &net.device().device,
        &key.layer,
        key.channel,
        &options,
        progress,
    )
    .map_err(|e| e.to_string())?;
    let side = u32::try_from(v.size).map_err(|e| e.to_string())?;
    let image = RgbImage::from_raw(side, side, v.rgb)
        .ok_or_else(|| "the visualisation has an inconsistent size".to_string())?;
    let first = v.objective.first().copied().unwrap_or(0.0);
    let last = v.objective.last().copied().unwrap_or(0.0);
    let summary = format!(
        "{} steps, seed {} · mean activation {first:.3} to {last:.3} · {:.1} s",
        key.steps,
        key.seed,
        t.elapsed().as_secs_f64()
    );
    Ok(Visualization { image, summary })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn keys_compare_the_options_the_method_reads() {
        let target = Target::Class(3);
        let a = ExplainKey::new(1, 1, target.clone(), Method::Saliency, &Options::default());
        let noisy = Options {
            noise: 0.3,
            samples: 4,
            ..Options::default()
        };
        // Saliency reads neither: the same key.
        let b = ExplainKey::new(1, 1, target.clone(), Method::Saliency, &noisy);
        assert_eq!(a, b);
        // SmoothGrad reads both: different keys, and a NaN noise still equals itself.
        let c = ExplainKey::new(1, 1, target.clone(), Method::SmoothGrad, &noisy);
        let d = ExplainKey::new(
            1,
            1,
            target.clone(),
            Method::SmoothGrad,
            &Options::default(),
        );
        assert_ne!(c, d);
        let nan = Options {
            noise: f32::NAN,
            ..Options::default()
        };
        let e = ExplainKey::new(1, 1, target, Method::SmoothGrad, &nan);
        assert_eq!(e, e.clone());
        let set: HashSet<ExplainKey> = [a.clone(), b, c.clone(), d, e.clone(), e].into();
        assert_eq!(set.len(), 4);
        assert_eq!(a.sanity_check(Randomize::All).plain(), a);
    }
}
