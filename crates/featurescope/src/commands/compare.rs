//! `featurescope compare`: two images, or one image under two weights, at one layer on one
//! scale — the figure (`--image`); or two models over a folder — per layer linear CKA and per
//! channel what changed (`--images`), with `compare show` and `compare merge`. The work is
//! `featurescope_maps::{pair, figure, compare}` and `featurescope_compare`; this is its command
//! line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use featurescope_compare::{CompareEvent, CompareOptions, Models, Shard, Side};
use featurescope_maps::compare::Report;
use featurescope_maps::{
    Colormap, FigureOptions, FigureSide, LayerMaps, LayerPair, NormSettings, Normalization,
    Overwrite,
};
use featurescope_net::{
    Catalogue, LayerInfo, NetError, Network, TapRequest, WeightsSource, preprocess,
};
use indicatif::ProgressBar;

use crate::common::shard::ShardArgs;
use crate::common::{NetArgs, check_outputs, images_progress, load_network};

/// Arguments of `compare`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CompareArgs {
    #[command(subcommand)]
    action: Option<CompareAction>,
    /// The first image (the figure of one layer: A against B).
    #[arg(long, conflicts_with = "images")]
    image: Option<PathBuf>,
    /// The second image; default: the first again (to compare two weights).
    #[arg(long, requires = "image")]
    image2: Option<PathBuf>,
    /// A folder of images, searched recursively (two models compared over it: a report).
    #[arg(long)]
    images: Option<PathBuf>,
    /// Model A: `--weights` (default: the bundled model) and where it runs (`--backend`).
    #[command(flatten)]
    net: NetArgs,
    /// Weights of model B; default: those of model A.
    #[arg(long)]
    weights2: Option<PathBuf>,
    /// The layer of the figure (id or Keras alias).
    #[arg(long, requires = "image")]
    layer: Option<String>,
    /// The figure (PNG, drawn at 2x) or, with --images, the report (JSON; continued when it
    /// holds a report of the same settings).
    #[arg(long, conflicts_with = "parts")]
    out: Option<PathBuf>,
    /// With --images, instead of --out: write this task's shard as
    /// DIR/part-IIII-of-NNNN.json (continued there like --out), for `compare merge DIR` to
    /// join once every task is done.
    #[arg(long, value_name = "DIR", requires = "images")]
    parts: Option<PathBuf>,
    /// Also write the difference A − B of the figure's layer as float32 `[1, C, H, W]`.
    #[arg(long, requires = "image")]
    npy: Option<PathBuf>,
    /// The figure's normalisation, shared by A and B: the layer's range over both, each
    /// filter's range over both, or --range.
    #[arg(long, value_enum, default_value_t = NormArg::Layer)]
    norm: NormArg,
    /// The range of `--norm fixed`, as LO,HI.
    #[arg(long, value_name = "LO,HI", value_parser = parse_range, default_value = "0,4")]
    range: (f32, f32),
    /// The figure's colormap for A and B (the difference is always diverging).
    #[arg(long, default_value = "viridis")]
    colormap: String,
    /// Only these layers (comma-separated ids or Keras aliases); default: all 123 taps.
    #[arg(long, value_delimiter = ',', conflicts_with = "image")]
    layers: Option<Vec<String>>,
    /// Images per batch of the CKA estimator (at least 4). Batches are the folder's files in
    /// path order, so the estimate never depends on --shard.
    #[arg(long, default_value_t = featurescope_compare::DEFAULT_BATCH)]
    batch: usize,
    /// Images kept per channel and model for the top-K overlap (Jaccard).
    #[arg(long, default_value_t = 9)]
    top: usize,
    /// Which part of the folder this task builds, as `atlas` takes it (`--shard I/N`, or the
    /// job array's task with `--shards N`). A part owns whole batches (every N-th batch from
    /// the I-th), so the estimate never depends on the split; `compare merge` joins the parts
    /// into the same bytes as one run.
    #[command(flatten)]
    shard: ShardArgs,
    /// Behave as if Ctrl-C came after this many batches (tests).
    #[arg(long, hide = true)]
    stop_after: Option<usize>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
enum NormArg {
    /// One range for the layer, over A and B.
    Layer,
    /// Each filter's range, over A and B.
    Tile,
    /// The range given by --range.
    Fixed,
}

