//! Two models compared over a folder of images: per layer linear CKA (the minibatch estimator
//! with the unbiased HSIC, Nguyen, Raghu & Kornblith 2021), per channel the correlation of its
//! maximum under both models and the overlap of its top-K images. Decoding runs on other
//! threads while the networks run; each batch's activations are held for one model at a time
//! and reduced to `n x n` Gram matrices; checkpoints every 20 s; a stop flag (Ctrl-C, Cancel)
//! keeps the batches done and the same command continues; `--shard I/N` takes whole batches, and
//! parts merge exactly. The data model and file are [`featurescope_maps::compare`].

pub mod gram;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use featurescope_maps::Overwrite;
use featurescope_maps::compare::{Batch, BatchLayer, Peak, Report, Settings};
use featurescope_net::{Catalogue, InputImage, NetError, Network, TapRequest, WeightsSource};
use rayon::prelude::*;

pub use featurescope_maps::compare::{ChannelChange, LayerCompare, Side};

/// Checkpoint at most this often (and at the end, and when stopped).
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(20);
/// Images per batch of the estimator unless asked otherwise.
pub const DEFAULT_BATCH: usize = 64;

pub use featurescope_atlas::Shard;

/// Whether batch `b` belongs to `shard` (`None`: the whole collection): every `count`-th batch
/// from the `index`-th. The one place that decides which batches a part takes; a part owns
/// whole batches, so a split never changes the estimate.
pub fn owns(shard: Option<Shard>, b: u64) -> bool {
    shard.is_none_or(|s| b % s.count() as u64 == s.index() as u64)
}

/// What to build.
#[derive(Clone, Debug)]
pub struct CompareOptions {
    /// The collection folder.
    pub root: PathBuf,
    /// The report file (continued if it holds a report of the same settings).
    pub out: PathBuf,
    /// Layer ids or aliases; `None` = all 123 taps.
    pub layers: Option<Vec<String>>,
    /// Images per batch of the estimator (at least 4).
    pub batch: usize,
    /// Images kept per channel and model for the top-K overlap.
    pub top: usize,
    /// Images per forward pass (8 on a GPU, 1 on the CPU).
    pub forward_batch: usize,
    /// Which batches this run takes (`None`: all of them).
    pub shard: Option<Shard>,
    /// Replace a file at `out` that is not a report of these settings (else refuse).
    pub overwrite: Overwrite,
    /// Stop (as if asked to) after this many batches (tests).
    pub stop_after: Option<usize>,
}

/// What the build reports as it goes.
#[derive(Clone, Debug)]
pub enum CompareEvent {
    /// The work ahead.
    Started {
        /// Files under the folder.
        files: usize,
        /// Batches of the collection.
        batches: u64,
        /// Batches already in the report.
        already: usize,
        /// Files in the batches this run takes.
        todo: usize,
    },
    /// One more file handled (both models, or skipped).
    Advanced,
    /// A file that is not an image the app opens, with the reason.
    Skipped(String, String),
}

/// How a build ended.
#[derive(Clone, Debug, Default)]
pub struct CompareSummary {
    /// Images analysed in this run (each by both models).
    pub analysed: usize,
    /// Batches done in this run.
    pub batches: usize,
    /// Whether every batch of the collection is in the report now.
    pub complete: bool,
    /// Seconds this run took.
    pub seconds: f64,
    /// Of which in the forward passes and reading taps back.
    pub forward_seconds: f64,
    /// Of which in the Gram matrices.
    pub gram_seconds: f64,
    /// Whether it stopped before the end (the batches done are saved).
    pub stopped: bool,
}

/// The layer ids (and shapes) for ids or aliases, all 123 taps for `None`.
pub fn layer_specs(names: Option<&[String]>) -> Result<Vec<(String, [usize; 3])>> {
    let cat = Catalogue::inception_v3();
    let mut out: Vec<(String, [usize; 3])> = Vec::new();
    let all: Vec<String>;
    let names = match names {
        Some(n) => n,
        None => {
            all = cat.layers.iter().map(|l| l.id.clone()).collect();
            &all
        }
    };
    for n in names {
        let l = cat
            .resolve(n)
            .ok_or_else(|| NetError::UnknownLayer(n.clone()))?;
        if !out.iter().any(|(id, _)| *id == l.id) {
            out.push((l.id.clone(), l.shape));
        }
    }
    Ok(out)
}

