//! Building a filter atlas: walk a folder of images, decode them on other threads while the
//! network runs (in batches on a GPU), and keep for every channel of the chosen layers the images
//! that excite it most, with receptive-field crops — streaming, bounded, checkpointed, stoppable
//! and resumable; past one machine, one [`shard`] per task and [`merge_atlases`] to join the
//! parts exactly. Used by `featurescope atlas` and by the app's worker; the data model and its
//! storage are [`featurescope_maps::atlas`], the receptive fields come from
//! [`featurescope_net::geometry`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use featurescope_maps::atlas::{
    self, Atlas, AtlasShapes, ChannelSummary, ImageSummaries, LayerSpec, RfGeometry,
};
use featurescope_maps::{Overwrite, write_atomic};
use featurescope_net::catalogue::INPUT_SIZE;
use featurescope_net::geometry::receptive_fields;
use featurescope_net::{
    Catalogue, InputImage, LayerInfo, NetError, Network, TapRequest, WeightsSource, preprocess,
};
use image::RgbImage;

pub use featurescope_maps::atlas::{Atlas as FilterAtlas, AtlasHit, Rank};
pub use merge::{MergeOptions, MergeSummary, find_atlases, merge_atlases};
pub use shard::{Shard, ShardSet};

pub mod classes;
mod merge;
pub mod shard;

/// Where the collection's images are, for the app to open them: `collection.json` in the atlas.
pub const COLLECTION_FILE: &str = "collection.json";

/// Checkpoint at most this often (and at the end, and when stopped).
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(20);

/// Images per forward pass unless asked otherwise, on a GPU and on the CPU alike: on the CPU a
/// batch's images run in parallel, each conv on one thread, and their taps are read back whole
/// (64 JPEGs: 15.4 images/s at 8, 13.1 at 1; docs/PERFORMANCE.md). The atlas does not depend
/// on it.
pub const DEFAULT_BATCH: usize = 8;

/// The collection folder an atlas was built from, if recorded.
pub fn read_root(dir: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(dir.join(COLLECTION_FILE)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("root").and_then(|r| r.as_str()).map(PathBuf::from)
}

/// Record the collection folder in the atlas directory, atomically as `atlas.json` is: a
/// temporary file beside it, synced, renamed over the old one ([`write_atomic`]), so a crash
/// or a full disk never leaves half a file and another name of the old file keeps its bytes.
pub fn write_root(dir: &Path, root: &Path) -> Result<()> {
    let text = serde_json::json!({ "root": root.to_string_lossy() }).to_string();
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    write_atomic(&dir.join(COLLECTION_FILE), Overwrite::Replace, |w| {
        w.write_all(text.as_bytes())
    })?;
    Ok(())
}

/// The atlas' layer specs for layer ids or aliases (all 123 taps for `None`): ids, shapes and
/// receptive fields from the catalogue.
pub fn layer_specs(names: Option<&[String]>) -> Result<Vec<LayerSpec>> {
    let cat = Catalogue::inception_v3();
    let fields = receptive_fields(cat);
    let chosen: Vec<&LayerInfo> = match names {
        None => cat.layers.iter().collect(),
        Some(names) => names
            .iter()
            .map(|n| {
                cat.resolve(n)
                    .ok_or_else(|| NetError::UnknownLayer(n.clone()))
            })
            .collect::<Result<_, _>>()?,
    };
    let mut specs: Vec<LayerSpec> = Vec::new();
    for l in chosen {
        if specs.iter().any(|(id, _, _)| *id == l.id) {
            continue;
        }
        let i = cat.position(&l.id).context("layer position")?;
        let f = fields[i];
        let rf = RfGeometry {
            jump: f.jump.map(|j| j as u32),
            lo: f.lo.map(|v| v as i32),
            hi: f.hi.map(|v| v as i32),
            input: [INPUT_SIZE as u32; 2],
        };
        specs.push((l.id.clone(), l.shape, rf));
    }
    Ok(specs)
}

/// What identifies the weights an atlas was computed with.
pub fn model_identity(source: &WeightsSource) -> String {
    match source {
        WeightsSource::Bundled => source.to_string(),
        WeightsSource::File(p) => {
            let p = p.canonicalize().unwrap_or_else(|_| p.clone());
            let len = std::fs::metadata(&p).map_or(0, |m| m.len());
            format!("{} ({len} bytes)", p.display())
        }
    }
}

/// Every file under `root`, as '/'-separated paths relative to it, sorted; unreadable entries
/// are reported through `skipped` and passed over.
pub fn collection(root: &Path, skipped: &mut dyn FnMut(String)) -> Result<Vec<String>> {
    if !root.is_dir() {
        bail!("{}: not a folder", root.display());
    }
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root).follow_links(true) {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                skipped(e.to_string());
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(root) else {
            continue;
        };
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        files.push(parts.join("/"));
    }
    files.sort();
    Ok(files)
}

