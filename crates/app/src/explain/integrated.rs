//! The integrated gradients view.

use featurescope_net::attribution::{Method, Options};

use super::MethodView;

/// integrated gradients.
pub struct IntegratedView;

impl MethodView for IntegratedView {
    fn method(&self) -> Method {
        Method::Integrated
    }

    fn controls(&self, ui: &mut egui::Ui, options: &mut Options) -> bool {
        use featurescope_net::attribution::Baseline;
        ui.horizontal(|ui| {
            let a = ui
                .add(egui::Slider::new(&mut options.steps, 8..=256).text("steps"))
                .changed();
            let b = ui
                .selectable_value(&mut options.baseline, Baseline::Black, "black baseline")
                .changed();
            let c = ui
                .selectable_value(&mut options.baseline, Baseline::Blurred, "blurred baseline")
                .changed();
            a || b || c
        })
        .inner
    }
}