/// A fingerprint of the collection's file list (FNV-1a over the sorted paths).
pub fn collection_digest(files: &[String]) -> String {
    let mut text = String::new();
    for f in files {
        text.push_str(f);
        text.push('\n');
    }
    format!(
        "{:016x}",
        featurescope_maps::atlas::fnv1a64(text.as_bytes())
    )
}

/// The report at `out` to continue, or a new one; a report of other settings is refused (or,
/// under [`Overwrite::Replace`], started afresh).
fn open_or_new(
    out: &Path,
    settings: Settings,
    specs: &[(String, [usize; 3])],
    overwrite: Overwrite,
) -> Result<Report> {
    let fresh = Report::new(settings, specs)?;
    if !out.exists() || overwrite == Overwrite::Replace && Report::load(out).is_err() {
        return Ok(fresh);
    }
    let existing = Report::load(out).with_context(|| {
        format!(
            "{} exists; choose another output, or --overwrite",
            out.display()
        )
    })?;
    let same_layers = existing.layers().len() == fresh.layers().len()
        && existing
            .layers()
            .iter()
            .zip(fresh.layers())
            .all(|(a, b)| a.id == b.id && a.shape == b.shape);
    if existing.settings() == fresh.settings() && same_layers {
        return Ok(existing);
    }
    if overwrite == Overwrite::Replace {
        return Ok(fresh);
    }
    bail!(
        "{} holds a comparison of other settings (models {} / {}, batch {}, top {}, {} files, \
         {} layers); choose another output, the same settings to continue it, or --overwrite",
        out.display(),
        existing.settings().model_a,
        existing.settings().model_b,
        existing.settings().batch,
        existing.settings().top,
        existing.settings().files,
        existing.layers().len()
    )
}

/// The two networks and their weights' sources.
pub struct Models<'a> {
    /// Model A.
    pub a: &'a Network,
    /// Where A's weights came from.
    pub source_a: &'a WeightsSource,
    /// Model B.
    pub b: &'a Network,
    /// Where B's weights came from.
    pub source_b: &'a WeightsSource,
}

/// Build (or continue) the comparison `opts` describes, reporting through `event`; returns
/// when done or when `stop` is set (the batches done are saved).
pub fn build(
    models: &Models<'_>,
    opts: &CompareOptions,
    stop: &AtomicBool,
    event: &mut dyn FnMut(CompareEvent),
) -> Result<CompareSummary> {
    let specs = layer_specs(opts.layers.as_deref())?;
    let files = featurescope_atlas::collection(&opts.root, &mut |e| {
        event(CompareEvent::Skipped(e, String::new()))
    })?;
    let settings = Settings {
        model_a: featurescope_atlas::model_identity(models.source_a),
        model_b: featurescope_atlas::model_identity(models.source_b),
        batch: opts.batch,
        top: opts.top,
        files: files.len() as u64,
        digest: collection_digest(&files),
    };
    let mut report = open_or_new(&opts.out, settings, &specs, opts.overwrite)?;
    let root = opts
        .root
        .canonicalize()
        .unwrap_or_else(|_| opts.root.clone());
    report.set_root(Some(root.to_string_lossy().into_owned()));
    report.set_sources(Some([
        source_text(models.source_a),
        source_text(models.source_b),
    ]));
    let plan = Plan::new(&report, &files, opts.shard);
    event(CompareEvent::Started {
        files: files.len(),
        batches: report.settings().batch_count(),
        already: report.batches().len(),
        todo: plan.files(),
    });
    let mut run = Run {
        request: TapRequest::layers(specs.iter().map(|(id, _)| id.as_str()))?.with_head(false),
        report,
        summary: CompareSummary::default(),
        last_save: Instant::now(),
    };
    let started = Instant::now();
    let decoded = featurescope_atlas::decoders(&opts.root, plan.names(), opts.batch);
    let mut pending: BTreeMap<String, Result<InputImage, String>> = BTreeMap::new();
    for (index, names) in &plan.batches {
        let stop_now = || {
            stop.load(Ordering::SeqCst) || opts.stop_after.is_some_and(|n| run.summary.batches >= n)
        };
        let Some(inputs) = gather(&decoded, names, &mut pending, &stop_now) else {
            run.summary.stopped = true;
            break;
        };
        run.batch(models, opts, *index, names, inputs, event)?;
        if run.last_save.elapsed() >= CHECKPOINT_EVERY {
            run.checkpoint(&opts.out)?;
        }
    }
    run.checkpoint(&opts.out)?;
    run.summary.seconds = started.elapsed().as_secs_f64();
    run.summary.complete = run.report.is_complete();
    Ok(run.summary)
}

