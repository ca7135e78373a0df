//! Building a class summary over a folder ([`featurescope_maps::classes`]): the same decoding
//! threads, batches, checkpoints, stop/resume and shards as the atlas, a forward and a backward
//! pass per batch ([`featurescope_net::attribution::classes`]), then the graph's second pass
//! over up to `edge_images` images per class (skipped for a shard: it runs on the merged
//! summary).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use featurescope_maps::classes::{ClassSummary, Filed, LayerObservation, resolve_class};
use featurescope_net::attribution::classes::{ClassValues, class_pass, influences};
use featurescope_net::{
    Backend, Catalogue, InputImage, LeftOver, NetError, Network, WeightsSource,
};

use super::{Batch, BuildEvent, BuildSummary, CHECKPOINT_EVERY, Shard, collection, decoders};

/// The graph's blocks, bottom to top: the stem's last layer and every block output.
pub const GRAPH_BLOCKS: [&str; 12] = [
    "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
    "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c",
];

/// What to build.
#[derive(Clone, Debug)]
pub struct ClassOptions {
    /// The folder: one sub-folder per class (or any layout with `predicted`).
    pub root: PathBuf,
    /// The summary file (continued if it holds a summary of the same settings).
    pub out: PathBuf,
    /// Layer ids or aliases; `None` = all 123 taps.
    pub layers: Option<Vec<String>>,
    /// Images per pass.
    pub batch: usize,
    /// Only this shard's files; `None`: all of them (and then the graph).
    pub shard: Option<Shard>,
    /// File every image under its top-1 class instead of its folder.
    pub predicted: bool,
    /// Share of a layer's summed channel maxima that its top channels reach.
    pub mass: f64,
    /// Graph nodes per block.
    pub nodes: usize,
    /// Images per class whose influences the edges average.
    pub edge_images: usize,
    /// Stop (as if asked to) after this many images (tests).
    pub stop_after: Option<usize>,
}

/// The summary's layers: ids and channel counts (all 123 taps for `None`).
pub fn class_layers(names: Option<&[String]>) -> Result<Vec<(String, usize)>> {
    Ok(super::layer_specs(names)?
        .into_iter()
        .map(|(id, shape, _)| (id, shape[0]))
        .collect())
}

/// Each file's class by its top folder (case-insensitive name, else index); `None` for files
/// outside any folder. A folder that names no class is refused, by name, before any work.
pub fn classes_by_folder(names: &[String], files: &[String]) -> Result<Vec<Option<usize>>> {
    let mut unknown = std::collections::BTreeSet::new();
    let out: Vec<Option<usize>> = files
        .iter()
        .map(|f| {
            let (folder, _) = f.split_once('/')?;
            let class = resolve_class(names, folder);
            if class.is_none() {
                unknown.insert(folder.to_string());
            }
            class.map(|c| c as usize)
        })
        .collect();
    if !unknown.is_empty() {
        let list: Vec<String> = unknown.into_iter().collect();
        bail!(
            "folder{} {} name{} no class of the model ({} classes: {}); name each folder as a \
             class or its index, or pass --predicted",
            if list.len() > 1 { "s" } else { "" },
            list.join(", "),
            if list.len() > 1 { "" } else { "s" },
            names.len(),
            names
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(out)
}

/// Open the summary at `out` to continue it, or start one; refuses one of other settings.
fn open_or_new(out: &Path, model: &str, fresh: ClassSummary) -> Result<ClassSummary> {
    if !out.is_file() {
        return Ok(fresh);
    }
    let existing = ClassSummary::load(out)?;
    if existing.model() != model
        || existing.mass().to_bits() != fresh.mass().to_bits()
        || existing.names() != fresh.names()
        || existing.layers() != fresh.layers()
    {
        bail!(
            "{} holds a summary of other settings (model {}, mass {}, {} layers); choose another \
             output, or the same weights, --mass and --layers to continue it",
            out.display(),
            existing.model(),
            existing.mass(),
            existing.layers().len()
        );
    }
    Ok(existing)
}

/// A summary file is one shard's (or the whole folder's) for good: a part resumes only as its
/// own shard, a whole build never continues a part (merge the parts first).
fn claim(out: &Path, shard: Option<Shard>, mut summary: ClassSummary) -> Result<ClassSummary> {
    let wanted = shard
        .filter(|s| !s.is_whole())
        .map(|s| (s.index() as u32, s.count() as u32));
    let describe = |s: Option<(u32, u32)>| match s {
        Some((i, n)) => format!("shard {i}/{n}"),
        None => "the whole folder".to_string(),
    };
    if out.is_file() {
        if summary.shard() != wanted {
            bail!(
                "{} holds a summary of {}, not of {}; choose another output",
                out.display(),
                describe(summary.shard()),
                describe(wanted)
            );
        }
    } else {
        summary.set_shard(wanted)?;
    }
    Ok(summary)
}

struct Run<'a> {
    net: &'a Network,
    summary: ClassSummary,
    out: PathBuf,
    layer_index: Vec<usize>,
    predicted: bool,
    analysed: usize,
    last_save: Instant,
}

impl Run<'_> {
    fn add(&mut self, batch: &Batch, classes: &[usize]) -> Result<()> {
        if batch.inputs.is_empty() {
            return Ok(());
        }
        let found = self.class_values(&batch.inputs, (!self.predicted).then_some(classes))?;
        for (rel, values) in batch.names.iter().zip(found) {
            let ClassValues {
                predicted,
                class,
                layers,
            } = values;
            let obs: Vec<LayerObservation> = layers
                .into_iter()
                .map(|l| LayerObservation {
                    maxima: l.maxima,
                    attribution: l.attribution,
                })
                .collect();
            let filed = Filed {
                class: class as u32,
                predicted: predicted as u32,
            };
            self.summary.add_image(rel, filed, &obs)?;
            self.analysed += 1;
        }
        Ok(())
    }

    /// Each image's values (filed under `wanted`'s class, else its predicted one). On the CPU
    /// each image is a pass of its own on one thread, the images side by side
    /// ([`Network::map_images`]): an image gives the same bytes whichever batch or shard it
    /// falls in, on any number of cores. On a GPU one pass over the batch.
    fn class_values(
        &self,
        inputs: &[InputImage],
        wanted: Option<&[usize]>,
    ) -> Result<Vec<ClassValues>> {
        let (model, device) = (self.net.model(), &self.net.device().device);
        if self.net.device().backend != Backend::Cpu {
            return Ok(class_pass(
                model,
                device,
                inputs,
                wanted,
                &self.layer_index,
            )?);
        }
        let one = |i: usize, input: &InputImage| {
            let no_class = || NetError::Attribution(format!("no class given for image {i}"));
            let wanted = wanted
                .map(|w| w.get(i..=i).ok_or_else(no_class))
                .transpose()?;
            let image = std::slice::from_ref(input);
            class_pass(model, device, image, wanted, &self.layer_index)?
                .pop()
                .ok_or_else(|| NetError::Attribution("a class pass gave no values".into()))
        };
        Ok(self.net.map_images(inputs, LeftOver::OneThread, one)?)
    }

    fn checkpoint(&mut self) -> Result<()> {
        self.summary.save(&self.out)?;
        self.last_save = Instant::now();
        Ok(())
    }
}

