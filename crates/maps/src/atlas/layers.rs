//! [`LayerAtlas`]: the rankings and statistics of every channel of one layer.

use std::cmp::Ordering;

use super::exact::MaxStats;
use super::geometry::RfGeometry;
use super::summary::ChannelSummary;
use super::topk::{Entry, Rank, TopK};

/// One layer of an [`super::Atlas`]: shape, receptive-field geometry, and for every channel the
/// top-K images by maximum and by mean plus the statistics of the per-image maxima.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerAtlas {
    /// Layer identifier, as the network names it.
    pub id: String,
    /// Number of channels.
    pub channels: usize,
    /// Feature-map height.
    pub height: usize,
    /// Feature-map width.
    pub width: usize,
    /// Where the layer's units look in the input.
    pub rf: RfGeometry,
    by_max: Vec<TopK>,
    by_mean: Vec<TopK>,
    stats: Vec<MaxStats>,
}

impl LayerAtlas {
    /// An empty layer; `shape` is `[C, H, W]` (checked by the caller).
    pub(crate) fn new(id: &str, shape: [usize; 3], rf: RfGeometry, k: usize) -> Self {
        let c = shape[0];
        let lists = vec![TopK::new(k); c];
        Self::from_parts(
            id,
            shape,
            rf,
            lists.clone(),
            lists,
            vec![MaxStats::default(); c],
        )
    }

    /// Assembles a layer from parts whose lengths and contents the caller has checked.
    pub(crate) fn from_parts(
        id: &str,
        shape: [usize; 3],
        rf: RfGeometry,
        by_max: Vec<TopK>,
        by_mean: Vec<TopK>,
        stats: Vec<MaxStats>,
    ) -> Self {
        let [channels, height, width] = shape;
        Self {
            id: id.to_string(),
            channels,
            height,
            width,
            rf,
            by_max,
            by_mean,
            stats,
        }
    }

    /// `[C, H, W]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    /// A channel's ranking, best first, or `None` if `channel` is out of range.
    pub fn ranking(&self, channel: usize, rank: Rank) -> Option<&[Entry]> {
        let lists = match rank {
            Rank::Max => &self.by_max,
            Rank::Mean => &self.by_mean,
        };
        lists.get(channel).map(TopK::entries)
    }

    /// Statistics of a channel's per-image maxima, or `None` if `channel` is out of range.
    pub fn stats(&self, channel: usize) -> Option<&MaxStats> {
        self.stats.get(channel)
    }

    /// [`MaxStats::selectivity`] of every channel, against its best maximum.
    pub fn selectivity(&self) -> Vec<f32> {
        self.stats
            .iter()
            .zip(&self.by_max)
            .map(|(s, top)| {
                top.entries()
                    .first()
                    .map_or(0.0, |e| s.selectivity(e.score))
            })
            .collect()
    }

    /// Ranks image `image` with its per-channel summaries (one per channel, checked by the caller).
    pub(crate) fn add(
        &mut self,
        image: u32,
        summaries: &[ChannelSummary],
        image_cmp: impl Fn(u32, u32) -> Ordering + Copy,
    ) {
        let channels = self.by_max.iter_mut().zip(&mut self.by_mean);
        for (((max, mean), stats), s) in channels.zip(&mut self.stats).zip(summaries) {
            if !s.is_finite() {
                continue;
            }
            let (y, x) = s.argmax;
            max.insert_by(
                Entry {
                    image,
                    score: s.max,
                    y,
                    x,
                },
                image_cmp,
            );
            mean.insert_by(
                Entry {
                    image,
                    score: s.mean,
                    y,
                    x,
                },
                image_cmp,
            );
            stats.add(s.max);
        }
    }

    /// `None` if `other` has the same id, shape and geometry, else what differs.
    pub(crate) fn difference(&self, other: &LayerAtlas) -> Option<String> {
        let fmt = |s: [usize; 3]| format!("{}x{}x{}", s[0], s[1], s[2]);
        if self.id != other.id {
            Some(format!("layer id {:?} vs {:?}", self.id, other.id))
        } else if self.shape() != other.shape() {
            Some(format!(
                "layer {:?}: shape {} vs {}",
                self.id,
                fmt(self.shape()),
                fmt(other.shape())
            ))
        } else if self.rf != other.rf {
            Some(format!(
                "layer {:?}: receptive field {:?} vs {:?}",
                self.id, self.rf, other.rf
            ))
        } else {
            None
        }
    }

    /// The union of two layers with the same [`LayerAtlas::difference`]-free head whose image
    /// indices already refer to one shared, path-ordered image table.
    pub(crate) fn merged(a: &LayerAtlas, b: &LayerAtlas) -> LayerAtlas {
        let merge = |x: &[TopK], y: &[TopK]| -> Vec<TopK> {
            x.iter().zip(y).map(|(p, q)| TopK::merge(p, q)).collect()
        };
        let stats = a
            .stats
            .iter()
            .zip(&b.stats)
            .map(|(p, q)| {
                let mut s = *p;
                s.merge(q);
                s
            })
            .collect();
        LayerAtlas::from_parts(
            &a.id,
            a.shape(),
            a.rf,
            merge(&a.by_max, &b.by_max),
            merge(&a.by_mean, &b.by_mean),
            stats,
        )
    }

    /// Rewrites image indices through `map` (order-preserving).
    pub(crate) fn remap(&mut self, map: &[u32]) {
        for t in self.by_max.iter_mut().chain(&mut self.by_mean) {
            t.remap(map);
        }
    }

    /// Every ranking of the layer, by maximum then by mean.
    pub(crate) fn all_rankings(&self) -> impl Iterator<Item = &TopK> {
        self.by_max.iter().chain(&self.by_mean)
    }

    /// The per-channel parts, for storage.
    pub(crate) fn parts(&self) -> (&[TopK], &[TopK], &[MaxStats]) {
        (&self.by_max, &self.by_mean, &self.stats)
    }
}
