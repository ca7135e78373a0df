//! The open filter atlas, its crops as they are read, and an atlas being built.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use featurescope_atlas::Rank;
use featurescope_maps::atlas::AtlasHit;
use image::RgbImage;

use crate::services::tasks::{CropKey, LoadedAtlas};

/// How many filters' crops are kept (the oldest go first): more than the nodes of a class
/// graph (12 blocks of 8 by default), which shows each node's best crop.
pub const CROP_LISTS_KEPT: usize = 128;

/// The crops of one filter's ranking, as they come in.
#[derive(Debug)]
pub enum Crops {
    /// Being read by a task.
    Loading,
    /// The hits and their thumbnails.
    Ready(Vec<(AtlasHit, RgbImage)>),
    /// Why they could not be read.
    Failed(String),
}

/// The open atlas and its crops.
pub struct AtlasState {
    /// What was loaded.
    pub loaded: LoadedAtlas,
    /// Top images by the channel's maximum or its mean.
    pub rank: Rank,
    /// Crops by filter ranking.
    pub crops: HashMap<CropKey, Crops>,
    /// Keys in the order they were asked for (to bound the crops kept).
    asked: Vec<CropKey>,
}

impl AtlasState {
    /// An atlas just opened.
    pub fn new(loaded: LoadedAtlas) -> Self {
        Self {
            loaded,
            rank: Rank::Max,
            crops: HashMap::new(),
            asked: Vec::new(),
        }
    }

    /// The ranking of `channel` of `layer` by the current rank.
    pub fn key(&self, layer: &str, channel: usize) -> CropKey {
        CropKey {
            layer: layer.to_string(),
            channel,
            rank: self.rank,
        }
    }

    /// Record crops (or their loading); beyond [`CROP_LISTS_KEPT`] lists the oldest go.
    pub fn set_crops(&mut self, key: CropKey, crops: Crops) {
        self.asked.retain(|k| *k != key);
        self.asked.push(key.clone());
        self.crops.insert(key, crops);
        let over = self.asked.len().saturating_sub(CROP_LISTS_KEPT);
        for old in self.asked.drain(..over) {
            self.crops.remove(&old);
        }
    }
}

/// A folder job on the worker (an atlas, a comparison report): its progress and its stop flag.
pub struct FolderBuild {
    /// Files handled.
    pub done: usize,
    /// Files to handle.
    pub total: usize,
    /// Set to stop the build (what is done is kept).
    pub stop: Arc<AtomicBool>,
    /// When it started.
    pub started: Instant,
}

impl FolderBuild {
    /// A build just sent to the worker, stopped by `stop`.
    pub fn new(stop: Arc<AtomicBool>) -> Self {
        Self {
            done: 0,
            total: 0,
            stop,
            started: Instant::now(),
        }
    }
}

/// An atlas being built on the worker.
pub type AtlasBuild = FolderBuild;