/// Where weights come from, as a report records it: `bundled`, or the file's full path.
pub fn source_text(source: &WeightsSource) -> String {
    match source {
        WeightsSource::Bundled => "bundled".into(),
        WeightsSource::File(p) => p
            .canonicalize()
            .unwrap_or_else(|_| p.clone())
            .to_string_lossy()
            .into_owned(),
    }
}

/// The weights a report's recorded source names.
pub fn source_of(text: &str) -> WeightsSource {
    match text {
        "bundled" => WeightsSource::Bundled,
        path => WeightsSource::File(PathBuf::from(path)),
    }
}

/// The batches a run takes, with their files.
struct Plan {
    batches: Vec<(u64, Vec<String>)>,
}

impl Plan {
    fn new(report: &Report, files: &[String], shard: Option<Shard>) -> Self {
        let size = report.settings().batch.max(1);
        let batches = files
            .chunks(size)
            .zip(0u64..)
            .filter(|(_, b)| owns(shard, *b) && !report.batches().contains(b))
            .map(|(names, b)| (b, names.to_vec()))
            .collect();
        Self { batches }
    }

    fn files(&self) -> usize {
        self.batches.iter().map(|(_, n)| n.len()).sum()
    }

    fn names(&self) -> Vec<String> {
        self.batches.iter().flat_map(|(_, n)| n.clone()).collect()
    }
}

/// Wait for every file of a batch to be decoded (files of later batches that arrive first
/// are kept in `pending`); `None` when asked to stop.
fn gather(
    decoded: &Receiver<(String, Result<InputImage, String>)>,
    names: &[String],
    pending: &mut BTreeMap<String, Result<InputImage, String>>,
    stop: &dyn Fn() -> bool,
) -> Option<Vec<(String, Result<InputImage, String>)>> {
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        loop {
            if stop() {
                return None;
            }
            if let Some(r) = pending.remove(name) {
                out.push((name.clone(), r));
                break;
            }
            let (rel, r) = decoded.recv().ok()?;
            pending.insert(rel, r);
        }
    }
    Some(out)
}

struct Run {
    request: TapRequest,
    report: Report,
    summary: CompareSummary,
    last_save: Instant,
}

impl Run {
    /// Both models over one batch, its Grams and peaks into the report.
    fn batch(
        &mut self,
        models: &Models<'_>,
        opts: &CompareOptions,
        index: u64,
        names: &[String],
        decoded: Vec<(String, Result<InputImage, String>)>,
        event: &mut dyn FnMut(CompareEvent),
    ) -> Result<()> {
        let mut batch = Batch {
            index,
            ..Batch::default()
        };
        let mut inputs = Vec::new();
        for (name, r) in decoded {
            match r {
                Ok(input) => {
                    batch.images.push(name);
                    inputs.push(input);
                }
                Err(reason) => {
                    event(CompareEvent::Skipped(name.clone(), reason.clone()));
                    event(CompareEvent::Advanced);
                    batch.skipped.push((name, reason));
                }
            }
        }
        debug_assert!(batch.images.len() + batch.skipped.len() == names.len());
        let ids: Vec<&str> = self.report.layers().iter().map(|l| l.id.as_str()).collect();
        let a = pass(
            models.a,
            &inputs,
            &self.request,
            &ids,
            opts.forward_batch,
            &mut || {},
        )?;
        let b = pass(
            models.b,
            &inputs,
            &self.request,
            &ids,
            opts.forward_batch,
            &mut || event(CompareEvent::Advanced),
        )?;
        self.summary.forward_seconds += a.forward_seconds + b.forward_seconds;
        self.summary.gram_seconds += a.gram_seconds + b.gram_seconds;
        batch.layers = a
            .layers
            .into_iter()
            .zip(b.layers)
            .map(|(a, b)| BatchLayer {
                gram: [a.0, b.0],
                peaks: [a.1, b.1],
            })
            .collect();
        self.summary.analysed += inputs.len();
        self.summary.batches += 1;
        self.report.add_batch(batch)?;
        Ok(())
    }

