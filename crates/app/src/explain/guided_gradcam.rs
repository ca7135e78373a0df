//! The guided Grad-CAM view.

use featurescope_net::attribution::{Method, Options};

use super::MethodView;

/// guided Grad-CAM.
pub struct GuidedGradCamView;

impl MethodView for GuidedGradCamView {
    fn method(&self) -> Method {
        Method::GuidedGradCam
    }

    fn controls(&self, ui: &mut egui::Ui, options: &mut Options) -> bool {
        super::gradcam::layer_picker(ui, options)
    }
}
