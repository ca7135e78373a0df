//! Class summaries: building one over a folder on the worker (progress, Stop), opening one (read
//! on a task thread), picking the class shown and the one compared with, and a click on a
//! graph's node: its layer and channel in the tiles and the inspector.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use featurescope_atlas::BuildSummary;
use featurescope_atlas::classes::ClassOptions;
use featurescope_maps::classes::{ClassSummary, DEFAULT_MASS};

use super::Core;
use crate::action::Action;
use crate::services::paths::default_classes_path;
use crate::services::worker::Job;
use crate::state::{ClassBuild, ClassesState, Inspector, LayerRef, ViewId};

/// Graph nodes per block of a summary built from the File menu (`featurescope classes`'s
/// default).
pub const NODES: usize = 8;
/// Images per class whose influences its graph's edges average (the CLI's default).
pub const EDGE_IMAGES: usize = 32;

impl Core {
    /// The folder to summarise was chosen: build with the CLI's defaults.
    pub(super) fn classes_folder_chosen(&mut self, root: PathBuf) {
        self.build_classes(root, None, NODES, EDGE_IMAGES);
    }

    /// The class summary's actions.
    pub(super) fn apply_classes(&mut self, action: Action) {
        match action {
            Action::OpenClasses(path) => self.tasks.load_classes(path),
            Action::BuildClasses {
                root,
                out,
                nodes,
                edge_images,
            } => self.build_classes(root, out, nodes, edge_images),
            Action::StopClassBuild => {
                if let Some(b) = &self.state.class_build {
                    b.folder.stop.store(true, Ordering::SeqCst);
                }
            }
            Action::CloseClasses => {
                self.state.classes = None;
                self.resort_by_class();
            }
            Action::PickClass(class) => self.pick_class(class),
            Action::CompareClass(other) => {
                if let Some(c) = &mut self.state.classes {
                    c.other = other.filter(|o| Some(*o) != c.class);
                }
            }
            Action::InspectChannel { layer, channel } => self.inspect_channel(&layer, channel),
            _ => {}
        }
    }

    /// Build (or continue) the summary of `root` (one sub-folder per class) with the current
    /// weights, on the worker, over every tap.
    fn build_classes(
        &mut self,
        root: PathBuf,
        out: Option<PathBuf>,
        nodes: usize,
        edge_images: usize,
    ) {
        if self.state.class_build.is_some() {
            return self
                .state
                .notify_error("a class summary is already being built");
        }
        let Some(weights) = &self.state.weights else {
            return self.state.notify_error("no weights loaded yet");
        };
        if weights.info.head.labels.is_empty() {
            return self
                .state
                .notify_error("these weights have no classifier head: a class summary needs one");
        }
        let options = ClassOptions {
            out: out.unwrap_or_else(|| default_classes_path(&root)),
            root,
            layers: None,
            batch: featurescope_atlas::DEFAULT_BATCH,
            shard: None,
            predicted: false,
            mass: DEFAULT_MASS,
            nodes,
            edge_images,
            stop_after: None,
        };
        if let Some(dir) = options.out.parent()
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            return self
                .state
                .notify_error(format!("cannot create {}: {e}", dir.display()));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let job = Job::BuildClasses {
            options,
            stop: stop.clone(),
        };
        match self.worker.send(job) {
            Ok(()) => self.state.class_build = Some(ClassBuild::new(stop)),
            Err(e) => self.state.notify_error(e),
        }
    }

    /// The worker reported progress of the class summary's build.
    pub(super) fn class_progress(&mut self, done: usize, total: usize, graphs: bool) {
        if let Some(b) = &mut self.state.class_build {
            (b.folder.done, b.folder.total, b.graphs) = (done, total, graphs);
        }
    }

    /// The worker finished (or stopped) the build: open what was built.
    pub(super) fn classes_built(&mut self, result: Result<(PathBuf, BuildSummary), String>) {
        self.state.class_build = None;
        match result {
            Ok((path, s)) => {
                self.state.notify(format!(
                    "class summary: {} images ({} skipped){} ({})",
                    s.images,
                    s.skipped,
                    if s.stopped { ", stopped early" } else { "" },
                    path.display()
                ));
                self.tasks.load_classes(path);
            }
            Err(e) => self.state.notify_error(e),
        }
    }

    /// A summary was read: it replaces the one open (an error keeps that one).
    pub(super) fn classes_loaded(&mut self, result: Result<(PathBuf, Arc<ClassSummary>), String>) {
        match result {
            Ok((path, summary)) if summary.classes().is_empty() => {
                self.state.notify_error(format!(
                    "{}: the class summary holds no image yet",
                    path.display()
                ));
            }
            Ok((path, summary)) => {
                let graphs = if summary.any_graph() {
                    ""
                } else {
                    ", no graph"
                };
                self.state.notify(format!(
                    "class summary: {} classes, {} images{graphs} ({})",
                    summary.classes().len(),
                    summary.images().len(),
                    path.display()
                ));
                self.state.classes = Some(ClassesState::new(path, summary));
                self.resort_by_class();
            }
            Err(e) => self.state.notify_error(e),
        }
    }

    fn pick_class(&mut self, class: u32) {
        let Some(c) = &mut self.state.classes else {
            return;
        };
        if !c.summary.classes().contains_key(&class) {
            return;
        }
        c.class = Some(class);
        if c.other == Some(class) {
            c.other = None;
        }
        self.resort_by_class();
    }

    /// The tiles sorted by the class follow the class picked (or its absence).
    fn resort_by_class(&mut self) {
        if self.state.settings.sort.needs_class() {
            self.rebuild_view();
        }
    }

    /// Show `layer` in the tiles and inspect `channel` of it.
    fn inspect_channel(&mut self, layer: &str, channel: usize) {
        let Some(l) = LayerRef::resolve(layer).filter(|l| *l != LayerRef::Head) else {
            return self
                .state
                .notify_error(format!("no layer {layer} in this network"));
        };
        self.select(l);
        let view = if self.state.pair.is_some() {
            ViewId::PAIR
        } else {
            ViewId::MAP
        };
        self.state.inspector = Some(Inspector { channel, view });
    }
}
