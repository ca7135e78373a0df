//! The atlas view: the images of the open atlas that excite this filter most, as
//! receptive-field crops; a click analyses one.

use egui::TextureOptions;

use super::{Filter, InspectorView, Row};
use crate::action::Action;
use crate::services::tasks::{CropKey, THUMB_PX};
use crate::state::{AppState, ViewId};
use crate::widgets::{TextureMap, crops_ui};

/// The atlas view.
pub struct AtlasView {
    crops: TextureMap<CropKey>,
}

impl Default for AtlasView {
    fn default() -> Self {
        Self {
            crops: TextureMap::new("inspector-atlas-crop", TextureOptions::NEAREST),
        }
    }
}

impl InspectorView for AtlasView {
    fn id(&self) -> ViewId {
        ViewId("atlas")
    }

    fn title(&self) -> &'static str {
        "Top images"
    }

    fn row(&self) -> Row {
        Row::Look
    }

    fn available(&self, state: &AppState) -> bool {
        state.atlas.is_some()
    }

    fn ui(&mut self, ui: &mut egui::Ui, filter: &Filter<'_>, actions: &mut Vec<Action>) {
        let side = ui.available_width().clamp(200.0, 640.0);
        let columns = ((side / (THUMB_PX as f32 + 8.0)) as usize).max(1);
        crops_ui(
            ui,
            filter.state,
            filter.channel,
            columns,
            &mut self.crops,
            actions,
        );
    }
}