    fn checkpoint(&mut self, out: &Path) -> Result<()> {
        self.report.save(out, Overwrite::Replace)?;
        self.last_save = Instant::now();
        Ok(())
    }
}

/// One model's pass over a batch: per layer (in `ids` order) the Gram and the peaks.
struct Pass {
    layers: Vec<(Vec<f64>, Vec<Option<Peak>>)>,
    forward_seconds: f64,
    gram_seconds: f64,
}

/// Run `net` over `inputs`, `chunk` images per forward pass, keeping each layer's flattened
/// activations of the batch (one model's at a time) until its Gram is made.
fn pass(
    net: &Network,
    inputs: &[InputImage],
    request: &TapRequest,
    ids: &[&str],
    chunk: usize,
    done: &mut dyn FnMut(),
) -> Result<Pass> {
    let n = inputs.len();
    let kept: Vec<Mutex<Kept>> = ids.iter().map(|_| Mutex::default()).collect();
    let failed = Mutex::new(None);
    let position: BTreeMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let t = Instant::now();
    for (part, first) in inputs.chunks(chunk.max(1)).zip((0..).step_by(chunk.max(1))) {
        // Each image's taps as the pass computes them: its rows and peaks in its place.
        let keep = |image: usize, id: &str, shape: [usize; 3], values: &[f32]| {
            let Some(&i) = position.get(id) else {
                return;
            };
            let peaks: Vec<Option<Peak>> = map_peaks(values, shape).collect();
            let mut layer = kept[i].lock().unwrap_or_else(PoisonError::into_inner);
            if let Err(e) = layer.put([n, first + image], shape, values, peaks) {
                let e = e.context(format!("layer {id}"));
                failed
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert(e);
            }
        };
        net.visit_batch_layers(part, request, &keep)?;
        part.iter().for_each(|_| done());
    }
    if let Some(e) = failed.into_inner().unwrap_or_else(PoisonError::into_inner) {
        return Err(e);
    }
    let forward_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let layers: Vec<(Vec<f64>, Vec<Option<Peak>>)> = kept
        .into_par_iter()
        .map(|k| {
            let k = k.into_inner().unwrap_or_else(PoisonError::into_inner);
            let d = k.rows.len().checked_div(n).unwrap_or(0);
            (gram::gram(&k.rows, n, d), k.peaks)
        })
        .collect();
    Ok(Pass {
        layers,
        forward_seconds,
        gram_seconds: t.elapsed().as_secs_f64(),
    })
}

/// One layer's activations of a model's batch, image by image in batch order: its flattened
/// rows and its channels' peaks.
#[derive(Default)]
struct Kept {
    rows: Vec<f32>,
    peaks: Vec<Option<Peak>>,
}

