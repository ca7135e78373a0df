//! The window: the core (state, services, actions) and the panels that draw it. Each frame
//! applies what the worker and tasks sent, draws every panel from the state, and applies the
//! actions they returned.

use std::sync::Arc;

use crate::action::Action;
use crate::core::Core;
use crate::launch::Launch;
use crate::panel::{Panel, Place};
use crate::settings::{STORAGE_KEY, Settings};
use crate::startup::StartupReport;
use crate::state::AppState;

/// The featurescope viewer.
pub struct FeaturescopeApp {
    /// The context this app is drawn in (to let go of its renderer on exit).
    ctx: egui::Context,
    core: Core,
    panels: Vec<Box<dyn Panel>>,
    /// Start-up timings being taken (`--startup-report`).
    startup: Option<StartupReport>,
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
        let repaint_ctx = ctx.clone();
        let repaint = Arc::new(move || repaint_ctx.request_repaint());
        let mut core = Core::new(&launch, settings, repaint);
        if let Some(n) = settings_notice {
            core.state_mut().warn(n);
        }
        Self {
            ctx: ctx.clone(),
            core,
            panels: crate::panels::all(),
            startup: launch.startup_report.map(StartupReport::new),
        }
    }

    /// The state, to read.
    pub fn state(&self) -> &AppState {
        self.core.state()
    }

    /// Carry out an action now (tests and benches drive the app this way).
    pub fn apply(&mut self, action: Action) {
        self.core.apply(action);
    }

    /// Tile textures alive and their bytes (bounded by the tile cache's budget).
    pub fn tile_cache_usage(&self) -> (usize, usize) {
        self.panels
            .iter()
            .map(|p| p.textures())
            .fold((0, 0), |(n, b), (pn, pb)| (n + pn, b + pb))
    }

    /// The frame closure a headless harness (egui_kittest) drives: the app is made on the
    /// first frame, with timings and the machine's name hidden (snapshots do not depend on
    /// them) and no icon cache on disk, then drawn each frame.
    pub fn driven(launch: Launch) -> impl FnMut(&mut egui::Ui, &mut Option<Self>) {
        move |ui, app| {
            let app = app.get_or_insert_with(|| {
                let mut app = Self::new(ui.ctx(), None, launch.clone());
                let state = app.core.state_mut();
                state.hide_machine_details = true;
                // Icons are not read from or written to the person's data home by tests.
                state.layer_views.icons.no_disk = true;
                app
            });
            app.frame_ui(ui);
        }
    }

    /// One whole frame of UI (also used by the UI tests).
    pub fn frame_ui(&mut self, ui: &mut egui::Ui) {
        if let Some(s) = &mut self.startup {
            s.frame();
        }
        self.core.poll();
        if let Some(s) = &mut self.startup
            && self.core.state().weights.is_some()
        {
            s.weights_ready();
        }
        let mut actions = crate::keys::actions(ui.ctx());
        self.panels_ui(ui, &mut actions);
        for action in actions {
            self.core.apply(action);
        }
        if self.startup.is_some() {
            self.report_startup(ui.ctx());
        }
        if self.state().progress.is_some() {
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    /// Every panel in list order: bars and side columns first, then the middle, then what
    /// floats above it.
    fn panels_ui(&mut self, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
        let state = self.core.state();
        let mut middle = Vec::new();
        let mut floating = Vec::new();
        for panel in self.panels.iter_mut().filter(|p| p.shown(state)) {
            let (id, place) = (panel.id(), panel.place());
            let side = match place {
                Place::Central => {
                    middle.push(panel);
                    continue;
                }
                Place::Floating => {
                    floating.push(panel);
                    continue;
                }
                Place::Top => egui::Panel::top(id),
                Place::Bottom => egui::Panel::bottom(id),
                Place::Left(width) => egui::Panel::left(id).resizable(true).default_size(width),
                Place::Right(width) => egui::Panel::right(id).resizable(true).default_size(width),
            };
            side.show(ui, |ui| panel.ui(ui, state, actions));
        }
        egui::CentralPanel::default().show(ui, |ui| {
            for panel in &mut middle {
                panel.ui(ui, state, actions);
            }
        });
        for panel in &mut floating {
            panel.ui(ui, state, actions);
        }
    }

    /// `--startup-report`: once the first tiles are on screen, print the timings and close.
    fn report_startup(&mut self, ctx: &egui::Context) {
        let tiles = self.tile_cache_usage().0;
        let (Some(s), Some(a)) = (&mut self.startup, &self.core.state().analysis) else {
            return;
        };
        if s.tiles_drawn(tiles, &a.source.name()) {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }
}

impl eframe::App for FeaturescopeApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame_ui(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, STORAGE_KEY, &self.core.state().settings);
    }

    /// Closing: the worker stops and ends before the process does, and the renderer stays
    /// with the window (nothing graphical is let go on another thread while the process exits).
    fn on_exit(&mut self) {
        if !self.core.shut_down() {
            eprintln!("featurescope: the network was still busy on close; not waiting for it");
        }
        crate::gpu_textures::forget_renderer(&self.ctx);
    }
}
