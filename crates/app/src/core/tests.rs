//! The core without a window: actions applied, state read. The worker here refuses every job
//! (as a stopped worker does), which is what the app must survive.

use std::sync::Arc;

use featurescope_net::attribution::{Method, Options, Target};

use super::Core;
use crate::action::Action;
use crate::launch::Launch;
use crate::services::attribution::{ExplainKey, VisKey};
use crate::services::tasks::Tasks;
use crate::services::worker::Worker;
use crate::settings::Settings;
use crate::state::{Entry, LayerRef};

fn core() -> Core {
    let launch = Launch::headless(featurescope_net::BackendChoice::Cpu);
    let tasks = Tasks::new(Arc::new(|| {}));
    Core::with_services(&launch, Settings::default(), Worker::stopped(), tasks)
}

/// A visualisation whose job could not be queued stayed "pending" for ever, with a progress
/// bar at step 0 and a Cancel that did nothing.
#[test]
fn a_visualisation_that_cannot_be_queued_fails_with_the_reason() {
    let mut core = core();
    let key = VisKey {
        weights: 0,
        layer: "Mixed_5b".into(),
        channel: 3,
        steps: 16,
        seed: 0,
    };
    core.apply(Action::Visualize(key.clone()));
    match core.state().visual.cache.get(&key) {
        Some(Entry::Failed(why)) => assert!(why.contains("stopped"), "{why}"),
        other => panic!("expected a failed entry, got {other:?}"),
    }
}

#[test]
fn an_explanation_that_cannot_be_queued_fails_and_can_be_retried() {
    let mut core = core();
    let target = Target::channel("Mixed_5b", 3).unwrap();
    let key = ExplainKey::new(1, 0, target, Method::Guided, &Options::default());
    core.apply(Action::Explain(key.clone()));
    assert!(matches!(
        core.state().explain.cache.get(&key),
        Some(Entry::Failed(_))
    ));
    core.apply(Action::RetryExplain(key.clone()));
    assert!(!core.state().explain.cache.contains_key(&key));
}

#[test]
fn a_refused_analysis_is_an_error_and_nothing_waits() {
    let core = core();
    let s = core.state();
    assert!(s.progress.is_none(), "nothing is running");
    assert!(
        s.notices
            .iter()
            .any(|n| n.is_error() && n.text.contains("stopped"))
    );
}

#[test]
fn selecting_stepping_and_settings() {
    let mut core = core();
    assert_eq!(core.state().selected, LayerRef::named("Conv2d_2b_3x3"));
    core.apply(Action::Select(LayerRef::named("mixed0")));
    assert_eq!(core.state().selected.id(), "Mixed_5b");
    assert_eq!(
        core.state().settings.layer,
        "Mixed_5b",
        "remembered for the next run"
    );
    core.apply(Action::StepLayer(1));
    assert_eq!(core.state().selected.id(), "Mixed_5c.branch1x1");
    core.apply(Action::Select(LayerRef::Head));
    core.apply(Action::StepLayer(1));
    assert_eq!(
        core.state().selected.id(),
        "avgpool",
        "past the end: the last layer"
    );
    core.apply(Action::StepLayer(-1000));
    assert_eq!(core.state().selected, LayerRef::Layer(0));
    let version = core.state().view_version;
    let mut s = core.state().settings.clone();
    s.tile_px = 40.0;
    core.apply(Action::ChangeSettings(Box::new(s.clone())));
    assert_eq!(
        core.state().view_version,
        version,
        "tile size: the view stays"
    );
    s.hide_dead = true;
    core.apply(Action::ChangeSettings(Box::new(s)));
    assert_eq!(
        core.state().view_version,
        version + 1,
        "what it shows: prepared again"
    );
    assert!(core.state().settings.hide_dead);
}

/// Class summaries without weights or a summary: errors as notices, nothing half-done.
#[test]
fn class_actions_without_a_summary_or_weights() {
    let mut core = core();
    core.apply(Action::BuildClasses {
        root: "/nowhere".into(),
        out: None,
        nodes: 2,
        edge_images: 2,
    });
    let s = core.state();
    assert!(s.class_build.is_none());
    assert!(s.notices.last().is_some_and(|n| n.is_error()));
    core.apply(Action::PickClass(3));
    core.apply(Action::CompareClass(Some(1)));
    core.apply(Action::StopClassBuild);
    core.apply(Action::CloseClasses);
    assert!(core.state().classes.is_none());
    core.apply(Action::InspectChannel {
        layer: "no_such_layer".into(),
        channel: 1,
    });
    let s = core.state();
    assert!(s.inspector.is_none());
    assert!(
        s.notices
            .last()
            .is_some_and(|n| n.text.contains("no_such_layer"))
    );
    // A node of another layer: that layer is shown and the channel inspected.
    core.apply(Action::InspectChannel {
        layer: "mixed7".into(),
        channel: 349,
    });
    let s = core.state();
    assert_eq!(s.selected, LayerRef::named("Mixed_6e"));
    assert_eq!(s.inspector.map(|i| i.channel), Some(349));
}
