//! The worker's side of comparing: pinning the current analysis (every layer read back from
//! the GPU here, on the worker, so the UI thread never waits; its input kept for explanations
//! and its network kept when other weights replace it), and building a report of two models
//! over a folder.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use featurescope_compare::{CompareEvent, CompareOptions, CompareSummary, Models};
use featurescope_net::{Activations, InputImage, Network, WeightsSource};
use image::RgbImage;

use super::{Event, WorkerState};

/// The pinned analysis, as the UI gets it.
#[derive(Debug)]
pub struct PinnedAnalysis {
    /// The analysis it was.
    pub generation: u64,
    /// The weights it was computed with (the worker counts loads as the UI does).
    pub weights_serial: u64,
    /// The image's name.
    pub image: String,
    /// The weights' short name.
    pub weights: String,
    /// The original's preview and the 299x299 crop.
    pub previews: Arc<(RgbImage, RgbImage)>,
    /// Every layer and the head, on the host.
    pub activations: Arc<Activations>,
}

/// What the worker keeps of the pinned analysis, for its explanations.
pub(super) struct PinnedSide {
    pub(super) generation: u64,
    pub(super) weights_serial: u64,
    pub(super) input: InputImage,
    /// Its network, once other weights were loaded (until then the current one is it).
    pub(super) network: Option<Network>,
}

impl WorkerState {
    /// Pin the analysis of `generation` (the current one).
    pub(super) fn pin(&mut self, generation: u64) {
        let result = self.pinned_analysis(generation);
        if result.is_ok()
            && let Some(input) = self.input.clone()
        {
            self.pinned = Some(PinnedSide {
                generation,
                weights_serial: self.weights_serial,
                input,
                network: None,
            });
        }
        self.emit(Event::Pinned(result.map(Box::new)));
    }

    fn pinned_analysis(&self, generation: u64) -> Result<PinnedAnalysis, String> {
        if generation != self.generation {
            return Err("a newer image replaced the one to pin: pin again".into());
        }
        let (Some((acts, previews)), Some(net)) = (&self.last, &self.network) else {
            return Err("nothing is analysed yet".into());
        };
        let activations = match &self.resident {
            Some(taps) => {
                let ids: Vec<&str> = taps.ids().collect();
                Arc::new(taps.read_some(&ids).map_err(|e| e.to_string())?)
            }
            None => acts.clone(),
        };
        Ok(PinnedAnalysis {
            generation,
            weights_serial: self.weights_serial,
            image: self
                .source
                .as_ref()
                .map_or_else(|| "current image".into(), |s| s.name()),
            weights: net.weights().source.short_name(),
            previews: previews.clone(),
            activations,
        })
    }

    /// Weights are about to replace the current network: the pinned analysis keeps it when
    /// it was computed with it.
    pub(super) fn keep_pinned_network(&mut self) {
        if let Some(p) = &mut self.pinned
            && p.network.is_none()
            && p.weights_serial == self.weights_serial
        {
            p.network = self.network.take();
        }
    }

    /// The network and input an explanation of (`generation`, `weights`) runs on: the current
    /// analysis', or the pinned one's.
    pub(super) fn side_for(
        &self,
        generation: u64,
        weights: u64,
    ) -> Option<(&Network, &InputImage)> {
        if generation == self.generation && weights == self.weights_serial {
            return Some((self.network.as_ref()?, self.input.as_ref()?));
        }
        let p = self.pinned.as_ref()?;
        if (generation, weights) != (p.generation, p.weights_serial) {
            return None;
        }
        let net = match &p.network {
            Some(n) => n,
            None if p.weights_serial == self.weights_serial => self.network.as_ref()?,
            None => return None,
        };
        Some((net, &p.input))
    }

    /// Compare the current weights (A) with `weights_b` over a folder: the report.
    pub(super) fn build_report(
        &mut self,
        options: &CompareOptions,
        weights_b: &WeightsSource,
        stop: &AtomicBool,
    ) {
        let result = self.run_report(options, weights_b, stop);
        self.emit(Event::ReportBuilt(
            result.map_err(|e| format!("comparison: {e:#}")),
        ));
    }

    fn run_report(
        &self,
        options: &CompareOptions,
        weights_b: &WeightsSource,
        stop: &AtomicBool,
    ) -> anyhow::Result<(PathBuf, CompareSummary)> {
        let Some(net) = &self.network else {
            anyhow::bail!("no weights loaded");
        };
        let source_a = net.weights().source.clone();
        let net_b = Network::load_source(weights_b, net.device().clone())?;
        let models = Models {
            a: net,
            source_a: &source_a,
            b: &net_b,
            source_b: weights_b,
        };
        let (events, repaint) = (self.events.clone(), &self.repaint);
        let (mut done, mut total) = (0, 0);
        let mut last_sent = Instant::now();
        let summary = featurescope_compare::build(&models, options, stop, &mut |e| {
            match e {
                CompareEvent::Started { todo, .. } => total = todo,
                CompareEvent::Advanced => done += 1,
                CompareEvent::Skipped(..) => return,
            }
            if done == total || last_sent.elapsed().as_millis() >= 50 {
                last_sent = Instant::now();
                let _ = events.try_send(Event::ReportProgress { done, total });
                repaint();
            }
        })?;
        Ok((options.out.clone(), summary))
    }
}
