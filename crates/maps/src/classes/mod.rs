//! Class summaries: what a model uses, per class, over a folder of the person's images.
//!
//! Per class (the images filed under it): how many images, what the model predicted for them
//! (a row of the confusion matrix), and per tapped layer and channel
//! - `count[k]`: in how many images channel `k` is among the image's top channels
//!   ([`top_channels`]: the `mass` prefix of the channels sorted by spatial maximum);
//! - the sum over images of the channel's attribution to the class logit ([`F32Sum`], exact,
//!   so images added in any order and parts merged in any order give the same sums).
//!
//! The graph (nodes: the channels of highest attribution per block output; edges: the mean
//! influence of a node on a node of the next block) is a second pass over the images once every
//! image is counted; its edge sums are exact too. Summaries are written in one canonical form
//! (`store.rs`), so equal contents are equal bytes.

mod merge;
mod store;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::atlas::F32Sum;
use crate::error::MapsError;

pub use store::MAX_FILE_BYTES;

/// Version of the summary file format.
pub const FORMAT_VERSION: u32 = 1;
/// Default share of the layer's summed channel maxima that the top channels reach.
pub const DEFAULT_MASS: f64 = 0.03;

/// One tapped layer: its id and channel count.
pub type LayerSpec = (String, usize);

/// The channels an image "uses" in a layer, given each channel's spatial maximum: sorted by
/// maximum, descending (ties: lower index first), the shortest prefix whose maxima, summed in
/// `f64` in that order, reach `mass` times the sum of all the maxima (summed in the same order).
/// Non-finite maxima are left out of both sums and never chosen; a layer whose maxima sum to 0
/// or less has no top channel.
pub fn top_channels(maxima: &[f32], mass: f64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..maxima.len())
        .filter(|&k| maxima[k].is_finite())
        .collect();
    order.sort_by(|&a, &b| maxima[b].total_cmp(&maxima[a]).then(a.cmp(&b)));
    let total: f64 = order.iter().map(|&k| f64::from(maxima[k])).sum();
    if total <= 0.0 {
        return Vec::new();
    }
    let goal = mass * total;
    let mut sum = 0f64;
    let mut out = Vec::new();
    for k in order {
        if sum >= goal {
            break;
        }
        sum += f64::from(maxima[k]);
        out.push(k);
    }
    out
}

/// What one image contributes to one layer: each channel's spatial maximum and its attribution
/// (Σ_{y,x} a·∂z_c/∂a, rounded to `f32`).
#[derive(Clone, Debug, Default)]
pub struct LayerObservation {
    /// Per channel: the spatial maximum.
    pub maxima: Vec<f32>,
    /// Per channel: the attribution to the image's class logit.
    pub attribution: Vec<f32>,
}

/// Where an image was filed and what the model predicted for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Filed {
    /// The class the image counts for.
    pub class: u32,
    /// The model's top-1 class.
    pub predicted: u32,
}

/// Per class: images, predictions, counts and attribution sums.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassStats {
    images: u64,
    predicted: BTreeMap<u32, u64>,
    counts: Vec<Vec<u64>>,
    attribution: Vec<Vec<F32Sum>>,
    graph: Option<ClassGraph>,
}

/// One edge of a class graph: from a node of one block to a node of the next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    /// Layer id and channel of the lower node.
    pub from: (String, u32),
    /// Layer id and channel of the upper node.
    pub to: (String, u32),
    /// Sum over the edge images of the influence.
    pub sum: F32Sum,
}

/// A class's graph: nodes per block output, edges between consecutive blocks, and the images
/// whose influence the edge sums hold.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ClassGraph {
    /// Per block output (bottom to top): its id and the node channels, by attribution.
    pub nodes: Vec<(String, Vec<u32>)>,
    /// The edges, in the order [`ClassGraph::edge_slots`] gives.
    pub edges: Vec<Edge>,
    /// The images already added to the edge sums (sorted).
    pub done: Vec<String>,
}

