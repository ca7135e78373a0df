//! The application state and its frame loop: events from the worker and from tasks are applied
//! between frames; panels read the state and emit changes through plain method calls.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use egui::{Color32, RichText, TextureHandle, TextureOptions};
use featurescope_net::{
    BackendChoice, Catalogue, ComputeDevice, LayerData, LayerKind, WeightsInfo, WeightsSource,
};

use crate::atlas_view::{AtlasBuild, AtlasState};
use crate::files::{Browser, Dropped, FileRequest};
use crate::settings::{STORAGE_KEY, Settings};
use crate::startup::StartupReport;
use crate::tasks::{TaskResult, Tasks};
use crate::view::{LayerView, TileCache};
use crate::worker::{Analysis, Event, ImageSource, Job, Stage, Worker};

/// How the app starts.
#[derive(Clone, Debug)]
pub struct Launch {
    /// First image (default: the bundled sample photo).
    pub image: Option<PathBuf>,
    /// Weights (default: the bundled model).
    pub weights: Option<PathBuf>,
    /// Backend.
    pub backend: BackendChoice,
    /// Restore persisted settings (off in tests).
    pub restore_settings: bool,
    /// When the process started, to print start → window / first tiles and then close
    /// (`featurescope --startup-report`); `None` in normal use.
    pub startup_report: Option<Instant>,
    /// The GPU device the window draws with, for the network to run on too (one wgpu device
    /// for both: [`crate::run_native`] acquires it); `None`: the worker picks its device from
    /// `backend`.
    pub device: Option<ComputeDevice>,
}

impl Default for Launch {
    fn default() -> Self {
        Self {
            image: None,
            weights: None,
            backend: BackendChoice::Auto,
            restore_settings: true,
            startup_report: None,
            device: None,
        }
    }
}

impl Launch {
    /// How tests and benches start the app: the sample photo, the bundled model, on
    /// `backend`, without saved settings.
    pub fn headless(backend: BackendChoice) -> Self {
        Self {
            restore_settings: false,
            backend,
            ..Self::default()
        }
    }
}

/// The bundled sample photo (CC0, see assets/samples/CREDITS.md), analysed at first start.
pub const SAMPLE_PHOTO: &[u8] = include_bytes!("../../../assets/samples/chelsea.png");

/// A message in the notice strip.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    /// How it is shown.
    pub level: NoticeLevel,
    /// Text.
    pub text: String,
}

/// How a notice is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeLevel {
    /// In the status bar, replaced by the next one.
    Info,
    /// A banner until dismissed: something changed that the person did not ask for (the GPU
    /// was lost, settings were reset).
    Warning,
    /// A red banner until dismissed: what was asked for failed; the last good state stays.
    Error,
}

impl Notice {
    /// Whether it is an error.
    pub fn is_error(&self) -> bool {
        self.level == NoticeLevel::Error
    }
}

/// Progress of the running analysis.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Stage.
    pub stage: Stage,
    /// Steps done.
    pub done: usize,
    /// Steps in all.
    pub total: usize,
    /// When the request was made.
    pub started: Instant,
}

/// Which view of one filter the inspector shows (attribution views join this list).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InspectorView {
    /// The map, magnified, with the value under the cursor.
    Map,
    /// The map upsampled and laid over the input photo.
    Overlay,
    /// The images of the open atlas that excite this filter most, as receptive-field crops.
    Atlas,
    /// An attribution method's explanation of this filter ([`crate::explain`]).
    Explain(featurescope_net::attribution::Method),
    /// Feature visualisation of this filter.
    Visualize,
}

/// The inspector's state: one filter of the current layer.
pub struct Inspector {
    /// Channel.
    pub channel: usize,
    /// Active view.
    pub view: InspectorView,
    /// Cached textures: (view version, channel, smooth) → map texture.
    pub map_texture: Option<((u64, usize, bool), TextureHandle)>,
    /// Cached overlay: (view version, channel, opacity bits) → texture.
    pub overlay_texture: Option<((u64, usize, u32), TextureHandle)>,
}

