//! `featurescope atlas`: for every channel of the chosen layers, the images of a folder that
//! excite it most (by the channel's maximum and by its mean), with the receptive-field crop of
//! the input around the maximum. Streaming and bounded (a running top-K per channel), decoding on
//! other threads while the network runs, batches of 8, checkpoints, Ctrl-C keeps what is
//! done and the same command resumes. Past one machine, each task of a job array builds its
//! shard (`common::shard`: `--shard`, or Slurm's, Kubernetes' or AWS Batch's task index) into
//! `--parts DIR`, and `atlas merge DIR` joins the parts exactly; `atlas show` prints one
//! channel's list. The work is `featurescope_atlas`; this is its command line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use featurescope_atlas::{
    AtlasHit, BuildEvent, BuildOptions, FilterAtlas as Atlas, MergeOptions, MergeSummary, Rank,
    Shard,
};
use featurescope_maps::Overwrite;
use featurescope_net::Catalogue;
use indicatif::ProgressBar;

use crate::common::shard::ShardArgs;
use crate::common::{
    NetArgs, check_outputs, finish_build, images_progress, load_network, print_skipped,
};

/// Arguments of `atlas`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AtlasArgs {
    #[command(subcommand)]
    action: Option<AtlasAction>,
    /// Folder of images, searched recursively.
    #[arg(long)]
    images: Option<PathBuf>,
    /// The atlas directory to write; if it holds an atlas of the same settings, continue it.
    #[arg(long, conflicts_with = "parts")]
    out: Option<PathBuf>,
    /// Instead of --out: write this task's shard into DIR/part-IIII-of-NNNN (continued
    /// there like --out), for `atlas merge DIR` to join once every task is done.
    #[arg(long, value_name = "DIR")]
    parts: Option<PathBuf>,
    #[command(flatten)]
    net: NetArgs,
    /// Only these layers (comma-separated ids or Keras aliases); default: all 123 taps.
    #[arg(long, value_delimiter = ',')]
    layers: Option<Vec<String>>,
    /// How many images to keep per channel and ranking.
    #[arg(long, default_value_t = 9)]
    top: usize,
    /// Images per forward pass (default: 8; fewer keeps less in memory: ~790 MB at 8, ~340 MB
    /// at 1 on the CPU).
    #[arg(long)]
    batch: Option<usize>,
    #[command(flatten)]
    shard: ShardArgs,
    /// Behave as if Ctrl-C came after this many images (tests).
    #[arg(long, hide = true)]
    stop_after: Option<usize>,
}

