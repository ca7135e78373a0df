//! Pieces more than one panel or view draws: cached textures, the predictions,
//! an atlas filter's crops, tiles coloured for the screen.

use std::collections::HashMap;
use std::hash::Hash;

use egui::{Color32, ColorImage, RichText, TextureHandle, TextureOptions};
use image::RgbImage;

use crate::action::Action;
use crate::services::tasks::{CropKey, THUMB_PX};
use crate::state::{AppState, Crops};
use crate::view::LayerView;

/// An RGB image as egui takes it.
pub fn color_image(img: &RgbImage) -> ColorImage {
    ColorImage::from_rgb([img.width() as usize, img.height() as usize], img.as_raw())
}

/// One channel of a view coloured for the screen, box-averaged by `k` (1: full size).
pub fn tile_image(view: &LayerView, c: usize, k: usize) -> ColorImage {
    let (size, pixels) = view.pixels(c, k, Color32::from_rgb);
    ColorImage::new(size, pixels)
}

/// A texture made once per key: made again when the key changes.
pub struct TextureSlot<K> {
    name: &'static str,
    slot: Option<(K, TextureHandle)>,
}

impl<K: PartialEq> TextureSlot<K> {
    /// An empty slot; `name` names the texture for egui's debugging.
    pub const fn new(name: &'static str) -> Self {
        Self { name, slot: None }
    }

    /// The texture of `key`, made by `make` if the slot holds another key (or none).
    pub fn get(
        &mut self,
        ctx: &egui::Context,
        key: K,
        options: TextureOptions,
        make: impl FnOnce() -> ColorImage,
    ) -> TextureHandle {
        match &self.slot {
            Some((k, tex)) if *k == key => tex.clone(),
            _ => {
                let tex = ctx.load_texture(self.name, make(), options);
                self.slot = Some((key, tex.clone()));
                tex
            }
        }
    }
}

/// Textures for results in the state (explanations, visualisations, crops), dropped once
/// their result is gone from it.
pub struct TextureMap<K> {
    name: &'static str,
    options: TextureOptions,
    map: HashMap<K, Vec<TextureHandle>>,
}

impl<K: Eq + Hash + Clone> TextureMap<K> {
    /// An empty map; `name` names the textures for egui's debugging.
    pub fn new(name: &'static str, options: TextureOptions) -> Self {
        Self {
            name,
            options,
            map: HashMap::new(),
        }
    }

    /// The textures of `key`'s images, made on first use.
    pub fn get(&mut self, ctx: &egui::Context, key: &K, images: &[&RgbImage]) -> &[TextureHandle] {
        let (name, options) = (self.name, self.options);
        self.map.entry(key.clone()).or_insert_with(|| {
            images
                .iter()
                .map(|img| ctx.load_texture(name, color_image(img), options))
                .collect()
        })
    }

    /// Keep only the textures whose key is still wanted.
    pub fn retain(&mut self, mut keep: impl FnMut(&K) -> bool) {
        self.map.retain(|k, _| keep(k));
    }
}

/// The head's five most probable classes.
pub fn predictions_ui(ui: &mut egui::Ui, state: &AppState) {
    let Some(head) = state
        .analysis
        .as_ref()
        .and_then(|a| a.activations.head.as_ref())
    else {
        ui.label(RichText::new("no head in these weights: no predictions").weak());
        return;
    };
    ui.heading("Predictions");
    for (_, label, p) in head.top_k(5) {
        ui.horizontal(|ui| {
            ui.add(
                egui::ProgressBar::new(p)
                    .desired_width(90.0)
                    .fill(Color32::from_rgb(60, 120, 200)),
            );
            ui.label(format!("{:5.1}%  {label}", p * 100.0));
        });
    }
}

/// For a concat layer's channel: the branch layer and channel it comes from.
pub fn branch_of(layer: &str, c: usize) -> Option<(String, usize)> {
    let cat = featurescope_net::Catalogue::inception_v3();
    if cat.get(layer)?.kind != featurescope_net::LayerKind::Concat {
        return None;
    }
    featurescope_net::attribution::channel_source(layer, c)
}

/// The atlas' top images of `channel` of the selected layer as crops, `columns` to a row; a
/// click analyses one. Crops not read yet are asked for.
pub fn crops_ui(
    ui: &mut egui::Ui,
    state: &AppState,
    channel: usize,
    columns: usize,
    textures: &mut TextureMap<CropKey>,
    actions: &mut Vec<Action>,
) {
    let layer = state.selected.id();
    let Some(atlas) = &state.atlas else { return };
    textures.retain(|k| atlas.crops.contains_key(k));
    if atlas.loaded.atlas.layer(layer).is_none() {
        ui.label(RichText::new(format!("{layer} is not in this atlas")).weak());
        return;
    }
    let key = atlas.key(layer, channel);
    match atlas.crops.get(&key) {
        None => {
            actions.push(Action::LoadCrops(key));
            ui.spinner();
        }
        Some(Crops::Loading) => {
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
            let images: Vec<&RgbImage> = list.iter().map(|(_, img)| img).collect();
            let tex = textures.get(ui.ctx(), &key, &images);
            crop_grid(ui, list, tex, columns, actions);
        }
    }
}

fn crop_grid(
    ui: &mut egui::Ui,
    list: &[(featurescope_maps::atlas::AtlasHit, RgbImage)],
    textures: &[TextureHandle],
    columns: usize,
    actions: &mut Vec<Action>,
) {
    let side = egui::vec2(THUMB_PX as f32, THUMB_PX as f32);
    egui::Grid::new(("atlas-grid", columns))
        .spacing([6.0, 6.0])
        .show(ui, |ui| {
            for (i, ((hit, _), tex)) in list.iter().zip(textures).enumerate() {
                let clicked = ui
                    .vertical(|ui| {
                        let img = egui::Image::new(tex)
                            .fit_to_exact_size(side)
                            .alt_text(format!("atlas image {}: {}", i + 1, hit.image))
                            .sense(egui::Sense::click());
                        let c = hit.crop;
                        let r = ui.add(img).on_hover_text(format!(
                            "{}\nscore {:.4} at ({}, {}) · crop x {}..{}, y {}..{}\nclick to analyse",
                            hit.image, hit.score, hit.y, hit.x, c.x0, c.x1, c.y0, c.y1
                        ));
                        let label = format!("{:.2} {}", hit.score, short(&hit.image));
                        ui.label(RichText::new(label).small());
                        r.clicked()
                    })
                    .inner;
                if clicked {
                    actions.push(Action::AnalyseAtlasImage(hit.image.clone()));
                }
                if (i + 1) % columns == 0 {
                    ui.end_row();
                }
            }
        });
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