/// Open the atlas at `out` to continue it, or start a new one; refuses one of other settings.
pub fn open_or_new(out: &Path, model: &str, k: usize, specs: Vec<LayerSpec>) -> Result<Atlas> {
    if !out.join(atlas::ATLAS_FILE).is_file() {
        return Ok(Atlas::new(model, k, specs)?);
    }
    let existing = Atlas::load(out)?;
    let fresh = Atlas::new(model, k, specs)?;
    let same_layers = existing.layers().len() == fresh.layers().len()
        && existing
            .layers()
            .iter()
            .zip(fresh.layers())
            .all(|(a, b)| a.id == b.id && a.shape() == b.shape() && a.rf == b.rf);
    if existing.model() != model || existing.k() != k || !same_layers {
        bail!(
            "{} holds an atlas of other settings (model {}, top {}, {} layers); \
             choose another output folder, or the same weights, top and layers to continue it",
            out.display(),
            existing.model(),
            existing.k(),
            existing.layers().len()
        );
    }
    Ok(existing)
}

/// What to build.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// The collection folder.
    pub root: PathBuf,
    /// The atlas directory (continued if it holds an atlas of the same settings).
    pub out: PathBuf,
    /// Layer ids or aliases; `None` = all 123 taps.
    pub layers: Option<Vec<String>>,
    /// Images kept per channel and ranking.
    pub top: usize,
    /// Images per forward pass.
    pub batch: usize,
    /// Only this shard's files ([`Shard::contains`]); `None`: all of them.
    pub shard: Option<Shard>,
    /// Stop (as if asked to) after this many images (tests).
    pub stop_after: Option<usize>,
}

/// What the build reports as it goes.
#[derive(Clone, Debug)]
pub enum BuildEvent {
    /// The work ahead: files in the collection, already done, to analyse now.
    Started {
        /// Files under the folder.
        files: usize,
        /// Already in the atlas (added or skipped).
        already: usize,
        /// To analyse in this run.
        todo: usize,
    },
    /// One more file handled (analysed or skipped).
    Advanced,
    /// A file that is not an image the app opens, with the reason.
    Skipped(String, String),
}

/// How a build ended.
#[derive(Clone, Debug)]
pub struct BuildSummary {
    /// Images analysed in this run.
    pub analysed: usize,
    /// Images in the atlas.
    pub images: usize,
    /// Files skipped in the atlas.
    pub skipped: usize,
    /// Seconds this run took.
    pub seconds: f64,
    /// Whether it stopped before the end (what was done is saved).
    pub stopped: bool,
}

