//! What persists between runs (colormap, tile size, normalisation, sort, last layer, recent
//! files). Panel sizes persist through egui's own memory.

use std::path::PathBuf;

use featurescope_maps::{Colormap, NormSettings, Normalization, SortKey};
use serde::{Deserialize, Serialize};

use crate::files::DialogChoice;

/// Key under which eframe stores the settings.
pub const STORAGE_KEY: &str = "featurescope.settings";
/// How many recent files are remembered.
pub const RECENT_MAX: usize = 10;

/// Normalisation mode as stored.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum NormMode {
    /// Each tile its own range.
    PerTile,
    /// The layer's range.
    PerLayer,
    /// A fixed range.
    Fixed,
}

/// The viewer's persistent settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Colormap name for post-activation values.
    pub colormap: String,
    /// Colormap name for pre-ReLU values (diverging by default).
    pub pre_relu_colormap: String,
    /// Tile side in points.
    pub tile_px: f32,
    /// Normalisation mode.
    pub norm: NormMode,
    /// Fixed range bounds.
    pub fixed_lo: f32,
    /// Fixed range bounds.
    pub fixed_hi: f32,
    /// Percentile clipping (None = off).
    pub clip_percentile: Option<f32>,
    /// Tile order.
    pub sort: String,
    /// Hide constant ("dead") filters.
    pub hide_dead: bool,
    /// Show pre-ReLU values for convs.
    pub pre_relu: bool,
    /// Last selected layer id.
    pub layer: String,
    /// Most recent first.
    pub recent: Vec<PathBuf>,
    /// Inspector: bilinear (true) or nearest (false) magnification.
    pub smooth: bool,
    /// Inspector overlay opacity.
    pub overlay_opacity: f32,
    /// The system's file dialog, or featurescope's own browser.
    pub file_dialog: DialogChoice,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            colormap: Colormap::Viridis.name().into(),
            pre_relu_colormap: Colormap::Diverging.name().into(),
            tile_px: 72.0,
            norm: NormMode::PerTile,
            fixed_lo: 0.0,
            fixed_hi: 4.0,
            clip_percentile: None,
            sort: SortKey::Index.name().into(),
            hide_dead: false,
            pre_relu: false,
            layer: "Conv2d_2b_3x3".into(),
            recent: Vec::new(),
            smooth: false,
            overlay_opacity: 0.6,
            file_dialog: DialogChoice::Auto,
        }
    }
}

impl Settings {
    /// The colormap in use for the current value kind.
    pub fn colormap(&self, pre_relu: bool) -> Colormap {
        let name = if pre_relu {
            &self.pre_relu_colormap
        } else {
            &self.colormap
        };
        Colormap::from_name(name).unwrap_or(if pre_relu {
            Colormap::Diverging
        } else {
            Colormap::Viridis
        })
    }

    /// The sort key.
    pub fn sort_key(&self) -> SortKey {
        SortKey::from_name(&self.sort).unwrap_or(SortKey::Index)
    }

    /// Normalisation for the maps layer.
    pub fn norm_settings(&self, pre_relu: bool) -> NormSettings {
        NormSettings {
            mode: match self.norm {
                NormMode::PerTile => Normalization::PerTile,
                NormMode::PerLayer => Normalization::PerLayer,
                NormMode::Fixed => Normalization::Fixed {
                    lo: self.fixed_lo,
                    hi: self.fixed_hi.max(self.fixed_lo + f32::EPSILON),
                },
            },
            clip_percentile: self.clip_percentile,
            symmetric: self.colormap(pre_relu).is_diverging(),
        }
    }

    /// Put a file at the top of the recent list.
    pub fn remember(&mut self, path: PathBuf) {
        self.recent.retain(|p| p != &path);
        self.recent.insert(0, path);
        self.recent.truncate(RECENT_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_list_is_bounded_and_deduplicated() {
        let mut s = Settings::default();
        for i in 0..15 {
            s.remember(PathBuf::from(format!("{i}.png")));
        }
        s.remember(PathBuf::from("3.png"));
        assert_eq!(s.recent.len(), RECENT_MAX);
        assert_eq!(s.recent[0], PathBuf::from("3.png"));
        assert_eq!(
            s.recent
                .iter()
                .filter(|p| p.as_path() == std::path::Path::new("3.png"))
                .count(),
            1
        );
    }

    #[test]
    fn round_trips_through_json() {
        let s = Settings {
            tile_px: 40.0,
            layer: "Mixed_6e".into(),
            ..Settings::default()
        };
        let text = serde_json::to_string(&s).unwrap_or_default();
        let back: Settings = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back, s);
    }
}
