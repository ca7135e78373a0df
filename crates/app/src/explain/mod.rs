//! The inspector's explanation views: one per attribution method (each its own file behind
//! [`MethodView`], listed once in [`VIEWS`]) and feature visualisation ([`visualize`]). Every
//! result is computed on the worker with progress and cancel, drawn there (alone and over the
//! photo), and cached per image, weights, target, method and options.

mod deconv;
mod gradcam;
mod guided;
mod guided_gradcam;
mod integrated;
mod saliency;
mod smoothgrad;
pub mod visualize;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use egui::{RichText, TextureHandle, TextureOptions, vec2};
use featurescope_maps::Colormap;
use featurescope_maps::attribution::{Look, render_attribution};
use featurescope_net::attribution::sanity::{self, Randomize};
use featurescope_net::attribution::{Attribution, Method, Options, Target};
use featurescope_net::{InputImage, Network};

/// One method's view: which method, and its own controls.
pub trait MethodView: Sync {
    /// The method.
    fn method(&self) -> Method;
    /// Controls for the method's parameters (a change makes a new cache key, so a new run).
    fn controls(&self, _ui: &mut egui::Ui, _options: &mut Options) {}
}

/// Every method view, in the inspector's order.
pub static VIEWS: [&dyn MethodView; 7] = [
    &saliency::SaliencyView,
    &smoothgrad::SmoothGradView,
    &integrated::IntegratedView,
    &guided::GuidedView,
    &deconv::DeconvView,
    &gradcam::GradCamView,
    &guided_gradcam::GuidedGradCamView,
];

/// The view of a method.
pub fn view_of(method: Method) -> &'static dyn MethodView {
    VIEWS
        .iter()
        .copied()
        .find(|v| v.method() == method)
        .unwrap_or(VIEWS[0])
}

/// What the methods explain in the app.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TargetChoice {
    /// The filter's strongest unit (its receptive field in the photo).
    #[default]
    StrongestUnit,
    /// The filter's whole map, summed.
    WholeMap,
    /// The head's most probable class.
    TopClass,
}

impl TargetChoice {
    /// Label in the menu.
    pub fn label(self) -> &'static str {
        match self {
            Self::StrongestUnit => "this filter's strongest unit",
            Self::WholeMap => "this filter, whole map",
            Self::TopClass => "the top class",
        }
    }
}

/// Identifies one computed explanation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExplainKey {
    /// The analysis (image) it belongs to.
    pub generation: u64,
    /// The weights it was computed with (counts loads).
    pub weights: u64,
    /// What is explained.
    pub target: Target,
    /// How.
    pub method: Method,
    /// The options, as text (they hold floats).
    pub options: String,
    /// Also re-run with these weights re-initialised (the sanity check).
    pub sanity: Option<Randomize>,
}

/// A finished explanation, drawn. For a sanity check: the re-initialised network's result.
#[derive(Debug)]
pub struct Explained {
    /// The result alone.
    pub alone: egui::ColorImage,
    /// Over the photo.
    pub overlay: egui::ColorImage,
    /// One line: value, Grad-CAM layer, completeness.
    pub summary: String,
    /// Time it took on the worker.
    pub millis: f64,
    /// For a sanity check: the rank correlation with the trained network's map.
    pub rank_correlation: Option<f64>,
}

/// A cached explanation.
pub enum Entry {
    /// Being computed.
    Pending {
        /// Steps done.
        done: usize,
        /// Steps in all.
        total: usize,
        /// Set to cancel.
        cancel: Arc<AtomicBool>,
    },
    /// Done, with its textures once uploaded.
    Ready(Box<Explained>, Option<Vec<TextureHandle>>),
    /// Failed or cancelled.
    Failed(String),
}

/// The explanation views' state.
#[derive(Default)]
pub struct ExplainState {
    /// What the methods explain.
    pub target: TargetChoice,
    /// Method parameters.
    pub options: Options,
    /// Results by key.
    pub cache: HashMap<ExplainKey, Entry>,
}

impl ExplainState {
    /// Forget results of other images or weights.
    pub fn retain(&mut self, generation: u64, weights: u64) {
        self.cache.retain(|k, e| {
            let keep = k.generation == generation && k.weights == weights;
            if !keep && let Entry::Pending { cancel, .. } = e {
                cancel.store(true, Ordering::Relaxed);
            }
            keep
        });
    }