/// The featurescope viewer.
pub struct FeaturescopeApp {
    /// Persistent settings.
    pub settings: Settings,
    pub(crate) worker: Worker,
    pub(crate) tasks: Tasks,
    /// Active weights and device, once loaded.
    pub weights: Option<(WeightsInfo, String)>,
    /// Notices (errors and information), newest last.
    pub notices: Vec<Notice>,
    /// The newest analysis requested.
    pub generation: u64,
    /// Progress of the running analysis.
    pub progress: Option<Progress>,
    /// The analysis on screen.
    pub analysis: Option<Analysis>,
    /// Pre-ReLU values fetched for the current analysis.
    pub pre_relu: HashMap<String, LayerData>,
    /// Layers of the current analysis asked of the worker and not yet read back from the GPU.
    pub reading: HashSet<String>,
    /// Selected layer id (or "head").
    pub selected: String,
    /// Tree filter text.
    pub filter: String,
    /// The prepared view of the selected layer.
    pub view: Option<LayerView>,
    pub(crate) view_version: u64,
    pub(crate) tiles: TileCache,
    /// The inspector, when a tile was clicked.
    pub inspector: Option<Inspector>,
    pub(crate) input_textures: Option<(u64, TextureHandle, TextureHandle)>,
    pub(crate) colorbar: Option<(String, TextureHandle)>,
    /// Time the last view preparation took, ms (layer switch cost before painting).
    pub last_view_ms: f64,
    /// When the newest image was requested, for "drop → tiles" latency.
    pub(crate) requested_at: Option<Instant>,
    /// Drop → tiles latency of the last analysis, ms.
    pub last_drop_to_tiles_ms: Option<f64>,
    /// Scroll the tree to the selection on the next frame.
    pub(crate) scroll_tree: bool,
    /// Hide timings and the machine's name (deterministic screenshots in tests).
    pub hide_machine_details: bool,
    /// The in-app file browser, while open.
    pub browser: Option<Browser>,
    /// An export chosen in the in-app browser over an existing file: asked before replacing.
    pub replace: Option<crate::files::ReplaceQuestion>,
    /// The system file dialog failed to appear once this run: use the in-app browser.
    pub system_dialog_failed: bool,
    /// Start-up timings being taken (`--startup-report`).
    pub(crate) startup: Option<StartupReport>,
    /// The open filter atlas.
    pub atlas: Option<AtlasState>,
    /// The atlas being built on the worker.
    pub atlas_build: Option<AtlasBuild>,
    /// Attribution results and their settings.
    pub explain: crate::explain::ExplainState,
    /// Feature visualisations.
    pub visual: crate::explain::visualize::VisState,
    /// Counts weight loads (the worker counts the same), so results name their weights.
    pub weights_serial: u64,
    /// The `weights_serial` of the model the person chose class names for (File → Open class
    /// names), whose names then replace the head's.
    labels_serial: Option<u64>,
}