/// Build (or continue) the summary `opts` describes with `net` (whose weights `source` names),
/// reporting through `event`; returns when done or when `stop` is set (what was done is saved).
pub fn build_classes(
    net: &Network,
    source: &WeightsSource,
    opts: &ClassOptions,
    stop: &AtomicBool,
    event: &mut dyn FnMut(BuildEvent),
) -> Result<BuildSummary> {
    let names = net.weights().head.labels.clone();
    if names.is_empty() {
        bail!("these weights have no classifier head: a class summary needs one");
    }
    let layers = class_layers(opts.layers.as_deref())?;
    let files = collection(&opts.root, &mut |e| {
        event(BuildEvent::Skipped(e, String::new()))
    })?;
    let by_folder = if opts.predicted {
        vec![Some(0); files.len()]
    } else {
        classes_by_folder(&names, &files)?
    };
    let model = super::model_identity(source);
    let fresh = ClassSummary::new(&model, opts.mass, names, layers.clone())?;
    let summary = claim(
        &opts.out,
        opts.shard,
        open_or_new(&opts.out, &model, fresh)?,
    )?;
    let cat = Catalogue::inception_v3();
    let layer_index = layers
        .iter()
        .map(|(id, _)| cat.position(id).context("layer position"))
        .collect::<Result<Vec<usize>>>()?;
    let mut run = Run {
        net,
        summary,
        out: opts.out.clone(),
        layer_index,
        predicted: opts.predicted,
        analysed: 0,
        last_save: Instant::now(),
    };
    let started = Instant::now();
    let stopped = count_pass(&mut run, opts, &files, &by_folder, stop, event)?;
    run.checkpoint()?;
    let stopped = stopped || (opts.shard.is_none() && graph_pass(&mut run, opts, stop, event)?);
    run.checkpoint()?;
    Ok(BuildSummary {
        analysed: run.analysed,
        images: run.summary.images().len(),
        skipped: run.summary.skipped().len(),
        seconds: started.elapsed().as_secs_f64(),
        stopped,
    })
}

