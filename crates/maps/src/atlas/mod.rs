//! Feature atlas: for every channel of chosen layers, the top-K images of a collection ranked by
//! the channel's maximum and by its mean, with the position of the maximum and the input crop
//! around it, plus exact statistics of the per-image maxima ("selectivity").
//!
//! The network and the command line live elsewhere; this module holds the data model, the
//! algorithms and the storage. Results are exact and deterministic: an atlas built in one run,
//! built in parts and merged ([`Atlas::merge`]), or saved, loaded and continued, is the same
//! after [`Atlas::canonicalize`] (which [`Atlas::save`], [`Atlas::load`] and [`Atlas::merge`]
//! apply).
//!
//! Ranking order: score descending ([`f32::total_cmp`]), then image path ascending, then the
//! position `(y, x)` ascending. In a canonical atlas the image table is sorted by path, so image
//! indices order like paths and [`Entry::rank_cmp`] is this order.

mod exact;
mod geometry;
mod inputs;
mod layers;
mod merge;
mod store;
mod summary;
mod topk;

#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use rayon::prelude::*;
use serde::Serialize;

use crate::error::MapsError;
use crate::layer::LayerMaps;

pub(crate) use exact::Fixed;
pub use exact::{F32Sum, MaxStats};
pub use geometry::{CropBox, RfGeometry};
pub use inputs::{INPUTS_DIR, crop_image, fnv1a64, input_image_path, merge_dirs, prune_inputs};
pub use layers::LayerAtlas;
pub use store::{ATLAS_FILE, MAX_FILE_BYTES};
use summary::image_error;
pub use summary::{AtlasShapes, ChannelSummary, ImageSummaries, channel_summaries};

/// One layer of one image for [`Atlas::add_image_values`]: its id, `[channels, height,
/// width]` and its channel-major values.
pub type LayerValues<'a> = (&'a str, [usize; 3], &'a [f32]);
pub use topk::{Entry, Rank, TopK};

/// Version of the atlas data model and file format.
pub const FORMAT_VERSION: u32 = 1;
/// Largest accepted `k`.
pub const MAX_K: usize = 10_000;
/// Most layers in one atlas.
pub const MAX_LAYERS: usize = 4096;
/// Most channels in one layer.
pub const MAX_CHANNELS: usize = 1 << 20;
/// Largest feature-map height or width.
pub const MAX_SIDE: usize = 1 << 16;
/// Largest `k` times the total channel count: bounds each ranking kind's memory.
pub const MAX_RANKED: usize = 1 << 26;
/// Most images (indices are `u32`).
pub const MAX_IMAGES: usize = u32::MAX as usize;
/// Longest image path, layer id, model name or skip reason, in bytes.
pub const MAX_TEXT: usize = 4096;

/// One ranked image as shown to users; serialises to `{"image","score","y","x","crop"}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AtlasHit {
    /// Image path, relative to the collection's folder.
    pub image: String,
    /// The ranked value.
    pub score: f32,
    /// Row of the channel's maximum in the feature map.
    pub y: u32,
    /// Column of the channel's maximum in the feature map.
    pub x: u32,
    /// The input pixels seen by the unit at `(y, x)`.
    pub crop: CropBox,
}

/// One layer for [`Atlas::new`]: id, shape `[C, H, W]`, receptive-field geometry.
pub type LayerSpec = (String, [usize; 3], RfGeometry);

/// The top-K images of every channel of some layers over a collection of images.
///
/// Image indices in rankings refer to [`Atlas::images`]. Images are appended as they are added;
/// [`Atlas::canonicalize`] sorts the table by path and renumbers. `PartialEq` compares
/// everything exactly (statistics are exact integers), so compare canonical atlases.
#[derive(Clone, Debug, PartialEq)]
pub struct Atlas {
    version: u32,
    model: String,
    k: usize,
    images: Vec<String>,
    /// Path to index; rebuilt from `images`, never stored.
    index: HashMap<String, u32>,
    skipped: BTreeMap<String, String>,
    layers: Vec<LayerAtlas>,
}

