//! The integrated gradients view.

use featurescope_net::attribution::{Method, Options};

use super::MethodView;

/// The integrated gradients view.
pub struct IntegratedView;

impl MethodView for IntegratedView {
    fn method(&self) -> Method {
        Method::Integrated
    }

    fn controls(&self, ui: &mut egui::Ui, options: &mut Options) {
        use featurescope_net::attribution::Baseline;
        ui.horizontal(|ui| {
            ui.add(egui::Slider::new(&mut options.steps, 8..=256).text("steps"));
            ui.selectable_value(&mut options.baseline, Baseline::Black, "black baseline");
            ui.selectable_value(&mut options.baseline, Baseline::Blurred, "blurred baseline");
        });
    }
}