#[derive(Subcommand, Debug)]
enum AtlasAction {
    /// Merge atlases of the same model, layers and --top: the parts of a sharded build (the
    /// --parts folder, or each part named; all of them unless --allow-missing), or atlases of
    /// separate collections. In any order, the same bytes as one run over all the images.
    Merge {
        /// Atlas directories, or folders of them (a --parts folder).
        #[arg(required = true, value_name = "ATLAS")]
        atlases: Vec<PathBuf>,
        /// The merged atlas directory.
        #[arg(long)]
        out: PathBuf,
        /// Merge parts of a sharded build although some shards are missing; the result records
        /// the shards it holds, and merging the others into it later completes it.
        #[arg(long)]
        allow_missing: bool,
    },
    /// Print one channel's top images.
    Show {
        /// The atlas directory.
        atlas: PathBuf,
        /// Layer id or Keras alias.
        #[arg(long)]
        layer: String,
        /// Channel.
        #[arg(long)]
        channel: usize,
        /// Rank by the channel's maximum or its mean.
        #[arg(long, value_enum, default_value_t = By::Max)]
        by: By,
        /// One JSON array of {image, score, y, x, crop}.
        #[arg(long)]
        json: bool,
        /// Also write each image's receptive-field crop as `<rank>_<image name>.png` here.
        #[arg(long, value_name = "DIR")]
        crops: Option<PathBuf>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum By {
    Max,
    Mean,
}

/// Run `atlas …`.
pub(crate) fn run(a: AtlasArgs, overwrite: Overwrite) -> Result<()> {
    match a.action {
        Some(AtlasAction::Merge {
            atlases,
            out,
            allow_missing,
        }) => merge(
            &atlases,
            &out,
            MergeOptions {
                allow_missing,
                overwrite,
            },
        ),
        Some(AtlasAction::Show {
            atlas,
            layer,
            channel,
            by,
            json,
            crops,
        }) => {
            let crops = crops.map(|dir| (dir, overwrite));
            show(&atlas, &layer, channel, by, json, crops)
        }
        None => {
            // --out and --parts exclude each other: `dir` is the one given.
            let (Some(images), Some(dir)) =
                (a.images.clone(), a.out.clone().or_else(|| a.parts.clone()))
            else {
                bail!(
                    "atlas needs --images DIR and --out ATLAS or --parts DIR (or `atlas merge` / \
                     `atlas show`)"
                );
            };
            let shard = a.shard.resolve()?;
            if let Some((s, source)) = &shard {
                eprintln!("featurescope: shard {s} from {source}");
            }
            let shard = shard.map(|(s, _)| s);
            let out = match a.parts {
                Some(_) => dir.join(shard.unwrap_or(Shard::WHOLE).part_name()),
                None => dir,
            };
            build(&a, &images, &out, shard)
        }
    }
}

/// Print one channel's list; with `crops`, also write each hit's receptive-field crop into
/// that folder as `<rank>_<image name>.png` (replacing files only under `Overwrite::Replace`).
fn show(
    dir: &Path,
    layer: &str,
    channel: usize,
    by: By,
    json: bool,
    crops: Option<(PathBuf, Overwrite)>,
) -> Result<()> {
    let atlas = Atlas::load(dir)?;
    let id = Catalogue::inception_v3()
        .resolve(layer)
        .map_or_else(|| layer.to_string(), |l| l.id.clone());
    let rank = match by {
        By::Max => Rank::Max,
        By::Mean => Rank::Mean,
    };
    let hits = atlas.top(&id, channel, rank)?;
    if json {
        println!("{}", serde_json::to_string(&hits)?);
    } else {
        println!(
            "{id} channel {channel}, top {} of {} images by {}:",
            hits.len(),
            atlas.images().len(),
            if matches!(by, By::Max) { "max" } else { "mean" }
        );
        for (i, h) in hits.iter().enumerate() {
            println!(
                "{:>3}. {:>10.4}  at y={:<3} x={:<3} crop x {}..{} y {}..{}  {}",
                i + 1,
                h.score,
                h.y,
                h.x,
                h.crop.x0,
                h.crop.x1,
                h.crop.y0,
                h.crop.y1,
                h.image
            );
        }
    }
    match crops {
        Some((out, overwrite)) => write_crops(dir, &hits, &out, overwrite),
        None => Ok(()),
    }
}

/// Write the crops of `hits` as PNGs, named by rank and image; nothing is written when one
/// exists and `overwrite` refuses.
fn write_crops(dir: &Path, hits: &[AtlasHit], out: &Path, overwrite: Overwrite) -> Result<()> {
    let paths: Vec<PathBuf> = hits
        .iter()
        .enumerate()
        .map(|(i, hit)| {
            let name = hit.image.replace(['/', '\\'], "_");
            out.join(format!("{:02}_{name}.png", i + 1))
        })
        .collect();
    check_outputs(overwrite, paths.iter().map(PathBuf::as_path))?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (hit, path) in hits.iter().zip(&paths) {
        let input_path = featurescope_maps::atlas::input_image_path(dir, &hit.image);
        let input = image::open(&input_path)
            .with_context(|| format!("reading {}", input_path.display()))?
            .to_rgb8();
        let crop = featurescope_maps::atlas::crop_image(&input, hit.crop);
        featurescope_maps::save_image(path, &crop.into(), overwrite)?;
    }
    eprintln!("wrote the crops to {}", out.display());
    Ok(())
}

/// Merge `atlases` (directories, or folders of them) into `out`.
fn merge(atlases: &[PathBuf], out: &Path, opts: MergeOptions) -> Result<()> {
    let dirs = featurescope_atlas::find_atlases(atlases)?;
    let summary = featurescope_atlas::merge_atlases(&dirs, out, opts)?;
    eprintln!(
        "merged {} → {}: {} images, {} skipped",
        merged_what(&summary),
        out.display(),
        summary.images,
        summary.skipped
    );
    let missing = summary.missing();
    if !missing.is_empty() {
        eprintln!(
            "featurescope: note: without shards {} of {}; merging them into {} later completes it",
            featurescope_atlas::shard::ranges(missing),
            summary
                .shards
                .as_ref()
                .map_or(0, featurescope_atlas::ShardSet::count),
            out.display()
        );
    }
    Ok(())
}

/// `the 8 parts of 8`, `5 parts of 8 (shards 0-4)`, or the directories' names.
fn merged_what(summary: &MergeSummary) -> String {
    let n = summary.merged.len();
    match &summary.shards {
        Some(s) if s.is_complete() => format!("the {n} parts of {}", s.count()),
        Some(s) => format!("{n} parts of {} (shards {})", s.count(), s.describe()),
        None => {
            let names: Vec<String> = summary
                .merged
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            names.join(" + ")
        }
    }
}

fn build(a: &AtlasArgs, root: &Path, out: &Path, shard: Option<Shard>) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("installing the Ctrl-C handler")?;
    // Settings and collection are checked before the network loads: mistakes fail fast.
    featurescope_atlas::layer_specs(a.layers.as_deref())?;
    let loaded = load_network(&a.net)?;
    let (net, source) = (&loaded.net, &loaded.source);
    let opts = BuildOptions {
        root: root.to_path_buf(),
        out: out.to_path_buf(),
        layers: a.layers.clone(),
        top: a.top,
        batch: a.batch.unwrap_or(featurescope_atlas::DEFAULT_BATCH).max(1),
        shard,
        stop_after: a.stop_after,
    };
    let mut bar: Option<ProgressBar> = None;
    let summary = featurescope_atlas::build(net, source, &opts, &stop, &mut |e| match e {
        BuildEvent::Started {
            files,
            already,
            todo,
        } => {
            eprintln!(
                "{}: {files} files, {already} already in {}, {todo} to analyse{}",
                root.display(),
                out.display(),
                shard.map_or_else(String::new, |s| format!(
                    " (part {} of {})",
                    s.index(),
                    s.count()
                ))
            );
            bar = Some(images_progress(todo, "atlas"));
        }
        BuildEvent::Advanced => {
            if let Some(b) = &bar {
                b.inc(1);
            }
        }
        BuildEvent::Skipped(path, reason) => print_skipped(bar.as_ref(), &path, &reason),
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    finish_build(out, &summary, "the atlas")
}
