//! Results computed on the worker on request — explanations and feature visualisations — as
//! they progress, finish or fail, with the settings of the next request.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use featurescope_net::attribution::Options;
use featurescope_net::attribution::visualize::VisualizeOptions;

use crate::services::attribution::{ExplainKey, Explained, VisKey, Visualization};

/// A result being computed, done, or not to be had.
#[derive(Debug)]
pub enum Entry<T> {
    /// Being computed.
    Pending {
        /// Steps done.
        done: usize,
        /// Steps in all.
        total: usize,
        /// Set to cancel.
        cancel: Arc<AtomicBool>,
    },
    /// Done.
    Ready(T),
    /// Failed or cancelled.
    Failed(String),
}

impl<T> Entry<T> {
    /// A new pending entry and its cancel flag.
    pub fn pending(total: usize) -> (Self, Arc<AtomicBool>) {
        let cancel = Arc::new(AtomicBool::new(false));
        let entry = Self::Pending {
            done: 0,
            total,
            cancel: cancel.clone(),
        };
        (entry, cancel)
    }

    /// Cancel it if it is still being computed.
    pub fn cancel(&self) {
        if let Self::Pending { cancel, .. } = self {
            cancel.store(true, Ordering::Relaxed);
        }
    }

    /// Whether it is still being computed.
    pub fn is_pending(&self) -> bool {
        matches!(self, Self::Pending { .. })
    }

    fn progress(&mut self, d: usize, t: usize) {
        if let Self::Pending { done, total, .. } = self {
            (*done, *total) = (d, t);
        }
    }
}

/// What the methods explain in the app.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TargetChoice {
    /// The filter's strongest unit (its receptive field in the photo).
    #[default]
    StrongestUnit,
    /// The filter's whole map, summed.
    WholeMap,
    /// The head's most probable class.
    TopClass,
}

impl TargetChoice {
    /// Every choice, in menu order.
    pub const ALL: [TargetChoice; 3] = [Self::StrongestUnit, Self::WholeMap, Self::TopClass];

    /// Label in the menu.
    pub fn label(self) -> &'static str {
        match self {
            Self::StrongestUnit => "this filter's strongest unit",
            Self::WholeMap => "this filter, whole map",
            Self::TopClass => "the top class",
        }
    }
}

/// Explanations of the current image and weights.
#[derive(Default)]
pub struct ExplainState {
    /// What the methods explain.
    pub target: TargetChoice,
    /// Method parameters.
    pub options: Options,
    /// Results by key.
    pub cache: HashMap<ExplainKey, Entry<Box<Explained>>>,
}

impl ExplainState {
    /// Forget results of images and weights other than `keep`'s `(generation, weights)`
    /// (cancelling those still running): the analysis on screen and the pinned one.
    pub fn retain(&mut self, keep: &[(u64, u64)]) {
        self.cache.retain(|k, e| {
            let keep = keep.contains(&(k.generation, k.weights));
            if !keep {
                e.cancel();
            }
            keep
        });
    }

    /// A run of `key` is starting: runs still pending for another view (another method,
    /// target or options; its sanity checks, and the same explanation of the pinned analysis,
    /// count as the same view) are cancelled and forgotten — one view is on screen, and the
    /// worker runs jobs in order.
    pub fn start(&mut self, key: ExplainKey) -> Arc<AtomicBool> {
        self.cache.retain(|k, e| {
            let other = e.is_pending() && !k.same_view(&key);
            if other {
                e.cancel();
            }
            !other
        });
        let (entry, cancel) = Entry::pending(1);
        self.cache.insert(key, entry);
        cancel
    }

    /// Progress from the worker.
    pub fn progress(&mut self, key: &ExplainKey, done: usize, total: usize) {
        if let Some(e) = self.cache.get_mut(key) {
            e.progress(done, total);
        }
    }