    /// Apply progress from the worker.
    pub fn progress(&mut self, key: &ExplainKey, d: usize, t: usize) {
        if let Some(Entry::Pending { done, total, .. }) = self.cache.get_mut(key) {
            (*done, *total) = (d, t);
        }
    }

    /// Apply a result from the worker (results nobody waits for are dropped).
    pub fn finished(&mut self, key: ExplainKey, result: Result<Explained, String>) {
        if let Some(entry) = self.cache.get_mut(&key) {
            *entry = match result {
                Ok(e) => Entry::Ready(Box::new(e), None),
                Err(e) => Entry::Failed(e),
            };
        }
    }
}

/// A result drawn alone and over the photo (the colouring path shared with the command line).
pub fn draw(result: &Attribution, photo: &image::RgbImage) -> (image::RgbImage, image::RgbImage) {
    let (values, [h, w], signed) = result.display_values();
    let look = if signed { Look::Signed } else { Look::Heat };
    render_attribution(look, &values, w, h, photo, Colormap::Inferno, 0.7)
}

fn color(img: &image::RgbImage) -> egui::ColorImage {
    egui::ColorImage::from_rgb([img.width() as usize, img.height() as usize], img.as_raw())
}

fn summary(a: &Attribution) -> String {
    let mut s = format!("{} · value {:.4}", a.target.describe(), a.target_value);
    if let Some(l) = &a.cam_layer {
        s += &format!(" · Grad-CAM at {l}");
    }
    if let Some(c) = a.completeness {
        s += &format!(
            " · attributions sum to {:.3}, F(photo) - F(baseline) = {:.3} ({:.2} % off)",
            c.sum,
            c.difference,
            c.relative_error() * 100.0
        );
    }
    s
}

