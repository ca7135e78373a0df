//! What the subcommands share: the network's arguments (`--weights`, `--backend`) and loading
//! it on the chosen device (the CPU-fallback note said once, here), the output checks that
//! honour `--overwrite`, progress bars, and which shard of a folder a command builds.

pub(crate) mod shard;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::ValueEnum;
use featurescope_maps::{LayerMaps, Overwrite};
use featurescope_net::{
    BackendChoice, Catalogue, ComputeDevice, InputImage, Network, TapRequest, WeightsSource,
};
use indicatif::{ProgressBar, ProgressStyle};

static STARTED: OnceLock<Instant> = OnceLock::new();

/// When the process started (the first thing `main` does is note it).
pub(crate) fn started() -> Instant {
    *STARTED.get_or_init(Instant::now)
}

/// Where the network runs, as the command line says it.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    /// wgpu on a GPU if there is one, else the CPU.
    Auto,
    /// wgpu (a hardware GPU, or a software adapter such as lavapipe).
    Wgpu,
    /// burn's pure-Rust flex backend on the CPU.
    Cpu,
}

impl From<Backend> for BackendChoice {
    fn from(b: Backend) -> Self {
        match b {
            Backend::Auto => Self::Auto,
            Backend::Wgpu => Self::Wgpu,
            Backend::Cpu => Self::Cpu,
        }
    }
}

/// `--weights` and `--backend`, as every subcommand that runs the network takes them.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct NetArgs {
    /// Weights to load; default: the bundled model.
    #[arg(long, long_help = weights_help())]
    pub weights: Option<PathBuf>,
    /// Where to run.
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
}

/// `--weights`' long help, from the importers' list: every format featurescope reads.
pub(crate) fn weights_help() -> String {
    format!(
        "Weights to load; default: the bundled model. Formats: {}. Class names come from a \
         labels file beside the weights (retrained_labels.txt, <file>.labels.txt, labels.txt, \
         class_names.json).",
        featurescope_net::weights::formats_described()
    )
}

/// The device for `backend`; when `--backend wgpu` was asked for and could not be used, says
/// so on stderr (`featurescope: note: …`) and returns the CPU.
pub(crate) fn select_device(backend: Backend) -> ComputeDevice {
    let choice = BackendChoice::from(backend);
    let (device, notice) = featurescope_net::device::select_or_cpu(choice);
    if let Some(n) = notice.filter(|_| choice == BackendChoice::Wgpu) {
        eprintln!("featurescope: note: {n}");
    }
    device
}

/// A network loaded for a subcommand.
pub(crate) struct Loaded {
    pub net: Network,
    /// The weights it was loaded from.
    pub source: WeightsSource,
    /// How long loading took, in milliseconds.
    pub load_ms: f64,
}

/// Load the weights `args` name on the device `args` ask for ([`select_device`]).
pub(crate) fn load_network(args: &NetArgs) -> Result<Loaded> {
    let source = WeightsSource::from_arg(args.weights.clone());
    let device = select_device(args.backend);
    let t = Instant::now();
    let net = Network::load_source(&source, device)?;
    Ok(Loaded {
        net,
        source,
        load_ms: t.elapsed().as_secs_f64() * 1e3,
    })
}

/// The layer's activations on the photo, as maps: `(id, maps)`.
pub(crate) fn layer_maps(
    net: &Network,
    input: &InputImage,
    layer: &str,
) -> Result<(String, LayerMaps)> {
    let info = Catalogue::inception_v3()
        .resolve(layer)
        .ok_or_else(|| featurescope_net::NetError::UnknownLayer(layer.to_string()))?;
    let request = TapRequest::layers([info.id.as_str()])?.with_head(false);
    let acts = net.run(input, &request)?;
    let data = acts
        .get(&info.id)
        .with_context(|| format!("layer {} was not produced", info.id))?;
    let [_, c, h, w] = data.shape;
    Ok((info.id.clone(), LayerMaps::new(c, h, w, data.data.clone())?))
}

/// `--overwrite` as what the writers take.
pub(crate) fn overwrite_from(flag: bool) -> Overwrite {
    if flag {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    }
}

/// Stop before any work when an output exists and `overwrite` does not allow replacing it.
pub(crate) fn check_outputs<'a>(
    overwrite: Overwrite,
    paths: impl IntoIterator<Item = &'a Path>,
) -> Result<()> {
    if overwrite == Overwrite::Refuse
        && let Some(p) = paths.into_iter().find(|p| p.exists())
    {
        return Err(featurescope_maps::save::exists_error(p).into());
    }
    Ok(())
}

/// A bar `what [=====>    ] pos/len` on stderr.
pub(crate) fn progress(len: usize, what: &str) -> ProgressBar {
    styled(
        ProgressBar::new(len as u64).with_message(what.to_string()),
        "{msg} [{bar:30}] {pos}/{len}",
    )
}

/// A bar for a folder of images, with the rate and the time left.
pub(crate) fn images_progress(len: usize, what: &str) -> ProgressBar {
    styled(
        ProgressBar::new(len as u64).with_message(what.to_string()),
        "{msg} [{bar:30}] {pos}/{len} images · {per_sec} · {eta} left",
    )
}

fn styled(bar: ProgressBar, template: &str) -> ProgressBar {
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Print `skipped PATH: reason` (or `skipped PATH` without one) above the progress bar.
pub(crate) fn print_skipped(bar: Option<&ProgressBar>, path: &str, reason: &str) {
    let line = if reason.is_empty() {
        format!("skipped {path}")
    } else {
        format!("skipped {path}: {reason}")
    };
    match bar {
        Some(b) => b.suspend(|| eprintln!("{line}")),
        None => eprintln!("{line}"),
    }
}

/// The closing line of a folder build (`in_what`: "the atlas", "the summary"), and the error a
/// stopped build ends with, saying the same command continues it.
pub(crate) fn finish_build(
    out: &Path,
    summary: &featurescope_atlas::BuildSummary,
    in_what: &str,
) -> Result<()> {
    eprintln!(
        "{}: {} images analysed in {:.1} s ({:.2} images/s); {} in {in_what}, {} skipped",
        out.display(),
        summary.analysed,
        summary.seconds,
        summary.analysed as f64 / summary.seconds.max(1e-9),
        summary.images,
        summary.skipped
    );
    if summary.stopped {
        anyhow::bail!(
            "interrupted: what was done is saved in {}; run the same command to continue",
            out.display()
        );
    }
    Ok(())
}
