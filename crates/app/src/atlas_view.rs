//! The filter atlas in the app: open one (File → Open atlas…), or build one from a folder on the
//! network worker (progress in the status bar, cancel), then see the selected filter's top images
//! with their receptive-field crops beside the tiles and in the inspector; a click analyses that
//! image. With an atlas, tiles can be sorted by how selective each filter is across it.
//! Reading the atlas and its crops happens on task threads, never on the UI thread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use egui::{Color32, RichText, TextureHandle, TextureOptions};
use featurescope_atlas::{BuildOptions, BuildSummary, FilterAtlas, Rank};
use featurescope_maps::atlas::{AtlasHit, fnv1a64, input_image_path};

use crate::app::FeaturescopeApp;
use crate::worker::{ImageSource, Job};

/// Tile order name for "most selective across the atlas first".
pub const SELECTIVITY_SORT: &str = "selectivity";

/// Side of a crop thumbnail in pixels (crops are scaled to it, nearest-neighbour when enlarged).
pub const THUMB_PX: u32 = 96;

/// One filter's ranking: (layer id, channel, by mean rather than max).
pub type CropKey = (String, usize, bool);

/// An atlas read from disk.
#[derive(Clone)]
pub struct LoadedAtlas {
    /// Its directory.
    pub dir: PathBuf,
    /// The collection folder it was built from, when recorded and still there.
    pub root: Option<PathBuf>,
    /// The atlas.
    pub atlas: Arc<FilterAtlas>,
}

impl std::fmt::Debug for LoadedAtlas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "atlas {}", self.dir.display())
    }
}

/// The crops of one ranking, as they come in.
enum Crops {
    Loading,
    /// Read by a task; uploaded as textures when next drawn.
    Images(Vec<(AtlasHit, egui::ColorImage)>),
    Ready(Vec<(AtlasHit, TextureHandle)>),
    Failed(String),
}

/// The open atlas and its cached crops.
pub struct AtlasState {
    /// What was loaded.
    pub loaded: LoadedAtlas,
    /// Rank by mean instead of max.
    pub by_mean: bool,
    crops: HashMap<CropKey, Crops>,
}

/// An atlas being built on the worker.
pub struct AtlasBuild {
    /// Files handled.
    pub done: usize,
    /// Files to handle.
    pub total: usize,
    /// Set to stop the build (what is done is kept).
    pub stop: Arc<AtomicBool>,
    /// When it started.
    pub started: Instant,
}

/// A crop scaled to a thumbnail (enlarged crops stay pixel-sharp).
pub fn crop_thumbnail(crop: &image::RgbImage) -> egui::ColorImage {
    let (w, h) = crop.dimensions();
    let scale = f64::from(THUMB_PX) / f64::from(w.max(h).max(1));
    let (tw, th) = (
        ((f64::from(w) * scale).round() as u32).max(1),
        ((f64::from(h) * scale).round() as u32).max(1),
    );
    let filter = if scale > 1.0 {
        image::imageops::FilterType::Nearest
    } else {
        image::imageops::FilterType::Triangle
    };
    let img = image::imageops::resize(crop, tw, th, filter);
    egui::ColorImage::from_rgb([tw as usize, th as usize], img.as_raw())
}

/// Where the app keeps atlases it builds: `<data home>/featurescope/atlases/<folder>-<hash of
/// its path>`, one per folder.
pub fn default_atlas_dir(root: &Path) -> PathBuf {
    let data = crate::data_home().unwrap_or_else(std::env::temp_dir);
    let name = root
        .file_name()
        .map_or_else(|| "images".into(), |n| n.to_string_lossy().into_owned());
    let hash = fnv1a64(root.as_os_str().as_encoded_bytes());
    data.join("featurescope/atlases")
        .join(format!("{name}-{hash:016x}"))
}

impl FeaturescopeApp {
    /// Open the atlas whose `atlas.json` (or directory) is `path` (read on a task thread).
    pub fn open_atlas(&mut self, path: PathBuf) {
        self.tasks.load_atlas(path);
    }

    /// Build an atlas of `root`'s images with the current weights, on the worker.
    pub fn build_atlas(&mut self, root: PathBuf) {
        self.build_atlas_into(root.clone(), default_atlas_dir(&root));
    }

