//! The report of two models compared over a collection: per layer the HSIC sums of linear CKA,
//! per channel the statistics of its maximum under both models, and which batches are in.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::channels::{ChannelPair, Peak, Side};
use super::hsic::{MIN_BATCH, cka, unbiased_hsic};
use crate::atlas::{Entry, Fixed};
use crate::error::MapsError;

/// Exact sums of arbitrary finite `f64` (the per-batch HSIC values).
pub(crate) type Wide = Fixed<36, 1074>;

/// Most layers in one report.
pub const MAX_LAYERS: usize = 4096;
/// Largest `--top`.
pub const MAX_TOP: usize = 1000;
/// Largest `--batch`.
pub const MAX_BATCH: usize = 4096;

/// What a report was made with: continuing or merging needs all of it equal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Identity of model A's weights.
    pub model_a: String,
    /// Identity of model B's weights.
    pub model_b: String,
    /// Images per batch (the CKA estimator's minibatch), at least 4.
    pub batch: usize,
    /// Images kept per channel and model for the top-K overlap.
    pub top: usize,
    /// Files in the collection (batches are its files in path order, `batch` at a time).
    pub files: u64,
    /// Fingerprint of the collection's file list.
    pub digest: String,
}

impl Settings {
    /// How many batches the collection has.
    pub fn batch_count(&self) -> u64 {
        self.files.div_ceil(self.batch.max(1) as u64)
    }

    fn check(&self) -> Result<(), String> {
        if !(MIN_BATCH..=MAX_BATCH).contains(&self.batch) {
            return Err(format!(
                "batch {} is outside {MIN_BATCH}..={MAX_BATCH} (the unbiased HSIC needs 4 images)",
                self.batch
            ));
        }
        if !(1..=MAX_TOP).contains(&self.top) {
            return Err(format!("top {} is outside 1..={MAX_TOP}", self.top));
        }
        Ok(())
    }
}

/// One layer compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerCompare {
    /// torchvision id.
    pub id: String,
    /// `[C, H, W]`.
    pub shape: [usize; 3],
    /// Σ HSIC₁(K, L), Σ HSIC₁(K, K), Σ HSIC₁(L, L) over the batches, exact.
    pub(crate) hsic: [Wide; 3],
    /// Batches in the CKA estimate (those of at least 4 images).
    pub(crate) batches: u64,
    pub(crate) channels: Vec<ChannelPair>,
}

/// How one channel changed between the models.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChannelChange {
    /// Channel index.
    pub channel: usize,
    /// Correlation of its maximum under A and B across the images (`None`: constant, or
    /// fewer than two images).
    pub correlation: Option<f64>,
    /// Jaccard overlap of its top-K images under A and under B.
    pub jaccard: f64,
}

impl LayerCompare {
    fn new(id: &str, shape: [usize; 3], top: usize) -> Self {
        Self {
            id: id.to_string(),
            shape,
            hsic: [Wide::ZERO; 3],
            batches: 0,
            channels: (0..shape[0]).map(|_| ChannelPair::new(top)).collect(),
        }
    }

    /// Linear CKA between the models at this layer (`None` before any batch of 4 images, or
    /// for a constant layer).
    pub fn cka(&self) -> Option<f64> {
        let [kl, kk, ll] = self.hsic();
        cka(kl, kk, ll)
    }

    /// The HSIC sums `[K·L, K·K, L·L]`, rounded to `f64`.
    pub fn hsic(&self) -> [f64; 3] {
        self.hsic.map(|s| s.value())
    }

    /// Batches in the CKA estimate.
    pub fn batches(&self) -> u64 {
        self.batches
    }

