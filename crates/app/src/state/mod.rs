//! The application's state, apart from drawing: what is analysed and selected, what is
//! pending on the worker, notices and settings. Plain data — no egui handle, no egui texture (the
//! GPU-coloured tiles are the services' wgpu texture, `gpu_tiles`) — read by the panels and
//! changed only by the core when it applies an action or an event.

pub mod atlas;
pub mod classes;
pub mod compare;
pub mod gpu_tiles;
pub mod layer_views;
pub mod results;
pub mod selection;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use featurescope_net::{LayerData, WeightsInfo};

use crate::services::dialogs::{FileRequest, ReplaceQuestion};
use crate::services::worker::{Analysis, RunsOn, Stage};
use crate::settings::Settings;
use crate::view::LayerView;

pub use crate::services::tasks::ThumbKey;
pub use atlas::{AtlasBuild, AtlasState, Crops};
pub use classes::{ClassBuild, ClassesState};
pub use compare::{PairView, Pinned, ReportBuild, ReportState, Thumb};
pub use results::{Entry, ExplainState, TargetChoice, VisState};
pub use selection::{Inspector, LayerRef, ViewId};

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
    /// What is being analysed.
    pub image: String,
}

/// The loaded model and where it runs.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedWeights {
    /// What was loaded (its class names possibly replaced by a labels file).
    pub info: WeightsInfo,
    /// Where it runs.
    pub device: RunsOn,
}

/// A file being chosen in featurescope's own browser (the browser panel shows it).
pub struct BrowserRequest {
    /// What for.
    pub request: FileRequest,
    /// The folder it opens in.
    pub start: Option<PathBuf>,
    /// Counts requests, so the panel opens a fresh browser for each.
    pub serial: u64,
}

/// Choosing files.
#[derive(Default)]
pub struct FileState {
    /// The in-app browser, while open.
    pub browser: Option<BrowserRequest>,
    /// An export chosen in the in-app browser over an existing file: asked before replacing.
    pub replace: Option<ReplaceQuestion>,
    /// The system file dialog failed to appear once this run: the in-app browser serves.
    pub system_dialog_failed: bool,
    /// Requests made (numbers the browser's requests).
    pub requests: u64,
}

/// Layers asked of the worker for the analysis on screen and not yet arrived.
#[derive(Debug, Default)]
pub struct Pending {
    /// Read back from the GPU ([`crate::services::worker::Job::ReadLayer`]).
    pub reading: HashSet<String>,
    /// Pre-ReLU values ([`crate::services::worker::Job::PreRelu`]).
    pub pre_relu: HashSet<String>,
}

/// Everything the window shows, apart from how it is drawn.
pub struct AppState {
    /// Persistent settings.
    pub settings: Settings,
    /// The model, once loaded.
    pub weights: Option<LoadedWeights>,
    /// Counts weight loads (the worker counts the same), so results name their weights.
    pub weights_serial: u64,
    /// The `weights_serial` of the model the person chose class names for (File → Open class
    /// names), whose names then replace the head's.
    pub labels_serial: Option<u64>,
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
    /// What the current analysis still waits for.
    pub pending: Pending,
    /// The layer (or the predictions) on screen.
    pub selected: LayerRef,
    /// The selected layer prepared for display.
    pub view: Option<LayerView>,
    /// Changes whenever the view does (the tiles' textures follow it).
    pub view_version: u64,
    /// Time the last view preparation took, ms (layer switch cost before painting).
    pub last_view_ms: f64,
    /// When the newest image was requested, for "drop → tiles" latency.
    pub requested_at: Option<Instant>,
    /// Drop → tiles latency of the last analysis, ms.
    pub last_drop_to_tiles_ms: Option<f64>,
    /// The inspector, when a tile was clicked.
    pub inspector: Option<Inspector>,
    /// Choosing files.
    pub files: FileState,
    /// The open filter atlas.
    pub atlas: Option<AtlasState>,
    /// The atlas being built on the worker.
    pub atlas_build: Option<AtlasBuild>,
    /// The pinned analysis: side A of a comparison (the analysis on screen is side B).
    pub pinned: Option<Pinned>,
    /// The selected layer under both sides, on one scale (with `view` as side B).
    pub pair: Option<PairView>,
    /// The open report of two models compared over a folder.
    pub report: Option<ReportState>,
    /// The report being built on the worker.
    pub report_build: Option<ReportBuild>,
    /// The open class summary.
    pub classes: Option<ClassesState>,
    /// The class summary being built on the worker.
    pub class_build: Option<ClassBuild>,
    /// Attribution results and their settings.
    pub explain: ExplainState,
    /// Feature visualisations.
    pub visual: VisState,
    /// The layer views: dictionary, neuron groups, spatial attribution, channels' icons.
    pub layer_views: layer_views::LayerViews,
    /// Hide timings and the machine's name (deterministic screenshots in tests).
    pub hide_machine_details: bool,
    /// Tiles coloured on the GPU from the taps there.
    pub gpu_tiles: gpu_tiles::GpuTilesState,
}

