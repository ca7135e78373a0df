//! The worker's side of class summaries: building (or continuing) one over a folder with the
//! loaded weights, its two passes (counting every image, then each class's graph) reported as
//! progress, stopped by a flag.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use featurescope_atlas::BuildEvent;
use featurescope_atlas::classes::{ClassOptions, build_classes};

use super::{Event, WorkerState};

impl WorkerState {
    /// Build the class summary `options` describe; progress at most every 50 ms.
    pub(super) fn build_classes(&mut self, options: &ClassOptions, stop: &AtomicBool) {
        let Some(net) = &self.network else {
            return self.emit(Event::ClassesBuilt(Err("no weights loaded".into())));
        };
        let source = net.weights().source.clone();
        let (events, repaint) = (self.events.clone(), &self.repaint);
        let (mut done, mut total, mut passes) = (0, 0, 0);
        let mut last_sent = Instant::now();
        let result = build_classes(net, &source, options, stop, &mut |e| {
            match e {
                BuildEvent::Started { todo, .. } => {
                    (done, total) = (0, todo);
                    passes += 1;
                }
                BuildEvent::Advanced => done += 1,
                BuildEvent::Skipped(..) => return,
            }
            if done == total || last_sent.elapsed().as_millis() >= 50 {
                last_sent = Instant::now();
                let graphs = passes > 1;
                let _ = events.try_send(Event::ClassProgress {
                    done,
                    total,
                    graphs,
                });
                repaint();
            }
        });
        self.emit(Event::ClassesBuilt(
            result
                .map(|s| (options.out.clone(), s))
                .map_err(|e| format!("class summary: {e:#}")),
        ));
    }
}