/// Decoded images, produced by a pool of threads while the network runs (in about the order
/// of `todo`; each with its path, or the reason it is not an image). A batch of `batch` images
/// waits decoded, so that the next batch is ready when a pass ends; without their full-size
/// originals, which no folder command uses (a folder of 24-megapixel photos would otherwise
/// hold 72 MB an image).
pub fn decoders(
    root: &Path,
    todo: Vec<String>,
    batch: usize,
) -> Receiver<(String, Result<InputImage, String>)> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .saturating_sub(1)
        .max(1);
    let (tx, rx) = sync_channel((threads * 4).max(batch));
    let queue = Arc::new(Mutex::new(todo.into_iter()));
    for _ in 0..threads {
        let (tx, queue, root) = (tx.clone(), queue.clone(), root.to_path_buf());
        let _ = std::thread::Builder::new()
            .name("featurescope-decode".into())
            .spawn(move || {
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.next());
                    let Some(rel) = next else { break };
                    let input = decode(&root.join(&rel));
                    if tx.send((rel, input)).is_err() {
                        break;
                    }
                }
            });
    }
    rx
}

/// Decode and prepare one image, its original dropped; the reason in one line without the
/// path on failure.
fn decode(path: &Path) -> Result<InputImage, String> {
    let input = preprocess::load_input(path).map(|mut input| {
        input.original = RgbImage::new(0, 0);
        input
    });
    input.map_err(|e| {
        let text = e.to_string();
        let prefix = format!("{}: ", path.display());
        text.strip_prefix(&prefix)
            .unwrap_or(&text)
            .replace('\n', " ")
    })
}

/// Decoded images waiting for one forward pass: names and inputs side by side, as
/// [`Network::run_batch`] takes them.
#[derive(Default)]
struct Batch {
    names: Vec<String>,
    inputs: Vec<InputImage>,
}

impl Batch {
    fn clear(&mut self) {
        self.names.clear();
        self.inputs.clear();
    }

    /// Whether to run the batch now: it holds `size` images, or `stop_after` falls here (with
    /// `analysed` images done before it), so a run stops after exactly that many images
    /// whatever the batch.
    fn full(&self, size: usize, analysed: usize, stop_after: Option<usize>) -> bool {
        let queued = analysed + self.inputs.len();
        self.inputs.len() >= size.max(1) || stop_after.is_some_and(|n| queued >= n)
    }
}

struct Run {
    atlas: Atlas,
    shapes: AtlasShapes,
    out: PathBuf,
    request: TapRequest,
    /// Images whose pass has run (the last batch's may still wait in `pending`).
    analysed: usize,
    /// The last batch, reduced, entering the atlas while the next batch's pass runs.
    pending: Option<Reduced>,
    last_save: Instant,
}

/// A batch its pass reduced, waiting to enter the atlas: each image's path, crop and summaries.
struct Reduced {
    names: Vec<String>,
    crops: Vec<RgbImage>,
    summaries: Vec<ImageSummaries>,
}

impl Run {
    /// Run a batch's pass, each image's taps reduced to its summaries as soon as the pass has
    /// computed them (while they are in cache) and let go; meanwhile, on rayon's threads, the
    /// previous batch enters the atlas (its rankings, its crops written). The batch's crops
    /// move into the pending batch.
    fn add(&mut self, net: &Network, batch: &mut Batch) -> Result<()> {
        if batch.inputs.is_empty() {
            return Ok(());
        }
        let pending = self.pending.take();
        let (atlas, out) = (&mut self.atlas, &self.out);
        let (shapes, request, done) = (&self.shapes, &self.request, &*batch);
        let (reduced, entered) = rayon::join(
            || reduce(net, shapes, request, done),
            || enter(atlas, out, pending),
        );
        entered?;
        let summaries = reduced?;
        self.analysed += batch.inputs.len();
        self.pending = Some(Reduced {
            names: std::mem::take(&mut batch.names),
            crops: batch.inputs.drain(..).map(|input| input.crop).collect(),
            summaries,
        });
        Ok(())
    }

    /// Write the atlas (with the pending batch in it) and drop the inputs no ranking uses any
    /// more.
    fn checkpoint(&mut self) -> Result<()> {
        enter(&mut self.atlas, &self.out, self.pending.take())?;
        self.atlas.save(&self.out)?;
        atlas::prune_inputs(&self.out, &self.atlas)?;
        self.last_save = Instant::now();
        Ok(())
    }
}

