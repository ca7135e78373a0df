//! On a GPU the window and the network use one wgpu device, and an analysis leaves its taps on
//! it: only the head and the layer on screen are read back; another layer is read when it is
//! picked. Runs the real app on lavapipe in CI, egui drawing through the very device, adapter
//! and queue burn computes on (as `featurescope_app::run_native` sets the window up). Its own
//! test binary: a device kind can be initialised once per process, and the other UI tests
//! start wgpu devices of their own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use eframe::egui_wgpu::{RendererOptions, WgpuSetup, WgpuSetupExisting};
use egui_kittest::Harness;
use egui_kittest::wgpu::{WgpuTestRenderer, create_render_state};
use featurescope_app::services::gpu_tiles::GpuQueue;
use featurescope_app::{Action, FeaturescopeApp, Launch, LayerRef, SAMPLE_PHOTO};
use featurescope_net::device::{self, SharedDevice};
use featurescope_net::{BackendChoice, LayerData, Network, TapRequest, WeightsSource, preprocess};

use common::*;

fn select(h: &mut Harness<'_, State>, layer: &str) {
    act(h, Action::Select(LayerRef::named(layer)));
}

/// The app with the window drawing through the device, adapter and queue the network computes
/// on, its tiles coloured there by the GPU (the renderer handed to the app, as `run_native`
/// does with eframe's).
fn shared_harness<'a>(shared: &SharedDevice) -> Harness<'a, State> {
    let launch = Launch {
        device: Some(shared.compute.clone()),
        gpu: Some(GpuQueue {
            device: shared.setup.device.clone(),
            queue: shared.setup.queue.clone(),
        }),
        ..Launch::headless(BackendChoice::Wgpu)
    };
    let setup = WgpuSetup::Existing(WgpuSetupExisting {
        instance: shared.setup.instance.clone(),
        adapter: shared.setup.adapter.clone(),
        device: shared.setup.device.clone(),
        queue: shared.setup.queue.clone(),
    });
    let render_state = create_render_state(setup, RendererOptions::PREDICTABLE);
    let for_app = render_state.clone();
    Harness::builder()
        .with_size(SIZE)
        .renderer(WgpuTestRenderer::from_render_state(render_state))
        .with_context_setup(move |ctx| featurescope_app::use_renderer(ctx, for_app))
        .build_ui_state(FeaturescopeApp::driven(launch), None)
}

/// The same layer computed on the CPU, read back in full the ordinary way.
fn on_the_cpu(layer: &str) -> LayerData {
    let net = Network::load_source(
        &WeightsSource::Bundled,
        device::select(BackendChoice::Cpu).unwrap(),
    )
    .unwrap();
    let image = preprocess::decode_image(SAMPLE_PHOTO, "chelsea.png").unwrap();
    let input = preprocess::prepare(&image);
    let mut acts = net
        .run(&input, &TapRequest::layers([layer]).unwrap())
        .unwrap();
    acts.layers.pop().unwrap()
}

fn assert_close(got: &LayerData, want: &LayerData) {
    assert_eq!(got.shape, want.shape, "{}", got.id);
    let max = want.data.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = got
        .data
        .iter()
        .zip(&want.data)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        worst <= 2e-4 * max,
        "{}: GPU and CPU differ by {worst} (layer max {max})",
        got.id
    );
}

#[test]
fn the_window_and_the_network_share_one_gpu_device_and_read_back_only_the_shown_layer() {
    let shared = match device::select_shared(BackendChoice::Wgpu) {
        Ok(Some(shared)) => shared,
        other => {
            assert!(
                std::env::var_os("FEATURESCOPE_REQUIRE_WGPU").is_none(),
                "no wgpu device to share ({other:?}), and FEATURESCOPE_REQUIRE_WGPU is set"
            );
            eprintln!("SKIPPED: no wgpu device to share: {other:?}");
            return;
        }
    };
    let mut h = shared_harness(&shared);
    wait_for(&mut h, "the first analysis", |a| {
        a.is_idle() && a.view.is_some()
    });
    let a = app(&h);
    let device = &a.weights.as_ref().unwrap().device;
    assert!(
        device.backend == featurescope_net::Backend::Wgpu
            && device.name.contains("shared with the window"),
        "{device}"
    );
    let analysis = a.analysis.as_ref().unwrap();
    let read: Vec<&str> = analysis
        .activations
        .layers
        .iter()
        .map(|l| l.id.as_str())
        .collect();
    assert_eq!(
        read,
        [a.selected.id()],
        "only the layer on screen came back"
    );
    assert!(
        analysis.activations.head.is_some(),
        "the predictions came back"
    );
    assert_close(
        &analysis.activations.layers[0],
        &on_the_cpu(a.selected.id()),
    );

    // The tiles on screen were coloured by the GPU from the tap there, and none on the CPU.
    wait_for(&mut h, "the GPU's tiles", |a| a.gpu_tiles.ready.is_some());
    let a = app(&h);
    let tiles = a.gpu_tiles.ready.as_ref().unwrap();
    assert_eq!(tiles.params.layer, a.selected.id());
    assert_eq!(tiles.channels, 64);
    assert!(a.gpu_tiles.failed.is_none(), "{:?}", a.gpu_tiles.failed);
    h.run();
    assert!(
        !app(&h).notices.iter().any(|n| n.is_error()),
        "{:?}",
        app(&h).notices
    );

    // Another layer is read from the GPU when it is picked; the tiles wait for it, with a
    // spinner, and the UI thread never does.
    select(&mut h, "Mixed_6e");
    h.step();
    assert!(
        app(&h).pending.reading.contains("Mixed_6e") || app(&h).view.is_some(),
        "asked the worker for the layer"
    );
    wait_for(&mut h, "reading Mixed_6e back", |a| {
        a.view.is_some() && a.pending.reading.is_empty()
    });
    let activations = &app(&h).analysis.as_ref().unwrap().activations;
    assert_eq!(activations.layers.len(), 2);
    assert_close(
        activations.get("Mixed_6e").unwrap(),
        &on_the_cpu("Mixed_6e"),
    );
    assert_eq!(app(&h).view.as_ref().unwrap().order.len(), 768);

    // The predictions are no tap: nothing to read back, no error.
    select(&mut h, "head");
    for _ in 0..5 {
        h.step();
    }
    assert!(app(&h).pending.reading.is_empty());
    assert!(
        !app(&h).notices.iter().any(|n| n.is_error()),
        "{:?}",
        app(&h).notices
    );
    select(&mut h, "Mixed_6e");
    h.run();

    // egui drew the tiles with the same device, from the GPU's texture of Mixed_6e.
    wait_for(&mut h, "the GPU's tiles of Mixed_6e", |a| {
        a.gpu_tiles
            .ready
            .as_ref()
            .is_some_and(|t| t.params.layer == "Mixed_6e")
    });
    let frame = h.render().expect("render through the shared device");
    assert!(
        frame.pixels().any(|p| p.0 != frame.get_pixel(0, 0).0),
        "a drawn frame, not a blank one"
    );

    // Closing: the worker (which holds the shared device) has ended when `on_exit` returns,
    // and the renderer is let go of here, not by whichever repainting thread drops the
    // context last while the process exits.
    let ctx = h.ctx.clone();
    let app = h.state_mut().as_mut().unwrap();
    eframe::App::on_exit(app);
    assert!(featurescope_app::renderer(&ctx).is_none());
    app.apply(Action::Select(LayerRef::named("Mixed_5b")));
    assert!(
        app.state()
            .notices
            .iter()
            .any(|n| n.is_error() && n.text.contains("stopped")),
        "{:?}",
        app.state().notices
    );
}