impl FeaturescopeApp {
    /// Build the app: restore settings, start the worker, queue the first image.
    pub fn new(ctx: &egui::Context, storage: Option<&dyn eframe::Storage>, launch: Launch) -> Self {
        let (settings, settings_notice) = if launch.restore_settings {
            let file = eframe::storage_dir("featurescope").map(|d| d.join("app.ron"));
            crate::settings::restore(storage, file.as_deref())
        } else {
            (Settings::default(), None)
        };
        let weights = WeightsSource::from_arg(launch.weights.clone());
        let repaint_ctx = ctx.clone();
        let worker = Worker::spawn(weights, launch.backend, launch.device.clone(), move || {
            repaint_ctx.request_repaint();
        });
        let task_ctx = ctx.clone();
        let tasks = Tasks::new(Arc::new(move || task_ctx.request_repaint()));
        let selected = if Catalogue::inception_v3().get(&settings.layer).is_some() {
            settings.layer.clone()
        } else {
            Settings::default().layer
        };
        let mut app = Self {
            settings,
            worker,
            tasks,
            weights: None,
            notices: Vec::new(),
            generation: 0,
            progress: None,
            analysis: None,
            pre_relu: HashMap::new(),
            reading: HashSet::new(),
            selected,
            filter: String::new(),
            view: None,
            view_version: 0,
            tiles: TileCache::default(),
            inspector: None,
            input_textures: None,
            colorbar: None,
            last_view_ms: 0.0,
            requested_at: None,
            last_drop_to_tiles_ms: None,
            scroll_tree: true,
            hide_machine_details: false,
            browser: None,
            replace: None,
            system_dialog_failed: false,
            startup: launch.startup_report.map(StartupReport::new),
            atlas: None,
            atlas_build: None,
            explain: Default::default(),
            visual: Default::default(),
            weights_serial: 0,
            labels_serial: None,
        };
        let first = match launch.image {
            Some(p) => ImageSource::File(p),
            None => ImageSource::Bytes {
                name: "chelsea.png (sample)".into(),
                bytes: Arc::from(SAMPLE_PHOTO),
            },
        };
        if let Some(n) = settings_notice {
            app.warn(n);
        }
        app.analyse(first);
        app
    }

    /// Ask for an image to be analysed (the newest request wins).
    pub fn analyse(&mut self, source: ImageSource) {
        self.generation += 1;
        if let ImageSource::File(p) = &source {
            self.settings.remember(p.clone());
        }
        let job = Job::Analyse {
            generation: self.generation,
            source,
            layer: self.selected.clone(),
        };
        match self.worker.send(job) {
            Ok(()) => {
                self.requested_at = Some(Instant::now());
                self.progress = Some(Progress {
                    stage: Stage::Decoding,
                    done: 0,
                    total: 1,
                    started: Instant::now(),
                });
            }
            Err(e) => self.notify_error(e),
        }
    }

    /// Fault injection: the next network job fails as a lost GPU does (tests; also armed by
    /// `FEATURESCOPE_SIMULATE_DEVICE_LOSS` at start).
    pub fn simulate_device_loss(&mut self) {
        if let Err(e) = self.worker.send(Job::SimulateDeviceLoss) {
            self.notify_error(e);
        }
    }

    /// Ask for other weights.
    pub fn load_weights(&mut self, source: WeightsSource) {
        if let Err(e) = self.worker.send(Job::LoadWeights(source)) {
            self.notify_error(e);
        }
    }

    /// A labels file was read: its names replace the head's, when it names as many classes
    /// as the loaded model has (another model's names are never shown).
    pub fn labels_read(&mut self, path: PathBuf, labels: Result<Vec<String>, String>) {
        let labels = match labels {
            Ok(l) => l,
            Err(e) => return self.notify_error(format!("cannot read class names: {e}")),
        };
        let Some((info, _)) = self.weights.as_mut() else {
            return self.notify_error("no model is loaded yet: class names not applied");
        };
        let classes = info.head.labels.len();
        if labels.len() != classes {
            return self.notify_error(format!(
                "{} names {} classes; the model has {classes}: class names unchanged",
                path.display(),
                labels.len()
            ));
        }
        info.head.labels = labels;
        info.head.labels_file = Some(path.clone());
        self.labels_serial = Some(self.weights_serial);
        if let Some(mut analysis) = self.analysis.take() {
            self.name_classes(&mut analysis);
            self.analysis = Some(analysis);
        }
        self.notify(format!("class names from {}", path.display()));
    }

    /// Name an analysis' classes with the names chosen for the current model, if any.
    fn name_classes(&self, analysis: &mut Analysis) {
        let Some((info, _)) = &self.weights else {
            return;
        };
        if self.labels_serial != Some(self.weights_serial) {
            return;
        }
        let differs = analysis.activations.head.as_ref().is_some_and(|h| {
            h.labels.len() == info.head.labels.len() && h.labels != info.head.labels
        });
        if differs {
            // Shared with the views: copied once, only when the names change.
            let activations = Arc::make_mut(&mut analysis.activations);
            if let Some(head) = activations.head.as_mut() {
                head.labels = info.head.labels.clone();
            }
        }
    }

