//! The rows of `featurescope bench` past the forward itself, each a ratio from the same run:
//! `--methods` times Grad-CAM and guided backprop for one filter against the forward, each from
//! the image and on the image's pass as the app runs them (the taps of the forward it already
//! ran for the image: only the backward walk is new), and one feature-visualization step against a plain forward + backward at its size; `--folder`
//! builds an atlas of a folder (every tap) and sets its images/s against the single-image
//! forward rate.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use burn::tensor::{Distribution, Tensor};
use featurescope_atlas::{BuildOptions, BuildSummary};
use featurescope_net::attribution::visualize::{Objective, VisualizeOptions, objective, visualize};
use featurescope_net::attribution::{
    BackwardOptions, Method, Options, Pass, Recorded, Target, read,
};
use featurescope_net::{
    Activations, Backend, InputImage, Network, ReluRule, ResidentTaps, TapRequest, WeightsSource,
};

use super::bench::{min_median, time_ms};

/// Feature-visualization steps per timed sample (its set-up and final image are included, as
/// `featurescope visualize` pays them).
const FVIS_STEPS: usize = 4;

/// One filter, as `LAYER:CHANNEL`.
#[derive(Clone, Debug)]
pub(crate) struct Filter {
    pub(crate) layer: String,
    pub(crate) channel: usize,
}

impl std::str::FromStr for Filter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (layer, channel) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("`{s}`: expected LAYER:CHANNEL, e.g. Mixed_6e:100"))?;
        let channel = channel
            .parse()
            .map_err(|_| format!("`{channel}` is not a channel number"))?;
        Ok(Self {
            layer: layer.to_string(),
            channel,
        })
    }
}

/// Times of the method rows (min, median in ms), each taken interleaved with the others.
pub(crate) struct MethodTimes {
    pub(crate) filter: Filter,
    pub(crate) gradcam: (f64, f64),
    pub(crate) guided: (f64, f64),
    /// Grad-CAM and guided backprop on the image's pass (as the app runs them).
    pub(crate) gradcam_on_pass: (f64, f64),
    pub(crate) guided_on_pass: (f64, f64),
    /// One feature-visualization step at `fvis_size`.
    pub(crate) fvis_step: (f64, f64),
    /// One recorded forward to the filter + backward to the input at `fvis_size`.
    pub(crate) forward_backward: (f64, f64),
    pub(crate) fvis_size: usize,
}

/// What `--methods` times, for one run of the loop.
pub(crate) struct MethodRuns<'a> {
    net: &'a Network,
    input: &'a InputImage,
    filter: Filter,
    target: Target,
    fvis: VisualizeOptions,
    /// What each feature-visualization step walks (the filter's source channel).
    fvis_target: Target,
    fvis_walk: BackwardOptions,
    /// The image's pass with every tap, kept as the app keeps it.
    pass: Kept,
    times: [Vec<f64>; Row::COUNT],
}

/// The rows `--methods` samples, each one's index into [`MethodRuns`]' samples.
#[derive(Clone, Copy)]
enum Row {
    GradCam,
    Guided,
    Fvis,
    ForwardBackward,
    GradCamOnPass,
    GuidedOnPass,
}

impl Row {
    const COUNT: usize = 6;
}

/// A pass kept as the app keeps the image on screen: on the GPU its taps stay on the device, on
/// the CPU every tap is read back.
enum Kept {
    Device(ResidentTaps),
    Host(Activations),
}

impl Kept {
    fn run(net: &Network, input: &InputImage) -> Result<Self> {
        let all = TapRequest::all();
        Ok(match net.device().backend {
            Backend::Wgpu => Self::Device(net.run_resident(input, &all)?),
            _ => Self::Host(net.run(input, &all)?),
        })
    }

    fn pass(&self) -> Pass<'_> {
        match self {
            Self::Device(taps) => Pass::Device(taps),
            Self::Host(acts) => Pass::Host(acts),
        }
    }
}

