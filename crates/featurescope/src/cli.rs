//! The command line: argument parsing (clap) and the headless subcommands.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use featurescope_maps::{Colormap, GridOptions, LayerMaps, NormSettings, Normalization, Overwrite};
use featurescope_net::catalogue::BlockInfo;
use featurescope_net::{
    Activations, BackendChoice, Catalogue, ComputeDevice, LayerInfo, NetError, Network, TapRequest,
    WeightsSource, preprocess,
};
use indicatif::{ProgressBar, ProgressStyle};

/// See what a convolutional network sees: every layer of Inception-V3, every filter.
///
/// Without a subcommand, opens the app (on IMAGE if given, as a file manager's "Open with" does).
#[derive(Parser, Debug)]
#[command(
    name = "featurescope",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// (app) Image to open, as a desktop entry's `%f` passes it.
    #[arg(value_name = "IMAGE", conflicts_with = "image")]
    file: Option<PathBuf>,
    /// (app) Image to analyse first; default: the bundled sample photo.
    #[arg(long)]
    image: Option<PathBuf>,
    /// (app) Weights to load; default: the bundled model.
    #[arg(long, long_help = crate::cli::weights_help())]
    weights: Option<PathBuf>,
    /// (app) Where the network runs.
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    backend: Backend,
    /// (app) Print start → window and start → first tiles to stderr, then close the window.
    #[arg(long, hide = true)]
    startup_report: bool,
    /// Replace output files that already exist (without it, an existing file is never
    /// touched and the command stops before any work).
    #[arg(long, global = true)]
    overwrite: bool,
}

static OVERWRITE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether `--overwrite` was given.
pub(crate) fn overwrite() -> Overwrite {
    if OVERWRITE.load(std::sync::atomic::Ordering::Relaxed) {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    }
}

/// Stop before any work when an output exists and `--overwrite` was not given.
pub(crate) fn check_outputs<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Result<()> {
    if overwrite() == Overwrite::Refuse
        && let Some(p) = paths.into_iter().find(|p| p.exists())
    {
        return Err(featurescope_maps::save::exists_error(p).into());
    }
    Ok(())
}

#[derive(ValueEnum, Clone, Copy, Debug)]
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

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Norm {
    /// Each tile uses its own min..max.
    Tile,
    /// All tiles share the layer's min..max.
    Layer,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Add featurescope to the desktop: applications menu, icons, "Open with" for images
    /// (under $XDG_DATA_HOME, default ~/.local/share).
    Install,
    /// Remove what `install` added.
    Uninstall,
    /// Which images of a folder excite each filter most: top images and receptive-field crops
    /// per channel (`atlas merge`, `atlas show` for the rest).
    Atlas(crate::atlas::AtlasArgs),
    /// Two images or two weights at one layer on one scale (a figure), or two models over a
    /// folder: which layers changed (CKA) and which filters (`compare show`, `compare merge`).
    Compare(crate::compare::CompareArgs),
    /// Print the layer tree: ids, Keras aliases, output shapes, the 48-deep path marked (*).
    Layers {
        /// Print JSON instead of the tree.
        #[arg(long)]
        json: bool,
    },
    /// Write every tapped layer as `<layer id>.npy` (float32, NCHW), plus `head.npy`.
    Dump {
        /// The image.
        #[arg(long)]
        image: PathBuf,
        /// Weights to load; default: the bundled model.
        #[arg(long, long_help = crate::cli::weights_help())]
        weights: Option<PathBuf>,
        /// Output folder (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Only these layers (comma-separated ids or Keras aliases).
        #[arg(long, value_delimiter = ',')]
        layers: Option<Vec<String>>,
        /// Where to run.
        #[arg(long, value_enum, default_value_t = Backend::Auto)]
        backend: Backend,
    },
    /// Draw every filter of one layer as a labelled, colormapped tile grid (PNG).
    Render(RenderArgs),
    /// What in the photo drives a filter (or a class): saliency, SmoothGrad, integrated
    /// gradients, guided backprop, deconvnet, Grad-CAM, guided Grad-CAM.
    Attribute(crate::attribute::AttributeArgs),
    /// Feature visualisation: optimise an image that drives one filter as hard as it can.
    Visualize(crate::attribute::VisualizeArgs),
    /// Time the forward pass with all taps read back to host memory (or, with --soak, run a
    /// long session and print its memory curve).
    Bench {
        /// The image.
        #[arg(long, required_unless_present = "soak")]
        image: Option<PathBuf>,
        /// Weights to load; default: the bundled model.
        #[arg(long, long_help = crate::cli::weights_help())]
        weights: Option<PathBuf>,
        /// Where to run.
        #[arg(long, value_enum, default_value_t = Backend::Auto)]
        backend: Backend,
        /// Timed runs (after one warm-up).
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// Also time the same weights on the same device as a plain burn Inception-V3 (burn's
        /// Conv2d + BatchNorm modules, no taps, only the head read back), runs interleaved
        /// with ours, and print the ratio.
        #[arg(long, conflicts_with = "soak")]
        compare_plain: bool,
        /// Read back only the head and this layer, the other taps kept on the device: what
        /// the app does on a GPU (default: every tap read back).
        #[arg(long, value_name = "LAYER", conflicts_with = "soak")]
        read_only: Option<String>,
        /// Soak instead: analyse N different images one after another and print the resident
        /// memory curve (fails if it grows over 5 % after the warm-up).
        #[arg(long, value_name = "N")]
        soak: Option<usize>,
        /// With --soak: through the CLI's own path, or the app's worker.
        #[arg(long, value_enum, default_value_t = crate::soak::Via::Cli, requires = "soak")]
        via: crate::soak::Via,
    },
}

