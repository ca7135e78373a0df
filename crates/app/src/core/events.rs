//! What the worker and the task threads sent back, applied between frames.

use featurescope_net::WeightsSource;

use super::Core;
use crate::services::tasks::TaskResult;
use crate::services::worker::{Event, ImageSource, Job};
use crate::state::{Entry, LoadedWeights};

impl Core {
    /// Apply everything that arrived from the worker and the tasks since the last call.
    pub fn poll(&mut self) {
        for event in self.worker.poll() {
            self.event(event);
        }
        for result in self.tasks.poll() {
            self.task_result(result);
        }
        self.feed_icons();
    }

    fn event(&mut self, event: Event) {
        let state = &mut self.state;
        match event {
            Event::WeightsLoaded {
                info,
                device,
                millis,
            } => self.weights_loaded(LoadedWeights { info, device }, millis),
            Event::DeviceNotice(text) => state.warn(text),
            Event::JobFailed(e) => {
                state.notify_error(format!("{e} (what is on screen is unchanged)"));
            }
            Event::WeightsFailed(e) => {
                let kept = match state.weights {
                    Some(_) => " (the previous weights stay loaded)",
                    None => "",
                };
                state.notify_error(format!("cannot load weights: {e}{kept}"));
            }
            Event::Progress {
                generation,
                stage,
                done,
                total,
            } => {
                if generation == state.generation
                    && let Some(p) = &mut state.progress
                {
                    (p.stage, p.done, p.total) = (stage, done, total);
                }
            }
            Event::Analysed(analysis) => self.analysed(*analysis),
            Event::AnalyseFailed {
                generation,
                message,
            } => self.analyse_failed(generation, &message),
            Event::ExplainProgress { key, done, total } => {
                state.explain.progress(&key, done, total);
            }
            Event::Explained { key, result } => state.explain.finished(&key, result),
            Event::VisualizeProgress { key, done, total } => {
                state.visual.progress(&key, done, total);
            }
            Event::Visualized { key, result } => state.visual.finished(key, result),
            Event::Spatial { key, result } => {
                if let Some(e) = state.layer_views.spatial.get_mut(&key) {
                    *e = match result {
                        Ok(s) => Entry::Ready(s),
                        Err(m) => Entry::Failed(m),
                    };
                }
            }
            Event::Icon { key, result } => self.icon_done(key, result),
            Event::AtlasProgress { done, total } => self.atlas_progress(done, total),
            Event::AtlasBuilt(result) => self.atlas_built(result),
            Event::LayerRead {
                generation,
                layer,
                result,
            } => self.layer_read(generation, &layer, result),
            Event::PreRelu { generation, data } => self.pre_relu_arrived(generation, data),
            Event::TilesColoured {
                generation,
                params,
                result,
            } => self.tiles_coloured(generation, params, result),
            Event::Pinned(result) => self.pinned_arrived(result),
            Event::ReportProgress { done, total } => self.report_progress(done, total),
            Event::ReportBuilt(result) => self.report_built(result),
            Event::ClassProgress {
                done,
                total,
                graphs,
            } => self.class_progress(done, total, graphs),
            Event::ClassesBuilt(result) => self.classes_built(result),
        }
    }

    fn weights_loaded(&mut self, weights: LoadedWeights, millis: f64) {
        let state = &mut self.state;
        state.notify(format!(
            "weights: {} ({}) on {} in {millis:.0} ms",
            weights.info.source.short_name(),
            weights.info.head.description,
            weights.device
        ));
        state.weights = Some(weights);
        state.weights_serial += 1;
        let keep = state.explained_analyses();
        state.explain.retain(&keep);
        state.visual.retain(state.weights_serial);
        let generation = state.analysis.as_ref().map_or(0, |a| a.generation);
        state.layer_views.retain(generation, state.weights_serial);
        let dir = state
            .weights
            .as_ref()
            .and_then(|w| crate::services::icons::icon_dir(&w.info));
        state.layer_views.new_weights(dir);
    }

    /// An analysis (or a pre-ReLU pass for it) failed; the previous image stays on screen.
    fn analyse_failed(&mut self, generation: u64, message: &str) {
        let state = &mut self.state;
        if generation == state.generation {
            state.progress = None;
            state.requested_at = None;
            // A failed pre-ReLU pass is no longer pending: picking the layer again retries.
            state.pending.pre_relu.clear();
        }
        let kept = match state.analysis {
            Some(_) => " — the previous image stays on screen",
            None => "",
        };
        state.notify_error(format!("{message}{kept}"));
    }

    fn task_result(&mut self, result: TaskResult) {
        match result {
            TaskResult::OpenImage(p) => self.analyse(ImageSource::File(p)),
            TaskResult::OpenWeights(p) => self.send(Job::LoadWeights(WeightsSource::File(p))),
            TaskResult::LabelsRead(p, labels) => self.labels_read(p, labels),
            TaskResult::Cancelled => {}
            TaskResult::DialogUnavailable(request) => self.system_dialog_unavailable(request),
            TaskResult::Pasted(Ok(source)) => self.analyse(source),
            TaskResult::Pasted(Err(e)) | TaskResult::Exported(Err(e)) => {
                self.state.notify_error(e);
            }
            TaskResult::Exported(Ok(msg)) => self.state.notify(msg),
            TaskResult::OpenAtlas(p) => self.tasks.load_atlas(p),
            TaskResult::AtlasFolder(p) => self.build_atlas(p, None),
            TaskResult::AtlasLoaded(r) => self.atlas_loaded(r),
            TaskResult::AtlasCrops { key, crops } => self.crops_loaded(key, crops),
            TaskResult::Groups { key, result } => {
                if let Some(e) = self.state.layer_views.groups.get_mut(&key) {
                    *e = match result {
                        Ok(g) => Entry::Ready(g),
                        Err(m) => Entry::Failed(m),
                    };
                }
            }
            TaskResult::IconsRead { layer, found } => self.icons_read(layer, found),
            TaskResult::OpenReport(p) => self.tasks.load_report(p),
            TaskResult::ReportFolder(root) => self.report_folder_chosen(root),
            TaskResult::ReportWeights(root, weights) => {
                self.build_report(root, WeightsSource::File(weights), None);
            }
            TaskResult::ReportLoaded(r) => self.report_loaded(r),
            TaskResult::OpenClasses(p) => self.tasks.load_classes(p),
            TaskResult::ClassesFolder(root) => self.classes_folder_chosen(root),
            TaskResult::ClassesLoaded(r) => self.classes_loaded(r),
            TaskResult::Thumb { key, result } => self.thumb_loaded(key, result),
        }
    }
}
