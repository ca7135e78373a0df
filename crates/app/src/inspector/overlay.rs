//! The overlay view: the filter's map upsampled to the network's input, colormapped and laid
//! over the photo.

use egui::{TextureOptions, vec2};
use featurescope_maps::Resample;

use super::{Filter, InspectorView, Row};
use crate::action::Action;
use crate::state::ViewId;
use crate::view::LayerView;
use crate::widgets::TextureSlot;

/// The overlay view.
pub struct OverlayView {
    texture: TextureSlot<(u64, u64, usize, u32)>,
}

impl Default for OverlayView {
    fn default() -> Self {
        Self {
            texture: TextureSlot::new("inspector-overlay"),
        }
    }
}

impl InspectorView for OverlayView {
    fn id(&self) -> ViewId {
        ViewId("overlay")
    }

    fn title(&self) -> &'static str {
        "Overlay on photo"
    }

    fn row(&self) -> Row {
        Row::Look
    }

    fn ui(&mut self, ui: &mut egui::Ui, filter: &Filter<'_>, actions: &mut Vec<Action>) {
        let mut settings = filter.state.settings.clone();
        let slider = egui::Slider::new(&mut settings.overlay_opacity, 0.0..=1.0).text("opacity");
        if ui.add(slider).changed() {
            actions.push(Action::ChangeSettings(Box::new(settings)));
        }
        let Some(a) = &filter.state.analysis else {
            return;
        };
        let (view, c) = (filter.view, filter.channel);
        let opacity = filter.state.settings.overlay_opacity;
        let key = (a.generation, view.version, c, opacity.to_bits());
        let tex = self.texture.get(ui.ctx(), key, TextureOptions::LINEAR, || {
            overlay(view, c, &a.input.crop, opacity)
        });
        let side = ui.available_width().clamp(200.0, 640.0);
        ui.image((tex.id(), vec2(side, side)));
    }
}

/// The filter's map upsampled to the crop's size, colormapped, blended over the photo.
fn overlay(view: &LayerView, c: usize, crop: &image::RgbImage, opacity: f32) -> egui::ColorImage {
    let (w, h) = (crop.width() as usize, crop.height() as usize);
    let up = featurescope_maps::resample(
        view.maps.channel(c),
        view.maps.width,
        view.maps.height,
        w,
        h,
        Resample::Bilinear,
    );
    let range = view.range(c);
    let mut out = Vec::with_capacity(w * h * 4);
    for (i, p) in crop.pixels().enumerate() {
        let t = range.normalize(up.get(i).copied().unwrap_or(0.0));
        let [r, g, b] = view.colormap.map(t);
        let a = opacity;
        let mix = |photo: u8, heat: u8| (f32::from(photo) * (1.0 - a) + f32::from(heat) * a) as u8;
        out.extend_from_slice(&[mix(p[0], r), mix(p[1], g), mix(p[2], b), 255]);
    }
    egui::ColorImage::from_rgba_unmultiplied([w, h], &out)
}