    /// A result from the worker (results nobody waits for any more are dropped).
    pub fn finished(&mut self, key: &ExplainKey, result: Result<Box<Explained>, String>) {
        if let Some(entry) = self.cache.get_mut(key) {
            *entry = match result {
                Ok(e) => Entry::Ready(e),
                Err(e) => Entry::Failed(e),
            };
        }
    }
}

/// How many finished feature visualisations are kept (the oldest go first).
pub const VISUALIZATIONS_KEPT: usize = 32;

/// Feature visualisations of the current weights.
pub struct VisState {
    /// Steps of the next run.
    pub steps: usize,
    /// Seed of the next run.
    pub seed: u64,
    /// Results by key.
    pub cache: HashMap<VisKey, Entry<Visualization>>,
    /// Finished keys, oldest first (to bound the cache).
    finished: Vec<VisKey>,
}

impl Default for VisState {
    fn default() -> Self {
        Self {
            steps: VisualizeOptions::default().steps,
            seed: 0,
            cache: HashMap::new(),
            finished: Vec::new(),
        }
    }
}

impl VisState {
    /// A run of `key` is starting.
    pub fn start(&mut self, key: VisKey) -> Arc<AtomicBool> {
        let (entry, cancel) = Entry::pending(key.steps);
        self.finished.retain(|k| *k != key);
        self.cache.insert(key, entry);
        cancel
    }

    /// Forget the visualisations of other weights (cancelling those still running).
    pub fn retain(&mut self, weights: u64) {
        self.cache.retain(|k, e| {
            let keep = k.weights == weights;
            if !keep {
                e.cancel();
            }
            keep
        });
        self.finished.retain(|k| k.weights == weights);
    }

    /// Progress from the worker.
    pub fn progress(&mut self, key: &VisKey, done: usize, total: usize) {
        if let Some(e) = self.cache.get_mut(key) {
            e.progress(done, total);
        }
    }

    /// A result from the worker; beyond [`VISUALIZATIONS_KEPT`] finished ones, the oldest go.
    pub fn finished(&mut self, key: VisKey, result: Result<Visualization, String>) {
        let Some(entry) = self.cache.get_mut(&key) else {
            return;
        };
        *entry = match result {
            Ok(v) => Entry::Ready(v),
            Err(e) => Entry::Failed(e),
        };
        self.finished.retain(|k| *k != key);
        self.finished.push(key);
        let over = self.finished.len().saturating_sub(VISUALIZATIONS_KEPT);
        for old in self.finished.drain(..over) {
            self.cache.remove(&old);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(weights: u64, channel: usize) -> VisKey {
        VisKey {
            weights,
            layer: "Mixed_5b".into(),
            channel,
            steps: 16,
            seed: 0,
        }
    }

    fn done(summary: &str) -> Result<Visualization, String> {
        Ok(Visualization {
            image: image::RgbImage::new(2, 2),
            summary: summary.into(),
        })
    }

    /// The feature-visualisation cache used to grow for ever: one image per filter, steps and
    /// seed ever asked for, of every weights ever loaded.
    #[test]
    fn visualisations_are_pruned_by_weights_and_bounded() {
        let mut s = VisState::default();
        for c in 0..VISUALIZATIONS_KEPT + 8 {
            s.start(key(1, c));
            s.finished(key(1, c), done("ok"));
        }
        assert_eq!(s.cache.len(), VISUALIZATIONS_KEPT);
        assert!(!s.cache.contains_key(&key(1, 0)), "the oldest went first");
        assert!(s.cache.contains_key(&key(1, VISUALIZATIONS_KEPT + 7)));

        // A run still going for the old weights is cancelled when new weights arrive.
        let cancel = s.start(key(1, 1000));
        s.retain(2);
        assert!(s.cache.is_empty());
        assert!(cancel.load(Ordering::Relaxed));
        // A late result for a forgotten run is dropped.
        s.finished(key(1, 1000), done("late"));
        assert!(s.cache.is_empty());
    }
}
