//! Spatial attribution to a class ("The Building Blocks of Interpretability", Olah et al. 2018):
//! at a layer `A`, per position `Σ_k A_k(y, x) · ∂z_c/∂A_k(y, x)` — each channel's activation
//! times the gradient of the class logit `z_c` (before the softmax), summed over channels. Where
//! the layer's positions push the prediction toward class `c` (positive) or away from it.
//!
//! One forward pass is recorded; each class is one backward walk from its logit under the
//! standard ReLU rule (max pools pass the gradient to their argmax), stopped at `A` (nothing
//! below it is needed).

use burn::tensor::{Device, Tensor};

use super::{BackwardOptions, Recorded, Target, read};
use crate::catalogue::{Catalogue, INPUT_SIZE};
use crate::error::NetError;
use crate::model::InceptionV3;
use crate::preprocess::InputImage;
use crate::taps::ReluRule;

/// One class's map.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassMap {
    /// The class (index into the head's outputs).
    pub class: usize,
    /// Its logit on the photo.
    pub logit: f32,
    /// `height * width` values, row-major.
    pub data: Vec<f32>,
}

/// Spatial attribution of one or more classes at one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Spatial {
    /// The layer (torchvision id).
    pub layer: String,
    /// Its map's height.
    pub height: usize,
    /// Its map's width.
    pub width: usize,
    /// One map per class asked for, in the order asked.
    pub maps: Vec<ClassMap>,
}

impl Spatial {
    /// The first class's map minus the second's (`None` with fewer than two).
    pub fn difference(&self) -> Option<Vec<f32>> {
        let (a, b) = (self.maps.first()?, self.maps.get(1)?);
        Some(a.data.iter().zip(&b.data).map(|(x, y)| x - y).collect())
    }
}

/// The spatial attribution of each of `classes` at `layer` (id or Keras alias) on `image`.
/// `progress(done, total)` is called once per class and returns `false` to cancel.
pub fn spatial(
    model: &InceptionV3,
    device: &Device,
    image: &InputImage,
    layer: &str,
    classes: &[usize],
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Spatial, NetError> {
    let cat = Catalogue::inception_v3();
    let info = cat
        .resolve(layer)
        .ok_or_else(|| NetError::UnknownLayer(layer.to_string()))?;
    let a = cat
        .position(&info.id)
        .ok_or_else(|| NetError::UnknownLayer(layer.to_string()))?;
    let first = Target::Class(classes.first().copied().unwrap_or(0));
    let x = Tensor::from_data(
        burn::tensor::TensorData::new(image.tensor.clone(), [1, 3, INPUT_SIZE, INPUT_SIZE]),
        device,
    );
    let total = classes.len();
    if !progress(0, total) {
        return Err(NetError::Cancelled);
    }
    let rec = Recorded::new(model, x, &first, &[a])?;
    let act = rec
        .value(a)
        .ok_or_else(|| NetError::Attribution(format!("`{}` was not recorded", info.id)))?
        .clone();
    let [_, _, height, width] = act.dims();
    let options = BackwardOptions {
        capture: vec![a],
        stop_after_capture: true,
        ..BackwardOptions::default()
    };
    let mut maps = Vec::with_capacity(total);
    for (i, &class) in classes.iter().enumerate() {
        let target = Target::Class(class);
        let logit = read(rec.target_value(&target)?)?
            .first()
            .copied()
            .unwrap_or(0.0);
        let mut back = rec.backward(&target, ReluRule::Standard, &options)?;
        let grad = back.captured.remove(&a).unwrap_or_else(|| act.zeros_like());
        let data = read((act.clone() * grad).sum_dim(1))?;
        maps.push(ClassMap { class, logit, data });
        if !progress(i + 1, total) {
            return Err(NetError::Cancelled);
        }
    }
    Ok(Spatial {
        layer: info.id.clone(),
        height,
        width,
        maps,
    })
}
