//! UI-thread frame costs, measured on the real app (network on the CPU, headless egui):
//! switching to each of the 123 layers, scrolling the 2048 tiles of Mixed_7c, and the extra time
//! between an image request and tiles on screen beyond the forward pass. Each number is printed
//! with its ratio to the named baseline: the 16.7 ms frame budget of a 60 Hz display, or 50 ms
//! for the image → tiles overhead.
//!
//! Run: `cargo bench --workspace --bench frames` (release profile).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use featurescope_app::services::worker::ImageSource;
use featurescope_app::{Action, AppState, FeaturescopeApp, Launch, LayerRef};
use featurescope_net::{BackendChoice, Catalogue};

const FRAME_BUDGET_MS: f64 = 1000.0 / 60.0;
const DROP_BUDGET_MS: f64 = 50.0;

type State = Option<FeaturescopeApp>;

fn harness<'a>() -> Harness<'a, State> {
    let launch = Launch::headless(BackendChoice::Cpu);
    Harness::builder()
        .with_size([1600.0, 1000.0])
        .with_accessibility_check(false)
        .build_ui_state(FeaturescopeApp::driven(launch), None)
}

fn app<'h>(h: &'h Harness<'_, State>) -> &'h AppState {
    h.state().as_ref().unwrap().state()
}

fn act(h: &mut Harness<'_, State>, action: Action) {
    h.state_mut().as_mut().unwrap().apply(action);
}

fn settle(h: &mut Harness<'_, State>) {
    let start = Instant::now();
    while !(app(h).is_idle() && app(h).view.is_some()) {
        h.step();
        assert!(start.elapsed() < Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(1));
    }
    for _ in 0..3 {
        h.step();
    }
}

fn timed_step(h: &mut Harness<'_, State>) -> f64 {
    let t = Instant::now();
    h.step();
    t.elapsed().as_secs_f64() * 1e3
}

fn summary(name: &str, mut ms: Vec<f64>, budget: f64, baseline: &str) {
    ms.sort_by(f64::total_cmp);
    let median = ms[ms.len() / 2];
    let p95 = ms[(ms.len() * 95 / 100).min(ms.len() - 1)];
    let max = ms[ms.len() - 1];
    println!(
        "{name:<44} median {median:7.2} ms  p95 {p95:7.2} ms  max {max:7.2} ms   max/{baseline} = {:.2}",
        max / budget
    );
}

fn main() {
    let mut h = harness();
    settle(&mut h);

    // 1. Switching layers: the first frame after selecting each layer prepares its view
    // (stats, normalisation, order) and paints the visible tiles (colourise + upload).
    let cat = Catalogue::inception_v3();
    let mut switch = Vec::new();
    let mut prepare = Vec::new();
    for i in 0..cat.layers.len() {
        act(&mut h, Action::Select(LayerRef::Layer(i)));
        prepare.push(app(&h).last_view_ms);
        switch.push(timed_step(&mut h) + app(&h).last_view_ms);
    }
    let mut worst: Vec<(f64, &str)> = switch
        .iter()
        .zip(&cat.layers)
        .map(|(&ms, l)| (ms, l.id.as_str()))
        .collect();
    worst.sort_by(|a, b| b.0.total_cmp(&a.0));
    let worst: Vec<String> = worst
        .iter()
        .take(3)
        .map(|(ms, id)| format!("{id} {ms:.1} ms"))
        .collect();
    println!("  slowest switches: {}", worst.join(", "));
    summary(
        "layer switch, select + first frame (123)",
        switch,
        FRAME_BUDGET_MS,
        "16.7ms",
    );
    summary(
        "  of which view preparation",
        prepare,
        FRAME_BUDGET_MS,
        "16.7ms",
    );

    // 2. Scrolling the 2048 tiles of Mixed_7c at the default tile size.
    act(&mut h, Action::Select(LayerRef::named("Mixed_7c")));
    h.step();
    h.hover_at(egui::pos2(700.0, 500.0));
    let mut scroll = Vec::new();
    let mut max_textures = 0;
    let mut max_bytes = 0;
    for i in 0..240 {
        let dy = if i < 200 { -240.0 } else { 2400.0 };
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, dy),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
            modifiers: egui::Modifiers::NONE,
        });
        scroll.push(timed_step(&mut h));
        let (n, b) = h.state().as_ref().unwrap().tile_cache_usage();
        max_textures = max_textures.max(n);
        max_bytes = max_bytes.max(b);
    }
    summary(
        "scroll Mixed_7c, 2048 tiles (240 frames)",
        scroll,
        FRAME_BUDGET_MS,
        "16.7ms",
    );
    println!(
        "  tile textures alive at most: {max_textures} ({:.1} MiB) for 2048 filters",
        max_bytes as f64 / (1 << 20) as f64
    );

    // 3. Image → tiles: request an image, wait for tiles; the overhead beyond the forward pass
    // (decode + crop + channel hand-off + view + first paint).
    let mut overhead = Vec::new();
    for name in [
        "coffee.png",
        "chelsea.png",
        "coffee_299.png",
        "chelsea_299.png",
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../assets/samples")
            .join(name);
        let t = Instant::now();
        act(&mut h, Action::Analyse(ImageSource::File(path)));
        while app(&h)
            .analysis
            .as_ref()
            .is_none_or(|a| a.source.name() != name)
            || !app(&h).is_idle()
        {
            h.step();
            std::thread::sleep(Duration::from_micros(200));
        }
        let total = t.elapsed().as_secs_f64() * 1e3;
        let forward = app(&h).analysis.as_ref().unwrap().forward_ms;
        overhead.push(total - forward);
        println!(
            "  {name:<18} request → tiles {total:7.1} ms, forward + readback {forward:7.1} ms"
        );
    }
    summary(
        "image → tiles minus forward (4 images)",
        overhead,
        DROP_BUDGET_MS,
        "50ms",
    );
}
