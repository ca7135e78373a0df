//! The feature-visualisation view: an image optimised to drive the filter (on the worker, with
//! progress and cancel), cached per weights, layer, filter, steps and seed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use egui::{RichText, TextureHandle, TextureOptions, vec2};
use featurescope_net::Network;
use featurescope_net::attribution::visualize::{VisualizeOptions, visualize};

/// Identifies one visualisation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VisKey {
    /// Weights (counts loads).
    pub weights: u64,
    /// Layer id.
    pub layer: String,
    /// Channel.
    pub channel: usize,
    /// Steps.
    pub steps: usize,
    /// Seed.
    pub seed: u64,
}

/// A cached visualisation.
pub enum VisEntry {
    /// Running.
    Pending {
        /// Steps done.
        done: usize,
        /// Steps in all.
        total: usize,
        /// Set to cancel.
        cancel: Arc<AtomicBool>,
    },
    /// Done: the image, a summary, its texture once uploaded.
    Ready(egui::ColorImage, String, Option<TextureHandle>),
    /// Failed or cancelled.
    Failed(String),
}

/// The view's state.
pub struct VisState {
    /// Steps of the next run.
    pub steps: usize,
    /// Seed of the next run.
    pub seed: u64,
    /// Results.
    pub cache: HashMap<VisKey, VisEntry>,
}

impl Default for VisState {
    fn default() -> Self {
        Self {
            steps: VisualizeOptions::default().steps,
            seed: 0,
            cache: HashMap::new(),
        }
    }
}

impl VisState {
    /// Progress from the worker.
    pub fn progress(&mut self, key: &VisKey, d: usize, t: usize) {
        if let Some(VisEntry::Pending { done, total, .. }) = self.cache.get_mut(key) {
            (*done, *total) = (d, t);
        }
    }

    /// A result from the worker.
    pub fn finished(&mut self, key: VisKey, result: Result<(egui::ColorImage, String), String>) {
        if let Some(e) = self.cache.get_mut(&key) {
            *e = match result {
                Ok((img, s)) => VisEntry::Ready(img, s, None),
                Err(e) => VisEntry::Failed(e),
            };
        }
    }
}

/// Run a visualisation (on the worker).
pub fn compute(
    net: &Network,
    key: &VisKey,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<(egui::ColorImage, String), String> {
    let t = std::time::Instant::now();
    let options = VisualizeOptions {
        steps: key.steps,
        seed: key.seed,
        ..VisualizeOptions::default()
    };
    let v = visualize(
        net.model(),
        &net.device().device,
        &key.layer,
        key.channel,
        &options,
        progress,
    )
    .map_err(|e| e.to_string())?;
    let img = egui::ColorImage::from_rgb([v.size, v.size], &v.rgb);
    let first = v.objective.first().copied().unwrap_or(0.0);
    let last = v.objective.last().copied().unwrap_or(0.0);
    let summary = format!(
        "{} steps, seed {} · mean activation {first:.3} to {last:.3} · {:.1} s",
        key.steps,
        key.seed,
        t.elapsed().as_secs_f64()
    );
    Ok((img, summary))
}

/// The view; returns a job to queue when the person starts one.
pub fn ui(
    state: &mut VisState,
    ui: &mut egui::Ui,
    weights: u64,
    layer: &str,
    channel: usize,
) -> Option<(VisKey, Arc<AtomicBool>)> {
    ui.label(
        RichText::new(
            "An image optimised to make this filter fire (Olah et al. 2017): decorrelated \
             Fourier colours, random jitter, scale and rotation each step.",
        )
        .weak(),
    );
    let mut start = false;
    ui.horizontal(|ui| {
        ui.add(
            egui::Slider::new(&mut state.steps, 16..=1024)
                .logarithmic(true)
                .text("steps"),
        );
        ui.add(egui::DragValue::new(&mut state.seed).prefix("seed "));
        start = ui.button("Visualize").clicked();
    });
    let key = VisKey {
        weights,
        layer: layer.to_string(),
        channel,
        steps: state.steps,
        seed: state.seed,
    };
    let mut request = None;
    if start
        && !matches!(
            state.cache.get(&key),
            Some(VisEntry::Pending { .. } | VisEntry::Ready(..))
        )
    {
        let cancel = Arc::new(AtomicBool::new(false));
        state.cache.insert(
            key.clone(),
            VisEntry::Pending {
                done: 0,
                total: key.steps,
                cancel: cancel.clone(),
            },
        );
        request = Some((key.clone(), cancel));
    }
    match state.cache.get_mut(&key) {
        None => {
            ui.label(RichText::new("Not run yet for these settings.").weak());
        }
        Some(VisEntry::Pending {
            done,
            total,
            cancel,
        }) => {
            ui.horizontal(|ui| {
                ui.add(
                    egui::ProgressBar::new(*done as f32 / (*total).max(1) as f32)
                        .desired_width(220.0)
                        .text(format!("step {done}/{total}")),
                );
                if ui.button("Cancel").clicked() {
                    cancel.store(true, Ordering::Relaxed);
                }
            });
        }
        Some(VisEntry::Failed(e)) => {
            ui.colored_label(ui.visuals().error_fg_color, e.as_str());
        }
        Some(VisEntry::Ready(img, summary, tex)) => {
            let tex = tex.get_or_insert_with(|| {
                ui.ctx()
                    .load_texture("feature-vis", img.clone(), TextureOptions::LINEAR)
            });
            let side = ui.available_width().clamp(160.0, 448.0);
            ui.image((tex.id(), vec2(side, side)));
            ui.label(RichText::new(summary.as_str()).monospace().small());
        }
    }
    request
}