    /// Show an error (the current state stays on screen).
    pub fn notify_error(&mut self, text: impl Into<String>) {
        self.push_notice(NoticeLevel::Error, text.into());
    }

    /// Show a warning banner (kept until dismissed).
    pub fn warn(&mut self, text: impl Into<String>) {
        self.push_notice(NoticeLevel::Warning, text.into());
    }

    /// Show an informational message.
    pub fn notify(&mut self, text: impl Into<String>) {
        self.push_notice(NoticeLevel::Info, text.into());
    }

    /// Keep the newest few: banners stay until dismissed, information only while newest.
    fn push_notice(&mut self, level: NoticeLevel, text: String) {
        self.notices.push(Notice { level, text });
        let mut infos = self
            .notices
            .iter()
            .filter(|n| n.level == NoticeLevel::Info)
            .count();
        self.notices.retain(|n| {
            let drop = n.level == NoticeLevel::Info && infos > 1;
            infos -= usize::from(drop);
            !drop
        });
        self.notices.drain(..self.notices.len().saturating_sub(6));
    }

    /// Whether the loaded weights have a classifier head.
    pub fn has_head(&self) -> bool {
        self.weights
            .as_ref()
            .is_some_and(|(w, _)| !w.head.labels.is_empty())
    }

    /// Live tile textures and their bytes (bounded by the tile cache's budget).
    pub fn tile_cache_usage(&self) -> (usize, usize) {
        (self.tiles.len(), self.tiles.bytes())
    }

    /// Whether an analysis is on screen and no newer one is running.
    pub fn is_idle(&self) -> bool {
        self.progress.is_none() && self.analysis.is_some() && self.weights.is_some()
    }

    /// Select a layer by id or alias ("head" selects the predictions).
    pub fn select(&mut self, id: &str) {
        let cat = Catalogue::inception_v3();
        let id = if id == "head" {
            "head".to_string()
        } else {
            match cat.resolve(id) {
                Some(l) => l.id.clone(),
                None => return self.notify_error(format!("unknown layer `{id}`")),
            }
        };
        if id != self.selected {
            self.selected = id.clone();
            self.settings.layer = id;
            self.inspector = None;
            self.scroll_tree = true;
            self.rebuild_view();
        }
    }

    /// Step to the previous (-1) or next (+1) layer in execution order.
    pub fn step_layer(&mut self, delta: isize) {
        let cat = Catalogue::inception_v3();
        let n = cat.layers.len() as isize;
        let pos = cat.position(&self.selected).map_or(-1, |p| p as isize);
        let next = (pos + delta).clamp(0, n - 1) as usize;
        let id = cat.layers[next].id.clone();
        self.select(&id);
    }

    /// Whether the selected layer is shown pre-ReLU.
    pub fn showing_pre_relu(&self) -> bool {
        self.settings.pre_relu
            && Catalogue::inception_v3()
                .get(&self.selected)
                .is_some_and(|l| l.kind == LayerKind::Conv)
    }

    /// Re-prepare the selected layer's view after a change of layer, data or settings.
    pub fn rebuild_view(&mut self) {
        let t = Instant::now();
        self.view_version += 1;
        let pre = self.showing_pre_relu();
        let Some(analysis) = &self.analysis else {
            self.view = None;
            return;
        };
        let generation = analysis.generation;
        let on_device =
            analysis.resident && Catalogue::inception_v3().get(&self.selected).is_some();
        let data = if pre {
            match self.pre_relu.get(&self.selected) {
                Some(d) => Some(d),
                None => {
                    let job = Job::PreRelu {
                        generation,
                        layer: self.selected.clone(),
                    };
                    if let Err(e) = self.worker.send(job) {
                        self.notify_error(e);
                    }
                    None
                }
            }
        } else {
            analysis.activations.get(&self.selected)
        };
        let unread = (!pre && on_device && data.is_none()).then_some(generation);
        self.view = data.and_then(|d| LayerView::new(d, pre, &self.settings, self.view_version));
        if let Some(generation) = unread {
            self.read_layer(generation);
        }
        self.apply_selectivity_order();
        self.last_view_ms = t.elapsed().as_secs_f64() * 1e3;
    }

