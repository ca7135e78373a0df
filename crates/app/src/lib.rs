//! The featurescope desktop viewer (egui/eframe): drop an image, pick any layer of
//! Inception-V3 from a tree, scroll every filter as colormapped tiles. The network runs on a
//! worker thread; the UI thread never waits on it, the disk or the GPU readback.
//!
//! Layout: [`state`] (plain data) is changed only by [`core`] applying an [`action::Action`]
//! or a result from the [`services`] (worker, tasks, dialogs: no egui); the [`panels`] and the
//! [`inspector`]'s views draw the state and return actions.

pub mod action;
mod app;
pub mod core;
mod gpu_textures;
pub mod inspector;
mod keys;
pub mod launch;
pub mod panel;
pub mod panels;
mod pictures;
pub mod services;
pub mod settings;
mod startup;
pub mod state;
pub mod view;
mod widgets;

use eframe::egui_wgpu::{WgpuSetup, WgpuSetupExisting};

pub use action::Action;
pub use app::FeaturescopeApp;
pub use gpu_textures::{renderer, use_renderer};
pub use launch::{Launch, SAMPLE_PHOTO};
pub use services::paths::data_home;
pub use state::{AppState, LayerRef, Notice, NoticeLevel};

/// The window icon (also used by the desktop entry).
pub const ICON_PNG: &[u8] =
    include_bytes!("../../../assets/icons/hicolor/256x256/apps/featurescope.png");

/// Open the window and run until it is closed.
///
/// On a GPU the network and the window use one wgpu device: burn acquires it (with the
/// features its compute kernels need) and eframe draws with the same instance, adapter,
/// device and queue. Should the window not come up on that device (an adapter that cannot
/// present to this display), it opens on a device of its own and the network picks its own.
pub fn run_native(launch: Launch) -> Result<(), String> {
    // A GPU that will not start here is left to the worker, whose own attempt reports why.
    let shared = featurescope_net::device::select_shared(launch.backend).unwrap_or(None);
    let Some(shared) = shared else {
        return open_window(launch, None);
    };
    let setup = WgpuSetup::Existing(WgpuSetupExisting {
        instance: shared.setup.instance.clone(),
        adapter: shared.setup.adapter.clone(),
        device: shared.setup.device.clone(),
        queue: shared.setup.queue.clone(),
    });
    let on_shared = Launch {
        device: Some(shared.compute),
        gpu: Some(services::gpu_tiles::GpuQueue {
            device: shared.setup.device.clone(),
            queue: shared.setup.queue.clone(),
        }),
        ..launch.clone()
    };
    open_window(on_shared, Some(setup)).or_else(|e| {
        eprintln!("featurescope: {e} on the network's GPU device; opening on a device of its own");
        open_window(launch, None)
    })
}

/// Open the window; `wgpu_setup`: the device to draw with (default: eframe acquires one).
fn open_window(launch: Launch, wgpu_setup: Option<WgpuSetup>) -> Result<(), String> {
    let mut viewport = egui::ViewportBuilder::default()
        .with_title("featurescope")
        .with_app_id("featurescope")
        .with_inner_size([1400.0, 900.0])
        .with_min_inner_size([800.0, 500.0])
        .with_drag_and_drop(true);
    if let Ok(icon) = eframe::icon_data::from_png_bytes(ICON_PNG) {
        viewport = viewport.with_icon(icon);
    }
    let mut options = eframe::NativeOptions {
        viewport,
        renderer: eframe::Renderer::Wgpu,
        ..Default::default()
    };
    if let Some(setup) = wgpu_setup {
        options.wgpu_options.wgpu_setup = setup;
    }
    eframe::run_native(
        "featurescope",
        options,
        Box::new(move |cc| {
            if let Some(render_state) = &cc.wgpu_render_state {
                use_renderer(&cc.egui_ctx, render_state.clone());
            }
            Ok(Box::new(FeaturescopeApp::new(
                &cc.egui_ctx,
                cc.storage,
                launch,
            )))
        }),
    )
    .map_err(|e| format!("cannot open the window: {e}"))
}