#[derive(Subcommand, Debug)]
enum CompareAction {
    /// Print a report: each layer's CKA (1 = unchanged); with --layer its most changed channels.
    Show {
        /// The report.
        report: PathBuf,
        /// List this layer's channels, most changed first.
        #[arg(long)]
        layer: Option<String>,
        /// How many channels to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// One JSON object: {"layers": [{"layer", "cka"}…]} and, with --layer,
        /// "channels": [{"channel", "correlation", "jaccard"}…].
        #[arg(long)]
        json: bool,
    },
    /// Merge reports of the same models, layers, batch and folder: the parts of a sharded
    /// build (a --parts folder, or each part named; all of them unless --allow-missing).
    Merge {
        /// Reports, or folders of parts (their `part-*.json`).
        #[arg(required = true, num_args = 1..)]
        reports: Vec<PathBuf>,
        /// The merged report.
        #[arg(long)]
        out: PathBuf,
        /// Merge although batches are missing (shards not built yet); merging the others
        /// into the result later completes it.
        #[arg(long)]
        allow_missing: bool,
    },
}

fn parse_range(s: &str) -> Result<(f32, f32), String> {
    let bad = || format!("`{s}`: expected LO,HI with LO < HI, e.g. 0,4");
    let (lo, hi) = s.split_once(',').ok_or_else(bad)?;
    let (lo, hi): (f32, f32) = (
        lo.trim().parse().map_err(|_| bad())?,
        hi.trim().parse().map_err(|_| bad())?,
    );
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(bad());
    }
    Ok((lo, hi))
}

/// Run `compare …`.
pub fn run(a: CompareArgs, overwrite: Overwrite) -> Result<()> {
    match &a.action {
        Some(CompareAction::Show {
            report,
            layer,
            top,
            json,
        }) => show(report, layer.as_deref(), *top, *json),
        Some(CompareAction::Merge {
            reports,
            out,
            allow_missing,
        }) => merge(reports, out, *allow_missing, overwrite),
        None => match (&a.image, &a.images, &a.out, &a.parts) {
            (Some(image), None, Some(out), None) => figure(&a, image, out, overwrite),
            (None, Some(root), out, parts) if out.is_some() || parts.is_some() => {
                folder(&a, root, overwrite)
            }
            _ => bail!(
                "compare needs --image A [--image2 B] --layer L --out FIG.png, or --images DIR \
                 --weights A --weights2 B --out REPORT (or `compare show` / `compare merge`)"
            ),
        },
    }
}

/// One layer of one image under one network.
fn layer_of(net: &Network, image: &Path, info: &LayerInfo) -> Result<(LayerMaps, image::RgbImage)> {
    let input = preprocess::load_input(image)?;
    let acts = net.run(
        &input,
        &TapRequest::layers([info.id.as_str()])?.with_head(false),
    )?;
    let data = acts
        .get(&info.id)
        .with_context(|| format!("layer {} was not produced", info.id))?;
    let [_, c, h, w] = data.shape;
    Ok((LayerMaps::new(c, h, w, data.data.clone())?, input.crop))
}

