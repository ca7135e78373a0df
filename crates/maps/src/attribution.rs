//! Drawing attribution results: a non-negative map as a colormapped heat image (saliency,
//! SmoothGrad, integrated gradients, Grad-CAM), a signed input gradient as an RGB image
//! (guided backprop, deconvnet, guided Grad-CAM — the look of the papers' figures), and either
//! blended over the photo. The one colouring path for attributions: the app and the command
//! line both draw through here.

use image::RgbImage;

use crate::colormap::Colormap;
use crate::resample::{Resample, resample};

/// How a result is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Look {
    /// A non-negative map through a colormap.
    Heat,
    /// A signed `[3, H, W]` gradient as colour: 0 is mid-grey, each channel's sign and size
    /// shown as a brighter or darker primary.
    Signed,
}

/// The value at the `q` quantile (0..=1) of |values| — a robust maximum that a few extreme
/// pixels do not set. 0 for an empty or all-zero input.
pub fn robust_max(values: &[f32], q: f64) -> f32 {
    let mut v: Vec<f32> = values
        .iter()
        .map(|x| x.abs())
        .filter(|x| x.is_finite())
        .collect();
    if v.is_empty() {
        return 0.0;
    }
    let k = ((v.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    let (_, kth, _) = v.select_nth_unstable_by(k, f32::total_cmp);
    let m = *kth;
    if m > 0.0 {
        m
    } else {
        v.iter().copied().fold(0.0, f32::max)
    }
}

/// Quantile used to scale attribution images (as the usual `percentile 99.5` clip).
pub const CLIP_QUANTILE: f64 = 0.995;

/// A `w × h` map, upsampled bilinearly to `out × out` when it is smaller, scaled by its robust
/// maximum to 0..1 (clipped above).
pub fn heat_values(values: &[f32], w: usize, h: usize, out_w: usize, out_h: usize) -> Vec<f32> {
    let up = if (w, h) == (out_w, out_h) {
        values.to_vec()
    } else {
        resample(values, w, h, out_w, out_h, Resample::Bilinear)
    };
    let max = robust_max(values, CLIP_QUANTILE);
    let scale = if max > 0.0 { 1.0 / max } else { 0.0 };
    up.iter()
        .map(|v| {
            let t = v * scale;
            if t.is_finite() {
                t.clamp(0.0, 1.0)
            } else {
                0.0
            }
        })
        .collect()
}

/// A signed planar `[3, h, w]` gradient as an RGB image: `0.5 + 0.5 · g / robust max`.
pub fn render_signed(data: &[f32], w: usize, h: usize) -> RgbImage {
    let plane = w * h;
    let max = robust_max(data, CLIP_QUANTILE);
    let scale = if max > 0.0 { 0.5 / max } else { 0.0 };
    let mut img = RgbImage::new(w as u32, h as u32);
    for (i, p) in img.pixels_mut().enumerate() {
        for c in 0..3 {
            let g = data.get(c * plane + i).copied().unwrap_or(0.0);
            let v = (0.5 + g * scale).clamp(0.0, 1.0);
            p.0[c] = if v.is_finite() {
                (v * 255.0).round() as u8
            } else {
                128
            };
        }
    }
    img
}

/// `layer` over `photo` (same size): each pixel mixes by `opacity`, times `weight` when given
/// (a heat map's own 0..1 value, so that where nothing is attributed the photo shows through).
pub fn blend(photo: &RgbImage, layer: &RgbImage, weight: Option<&[f32]>, opacity: f32) -> RgbImage {
    let mut out = photo.clone();
    for (i, (o, l)) in out.pixels_mut().zip(layer.pixels()).enumerate() {
        let w = weight.map_or(1.0, |w| w.get(i).copied().unwrap_or(0.0).sqrt());
        let a = (opacity * w).clamp(0.0, 1.0);
        for c in 0..3 {
            let mixed = f32::from(o.0[c]) * (1.0 - a) + f32::from(l.0[c]) * a;
            o.0[c] = mixed.round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// A result drawn alone and over the photo: `(alone, overlaid)`, both the photo's size.
/// `values` is `[h, w]` for [`Look::Heat`] and `[3, h, w]` for [`Look::Signed`].
pub fn render_attribution(
    look: Look,
    values: &[f32],
    w: usize,
    h: usize,
    photo: &RgbImage,
    colormap: Colormap,
    opacity: f32,
) -> (RgbImage, RgbImage) {
    let (pw, ph) = (photo.width() as usize, photo.height() as usize);
    match look {
        Look::Heat => {
            let t = heat_values(values, w, h, pw, ph);
            let mut alone = RgbImage::new(pw as u32, ph as u32);
            for (p, v) in alone.pixels_mut().zip(&t) {
                p.0 = colormap.map(*v);
            }
            let over = blend(photo, &alone, Some(&t), opacity);
            (alone, over)
        }
        Look::Signed => {
            let alone = render_signed(values, w, h);
            let alone = if (w, h) == (pw, ph) {
                alone
            } else {
                image::imageops::resize(
                    &alone,
                    pw as u32,
                    ph as u32,
                    image::imageops::FilterType::Triangle,
                )
            };
            let over = blend(photo, &alone, None, opacity);
            (alone, over)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robust_max_ignores_a_few_outliers() {
        let mut v = vec![1.0f32; 1000];
        v[3] = 1e6;
        v[4] = -1e6;
        assert_eq!(robust_max(&v, CLIP_QUANTILE), 1.0);
        assert_eq!(robust_max(&[0.0, 0.0], CLIP_QUANTILE), 0.0);
        assert_eq!(robust_max(&[], CLIP_QUANTILE), 0.0);
        // All mass in a few pixels: the true maximum, not 0.
        let mut sparse = vec![0.0f32; 1000];
        sparse[0] = 2.0;
        assert_eq!(robust_max(&sparse, CLIP_QUANTILE), 2.0);
    }

    #[test]
    fn signed_zero_is_grey_and_heat_upsamples() {
        let img = render_signed(&[0.0; 12], 2, 2);
        assert!(img.pixels().all(|p| p.0 == [128, 128, 128]));
        let img = render_signed(&[1.0, -1.0, 0.0, 0.0, 0.0, 0.0], 2, 1);
        assert_eq!(img.get_pixel(0, 0).0, [255, 128, 128]);
        assert_eq!(img.get_pixel(1, 0).0, [0, 128, 128]);
        let heat = heat_values(&[0.0, 1.0, 1.0, 0.0], 2, 2, 8, 8);
        assert_eq!(heat.len(), 64);
        assert!(heat.iter().all(|v| (0.0..=1.0).contains(v)));
        let photo = RgbImage::from_pixel(8, 8, image::Rgb([10, 20, 30]));
        let (alone, over) =
            render_attribution(Look::Heat, &[0.0; 4], 2, 2, &photo, Colormap::Inferno, 0.7);
        assert_eq!(alone.dimensions(), (8, 8));
        // Nothing attributed: the photo shows through unchanged.
        assert_eq!(over, photo);
        let nan = render_signed(&[f32::NAN; 3], 1, 1);
        assert_eq!(nan.get_pixel(0, 0).0, [128, 128, 128]);
    }
}
