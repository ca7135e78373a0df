//! Explanations and feature visualisations: started on the worker once per key, cancelled,
//! forgotten when the image or the weights change.

use super::Core;
use crate::services::attribution::{ExplainKey, VisKey};
use crate::services::worker::Job;
use crate::state::Entry;

impl Core {
    /// Compute an explanation unless it is cached or running. A job that cannot be queued
    /// fails the entry with the reason (the view offers a retry).
    pub(super) fn explain(&mut self, key: ExplainKey) {
        let explain = &mut self.state.explain;
        if explain.cache.contains_key(&key) {
            return;
        }
        let cancel = explain.start(key.clone());
        self.pause_icons();
        let job = Job::Explain {
            key: key.clone(),
            cancel,
        };
        if let Err(e) = self.worker.send(job) {
            self.state.explain.finished(&key, Err(e));
        }
    }

    /// Compute a feature visualisation unless it is done or running. A job that cannot be
    /// queued fails the entry with the reason, rather than leaving it pending for ever.
    pub(super) fn visualize(&mut self, key: VisKey) {
        let visual = &mut self.state.visual;
        if matches!(
            visual.cache.get(&key),
            Some(Entry::Pending { .. } | Entry::Ready(_))
        ) {
            return;
        }
        let cancel = visual.start(key.clone());
        self.pause_icons();
        let job = Job::Visualize {
            key: key.clone(),
            cancel,
        };
        if let Err(e) = self.worker.send(job) {
            self.state.visual.finished(key, Err(e));
        }
    }
}
