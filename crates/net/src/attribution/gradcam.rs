//! Grad-CAM (Selvaraju et al. 2017): at a conv or concat layer A,
//! `ReLU(Σ_k mean_HW(∂target/∂A_k) · A_k)`, at A's resolution (upsampled for display).

use burn::tensor::Tensor;
use burn::tensor::activation::relu;

use super::{
    Attribution, AttributionMethod, BackwardOptions, Job, Method, RawKind, Recorded, read,
};
use crate::catalogue::{Catalogue, LayerKind};
use crate::error::NetError;
use crate::taps::ReluRule;

/// Grad-CAM.
pub struct GradCam;

/// Grad-CAM's layer when none is chosen: `Mixed_7c` (the last conv block: coarse 8x8, most
/// semantic) for a class; for a channel, the output of the last block below the target's own
/// (what the target's block reads), or the target itself in the stem.
pub fn default_layer(target: &super::Target) -> Result<usize, NetError> {
    let cat = Catalogue::inception_v3();
    let top = target.top()?;
    if matches!(target, super::Target::Class(_)) {
        return cat
            .position("Mixed_7c")
            .ok_or_else(|| NetError::UnknownLayer("Mixed_7c".into()));
    }
    let below = super::engine::ancestors(top);
    let block_of = |id: &str| id.split('.').next().unwrap_or(id).to_string();
    let own = block_of(&cat.layers[top].id);
    Ok(below
        .iter()
        .rev()
        .copied()
        .find(|&i| {
            let l = &cat.layers[i];
            l.kind == LayerKind::Concat && !l.id.contains('.') && l.id != own
        })
        .unwrap_or(top))
}

/// The Grad-CAM layer for a job: the chosen one (checked: a conv or concat) or the default.
pub fn layer_for(job: &Job<'_>) -> Result<usize, NetError> {
    let cat = Catalogue::inception_v3();
    let Some(name) = &job.options.cam_layer else {
        return default_layer(job.target);
    };
    let info = cat
        .resolve(name)
        .ok_or_else(|| NetError::UnknownLayer(name.clone()))?;
    if !matches!(info.kind, LayerKind::Conv | LayerKind::Concat) {
        return Err(NetError::Attribution(format!(
            "Grad-CAM needs a conv or concat layer; `{}` is a {}",
            info.id,
            info.kind.name()
        )));
    }
    cat.position(&info.id)
        .ok_or_else(|| NetError::UnknownLayer(name.clone()))
}

/// The class activation map `[N, 1, h, w]` at layer `a` of a recorded pass.
pub fn cam(rec: &Recorded<'_>, target: &super::Target, a: usize) -> Result<Tensor<4>, NetError> {
    // Only layer `a`'s gradient is used: the walk stops once it is complete, not at the input.
    let options = BackwardOptions {
        capture: vec![a],
        stop_after_capture: true,
        ..BackwardOptions::default()
    };
    let mut back = rec.backward(target, ReluRule::Standard, &options)?;
    let act = rec
        .value(a)
        .ok_or_else(|| NetError::Attribution("Grad-CAM layer not recorded".into()))?
        .clone();
    let grad = back.captured.remove(&a).unwrap_or_else(|| act.zeros_like());
    let [n, c, h, w] = grad.dims();
    let weights = grad
        .reshape([n, c, h * w])
        .mean_dim(2)
        .reshape([n, c, 1, 1]);
    Ok(relu((act * weights).sum_dim(1)))
}

impl AttributionMethod for GradCam {
    fn method(&self) -> Method {
        Method::GradCam
    }

    fn id(&self) -> &'static str {
        "gradcam"
    }

    fn title(&self) -> &'static str {
        "Grad-CAM"
    }

    fn summary(&self) -> &'static str {
        "where, at a coarse layer, the evidence for the target lies (Selvaraju et al. 2017): \
         that layer's maps weighted by their mean gradient"
    }

    fn compute(&self, job: &mut Job<'_>) -> Result<Attribution, NetError> {
        let a = layer_for(job)?;
        job.tick(0, 1)?;
        let rec = job.record(job.target, &[a])?;
        let value = read(rec.target_value(job.target)?)?[0];
        let map = cam(&rec, job.target, a)?;
        let [_, _, h, w] = map.dims();
        let data = read(map)?;
        job.tick(1, 1)?;
        Ok(Attribution {
            method: Method::GradCam,
            target: job.target.clone(),
            kind: RawKind::Map,
            shape: vec![h, w],
            data,
            target_value: value,
            completeness: None,
            cam_layer: Some(Catalogue::inception_v3().layers[a].id.clone()),
        })
    }
}