impl ClassGraph {
    /// A graph with these nodes and every edge between consecutive blocks at zero.
    pub fn new(nodes: Vec<(String, Vec<u32>)>) -> Self {
        let mut edges = Vec::new();
        for pair in nodes.windows(2) {
            let ((lo, los), (hi, his)) = (&pair[0], &pair[1]);
            for &j in los {
                for &k in his {
                    edges.push(Edge {
                        from: (lo.clone(), j),
                        to: (hi.clone(), k),
                        sum: F32Sum::default(),
                    });
                }
            }
        }
        Self {
            nodes,
            edges,
            done: Vec::new(),
        }
    }

    /// Adds one image's influences: `weights[(from_channel, to_channel)]` between the nodes of
    /// block `lower` and block `lower + 1`; missing pairs count as 0.
    pub fn add(&mut self, lower: usize, weights: &BTreeMap<(u32, u32), f32>) {
        let (Some(lo), Some(hi)) = (self.nodes.get(lower), self.nodes.get(lower + 1)) else {
            return;
        };
        let (lo, hi) = (lo.0.clone(), hi.0.clone());
        for e in &mut self.edges {
            if e.from.0 == lo
                && e.to.0 == hi
                && let Some(w) = weights.get(&(e.from.1, e.to.1))
            {
                e.sum.add(*w);
            }
        }
    }
}

impl ClassGraph {
    /// Whether `path`'s influences are in the edge sums.
    pub fn is_done(&self, path: &str) -> bool {
        self.done.binary_search_by(|p| p.as_str().cmp(path)).is_ok()
    }

    /// Records that `path`'s influences were added (kept sorted).
    pub fn mark_done(&mut self, path: &str) {
        if let Err(i) = self.done.binary_search_by(|p| p.as_str().cmp(path)) {
            self.done.insert(i, path.to_string());
        }
    }

    /// Mean edge weights over the edge images.
    pub fn weights(&self) -> Vec<f64> {
        let n = self.done.len().max(1) as f64;
        self.edges.iter().map(|e| e.sum.value() / n).collect()
    }
}

impl ClassStats {
    fn new(layers: &[LayerSpec]) -> Self {
        Self {
            images: 0,
            predicted: BTreeMap::new(),
            counts: layers.iter().map(|(_, c)| vec![0; *c]).collect(),
            attribution: layers
                .iter()
                .map(|(_, c)| vec![F32Sum::default(); *c])
                .collect(),
            graph: None,
        }
    }

    /// Images filed under the class.
    pub fn images(&self) -> u64 {
        self.images
    }

    /// Of them, how many the model predicts as the class itself.
    pub fn correct(&self, class: u32) -> u64 {
        self.predicted.get(&class).copied().unwrap_or(0)
    }

    /// The confusion-matrix row: predicted class → images.
    pub fn predicted(&self) -> &BTreeMap<u32, u64> {
        &self.predicted
    }

    /// Per channel of layer `layer` (position in the summary's layer list): the count.
    pub fn counts(&self, layer: usize) -> Option<&[u64]> {
        self.counts.get(layer).map(Vec::as_slice)
    }

    /// Per channel of layer `layer`: the mean attribution over the class's images.
    pub fn attribution(&self, layer: usize) -> Option<Vec<f64>> {
        let n = self.images.max(1) as f64;
        self.attribution
            .get(layer)
            .map(|l| l.iter().map(|s| s.value() / n).collect())
    }

    /// The class's graph, once built.
    pub fn graph(&self) -> Option<&ClassGraph> {
        self.graph.as_ref()
    }

    /// The class's graph, to add edge images to.
    pub fn graph_mut(&mut self) -> Option<&mut ClassGraph> {
        self.graph.as_mut()
    }
}

/// A class summary: header, the images done and skipped, and per class its statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassSummary {
    model: String,
    mass: f64,
    names: Vec<String>,
    layers: Vec<LayerSpec>,
    images: BTreeMap<String, Filed>,
    skipped: BTreeMap<String, String>,
    classes: BTreeMap<u32, ClassStats>,
    shard: Option<(u32, u32)>,
}

