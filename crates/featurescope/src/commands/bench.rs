//! `featurescope bench`: the forward pass timed with every tap read back to host memory (or
//! only the head and one layer, as the app does on a GPU), beside the plain burn forward on
//! request; `--soak N` runs a long session instead (`soak.rs`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use featurescope_net::{
    Activations, Catalogue, ComputeDevice, InputImage, NetError, Network, PlainBaseline,
    TapRequest, preprocess,
};

use crate::commands::bench_rows::{Filter, FolderRun, MethodRuns, MethodTimes};
use crate::commands::soak;
use crate::common::{NetArgs, load_network, progress};

/// Arguments of `bench`.
#[derive(clap::Args, Debug)]
pub(crate) struct BenchArgs {
    /// The image.
    #[arg(long, required_unless_present = "soak")]
    image: Option<PathBuf>,
    #[command(flatten)]
    net: NetArgs,
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
    /// Also time Grad-CAM and guided backprop for one filter (`--filter`) against the
    /// forward, and a feature-visualization step against a forward + backward at its size,
    /// interleaved with the forward runs.
    #[arg(long, conflicts_with = "soak")]
    methods: bool,
    /// The filter `--methods` explains and visualizes, as LAYER:CHANNEL.
    #[arg(long, default_value = "Mixed_6e:100", requires = "methods")]
    filter: Filter,
    /// Also build an atlas of this folder (every tap, in a temporary folder) after the
    /// forward runs, and set its images/s against the single-image forward rate.
    #[arg(long, value_name = "DIR", conflicts_with = "soak")]
    folder: Option<PathBuf>,
    /// Images per forward pass of the `--folder` atlas; above 1, also time a forward of that
    /// many copies of the image (every tap handed over as the folder commands take it),
    /// interleaved with the single-image runs.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// With --soak: through the CLI's own path, or the app's worker.
    #[arg(long, value_enum, default_value_t = soak::Via::Cli, requires = "soak")]
    via: soak::Via,
}

/// Run `bench` (or the soak).
pub(crate) fn run(a: BenchArgs) -> Result<()> {
    if let Some(n) = a.soak {
        return soak::run(n, a.via, &a.net);
    }
    let image = a.image.clone().context("--image is required")?;
    let report = measure(&image, &a)?;
    match a.json {
        true => println!("{}", report.json()),
        false => report.print(),
    }
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

/// Minimum and median of a list of times.
pub(crate) fn min_median(mut times: Vec<f64>) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    let n = times.len();
    match n {
        0 => (f64::NAN, f64::NAN),
        _ if n % 2 == 1 => (times[0], times[n / 2]),
        _ => (times[0], (times[n / 2 - 1] + times[n / 2]) / 2.0),
    }
}

pub(crate) fn time_ms<T>(f: impl FnOnce() -> Result<T>) -> Result<(f64, T)> {
    let t = Instant::now();
    let out = std::hint::black_box(f()?);
    Ok((t.elapsed().as_secs_f64() * 1e3, out))
}

/// What one pass brought back to host memory.
#[derive(Default)]
struct ReadBack {
    /// The layers' ids, in order.
    layers: Vec<String>,
    /// Whether the head's output came back.
    head: bool,
    /// Bytes of the layers' and the head's values.
    bytes: usize,
}

impl ReadBack {
    fn of(acts: &Activations) -> Self {
        let floats: usize = acts.layers.iter().map(|l| l.data.len()).sum::<usize>()
            + acts.head.as_ref().map_or(0, |h| h.probabilities.len());
        Self {
            layers: acts.layers.iter().map(|l| l.id.clone()).collect(),
            head: acts.head.is_some(),
            bytes: floats * std::mem::size_of::<f32>(),
        }
    }
}

/// What `featurescope bench` measured.
struct BenchReport {
    device: ComputeDevice,
    weights: String,
    load_ms: f64,
    warmup_ms: f64,
    /// Min and median of ours.
    forward: (f64, f64),
    /// Every timed run of ours, in order (ms).
    forward_all: Vec<f64>,
    runs: usize,
    taps: usize,
    /// The one layer read back (with the head), or None: all of them.
    read_only: Option<String>,
    /// What the last timed pass read back.
    read_back: ReadBack,
    /// The plain burn forward: warm-up, min, median.
    plain: Option<(f64, f64, f64)>,
    /// Every timed run of the plain forward, in order (ms).
    plain_all: Vec<f64>,
    /// `--methods`.
    methods: Option<MethodTimes>,
    /// `--folder`.
    folder: Option<FolderRun>,
    /// `--batch` above 1: every timed batch forward (ms per image), in order.
    batched: Vec<f64>,
}

/// The layer `--read-only` names, as its id.
fn read_only_id(name: Option<&String>) -> Result<Option<String>> {
    name.map(|name| {
        Catalogue::inception_v3()
            .resolve(name)
            .map(|l| l.id.clone())
            .ok_or_else(|| NetError::UnknownLayer(name.clone()).into())
    })
    .transpose()
}

/// One timed pass of ours: everything read back, or the head and `read_only`.
fn pass(
    net: &Network,
    input: &InputImage,
    request: &TapRequest,
    read_only: Option<&str>,
) -> Result<(f64, ReadBack)> {
    let (ms, acts) = time_ms(|| {
        Ok(match read_only {
            Some(id) => net.run_resident(input, request)?.read_some(&[id])?,
            None => net.run(input, request)?,
        })
    })?;
    Ok((ms, ReadBack::of(&acts)))
}

