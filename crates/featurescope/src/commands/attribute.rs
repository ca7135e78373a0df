//! `featurescope attribute`: what in the photo drives a filter or a class (saliency,
//! SmoothGrad, integrated gradients, guided backprop, deconvnet, Grad-CAM, guided Grad-CAM),
//! with the sanity check on request.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::ValueEnum;
use featurescope_maps::Overwrite;
use featurescope_net::attribution::sanity::{self, Randomize};
use featurescope_net::attribution::{Attribution, Baseline, Method, Options, Target};
use featurescope_net::{InputImage, Network, preprocess};

use crate::common::{NetArgs, check_outputs, load_network, progress};

/// An attribution method on the command line.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MethodArg {
    /// |gradient| (Simonyan et al.).
    Saliency,
    /// Saliency averaged over noisy copies (Smilkov et al.).
    Smoothgrad,
    /// Integrated gradients from a baseline (Sundararajan et al.).
    Integrated,
    /// Guided backprop (Springenberg et al.).
    Guided,
    /// Deconvnet projection (Zeiler & Fergus).
    Deconv,
    /// Grad-CAM at --layer-cam (Selvaraju et al.).
    Gradcam,
    /// Guided backprop × Grad-CAM.
    GuidedGradcam,
}

impl From<MethodArg> for Method {
    fn from(m: MethodArg) -> Self {
        match m {
            MethodArg::Saliency => Self::Saliency,
            MethodArg::Smoothgrad => Self::SmoothGrad,
            MethodArg::Integrated => Self::Integrated,
            MethodArg::Guided => Self::Guided,
            MethodArg::Deconv => Self::Deconv,
            MethodArg::Gradcam => Self::GradCam,
            MethodArg::GuidedGradcam => Self::GuidedGradCam,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum BaselineArg {
    /// A black image.
    Black,
    /// The photo, blurred.
    Blurred,
}

/// Arguments of `attribute`.
#[derive(clap::Args, Debug)]
pub(crate) struct AttributeArgs {
    /// The photo.
    #[arg(long)]
    image: PathBuf,
    /// Target layer (id or Keras alias); with --channel.
    #[arg(long, required_unless_present = "class", requires = "channel")]
    layer: Option<String>,
    /// Target channel of --layer, summed over the map.
    #[arg(long)]
    channel: Option<usize>,
    /// Only the unit at row Y, column X of the channel's map.
    #[arg(long, value_name = "Y,X", value_parser = parse_at, requires = "layer")]
    at: Option<[usize; 2]>,
    /// Target class score (the head's logit N) instead of a channel.
    #[arg(long, conflicts_with_all = ["layer", "channel", "at"])]
    class: Option<usize>,
    /// The method.
    #[arg(long, value_enum)]
    method: MethodArg,
    /// Grad-CAM's layer (a conv or concat below the target); default Mixed_7c for a class,
    /// the block below the target's for a channel.
    #[arg(long = "layer-cam", value_name = "A")]
    layer_cam: Option<String>,
    #[command(flatten)]
    net: NetArgs,
    /// Output PNG: the result drawn alone (or over the photo with --overlay), 299x299.
    #[arg(long)]
    out: PathBuf,
    /// Also write the raw result as .npy (float32): the input gradient [1, 3, 299, 299] NCHW,
    /// or Grad-CAM's map at its layer's resolution [h, w].
    #[arg(long)]
    npy: Option<PathBuf>,
    /// Draw over the photo.
    #[arg(long)]
    overlay: bool,
    /// SmoothGrad: noisy copies.
    #[arg(long, default_value_t = 16)]
    samples: usize,
    /// SmoothGrad: noise σ as a fraction of the input's range.
    #[arg(long, default_value_t = 0.15)]
    noise: f32,
    /// Integrated gradients: steps.
    #[arg(long, default_value_t = 32)]
    steps: usize,
    /// Integrated gradients: baseline.
    #[arg(long, value_enum, default_value_t = BaselineArg::Black)]
    baseline: BaselineArg,
    /// Seed of the random choices (SmoothGrad noise, --sanity's weights).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Run the method this many times and report the first and the fastest later run (the
    /// first includes a GPU's kernel compilation).
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Sanity check: also run with re-initialised weights — `all`, or every layer from this
    /// one up — and print the maps' rank correlation.
    #[arg(long, value_name = "all|LAYER")]
    sanity: Option<String>,
}

fn parse_at(s: &str) -> Result<[usize; 2], String> {
    let (y, x) = s
        .split_once(',')
        .ok_or_else(|| format!("`{s}`: expected Y,X"))?;
    let p = |v: &str| v.trim().parse::<usize>().map_err(|e| format!("`{v}`: {e}"));
    Ok([p(y)?, p(x)?])
}

impl AttributeArgs {
    fn target(&self) -> Result<Target> {
        if let Some(c) = self.class {
            return Ok(Target::Class(c));
        }
        let (Some(layer), Some(channel)) = (&self.layer, self.channel) else {
            bail!("give --layer and --channel, or --class");
        };
        let t = Target::channel(layer, channel)?;
        Ok(match self.at {
            Some([y, x]) => t.at(y, x),
            None => t,
        })
    }

    fn options(&self) -> Options {
        Options {
            samples: self.samples,
            noise: self.noise,
            steps: self.steps,
            baseline: match self.baseline {
                BaselineArg::Black => Baseline::Black,
                BaselineArg::Blurred => Baseline::Blurred,
            },
            cam_layer: self.layer_cam.clone(),
            seed: self.seed,
            ..Options::default()
        }
    }
}

/// Run `attribute`.
pub(crate) fn run(a: &AttributeArgs, overwrite: Overwrite) -> Result<()> {
    check_outputs(
        overwrite,
        std::iter::once(a.out.as_path()).chain(a.npy.as_deref()),
    )?;
    let target = a.target()?;
    let options = a.options();
    let input = preprocess::load_input(&a.image)?;
    let net = load_network(&a.net)?.net;
    let (result, ms) = timed_runs(a, &net, &input, &target, &options)?;
    let (alone, over) = featurescope_app::services::attribution::draw(&result, &input.crop);
    let img = if a.overlay { over } else { alone };
    featurescope_maps::save_image(&a.out, &img.into(), overwrite)?;
    if let Some(npy) = &a.npy {
        let shape: Vec<u64> = result.shape.iter().map(|&d| d as u64).collect();
        featurescope_maps::write_npy(npy, &shape, &result.data, overwrite)?;
    }
    print_result(&result, &target, ms, &net);
    if let Some(scope) = &a.sanity {
        sanity_check(scope, a.seed, result, &net, &input, &target, &options)?;
    }
    eprintln!("wrote {}", a.out.display());
    Ok(())
}

/// The method's result (with a progress bar) and its time in ms; with `--runs`, the later
/// runs' fastest time is printed.
fn timed_runs(
    a: &AttributeArgs,
    net: &Network,
    input: &InputImage,
    target: &Target,
    options: &Options,
) -> Result<(Attribution, f64)> {
    let method: Method = a.method.into();
    let bar = progress(1, method.title());
    let mut tick = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        true
    };
    let t = Instant::now();
    let result = net.attribute(input, target, method, options, &mut tick)?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    bar.finish_and_clear();
    let mut later = Vec::new();
    for _ in 1..a.runs.max(1) {
        let t = Instant::now();
        net.attribute(input, target, method, options, &mut |_, _| true)?;
        later.push(t.elapsed().as_secs_f64() * 1e3);
    }
    if let Some(best) = later.iter().copied().reduce(f64::min) {
        println!(
            "first run {ms:.0} ms; fastest of {} later runs {best:.0} ms",
            later.len()
        );
    }
    Ok((result, ms))
}

/// The target's value, the time, Grad-CAM's layer and integrated gradients' completeness.
fn print_result(result: &Attribution, target: &Target, ms: f64, net: &Network) {
    println!(
        "{} of {}: value {:.4}, {ms:.0} ms on {}",
        result.method.title(),
        target.describe(),
        result.target_value,
        net.device().name
    );
    if let Some(layer) = &result.cam_layer {
        println!("Grad-CAM layer {layer}");
    }
    if let Some(c) = result.completeness {
        println!(
            "completeness: Σ attributions {:.4}, F(x) − F(baseline) {:.4}, error {:.2} %",
            c.sum,
            c.difference,
            c.relative_error() * 100.0
        );
    }
}

/// `--sanity`: the same method with weights re-initialised (`all`, or from a layer up), and
/// the rank correlation of the two maps.
fn sanity_check(
    scope: &str,
    seed: u64,
    result: Attribution,
    net: &Network,
    input: &InputImage,
    target: &Target,
    options: &Options,
) -> Result<()> {
    let scope = match scope {
        "all" => Randomize::All,
        layer => Randomize::From(layer.to_string()),
    };
    let mut quiet = |_: usize, _: usize| true;
    let mut job = net.job(input, target, options, &mut quiet);
    let report = sanity::compare(result, &mut job, &scope, seed)?;
    println!(
        "sanity check: rank correlation with {} re-initialised: {:.3}",
        scope.describe(),
        report.rank_correlation
    );
    Ok(())
}