impl AppState {
    /// The state at start: nothing analysed, `selected` on screen.
    pub fn new(settings: Settings, selected: LayerRef) -> Self {
        Self {
            settings,
            weights: None,
            weights_serial: 0,
            labels_serial: None,
            notices: Vec::new(),
            generation: 0,
            progress: None,
            analysis: None,
            pre_relu: HashMap::new(),
            pending: Pending::default(),
            selected,
            view: None,
            view_version: 0,
            last_view_ms: 0.0,
            requested_at: None,
            last_drop_to_tiles_ms: None,
            inspector: None,
            files: FileState::default(),
            atlas: None,
            atlas_build: None,
            pinned: None,
            pair: None,
            report: None,
            report_build: None,
            classes: None,
            class_build: None,
            explain: ExplainState::default(),
            visual: VisState::default(),
            layer_views: layer_views::LayerViews::default(),
            hide_machine_details: false,
            gpu_tiles: gpu_tiles::GpuTilesState::default(),
        }
    }

    /// Tell every computation in flight on the worker to stop (the window is closing): the
    /// folder builds, explanations, visualisations, spatial attributions and the icon being
    /// made.
    pub fn cancel_all(&self) {
        let builds = [&self.atlas_build, &self.report_build]
            .into_iter()
            .flatten()
            .chain(self.class_build.as_ref().map(|b| &b.folder));
        for build in builds {
            build.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        self.explain.cache.values().for_each(Entry::cancel);
        self.visual.cache.values().for_each(Entry::cancel);
        self.layer_views.cancel_all();
    }

    /// Whether the loaded weights have a classifier head.
    pub fn has_head(&self) -> bool {
        self.weights
            .as_ref()
            .is_some_and(|w| !w.info.head.labels.is_empty())
    }

    /// Whether an analysis is on screen and no newer one is running.
    pub fn is_idle(&self) -> bool {
        self.progress.is_none() && self.analysis.is_some() && self.weights.is_some()
    }

    /// Whether the selected layer is shown pre-ReLU.
    pub fn showing_pre_relu(&self) -> bool {
        self.settings.pre_relu && self.selected.is_conv()
    }

    /// The analyses whose explanations are kept: the one on screen and the pinned one, as
    /// `(generation, weights)`.
    pub fn explained_analyses(&self) -> Vec<(u64, u64)> {
        let current = self.analysis.as_ref().map_or(0, |a| a.generation);
        let mut keep = vec![(current, self.weights_serial)];
        if let Some(p) = self.pinned.as_ref().and_then(Pinned::ready) {
            keep.push((p.generation, p.weights_serial));
        }
        keep
    }

    /// Whether the selected layer waits on the worker (read back from the GPU, or pre-ReLU
    /// values).
    pub fn waiting_for_layer(&self) -> bool {
        let id = self.selected.id();
        if self.showing_pre_relu() {
            !self.pre_relu.contains_key(id)
        } else {
            self.pending.reading.contains(id)
        }
    }

    /// The folder of the most recent file, where dialogs open.
    pub fn recent_dir(&self) -> Option<PathBuf> {
        self.settings
            .recent
            .first()
            .and_then(|p| p.parent().map(PathBuf::from))
    }

    /// Add a notice. Banners stay until dismissed; of the information lines only the newest.
    pub fn push_notice(&mut self, level: NoticeLevel, text: String) {
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
}