    /// Every channel's change, most changed first: by correlation ascending (a channel
    /// constant under one model only counts as 0, constant under both as 1), then by the top-K
    /// overlap ascending, then by index.
    pub fn channel_changes(&self) -> Vec<ChannelChange> {
        let mut out: Vec<(f64, ChannelChange)> = self
            .channels
            .iter()
            .enumerate()
            .map(|(channel, p)| {
                let correlation = p.correlation();
                let key = correlation.unwrap_or_else(|| p.one_side_constant_key());
                let change = ChannelChange {
                    channel,
                    correlation,
                    jaccard: p.jaccard(),
                };
                (key, change)
            })
            .collect();
        out.sort_by(|(ka, a), (kb, b)| {
            ka.total_cmp(kb)
                .then(a.jaccard.total_cmp(&b.jaccard))
                .then(a.channel.cmp(&b.channel))
        });
        out.into_iter().map(|(_, c)| c).collect()
    }

    /// A channel's top images under one model, best first (image indices into
    /// [`Report::images`]).
    pub fn top(&self, channel: usize, side: Side) -> Option<&[Entry]> {
        let p = self.channels.get(channel)?;
        Some(p.top[side as usize].entries())
    }
}

impl ChannelPair {
    /// The sort key of a channel without a correlation.
    fn one_side_constant_key(&self) -> f64 {
        let [a, b, aa, bb, _] = &self.sums;
        let n = self.count;
        let var_a = super::channels::Sum::covariance_numerator(n, aa, a, a);
        let var_b = super::channels::Sum::covariance_numerator(n, bb, b, b);
        if n >= 2 && (var_a > 0.0) != (var_b > 0.0) {
            0.0
        } else {
            1.0
        }
    }
}

/// One layer of one batch: what [`Report::add_batch`] needs from the two passes.
#[derive(Clone, Debug, Default)]
pub struct BatchLayer {
    /// The `n x n` Gram matrices of the flattened activations under A and under B
    /// (row-major, images in the batch's order).
    pub gram: [Vec<f64>; 2],
    /// Each image's peak per channel under A and under B (`n x C`, image-major); `None` for
    /// a channel without a finite value.
    pub peaks: [Vec<Option<Peak>>; 2],
}

/// One batch's results.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Its index: files `index * batch ..` of the collection.
    pub index: u64,
    /// The images analysed, in path order.
    pub images: Vec<String>,
    /// Files of the batch that are not images the program opens, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Per layer, in the report's layer order.
    pub layers: Vec<BatchLayer>,
}

/// Two models compared over a collection of images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub(crate) settings: Settings,
    /// The collection's folder, when known (kept by a merge only when both agree).
    pub(crate) root: Option<String>,
    /// Where models A and B were loaded from (`bundled` or a path), when known (kept by a
    /// merge only when both agree).
    pub(crate) sources: Option<[String; 2]>,
    pub(crate) layers: Vec<LayerCompare>,
    pub(crate) batches: BTreeSet<u64>,
    pub(crate) images: Vec<String>,
    pub(crate) skipped: BTreeMap<String, String>,
}

impl Report {
    /// An empty report for these layers (`(id, [C, H, W])`).
    pub fn new(settings: Settings, layers: &[(String, [usize; 3])]) -> Result<Self, MapsError> {
        settings.check().map_err(MapsError::Compare)?;
        check_layers(layers).map_err(MapsError::Compare)?;
        Ok(Self {
            layers: layers
                .iter()
                .map(|(id, shape)| LayerCompare::new(id, *shape, settings.top))
                .collect(),
            settings,
            root: None,
            sources: None,
            batches: BTreeSet::new(),
            images: Vec::new(),
            skipped: BTreeMap::new(),
        })
    }

    /// What it was made with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The collection's folder, when recorded.
    pub fn root(&self) -> Option<&str> {
        self.root.as_deref()
    }

    /// Record the collection's folder.
    pub fn set_root(&mut self, root: Option<String>) {
        self.root = root;
    }

    /// Where models A and B were loaded from (`bundled` or a path), when recorded.
    pub fn sources(&self) -> Option<&[String; 2]> {
        self.sources.as_ref()
    }

    /// Record where models A and B were loaded from.
    pub fn set_sources(&mut self, sources: Option<[String; 2]>) {
        self.sources = sources;
    }