/// Compute and draw an explanation (on the worker).
pub fn compute(
    net: &Network,
    input: &InputImage,
    key: &ExplainKey,
    options: &Options,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Explained, String> {
    let t = std::time::Instant::now();
    let mut job = net.job(input, &key.target, options, progress);
    let (result, rank_correlation) = match &key.sanity {
        None => (
            key.method
                .implementation()
                .compute(&mut job)
                .map_err(|e| e.to_string())?,
            None,
        ),
        Some(scope) => {
            let r = sanity::check(&mut job, key.method, scope, options.seed)
                .map_err(|e| e.to_string())?;
            (r.randomized, Some(r.rank_correlation))
        }
    };
    let (alone, overlay) = draw(&result, &input.crop);
    Ok(Explained {
        alone: color(&alone),
        overlay: color(&overlay),
        summary: summary(&result),
        millis: t.elapsed().as_secs_f64() * 1e3,
        rank_correlation,
    })
}

/// What the inspector asks the app for: a job to queue.
pub struct Request {
    /// Its key.
    pub key: ExplainKey,
    /// Its options.
    pub options: Options,
    /// Its cancel flag.
    pub cancel: Arc<AtomicBool>,
}

/// The explanation view of `method` for one filter; returns a job to queue, if any.
#[allow(clippy::too_many_arguments)]
pub fn ui(
    state: &mut ExplainState,
    ui: &mut egui::Ui,
    method: Method,
    base_key: impl Fn(Target, &Options, Option<Randomize>) -> ExplainKey,
    layer: &str,
    channel: usize,
    strongest: [usize; 2],
    top_class: Option<usize>,
    show_timing: bool,
) -> Option<Request> {
    let view = view_of(method);
    ui.label(RichText::new(method.implementation().summary()).weak());
    ui.horizontal(|ui| {
        egui::ComboBox::from_label("explains")
            .selected_text(state.target.label())
            .show_ui(ui, |ui| {
                for t in [
                    TargetChoice::StrongestUnit,
                    TargetChoice::WholeMap,
                    TargetChoice::TopClass,
                ] {
                    if t != TargetChoice::TopClass || top_class.is_some() {
                        ui.selectable_value(&mut state.target, t, t.label());
                    }
                }
            });
    });
    view.controls(ui, &mut state.options);
    let whole = Target::channel(layer, channel).ok()?;
    let target = match (state.target, top_class) {
        (TargetChoice::TopClass, Some(c)) => Target::Class(c),
        (TargetChoice::WholeMap, _) => whole,
        _ => whole.at(strongest[0], strongest[1]),
    };
    let mut request = None;
    let mut sanity_scope = None;
    ui.horizontal(|ui| {
        if ui
            .button("Sanity check: randomise from here up")
            .on_hover_text(
                "Re-run with the weights of this layer and every layer above it re-initialised \
                 (Adebayo et al. 2018): a method that explains the model must change",
            )
            .clicked()
        {
            sanity_scope = Some(Randomize::From(layer.to_string()));
        }
        if ui.button("... all layers").clicked() {
            sanity_scope = Some(Randomize::All);
        }
    });
    // Only what this method reads: another method's settings do not invalidate its results.
    let options = state.options.relevant_to(method);
    let key = base_key(target.clone(), &options, None);
    // Not while a slider is being dragged: each value it passes would be a run.
    let settling = ui.input(|i| i.pointer.any_down());
    if !state.cache.contains_key(&key) && !settling {
        request = Some(new_request(state, key.clone()));
    }
    if let Some(scope) = sanity_scope {
        let k = base_key(target, &options, Some(scope));
        if !state.cache.contains_key(&k) {
            request = request.or_else(|| Some(new_request(state, k)));
        }
    }
    show_entry(state, ui, &key, show_timing);
    let sanity_keys: Vec<ExplainKey> = state
        .cache
        .keys()
        .filter(|k| {
            k.sanity.is_some()
                && ExplainKey {
                    sanity: None,
                    ..(*k).clone()
                } == key
        })
        .cloned()
        .collect();
    for k in sanity_keys {
        ui.separator();
        if let Some(scope) = &k.sanity {
            ui.label(format!(
                "Sanity check, {} re-initialised:",
                scope.describe()
            ));
        }
        show_entry(state, ui, &k, show_timing);
    }
    request
}

/// Queue a run. Runs still pending for another view (another method, target or options; its
/// sanity checks count as the same view) are cancelled and forgotten: one view is on screen,
/// and the worker runs jobs in order.
fn new_request(state: &mut ExplainState, key: ExplainKey) -> Request {
    let view = |k: &ExplainKey| ExplainKey {
        sanity: None,
        ..k.clone()
    };
    let this = view(&key);
    state.cache.retain(|k, e| match e {
        Entry::Pending { cancel, .. } if view(k) != this => {
            cancel.store(true, Ordering::Relaxed);
            false
        }
        _ => true,
    });
    let cancel = Arc::new(AtomicBool::new(false));
    state.cache.insert(
        key.clone(),
        Entry::Pending {
            done: 0,
            total: 1,
            cancel: cancel.clone(),
        },
    );
    Request {
        options: state.options.relevant_to(key.method),
        key,
        cancel,
    }
}

fn show_entry(state: &mut ExplainState, ui: &mut egui::Ui, key: &ExplainKey, show_timing: bool) {
    let mut retry = false;
    match state.cache.get_mut(key) {
        None => {}
        Some(Entry::Pending {
            done,
            total,
            cancel,
        }) => {
            ui.horizontal(|ui| {
                let f = *done as f32 / (*total).max(1) as f32;
                ui.add(
                    egui::ProgressBar::new(f)
                        .desired_width(220.0)
                        .text(format!("{} {done}/{total}", key.method.title())),
                );
                if ui.button("Cancel").clicked() {
                    cancel.store(true, Ordering::Relaxed);
                }
            });
        }
        Some(Entry::Failed(e)) => {
            ui.horizontal(|ui| {
                ui.colored_label(ui.visuals().error_fg_color, e.as_str());
                retry = ui.button("Retry").clicked();
            });
        }
        Some(Entry::Ready(done, textures)) => {
            let ctx = ui.ctx().clone();
            let tex = textures.get_or_insert_with(|| {
                vec![
                    ctx.load_texture("explain-alone", done.alone.clone(), TextureOptions::LINEAR),
                    ctx.load_texture("explain-over", done.overlay.clone(), TextureOptions::LINEAR),
                ]
            });
            let side = ((ui.available_width() - 8.0) / 2.0).clamp(120.0, 320.0);
            ui.horizontal(|ui| {
                for t in tex.iter() {
                    ui.image((t.id(), vec2(side, side)));
                }
            });
            let timing = if show_timing {
                format!(" · {:.0} ms", done.millis)
            } else {
                String::new()
            };
            ui.label(
                RichText::new(format!("{}{timing}", done.summary))
                    .monospace()
                    .small(),
            );
            if let Some(rho) = done.rank_correlation {
                ui.label(format!(
                    "rank correlation with the trained network's map: {rho:.3} \
                     (1 = unchanged: the map did not depend on these weights)"
                ));
            }
        }
    }
    if retry {
        state.cache.remove(key);
    }
}