impl Atlas {
    /// An empty atlas keeping `k` images per ranking for the given layers. `model` identifies
    /// the weights (opaque; merging requires it to match). Fails on `k` outside `1..=MAX_K`,
    /// empty or duplicate layer ids, zero or oversized shapes, or unusable geometry.
    pub fn new(model: &str, k: usize, layers: Vec<LayerSpec>) -> Result<Self, MapsError> {
        check_header(model, k, &layers).map_err(MapsError::Atlas)?;
        let layers = layers
            .iter()
            .map(|(id, shape, rf)| LayerAtlas::new(id, *shape, *rf, k))
            .collect();
        Ok(Self {
            version: FORMAT_VERSION,
            model: model.to_string(),
            k,
            images: Vec::new(),
            index: HashMap::new(),
            skipped: BTreeMap::new(),
            layers,
        })
    }

    /// The format version ([`FORMAT_VERSION`]).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Identity of the network weights.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Most entries per ranking.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Image paths (`/`-separated, relative to the collection's folder), by index.
    pub fn images(&self) -> &[String] {
        &self.images
    }

    /// Images that could not be used: path to one-line reason, sorted by path.
    pub fn skipped(&self) -> &BTreeMap<String, String> {
        &self.skipped
    }

    /// The layers, in the order given to [`Atlas::new`].
    pub fn layers(&self) -> &[LayerAtlas] {
        &self.layers
    }

    /// The layer called `id`.
    pub fn layer(&self, id: &str) -> Option<&LayerAtlas> {
        self.layers.iter().find(|l| l.id == id)
    }

    /// Whether `path` has been added (O(1)); skipped images are not "added".
    pub fn has_image(&self, path: &str) -> bool {
        self.index.contains_key(path)
    }

    /// Whether `path` is in the skipped list.
    pub fn is_skipped(&self, path: &str) -> bool {
        self.skipped.contains_key(path)
    }

    /// Index of an added image.
    pub fn image_index(&self, path: &str) -> Option<u32> {
        self.index.get(path).copied()
    }

    /// Adds one image's activations: `layers` must hold every layer of the atlas exactly once
    /// (any order) with its exact shape. Adding an image twice is an error; adding a skipped
    /// image removes it from the skipped list. On error the atlas is unchanged.
    pub fn add_image(
        &mut self,
        path: &str,
        layers: &[(&str, &LayerMaps)],
    ) -> Result<(), MapsError> {
        let values: Vec<LayerValues> = layers
            .iter()
            .map(|(id, m)| (*id, [m.channels, m.height, m.width], m.data.as_slice()))
            .collect();
        self.add_image_values(path, &values)
    }

    /// [`Self::add_image`] from borrowed values: `(layer id, [channels, height, width],
    /// values)` (one image's slice of a batch, without a copy).
    pub fn add_image_values(
        &mut self,
        path: &str,
        layers: &[LayerValues],
    ) -> Result<(), MapsError> {
        self.check_new_image(path)?;
        for (i, (id, ..)) in layers.iter().enumerate() {
            if layers[..i].iter().any(|(other, ..)| other == id) {
                return Err(image_error(path, format!("layer {id:?} is given twice")));
            }
        }
        // Layers in parallel; each channel's reduction keeps its own order, so the summaries
        // are the same as one thread's.
        let shapes = self.shapes();
        let reduced = layers
            .par_iter()
            .map(|&values| shapes.summarize_layer(path, values))
            .collect::<Result<Vec<_>, _>>()?;
        let mut summaries = shapes.image_summaries();
        for (index, sums) in reduced {
            summaries.insert(index, sums)?;
        }
        self.add_image_summaries(path, summaries)
    }

    /// The ids and shapes of the atlas' layers, for reducing images apart from the atlas (a
    /// pass can reduce one batch while the atlas takes the previous one).
    pub fn shapes(&self) -> AtlasShapes {
        AtlasShapes::new(
            self.layers
                .iter()
                .map(|l| (l.id.clone(), l.shape()))
                .collect(),
        )
    }