    /// The layers, in the order given to [`Report::new`].
    pub fn layers(&self) -> &[LayerCompare] {
        &self.layers
    }

    /// The layer with this id.
    pub fn layer(&self, id: &str) -> Option<&LayerCompare> {
        self.layers.iter().find(|l| l.id == id)
    }

    /// The images analysed, sorted by path (after [`Report::canonicalize`]).
    pub fn images(&self) -> &[String] {
        &self.images
    }

    /// Files that were not images, with the reason, by path.
    pub fn skipped(&self) -> &BTreeMap<String, String> {
        &self.skipped
    }

    /// The batches done.
    pub fn batches(&self) -> &BTreeSet<u64> {
        &self.batches
    }

    /// Whether every batch of the collection is in.
    pub fn is_complete(&self) -> bool {
        self.batches.len() as u64 == self.settings.batch_count()
    }

    /// Adds one batch's results. On error the report is unchanged.
    pub fn add_batch(&mut self, batch: Batch) -> Result<(), MapsError> {
        self.check_batch(&batch).map_err(MapsError::Compare)?;
        let n = batch.images.len();
        let first = self.images.len() as u32;
        self.images.extend(batch.images);
        let images = &self.images;
        let cmp = move |i: u32, j: u32| images.get(i as usize).cmp(&images.get(j as usize));
        for (layer, data) in self.layers.iter_mut().zip(&batch.layers) {
            add_layer(layer, data, n, first, cmp);
        }
        self.skipped.extend(batch.skipped);
        self.batches.insert(batch.index);
        Ok(())
    }

    fn check_batch(&self, batch: &Batch) -> Result<(), String> {
        if batch.index >= self.settings.batch_count() {
            return Err(format!(
                "batch {} is past the collection's end",
                batch.index
            ));
        }
        if self.batches.contains(&batch.index) {
            return Err(format!("batch {} is in the report already", batch.index));
        }
        if batch.images.len() + batch.skipped.len() > self.settings.batch {
            return Err(format!("batch {} holds too many files", batch.index));
        }
        if batch.layers.len() != self.layers.len() {
            return Err(format!(
                "batch {} has {} layers, the report {}",
                batch.index,
                batch.layers.len(),
                self.layers.len()
            ));
        }
        let n = batch.images.len();
        for (l, data) in self.layers.iter().zip(&batch.layers) {
            let c = l.shape[0];
            let sizes_ok = data.gram.iter().all(|g| g.len() == n * n)
                && data.peaks.iter().all(|p| p.len() == n * c);
            if !sizes_ok {
                return Err(format!("batch {}: {} has wrong sizes", batch.index, l.id));
            }
        }
        let known: HashSet<&String> = self.images.iter().collect();
        match batch.images.iter().find(|i| known.contains(i)) {
            Some(dup) => Err(format!("image {dup:?} is in the report already")),
            None => Ok(()),
        }
    }

    /// Adds another report's batches (made with the same settings and layers; no batch in
    /// both). Exact: the result equals one run over both parts.
    pub fn merge(&mut self, other: &Report) -> Result<(), MapsError> {
        self.check_merge(other).map_err(MapsError::Compare)?;
        self.images.extend(other.images.iter().cloned());
        self.canonicalize_images();
        let index: BTreeMap<&String, u32> = self.images.iter().zip(0u32..).collect();
        let map: Vec<u32> = other
            .images
            .iter()
            .map(|i| index.get(i).copied().unwrap_or(u32::MAX))
            .collect();
        let images = &self.images;
        let cmp = move |i: u32, j: u32| images.get(i as usize).cmp(&images.get(j as usize));
        for (mine, theirs) in self.layers.iter_mut().zip(&other.layers) {
            for (s, o) in mine.hsic.iter_mut().zip(&theirs.hsic) {
                s.merge(o);
            }
            mine.batches += theirs.batches;
            for (p, q) in mine.channels.iter_mut().zip(&theirs.channels) {
                p.merge(q, &map, cmp);
            }
        }
        self.batches.extend(other.batches.iter().copied());
        self.skipped
            .extend(other.skipped.iter().map(|(k, v)| (k.clone(), v.clone())));
        if self.root != other.root {
            self.root = None;
        }
        if self.sources != other.sources {
            self.sources = None;
        }
        Ok(())
    }