/// Time ours (and the plain forward, interleaved) after one warm-up each.
fn measure(image: &std::path::Path, a: &BenchArgs) -> Result<BenchReport> {
    let runs = a.runs.max(1);
    let input = preprocess::load_input(image)?;
    let read_only = read_only_id(a.read_only.as_ref())?;
    let loaded = load_network(&a.net)?;
    let net = &loaded.net;
    let plain = a.compare_plain.then(|| net.plain_baseline());
    let request = TapRequest::all();
    let run = || pass(net, &input, &request, read_only.as_deref());
    let run_plain = |p: &PlainBaseline| -> Result<f64> { Ok(time_ms(|| Ok(p.run(&input)?))?.0) };
    let mut methods = match a.methods {
        true => Some(MethodRuns::new(net, &input, a.filter.clone())?),
        false => None,
    };
    // Warm-up: shader compilation, autotuning, allocator growth.
    let (warmup_ms, mut read_back) = run()?;
    let plain_warmup_ms = plain.as_ref().map(run_plain).transpose()?;
    if let Some(m) = methods.as_mut() {
        m.run_once()?;
        m.clear();
    }
    // `--batch`: copies of the image in one pass, each tap handed over as the folder commands
    // take it (`visit_batch_layers`: in place on the CPU, read back on a GPU), warmed up like
    // the rest.
    let batch = (a.batch > 1 && read_only.is_none()).then(|| vec![input.clone(); a.batch]);
    let batch_pass =
        |inputs: &[InputImage]| net.visit_batch_layers(inputs, &request, &|_, _, _, _| {});
    if let Some(inputs) = &batch {
        batch_pass(inputs)?;
    }
    let mut batched = Vec::new();
    let bar = progress(runs, "bench");
    let (mut times, mut plain_times) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    // Interleaved, so both see the same machine state (clock, other load).
    for _ in 0..runs {
        let (ms, got) = run()?;
        times.push(ms);
        read_back = got;
        if let Some(p) = &plain {
            plain_times.push(run_plain(p)?);
        }
        if let Some(m) = methods.as_mut() {
            m.run_once()?;
        }
        if let Some(inputs) = &batch {
            batched.push(time_ms(|| Ok(batch_pass(inputs)?))?.0 / inputs.len() as f64);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let folder = a
        .folder
        .as_deref()
        .map(|dir| FolderRun::measure(net, &loaded.source, dir, a.batch))
        .transpose()?;
    Ok(BenchReport {
        device: net.device().clone(),
        weights: net.weights().source.to_string(),
        load_ms: loaded.load_ms,
        warmup_ms,
        forward: min_median(times.clone()),
        forward_all: times,
        runs,
        taps: request.layer_count(),
        read_only,
        read_back,
        plain_all: plain_times.clone(),
        plain: plain_warmup_ms.map(|w| {
            let (min, median) = min_median(plain_times);
            (w, min, median)
        }),
        methods: methods.map(MethodRuns::finish),
        folder,
        batched,
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
            "forward_ms": self.forward_all.clone(),
            "runs": self.runs,
            "taps": self.taps,
            "read_back": self.read_only.as_deref().unwrap_or("all"),
            "read_back_layers": self.read_back.layers,
            "read_back_head": self.read_back.head,
            "read_back_bytes": self.read_back.bytes,
            "peak_rss_mb": peak_rss_mb(),
        });
        if let (Some((warmup, pmin, pmedian)), Some(obj)) = (self.plain, out.as_object_mut()) {
            obj.insert("plain_warmup_ms".into(), warmup.into());
            obj.insert("plain_ms_min".into(), pmin.into());
            obj.insert("plain_ms_median".into(), pmedian.into());
            obj.insert("plain_ms".into(), self.plain_all.clone().into());
            obj.insert("ratio_to_plain_median".into(), (median / pmedian).into());
        }
        if let (false, Some(obj)) = (self.batched.is_empty(), out.as_object_mut()) {
            let (_, per_image) = min_median(self.batched.clone());
            obj.insert("batch_ms_per_image".into(), self.batched.clone().into());
            obj.insert("batch_ms_per_image_median".into(), per_image.into());
            obj.insert("batch_ratio_to_forward".into(), (per_image / median).into());
        }
        let rows = [
            self.methods.as_ref().map(|m| m.json(median)),
            self.folder.as_ref().map(|f| f.json(median)),
        ];
        if let Some(obj) = out.as_object_mut() {
            for row in rows.into_iter().flatten() {
                if let serde_json::Value::Object(fields) = row {
                    obj.extend(fields);
                }
            }
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
        if !self.batched.is_empty() {
            let (min, per_image) = min_median(self.batched.clone());
            println!(
                "batch     min {min:.1} ms, median {per_image:.1} ms per image (copies of the image \
                 in one pass, every tap handed over as the folder commands take it) = {:.2}x the \
                 single-image forward",
                per_image / median
            );
        }
        if let Some(m) = &self.methods {
            m.print(median);
        }
        if let Some(f) = &self.folder {
            f.print(median);
        }
        println!("peak RSS  {:.0} MB", peak_rss_mb());
    }
}