    /// Ask the worker for the selected layer of a GPU analysis (the other layers stay on the
    /// device until asked for), once.
    fn read_layer(&mut self, generation: u64) {
        if !self.reading.insert(self.selected.clone()) {
            return;
        }
        let job = Job::ReadLayer {
            generation,
            layer: self.selected.clone(),
        };
        if let Err(e) = self.worker.send(job) {
            self.reading.remove(&self.selected);
            self.notify_error(e);
        }
    }

    /// A layer read back from the GPU for the analysis on screen. A failed read is no longer
    /// pending (the tiles say "no data" instead of waiting); picking the layer again retries.
    fn layer_read(&mut self, generation: u64, layer: &str, result: Result<LayerData, String>) {
        let Some(analysis) = self
            .analysis
            .as_mut()
            .filter(|a| a.generation == generation)
        else {
            return;
        };
        self.reading.remove(layer);
        match result {
            Ok(data) => {
                let shown = data.id == self.selected;
                Arc::make_mut(&mut analysis.activations).layers.push(data);
                if shown {
                    self.rebuild_view();
                }
            }
            Err(e) => self.notify_error(e),
        }
    }

    /// Apply worker and task results (between frames).
    pub fn process_events(&mut self) {
        for event in self.worker.poll() {
            match event {
                Event::WeightsLoaded {
                    info,
                    device,
                    millis,
                } => {
                    self.notify(format!(
                        "weights: {} ({}) on {device} in {millis:.0} ms",
                        info.source.short_name(),
                        info.head.description
                    ));
                    self.weights = Some((info, device));
                    self.weights_serial += 1;
                    let generation = self.analysis.as_ref().map_or(0, |a| a.generation);
                    self.explain.retain(generation, self.weights_serial);
                    if let Some(s) = &mut self.startup {
                        s.weights_ready();
                    }
                }
                Event::DeviceNotice(text) => self.warn(text),
                Event::JobFailed(e) => {
                    self.notify_error(format!("{e} (what is on screen is unchanged)"));
                }
                Event::WeightsFailed(e) => {
                    let kept = if self.weights.is_some() {
                        " (the previous weights stay loaded)"
                    } else {
                        ""
                    };
                    self.notify_error(format!("cannot load weights: {e}{kept}"));
                }
                Event::Progress {
                    generation,
                    stage,
                    done,
                    total,
                } => {
                    if generation == self.generation {
                        let started = self
                            .progress
                            .as_ref()
                            .map_or_else(Instant::now, |p| p.started);
                        self.progress = Some(Progress {
                            stage,
                            done,
                            total,
                            started,
                        });
                    }
                }
                Event::Analysed(analysis) => {
                    // Results a newer image superseded are dropped.
                    if analysis.generation < self.generation {
                        continue;
                    }
                    if analysis.generation == self.generation {
                        self.progress = None;
                    }
                    self.explain
                        .retain(analysis.generation, self.weights_serial);
                    let mut analysis = *analysis;
                    self.name_classes(&mut analysis);
                    self.analysis = Some(analysis);
                    self.pre_relu.clear();
                    self.reading.clear();
                    self.inspector = None;
                    self.input_textures = None;
                    self.rebuild_view();
                    if let Some(t) = self.requested_at.take() {
                        self.last_drop_to_tiles_ms = Some(t.elapsed().as_secs_f64() * 1e3);
                    }
                }
                Event::AnalyseFailed {
                    generation,
                    message,
                } => {
                    if generation == self.generation {
                        self.progress = None;
                        self.requested_at = None;
                    }
                    let kept = if self.analysis.is_some() {
                        " — the previous image stays on screen"
                    } else {
                        ""
                    };
                    self.notify_error(format!("{message}{kept}"));
                }
                Event::ExplainProgress { key, done, total } => {
                    self.explain.progress(&key, done, total);
                }
                Event::Explained { key, result } => {
                    self.explain.finished(key, result.map(|b| *b));
                }
                Event::VisualizeProgress { key, done, total } => {
                    self.visual.progress(&key, done, total);
                }
                Event::Visualized { key, result } => self.visual.finished(key, result),
                Event::AtlasProgress { done, total } => self.atlas_progress(done, total),
                Event::AtlasBuilt(result) => self.atlas_built(result),
                Event::LayerRead {
                    generation,
                    layer,
                    result,
                } => self.layer_read(generation, &layer, result),
                Event::PreRelu { generation, data } => {
                    if self
                        .analysis
                        .as_ref()
                        .is_some_and(|a| a.generation == generation)
                    {
                        self.pre_relu.insert(data.id.clone(), data);
                        self.rebuild_view();
                    }
                }
            }
        }
        for result in self.tasks.poll() {
            match result {
                TaskResult::OpenImage(p) => self.analyse(ImageSource::File(p)),
                TaskResult::OpenWeights(p) => self.load_weights(WeightsSource::File(p)),
                TaskResult::LabelsRead(p, labels) => self.labels_read(p, labels),
                TaskResult::Cancelled => {}
                TaskResult::DialogUnavailable(request) => self.system_dialog_unavailable(request),
                TaskResult::Pasted(Ok(source)) => self.analyse(source),
                TaskResult::Pasted(Err(e)) | TaskResult::Exported(Err(e)) => self.notify_error(e),
                TaskResult::Exported(Ok(msg)) => self.notify(msg),
                TaskResult::OpenAtlas(p) => self.open_atlas(p),
                TaskResult::AtlasFolder(p) => self.build_atlas(p),
                TaskResult::AtlasLoaded(r) => self.atlas_loaded(r),
                TaskResult::AtlasCrops { key, crops } => self.crops_loaded(key, crops),
            }
        }
    }