    /// Adds image `path` from its summaries, every layer of the atlas filled once. Adding an
    /// image twice is an error; adding a skipped image removes it from the skipped list. On
    /// error the atlas is unchanged.
    pub fn add_image_summaries(
        &mut self,
        path: &str,
        summaries: ImageSummaries,
    ) -> Result<(), MapsError> {
        self.check_new_image(path)?;
        let missing = |i: usize| {
            let id = self.layers.get(i).map_or("?", |l| l.id.as_str());
            image_error(path, format!("layer {id:?} is missing"))
        };
        let summaries = summaries.complete().map_err(missing)?;
        if summaries.len() != self.layers.len() {
            return Err(image_error(
                path,
                format!(
                    "summaries of {} layers, the atlas has {}",
                    summaries.len(),
                    self.layers.len()
                ),
            ));
        }
        let id = self.images.len() as u32;
        self.images.push(path.to_string());
        self.index.insert(path.to_string(), id);
        self.skipped.remove(path);
        // Layers in parallel: each keeps its own rankings and statistics.
        let cmp = path_cmp(&self.images);
        self.layers
            .par_iter_mut()
            .zip(&summaries)
            .for_each(|(layer, sums)| layer.add(id, sums, cmp));
        Ok(())
    }

    /// Whether image `path` may be added: a usable path, not in the atlas yet, room for it.
    fn check_new_image(&self, path: &str) -> Result<(), MapsError> {
        check_text("image path", path).map_err(MapsError::Atlas)?;
        if self.has_image(path) {
            return Err(MapsError::Atlas(format!(
                "image {path:?} is already in the atlas"
            )));
        }
        if self.images.len() >= MAX_IMAGES {
            return Err(MapsError::Atlas(format!("more than {MAX_IMAGES} images")));
        }
        Ok(())
    }

    /// Records that `path` could not be used; control characters in `reason` become spaces.
    /// A second call replaces the reason. Fails if the image was added.
    pub fn skip(&mut self, path: &str, reason: &str) -> Result<(), MapsError> {
        check_text("image path", path).map_err(MapsError::Atlas)?;
        if self.has_image(path) {
            return Err(MapsError::Atlas(format!(
                "cannot skip {path:?}: it is already in the atlas"
            )));
        }
        self.skipped.insert(path.to_string(), one_line(reason));
        Ok(())
    }

    /// The ranking of one channel as hits with paths and input crops, best first.
    pub fn top(&self, layer: &str, channel: usize, rank: Rank) -> Result<Vec<AtlasHit>, MapsError> {
        let l = self.layer_or_err(layer)?;
        let entries = l
            .ranking(channel, rank)
            .ok_or(MapsError::ChannelOutOfRange {
                channel,
                channels: l.channels,
            })?;
        Ok(entries
            .iter()
            .map(|e| AtlasHit {
                image: self
                    .images
                    .get(e.image as usize)
                    .cloned()
                    .unwrap_or_default(),
                score: e.score,
                y: e.y,
                x: e.x,
                crop: l.rf.crop(e.y, e.x),
            })
            .collect())
    }

    /// [`MaxStats::selectivity`] of every channel of `layer`: how many standard deviations the
    /// best image's maximum lies above the mean of all images' maxima (0 with fewer than two
    /// images or constant maxima). `None` if there is no such layer.
    pub fn selectivity(&self, layer: &str) -> Option<Vec<f32>> {
        self.layer(layer).map(LayerAtlas::selectivity)
    }

    /// Indices of the images that appear in at least one ranking.
    pub fn referenced_images(&self) -> BTreeSet<u32> {
        self.layers
            .iter()
            .flat_map(LayerAtlas::all_rankings)
            .flat_map(|t| t.entries().iter().map(|e| e.image))
            .collect()
    }

