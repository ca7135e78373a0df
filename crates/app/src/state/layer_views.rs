//! What the layer views show — the semantic dictionary ("what fires here"), neuron groups and
//! spatial attribution to a class — and what they computed, with the channels' icons (feature
//! visualisations, cached on disk) as they come in.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use featurescope_maps::groups::{DEFAULT_GROUPS, DEFAULT_ITERS};
use image::RgbImage;

use super::Entry;
use crate::services::icons::IconKey;
use crate::services::layer_views::{GroupsDrawn, GroupsKey, SpatialDrawn, SpatialKey};

/// Channels per position in the dictionary, by default.
pub const DEFAULT_DICTIONARY_K: usize = 4;

/// A point of the photo the person points at: on the 299x299 network input, as fractions of
/// its width (`u`) and height (`v`). Each layer maps it onto its own grid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Probe {
    /// 0..1 from the left.
    pub u: f32,
    /// 0..1 from the top.
    pub v: f32,
    /// Clicked (stays when the pointer leaves) rather than hovered.
    pub pinned: bool,
}

/// Channels' icons for the current weights.
#[derive(Default)]
pub struct Icons {
    /// Where they are kept on disk (`None`: no data home, memory only).
    pub dir: Option<PathBuf>,
    /// Loaded, being read or computed, or failed — by (layer, channel).
    pub images: HashMap<(String, usize), Entry<Arc<RgbImage>>>,
    /// Waiting to be computed, first first.
    pub queue: VecDeque<(String, usize)>,
    /// The one icon being computed on the worker, and its cancel flag.
    pub running: Option<(IconKey, Arc<AtomicBool>)>,
    /// Icons are computed only on request (else also in the background).
    pub background_off: bool,
    /// No disk cache (tests: nothing read or written under the data home).
    pub no_disk: bool,
}

impl Icons {
    /// The icon being made on the worker stops (it is asked for again later).
    pub fn cancel_running(&self) {
        if let Some((_, cancel)) = &self.running {
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// A channel's icon, when it is here.
    pub fn get(&self, layer: &str, channel: usize) -> Option<&Arc<RgbImage>> {
        match self.images.get(&(layer.to_string(), channel)) {
            Some(Entry::Ready(img)) => Some(img),
            _ => None,
        }
    }

    /// Whether the channel's icon was asked for already (here, loading, queued or failed).
    pub fn known(&self, layer: &str, channel: usize) -> bool {
        self.images.contains_key(&(layer.to_string(), channel))
    }
}

/// The layer views' settings and results.
pub struct LayerViews {
    /// Channels per position in the dictionary.
    pub k: usize,
    /// The point of the photo pointed at.
    pub probe: Option<Probe>,
    /// Groups asked for by the groups view.
    pub groups_k: usize,
    /// Update rounds of the factorisation.
    pub groups_iters: usize,
    /// Factorisations of the current image.
    pub groups: HashMap<GroupsKey, Entry<Arc<GroupsDrawn>>>,
    /// The classes the spatial view attributes to: `None` = the top class (and no second).
    pub classes: Option<(usize, Option<usize>)>,
    /// Spatial attributions of the current image and weights.
    pub spatial: HashMap<SpatialKey, Entry<Arc<SpatialDrawn>>>,
    /// Channels' icons.
    pub icons: Icons,
}

impl Default for LayerViews {
    fn default() -> Self {
        Self {
            k: DEFAULT_DICTIONARY_K,
            probe: None,
            groups_k: DEFAULT_GROUPS,
            groups_iters: DEFAULT_ITERS,
            groups: HashMap::new(),
            classes: None,
            spatial: HashMap::new(),
            icons: Icons::default(),
        }
    }
}

impl LayerViews {
    /// Forget results of other images or weights (cancelling those still running).
    pub fn retain(&mut self, generation: u64, weights: u64) {
        self.groups.retain(|k, e| {
            let keep = k.generation == generation;
            if !keep {
                e.cancel();
            }
            keep
        });
        self.spatial.retain(|k, e| {
            let keep = k.generation == generation && k.weights == weights;
            if !keep {
                e.cancel();
            }
            keep
        });
    }

    /// Cancel what runs (the window is closing): the groups and spatial attributions still
    /// being computed, and the icon being made.
    pub fn cancel_all(&self) {
        self.groups.values().for_each(Entry::cancel);
        self.spatial.values().for_each(Entry::cancel);
        self.icons.cancel_running();
    }

    /// New weights: their icons live elsewhere; what was loaded or queued is forgotten and the
    /// running one cancelled.
    pub fn new_weights(&mut self, dir: Option<PathBuf>) {
        self.icons.cancel_running();
        let (background_off, no_disk) = (self.icons.background_off, self.icons.no_disk);
        self.icons = Icons {
            dir: dir.filter(|_| !no_disk),
            background_off,
            no_disk,
            ..Icons::default()
        };
    }
}
