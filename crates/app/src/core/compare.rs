//! Comparing: pinning an analysis (side A) against the one on screen (side B), preparing the
//! selected layer of the pair on one scale, exporting its figure; reports of two models over a
//! folder (built on the worker, or opened), their thumbnails, and opening a report's image under
//! both models side by side.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use featurescope_compare::{CompareOptions, CompareSummary, source_of, source_text};
use featurescope_maps::compare::Report;
use featurescope_maps::{
    Colormap, DiffScore, FigureOptions, FigureSide, LayerMaps, LayerPair, Overwrite, SortKey,
    save_image, tile_order,
};
use featurescope_net::{Backend, WeightsSource};
use image::RgbImage;

use super::Core;
use crate::services::dialogs::ExportWrite;
use crate::services::paths::default_report_path;
use crate::services::worker::{ImageSource, Job, PinnedAnalysis};
use crate::state::{
    Inspector, LayerRef, PairView, Pinned, ReportBuild, ReportState, Thumb, ThumbKey, ViewId,
};
use crate::view::LayerView;

impl Core {
    /// Pin the analysis on screen (the worker reads it back and keeps its input).
    pub(super) fn pin(&mut self) {
        let Some(generation) = self.state.analysis.as_ref().map(|a| a.generation) else {
            return self.state.notify_error("nothing to pin yet");
        };
        self.pin_generation(generation);
    }

    fn pin_generation(&mut self, generation: u64) {
        self.state.pinned = Some(Pinned::Pinning(generation));
        self.state.pair = None;
        self.send(Job::Pin { generation });
    }

    /// Forget the pinned analysis.
    pub(super) fn unpin(&mut self) {
        self.state.pinned = None;
        self.send(Job::Unpin);
        let keep = self.state.explained_analyses();
        self.state.explain.retain(&keep);
        self.rebuild_view();
    }

    /// The worker pinned an analysis (or could not).
    pub(super) fn pinned_arrived(&mut self, result: Result<Box<PinnedAnalysis>, String>) {
        let state = &mut self.state;
        let waiting = match state.pinned {
            Some(Pinned::Pinning(g)) => Some(g),
            _ => None,
        };
        match result {
            Ok(p) if waiting == Some(p.generation) => {
                state.notify(format!(
                    "pinned {} · {} as A: open another image, or other weights, to compare",
                    p.image, p.weights
                ));
                state.pinned = Some(Pinned::Ready(p));
                self.rebuild_view();
            }
            Ok(_) => {}
            Err(e) => {
                if waiting.is_some() {
                    state.pinned = None;
                }
                state.notify_error(format!("cannot pin: {e}"));
            }
        }
    }

    /// After the view (side B) was prepared: the selected layer of the pinned analysis beside
    /// it, both on the ranges computed over both, the difference, the order by difference.
    pub(super) fn rebuild_pair(&mut self) {
        let state = &mut self.state;
        state.pair = None;
        let Some(pinned) = state.pinned.as_ref().and_then(Pinned::ready) else {
            return;
        };
        let Some(view) = state.view.take() else {
            return;
        };
        let maps_a = pinned.activations.get(&view.id).and_then(|d| {
            let [_, c, h, w] = d.shape;
            LayerMaps::new(c, h, w, d.data.clone()).ok()
        });
        let pair = match maps_a {
            Some(a) if !view.pre_relu => LayerPair::new(a, view.maps.clone()).ok(),
            _ => None,
        };
        let Some(pair) = pair else {
            state.view = Some(view);
            return;
        };
        let settings = &state.settings;
        let norm = settings.norm_settings(false);
        let (shared, diff_ranges) = (pair.shared_ranges(&norm), pair.diff_ranges(&norm));
        let order = match settings.sort {
            SortKey::DiffL2 | SortKey::DiffMax => {
                let key = match settings.sort {
                    SortKey::DiffL2 => DiffScore::L2,
                    _ => DiffScore::MaxChange,
                };
                let scores = pair.scores(key);
                tile_order(
                    &view.stats,
                    settings.sort,
                    settings.hide_dead,
                    Some(&scores),
                )
            }
            _ => view.order.clone(),
        };
        let (id, version, colormap) = (view.id.clone(), view.version, view.colormap);
        let side = |maps, ranges, cmap| {
            LayerView::from_maps(&id, maps, false, settings, version, None)
                .with_colors(ranges, cmap)
                .with_order(order.clone())
        };
        let a = side(pair.a, shared.clone(), colormap);
        let diff = side(pair.diff, diff_ranges, Colormap::Diverging);
        state.view = Some(view.with_colors(shared, colormap).with_order(order.clone()));
        state.pair = Some(PairView { a, diff });
        self.open_side_by_side();
    }

