//! Comparing: the pinned analysis (side A; the analysis on screen is side B) and the selected
//! layer of the pair prepared on one scale, and a report of two models over a folder (each
//! layer's CKA, each channel's change) with its thumbnails, or one being built.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use featurescope_maps::compare::{Report, Side};
use featurescope_net::Activations;
use image::RgbImage;

use crate::services::tasks::ThumbKey;
use crate::services::worker::PinnedAnalysis;
use crate::view::LayerView;

/// How many report thumbnails are kept (the oldest go first).
pub const THUMBS_KEPT: usize = 256;

/// The pinned analysis, side A of the comparison.
#[derive(Debug)]
pub enum Pinned {
    /// Asked of the worker (on a GPU it reads every layer back first): the analysis of this
    /// generation.
    Pinning(u64),
    /// Pinned.
    Ready(Box<PinnedAnalysis>),
}

impl Pinned {
    /// The pinned analysis, once it arrived.
    pub fn ready(&self) -> Option<&PinnedAnalysis> {
        match self {
            Self::Ready(p) => Some(p),
            Self::Pinning(_) => None,
        }
    }

    /// Its layers, once they arrived.
    pub fn activations(&self) -> Option<&Activations> {
        self.ready().map(|p| p.activations.as_ref())
    }
}

/// The selected layer under both analyses, on one scale: B is the main view (its colour
/// ranges replaced by the shared ones), these are A and the difference A − B.
pub struct PairView {
    /// Side A, coloured with the ranges shared with B.
    pub a: LayerView,
    /// A − B on a diverging colormap, symmetric ranges.
    pub diff: LayerView,
}

/// A thumbnail as it comes in.
#[derive(Debug)]
pub enum Thumb {
    /// Being read.
    Loading,
    /// The receptive-field crop around the peak.
    Ready(RgbImage),
    /// Why not.
    Failed(String),
}

/// An open comparison report.
pub struct ReportState {
    /// Its file.
    pub path: PathBuf,
    /// The report.
    pub report: Arc<Report>,
    /// The layer whose channels are listed (the strip's last click).
    pub layer: Option<String>,
    /// Thumbnails of top images.
    pub thumbs: HashMap<ThumbKey, Thumb>,
    /// A channel to inspect once the side-by-side pair asked for is on screen: (layer, channel).
    pub open_after: Option<(String, usize)>,
    asked: Vec<ThumbKey>,
}

impl ReportState {
    /// A report just opened.
    pub fn new(path: PathBuf, report: Arc<Report>) -> Self {
        Self {
            path,
            report,
            layer: None,
            thumbs: HashMap::new(),
            open_after: None,
            asked: Vec::new(),
        }
    }

    /// The thumbnail keys of a channel's top `n` images under one model.
    pub fn top_keys(&self, layer: &str, channel: usize, side: Side, n: usize) -> Vec<ThumbKey> {
        let Some(l) = self.report.layer(layer) else {
            return Vec::new();
        };
        let images = self.report.images();
        l.top(channel, side)
            .unwrap_or_default()
            .iter()
            .take(n)
            .filter_map(|e| {
                Some(ThumbKey {
                    image: images.get(e.image as usize)?.clone(),
                    layer: layer.to_string(),
                    y: e.y,
                    x: e.x,
                })
            })
            .collect()
    }

    /// Record a thumbnail (or its loading); beyond [`THUMBS_KEPT`] the oldest go.
    pub fn set_thumb(&mut self, key: ThumbKey, thumb: Thumb) {
        self.asked.retain(|k| *k != key);
        self.asked.push(key.clone());
        self.thumbs.insert(key, thumb);
        let over = self.asked.len().saturating_sub(THUMBS_KEPT);
        for old in self.asked.drain(..over) {
            self.thumbs.remove(&old);
        }
    }
}

/// A report being built on the worker.
pub type ReportBuild = super::atlas::FolderBuild;
