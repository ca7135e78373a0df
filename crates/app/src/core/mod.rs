//! The one place that changes the state: [`Core::apply`] carries out an [`Action`], and
//! [`Core::poll`] applies what the worker and the tasks sent back. No drawing here: the window
//! ([`crate::FeaturescopeApp`]) calls both between frames, tests call them directly.

mod analysis;
mod atlas;
mod classes;
mod compare;
mod events;
mod files;
mod gpu_tiles;
mod layer_views;
mod results;

use std::sync::Arc;

use featurescope_net::WeightsSource;

use crate::action::{Action, Cancel};
use crate::launch::{Launch, SAMPLE_PHOTO};
use crate::services::tasks::Tasks;
use crate::services::worker::{ImageSource, Job, SHUTDOWN_WAIT, Worker};
use crate::settings::Settings;
use crate::state::{AppState, LayerRef};

/// The state and the services that change it.
pub struct Core {
    state: AppState,
    worker: Worker,
    tasks: Tasks,
}

impl Core {
    /// Start: the worker loads the weights, the first image (the sample photo unless the
    /// launch names one) is queued. `repaint` is called whenever a result arrives.
    pub fn new(launch: &Launch, settings: Settings, repaint: Arc<dyn Fn() + Send + Sync>) -> Self {
        let weights = WeightsSource::from_arg(launch.weights.clone());
        let worker_repaint = repaint.clone();
        let worker = Worker::spawn_on(
            weights,
            launch.backend,
            (launch.device.clone(), launch.gpu.clone()),
            move || worker_repaint(),
        );
        Self::with_services(launch, settings, worker, Tasks::new(repaint))
    }

    /// Start with these services (tests give a worker that refuses every job).
    pub fn with_services(
        launch: &Launch,
        settings: Settings,
        worker: Worker,
        tasks: Tasks,
    ) -> Self {
        let selected = LayerRef::resolve(&settings.layer)
            .filter(|l| *l != LayerRef::Head)
            .or_else(|| LayerRef::resolve(&Settings::default().layer))
            .unwrap_or(LayerRef::Layer(0));
        let mut state = AppState::new(settings, selected);
        state.gpu_tiles.available = launch.gpu.is_some();
        let mut core = Self {
            state,
            worker,
            tasks,
        };
        let first = match &launch.image {
            Some(p) => ImageSource::File(p.clone()),
            None => ImageSource::Bytes {
                name: "chelsea.png (sample)".into(),
                bytes: Arc::from(SAMPLE_PHOTO),
            },
        };
        core.analyse(first);
        core
    }

    /// The state, to read.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The window is closing: what runs on the worker is told to stop, and the worker is
    /// stopped and waited for ([`Worker::stop`], at most [`SHUTDOWN_WAIT`]). Whether it ended
    /// in time.
    pub fn shut_down(&mut self) -> bool {
        self.state.cancel_all();
        self.worker.stop(SHUTDOWN_WAIT)
    }

    /// The state, to change in ways no action covers (a setting a test wants, a notice).
    pub fn state_mut(&mut self) -> &mut AppState {
        &mut self.state
    }

