//! Drawing what a layer sees in one image: the semantic dictionary (every position's strongest
//! channels as small pictures over the photo), neuron groups (each group's mask in its own
//! colour over the photo) and a signed map at a layer's resolution in two colours (spatial
//! attribution to a class, or the difference of two classes). The app and the command line
//! both draw through here.

use image::{RgbImage, imageops};

use crate::attribution::{CLIP_QUANTILE, robust_max};
use crate::colormap::{Colormap, colorize};
use crate::dictionary::Fires;
use crate::groups::Groups;
use crate::layer::LayerMaps;
use crate::norm::ValueRange;
use crate::resample::{Resample, resample};

/// The groups' colours, in order (Tableau 10), repeated beyond ten.
pub fn group_colour(g: usize) -> [u8; 3] {
    let c = colorous::TABLEAU10[g % colorous::TABLEAU10.len()];
    [c.r, c.g, c.b]
}

/// A colour that names a channel when no picture of it is at hand (its index hashed onto a
/// hue, full saturation).
pub fn channel_colour(c: usize) -> [u8; 3] {
    let t = ((c as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f64 / f64::from(1u32 << 24);
    let col = colorous::RAINBOW.eval_continuous(t);
    [col.r, col.g, col.b]
}

/// Channel `c` of `maps` as a small RGB picture (its own min..max through `colormap`): what
/// stands for a channel when neither an atlas crop nor a feature visualisation is at hand.
pub fn channel_tile(maps: &LayerMaps, c: usize, colormap: Colormap) -> RgbImage {
    let values = maps.channel(c);
    let (lo, hi) = crate::stats::finite_range(values).unwrap_or((0.0, 0.0));
    let mut rgba = Vec::new();
    colorize(values, ValueRange::sanitized(lo, hi), colormap, &mut rgba);
    let rgb: Vec<u8> = rgba
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    RgbImage::from_raw(maps.width as u32, maps.height as u32, rgb)
        .unwrap_or_else(|| RgbImage::new(1, 1))
}

/// Side of the square of sub-cells a dictionary cell splits into for `k` pictures.
pub fn cell_grid(k: usize) -> usize {
    (1..=k.max(1)).find(|s| s * s >= k).unwrap_or(1)
}

/// The dictionary figure: the photo scaled to `width × height` cells of `cell_px` pixels and
/// darkened, each cell showing its position's channels (`fires`, row-major, as
/// [`crate::dictionary::dictionary`] returns them) as pictures in a square grid, strongest
/// top-left. `picture(channel)` gives a channel's picture (any size; scaled to the sub-cell)
/// or `None` for a flat colour ([`channel_colour`]). Pictures of weaker channels fade: each is
/// mixed with the darkened photo by 0.9 √(its value over the layer's largest value).
pub fn render_dictionary(
    fires: &[Fires],
    (height, width): (usize, usize),
    cell_px: u32,
    photo: &RgbImage,
    picture: &mut dyn FnMut(usize) -> Option<RgbImage>,
) -> RgbImage {
    let (w, h) = (width as u32 * cell_px, height as u32 * cell_px);
    let mut out = imageops::resize(photo, w.max(1), h.max(1), imageops::FilterType::Triangle);
    for p in out.pixels_mut() {
        p.0 = p.0.map(|v| (u16::from(v) * 110 / 255) as u8);
    }
    let top = fires
        .iter()
        .flat_map(|f| f.values.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0f32, f32::max);
    let k = fires.iter().map(|f| f.channels.len()).max().unwrap_or(0);
    let side = cell_grid(k) as u32;
    let sub = (cell_px / side.max(1)).max(1);
    let mut cache: std::collections::HashMap<usize, RgbImage> = Default::default();
    for f in fires {
        for (i, (&c, &v)) in f.channels.iter().zip(&f.values).enumerate() {
            let pic = cache.entry(c).or_insert_with(|| match picture(c) {
                Some(p) => imageops::resize(&p, sub, sub, imageops::FilterType::Triangle),
                None => RgbImage::from_pixel(sub, sub, image::Rgb(channel_colour(c))),
            });
            let strength = if top > 0.0 && v.is_finite() {
                0.9 * (v / top).clamp(0.0, 1.0).sqrt()
            } else {
                0.0
            };
            let (i, s) = (i as u32, side);
            let x0 = f.x as u32 * cell_px + (i % s) * sub;
            let y0 = f.y as u32 * cell_px + (i / s) * sub;
            for (px, py, p) in pic.enumerate_pixels() {
                if x0 + px < w && y0 + py < h {
                    let o = out.get_pixel_mut(x0 + px, y0 + py);
                    for ch in 0..3 {
                        let mixed =
                            f32::from(o.0[ch]) * (1.0 - strength) + f32::from(p.0[ch]) * strength;
                        o.0[ch] = mixed.round() as u8;
                    }
                }
            }
        }
    }
    out
}

/// Each group's mask upsampled to the photo's size and scaled by its own maximum (0..1).
pub fn group_masks(groups: &Groups, out_w: usize, out_h: usize) -> Vec<Vec<f32>> {
    groups
        .spatial
        .iter()
        .map(|mask| {
            let up = resample(
                mask,
                groups.width,
                groups.height,
                out_w,
                out_h,
                Resample::Bilinear,
            );
            let max = mask.iter().copied().fold(0.0f32, f32::max);
            let scale = if max > 0.0 { 1.0 / max } else { 0.0 };
            up.iter().map(|v| (v * scale).clamp(0.0, 1.0)).collect()
        })
        .collect()
}

/// The groups over the photo: each pixel takes the colour of the group strongest there
/// ([`group_colour`]), mixed in by that group's mask value; `only` draws one group alone.
pub fn render_groups(groups: &Groups, photo: &RgbImage, only: Option<usize>) -> RgbImage {
    let (w, h) = (photo.width() as usize, photo.height() as usize);
    let masks = group_masks(groups, w, h);
    let mut out = photo.clone();
    for (i, p) in out.pixels_mut().enumerate() {
        let best = masks
            .iter()
            .enumerate()
            .filter(|(g, _)| only.is_none_or(|o| o == *g))
            .map(|(g, m)| (g, m[i]))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        let Some((g, v)) = best else { continue };
        let colour = group_colour(g);
        let a = 0.8 * v;
        for (v, &tint) in p.0.iter_mut().zip(&colour) {
            let grey = f32::from(*v) * 0.6;
            *v = (grey * (1.0 - a) + f32::from(tint) * a).round() as u8;
        }
    }
    out
}

/// Colours of [`render_two_colour`]: positive values, negative values.
pub const TWO_COLOURS: [[u8; 3]; 2] = [[255, 127, 14], [31, 119, 180]];

/// A signed `w × h` map over the photo: positive values in orange, negative ones in blue,
/// each mixed in by |value| over the map's robust maximum (99.5th percentile of |value|).
/// Returns the image and that maximum.
pub fn render_two_colour(values: &[f32], w: usize, h: usize, photo: &RgbImage) -> (RgbImage, f32) {
    let (pw, ph) = (photo.width() as usize, photo.height() as usize);
    let up = resample(values, w, h, pw, ph, Resample::Bilinear);
    let max = robust_max(values, CLIP_QUANTILE);
    let scale = if max > 0.0 { 1.0 / max } else { 0.0 };
    let mut out = photo.clone();
    for (p, v) in out.pixels_mut().zip(&up) {
        let t = (v * scale).clamp(-1.0, 1.0);
        let t = if t.is_finite() { t } else { 0.0 };
        let colour = if t >= 0.0 {
            TWO_COLOURS[0]
        } else {
            TWO_COLOURS[1]
        };
        let a = 0.85 * t.abs().sqrt();
        for (v, &tint) in p.0.iter_mut().zip(&colour) {
            let grey = f32::from(*v) * 0.5;
            *v = (grey * (1.0 - a) + f32::from(tint) * a).round() as u8;
        }
    }
    (out, max)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::dictionary::dictionary;

    #[test]
    fn dictionary_cells_hold_their_channels_pictures() {
        // 2 channels on a 1x2 map: channel 0 wins on the left, channel 1 on the right.
        let maps = LayerMaps::new(2, 1, 2, vec![2.0, 0.0, 0.0, 1.0]).unwrap();
        let fires = dictionary(&maps, 1);
        let photo = RgbImage::new(8, 4);
        let red = RgbImage::from_pixel(4, 4, image::Rgb([255, 0, 0]));
        let mut pics = |c: usize| (c == 0).then(|| red.clone());
        let img = render_dictionary(&fires, (1, 2), 10, &photo, &mut pics);
        assert_eq!(img.dimensions(), (20, 10));
        // The strongest value: 90 % its picture over the (black) photo.
        assert_eq!(
            img.get_pixel(3, 3).0,
            [230, 0, 0],
            "full strength, its picture"
        );
        let right = img.get_pixel(13, 3).0;
        let swatch = channel_colour(1);
        assert!(right != [0, 0, 0] && right != [255, 0, 0]);
        // Half the layer's max: a swatch mixed in by 0.9 √0.5.
        let expect = (f32::from(swatch[1]) * 0.9 * 0.5f32.sqrt()).round() as u8;
        assert_eq!(right[1], expect);
        assert_eq!(cell_grid(4), 2);
        assert_eq!(cell_grid(5), 3);
    }

    #[test]
    fn two_colours_by_sign() {
        let photo = RgbImage::new(2, 1);
        let (img, max) = render_two_colour(&[1.0, -1.0], 2, 1, &photo);
        assert_eq!(max, 1.0);
        assert!(img.get_pixel(0, 0).0[0] > img.get_pixel(0, 0).0[2]);
        assert!(img.get_pixel(1, 0).0[2] > img.get_pixel(1, 0).0[0]);
    }
}
