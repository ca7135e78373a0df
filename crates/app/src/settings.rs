//! What persists between runs (colormap, tile size, normalisation, sort, last layer, recent
//! files). Panel sizes persist through egui's own memory.

use std::path::PathBuf;

use featurescope_maps::{Colormap, NormSettings, Normalization, SortKey};
use serde::{Deserialize, Serialize};

use crate::services::dialogs::DialogChoice;

/// Key under which eframe stores the settings.
pub const STORAGE_KEY: &str = "featurescope.settings";
/// The settings' format version; a file from a newer featurescope loads as defaults.
pub const SETTINGS_VERSION: u32 = 1;
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
    /// Format version ([`SETTINGS_VERSION`]; 0 in files written before it existed).
    pub version: u32,
    /// Colormap for post-activation values (stored by name).
    #[serde(with = "by_name::colormap")]
    pub colormap: Colormap,
    /// Colormap for pre-ReLU values, diverging by default (stored by name).
    #[serde(with = "by_name::pre_relu_colormap")]
    pub pre_relu_colormap: Colormap,
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
    /// Tile order (stored by name; `selectivity` needs an open atlas with the layer).
    #[serde(with = "by_name::sort")]
    pub sort: SortKey,
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
            version: SETTINGS_VERSION,
            colormap: Colormap::Viridis,
            pre_relu_colormap: Colormap::Diverging,
            tile_px: 72.0,
            norm: NormMode::PerTile,
            fixed_lo: 0.0,
            fixed_hi: 4.0,
            clip_percentile: None,
            sort: SortKey::Index,
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

/// Read the settings eframe stored, and the notice to show when they could not be used: a
/// corrupt entry, a corrupt settings file (eframe then starts empty), or a newer version.
/// Values out of range (a tile size of 1e30, an opacity of NaN) are brought back in range.
pub fn restore(
    storage: Option<&dyn eframe::Storage>,
    file: Option<&std::path::Path>,
) -> (Settings, Option<String>) {
    let Some(storage) = storage else {
        return (Settings::default(), None);
    };
    let reset = |why: &str| {
        (
            Settings::default(),
            Some(format!("settings {why}: starting from the defaults")),
        )
    };
    match storage.get_string(STORAGE_KEY) {
        Some(_) => match eframe::get_value::<Settings>(storage, STORAGE_KEY) {
            None => reset("could not be read (damaged, or from another version)"),
            Some(s) if s.version > SETTINGS_VERSION => reset(&format!(
                "are from a newer featurescope (format {}, this one reads {SETTINGS_VERSION})",
                s.version
            )),
            Some(s) => (s.sanitized(), None),
        },
        // eframe starts with nothing when its file does not parse: say so if there was one.
        None => match file.and_then(|f| std::fs::metadata(f).ok()) {
            Some(m) if m.len() > 0 => reset("file could not be read (damaged?)"),
            _ => (Settings::default(), None),
        },
    }
}

impl Settings {
    /// The same settings with every value in a usable range.
    pub fn sanitized(mut self) -> Self {
        let d = Self::default();
        let finite_or = |v: f32, default: f32| if v.is_finite() { v } else { default };
        self.version = SETTINGS_VERSION;
        self.tile_px = finite_or(self.tile_px, d.tile_px).clamp(16.0, 512.0);
        self.overlay_opacity = finite_or(self.overlay_opacity, d.overlay_opacity).clamp(0.0, 1.0);
        self.fixed_lo = finite_or(self.fixed_lo, d.fixed_lo);
        self.fixed_hi = finite_or(self.fixed_hi, d.fixed_hi);
        self.clip_percentile = self
            .clip_percentile
            .filter(|p| p.is_finite())
            .map(|p| p.clamp(0.0, 50.0));
        self.recent.truncate(RECENT_MAX);
        self
    }

    /// The colormap in use for the current value kind.
    pub fn colormap(&self, pre_relu: bool) -> Colormap {
        if pre_relu {
            self.pre_relu_colormap
        } else {
            self.colormap
        }
    }

    /// Whether going from `self` to `other` changes what the tiles show (colours, order,
    /// which values): the view is prepared again. Tile size, the inspector's options and the
    /// file dialog choice do not.
    pub fn changes_view(&self, other: &Settings) -> bool {
        self.view_key() != other.view_key()
    }

    /// What the tiles' look depends on, compared by [`Settings::changes_view`] (floats by bits).
    #[allow(clippy::type_complexity)]
    fn view_key(
        &self,
    ) -> (
        Colormap,
        Colormap,
        NormMode,
        u32,
        u32,
        Option<u32>,
        SortKey,
        bool,
        bool,
    ) {
        (
            self.colormap,
            self.pre_relu_colormap,
            self.norm,
            self.fixed_lo.to_bits(),
            self.fixed_hi.to_bits(),
            self.clip_percentile.map(f32::to_bits),
            self.sort,
            self.hide_dead,
            self.pre_relu,
        )
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

    /// The normalisation in words: `per tile`, `per layer`, `fixed 0..4`.
    pub fn norm_name(&self) -> String {
        match self.norm {
            NormMode::PerTile => "per tile".into(),
            NormMode::PerLayer => "per layer".into(),
            NormMode::Fixed => format!("fixed {}..{}", self.fixed_lo, self.fixed_hi),
        }
    }

    /// Put a file at the top of the recent list.
    pub fn remember(&mut self, path: PathBuf) {
        self.recent.retain(|p| p != &path);
        self.recent.insert(0, path);
        self.recent.truncate(RECENT_MAX);
    }
}

/// Choices stored by their names, as settings files have always held them: a name this version
/// does not know reads as the field's default.
mod by_name {
    use serde::{Deserialize, Deserializer, Serializer};