impl<'a> MethodRuns<'a> {
    /// Check the filter and prepare.
    pub(crate) fn new(net: &'a Network, input: &'a InputImage, filter: Filter) -> Result<Self> {
        let target = Target::channel(&filter.layer, filter.channel)?;
        let Target::Channel { layer, .. } = &target else {
            anyhow::bail!("{}: not a filter", filter.layer);
        };
        let objective = objective(layer, filter.channel)?;
        let fvis = VisualizeOptions {
            steps: FVIS_STEPS,
            ..VisualizeOptions::default()
        };
        Ok(Self {
            net,
            input,
            filter,
            fvis_target: Objective::target(&objective.source),
            fvis_walk: objective.backward,
            pass: Kept::run(net, input)?,
            target,
            fvis,
            times: Default::default(),
        })
    }

    /// Forget the samples so far (the warm-up's).
    pub(crate) fn clear(&mut self) {
        self.times.iter_mut().for_each(Vec::clear);
    }

    /// One sample of each row.
    pub(crate) fn run_once(&mut self) -> Result<()> {
        let no_progress = &mut |_: usize, _: usize| true;
        let options = Options::default();
        let mut method = |m: Method, on_pass: bool| {
            time_ms(|| {
                let mut job = self
                    .net
                    .job(self.input, &self.target, &options, no_progress);
                if on_pass {
                    job = job.on_pass(self.pass.pass());
                }
                Ok(m.implementation().compute(&mut job)?)
            })
            .map(|(ms, _)| ms)
        };
        let (gradcam, guided) = (
            method(Method::GradCam, false)?,
            method(Method::Guided, false)?,
        );
        let (gradcam_on_pass, guided_on_pass) = (
            method(Method::GradCam, true)?,
            method(Method::Guided, true)?,
        );
        let (fvis, _) = time_ms(|| {
            let f = &self.filter;
            let (model, device) = (self.net.model(), &self.net.device().device);
            Ok(visualize(
                model,
                device,
                &f.layer,
                f.channel,
                &self.fvis,
                no_progress,
            )?)
        })?;
        let (plain, _) = time_ms(|| self.forward_backward())?;
        for (row, ms) in [
            (Row::GradCam, gradcam),
            (Row::Guided, guided),
            (Row::Fvis, fvis),
            (Row::ForwardBackward, plain),
            (Row::GradCamOnPass, gradcam_on_pass),
            (Row::GuidedOnPass, guided_on_pass),
        ] {
            self.times[row as usize].push(ms);
        }
        Ok(())
    }

    /// What one feature-visualization step costs at least: a recorded pass of a random image
    /// of its size to the filter and the gradient back to the input, read to the host.
    fn forward_backward(&self) -> Result<()> {
        let s = self.fvis.size;
        let device = &self.net.device().device;
        let x = Tensor::<4>::random([1, 3, s, s], Distribution::Uniform(-1.0, 1.0), device);
        let rec = Recorded::new(self.net.model(), x, &self.fvis_target, &[])?;
        let back = rec.backward(&self.fvis_target, ReluRule::Standard, &self.fvis_walk)?;
        std::hint::black_box(read(back.input)?);
        Ok(())
    }

    /// Min and median of each row.
    pub(crate) fn finish(self) -> MethodTimes {
        let times = self.times.map(min_median);
        let row = |r: Row| times[r as usize];
        // Feature visualization was timed FVIS_STEPS steps at a time.
        let per_step =
            |(min, median): (f64, f64)| (min / FVIS_STEPS as f64, median / FVIS_STEPS as f64);
        MethodTimes {
            filter: self.filter,
            gradcam: row(Row::GradCam),
            guided: row(Row::Guided),
            gradcam_on_pass: row(Row::GradCamOnPass),
            guided_on_pass: row(Row::GuidedOnPass),
            fvis_step: per_step(row(Row::Fvis)),
            forward_backward: row(Row::ForwardBackward),
            fvis_size: self.fvis.size,
        }
    }
}

