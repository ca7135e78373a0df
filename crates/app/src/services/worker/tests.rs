//! Stopping the worker: the window waits for its thread to end, with everything it held let
//! go, before the process exits.

use std::sync::Arc;
use std::time::Duration;

use featurescope_net::{BackendChoice, WeightsSource};

use super::{ImageSource, Job, SHUTDOWN_WAIT, Worker};
use crate::launch::SAMPLE_PHOTO;

/// A worker on the CPU whose repaint callback holds `held` (as the app's holds the window's
/// context), with an analysis queued behind the weights' load.
fn busy_worker(held: &Arc<()>) -> Worker {
    let in_repaint = held.clone();
    let worker = Worker::spawn(
        WeightsSource::Bundled,
        BackendChoice::Cpu,
        None,
        move || {
            let _ = &in_repaint;
        },
    );
    let job = Job::Analyse {
        generation: 1,
        source: ImageSource::Bytes {
            name: "chelsea.png".into(),
            bytes: Arc::from(SAMPLE_PHOTO),
        },
        layer: "Mixed_5b".into(),
    };
    worker.send(job).expect("queued");
    worker
}

#[test]
fn stopping_waits_for_the_thread_and_what_it_held() {
    let held = Arc::new(());
    let mut worker = busy_worker(&held);
    assert!(worker.stop(SHUTDOWN_WAIT), "ended in time");
    assert_eq!(
        Arc::strong_count(&held),
        1,
        "the worker's state, and the repaint callback in it, were let go before stop returned"
    );
    let refused = worker.send(Job::Unpin).expect_err("refused after stopping");
    assert!(refused.contains("stopped"), "{refused}");
    assert!(worker.poll().is_empty());
    assert!(
        worker.stop(Duration::ZERO),
        "stopping again returns at once"
    );
}

#[test]
fn dropping_the_handle_stops_the_worker() {
    let held = Arc::new(());
    drop(busy_worker(&held));
    assert_eq!(Arc::strong_count(&held), 1);
}