/// The first pass: every file of the shard not in the summary yet; `true` when stopped.
fn count_pass(
    run: &mut Run<'_>,
    opts: &ClassOptions,
    files: &[String],
    by_folder: &[Option<usize>],
    stop: &AtomicBool,
    event: &mut dyn FnMut(BuildEvent),
) -> Result<bool> {
    let shard = opts.shard.unwrap_or(Shard::WHOLE);
    let class_of: BTreeMap<&String, Option<usize>> =
        files.iter().zip(by_folder.iter().copied()).collect();
    let done = |f: &String| run.summary.is_done(f);
    let todo: Vec<String> = files
        .iter()
        .filter(|f| shard.contains(f) && !done(f))
        .cloned()
        .collect();
    event(BuildEvent::Started {
        files: files.len(),
        already: files.iter().filter(|f| done(f)).count(),
        todo: todo.len(),
    });
    let mut batch = Batch::default();
    let mut classes = Vec::new();
    for (rel, input) in decoders(&opts.root, todo, opts.batch).iter() {
        if stop.load(Ordering::SeqCst) || opts.stop_after.is_some_and(|n| run.analysed >= n) {
            return Ok(true);
        }
        match (input, class_of.get(&rel).copied().flatten()) {
            (Ok(input), Some(class)) => {
                batch.names.push(rel);
                batch.inputs.push(input);
                classes.push(class);
            }
            (Ok(_), None) => skip(run, rel, "not in a class folder".into(), event)?,
            (Err(reason), _) => skip(run, rel, reason, event)?,
        }
        event(BuildEvent::Advanced);
        if batch.full(opts.batch, run.analysed, opts.stop_after) {
            run.add(&batch, &classes)?;
            batch.clear();
            classes.clear();
        }
        if run.last_save.elapsed() >= CHECKPOINT_EVERY {
            run.checkpoint()?;
        }
    }
    run.add(&batch, &classes)?;
    Ok(false)
}

fn skip(
    run: &mut Run<'_>,
    rel: String,
    reason: String,
    event: &mut dyn FnMut(BuildEvent),
) -> Result<()> {
    run.summary.skip(&rel, &reason)?;
    event(BuildEvent::Skipped(rel, reason));
    Ok(())
}

/// The second pass: each class's graph over its edge images; `true` when stopped.
fn graph_pass(
    run: &mut Run<'_>,
    opts: &ClassOptions,
    stop: &AtomicBool,
    event: &mut dyn FnMut(BuildEvent),
) -> Result<bool> {
    let blocks: Vec<String> = GRAPH_BLOCKS.iter().map(|b| b.to_string()).collect();
    if blocks.iter().any(|b| run.summary.layer_index(b).is_none()) || opts.nodes == 0 {
        return Ok(false);
    }
    run.summary.start_graphs(&blocks, opts.nodes)?;
    let cat = Catalogue::inception_v3();
    let classes: Vec<u32> = run.summary.classes().keys().copied().collect();
    let mut work = Vec::new();
    for &c in &classes {
        let graph = run.summary.classes()[&c].graph().context("graph")?;
        let nodes = graph
            .nodes
            .iter()
            .map(|(id, ch)| Ok((cat.position(id).context("block")?, ch.clone())))
            .collect::<Result<Vec<_>>>()?;
        let todo: Vec<String> = run
            .summary
            .edge_images(c, opts.edge_images)
            .into_iter()
            .filter(|p| !graph.is_done(p))
            .collect();
        work.push((c, nodes, todo));
    }
    event(BuildEvent::Started {
        files: work.iter().map(|w| w.2.len()).sum(),
        already: 0,
        todo: work.iter().map(|w| w.2.len()).sum(),
    });
    for (class, nodes, todo) in work {
        if edges_of_class(run, opts, class, &nodes, todo, stop, event)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn edges_of_class(
    run: &mut Run<'_>,
    opts: &ClassOptions,
    class: u32,
    nodes: &[(usize, Vec<u32>)],
    todo: Vec<String>,
    stop: &AtomicBool,
    event: &mut dyn FnMut(BuildEvent),
) -> Result<bool> {
    let mut batch = Batch::default();
    let rx = decoders(&opts.root, todo, opts.batch);
    let mut inputs = rx.iter().peekable();
    while let Some((rel, input)) = inputs.next() {
        if stop.load(Ordering::SeqCst) {
            return Ok(true);
        }
        let input =
            input.map_err(|e| anyhow::anyhow!("{rel} changed since it was counted: {e}"))?;
        batch.names.push(rel);
        batch.inputs.push(input);
        event(BuildEvent::Advanced);
        if batch.inputs.len() >= opts.batch.max(1) || inputs.peek().is_none() {
            add_edges(run, class, nodes, &batch)?;
            batch.clear();
            if run.last_save.elapsed() >= CHECKPOINT_EVERY {
                run.checkpoint()?;
            }
        }
    }
    Ok(false)
}

fn add_edges(
    run: &mut Run<'_>,
    class: u32,
    nodes: &[(usize, Vec<u32>)],
    batch: &Batch,
) -> Result<()> {
    let (model, device) = (run.net.model(), &run.net.device().device);
    // As the counting pass: on the CPU each image alone, the images side by side.
    let found = match run.net.device().backend {
        Backend::Cpu => run
            .net
            .map_images(&batch.inputs, LeftOver::OneThread, |_, input| {
                influences(model, device, std::slice::from_ref(input), nodes)?
                    .pop()
                    .ok_or_else(|| NetError::Attribution("an edge pass gave no values".into()))
            })?,
        _ => influences(model, device, &batch.inputs, nodes)?,
    };
    let graph = run
        .summary
        .class_mut(class)
        .and_then(|c| c.graph_mut())
        .context("graph")?;
    for (rel, pairs) in batch.names.iter().zip(found) {
        for (p, weights) in pairs.iter().enumerate() {
            graph.add(p, weights);
        }
        graph.mark_done(rel);
    }
    Ok(())
}
