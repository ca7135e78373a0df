//! `featurescope classes`: per class of a folder of the person's own images, which channels of
//! which layers the model uses (how often among an image's top channels, their attribution to
//! the class logit) and the graph of how the top channels of one block feed the next. The build
//! is `featurescope_atlas::classes` (the atlas' decoding threads, batches, checkpoints, Ctrl-C
//! and SIGTERM, shards); the data and its exact merge `featurescope_maps::classes`; `classes
//! show` prints one class, `classes merge` joins parts.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use featurescope_atlas::BuildEvent;
use featurescope_atlas::classes::{ClassOptions, build_classes, class_layers};
use featurescope_maps::Overwrite;
use featurescope_maps::classes::{ClassSummary, DEFAULT_MASS};
use featurescope_net::Catalogue;
use indicatif::ProgressBar;
use serde_json::json;

use crate::common::shard::ShardArgs;
use crate::common::{
    NetArgs, check_outputs, finish_build, images_progress, load_network, print_skipped,
};

/// Arguments of `classes`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ClassesArgs {
    #[command(subcommand)]
    action: Option<ClassesAction>,
    /// Folder with one sub-folder per class (named as the class, or its index).
    #[arg(long)]
    images: Option<PathBuf>,
    /// The summary file to write; if it holds a summary of the same settings, continue it.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    net: NetArgs,
    /// Only these layers (comma-separated ids or Keras aliases); default: all 123 taps.
    #[arg(long, value_delimiter = ',')]
    layers: Option<Vec<String>>,
    /// Images per batch (default 8). On a GPU a batch is one pass; on the CPU each image is a
    /// pass of its own on one thread, the images side by side on the cores (a batch smaller
    /// than the cores leaves some idle), so an image gives the same bytes whichever shard or
    /// batch it falls in, on any number of cores.
    #[arg(long)]
    batch: Option<usize>,
    #[command(flatten)]
    shard: ShardArgs,
    /// File every image (any layout) under its top-1 predicted class.
    #[arg(long)]
    predicted: bool,
    /// An image's top channels in a layer reach this share of the layer's summed maxima.
    #[arg(long, default_value_t = DEFAULT_MASS)]
    mass: f64,
    /// Graph nodes per block.
    #[arg(long, default_value_t = 8)]
    nodes: usize,
    /// Images per class whose influences the graph's edges average.
    #[arg(long, default_value_t = 32)]
    edge_images: usize,
    /// Behave as if Ctrl-C came after this many images (tests).
    #[arg(long, hide = true)]
    stop_after: Option<usize>,
}

