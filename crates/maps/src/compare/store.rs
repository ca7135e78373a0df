//! The report file: one JSON document, written atomically in canonical form (so equal reports
//! are equal bytes), read back with every part checked.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::channels::{ChannelPair, Sum};
use super::report::{LayerCompare, Report, Settings, Wide, check_layers};
use crate::atlas::{Entry, TopK};
use crate::error::MapsError;
use crate::save::{Overwrite, write_atomic};

const FORMAT_NAME: &str = "featurescope-compare";
/// Version of the report format.
pub const FORMAT_VERSION: u32 = 1;
/// Largest report accepted by [`Report::load`], in bytes.
pub const MAX_FILE_BYTES: u64 = 512 << 20;
/// Bound on an HSIC sum's bit length: f64's range and 2^64 batches.
const WIDE_BITS: u32 = 1074 + 1024 + 64;
/// Bound on a channel sum's bit length: 2^32 products below 2^256.
const SUM_BITS: u32 = 32 + 256 + 298;

/// A top-K entry as stored: image index, score, row, column.
type EntryFile = (u32, f32, u32, u32);

#[derive(Serialize, Deserialize)]
struct ChannelFile {
    n: u64,
    /// Σa, Σb, Σa², Σb², Σab (exact, `<hex>p<exp>`).
    sums: [String; 5],
    top_a: Vec<EntryFile>,
    top_b: Vec<EntryFile>,
}

#[derive(Serialize, Deserialize)]
struct LayerFile {
    id: String,
    shape: [usize; 3],
    batches: u64,
    /// Σ HSIC₁(K,L), Σ HSIC₁(K,K), Σ HSIC₁(L,L) (exact).
    hsic: [String; 3],
    channels: Vec<ChannelFile>,
}

#[derive(Serialize, Deserialize)]
struct ReportFile {
    format: String,
    version: u32,
    model_a: String,
    model_b: String,
    batch: usize,
    top: usize,
    files: u64,
    digest: String,
    root: Option<String>,
    /// Where models A and B were loaded from, when known.
    #[serde(default)]
    sources: Option<[String; 2]>,
    /// Batches done, as inclusive ranges.
    batches_done: Vec<[u64; 2]>,
    images: Vec<String>,
    skipped: BTreeMap<String, String>,
    layers: Vec<LayerFile>,
}

fn entries_out(t: &TopK) -> Vec<EntryFile> {
    t.entries()
        .iter()
        .map(|e| (e.image, e.score, e.y, e.x))
        .collect()
}

fn ranges(set: &BTreeSet<u64>) -> Vec<[u64; 2]> {
    let mut out: Vec<[u64; 2]> = Vec::new();
    for &b in set {
        match out.last_mut() {
            Some(r) if r[1] + 1 == b => r[1] = b,
            _ => out.push([b, b]),
        }
    }
    out
}

impl Report {
    /// Writes the report to `path` atomically, in canonical form.
    pub fn save(&self, path: &Path, overwrite: Overwrite) -> Result<(), MapsError> {
        let mut canonical = self.clone();
        canonical.canonicalize();
        let file = canonical.to_file();
        write_atomic(path, overwrite, |w| {
            serde_json::to_writer(&mut *w, &file).map_err(std::io::Error::other)
        })
    }

    fn to_file(&self) -> ReportFile {
        let s = &self.settings;
        ReportFile {
            format: FORMAT_NAME.into(),
            version: FORMAT_VERSION,
            model_a: s.model_a.clone(),
            model_b: s.model_b.clone(),
            batch: s.batch,
            top: s.top,
            files: s.files,
            digest: s.digest.clone(),
            root: self.root.clone(),
            sources: self.sources.clone(),
            batches_done: ranges(&self.batches),
            images: self.images.clone(),
            skipped: self.skipped.clone(),
            layers: self.layers.iter().map(layer_out).collect(),
        }
    }

    /// Reads a report, checking format, version, limits, sums and rankings; errors name the
    /// file. The result is canonical.
    pub fn load(path: &Path) -> Result<Report, MapsError> {
        let bad = |message: String| MapsError::CompareFile {
            path: path.to_path_buf(),
            message,
        };
        let file = std::fs::File::open(path).map_err(|e| MapsError::io(path, e))?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| MapsError::io(path, e))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(bad(format!("larger than {MAX_FILE_BYTES} bytes")));
        }
        let file: ReportFile = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("not a comparison report: {e}")))?;
        if file.format != FORMAT_NAME {
            return Err(bad(format!(
                "format is {:?}, not {FORMAT_NAME:?}",
                file.format
            )));
        }
        if file.version != FORMAT_VERSION {
            return Err(bad(format!(
                "version {} is not supported (this program reads version {FORMAT_VERSION})",
                file.version
            )));
        }
        let mut report = from_file(file).map_err(bad)?;
        report.canonicalize();
        Ok(report)
    }
}