    fn check_merge(&self, other: &Report) -> Result<(), String> {
        if self.settings != other.settings {
            return Err(format!(
                "the reports differ in models, batch, top or collection ({:?} vs {:?})",
                self.settings, other.settings
            ));
        }
        let same_layers = self.layers.len() == other.layers.len()
            && self
                .layers
                .iter()
                .zip(&other.layers)
                .all(|(a, b)| a.id == b.id && a.shape == b.shape);
        if !same_layers {
            return Err("the reports compare different layers".into());
        }
        if let Some(b) = self.batches.intersection(&other.batches).next() {
            return Err(format!("both reports hold batch {b}"));
        }
        let mine: HashSet<&String> = self.images.iter().collect();
        match other.images.iter().find(|i| mine.contains(i)) {
            Some(i) => Err(format!("both reports hold image {i:?}")),
            None => Ok(()),
        }
    }

    /// Sorts the image table by path and renumbers the rankings (they keep their order).
    pub fn canonicalize(&mut self) {
        self.canonicalize_images();
    }

    fn canonicalize_images(&mut self) {
        if self.images.is_sorted() {
            return;
        }
        let mut order: Vec<u32> = (0..self.images.len() as u32).collect();
        order.sort_by(|&a, &b| self.images[a as usize].cmp(&self.images[b as usize]));
        let mut map = vec![0u32; order.len()];
        for (new, &old) in (0u32..).zip(&order) {
            map[old as usize] = new;
        }
        self.images = order
            .iter()
            .map(|&i| std::mem::take(&mut self.images[i as usize]))
            .collect();
        for layer in &mut self.layers {
            for p in &mut layer.channels {
                p.top.iter_mut().for_each(|t| t.remap(&map));
            }
        }
    }
}

/// Adds one layer of a batch: HSIC sums (batches of at least 4 images) and channel peaks.
fn add_layer(
    layer: &mut LayerCompare,
    data: &BatchLayer,
    n: usize,
    first: u32,
    cmp: impl Fn(u32, u32) -> Ordering + Copy,
) {
    let [k, l] = &data.gram;
    if let (Some(kl), Some(kk), Some(ll)) = (
        unbiased_hsic(k, l, n),
        unbiased_hsic(k, k, n),
        unbiased_hsic(l, l, n),
    ) {
        for (s, v) in layer.hsic.iter_mut().zip([kl, kk, ll]) {
            s.add_f64(v);
        }
        layer.batches += 1;
    }
    let c = layer.shape[0];
    let [pa, pb] = &data.peaks;
    for i in 0..n {
        for (ch, pair) in layer.channels.iter_mut().enumerate() {
            if let (Some(a), Some(b)) = (pa[i * c + ch], pb[i * c + ch]) {
                pair.add(first + i as u32, a, b, cmp);
            }
        }
    }
}

/// Ids unique and non-empty, shapes non-zero, within limits.
pub(crate) fn check_layers(layers: &[(String, [usize; 3])]) -> Result<(), String> {
    if layers.is_empty() || layers.len() > MAX_LAYERS {
        return Err(format!("1..={MAX_LAYERS} layers, not {}", layers.len()));
    }
    let mut seen = HashSet::new();
    for (id, shape) in layers {
        if id.is_empty() || !seen.insert(id) {
            return Err(format!("layer id {id:?} is empty or repeated"));
        }
        if shape.contains(&0) || shape.iter().any(|&d| d > 1 << 20) {
            return Err(format!("layer {id} has an unusable shape {shape:?}"));
        }
    }
    Ok(())
}