/// Arguments of `render`.
#[derive(clap::Args, Debug)]
struct RenderArgs {
    /// The image.
    #[arg(long)]
    image: PathBuf,
    /// Layer id or Keras alias.
    #[arg(long)]
    layer: String,
    /// Output PNG.
    #[arg(long)]
    out: PathBuf,
    /// viridis, magma, inferno, plasma, turbo, cividis, grayscale, diverging.
    #[arg(long, default_value = "viridis")]
    colormap: String,
    /// Normalise per tile or per layer.
    #[arg(long, value_enum, default_value_t = Norm::Layer)]
    norm: Norm,
    /// Pre-ReLU values (convs only; drawn with a diverging map unless --colormap says otherwise).
    #[arg(long)]
    pre_relu: bool,
    /// Tile side in pixels.
    #[arg(long, default_value_t = 96)]
    tile_px: u32,
    /// Weights to load; default: the bundled model.
    #[arg(long, long_help = crate::cli::weights_help())]
    weights: Option<PathBuf>,
    /// Where to run.
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    backend: Backend,
}

/// Run the parsed command line.
pub fn run(args: Args) -> Result<()> {
    OVERWRITE.store(args.overwrite, std::sync::atomic::Ordering::Relaxed);
    match args.command {
        None => featurescope_app::run_native(featurescope_app::Launch {
            image: args.file.or(args.image),
            weights: args.weights,
            backend: args.backend.into(),
            restore_settings: true,
            startup_report: args.startup_report.then(crate::started),
            device: None,
        })
        .map_err(|e| anyhow::anyhow!("{e}")),
        Some(Command::Install) => {
            let exe = std::env::current_exe().context("finding this program's path")?;
            let exe = exe.canonicalize().unwrap_or(exe);
            print_lines(crate::install::install(
                &exe,
                &crate::install::data_home()?,
            )?);
            Ok(())
        }
        Some(Command::Uninstall) => {
            print_lines(crate::install::uninstall(&crate::install::data_home()?)?);
            Ok(())
        }
        Some(Command::Atlas(a)) => crate::atlas::run(a),
        Some(Command::Compare(a)) => crate::compare::run(a),
        Some(Command::Layers { json }) => layers(json),
        Some(Command::Dump {
            image,
            weights,
            out,
            layers,
            backend,
        }) => dump(&image, weights, &out, layers, backend.into()),
        Some(Command::Render(a)) => render(&a),
        Some(Command::Attribute(a)) => crate::attribute::attribute(&a),
        Some(Command::Visualize(a)) => crate::attribute::run_visualize(&a),
        Some(Command::Bench {
            soak: Some(n),
            via,
            weights,
            backend,
            ..
        }) => crate::soak::soak(n, via, weights, backend.into()),
        Some(Command::Bench {
            image,
            weights,
            backend,
            runs,
            json,
            compare_plain,
            read_only,
            ..
        }) => bench(
            &image.context("--image is required")?,
            weights,
            backend.into(),
            BenchRuns {
                runs,
                json,
                compare_plain,
                read_only,
            },
        ),
    }
}