fn label(image: &Path, weights: &WeightsSource) -> String {
    let name = image.file_name().map_or_else(
        || image.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    format!("{name} - {}", weights.short_name())
}

/// The figure: A and B on one scale, their difference, labels and colour bars, at 2x.
fn figure(a: &CompareArgs, image: &Path, out: &Path, overwrite: Overwrite) -> Result<()> {
    let Some(layer) = &a.layer else {
        bail!("compare --image needs --layer L");
    };
    check_outputs(
        overwrite,
        [Some(out), a.npy.as_deref()].into_iter().flatten(),
    )?;
    let info = Catalogue::inception_v3()
        .resolve(layer)
        .ok_or_else(|| NetError::UnknownLayer(layer.clone()))?;
    let colormap = Colormap::from_name(&a.colormap)
        .with_context(|| format!("unknown colormap `{}`", a.colormap))?;
    let image2 = a.image2.clone().unwrap_or_else(|| image.to_path_buf());
    let loaded_a = load_network(&a.net)?;
    let (source_a, source_b) = (
        loaded_a.source.clone(),
        WeightsSource::from_arg(model_b(a).weights),
    );
    let (map_a, crop_a) = layer_of(&loaded_a.net, image, info)?;
    let (map_b, crop_b) = if source_b == source_a {
        layer_of(&loaded_a.net, &image2, info)?
    } else {
        drop(loaded_a);
        layer_of(&load_network(&model_b(a))?.net, &image2, info)?
    };
    let pair = LayerPair::new(map_a, map_b)?;
    let norm = NormSettings {
        mode: match a.norm {
            NormArg::Layer => Normalization::PerLayer,
            NormArg::Tile => Normalization::PerTile,
            NormArg::Fixed => Normalization::Fixed {
                lo: a.range.0,
                hi: a.range.1,
            },
        },
        clip_percentile: None,
        symmetric: false,
    };
    let (c, h, w) = (pair.a.channels, pair.a.height, pair.a.width);
    let how = match a.norm {
        NormArg::Layer => "one range for the layer over A and B".to_string(),
        NormArg::Tile => "each filter's range over A and B".to_string(),
        NormArg::Fixed => format!("fixed range {}..{}", a.range.0, a.range.1),
    };
    let opts = FigureOptions {
        colormap,
        norm,
        title: format!("{} ({}) - {c}x{h}x{w} - {how}", info.id, info.keras),
        order: None,
        scale: 2,
    };
    let side_a = FigureSide {
        input: crop_a,
        label: label(image, &source_a),
    };
    let side_b = FigureSide {
        input: crop_b,
        label: label(&image2, &source_b),
    };
    let img = featurescope_maps::render_figure(&pair, &side_a, &side_b, &opts)?;
    featurescope_maps::save_image(out, &image::DynamicImage::from(img.clone()), overwrite)?;
    if let Some(npy) = &a.npy {
        let shape = [1, c as u64, h as u64, w as u64];
        featurescope_maps::write_npy(npy, &shape, &pair.diff.data, overwrite)?;
    }
    let max_diff = pair.diff.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    eprintln!(
        "wrote {} ({}x{}, {c} filters of A, B and A - B; largest |A - B| {max_diff})",
        out.display(),
        img.width(),
        img.height()
    );
    Ok(())
}

/// Model B's network arguments: `--weights2` (default: model A's weights) on A's backend.
fn model_b(a: &CompareArgs) -> NetArgs {
    NetArgs {
        weights: a.weights2.clone().or_else(|| a.net.weights.clone()),
        backend: a.net.backend,
    }
}

/// Two models over a folder: the report (`--out`, or this shard's part under `--parts`).
fn folder(a: &CompareArgs, root: &Path, overwrite: Overwrite) -> Result<()> {
    let shard = a.shard.resolve()?;
    if let Some((s, source)) = &shard {
        eprintln!("featurescope: shard {s} from {source}");
    }
    let shard = shard.map(|(s, _)| s);
    let out = match (&a.out, &a.parts) {
        (Some(out), _) => out.clone(),
        (None, Some(dir)) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            dir.join(format!(
                "{}.json",
                shard.unwrap_or(Shard::WHOLE).part_name()
            ))
        }
        (None, None) => bail!("compare --images needs --out REPORT or --parts DIR"),
    };
    let out = out.as_path();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("installing the Ctrl-C handler")?;
    // Settings are checked before the networks load: mistakes fail fast.
    featurescope_compare::layer_specs(a.layers.as_deref())?;
    if !(featurescope_maps::compare::MIN_BATCH..=featurescope_maps::compare::MAX_BATCH)
        .contains(&a.batch)
    {
        bail!(
            "--batch {} is outside 4..=4096 (the unbiased HSIC needs 4 images a batch)",
            a.batch
        );
    }
    let loaded_a = load_network(&a.net)?;
    let loaded_b = load_network(&model_b(a))?;
    let gpu = loaded_a.net.device().backend == featurescope_net::Backend::Wgpu;
    let opts = CompareOptions {
        root: root.to_path_buf(),
        out: out.to_path_buf(),
        layers: a.layers.clone(),
        batch: a.batch,
        top: a.top,
        forward_batch: if gpu { 8 } else { 1 },
        shard,
        overwrite,
        stop_after: a.stop_after,
    };
    let models = Models {
        a: &loaded_a.net,
        source_a: &loaded_a.source,
        b: &loaded_b.net,
        source_b: &loaded_b.source,
    };
    let mut bar: Option<ProgressBar> = None;
    let summary = featurescope_compare::build(&models, &opts, &stop, &mut |e| {
        on_event(e, (a, shard), root, out, &mut bar);
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    eprintln!(
        "{}: {} images, {} batches in {:.1} s ({:.2} images/s; forward passes {:.1} s, Gram \
         matrices {:.1} s){}",
        out.display(),
        summary.analysed,
        summary.batches,
        summary.seconds,
        summary.analysed as f64 / summary.seconds.max(1e-9),
        summary.forward_seconds,
        summary.gram_seconds,
        if summary.complete { "; complete" } else { "" }
    );
    if summary.stopped {
        bail!(
            "interrupted: the batches done are saved in {}; run the same command to continue",
            out.display()
        );
    }
    Ok(())
}

/// What the build reports, on stderr: the work ahead, a progress bar, skipped files.
fn on_event(
    e: CompareEvent,
    (a, shard): (&CompareArgs, Option<Shard>),
    root: &Path,
    out: &Path,
    bar: &mut Option<ProgressBar>,
) {
    match e {
        CompareEvent::Started {
            files,
            batches,
            already,
            todo,
        } => {
            let part = shard.map_or_else(String::new, |s| {
                format!(" (part {} of {})", s.index(), s.count())
            });
            eprintln!(
                "{}: {files} files in {batches} batches of {}, {already} batches already in {}, \
                 {todo} files to analyse{part}",
                root.display(),
                a.batch,
                out.display(),
            );
            *bar = Some(images_progress(todo, "compare"));
        }
        CompareEvent::Advanced => {
            if let Some(b) = bar {
                b.inc(1);
            }
        }
        CompareEvent::Skipped(path, reason) => {
            let line = match reason.is_empty() {
                true => format!("skipped {path}"),
                false => format!("skipped {path}: {reason}"),
            };
            match bar {
                Some(b) => b.suspend(|| eprintln!("{line}")),
                None => eprintln!("{line}"),
            }
        }
    }
}

fn merge(paths: &[PathBuf], out: &Path, allow_missing: bool, overwrite: Overwrite) -> Result<()> {
    check_outputs(overwrite, [out])?;
    let reports = featurescope_compare::find_reports(paths)?;
    let merged = featurescope_compare::merge(&reports, out, allow_missing, overwrite)?;
    eprintln!(
        "merged {} reports → {}: {} images, {} of {} batches",
        reports.len(),
        out.display(),
        merged.report.images().len(),
        merged.report.batches().len(),
        merged.report.settings().batch_count()
    );
    if !merged.missing.is_empty() {
        eprintln!(
            "featurescope: note: without {}; merging them into {} later completes it",
            merged.missing,
            out.display()
        );
    }
    Ok(())
}

fn show(path: &Path, layer: Option<&str>, top: usize, json: bool) -> Result<()> {
    let report = Report::load(path)?;
    let chosen = match layer {
        Some(name) => {
            let id = Catalogue::inception_v3()
                .resolve(name)
                .map_or_else(|| name.to_string(), |l| l.id.clone());
            Some(
                report
                    .layer(&id)
                    .with_context(|| format!("{id} is not in this report"))?,
            )
        }
        None => None,
    };
    if json {
        println!("{}", show_json(&report, chosen, top));
        return Ok(());
    }
    let s = report.settings();
    println!(
        "A = {}\nB = {}\n{} images, {} of {} batches of {}{}",
        s.model_a,
        s.model_b,
        report.images().len(),
        report.batches().len(),
        s.batch_count(),
        s.batch,
        if report.is_complete() {
            ""
        } else {
            " (incomplete: merge the other parts)"
        }
    );
    println!("{:<36} {:>10}", "layer", "CKA");
    for l in report.layers() {
        let cka = l
            .cka()
            .map_or_else(|| "-".to_string(), |v| format!("{v:.6}"));
        println!("{:<36} {cka:>10}", l.id);
    }
    if let Some(l) = chosen {
        print_channels(&report, l, top);
    }
    Ok(())
}

fn print_channels(report: &Report, l: &featurescope_compare::LayerCompare, top: usize) {
    println!(
        "\n{} - most changed channels (correlation of the maximum, top-{} overlap):",
        l.id,
        report.settings().top
    );
    let name = |e: Option<&featurescope_maps::atlas::Entry>| {
        e.and_then(|e| report.images().get(e.image as usize))
            .map_or("-", String::as_str)
    };
    for c in l.channel_changes().into_iter().take(top) {
        let corr = c
            .correlation
            .map_or_else(|| "-".to_string(), |v| format!("{v:.4}"));
        let first = |side| l.top(c.channel, side).and_then(|t| t.first());
        println!(
            "{:>6}  r {corr:>8}  jaccard {:.3}  top under A: {}  under B: {}",
            c.channel,
            c.jaccard,
            name(first(Side::A)),
            name(first(Side::B))
        );
    }
}

fn show_json(
    report: &Report,
    chosen: Option<&featurescope_compare::LayerCompare>,
    top: usize,
) -> serde_json::Value {
    let layers: Vec<serde_json::Value> = report
        .layers()
        .iter()
        .map(|l| serde_json::json!({ "layer": l.id, "cka": l.cka() }))
        .collect();
    let mut out = serde_json::json!({ "layers": layers });
    if let (Some(l), Some(obj)) = (chosen, out.as_object_mut()) {
        let channels: Vec<serde_json::Value> = l
            .channel_changes()
            .into_iter()
            .take(top)
            .map(|c| {
                serde_json::json!({
                    "channel": c.channel, "correlation": c.correlation, "jaccard": c.jaccard,
                })
            })
            .collect();
        obj.insert("layer".into(), l.id.clone().into());
        obj.insert("channels".into(), channels.into());
    }
    out
}