    /// Build (or continue) the atlas of `root` in `out`.
    pub fn build_atlas_into(&mut self, root: PathBuf, out: PathBuf) {
        if self.atlas_build.is_some() {
            return self.notify_error("an atlas is already being built");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let options = BuildOptions {
            root,
            out,
            layers: None,
            top: 9,
            batch: if self
                .weights
                .as_ref()
                .is_some_and(|(_, d)| d.starts_with("wgpu"))
            {
                8
            } else {
                1
            },
            shard: None,
            stop_after: None,
        };
        match self.worker.send(Job::BuildAtlas {
            options,
            stop: stop.clone(),
        }) {
            Ok(()) => {
                self.atlas_build = Some(AtlasBuild {
                    done: 0,
                    total: 0,
                    stop,
                    started: Instant::now(),
                })
            }
            Err(e) => self.notify_error(e),
        }
    }

    /// The worker reported progress of the atlas build.
    pub(crate) fn atlas_progress(&mut self, done: usize, total: usize) {
        if let Some(b) = &mut self.atlas_build {
            b.done = done;
            b.total = total;
        }
    }

    /// The worker finished (or stopped) the build: open what was built.
    pub(crate) fn atlas_built(&mut self, result: Result<(PathBuf, BuildSummary), String>) {
        self.atlas_build = None;
        match result {
            Ok((dir, s)) => {
                self.notify(format!(
                    "atlas: {} images ({} skipped){} in {}",
                    s.images,
                    s.skipped,
                    if s.stopped { ", stopped early" } else { "" },
                    dir.display()
                ));
                self.tasks.load_atlas(dir);
            }
            Err(e) => self.notify_error(e),
        }
    }

    /// An atlas was read.
    pub(crate) fn atlas_loaded(&mut self, result: Result<LoadedAtlas, String>) {
        match result {
            Ok(loaded) => {
                self.notify(format!(
                    "atlas: {} images, {} layers, top {} ({})",
                    loaded.atlas.images().len(),
                    loaded.atlas.layers().len(),
                    loaded.atlas.k(),
                    loaded.dir.display()
                ));
                self.atlas = Some(AtlasState {
                    loaded,
                    by_mean: false,
                    crops: HashMap::new(),
                });
                self.rebuild_view();
            }
            Err(e) => self.notify_error(e),
        }
    }

    /// Crops arrived from a task.
    pub(crate) fn crops_loaded(
        &mut self,
        key: CropKey,
        crops: Result<Vec<(AtlasHit, egui::ColorImage)>, String>,
    ) {
        let Some(state) = &mut self.atlas else { return };
        let entry = match crops {
            Ok(list) => Crops::Images(list),
            Err(e) => Crops::Failed(e),
        };
        state.crops.insert(key, entry);
    }

    /// Reorder the view's tiles by selectivity when that order is chosen and the atlas has the
    /// layer (the most selective filter first); computed once per view, not per frame.
    pub(crate) fn apply_selectivity_order(&mut self) {
        if self.settings.sort != SELECTIVITY_SORT {
            return;
        }
        let (Some(atlas), Some(view)) = (&self.atlas, &mut self.view) else {
            return;
        };
        let Some(sel) = atlas.loaded.atlas.selectivity(&view.id) else {
            return;
        };
        let score = |c: usize| sel.get(c).copied().unwrap_or(f32::MIN);
        view.order
            .sort_by(|&a, &b| score(b).total_cmp(&score(a)).then(a.cmp(&b)));
    }

    /// Analyse an atlas image: the original in the collection when that folder was there as the
    /// atlas was opened, else the network input the atlas kept.
    fn analyse_atlas_image(&mut self, image: &str) {
        let Some(state) = &self.atlas else { return };
        let path = match &state.loaded.root {
            Some(root) => root.join(image),
            None => input_image_path(&state.loaded.dir, image),
        };
        self.analyse(ImageSource::File(path));
    }

    /// The atlas beside the tiles: the inspected filter's top images.
    pub(crate) fn atlas_panel_ui(&mut self, ui: &mut egui::Ui) {
        let Some(state) = &self.atlas else { return };
        ui.horizontal(|ui| {
            ui.heading("Atlas");
            ui.label(RichText::new(format!("{} images", state.loaded.atlas.images().len())).weak());
        });
        let by_mean = state.by_mean;
        ui.horizontal(|ui| {
            ui.label("top images by");
            if ui.selectable_label(!by_mean, "max").clicked()
                && let Some(s) = &mut self.atlas
            {
                s.by_mean = false;
            }
            if ui.selectable_label(by_mean, "mean").clicked()
                && let Some(s) = &mut self.atlas
            {
                s.by_mean = true;
            }
        });
        ui.separator();
        let Some(channel) = self.inspector.as_ref().map(|i| i.channel) else {
            ui.label(
                RichText::new("Click a tile: the images that excite that filter most appear here.")
                    .weak(),
            );
            return;
        };
        egui::ScrollArea::vertical()
            .id_salt("atlas-crops")
            .show(ui, |ui| self.crops_ui(ui, channel, 2));
    }

    /// The crops of `channel` of the selected layer, `columns` to a row; a click analyses one.
    pub(crate) fn crops_ui(&mut self, ui: &mut egui::Ui, channel: usize, columns: usize) {
        let layer = self.selected.clone();
        let Some(state) = &mut self.atlas else { return };
        if state.loaded.atlas.layer(&layer).is_none() {
            ui.label(RichText::new(format!("{layer} is not in this atlas")).weak());
            return;
        }
        let key: CropKey = (layer.clone(), channel, state.by_mean);
        if let Some(Crops::Images(_)) = state.crops.get(&key)
            && let Some(Crops::Images(list)) = state.crops.remove(&key)
        {
            let ready = list
                .into_iter()
                .enumerate()
                .map(|(i, (hit, img))| {
                    let name = format!("atlas-crop-{}-{}-{i}", key.0, key.1);
                    (
                        hit,
                        ui.ctx().load_texture(name, img, TextureOptions::NEAREST),
                    )
                })
                .collect();
            state.crops.insert(key.clone(), Crops::Ready(ready));
        }
        let mut clicked = None;
        match state.crops.get(&key) {
            None => {
                let rank = if state.by_mean { Rank::Mean } else { Rank::Max };
                match state.loaded.atlas.top(&layer, channel, rank) {
                    Ok(hits) => {
                        state.crops.insert(key.clone(), Crops::Loading);
                        self.tasks.load_crops(state.loaded.dir.clone(), key, hits);
                    }
                    Err(e) => {
                        state.crops.insert(key, Crops::Failed(e.to_string()));
                    }
                }
                ui.spinner();
            }
            Some(Crops::Loading | Crops::Images(_)) => {
                ui.spinner();
            }
            Some(Crops::Failed(e)) => {
                ui.colored_label(Color32::LIGHT_RED, e);
            }
            Some(Crops::Ready(list)) if list.is_empty() => {
                ui.label(RichText::new("no image in the atlas excites this filter").weak());
            }
            Some(Crops::Ready(list)) => {
                ui.label(RichText::new(format!("{layer} · filter {channel}")).strong());
                egui::Grid::new(("atlas-grid", columns))
                    .spacing([6.0, 6.0])
                    .show(ui, |ui| {
                        for (i, (hit, tex)) in list.iter().enumerate() {
                            let r = ui
                                .vertical(|ui| {
                                    let img = egui::Image::new(tex)
                                        .fit_to_exact_size(egui::vec2(
                                            THUMB_PX as f32,
                                            THUMB_PX as f32,
                                        ))
                                        .alt_text(format!("atlas image {}: {}", i + 1, hit.image))
                                        .sense(egui::Sense::click());
                                    let resp = ui.add(img).on_hover_text(format!(
                                        "{}\nscore {:.4} at ({}, {}) · crop x {}..{}, y {}..{}\nclick to analyse",
                                        hit.image,
                                        hit.score,
                                        hit.y,
                                        hit.x,
                                        hit.crop.x0,
                                        hit.crop.x1,
                                        hit.crop.y0,
                                        hit.crop.y1
                                    ));
                                    ui.label(
                                        RichText::new(format!("{:.2} {}", hit.score, short(&hit.image)))
                                            .small(),
                                    );
                                    resp
                                })
                                .inner;
                            if r.clicked() {
                                clicked = Some(hit.image.clone());
                            }
                            if (i + 1) % columns == 0 {
                                ui.end_row();
                            }
                        }
                    });
            }
        }
        if let Some(image) = clicked {
            self.analyse_atlas_image(&image);
        }
    }

    /// The status bar's atlas build progress with its Cancel button.
    pub(crate) fn atlas_build_ui(&mut self, ui: &mut egui::Ui) {
        let Some(b) = &self.atlas_build else { return };
        ui.spinner();
        let secs = b.started.elapsed().as_secs_f32();
        let text = format!(
            "building atlas: {}/{} images · {secs:.0} s",
            b.done, b.total
        );
        crate::panels::progress_row(ui, b.done, b.total, 120.0, text);
        if ui.small_button("Cancel").clicked() {
            b.stop.store(true, Ordering::SeqCst);
        }
    }
}

/// The last path component, shortened for a label under a thumbnail.
fn short(image: &str) -> String {
    let name = image.rsplit('/').next().unwrap_or(image);
    if name.chars().count() > 14 {
        let head: String = name.chars().take(12).collect();
        format!("{head}…")
    } else {
        name.to_string()
    }
}