fn print_lines(lines: Vec<String>) {
    for l in lines {
        println!("{l}");
    }
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

pub(crate) fn load_network(
    weights: Option<PathBuf>,
    backend: BackendChoice,
) -> Result<(Network, f64)> {
    let source = WeightsSource::from_arg(weights);
    let (device, notice): (ComputeDevice, _) = featurescope_net::device::select_or_cpu(backend);
    // Asked for the GPU and none could be used: say so, then run on the CPU.
    if let Some(n) = notice.filter(|_| backend == BackendChoice::Wgpu) {
        eprintln!("featurescope: note: {n}");
    }
    let t = Instant::now();
    let net = Network::load_source(&source, device)?;
    Ok((net, t.elapsed().as_secs_f64() * 1e3))
}

fn shape_str(l: &LayerInfo) -> String {
    format!("{}x{}x{}", l.shape[0], l.shape[1], l.shape[2])
}

fn layer_line(l: &LayerInfo, indent: &str) -> String {
    let mark = if l.on_longest_path { "*" } else { " " };
    let geometry = match (l.kernel, l.stride) {
        (Some(k), Some(s)) if l.kind != featurescope_net::LayerKind::Concat => {
            format!("{}x{}/{}", k[0], k[1], s[0])
        }
        _ => String::new(),
    };
    format!(
        "{mark} {indent}{:<34} {:<8} {:<7} {:>13}  {}",
        l.id,
        l.kind.name(),
        geometry,
        shape_str(l),
        l.keras
    )
}

fn block_lines(cat: &Catalogue, b: &BlockInfo, out: &mut Vec<String>) {
    out.push(format!("  {} ({:?})", b.id, b.kind));
    for br in &b.branches {
        if b.branches.len() > 1 {
            out.push(format!("    {}", br.name));
        }
        let indent = if b.branches.len() > 1 { "    " } else { "  " };
        for &i in &br.layers {
            out.push(layer_line(&cat.layers[i], indent));
        }
    }
    if let Some(o) = b.output {
        out.push(layer_line(&cat.layers[o], "  "));
    }
}

fn layers(json: bool) -> Result<()> {
    let cat = Catalogue::inception_v3();
    if json {
        let layers: Vec<_> = cat
            .layers
            .iter()
            .map(|l| {
                serde_json::json!({
                    "id": l.id, "kind": l.kind.name(), "shape": l.shape, "keras": l.keras,
                    "kernel": l.kernel, "stride": l.stride, "on_longest_path": l.on_longest_path,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&layers)?);
        return Ok(());
    }
    let mut out = vec![format!(
        "Inception-V3: {} tapped layers; * = on the {}-layer-deep longest path (convs + fc)",
        cat.layers.len(),
        cat.longest_path
    )];
    out.push(format!(
        "    {:<34} {:<8} {:<7} {:>13}  keras",
        "id", "kind", "k/s", "CxHxW (299)"
    ));
    for b in &cat.blocks {
        block_lines(cat, b, &mut out);
    }
    out.push("* head (fc or the weights' dense head)".into());
    println!("{}", out.join("\n"));
    Ok(())
}

pub(crate) fn progress(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64).with_message(what.to_string());
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn dump(
    image: &Path,
    weights: Option<PathBuf>,
    out: &Path,
    layers: Option<Vec<String>>,
    backend: BackendChoice,
) -> Result<()> {
    let input = preprocess::load_input(image)?;
    let request = match layers {
        Some(l) => TapRequest::layers(l)?.with_head(false),
        None => TapRequest::all(),
    };

    let (net, _) = load_network(weights, backend)?;
    let acts = net.run(&input, &request)?;
    // Nothing is written when any output exists (no half-replaced dump).
    let targets: Vec<PathBuf> = acts
        .layers
        .iter()
        .map(|l| out.join(format!("{}.npy", l.id)))
        .chain(acts.head.as_ref().map(|_| out.join("head.npy")))
        .collect();
    check_outputs(targets.iter().map(PathBuf::as_path))?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let bar = progress(acts.layers.len(), "writing");
    for l in &acts.layers {
        let shape: Vec<u64> = l.shape.iter().map(|&d| d as u64).collect();
        featurescope_maps::write_npy(
            &out.join(format!("{}.npy", l.id)),
            &shape,
            &l.data,
            overwrite(),
        )?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    if let Some(head) = &acts.head {
        featurescope_maps::write_npy(
            &out.join("head.npy"),
            &[1, head.probabilities.len() as u64],
            &head.probabilities,
            overwrite(),
        )?;
        let top: Vec<String> = head
            .top_k(3)
            .into_iter()
            .map(|(_, label, p)| format!("{label} {:.1} %", p * 100.0))
            .collect();
        eprintln!("predictions: {}", top.join(", "));
    }
    eprintln!(
        "wrote {} layers{} to {}",
        acts.layers.len(),
        if acts.head.is_some() {
            " + head.npy"
        } else {
            ""
        },
        out.display()
    );
    Ok(())
}

fn render(a: &RenderArgs) -> Result<()> {
    check_outputs([a.out.as_path()])?;
    let cat = Catalogue::inception_v3();
    let info = cat
        .resolve(&a.layer)
        .ok_or_else(|| featurescope_net::NetError::UnknownLayer(a.layer.clone()))?;
    let Some(mut colormap) = Colormap::from_name(&a.colormap) else {
        let names: Vec<_> = Colormap::ALL.iter().map(|c| c.name()).collect();
        bail!(
            "unknown colormap `{}` (one of: {})",
            a.colormap,
            names.join(", ")
        );
    };
    let input = preprocess::load_input(&a.image)?;
    let mut request = TapRequest::layers([info.id.as_str()])?;
    if a.pre_relu {
        request = request.with_pre_relu([info.id.as_str()])?;
        if a.colormap == "viridis" {
            colormap = Colormap::Diverging;
        }
    }
    let (net, _) = load_network(a.weights.clone(), a.backend.into())?;
    let acts = net.run(&input, &request)?;
    let data = if a.pre_relu {
        acts.get_pre_relu(&info.id)
    } else {
        acts.get(&info.id)
    }
    .with_context(|| format!("layer {} was not produced", info.id))?;
    let [_, c, h, w] = data.shape;
    let maps = LayerMaps::new(c, h, w, data.data.clone())?;
    let norm = NormSettings {
        mode: match a.norm {
            Norm::Tile => Normalization::PerTile,
            Norm::Layer => Normalization::PerLayer,
        },
        clip_percentile: None,
        symmetric: colormap.is_diverging(),
    };
    let what = if a.pre_relu { "pre-ReLU" } else { "" };
    let opts = GridOptions {
        tile_px: a.tile_px,
        colormap,
        norm,
        title: Some(format!(
            "{} ({})  {c}x{h}x{w} {what}  {}  {}",
            info.id,
            info.keras,
            colormap.name(),
            match a.norm {
                Norm::Tile => "per-tile",
                Norm::Layer => "per-layer",
            }
        )),
        ..GridOptions::default()
    };
    let grid = image::DynamicImage::from(featurescope_maps::render_grid(&maps, &opts)?);
    featurescope_maps::save_image(&a.out, &grid, overwrite())?;
    eprintln!(
        "wrote {} ({}x{}, {c} tiles)",
        a.out.display(),
        grid.width(),
        grid.height()
    );
    Ok(())
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// How `featurescope bench` times.
struct BenchRuns {
    runs: usize,
    json: bool,
    compare_plain: bool,
    /// Read back only the head and this layer.
    read_only: Option<String>,
}

/// Minimum and median of a list of times.
fn min_median(mut times: Vec<f64>) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    let n = times.len();
    match n {
        0 => (f64::NAN, f64::NAN),
        _ if n % 2 == 1 => (times[0], times[n / 2]),
        _ => (times[0], (times[n / 2 - 1] + times[n / 2]) / 2.0),
    }
}

fn time_ms<T>(f: impl FnOnce() -> Result<T>) -> Result<f64> {
    let t = Instant::now();
    std::hint::black_box(f()?);
    Ok(t.elapsed().as_secs_f64() * 1e3)
}

fn bench(
    image: &Path,
    weights: Option<PathBuf>,
    backend: BackendChoice,
    b: BenchRuns,
) -> Result<()> {
    let report = measure(image, weights, backend, &b)?;
    match b.json {
        true => println!("{}", report.json()),
        false => report.print(),
    }
    Ok(())
}

/// What `featurescope bench` measured.
struct BenchReport {
    device: ComputeDevice,
    weights: String,
    load_ms: f64,
    warmup_ms: f64,
    /// Min and median of ours.
    forward: (f64, f64),
    runs: usize,
    taps: usize,
    /// The one layer read back (with the head), or None: all of them.
    read_only: Option<String>,
    /// The plain burn forward: warm-up, min, median.
    plain: Option<(f64, f64, f64)>,
}

/// Time ours (and the plain forward, interleaved) after one warm-up each.
fn measure(
    image: &Path,
    weights: Option<PathBuf>,
    backend: BackendChoice,
    b: &BenchRuns,
) -> Result<BenchReport> {
    let runs = b.runs.max(1);
    let input = preprocess::load_input(image)?;
    let (net, load_ms) = load_network(weights, backend)?;
    let plain = b.compare_plain.then(|| net.plain_baseline());
    let request = TapRequest::all();
    let read_only = match &b.read_only {
        Some(name) => Some(
            Catalogue::inception_v3()
                .resolve(name)
                .map(|l| l.id.clone())
                .ok_or_else(|| NetError::UnknownLayer(name.clone()))?,
        ),
        None => None,
    };
    let run = || -> Result<Activations> {
        Ok(match &read_only {
            Some(id) => net.run_resident(&input, &request)?.read_some(&[id])?,
            None => net.run(&input, &request)?,
        })
    };
    let run_plain = |p: &featurescope_net::PlainBaseline| time_ms(|| Ok(p.run(&input)?));
    // Warm-up: shader compilation, autotuning, allocator growth.
    let warmup_ms = time_ms(run)?;
    let plain_warmup_ms = plain.as_ref().map(run_plain).transpose()?;
    let bar = progress(runs, "bench");
    let (mut times, mut plain_times) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    // Interleaved, so both see the same machine state (clock, other load).
    for _ in 0..runs {
        times.push(time_ms(run)?);
        if let Some(p) = &plain {
            plain_times.push(run_plain(p)?);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(BenchReport {
        device: net.device().clone(),
        weights: net.weights().source.to_string(),
        load_ms,
        warmup_ms,
        forward: min_median(times),
        runs,
        taps: request.layer_count(),
        read_only,
        plain: plain_warmup_ms.map(|w| {
            let (min, median) = min_median(plain_times);
            (w, min, median)
        }),
    })
}

impl BenchReport {
    fn json(&self) -> serde_json::Value {
        let (min, median) = self.forward;
        let mut out = serde_json::json!({
            "backend": self.device.backend.name(),
            "device": self.device.name,
            "load_ms": self.load_ms,
            "warmup_ms": self.warmup_ms,
            "forward_ms_min": min,
            "forward_ms_median": median,
            "runs": self.runs,
            "taps": self.taps,
            "read_back": self.read_only.as_deref().unwrap_or("all"),
            "peak_rss_mb": peak_rss_mb(),
        });
        if let (Some((warmup, pmin, pmedian)), Some(obj)) = (self.plain, out.as_object_mut()) {
            obj.insert("plain_warmup_ms".into(), warmup.into());
            obj.insert("plain_ms_min".into(), pmin.into());
            obj.insert("plain_ms_median".into(), pmedian.into());
            obj.insert("ratio_to_plain_median".into(), (median / pmedian).into());
        }
        out
    }

    fn print(&self) {
        let (min, median) = self.forward;
        let dev = &self.device;
        let read_back = match &self.read_only {
            Some(id) => format!("{} taps recorded, head + {id} read back", self.taps),
            None => format!("{} taps read back", self.taps),
        };
        println!("backend   {} ({})", dev.backend, dev.name);
        println!(
            "weights   {} ({:.0} ms to load)",
            self.weights, self.load_ms
        );
        println!("warm-up   {:.1} ms", self.warmup_ms);
        println!(
            "forward   min {min:.1} ms, median {median:.1} ms over {} runs ({read_back})",
            self.runs
        );
        if let Some((warmup, pmin, pmedian)) = self.plain {
            println!(
                "plain     min {pmin:.1} ms, median {pmedian:.1} ms (burn Conv2d + BatchNorm, no \
                 taps, head read back; warm-up {warmup:.1} ms)"
            );
            println!(
                "ratio     {:.2}x plain (median, ours with all taps / plain)",
                median / pmedian
            );
        }
        println!("peak RSS  {:.0} MB", peak_rss_mb());
    }
}
