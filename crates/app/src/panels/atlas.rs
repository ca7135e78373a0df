//! The atlas beside the tiles: the inspected filter's top images in the open atlas, as
//! receptive-field crops; a click analyses one.

use egui::{RichText, TextureOptions};
use featurescope_atlas::Rank;

use crate::action::Action;
use crate::panel::{Panel, Place};
use crate::services::tasks::{CropKey, THUMB_PX};
use crate::state::AppState;
use crate::widgets::{TextureMap, crops_ui};

/// The atlas panel.
pub struct AtlasPanel {
    crops: TextureMap<CropKey>,
}

impl Default for AtlasPanel {
    fn default() -> Self {
        Self {
            crops: TextureMap::new("atlas-crop", TextureOptions::NEAREST),
        }
    }
}

impl Panel for AtlasPanel {
    fn id(&self) -> &'static str {
        "atlas"
    }

    fn place(&self) -> Place {
        Place::Right(2.0 * THUMB_PX as f32 + 30.0)
    }

    fn shown(&self, state: &AppState) -> bool {
        state.atlas.is_some()
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
        let Some(atlas) = &state.atlas else { return };
        ui.horizontal(|ui| {
            ui.heading("Atlas");
            let images = format!("{} images", atlas.loaded.atlas.images().len());
            ui.label(RichText::new(images).weak());
        });
        ui.horizontal(|ui| {
            ui.label("top images by");
            for (rank, label) in [(Rank::Max, "max"), (Rank::Mean, "mean")] {
                if ui.selectable_label(atlas.rank == rank, label).clicked() {
                    actions.push(Action::RankAtlasBy(rank));
                }
            }
        });
        ui.separator();
        let Some(channel) = state.inspector.map(|i| i.channel) else {
            let hint = "Click a tile: the images that excite that filter most appear here.";
            ui.label(RichText::new(hint).weak());
            return;
        };
        egui::ScrollArea::vertical()
            .id_salt("atlas-crops")
            .show(ui, |ui| {
                crops_ui(ui, state, channel, 2, &mut self.crops, actions);
            });
    }
}
