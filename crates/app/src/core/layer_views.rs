//! The layer views: the point probed on the photo, neuron groups (task threads), spatial
//! attribution (the worker) and the channels' icons — read from the disk cache, else computed
//! on the worker one at a time when nothing else waits, and paused whenever a person asks the
//! worker for something.

use std::sync::Arc;

use image::RgbImage;

use super::Core;
use crate::services::icons::{IconKey, icon_path};
use crate::services::layer_views::{GroupsKey, SpatialKey};
use crate::services::worker::Job;
use crate::state::Entry;
use crate::state::layer_views::Probe;

/// What an icon entry says while it is neither made nor queued (background icons are off).
pub const ICON_NOT_MADE: &str = "not made yet";

impl Core {
    /// Point at the photo: a hover moves the probe unless a click pinned it; a click pins it;
    /// `None` clears it (the panels send it when a hover leaves, or to unpin).
    pub(super) fn probe(&mut self, probe: Option<Probe>) {
        let views = &mut self.state.layer_views;
        let pinned = views.probe.is_some_and(|p| p.pinned);
        views.probe = match probe {
            Some(p) if p.pinned || !pinned => Some(p),
            Some(_) => views.probe,
            None => None,
        };
    }

    /// Factorise a layer of the current image into groups, unless done or running. The
    /// layer's post-ReLU values are those the analysis read (every layer on the CPU; on a GPU
    /// the layer on screen).
    pub(super) fn groups(&mut self, key: GroupsKey) {
        let state = &mut self.state;
        if state.layer_views.groups.contains_key(&key) {
            return;
        }
        let Some(analysis) = state
            .analysis
            .as_ref()
            .filter(|a| a.generation == key.generation)
        else {
            return;
        };
        let maps = analysis.activations.get(&key.layer).and_then(|d| {
            let [_, c, h, w] = d.shape;
            featurescope_maps::LayerMaps::new(c, h, w, d.data.clone()).ok()
        });
        let Some(maps) = maps else {
            let e = format!("{}'s values are not here yet", key.layer);
            state.layer_views.groups.insert(key, Entry::Failed(e));
            return;
        };
        let photo = Arc::new(analysis.input.crop.clone());
        let (entry, _) = Entry::pending(1);
        state.layer_views.groups.insert(key.clone(), entry);
        self.tasks.factorise(key, Arc::new(maps), photo);
    }

    /// Compute a spatial attribution unless it is cached or running (icons wait).
    pub(super) fn spatial(&mut self, key: SpatialKey) {
        if self.state.layer_views.spatial.contains_key(&key) {
            return;
        }
        self.pause_icons();
        let (entry, cancel) = Entry::pending(1);
        self.state.layer_views.spatial.insert(key.clone(), entry);
        let job = Job::Spatial {
            key: key.clone(),
            cancel,
        };
        if let Err(e) = self.worker.send(job) {
            self.state.layer_views.spatial.insert(key, Entry::Failed(e));
        }
    }

    /// The views show these channels: read their icons from the disk cache (once each); the
    /// ones not there are computed in the background unless that is off.
    pub(super) fn want_icons(&mut self, layer: String, channels: Vec<usize>) {
        let icons = &mut self.state.layer_views.icons;
        let new: Vec<usize> = channels
            .into_iter()
            .filter(|&c| !icons.known(&layer, c))
            .collect();
        if new.is_empty() {
            return;
        }
        for &c in &new {
            icons.images.insert((layer.clone(), c), Entry::pending(1).0);
        }
        match icons.dir.clone() {
            Some(dir) => self.tasks.read_icons(dir, layer, new),
            None => self.icons_read(layer, new.into_iter().map(|c| (c, None)).collect()),
        }
    }

    /// Compute these channels' icons now (first in line), whatever the background setting.
    pub(super) fn compute_icons(&mut self, layer: String, channels: Vec<usize>) {
        let icons = &mut self.state.layer_views.icons;
        for c in channels.into_iter().rev() {
            let key = (layer.clone(), c);
            match icons.images.get(&key) {
                Some(Entry::Ready(_) | Entry::Pending { .. }) => {}
                _ => {
                    icons.images.insert(key.clone(), Entry::pending(1).0);
                    icons.queue.retain(|k| *k != key);
                    icons.queue.push_front(key);
                }
            }
        }
    }

    /// Icons read from the disk cache; those not there are queued (or marked not made).
    pub(super) fn icons_read(&mut self, layer: String, found: Vec<(usize, Option<Arc<RgbImage>>)>) {
        let icons = &mut self.state.layer_views.icons;
        for (c, img) in found {
            let key = (layer.clone(), c);
            match img {
                Some(img) => {
                    icons.images.insert(key, Entry::Ready(img));
                }
                None if icons.background_off => {
                    icons
                        .images
                        .insert(key, Entry::Failed(ICON_NOT_MADE.into()));
                }
                None => icons.queue.push_back(key),
            }
        }
    }

    /// An icon came back from the worker. A cancelled one goes back to the front of the line.
    pub(super) fn icon_done(&mut self, key: IconKey, result: Result<Arc<RgbImage>, String>) {
        let weights = self.state.weights_serial;
        let icons = &mut self.state.layer_views.icons;
        if icons.running.as_ref().is_some_and(|(k, _)| *k == key) {
            icons.running = None;
        }
        if key.weights != weights {
            return;
        }
        let slot = (key.layer, key.channel);
        match result {
            Ok(img) => {
                icons.images.insert(slot, Entry::Ready(img));
            }
            Err(e) if e == "cancelled" => icons.queue.push_front(slot),
            Err(e) => {
                icons.images.insert(slot, Entry::Failed(e));
            }
        }
    }

    /// Whether the worker has nothing a person waits for.
    fn worker_idle(&self) -> bool {
        let s = &self.state;
        s.progress.is_none()
            && s.weights.is_some()
            && s.atlas_build.is_none()
            && s.pending.reading.is_empty()
            && s.pending.pre_relu.is_empty()
            && !s.explain.cache.values().any(Entry::is_pending)
            && !s.visual.cache.values().any(Entry::is_pending)
            && !s.layer_views.spatial.values().any(Entry::is_pending)
    }

    /// Send the next icon to the worker: one at a time, only while nothing else waits.
    pub(super) fn feed_icons(&mut self) {
        if self.state.layer_views.icons.running.is_some() || !self.worker_idle() {
            return;
        }
        let weights = self.state.weights_serial;
        let icons = &mut self.state.layer_views.icons;
        let Some((layer, channel)) = icons.queue.pop_front() else {
            return;
        };
        let path = icons.dir.as_deref().map(|d| icon_path(d, &layer, channel));
        let key = IconKey {
            weights,
            layer,
            channel,
        };
        let (_, cancel) = Entry::<()>::pending(1);
        icons.running = Some((key.clone(), cancel.clone()));
        let job = Job::Icon {
            key: key.clone(),
            path,
            cancel,
        };
        if self.worker.send(job).is_err() {
            // Busy: back in line, tried again after the next event.
            let icons = &mut self.state.layer_views.icons;
            icons.running = None;
            icons.queue.push_front((key.layer, key.channel));
        }
    }

    /// A person asked the worker for something: the icon being made stops (and is made again
    /// later).
    pub(super) fn pause_icons(&mut self) {
        self.state.layer_views.icons.cancel_running();
    }
}