#[derive(Subcommand, Debug)]
enum ClassesAction {
    /// Print one class: images, accuracy, its channels by attribution, its graph.
    Show {
        /// The summary file.
        summary: PathBuf,
        /// Class name (case-insensitive) or index.
        #[arg(long)]
        class: String,
        /// Layer id or Keras alias (default: Mixed_7c).
        #[arg(long, default_value = "Mixed_7c")]
        layer: String,
        /// How many channels (0: all).
        #[arg(long, default_value_t = 20)]
        top: usize,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Merge summaries of disjoint images (the parts of a sharded build), in any order the
    /// same bytes as one run; run the build again on the result for the graph.
    Merge {
        /// The parts.
        #[arg(required = true, value_name = "SUMMARY")]
        parts: Vec<PathBuf>,
        /// The merged summary.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Run `classes …`.
pub(crate) fn run(a: ClassesArgs, overwrite: Overwrite) -> Result<()> {
    match &a.action {
        Some(ClassesAction::Show {
            summary,
            class,
            layer,
            top,
            json,
        }) => show(summary, class, layer, *top, *json),
        Some(ClassesAction::Merge { parts, out }) => merge(parts, out, overwrite),
        None => {
            let (Some(images), Some(out)) = (a.images.clone(), a.out.clone()) else {
                bail!("classes needs --images DIR and --out SUMMARY (or `classes show` / `merge`)");
            };
            let shard = a.shard.resolve()?;
            if let Some((s, source)) = &shard {
                eprintln!("featurescope: shard {s} from {source}");
            }
            build(&a, &images, &out, shard.map(|(s, _)| s))
        }
    }
}

fn merge(parts: &[PathBuf], out: &Path, overwrite: Overwrite) -> Result<()> {
    check_outputs(overwrite, [out])?;
    let mut merged: Option<ClassSummary> = None;
    for p in parts {
        let part = ClassSummary::load(p)?;
        merged = Some(match merged {
            None => part,
            Some(m) => ClassSummary::merge(m, part).with_context(|| p.display().to_string())?,
        });
    }
    let merged = merged.context("nothing to merge")?;
    merged.save(out)?;
    eprintln!(
        "merged {} parts → {}: {} images, {} skipped",
        parts.len(),
        out.display(),
        merged.images().len(),
        merged.skipped().len()
    );
    Ok(())
}

/// The `show --json` object of one class and layer.
pub(crate) fn class_json(
    s: &ClassSummary,
    class: &str,
    layer: &str,
    top: usize,
) -> Result<serde_json::Value> {
    let index = s.resolve_class(class).with_context(|| {
        format!(
            "no class {class:?} in the model's {} classes",
            s.names().len()
        )
    })?;
    let id = Catalogue::inception_v3()
        .resolve(layer)
        .map_or_else(|| layer.to_string(), |l| l.id.clone());
    let l = s
        .layer_index(&id)
        .with_context(|| format!("layer {id} is not in the summary"))?;
    let stats = s
        .classes()
        .get(&index)
        .with_context(|| format!("class {class:?} has no images in the summary"))?;
    let counts = stats.counts(l).context("counts")?;
    let attribution = stats.attribution(l).context("attribution")?;
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| attribution[b].total_cmp(&attribution[a]).then(a.cmp(&b)));
    if top > 0 {
        order.truncate(top);
    }
    let channels: Vec<_> = order
        .iter()
        .map(|&k| json!({"channel": k, "count": counts[k], "attribution": attribution[k]}))
        .collect();
    let (nodes, edges) = match stats.graph() {
        Some(g) => (
            g.nodes
                .iter()
                .map(|(layer, ch)| json!({"layer": layer, "channels": ch}))
                .collect(),
            g.edges
                .iter()
                .zip(g.weights())
                .map(|(e, w)| {
                    json!({"from_layer": e.from.0, "from_channel": e.from.1,
                           "to_layer": e.to.0, "to_channel": e.to.1, "weight": w})
                })
                .collect(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    Ok(json!({
        "class": s.names()[index as usize], "index": index, "images": stats.images(),
        "correct": stats.correct(index), "layer": id, "channels": channels,
        "nodes": nodes, "edges": edges,
    }))
}

fn show(path: &Path, class: &str, layer: &str, top: usize, as_json: bool) -> Result<()> {
    let s = ClassSummary::load(path)?;
    let v = class_json(&s, class, layer, top)?;
    if as_json {
        println!("{v}");
        return Ok(());
    }
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    println!(
        "{} (class {}): {} images, {} predicted right; {} by attribution:",
        text(&v["class"]),
        v["index"],
        v["images"],
        v["correct"],
        text(&v["layer"])
    );
    for c in v["channels"].as_array().into_iter().flatten() {
        println!(
            "  channel {:>5}  attribution {:>12.6}  count {}",
            c["channel"],
            c["attribution"].as_f64().unwrap_or(0.0),
            c["count"]
        );
    }
    for n in v["nodes"].as_array().into_iter().flatten() {
        println!("  graph {}: {}", text(&n["layer"]), n["channels"]);
    }
    Ok(())
}

fn build(
    a: &ClassesArgs,
    root: &Path,
    out: &Path,
    shard: Option<featurescope_atlas::Shard>,
) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("installing the Ctrl-C handler")?;
    class_layers(a.layers.as_deref())?;
    let loaded = load_network(&a.net)?;
    let opts = ClassOptions {
        root: root.to_path_buf(),
        out: out.to_path_buf(),
        layers: a.layers.clone(),
        batch: a.batch.unwrap_or(featurescope_atlas::DEFAULT_BATCH).max(1),
        shard,
        predicted: a.predicted,
        mass: a.mass,
        nodes: a.nodes,
        edge_images: a.edge_images,
        stop_after: a.stop_after,
    };
    let mut progress = Progress {
        bar: None,
        pass: 0,
        root,
        out,
    };
    let summary = build_classes(&loaded.net, &loaded.source, &opts, &stop, &mut |e| {
        progress.on(e)
    })?;
    if let Some(b) = progress.bar.take() {
        b.finish_and_clear();
    }
    finish_build(out, &summary, "the summary")
}

/// The progress bar of the two passes (counting, then the graph) and the skipped lines.
struct Progress<'a> {
    bar: Option<ProgressBar>,
    pass: usize,
    root: &'a Path,
    out: &'a Path,
}

impl Progress<'_> {
    fn on(&mut self, e: BuildEvent) {
        match e {
            BuildEvent::Started {
                files,
                already,
                todo,
            } => {
                self.pass += 1;
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
                if self.pass == 1 {
                    eprintln!(
                        "{}: {files} files, {already} already in {}, {todo} to analyse",
                        self.root.display(),
                        self.out.display()
                    );
                }
                let what = if self.pass == 1 { "classes" } else { "graph" };
                self.bar = Some(images_progress(todo, what));
            }
            BuildEvent::Advanced => {
                if let Some(b) = &self.bar {
                    b.inc(1);
                }
            }
            BuildEvent::Skipped(path, reason) => print_skipped(self.bar.as_ref(), &path, &reason),
        }
    }
}
