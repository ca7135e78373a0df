//! The SmoothGrad view.

use featurescope_net::attribution::{Method, Options};

use super::MethodView;

/// SmoothGrad.
pub struct SmoothGradView;

impl MethodView for SmoothGradView {
    fn method(&self) -> Method {
        Method::SmoothGrad
    }

    fn controls(&self, ui: &mut egui::Ui, options: &mut Options) {
        ui.horizontal(|ui| {
            ui.add(egui::Slider::new(&mut options.samples, 4..=64).text("noisy copies"));
            ui.add(
                egui::Slider::new(&mut options.noise, 0.01..=0.5).text("noise (fraction of range)"),
            );
        });
    }
}