    fn handle_input(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        if let Some(path) = dropped.into_iter().next() {
            match Dropped::of(&path) {
                Dropped::Image => self.analyse(ImageSource::File(path)),
                Dropped::Weights => self.load_weights(WeightsSource::File(path)),
                Dropped::Labels => self.tasks.read_labels(path),
            }
        }
        let text_focus = ctx.egui_wants_keyboard_input();
        let (open, paste, up, down) = ctx.input_mut(|i| {
            let paste_event = i.events.iter().any(|e| matches!(e, egui::Event::Paste(_)));
            (
                i.consume_key(egui::Modifiers::COMMAND, egui::Key::O),
                i.consume_key(egui::Modifiers::COMMAND, egui::Key::V) || paste_event,
                !text_focus && i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowUp),
                !text_focus && i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowDown),
            )
        });
        if open {
            self.choose_file(FileRequest::OpenImage);
        }
        if paste && !text_focus {
            self.tasks.paste();
        }
        if up {
            self.step_layer(-1);
        }
        if down {
            self.step_layer(1);
        }
    }

    pub(crate) fn recent_dir(&self) -> Option<PathBuf> {
        self.settings
            .recent
            .first()
            .and_then(|p| p.parent().map(PathBuf::from))
    }

    /// The frame closure a headless harness (egui_kittest) drives: the app is made on the
    /// first frame, with timings and the machine's name hidden (snapshots do not depend on
    /// them), then drawn each frame.
    pub fn driven(launch: Launch) -> impl FnMut(&mut egui::Ui, &mut Option<Self>) {
        move |ui, state| {
            let app = state.get_or_insert_with(|| {
                let mut app = Self::new(ui.ctx(), None, launch.clone());
                app.hide_machine_details = true;
                app
            });
            app.frame_ui(ui);
        }
    }

    /// One whole frame of UI (also used by the UI tests).
    pub fn frame_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        if let Some(s) = &mut self.startup {
            s.frame();
        }
        self.process_events();
        self.handle_input(&ctx);
        egui::Panel::top("menu").show(ui, |ui| self.menu_ui(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status_ui(ui));
        egui::Panel::left("layers")
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| self.tree_ui(ui));
        egui::Panel::right("input")
            .resizable(true)
            .default_size(260.0)
            .show(ui, |ui| self.input_ui(ui));
        if self.atlas.is_some() {
            egui::Panel::right("atlas")
                .resizable(true)
                .default_size(2.0 * crate::atlas_view::THUMB_PX as f32 + 30.0)
                .show(ui, |ui| self.atlas_panel_ui(ui));
        }
        egui::CentralPanel::default().show(ui, |ui| {
            self.notices_ui(ui);
            self.tiles_ui(ui);
        });
        self.inspector_window(&ctx);
        self.browser_ui(&ctx);
        self.drop_hint(&ctx);
        if self.startup.is_some() {
            self.report_startup(&ctx);
        }
        if self.progress.is_some() {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    /// `--startup-report`: once the first tiles are on screen, print the timings and close.
    fn report_startup(&mut self, ctx: &egui::Context) {
        let (Some(s), Some(a)) = (&mut self.startup, &self.analysis) else {
            return;
        };
        if s.tiles_drawn(self.tiles.len(), &a.source.name()) {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }

    fn drop_hint(&self, ctx: &egui::Context) {
        let hovering = ctx.input(|i| !i.raw.hovered_files.is_empty());
        if hovering {
            let painter = ctx.layer_painter(egui::LayerId::new(
                egui::Order::Foreground,
                egui::Id::unique("featurescope-drop"),
            ));
            let rect = ctx.content_rect();
            painter.rect_filled(rect, 0.0, Color32::from_black_alpha(160));
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "Drop the image to analyse it",
                egui::FontId::proportional(28.0),
                Color32::WHITE,
            );
        }
    }

    fn notices_ui(&mut self, ui: &mut egui::Ui) {
        let mut dismiss = None;
        let banners = self.notices.iter().enumerate().rev();
        for (i, n) in banners
            .filter(|(_, n)| n.level != NoticeLevel::Info)
            .take(2)
        {
            let (fill, title) = match n.level {
                NoticeLevel::Error => (Color32::from_rgb(110, 24, 24), "Error"),
                _ => (Color32::from_rgb(110, 80, 16), "Note"),
            };
            egui::Frame::new()
                .fill(fill)
                .inner_margin(6.0)
                .corner_radius(4.0)
                .show(ui, |ui| {
                    ui.set_width(ui.available_width());
                    ui.horizontal(|ui| {
                        ui.label(RichText::new(title).strong().color(Color32::WHITE));
                        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                            if ui.small_button("Dismiss").clicked() {
                                dismiss = Some(i);
                            }
                            ui.with_layout(
                                egui::Layout::left_to_right(egui::Align::Center),
                                |ui| {
                                    ui.add(
                                        egui::Label::new(
                                            RichText::new(&n.text).color(Color32::WHITE),
                                        )
                                        .truncate(),
                                    )
                                    .on_hover_text(&n.text);
                                },
                            );
                        });
                    });
                });
        }
        if let Some(i) = dismiss {
            self.notices.remove(i);
        }
    }

    pub(crate) fn input_textures(
        &mut self,
        ctx: &egui::Context,
    ) -> Option<(TextureHandle, TextureHandle)> {
        let analysis = self.analysis.as_ref()?;
        if self
            .input_textures
            .as_ref()
            .is_none_or(|(g, _, _)| *g != analysis.generation)
        {
            let (original, crop) = &*analysis.previews;
            let o = ctx.load_texture("input-original", original.clone(), TextureOptions::LINEAR);
            let c = ctx.load_texture("input-crop", crop.clone(), TextureOptions::LINEAR);
            self.input_textures = Some((analysis.generation, o, c));
        }
        self.input_textures
            .as_ref()
            .map(|(_, o, c)| (o.clone(), c.clone()))
    }
}

impl eframe::App for FeaturescopeApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame_ui(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, STORAGE_KEY, &self.settings);
    }
}
