//! Analysing images, selecting layers, preparing the selected layer's view, and the layers
//! (read back from the GPU, pre-ReLU values) that arrive after an analysis.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use featurescope_net::{Catalogue, LayerData, WeightsSource};

use super::Core;
use crate::services::dialogs::Dropped;
use crate::services::worker::{Analysis, ImageSource, Job, Stage};
use crate::settings::Settings;
use crate::state::{LayerRef, Progress};
use crate::view::LayerView;

impl Core {
    /// Ask for an image to be analysed (the newest request wins).
    pub(super) fn analyse(&mut self, source: ImageSource) {
        let state = &mut self.state;
        state.generation += 1;
        if let ImageSource::File(p) = &source {
            state.settings.remember(p.clone());
        }
        let image = source.name();
        state.layer_views.icons.cancel_running();
        let job = Job::Analyse {
            generation: state.generation,
            source,
            layer: state.selected.id().to_string(),
        };
        match self.worker.send(job) {
            Ok(()) => {
                state.requested_at = Some(Instant::now());
                state.progress = Some(Progress {
                    stage: Stage::Decoding,
                    done: 0,
                    total: 1,
                    started: Instant::now(),
                    image,
                });
            }
            Err(e) => state.notify_error(e),
        }
    }

    /// A file dropped on the window, taken for what its name says.
    pub(super) fn dropped(&mut self, path: PathBuf) {
        match Dropped::of(&path) {
            Dropped::Image => self.analyse(ImageSource::File(path)),
            Dropped::Weights => self.send(Job::LoadWeights(WeightsSource::File(path))),
            Dropped::Labels => self.tasks.read_labels(path),
        }
    }

    /// Show a layer or the predictions.
    pub(super) fn select(&mut self, layer: LayerRef) {
        if layer == self.state.selected || (layer != LayerRef::Head && layer.info().is_none()) {
            return;
        }
        self.state.selected = layer;
        self.state.settings.layer = layer.id().to_string();
        self.state.inspector = None;
        self.rebuild_view();
    }

    /// Step to the previous (-1) or next (+1) layer in execution order.
    pub(super) fn step_layer(&mut self, delta: isize) {
        let n = Catalogue::inception_v3().layers.len() as isize;
        let pos = match self.state.selected {
            LayerRef::Layer(i) => i as isize,
            LayerRef::Head => n,
        };
        let next = (pos + delta).clamp(0, n - 1) as usize;
        self.select(LayerRef::Layer(next));
    }

    /// New display settings: the view is prepared again when what it shows changed.
    pub(super) fn change_settings(&mut self, settings: Settings) {
        let rebuild = self.state.settings.changes_view(&settings);
        self.state.settings = settings;
        if rebuild {
            self.rebuild_view();
        }
    }

    /// Prepare the selected layer's view again, after a change of layer, data or settings;
    /// what the layer waits for on the worker is asked for (once).
    pub(super) fn rebuild_view(&mut self) {
        let t = Instant::now();
        let state = &mut self.state;
        state.view_version += 1;
        let pre = state.showing_pre_relu();
        let id = state.selected.id();
        let Some(analysis) = &state.analysis else {
            state.view = None;
            state.pair = None;
            return;
        };
        let generation = analysis.generation;
        let data = if pre {
            state.pre_relu.get(id)
        } else {
            analysis.activations.get(id)
        };
        let scores = if state.settings.sort.needs_class() {
            let sort = state.settings.sort;
            state.classes.as_ref().and_then(|c| c.scores(id, sort))
        } else {
            state
                .atlas
                .as_ref()
                .and_then(|a| a.loaded.atlas.selectivity(id))
        };
        state.view = data.and_then(|d| {
            LayerView::new(
                d,
                pre,
                &state.settings,
                state.view_version,
                scores.as_deref(),
            )
        });
        let on_device = analysis.resident && state.selected.info().is_some();
        if state.view.is_none() && pre {
            self.request_pre_relu(generation);
        } else if state.view.is_none() && on_device {
            self.read_layer(generation);
        }
        self.rebuild_pair();
        self.state.last_view_ms = t.elapsed().as_secs_f64() * 1e3;
    }

    /// Ask the worker for the selected conv's pre-ReLU values, once per layer and analysis.
    fn request_pre_relu(&mut self, generation: u64) {
        let layer = self.state.selected.id().to_string();
        if !self.state.pending.pre_relu.insert(layer.clone()) {
            return;
        }
        let job = Job::PreRelu {
            generation,
            layer: layer.clone(),
        };
        if let Err(e) = self.worker.send(job) {
            self.state.pending.pre_relu.remove(&layer);
            self.state.notify_error(e);
        }
    }