    /// Whether the image table is sorted by path (then indices order like paths).
    pub fn is_canonical(&self) -> bool {
        self.images.windows(2).all(|w| w[0] < w[1])
    }

    /// Sorts the image table by path and renumbers every ranking. Rankings keep their order,
    /// which already follows paths, so the result is the canonical form of the same atlas.
    pub fn canonicalize(&mut self) {
        if self.is_canonical() {
            return;
        }
        let (order, map) = self.canonical_order();
        let mut old = std::mem::take(&mut self.images);
        self.images = order
            .iter()
            .map(|&i| std::mem::take(&mut old[i as usize]))
            .collect();
        self.rebuild_index();
        for layer in &mut self.layers {
            layer.remap(&map);
        }
    }

    fn rebuild_index(&mut self) {
        self.index = (0u32..)
            .zip(&self.images)
            .map(|(i, p)| (p.clone(), i))
            .collect();
    }

    fn layer_or_err(&self, id: &str) -> Result<&LayerAtlas, MapsError> {
        self.layer(id).ok_or_else(|| {
            let ids: Vec<&str> = self.layers.iter().map(|l| l.id.as_str()).collect();
            MapsError::Atlas(format!("no layer {id:?}; the atlas has {ids:?}"))
        })
    }
}

/// Compares image indices by their paths in `images` (unknown indices first).
fn path_cmp(images: &[String]) -> impl Fn(u32, u32) -> Ordering + Copy + '_ {
    move |a, b| images.get(a as usize).cmp(&images.get(b as usize))
}

/// Checks `k` and the layer list shared by [`Atlas::new`] and loading.
fn check_header(model: &str, k: usize, layers: &[LayerSpec]) -> Result<(), String> {
    if model.len() > MAX_TEXT {
        return Err(format!("model name is longer than {MAX_TEXT} bytes"));
    }
    if !(1..=MAX_K).contains(&k) {
        return Err(format!("k = {k} is outside 1..={MAX_K}"));
    }
    if layers.len() > MAX_LAYERS {
        return Err(format!("{} layers, more than {MAX_LAYERS}", layers.len()));
    }
    let mut channels = 0usize;
    for (i, (id, shape, rf)) in layers.iter().enumerate() {
        check_text("layer id", id)?;
        if layers[..i].iter().any(|(other, ..)| other == id) {
            return Err(format!("layer {id:?} appears twice"));
        }
        check_shape(*shape).map_err(|e| format!("layer {id:?}: {e}"))?;
        rf.check().map_err(|e| format!("layer {id:?}: {e}"))?;
        channels += shape[0];
    }
    if channels.saturating_mul(k) > MAX_RANKED {
        return Err(format!(
            "k = {k} times {channels} channels exceeds the limit of {MAX_RANKED} ranked entries"
        ));
    }
    Ok(())
}

fn check_shape(shape: [usize; 3]) -> Result<(), String> {
    let [c, h, w] = shape;
    if c == 0 || h == 0 || w == 0 {
        return Err(format!("shape {shape:?} has a zero"));
    }
    if c > MAX_CHANNELS || h > MAX_SIDE || w > MAX_SIDE {
        return Err(format!(
            "shape {shape:?} exceeds the limits ({MAX_CHANNELS} channels, {MAX_SIDE} per side)"
        ));
    }
    Ok(())
}

/// Non-empty, at most [`MAX_TEXT`] bytes, no control characters.
fn check_text(what: &str, s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > MAX_TEXT || s.chars().any(char::is_control) {
        let shown: String = s.chars().take(80).collect();
        return Err(format!(
            "{what} {shown:?} is empty, longer than {MAX_TEXT} bytes or has control characters"
        ));
    }
    Ok(())
}

/// `s` with control characters replaced by spaces, trimmed and capped at [`MAX_TEXT`] bytes.
fn one_line(s: &str) -> String {
    let mut out = String::new();
    for c in s.trim().chars() {
        if out.len() + c.len_utf8() > MAX_TEXT {
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}
