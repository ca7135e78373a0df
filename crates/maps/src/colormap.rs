//! Colormaps (sampled once from `colorous` gradients into 256-entry tables) and colouring.

use std::sync::OnceLock;

use crate::norm::ValueRange;

/// Colour used for NaN values: a loud magenta that no colormap here produces.
pub const INVALID_COLOR: [u8; 3] = [255, 0, 255];

/// A colormap for turning normalised values in `[0, 1]` into colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Colormap {
    /// Perceptually uniform blue-green-yellow (matplotlib's default).
    Viridis,
    /// Black-purple-orange-white.
    Magma,
    /// Black-purple-orange-yellow.
    Inferno,
    /// Blue-purple-orange-yellow.
    Plasma,
    /// Google's improved rainbow.
    Turbo,
    /// Black (low) to white (high).
    Grayscale,
    /// Blue = negative, white = 0, red = positive (colorous `RED_BLUE`, reversed).
    /// Use it with a symmetric range so that 0 lands on the white centre.
    Diverging,
    /// Colour-vision-deficiency friendly blue-yellow.
    Cividis,
}

/// A 256-entry RGB lookup table.
type Lut = [[u8; 3]; 256];

impl Colormap {
    /// Every colormap, in menu order.
    pub const ALL: [Colormap; 8] = [
        Colormap::Viridis,
        Colormap::Magma,
        Colormap::Inferno,
        Colormap::Plasma,
        Colormap::Turbo,
        Colormap::Grayscale,
        Colormap::Diverging,
        Colormap::Cividis,
    ];

    /// Lowercase name, e.g. `"viridis"`, `"grayscale"`, `"diverging"`.
    pub fn name(self) -> &'static str {
        match self {
            Colormap::Viridis => "viridis",
            Colormap::Magma => "magma",
            Colormap::Inferno => "inferno",
            Colormap::Plasma => "plasma",
            Colormap::Turbo => "turbo",
            Colormap::Grayscale => "grayscale",
            Colormap::Diverging => "diverging",
            Colormap::Cividis => "cividis",
        }
    }

    /// Parses a name case-insensitively. Besides [`Colormap::name`] it accepts `"gray"`,
    /// `"grey"`, `"greyscale"` for [`Colormap::Grayscale`] and `"rdbu"`, `"coolwarm"`,
    /// `"bwr"` for [`Colormap::Diverging`].
    pub fn from_name(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        let found = match s.as_str() {
            "gray" | "grey" | "greyscale" | "greys" | "grays" => Colormap::Grayscale,
            "rdbu" | "rdbu_r" | "coolwarm" | "bwr" | "redblue" | "red_blue" => Colormap::Diverging,
            other => return Self::ALL.into_iter().find(|c| c.name() == other),
        };
        Some(found)
    }

    /// Whether this map is meant for signed data centred on 0 (pair it with a symmetric range).
    pub fn is_diverging(self) -> bool {
        matches!(self, Colormap::Diverging)
    }

    /// The 256-entry lookup table, built on first use from the `colorous` gradient.
    pub fn lut(self) -> &'static [[u8; 3]; 256] {
        static LUTS: [OnceLock<Lut>; 8] = [const { OnceLock::new() }; 8];
        let slot = &LUTS[self as usize];
        slot.get_or_init(|| self.build_lut())
    }

    /// Colour for a normalised value `t` (clamped to `[0, 1]`); NaN gives [`INVALID_COLOR`].
    pub fn map(self, t: f32) -> [u8; 3] {
        if t.is_nan() {
            return INVALID_COLOR;
        }
        let i = (t.clamp(0.0, 1.0) * 255.0).round() as usize;
        self.lut()[i.min(255)]
    }

    fn build_lut(self) -> Lut {
        let (gradient, reversed) = match self {
            Colormap::Viridis => (colorous::VIRIDIS, false),
            Colormap::Magma => (colorous::MAGMA, false),
            Colormap::Inferno => (colorous::INFERNO, false),
            Colormap::Plasma => (colorous::PLASMA, false),
            Colormap::Turbo => (colorous::TURBO, false),
            // colorous GREYS runs white -> black; we want black = low.
            Colormap::Grayscale => (colorous::GREYS, true),
            // colorous RED_BLUE runs red -> white -> blue; we want blue = negative.
            Colormap::Diverging => (colorous::RED_BLUE, true),
            Colormap::Cividis => (colorous::CIVIDIS, false),
        };
        let mut lut = [[0u8; 3]; 256];
        for (i, entry) in lut.iter_mut().enumerate() {
            let k = if reversed { 255 - i } else { i };
            *entry = gradient.eval_rational(k, 256).as_array();
        }
        lut
    }
}

impl std::fmt::Display for Colormap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Colours one channel into RGBA8 pixels: `out` is cleared and filled with
/// `values.len() * 4` bytes, alpha 255. NaN values get [`INVALID_COLOR`].
pub fn colorize(values: &[f32], range: ValueRange, cmap: Colormap, out: &mut Vec<u8>) {
    out.clear();
    out.reserve(values.len() * 4);
    for &v in values {
        let [r, g, b] = cmap.map(range.normalize(v));
        out.extend_from_slice(&[r, g, b, 255]);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn endpoints_differ_and_names_round_trip() {
        for c in Colormap::ALL {
            assert_ne!(c.map(0.0), c.map(1.0), "{c}");
            assert_eq!(Colormap::from_name(c.name()), Some(c));
            assert_eq!(Colormap::from_name(&c.name().to_uppercase()), Some(c));
            assert_eq!(c.name(), c.name().to_lowercase());
        }
        assert_eq!(Colormap::from_name("Grey"), Some(Colormap::Grayscale));
        assert_eq!(Colormap::from_name("gray"), Some(Colormap::Grayscale));
        assert_eq!(Colormap::from_name("RdBu"), Some(Colormap::Diverging));
        assert_eq!(Colormap::from_name("coolwarm"), Some(Colormap::Diverging));
        assert_eq!(Colormap::from_name("jet"), None);
    }

    #[test]
    fn grayscale_runs_dark_to_light_and_clamps() {
        let g = Colormap::Grayscale;
        assert_eq!(g.map(0.0), [0, 0, 0]);
        assert_eq!(g.map(1.0), [255, 255, 255]);
        assert_eq!(g.map(-3.0), g.map(0.0));
        assert_eq!(g.map(7.0), g.map(1.0));
        assert_eq!(g.map(f32::NAN), INVALID_COLOR);
    }

    #[test]
    fn diverging_is_blue_white_red() {
        let d = Colormap::Diverging;
        assert!(d.is_diverging());
        assert!(!Colormap::Viridis.is_diverging());
        let [r, g, b] = d.map(0.0);
        assert!(b > r && b > g, "low end should be blue: {r} {g} {b}");
        let [r, g, b] = d.map(1.0);
        assert!(r > g && r > b, "high end should be red: {r} {g} {b}");
        let mid = d.map(0.5);
        assert!(
            mid.iter().all(|&c| c > 230),
            "centre should be white-ish: {mid:?}"
        );
    }

    #[test]
    fn colorize_writes_rgba() {
        let mut out = vec![1, 2, 3];
        let range = ValueRange { lo: 0.0, hi: 1.0 };
        colorize(&[0.0, 1.0, f32::NAN], range, Colormap::Grayscale, &mut out);
        assert_eq!(
            out,
            vec![0, 0, 0, 255, 255, 255, 255, 255, 255, 0, 255, 255]
        );
    }
}