impl MethodTimes {
    /// The rows as JSON fields, each ratio against `forward_median` (ms) where it says so.
    pub(crate) fn json(&self, forward_median: f64) -> serde_json::Value {
        serde_json::json!({
            "filter": format!("{}:{}", self.filter.layer, self.filter.channel),
            "gradcam_ms_min": self.gradcam.0,
            "gradcam_ms_median": self.gradcam.1,
            "gradcam_ratio_to_forward": self.gradcam.1 / forward_median,
            "guided_ms_min": self.guided.0,
            "guided_ms_median": self.guided.1,
            "guided_ratio_to_forward": self.guided.1 / forward_median,
            "gradcam_on_pass_ms_median": self.gradcam_on_pass.1,
            "gradcam_on_pass_ratio_to_forward": self.gradcam_on_pass.1 / forward_median,
            "guided_on_pass_ms_median": self.guided_on_pass.1,
            "guided_on_pass_ratio_to_forward": self.guided_on_pass.1 / forward_median,
            "fvis_size": self.fvis_size,
            "fvis_step_ms_median": self.fvis_step.1,
            "forward_backward_ms_median": self.forward_backward.1,
            "fvis_step_ratio_to_forward_backward": self.fvis_step.1 / self.forward_backward.1,
        })
    }

    pub(crate) fn print(&self, forward_median: f64) {
        let f = format!("{}:{}", self.filter.layer, self.filter.channel);
        let row = |name: &str, (min, median): (f64, f64)| {
            println!(
                "{name:<17} min {min:.1} ms, median {median:.1} ms ({f}) = {:.2}x the forward",
                median / forward_median
            );
        };
        row("grad-cam", self.gradcam);
        row("guided", self.guided);
        row("grad-cam on pass", self.gradcam_on_pass);
        row("guided on pass", self.guided_on_pass);
        let s = self.fvis_size;
        println!(
            "fvis      {:.1} ms a step at {s}x{s} ({FVIS_STEPS} steps a sample, set-up included) \
             = {:.2}x a forward + backward to the input at that size ({:.1} ms)",
            self.fvis_step.1,
            self.fvis_step.1 / self.forward_backward.1,
            self.forward_backward.1
        );
    }
}

/// An atlas of `folder` (every tap) built in a temporary directory.
pub(crate) struct FolderRun {
    pub(crate) folder: PathBuf,
    pub(crate) batch: usize,
    pub(crate) summary: BuildSummary,
}

impl FolderRun {
    pub(crate) fn measure(
        net: &Network,
        source: &WeightsSource,
        folder: &Path,
        batch: usize,
    ) -> Result<Self> {
        let out = tempfile::tempdir().context("a temporary folder for the atlas")?;
        let opts = BuildOptions {
            root: folder.to_path_buf(),
            out: out.path().join("atlas"),
            layers: None,
            top: 9,
            batch: batch.max(1),
            shard: None,
            stop_after: None,
        };
        let stop = AtomicBool::new(false);
        let summary = featurescope_atlas::build(net, source, &opts, &stop, &mut |_| {})?;
        anyhow::ensure!(
            summary.analysed > 0,
            "{}: no image to build an atlas of",
            folder.display()
        );
        Ok(Self {
            folder: folder.to_path_buf(),
            batch: opts.batch,
            summary,
        })
    }

    fn images_per_s(&self) -> f64 {
        self.summary.analysed as f64 / self.summary.seconds
    }

    pub(crate) fn json(&self, forward_median: f64) -> serde_json::Value {
        serde_json::json!({
            "folder": self.folder.display().to_string(),
            "atlas_batch": self.batch,
            "atlas_images": self.summary.analysed,
            "atlas_seconds": self.summary.seconds,
            "atlas_images_per_s": self.images_per_s(),
            "forward_images_per_s": 1e3 / forward_median,
            "atlas_ratio_to_forward_rate": self.images_per_s() * forward_median / 1e3,
        })
    }

    pub(crate) fn print(&self, forward_median: f64) {
        println!(
            "atlas     {} images in {:.1} s = {:.2} images/s (batches of {}, every tap) = {:.2}x \
             the single-image forward rate ({:.2} images/s)",
            self.summary.analysed,
            self.summary.seconds,
            self.images_per_s(),
            self.batch,
            self.images_per_s() * forward_median / 1e3,
            1e3 / forward_median
        );
    }
}