fn layer_out(l: &LayerCompare) -> LayerFile {
    LayerFile {
        id: l.id.clone(),
        shape: l.shape,
        batches: l.batches,
        hsic: l.hsic.map(|s| s.encode()),
        channels: l
            .channels
            .iter()
            .map(|p| ChannelFile {
                n: p.count,
                sums: p.sums.map(|s| s.encode()),
                top_a: entries_out(&p.top[0]),
                top_b: entries_out(&p.top[1]),
            })
            .collect(),
    }
}

fn from_file(f: ReportFile) -> Result<Report, String> {
    let settings = Settings {
        model_a: f.model_a,
        model_b: f.model_b,
        batch: f.batch,
        top: f.top,
        files: f.files,
        digest: f.digest,
    };
    let specs: Vec<(String, [usize; 3])> =
        f.layers.iter().map(|l| (l.id.clone(), l.shape)).collect();
    check_layers(&specs)?;
    let mut report = Report::new(settings, &specs).map_err(|e| e.to_string())?;
    let mut batches = BTreeSet::new();
    for [lo, hi] in f.batches_done {
        if lo > hi || hi >= report.settings.batch_count() {
            return Err(format!("batch range {lo}..={hi} is outside the collection"));
        }
        batches.extend(lo..=hi);
    }
    let images = f.images.len();
    if !f.images.windows(2).all(|w| w[0] < w[1]) {
        return Err("the images are not sorted, or one is listed twice".into());
    }
    for (layer, lf) in report.layers.iter_mut().zip(f.layers) {
        layer_in(layer, lf, images, batches.len() as u64)
            .map_err(|e| format!("layer {}: {e}", layer.id))?;
    }
    report.batches = batches;
    report.images = f.images;
    report.skipped = f.skipped;
    report.root = f.root;
    report.sources = f.sources;
    Ok(report)
}

fn layer_in(
    layer: &mut LayerCompare,
    f: LayerFile,
    images: usize,
    batches: u64,
) -> Result<(), String> {
    if f.batches > batches {
        return Err(format!(
            "{} batches in the estimate, {batches} done",
            f.batches
        ));
    }
    if f.channels.len() != layer.shape[0] {
        return Err(format!(
            "{} channels, the shape says {}",
            f.channels.len(),
            layer.shape[0]
        ));
    }
    layer.batches = f.batches;
    for (s, text) in layer.hsic.iter_mut().zip(&f.hsic) {
        *s = Wide::decode(text, WIDE_BITS)?;
    }
    let k = layer.channels.first().map_or(0, |p| p.top[0].k());
    for (p, cf) in layer.channels.iter_mut().zip(f.channels) {
        *p = channel_in(cf, k, images)?;
    }
    Ok(())
}

fn channel_in(f: ChannelFile, k: usize, images: usize) -> Result<ChannelPair, String> {
    if f.n > images as u64 {
        return Err(format!("a channel counts {} images of {images}", f.n));
    }
    let mut p = ChannelPair::new(k);
    p.count = f.n;
    for (s, text) in p.sums.iter_mut().zip(&f.sums) {
        *s = Sum::decode(text, SUM_BITS)?;
    }
    for (top, list) in p.top.iter_mut().zip([f.top_a, f.top_b]) {
        *top = top_in(list, k, images)?;
    }
    Ok(p)
}

/// A stored ranking: at most `k` entries, images in range and unique, finite scores, in
/// ranking order (images compare by index: the table is sorted by path).
fn top_in(list: Vec<EntryFile>, k: usize, images: usize) -> Result<TopK, String> {
    if list.len() > k {
        return Err(format!(
            "a ranking holds {} entries, more than top {k}",
            list.len()
        ));
    }
    let entries: Vec<Entry> = list
        .into_iter()
        .map(|(image, score, y, x)| Entry { image, score, y, x })
        .collect();
    let valid = entries
        .iter()
        .all(|e| (e.image as usize) < images && e.score.is_finite())
        && entries
            .windows(2)
            .all(|w| Entry::rank_cmp(&w[0], &w[1]) == std::cmp::Ordering::Less)
        && entries
            .iter()
            .map(|e| e.image)
            .collect::<BTreeSet<_>>()
            .len()
            == entries.len();
    if !valid {
        return Err("a ranking is out of order, repeats an image or names an unknown one".into());
    }
    Ok(TopK::from_sorted(k, entries))
}