impl Kept {
    /// Image `at` of `n`: its `[c, h, w]` values and its `c` peaks into their places.
    fn put(
        &mut self,
        [n, at]: [usize; 2],
        [c, h, w]: [usize; 3],
        values: &[f32],
        peaks: Vec<Option<Peak>>,
    ) -> Result<()> {
        let per = c * h * w;
        if self.rows.is_empty() && self.peaks.is_empty() {
            // Fresh pages, written once (not zeroed here and then written again).
            self.rows = vec![0.0; n * per];
            self.peaks = vec![None; n * c];
        }
        let rows = self.rows.get_mut(at * per..(at + 1) * per);
        let slots = self.peaks.get_mut(at * c..(at + 1) * c);
        match (rows, slots) {
            (Some(rows), Some(slots)) if values.len() == per && peaks.len() == c => {
                rows.copy_from_slice(values);
                slots.copy_from_slice(&peaks);
                Ok(())
            }
            _ => bail!(
                "image {at} of {n} came back as {c} x {h} x {w} with {} values, unlike the others",
                values.len()
            ),
        }
    }
}

/// Each channel's peak in one image's `[c, h, w]` layer.
fn map_peaks(values: &[f32], [c, h, w]: [usize; 3]) -> impl Iterator<Item = Option<Peak>> + '_ {
    (0..c).map(move |ch| Peak::of(&values[ch * h * w..(ch + 1) * h * w], w))
}

/// Merge reports into `out` (exactly: equal to one run over all their batches, in any order).
pub fn merge(
    parts: &[PathBuf],
    out: &Path,
    allow_missing: bool,
    overwrite: Overwrite,
) -> Result<Merged> {
    let (first, rest) = parts
        .split_first()
        .context("merge needs at least one report")?;
    let mut merged = Report::load(first)?;
    for p in rest {
        let other = Report::load(p)?;
        merged
            .merge(&other)
            .with_context(|| format!("merging {}", p.display()))?;
    }
    let missing = missing(&merged, parts);
    if !missing.is_empty() && !allow_missing {
        bail!(
            "the reports lack {missing}: build them (or merge with --allow-missing, and merge \
             the rest in later)"
        );
    }
    merged.save(out, overwrite)?;
    Ok(Merged {
        report: merged,
        missing,
    })
}

/// A merged report and what it lacks.
#[derive(Debug)]
pub struct Merged {
    /// The report written.
    pub report: Report,
    /// What is missing, in words (`shards 1, 3 of 4 (batches 1, 3)`), or empty when complete.
    pub missing: String,
}

/// The reports `paths` name: each path is a report, or a folder whose `part-*.json` files
/// (a `--parts` folder) are taken, in name order.
pub fn find_reports(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for p in paths {
        if !p.is_dir() {
            found.push(p.clone());
            continue;
        }
        let listing = std::fs::read_dir(p).with_context(|| format!("reading {}", p.display()))?;
        let mut inside: Vec<PathBuf> = listing
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| part_of(f).is_some())
            .collect();
        if inside.is_empty() {
            bail!("{}: no part-*-of-*.json in it", p.display());
        }
        inside.sort();
        found.extend(inside);
    }
    Ok(found)
}

/// The shard a `--parts` file is, from its name (`part-0003-of-0008.json`).
fn part_of(path: &Path) -> Option<Shard> {
    let name = path.file_name()?.to_str()?.strip_suffix(".json")?;
    let (i, n) = name.strip_prefix("part-")?.split_once("-of-")?;
    Shard::new(i.parse().ok()?, n.parse().ok()?).ok()
}

/// The batches `report` lacks, in words; when the parts are named as `--parts` names them,
/// the shards that would hold them. Empty when complete.
fn missing(report: &Report, parts: &[PathBuf]) -> String {
    let absent: Vec<u64> = (0..report.settings().batch_count())
        .filter(|b| !report.batches().contains(b))
        .collect();
    if absent.is_empty() {
        return String::new();
    }
    let batches = featurescope_atlas::shard::ranges(absent.iter().map(|&b| b as usize));
    let count = parts.iter().find_map(|p| part_of(p)).map(Shard::count);
    match count {
        Some(n) => {
            let shards: std::collections::BTreeSet<usize> =
                absent.iter().map(|&b| (b % n as u64) as usize).collect();
            format!(
                "shards {} of {n} (batches {batches})",
                featurescope_atlas::shard::ranges(shards)
            )
        }
        None => format!("batches {batches} of {}", report.settings().batch_count()),
    }
}