    /// Ask the worker for the selected layer of a GPU analysis (the other layers stay on the
    /// device until asked for), once.
    fn read_layer(&mut self, generation: u64) {
        let layer = self.state.selected.id().to_string();
        if !self.state.pending.reading.insert(layer.clone()) {
            return;
        }
        let job = Job::ReadLayer {
            generation,
            layer: layer.clone(),
        };
        if let Err(e) = self.worker.send(job) {
            self.state.pending.reading.remove(&layer);
            self.state.notify_error(e);
        }
    }

    /// An analysis arrived (results a newer image superseded are dropped).
    pub(super) fn analysed(&mut self, mut analysis: Analysis) {
        let state = &mut self.state;
        if analysis.generation < state.generation {
            return;
        }
        if analysis.generation == state.generation {
            state.progress = None;
        }
        let mut keep = state.explained_analyses();
        keep[0] = (analysis.generation, state.weights_serial);
        state.explain.retain(&keep);
        state
            .layer_views
            .retain(analysis.generation, state.weights_serial);
        self.name_classes(&mut analysis);
        let state = &mut self.state;
        state.analysis = Some(analysis);
        state.pre_relu.clear();
        state.pending = Default::default();
        state.gpu_tiles.reset();
        state.inspector = None;
        self.rebuild_view();
        if let Some(t) = self.state.requested_at.take() {
            self.state.last_drop_to_tiles_ms = Some(t.elapsed().as_secs_f64() * 1e3);
        }
    }

    /// A layer read back from the GPU for the analysis on screen. A failed read is no longer
    /// pending (the tiles say "no data" instead of waiting); picking the layer again retries.
    pub(super) fn layer_read(
        &mut self,
        generation: u64,
        layer: &str,
        result: Result<LayerData, String>,
    ) {
        let state = &mut self.state;
        let Some(analysis) = state
            .analysis
            .as_mut()
            .filter(|a| a.generation == generation)
        else {
            return;
        };
        state.pending.reading.remove(layer);
        match result {
            Ok(data) => {
                let shown = data.id == state.selected.id();
                Arc::make_mut(&mut analysis.activations).layers.push(data);
                if shown {
                    self.rebuild_view();
                }
            }
            Err(e) => state.notify_error(e),
        }
    }

    /// Pre-ReLU values arrived for the analysis on screen.
    pub(super) fn pre_relu_arrived(&mut self, generation: u64, data: LayerData) {
        let state = &mut self.state;
        if state
            .analysis
            .as_ref()
            .is_none_or(|a| a.generation != generation)
        {
            return;
        }
        state.pending.pre_relu.remove(&data.id);
        state.pre_relu.insert(data.id.clone(), data);
        self.rebuild_view();
    }

    /// A labels file was read: its names replace the head's, when it names as many classes
    /// as the loaded model has (another model's names are never shown).
    pub(super) fn labels_read(&mut self, path: PathBuf, labels: Result<Vec<String>, String>) {
        let state = &mut self.state;
        let labels = match labels {
            Ok(l) => l,
            Err(e) => return state.notify_error(format!("cannot read class names: {e}")),
        };
        let Some(weights) = state.weights.as_mut() else {
            return state.notify_error("no model is loaded yet: class names not applied");
        };
        let classes = weights.info.head.labels.len();
        if labels.len() != classes {
            return state.notify_error(format!(
                "{} names {} classes; the model has {classes}: class names unchanged",
                path.display(),
                labels.len()
            ));
        }
        weights.info.head.labels = labels;
        weights.info.head.labels_file = Some(path.clone());
        state.labels_serial = Some(state.weights_serial);
        if let Some(mut analysis) = state.analysis.take() {
            self.name_classes(&mut analysis);
            self.state.analysis = Some(analysis);
        }
        self.state
            .notify(format!("class names from {}", path.display()));
    }

    /// Name an analysis' classes with the names chosen for the current model, if any.
    fn name_classes(&self, analysis: &mut Analysis) {
        let state = &self.state;
        let Some(weights) = &state.weights else {
            return;
        };
        if state.labels_serial != Some(state.weights_serial) {
            return;
        }
        let names = &weights.info.head.labels;
        let differs = analysis
            .activations
            .head
            .as_ref()
            .is_some_and(|h| h.labels.len() == names.len() && h.labels != *names);
        if differs {
            // Shared with the views: copied once, only when the names change.
            let activations = Arc::make_mut(&mut analysis.activations);
            if let Some(head) = activations.head.as_mut() {
                head.labels = names.clone();
            }
        }
    }
}