impl ClassSummary {
    /// An empty summary for a model with these class names, over these layers.
    pub fn new(
        model: &str,
        mass: f64,
        names: Vec<String>,
        layers: Vec<LayerSpec>,
    ) -> Result<Self, MapsError> {
        check_header(mass, &names, &layers).map_err(MapsError::Classes)?;
        Ok(Self {
            model: model.to_string(),
            mass,
            names,
            layers,
            images: BTreeMap::new(),
            skipped: BTreeMap::new(),
            classes: BTreeMap::new(),
            shard: None,
        })
    }

    /// The shard (index, count) this summary is a part of; `None`: the whole folder (or a merge).
    pub fn shard(&self) -> Option<(u32, u32)> {
        self.shard
    }

    /// Records the shard this summary is a part of (before any image is added).
    pub fn set_shard(&mut self, shard: Option<(u32, u32)>) -> Result<(), MapsError> {
        if !self.images.is_empty() || !self.skipped.is_empty() {
            return Err(MapsError::Classes(
                "the shard is set before any image".into(),
            ));
        }
        if shard.is_some_and(|(i, n)| i >= n) {
            return Err(MapsError::Classes(format!("bad shard {shard:?}")));
        }
        self.shard = shard;
        Ok(())
    }

    /// The model's name.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The top-channel mass.
    pub fn mass(&self) -> f64 {
        self.mass
    }

    /// The model's class names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The layers summarised.
    pub fn layers(&self) -> &[LayerSpec] {
        &self.layers
    }

    /// Position of a layer in [`ClassSummary::layers`].
    pub fn layer_index(&self, id: &str) -> Option<usize> {
        self.layers.iter().position(|(l, _)| l == id)
    }

    /// The images counted, by path.
    pub fn images(&self) -> &BTreeMap<String, Filed> {
        &self.images
    }

    /// The files skipped, with the reason.
    pub fn skipped(&self) -> &BTreeMap<String, String> {
        &self.skipped
    }

    /// Whether `path` was counted or skipped already.
    pub fn is_done(&self, path: &str) -> bool {
        self.images.contains_key(path) || self.skipped.contains_key(path)
    }

    /// The classes that have images, by index.
    pub fn classes(&self) -> &BTreeMap<u32, ClassStats> {
        &self.classes
    }

    /// One class's statistics, to build its graph.
    pub fn class_mut(&mut self, class: u32) -> Option<&mut ClassStats> {
        self.classes.get_mut(&class)
    }

    /// A class by name (case-insensitive) or index.
    pub fn resolve_class(&self, name: &str) -> Option<u32> {
        resolve_class(&self.names, name)
    }

    /// Counts one image filed under `filed.class`: `layers` holds one observation per layer.
    pub fn add_image(
        &mut self,
        path: &str,
        filed: Filed,
        layers: &[LayerObservation],
    ) -> Result<(), MapsError> {
        self.check_image(path, filed, layers)?;
        let mass = self.mass;
        let stats = self
            .classes
            .entry(filed.class)
            .or_insert_with(|| ClassStats::new(&self.layers));
        stats.images += 1;
        *stats.predicted.entry(filed.predicted).or_insert(0) += 1;
        for (l, obs) in layers.iter().enumerate() {
            for k in top_channels(&obs.maxima, mass) {
                stats.counts[l][k] += 1;
            }
            for (sum, &a) in stats.attribution[l].iter_mut().zip(&obs.attribution) {
                sum.add(a);
            }
        }
        self.images.insert(path.to_string(), filed);
        Ok(())
    }

    fn check_image(
        &self,
        path: &str,
        filed: Filed,
        layers: &[LayerObservation],
    ) -> Result<(), MapsError> {
        let bad = |m: String| Err(MapsError::Classes(m));
        if self.is_done(path) {
            return bad(format!("{path} is already in the summary"));
        }
        let n = self.names.len() as u32;
        if filed.class >= n || filed.predicted >= n {
            return bad(format!("{path}: class out of range (the model has {n})"));
        }
        if layers.len() != self.layers.len() {
            return bad(format!(
                "{path}: {} layers, not {}",
                layers.len(),
                self.layers.len()
            ));
        }
        for ((id, c), obs) in self.layers.iter().zip(layers) {
            if obs.maxima.len() != *c || obs.attribution.len() != *c {
                return bad(format!("{path}: layer {id} needs {c} channels"));
            }
        }
        Ok(())
    }

