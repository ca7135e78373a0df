//! Guided Grad-CAM (Selvaraju et al. 2017): guided backprop's input gradient times the
//! Grad-CAM map upsampled (bilinearly) to the input: fine detail, only where the evidence is.

use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use super::{AttributionMethod, BackwardOptions, Job, Method, gradcam, read};
use crate::catalogue::{Catalogue, INPUT_SIZE};
use crate::error::NetError;
use crate::taps::ReluRule;

/// Guided Grad-CAM.
pub struct GuidedGradCam;

impl AttributionMethod for GuidedGradCam {
    fn method(&self) -> Method {
        Method::GuidedGradCam
    }

    fn id(&self) -> &'static str {
        "guided-gradcam"
    }

    fn title(&self) -> &'static str {
        "Guided Grad-CAM"
    }

    fn summary(&self) -> &'static str {
        "guided backprop's edges kept only where Grad-CAM finds the evidence"
    }

    fn compute(&self, job: &mut Job<'_>) -> Result<super::Attribution, NetError> {
        let a = gradcam::layer_for(job)?;
        job.tick(0, 2)?;
        let rec = job.record(job.target, &[a])?;
        let value = read(rec.target_value(job.target)?)?[0];
        let map = gradcam::cam(&rec, job.target, a)?;
        let up = interpolate(
            map,
            InterpolateOptions::new(InterpolateMode::Bilinear)
                .with_align_corners(false)
                .with_output_size([INPUT_SIZE, INPUT_SIZE]),
        );
        job.tick(1, 2)?;
        let guided = rec.backward(job.target, ReluRule::Guided, &BackwardOptions::default())?;
        let data = read(guided.input * up)?;
        job.tick(2, 2)?;
        let mut out = job.gradient_result(Method::GuidedGradCam, data, value);
        out.cam_layer = Some(Catalogue::inception_v3().layers[a].id.clone());
        Ok(out)
    }
}
