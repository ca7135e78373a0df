//! The filter atlas: building one on the worker, opening one (read on a task thread), its crops,
//! and analysing its images.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use featurescope_atlas::{BuildOptions, BuildSummary, DEFAULT_BATCH, Rank};
use featurescope_maps::atlas::{AtlasHit, input_image_path};
use image::RgbImage;

use super::Core;
use crate::services::paths::default_atlas_dir;
use crate::services::tasks::{CropKey, LoadedAtlas};
use crate::services::worker::{ImageSource, Job};
use crate::state::{AtlasBuild, AtlasState, Crops};

impl Core {
    /// Build (or continue) the atlas of `root` in `out` (default: its own folder under the
    /// data home), with the current weights, on the worker.
    pub(super) fn build_atlas(&mut self, root: PathBuf, out: Option<PathBuf>) {
        if self.state.atlas_build.is_some() {
            return self.state.notify_error("an atlas is already being built");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let options = BuildOptions {
            out: out.unwrap_or_else(|| default_atlas_dir(&root)),
            root,
            layers: None,
            top: 9,
            batch: DEFAULT_BATCH,
            shard: None,
            stop_after: None,
        };
        let job = Job::BuildAtlas {
            options,
            stop: stop.clone(),
        };
        match self.worker.send(job) {
            Ok(()) => {
                self.state.atlas_build = Some(AtlasBuild::new(stop));
            }
            Err(e) => self.state.notify_error(e),
        }
    }

    /// Stop the build (what is done is kept and opened).
    pub(super) fn stop_atlas_build(&mut self) {
        if let Some(b) = &self.state.atlas_build {
            b.stop.store(true, Ordering::SeqCst);
        }
    }

    /// The worker reported progress of the atlas build.
    pub(super) fn atlas_progress(&mut self, done: usize, total: usize) {
        if let Some(b) = &mut self.state.atlas_build {
            (b.done, b.total) = (done, total);
        }
    }

    /// The worker finished (or stopped) the build: open what was built.
    pub(super) fn atlas_built(&mut self, result: Result<(PathBuf, BuildSummary), String>) {
        self.state.atlas_build = None;
        match result {
            Ok((dir, s)) => {
                self.state.notify(format!(
                    "atlas: {} images ({} skipped){} in {}",
                    s.images,
                    s.skipped,
                    if s.stopped { ", stopped early" } else { "" },
                    dir.display()
                ));
                self.tasks.load_atlas(dir);
            }
            Err(e) => self.state.notify_error(e),
        }
    }

    /// An atlas was read.
    pub(super) fn atlas_loaded(&mut self, result: Result<LoadedAtlas, String>) {
        match result {
            Ok(loaded) => {
                self.state.notify(format!(
                    "atlas: {} images, {} layers, top {} ({})",
                    loaded.atlas.images().len(),
                    loaded.atlas.layers().len(),
                    loaded.atlas.k(),
                    loaded.dir.display()
                ));
                self.state.atlas = Some(AtlasState::new(loaded));
                // Selectivity needs the atlas: the order may change.
                self.rebuild_view();
            }
            Err(e) => self.state.notify_error(e),
        }
    }

    /// Rank the top images by maximum or mean.
    pub(super) fn rank_atlas_by(&mut self, rank: Rank) {
        if let Some(a) = &mut self.state.atlas {
            a.rank = rank;
        }
    }

    /// Read the crops of one filter's top images (on a task thread), once.
    pub(super) fn load_crops(&mut self, key: CropKey) {
        let Some(atlas) = &mut self.state.atlas else {
            return;
        };
        if atlas.crops.contains_key(&key) {
            return;
        }
        match atlas.loaded.atlas.top(&key.layer, key.channel, key.rank) {
            Ok(hits) => {
                let dir = atlas.loaded.dir.clone();
                atlas.set_crops(key.clone(), Crops::Loading);
                self.tasks.load_crops(dir, key, hits);
            }
            Err(e) => atlas.set_crops(key, Crops::Failed(e.to_string())),
        }
    }

    /// Crops arrived from a task.
    pub(super) fn crops_loaded(
        &mut self,
        key: CropKey,
        crops: Result<Vec<(AtlasHit, RgbImage)>, String>,
    ) {
        if let Some(atlas) = &mut self.state.atlas {
            let crops = match crops {
                Ok(list) => Crops::Ready(list),
                Err(e) => Crops::Failed(e),
            };
            atlas.set_crops(key, crops);
        }
    }

    /// Analyse an atlas image: the original in the collection when that folder was there as the
    /// atlas was opened, else the network input the atlas kept.
    pub(super) fn analyse_atlas_image(&mut self, image: &str) {
        let Some(atlas) = &self.state.atlas else {
            return;
        };
        let path = match &atlas.loaded.root {
            Some(root) => root.join(image),
            None => input_image_path(&atlas.loaded.dir, image),
        };
        self.analyse(ImageSource::File(path));
    }
}
