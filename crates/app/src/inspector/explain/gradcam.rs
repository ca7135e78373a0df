//! The Grad-CAM view.

use featurescope_net::attribution::{Method, Options};

use super::MethodView;

/// Grad-CAM.
pub struct GradCamView;

impl MethodView for GradCamView {
    fn method(&self) -> Method {
        Method::GradCam
    }

    fn controls(&self, ui: &mut egui::Ui, options: &mut Options) {
        super::gradcam::layer_picker(ui, options);
    }
}

/// Grad-CAM's layer: the default for the target, or any conv or concat (block outputs first).
pub fn layer_picker(ui: &mut egui::Ui, options: &mut Options) {
    use featurescope_net::{Catalogue, LayerKind};
    let cat = Catalogue::inception_v3();
    let shown = options
        .cam_layer
        .as_deref()
        .unwrap_or("default (the block below)");
    egui::ComboBox::from_label("Grad-CAM layer")
        .selected_text(shown)
        .height(320.0)
        .show_ui(ui, |ui| {
            ui.selectable_value(&mut options.cam_layer, None, "default (the block below)");
            let blocks = cat
                .layers
                .iter()
                .filter(|l| l.kind == LayerKind::Concat && !l.id.contains('.'));
            let convs = cat.layers.iter().filter(|l| l.kind == LayerKind::Conv);
            for l in blocks.chain(convs) {
                ui.selectable_value(&mut options.cam_layer, Some(l.id.clone()), &l.id);
            }
        });
}