/// One pass over `batch`, each image's taps reduced to its summaries as the pass computes them
/// (on the thread that computed them, while they are in its cache).
fn reduce(
    net: &Network,
    shapes: &AtlasShapes,
    request: &TapRequest,
    batch: &Batch,
) -> Result<Vec<ImageSummaries>> {
    let images: Vec<Mutex<ImageSummaries>> = batch
        .inputs
        .iter()
        .map(|_| Mutex::new(shapes.image_summaries()))
        .collect();
    let failed = Mutex::new(None);
    let reduce = |image: usize, id: &str, shape: [usize; 3], values: &[f32]| {
        let added = summarize_tap(shapes, &batch.names, image, (id, shape, values)).and_then(
            |(index, sums)| {
                let mut summaries = images[image].lock().unwrap_or_else(PoisonError::into_inner);
                summaries.insert(index, sums).map_err(anyhow::Error::from)
            },
        );
        if let Err(e) = added {
            failed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert(e);
        }
    };
    net.visit_batch_layers(&batch.inputs, request, &reduce)?;
    if let Some(e) = failed.into_inner().unwrap_or_else(PoisonError::into_inner) {
        return Err(e);
    }
    Ok(images
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
        .collect())
}

/// The images of a reduced batch into the atlas, their crops beside it (for the rankings'
/// receptive-field crops).
fn enter(atlas: &mut Atlas, out: &Path, reduced: Option<Reduced>) -> Result<()> {
    let Some(reduced) = reduced else {
        return Ok(());
    };
    let images = reduced.names.iter().zip(&reduced.crops);
    for ((rel, crop), summaries) in images.zip(reduced.summaries) {
        atlas.add_image_summaries(rel, summaries)?;
        let path = atlas::input_image_path(out, rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        crop.save(&path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// One image's `[C, H, W]` tap reduced: its layer index in the atlas and its channel
/// summaries.
fn summarize_tap(
    shapes: &AtlasShapes,
    names: &[String],
    image: usize,
    (id, shape, values): (&str, [usize; 3], &[f32]),
) -> Result<(usize, Vec<ChannelSummary>)> {
    let Some(rel) = names.get(image) else {
        bail!(
            "layer {id} came back for image {image} of a batch of {}",
            names.len()
        );
    };
    Ok(shapes.summarize_layer(rel, (id, shape, values))?)
}

/// The files of the collection (in the shard, if one is asked for) that `atlas` does not hold
/// yet; reported as [`BuildEvent::Started`].
fn to_analyse(
    opts: &BuildOptions,
    atlas: &Atlas,
    event: &mut dyn FnMut(BuildEvent),
) -> Result<Vec<String>> {
    let files = collection(&opts.root, &mut |e| {
        event(BuildEvent::Skipped(e, String::new()))
    })?;
    let shard = opts.shard.unwrap_or(Shard::WHOLE);
    let done = |f: &String| atlas.has_image(f) || atlas.is_skipped(f);
    let todo: Vec<String> = files
        .iter()
        .filter(|f| shard.contains(f) && !done(f))
        .cloned()
        .collect();
    let already = files.iter().filter(|f| done(f)).count();
    event(BuildEvent::Started {
        files: files.len(),
        already,
        todo: todo.len(),
    });
    Ok(todo)
}

/// Build (or continue) the atlas `opts` describes with `net` (whose weights `source` names),
/// reporting through `event`; returns when done or when `stop` is set (what was done is saved).
pub fn build(
    net: &Network,
    source: &WeightsSource,
    opts: &BuildOptions,
    stop: &AtomicBool,
    event: &mut dyn FnMut(BuildEvent),
) -> Result<BuildSummary> {
    let specs = layer_specs(opts.layers.as_deref())?;
    let atlas = open_or_new(&opts.out, &model_identity(source), opts.top, specs)?;
    shard::claim(
        &opts.out,
        opts.shard,
        opts.out.join(atlas::ATLAS_FILE).is_file(),
    )?;
    let ids: Vec<String> = atlas.layers().iter().map(|l| l.id.clone()).collect();
    let todo = to_analyse(opts, &atlas, event)?;
    let root = opts
        .root
        .canonicalize()
        .unwrap_or_else(|_| opts.root.clone());
    write_root(&opts.out, &root)?;
    let mut run = Run {
        shapes: atlas.shapes(),
        atlas,
        out: opts.out.clone(),
        request: TapRequest::layers(ids.iter().map(String::as_str))?.with_head(false),
        analysed: 0,
        pending: None,
        last_save: Instant::now(),
    };
    let started = Instant::now();
    let mut stopped = false;
    let mut batch = Batch::default();
    for (rel, input) in decoders(&opts.root, todo, opts.batch).iter() {
        if stop.load(Ordering::SeqCst) || opts.stop_after.is_some_and(|n| run.analysed >= n) {
            stopped = true;
            break;
        }
        match input {
            Ok(input) => {
                batch.names.push(rel);
                batch.inputs.push(input);
            }
            Err(reason) => {
                run.atlas.skip(&rel, &reason)?;
                event(BuildEvent::Skipped(rel, reason));
            }
        }
        event(BuildEvent::Advanced);
        if batch.full(opts.batch, run.analysed, opts.stop_after) {
            run.add(net, &mut batch)?;
            batch.clear();
        }
        if run.last_save.elapsed() >= CHECKPOINT_EVERY {
            run.checkpoint()?;
        }
    }
    if !stopped {
        run.add(net, &mut batch)?;
    }
    run.checkpoint()?;
    Ok(BuildSummary {
        analysed: run.analysed,
        images: run.atlas.images().len(),
        skipped: run.atlas.skipped().len(),
        seconds: started.elapsed().as_secs_f64(),
        stopped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decoders hand over what a pass and its crops need, not the full-size original; a
    /// file that is not an image comes with its reason.
    #[test]
    fn decoded_images_come_without_their_originals() -> Result<()> {
        let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/samples");
        let dir = tempfile::tempdir()?;
        std::fs::copy(samples.join("chelsea.png"), dir.path().join("cat.png"))?;
        std::fs::write(dir.path().join("notes.txt"), "not an image")?;
        let todo = vec!["cat.png".to_string(), "notes.txt".to_string()];
        let mut got: Vec<_> = decoders(dir.path(), todo, 8).iter().collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        let [(cat, Ok(input)), (notes, Err(reason))] = got.as_slice() else {
            panic!("one image and one refusal");
        };
        assert_eq!((cat.as_str(), notes.as_str()), ("cat.png", "notes.txt"));
        assert_eq!(input.original.dimensions(), (0, 0));
        assert_eq!(
            input.crop.dimensions(),
            (INPUT_SIZE as u32, INPUT_SIZE as u32)
        );
        assert_eq!(input.tensor.len(), 3 * INPUT_SIZE * INPUT_SIZE);
        assert!(!reason.is_empty());
        Ok(())
    }

    /// `collection.json` is replaced, never rewritten in place: a file that shares its inode
    /// (a hard link, as a copy made with `cp -al` or a backup tool leaves it) keeps its bytes,
    /// and no temporary is left beside it.
    #[test]
    fn collection_json_is_replaced_atomically_not_rewritten_in_place() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let atlas = dir.path().join("photos.atlas");
        std::fs::create_dir_all(&atlas)?;
        let backup = dir.path().join("collection.json.backup");
        std::fs::write(&backup, r#"{"root":"/old/photos"}"#)?;
        std::fs::hard_link(&backup, atlas.join(COLLECTION_FILE))?;

        write_root(&atlas, Path::new("/new/photos"))?;

        assert_eq!(read_root(&atlas), Some(PathBuf::from("/new/photos")));
        assert_eq!(
            std::fs::read_to_string(&backup)?,
            r#"{"root":"/old/photos"}"#,
            "the other name of the old file was written through"
        );
        let names: Vec<String> = std::fs::read_dir(&atlas)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<_>>()?;
        assert_eq!(names, [COLLECTION_FILE], "nothing left beside it");
        Ok(())
    }
}
