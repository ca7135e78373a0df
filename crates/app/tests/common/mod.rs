//! Shared UI-test scaffolding: the real app in a kittest harness rendered through wgpu
//! (lavapipe in CI), the bundled sample images, and the helpers that drive it as the panels do
//! (actions, settings changes) and wait for the worker, which computes for real.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use featurescope_app::action::Action;
use featurescope_app::settings::Settings;
use featurescope_app::{AppState, FeaturescopeApp, Launch};
use featurescope_net::BackendChoice;

/// The harness's state: the app, made on the first frame.
pub type State = Option<FeaturescopeApp>;

/// The window size most UI tests (and their snapshots) use.
pub const SIZE: [f32; 2] = [1280.0, 800.0];

/// How long [`wait_for`] waits before it fails.
pub const WAIT: Duration = Duration::from_secs(300);

/// A bundled sample image.
pub fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets/samples")
        .join(name)
}

/// The app at [`SIZE`] on the CPU, accessibility checked.
pub fn harness<'a>() -> Harness<'a, State> {
    harness_sized(SIZE)
}

/// The app at `size` on the CPU, accessibility checked.
pub fn harness_sized<'a>(size: [f32; 2]) -> Harness<'a, State> {
    harness_on(size, true, BackendChoice::Cpu)
}

/// The app at `size`, the network on `backend`. `accessibility_check`: off only where a
/// third-party widget has no accessible name, which the check would report as ours.
pub fn harness_on<'a>(
    size: [f32; 2],
    accessibility_check: bool,
    backend: BackendChoice,
) -> Harness<'a, State> {
    Harness::builder()
        .with_size(size)
        .with_accessibility_check(accessibility_check)
        .wgpu()
        .build_ui_state(FeaturescopeApp::driven(Launch::headless(backend)), None)
}

/// The app's state, as the panels read it.
pub fn app<'h>(h: &'h Harness<'_, State>) -> &'h AppState {
    h.state().as_ref().unwrap().state()
}

/// Do what a person would, as the panels do: through an action.
pub fn act(h: &mut Harness<'_, State>, action: Action) {
    h.state_mut().as_mut().unwrap().apply(action);
}

/// Change settings as the toolbar does (no frame run: the next step shows the change).
pub fn set(h: &mut Harness<'_, State>, change: impl FnOnce(&mut Settings)) {
    let mut s = app(h).settings.clone();
    change(&mut s);
    act(h, Action::ChangeSettings(Box::new(s)));
}

/// [`set`], then run frames until the UI has settled.
pub fn set_and_run(h: &mut Harness<'_, State>, change: impl FnOnce(&mut Settings)) {
    set(h, change);
    h.run();
}

/// Step until `done` holds (the worker computes for real), then run frames until the UI has
/// settled; fail after [`WAIT`], naming `what` and the notices.
pub fn wait_for(h: &mut Harness<'_, State>, what: &str, done: impl Fn(&AppState) -> bool) {
    wait_for_with(h, what, WAIT, done, |a| format!("notices: {:?}", a.notices));
}

/// [`wait_for`] with its own `timeout`, and `describe` saying what the state was on failure.
pub fn wait_for_with(
    h: &mut Harness<'_, State>,
    what: &str,
    timeout: Duration,
    done: impl Fn(&AppState) -> bool,
    describe: impl Fn(&AppState) -> String,
) {
    let start = Instant::now();
    loop {
        h.step();
        if done(app(h)) {
            break;
        }
        assert!(
            start.elapsed() < timeout,
            "{what} did not happen; {}",
            describe(app(h))
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    h.run();
}

/// Nothing is running and an analysis is on screen.
pub fn idle(a: &AppState) -> bool {
    a.is_idle() && a.view.is_some()
}