    /// Carry out what a person did.
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Analyse(source) => self.analyse(source),
            Action::LoadWeights(source) => self.send(Job::LoadWeights(source)),
            Action::ReadClassNames(path) => self.tasks.read_labels(path),
            Action::Dropped(path) => self.dropped(path),
            Action::Paste => self.tasks.paste(),
            Action::Select(layer) => self.select(layer),
            Action::StepLayer(delta) => self.step_layer(delta),
            Action::ChangeSettings(settings) => self.change_settings(*settings),
            Action::Choose(what) => self.choose(what),
            Action::BrowserChose(path) => self.browser_chose(path),
            Action::BrowserClosed => self.state.files.browser = None,
            Action::Replace(yes) => self.replace(yes),
            Action::Inspect(inspector) => self.state.inspector = Some(inspector),
            Action::CloseInspector => self.state.inspector = None,
            Action::ExplainTarget(t) => self.state.explain.target = t,
            Action::ExplainOptions(o) => self.state.explain.options = *o,
            Action::Explain(key) => self.explain(key),
            Action::SanityCheck(key, scope) => self.explain(key.sanity_check(scope)),
            Action::RetryExplain(key) => {
                self.state.explain.cache.remove(&key);
            }
            Action::VisualizeSettings { steps, seed } => {
                (self.state.visual.steps, self.state.visual.seed) = (steps, seed);
            }
            Action::Visualize(key) => self.visualize(key),
            Action::Cancel(what) => self.cancel(&what),
            Action::Probe(p) => self.probe(p),
            Action::DictionaryK(k) => self.state.layer_views.k = k.clamp(1, 16),
            Action::GroupsSettings { k, iters } => {
                let views = &mut self.state.layer_views;
                (views.groups_k, views.groups_iters) = (k.clamp(1, 16), iters.clamp(1, 2000));
            }
            Action::Groups(key) => self.groups(key),
            Action::SpatialClasses(c) => self.state.layer_views.classes = c,
            Action::Spatial(key) => self.spatial(key),
            Action::WantIcons { layer, channels } => self.want_icons(layer, channels),
            Action::ComputeIcons { layer, channels } => self.compute_icons(layer, channels),
            Action::IconsInBackground(on) => self.icons_in_background(on),
            Action::OpenAtlas(path) => self.tasks.load_atlas(path),
            Action::BuildAtlas { root, out } => self.build_atlas(root, out),
            Action::StopAtlasBuild => self.stop_atlas_build(),
            Action::RankAtlasBy(rank) => self.rank_atlas_by(rank),
            Action::LoadCrops(key) => self.load_crops(key),
            Action::AnalyseAtlasImage(image) => self.analyse_atlas_image(&image),
            Action::Dismiss(i) => {
                if i < self.state.notices.len() {
                    self.state.notices.remove(i);
                }
            }
            Action::SimulateDeviceLoss => self.send(Job::SimulateDeviceLoss),
            Action::ColourOnGpu(params) => self.colour_on_gpu(params),
            action => self.apply_compare(action),
        }
    }

    /// The comparing actions: pin, reports, side by side.
    fn apply_compare(&mut self, action: Action) {
        match action {
            Action::Pin => self.pin(),
            Action::Unpin => self.unpin(),
            Action::OpenReport(path) => self.tasks.load_report(path),
            Action::BuildReport {
                root,
                weights_b,
                out,
            } => self.build_report(root, weights_b, out),
            Action::StopReportBuild => self.stop_report_build(),
            Action::CloseReport => self.state.report = None,
            Action::ReportLayer(layer) => self.report_layer(layer),
            Action::LoadThumb(key) => self.load_thumb(key),
            Action::SideBySide {
                image,
                layer,
                channel,
            } => self.side_by_side(&image, &layer, channel),
            action => self.apply_classes(action),
        }
    }

    /// Queue a job; a refusal (queue full, worker gone) is shown as an error.
    fn send(&mut self, job: Job) {
        if let Err(e) = self.worker.send(job) {
            self.state.notify_error(e);
        }
    }

    fn icons_in_background(&mut self, on: bool) {
        let icons = &mut self.state.layer_views.icons;
        icons.background_off = !on;
        if on {
            let not_made: Vec<(String, usize)> = icons
                .images
                .iter()
                .filter(|(_, e)| {
                    matches!(e, crate::state::Entry::Failed(m) if m == layer_views::ICON_NOT_MADE)
                })
                .map(|(k, _)| k.clone())
                .collect();
            for (layer, c) in not_made {
                self.compute_icons(layer, vec![c]);
            }
        }
    }

    fn cancel(&mut self, what: &Cancel) {
        match what {
            Cancel::Explain(key) => self.state.explain.cache.get(key).map(|e| e.cancel()),
            Cancel::Visualize(key) => self.state.visual.cache.get(key).map(|e| e.cancel()),
        };
    }
}

/// A core let go of (the window closed, or a test ended) stops its worker, cancelling what it
/// runs, rather than leaving the thread to run on.
impl Drop for Core {
    fn drop(&mut self) {
        self.shut_down();
    }
}

#[cfg(test)]
mod tests;
