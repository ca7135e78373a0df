//! The layer views' computations off the UI thread: neuron groups (a factorisation, on a task
//! thread: no network needed) and spatial attribution to a class (on the worker), and the keys
//! that name their results.

use std::collections::HashMap;
use std::sync::Arc;

use featurescope_maps::LayerMaps;
use featurescope_maps::dictionary::dictionary;
use featurescope_maps::figures::{render_dictionary, render_groups, render_two_colour};
use featurescope_maps::groups::{Groups, factorise};
use featurescope_net::attribution::spatial::{Spatial, spatial};
use featurescope_net::{InputImage, Network};
use image::RgbImage;

/// Pixels per position of an exported dictionary: what fits 1200 px, at least 8.
pub fn dictionary_cell_px(width: usize) -> u32 {
    (1200 / width.max(1) as u32).max(8)
}

/// The dictionary figure of a layer: every position's `k` strongest channels over the photo,
/// each as its icon when there is one, else a colour of its own — as the command line draws it.
pub fn dictionary_figure(
    maps: &LayerMaps,
    k: usize,
    photo: &RgbImage,
    icons: &HashMap<usize, Arc<RgbImage>>,
) -> RgbImage {
    let fires = dictionary(maps, k);
    let mut picture = |c: usize| icons.get(&c).map(|icon| (**icon).clone());
    let cell = dictionary_cell_px(maps.width);
    render_dictionary(&fires, (maps.height, maps.width), cell, photo, &mut picture)
}

/// One factorisation: image, layer, groups, rounds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupsKey {
    /// The analysis (image).
    pub generation: u64,
    /// Layer id.
    pub layer: String,
    /// Groups.
    pub k: usize,
    /// Update rounds.
    pub iters: usize,
}

/// One spatial attribution: image, weights, layer, classes (the second one optional).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SpatialKey {
    /// The analysis (image).
    pub generation: u64,
    /// The weights (counts loads).
    pub weights: u64,
    /// Layer id.
    pub layer: String,
    /// The class, and the one it is compared with.
    pub classes: (usize, Option<usize>),
}

impl SpatialKey {
    /// The classes as a list.
    pub fn class_list(&self) -> Vec<usize> {
        std::iter::once(self.classes.0)
            .chain(self.classes.1)
            .collect()
    }
}

/// Neuron groups and their pictures over the photo.
#[derive(Debug)]
pub struct GroupsDrawn {
    /// The factorisation.
    pub groups: Groups,
    /// Every group in its colour over the photo.
    pub overlay: RgbImage,
    /// Each group alone over the photo, in order.
    pub alone: Vec<RgbImage>,
    /// Time the factorisation took, ms.
    pub millis: f64,
}

/// Factorise and draw (on a task thread).
pub fn factorise_and_draw(
    maps: &LayerMaps,
    key: &GroupsKey,
    photo: &RgbImage,
) -> Result<GroupsDrawn, String> {
    let t = std::time::Instant::now();
    let groups = factorise(maps, key.k, key.iters).map_err(|e| e.to_string())?;
    let millis = t.elapsed().as_secs_f64() * 1e3;
    let overlay = render_groups(&groups, photo, None);
    let alone = (0..groups.k())
        .map(|g| render_groups(&groups, photo, Some(g)))
        .collect();
    Ok(GroupsDrawn {
        groups,
        overlay,
        alone,
        millis,
    })
}

/// A spatial attribution and its pictures over the photo.
#[derive(Debug)]
pub struct SpatialDrawn {
    /// The maps.
    pub spatial: Spatial,
    /// The first class's map, or the difference of the two, in two colours.
    pub image: RgbImage,
    /// Each class's own map, in two colours.
    pub per_class: Vec<RgbImage>,
    /// Time it took on the worker, ms.
    pub millis: f64,
}

/// Spatial attribution of `key`'s classes, drawn (on the worker); `progress(done, total)`
/// returns false to cancel.
pub fn compute_spatial(
    net: &Network,
    input: &InputImage,
    key: &SpatialKey,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<SpatialDrawn, String> {
    let t = std::time::Instant::now();
    let s = spatial(
        net.model(),
        &net.device().device,
        input,
        &key.layer,
        &key.class_list(),
        progress,
    )
    .map_err(|e| e.to_string())?;
    let photo = &input.crop;
    let per_class = s
        .maps
        .iter()
        .map(|m| render_two_colour(&m.data, s.width, s.height, photo).0)
        .collect::<Vec<_>>();
    let image = match s.difference() {
        Some(d) => render_two_colour(&d, s.width, s.height, photo).0,
        None => per_class.first().cloned().unwrap_or_default(),
    };
    Ok(SpatialDrawn {
        spatial: s,
        image,
        per_class,
        millis: t.elapsed().as_secs_f64() * 1e3,
    })
}
