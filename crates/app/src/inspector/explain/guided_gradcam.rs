//! The guided Grad-CAM view.

use featurescope_net::attribution::{Method, Options};

use super::MethodView;

/// The guided Grad-CAM view.
pub struct GuidedGradCamView;

impl MethodView for GuidedGradCamView {
    fn method(&self) -> Method {
        Method::GuidedGradCam
    }

    fn controls(&self, ui: &mut egui::Ui, options: &mut Options) {
        super::gradcam::layer_picker(ui, options);
    }
}