    /// Writes the pinned comparison's figure (None without a pair on screen).
    pub(super) fn figure_writer(&self) -> Option<ExportWrite> {
        let state = &self.state;
        let (pair, view) = (state.pair.as_ref()?, state.view.as_ref()?);
        let pinned = state.pinned.as_ref()?.ready()?;
        let analysis = state.analysis.as_ref()?;
        let weights = state.weights.as_ref()?.info.source.short_name();
        let layer = LayerPair {
            a: pair.a.maps.clone(),
            b: view.maps.clone(),
            diff: pair.diff.maps.clone(),
        };
        let side = |crop: &RgbImage, image: &str, weights: &str| FigureSide {
            input: crop.clone(),
            label: format!("{image} - {weights}"),
        };
        let a = side(&pinned.previews.1, &pinned.image, &pinned.weights);
        let b = side(&analysis.previews.1, &analysis.source.name(), &weights);
        let m = &view.maps;
        let opts = FigureOptions {
            colormap: view.colormap,
            norm: state.settings.norm_settings(false),
            title: format!(
                "{} - {}x{}x{} - A and B on one scale ({})",
                view.id,
                m.channels,
                m.height,
                m.width,
                state.settings.norm_name()
            ),
            order: Some(view.order.clone()),
            scale: 2,
        };
        // Replacing an existing file was agreed to in the dialog.
        Some(Box::new(move |path| {
            let img = featurescope_maps::render_figure(&layer, &a, &b, &opts)
                .map_err(|e| e.to_string())?;
            save_image(path, &img.into(), Overwrite::Replace).map_err(|e| e.to_string())
        }))
    }

