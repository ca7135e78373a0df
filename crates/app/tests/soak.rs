//! A long session in the real app: a thousand layer switches and scrolls (fewer in CI:
//! `FEATURESCOPE_SOAK_STEPS`, default 300), with egui's texture count and the process's
//! resident memory sampled as it goes. Textures must stay bounded (the tile cache lets go of
//! what is off screen) and memory flat: under 5 % growth after the warm-up. Alone in its test
//! binary, so no other test's allocations move the numbers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use featurescope_app::{Action, FeaturescopeApp, Launch, LayerRef};
use featurescope_net::BackendChoice;

use common::*;

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |pages| pages * 4096.0 / 1e6)
}

#[test]
fn layer_switches_and_scrolls_keep_memory_and_textures_flat() {
    let steps: usize = std::env::var("FEATURESCOPE_SOAK_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let launch = Launch::headless(BackendChoice::Cpu);
    let mut h: Harness<'_, State> = Harness::builder()
        .with_size(SIZE)
        .build_ui_state(FeaturescopeApp::driven(launch), None);
    let start = Instant::now();
    while !h.state().as_ref().is_some_and(|a| idle(a.state())) {
        assert!(start.elapsed() < Duration::from_secs(180), "first analysis");
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    let layers = featurescope_net::Catalogue::inception_v3().layers.len();
    let warm_end = steps / 10;
    let (mut warm_rss, mut warm_tex, mut max_tex) = (0.0, 0, 0);
    let t = Instant::now();
    for i in 0..steps {
        let layer = LayerRef::Layer((i * 7) % layers);
        h.state_mut().as_mut().unwrap().apply(Action::Select(layer));
        h.step();
        // Scroll the tile grid down, then back up.
        let delta = if i % 2 == 0 { -600.0 } else { 400.0 };
        h.event(egui::Event::PointerMoved(egui::pos2(760.0, 420.0)));
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, delta),
            phase: egui::TouchPhase::Move,
            modifiers: egui::Modifiers::NONE,
            source: egui::MouseWheelSource::Wheel,
        });
        h.step();
        h.step();
        let tex = h.ctx.tex_manager().read().num_allocated();
        max_tex = max_tex.max(tex);
        if i + 1 == warm_end.max(1) {
            (warm_rss, warm_tex) = (rss_mb(), tex);
        }
        if i % (steps / 10).max(1) == 0 || i + 1 == steps {
            eprintln!(
                "step {:>5}/{steps}  rss {:7.1} MB  textures {tex:4}  {:5.1} s",
                i + 1,
                rss_mb(),
                t.elapsed().as_secs_f64()
            );
        }
    }
    let end_rss = rss_mb();
    let growth = end_rss / warm_rss - 1.0;
    eprintln!(
        "rss after warm-up {warm_rss:.1} MB, at the end {end_rss:.1} MB ({:+.2} %); textures at warm-up {warm_tex}, most {max_tex}",
        growth * 100.0
    );
    assert!(
        growth < 0.05,
        "resident memory grew {:.1} %",
        growth * 100.0
    );
    // A screen of tiles, the inputs, the colour bar and egui's font atlas: a few hundred at
    // most, whatever the number of switches.
    assert!(max_tex < 600, "textures grew to {max_tex}");
}