    fn read<'de, D: Deserializer<'de>, T>(
        d: D,
        parse: impl Fn(&str) -> Option<T>,
        default: T,
    ) -> Result<T, D::Error> {
        Ok(parse(&String::deserialize(d)?).unwrap_or(default))
    }

    macro_rules! named {
        ($module:ident, $ty:ty, $default:expr) => {
            pub mod $module {
                use super::*;
                pub fn serialize<S: Serializer>(v: &$ty, s: S) -> Result<S::Ok, S::Error> {
                    s.serialize_str(v.name())
                }
                pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                    read(d, <$ty>::from_name, $default)
                }
            }
        };
    }

    use featurescope_maps::{Colormap, SortKey};
    named!(colormap, Colormap, Colormap::Viridis);
    named!(pre_relu_colormap, Colormap, Colormap::Diverging);
    named!(sort, SortKey, SortKey::Index);
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

    /// A storage holding one key's raw text.
    struct Stored(Option<String>);

    impl eframe::Storage for Stored {
        fn get_string(&self, key: &str) -> Option<String> {
            (key == STORAGE_KEY).then(|| self.0.clone()).flatten()
        }
        fn set_string(&mut self, _key: &str, _value: String) {}
        fn remove_string(&mut self, _key: &str) {}
        fn flush(&mut self) {}
    }

    #[test]
    fn corrupt_newer_or_odd_settings_load_as_defaults_with_a_notice() {
        let good = Settings {
            tile_px: 40.0,
            ..Settings::default()
        };
        let text = ron_text(&good);
        let (s, notice) = restore(Some(&Stored(Some(text.clone()))), None);
        assert_eq!((s.tile_px, notice), (40.0, None));

        let (s, notice) = restore(
            Some(&Stored(Some("(colormap: 3, tile_px: \"big\"".into()))),
            None,
        );
        assert_eq!(s, Settings::default());
        assert!(notice.unwrap().contains("could not be read"));

        let newer = text
            .replace("version:1", "version:99")
            .replace("version: 1", "version: 99");
        assert_ne!(newer, text, "{text}");
        let (s, notice) = restore(Some(&Stored(Some(newer))), None);
        assert_eq!(s, Settings::default());
        assert!(notice.unwrap().contains("newer"));

        // Older files (no version field) keep their values.
        let older = text.replace("version:1,", "").replace("version: 1,", "");
        let (s, notice) = restore(Some(&Stored(Some(older))), None);
        assert_eq!((s.tile_px, notice), (40.0, None));

        // A damaged settings file: eframe starts empty; the notice still comes.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("app.ron");
        std::fs::write(&file, "{ garbage").unwrap();
        let (s, notice) = restore(Some(&Stored(None)), Some(&file));
        assert_eq!(s, Settings::default());
        assert!(notice.unwrap().contains("damaged"));

        let odd = Settings {
            tile_px: f32::NAN,
            overlay_opacity: 7.0,
            ..Settings::default()
        };
        let (s, _) = restore(Some(&Stored(Some(ron_text(&odd)))), None);
        assert_eq!((s.tile_px, s.overlay_opacity), (72.0, 1.0));
    }

    fn ron_text(s: &Settings) -> String {
        struct Keep(Option<String>);
        impl eframe::Storage for Keep {
            fn get_string(&self, _key: &str) -> Option<String> {
                self.0.clone()
            }
            fn set_string(&mut self, _key: &str, value: String) {
                self.0 = Some(value);
            }
            fn remove_string(&mut self, _key: &str) {
                self.0 = None;
            }
            fn flush(&mut self) {}
        }
        let mut keep = Keep(None);
        eframe::set_value(&mut keep as &mut dyn eframe::Storage, STORAGE_KEY, s);
        keep.0.unwrap()
    }

    #[test]
    fn round_trips_through_eframes_ron_and_reads_old_names() {
        let s = Settings {
            tile_px: 40.0,
            layer: "Mixed_6e".into(),
            colormap: Colormap::Magma,
            sort: SortKey::Selectivity,
            norm: NormMode::Fixed,
            clip_percentile: Some(2.5),
            recent: vec![PathBuf::from("/photos/cat.png")],
            file_dialog: DialogChoice::BuiltIn,
            ..Settings::default()
        };
        // Through eframe's own storage format (RON), as a saved session is.
        let text = ron_text(&s);
        assert!(text.contains("\"magma\""), "stored by name: {text}");
        let (back, notice) = restore(Some(&Stored(Some(text.clone()))), None);
        assert_eq!((back, notice), (s.clone(), None));
        // Files written before the choices were typed hold the same names; a name this
        // version does not know reads as that field's default, the rest kept.
        let old = text
            .replace("\"magma\"", "\"turbo\"")
            .replace("\"selectivity\"", "\"no-such-order\"")
            .replace("\"diverging\"", "\"no-such-map\"");
        let (back, notice) = restore(Some(&Stored(Some(old))), None);
        assert_eq!(notice, None);
        assert_eq!(back.colormap, Colormap::Turbo);
        assert_eq!(back.sort, SortKey::Index);
        assert_eq!(back.pre_relu_colormap, Colormap::Diverging);
        assert_eq!((back.tile_px, back.layer.as_str()), (40.0, "Mixed_6e"));
    }
}