    /// Records a file that could not be used.
    pub fn skip(&mut self, path: &str, reason: &str) -> Result<(), MapsError> {
        if self.images.contains_key(path) {
            return Err(MapsError::Classes(format!("{path} was counted already")));
        }
        self.skipped.insert(path.to_string(), reason.to_string());
        Ok(())
    }

    /// Whether every class with images has a graph.
    pub fn has_graphs(&self) -> bool {
        !self.classes.is_empty() && self.classes.values().all(|c| c.graph.is_some())
    }

    /// Whether any class has a graph.
    pub fn any_graph(&self) -> bool {
        self.classes.values().any(|c| c.graph.is_some())
    }

    /// The `n` channels of highest mean attribution of `class` in `layer` (ties: lower index).
    pub fn top_attributed(&self, class: u32, layer: usize, n: usize) -> Vec<u32> {
        let Some(a) = self.classes.get(&class).and_then(|c| c.attribution(layer)) else {
            return Vec::new();
        };
        let mut order: Vec<u32> = (0..a.len() as u32).collect();
        order.sort_by(|&x, &y| a[y as usize].total_cmp(&a[x as usize]).then(x.cmp(&y)));
        order.truncate(n);
        order
    }

    /// Starts every class's graph: `nodes` channels of highest attribution per layer of
    /// `blocks` (bottom to top). A class that has one keeps it.
    pub fn start_graphs(&mut self, blocks: &[String], nodes: usize) -> Result<(), MapsError> {
        let mut index = Vec::new();
        for b in blocks {
            let i = self
                .layer_index(b)
                .ok_or_else(|| MapsError::Classes(format!("block {b} is not summarised")))?;
            index.push((b.clone(), i));
        }
        let classes: Vec<u32> = self.classes.keys().copied().collect();
        for c in classes {
            let spec: Vec<(String, Vec<u32>)> = index
                .iter()
                .map(|(b, i)| (b.clone(), self.top_attributed(c, *i, nodes)))
                .collect();
            if let Some(stats) = self.classes.get_mut(&c)
                && stats.graph.is_none()
            {
                stats.graph = Some(ClassGraph::new(spec));
            }
        }
        Ok(())
    }

    /// Up to `n` of the class's images (the first by path) whose influences the edges average.
    pub fn edge_images(&self, class: u32, n: usize) -> Vec<String> {
        self.images
            .iter()
            .filter(|(_, f)| f.class == class)
            .map(|(p, _)| p.clone())
            .take(n)
            .collect()
    }
}

/// A class by name (case-insensitive, exact otherwise) or else by index.
pub fn resolve_class(names: &[String], name: &str) -> Option<u32> {
    let lower = name.to_lowercase();
    if let Some(i) = names.iter().position(|n| n.to_lowercase() == lower) {
        return Some(i as u32);
    }
    name.parse::<u32>()
        .ok()
        .filter(|&i| (i as usize) < names.len())
}

fn check_header(mass: f64, names: &[String], layers: &[LayerSpec]) -> Result<(), String> {
    if !(mass > 0.0 && mass <= 1.0) {
        return Err(format!("mass {mass} is outside (0, 1]"));
    }
    if names.is_empty() || names.len() > u32::MAX as usize {
        return Err("the model has no classes".into());
    }
    if layers.is_empty() {
        return Err("no layers".into());
    }
    for (i, (id, c)) in layers.iter().enumerate() {
        if *c == 0 || layers[..i].iter().any(|(o, _)| o == id) {
            return Err(format!("layer {id} is empty or listed twice"));
        }
    }
    Ok(())
}