    /// Compare the current weights with `weights_b` over `root`, on the worker.
    pub(super) fn build_report(
        &mut self,
        root: PathBuf,
        weights_b: WeightsSource,
        out: Option<PathBuf>,
    ) {
        if self.state.report_build.is_some() {
            return self
                .state
                .notify_error("a comparison is already being built");
        }
        let Some(weights) = &self.state.weights else {
            return self.state.notify_error("no weights loaded yet");
        };
        let models = format!(
            "{}\n{}",
            source_text(&weights.info.source),
            source_text(&weights_b)
        );
        let on_gpu = weights.device.backend == Backend::Wgpu;
        let stop = Arc::new(AtomicBool::new(false));
        let options = CompareOptions {
            out: out.unwrap_or_else(|| default_report_path(&root, &models)),
            root,
            layers: None,
            batch: featurescope_compare::DEFAULT_BATCH,
            top: 9,
            forward_batch: if on_gpu { 8 } else { 1 },
            shard: None,
            overwrite: Overwrite::Refuse,
            stop_after: None,
        };
        if let Some(dir) = options.out.parent()
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            return self
                .state
                .notify_error(format!("cannot create {}: {e}", dir.display()));
        }
        let job = Job::BuildReport {
            options,
            weights_b,
            stop: stop.clone(),
        };
        match self.worker.send(job) {
            Ok(()) => {
                self.state.report_build = Some(ReportBuild::new(stop));
            }
            Err(e) => self.state.notify_error(e),
        }
    }

    /// Stop the report build (the batches done are kept, and opened).
    pub(super) fn stop_report_build(&mut self) {
        if let Some(b) = &self.state.report_build {
            b.stop.store(true, Ordering::SeqCst);
        }
    }

    /// The worker reported progress of the report build.
    pub(super) fn report_progress(&mut self, done: usize, total: usize) {
        if let Some(b) = &mut self.state.report_build {
            (b.done, b.total) = (done, total);
        }
    }

    /// The worker finished (or stopped) the build: open what was built.
    pub(super) fn report_built(&mut self, result: Result<(PathBuf, CompareSummary), String>) {
        self.state.report_build = None;
        match result {
            Ok((path, s)) => {
                self.state.notify(format!(
                    "comparison: {} images in {} batches{} ({})",
                    s.analysed,
                    s.batches,
                    if s.stopped { ", stopped early" } else { "" },
                    path.display()
                ));
                self.tasks.load_report(path);
            }
            Err(e) => self.state.notify_error(e),
        }
    }

    /// A report was read.
    pub(super) fn report_loaded(&mut self, result: Result<(PathBuf, Arc<Report>), String>) {
        match result {
            Ok((path, report)) => {
                self.state.notify(format!(
                    "comparison: {} layers over {} images ({})",
                    report.layers().len(),
                    report.images().len(),
                    path.display()
                ));
                self.state.report = Some(ReportState::new(path, report));
            }
            Err(e) => self.state.notify_error(e),
        }
    }

    /// Show `layer` and list its most changed channels.
    pub(super) fn report_layer(&mut self, layer: String) {
        if let Some(l) = LayerRef::resolve(&layer) {
            self.select(l);
        }
        if let Some(r) = &mut self.state.report {
            r.layer = Some(layer);
        }
    }

    /// Read a thumbnail from the report's folder (once).
    pub(super) fn load_thumb(&mut self, key: ThumbKey) {
        let Some(r) = &mut self.state.report else {
            return;
        };
        if r.thumbs.contains_key(&key) {
            return;
        }
        match r.report.root().map(PathBuf::from) {
            Some(root) => {
                r.set_thumb(key.clone(), Thumb::Loading);
                self.tasks.load_thumb(root, key);
            }
            None => r.set_thumb(key, Thumb::Failed("the report names no folder".into())),
        }
    }

    /// A thumbnail arrived.
    pub(super) fn thumb_loaded(&mut self, key: ThumbKey, result: Result<RgbImage, String>) {
        if let Some(r) = &mut self.state.report {
            let thumb = match result {
                Ok(img) => Thumb::Ready(img),
                Err(e) => Thumb::Failed(e),
            };
            r.set_thumb(key, thumb);
        }
    }

    /// One of the report's images under model A (pinned) and model B (on screen), on one
    /// channel: the worker loads A, analyses, pins, loads B (which analyses the image again).
    pub(super) fn side_by_side(&mut self, image: &str, layer: &str, channel: usize) {
        let Some(r) = &mut self.state.report else {
            return;
        };
        let (Some(root), Some([a, b])) = (r.report.root(), r.report.sources().cloned()) else {
            return self.state.notify_error(
                "this report does not name its folder and models: open them by hand",
            );
        };
        let path = PathBuf::from(root).join(image);
        r.open_after = Some((layer.to_string(), channel));
        if let Some(l) = LayerRef::resolve(layer) {
            self.select(l);
        }
        self.send(Job::LoadWeights(source_of(&a)));
        self.analyse(ImageSource::File(path));
        self.pin_generation(self.state.generation);
        self.send(Job::LoadWeights(source_of(&b)));
    }

    /// Once the pair asked for by [`Core::side_by_side`] is on screen (B's weights loaded
    /// after the pin), inspect its channel.
    fn open_side_by_side(&mut self) {
        let state = &mut self.state;
        let (Some(r), Some(p)) = (
            &mut state.report,
            state.pinned.as_ref().and_then(Pinned::ready),
        ) else {
            return;
        };
        let ready = state
            .analysis
            .as_ref()
            .is_some_and(|a| a.generation == p.generation)
            && p.weights_serial != state.weights_serial;
        match r.open_after.take() {
            Some((layer, channel)) if ready && layer == state.selected.id() => {
                state.inspector = Some(Inspector {
                    channel,
                    view: ViewId::PAIR,
                });
            }
            other => r.open_after = other,
        }
    }
}
