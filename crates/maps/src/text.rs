//! Minimal drawing helpers on RGBA images: filled/blended rectangles and 8x8 bitmap text.

use image::{Rgba, RgbaImage};

/// Glyph cell size of the `font8x8` font, in pixels.
pub(crate) const GLYPH: u32 = 8;

/// Width in pixels of `s` drawn with [`draw_text`].
pub(crate) fn text_width(s: &str) -> u32 {
    GLYPH.saturating_mul(s.chars().count() as u32)
}

/// Blends `color` (straight alpha) over the rectangle, clipped to the image.
pub(crate) fn blend_rect(img: &mut RgbaImage, x: u32, y: u32, w: u32, h: u32, color: [u8; 4]) {
    let (iw, ih) = img.dimensions();
    let a = u16::from(color[3]);
    for py in y..y.saturating_add(h).min(ih) {
        for px in x..x.saturating_add(w).min(iw) {
            let p = img.get_pixel_mut(px, py);
            for (dst, &src) in p.0.iter_mut().zip(&color[..3]) {
                let (d, s) = (u16::from(*dst), u16::from(src));
                *dst = ((s * a + d * (255 - a) + 127) / 255) as u8;
            }
            p.0[3] = 255;
        }
    }
}

/// Fills the rectangle with an opaque colour, clipped to the image.
pub(crate) fn fill_rect(img: &mut RgbaImage, x: u32, y: u32, w: u32, h: u32, rgb: [u8; 3]) {
    let (iw, ih) = img.dimensions();
    for py in y..y.saturating_add(h).min(ih) {
        for px in x..x.saturating_add(w).min(iw) {
            img.put_pixel(px, py, Rgba([rgb[0], rgb[1], rgb[2], 255]));
        }
    }
}

/// Draws `s` with its top-left corner at `(x, y)`, clipped to `clip = (x0, y0, x1, y1)`
/// (exclusive end) and the image. Non-ASCII characters are drawn as `?`.
pub(crate) fn draw_text(
    img: &mut RgbaImage,
    x: u32,
    y: u32,
    s: &str,
    rgb: [u8; 3],
    clip: (u32, u32, u32, u32),
) {
    let (iw, ih) = img.dimensions();
    let (cx0, cy0) = (clip.0, clip.1);
    let (cx1, cy1) = (clip.2.min(iw), clip.3.min(ih));
    for (i, ch) in s.chars().enumerate() {
        let code = if ch.is_ascii() {
            ch as usize
        } else {
            '?' as usize
        };
        let Some(glyph) = font8x8::legacy::BASIC_LEGACY.get(code) else {
            continue;
        };
        let gx = x.saturating_add(GLYPH.saturating_mul(i as u32));
        for (row, bits) in glyph.iter().enumerate() {
            let py = y.saturating_add(row as u32);
            for bit in 0..GLYPH {
                let px = gx.saturating_add(bit);
                if bits & (1 << bit) != 0 && px >= cx0 && px < cx1 && py >= cy0 && py < cy1 {
                    img.put_pixel(px, py, Rgba([rgb[0], rgb[1], rgb[2], 255]));
                }
            }
        }
    }
}

/// [`draw_text`] with every glyph pixel drawn as a `scale x scale` square (high-DPI figures).
pub(crate) fn draw_text_scaled(
    img: &mut RgbaImage,
    origin: (u32, u32),
    s: &str,
    rgb: [u8; 3],
    scale: u32,
) {
    let scale = scale.max(1);
    let (iw, ih) = img.dimensions();
    for (i, ch) in s.chars().enumerate() {
        let code = if ch.is_ascii() {
            ch as usize
        } else {
            '?' as usize
        };
        let Some(glyph) = font8x8::legacy::BASIC_LEGACY.get(code) else {
            continue;
        };
        let gx = origin.0.saturating_add(GLYPH * scale * i as u32);
        for (row, bits) in glyph.iter().enumerate() {
            for bit in 0..GLYPH {
                if bits & (1 << bit) == 0 {
                    continue;
                }
                let (px, py) = (gx + bit * scale, origin.1 + row as u32 * scale);
                for (dx, dy) in (0..scale).flat_map(|dx| (0..scale).map(move |dy| (dx, dy))) {
                    if px + dx < iw && py + dy < ih {
                        img.put_pixel(px + dx, py + dy, Rgba([rgb[0], rgb[1], rgb[2], 255]));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_draws_some_pixels_inside_clip_only() {
        let mut img = RgbaImage::from_pixel(20, 10, Rgba([0, 0, 0, 255]));
        draw_text(&mut img, 0, 0, "8?", [255, 255, 255], (0, 0, 12, 10));
        let lit: Vec<(u32, u32)> = img
            .enumerate_pixels()
            .filter(|(_, _, p)| p.0[0] == 255)
            .map(|(x, y, _)| (x, y))
            .collect();
        assert!(!lit.is_empty());
        assert!(lit.iter().all(|&(x, _)| x < 12));
        assert_eq!(text_width("dead"), 32);
    }

    #[test]
    fn blend_is_halfway_at_half_alpha() {
        let mut img = RgbaImage::from_pixel(2, 2, Rgba([200, 200, 200, 255]));
        blend_rect(&mut img, 1, 1, 5, 5, [0, 0, 0, 128]);
        assert_eq!(img.get_pixel(0, 0).0, [200, 200, 200, 255]);
        assert_eq!(img.get_pixel(1, 1).0[0], 100);
    }
}
