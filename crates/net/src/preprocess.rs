//! From an image file to the network's input: decode (every format the `image` crate reads),
//! honour EXIF orientation, center-crop to a square, resize to 299x299 with a triangle
//! (antialiased bilinear, as PIL's `BILINEAR`) filter, scale to [-1, 1], NCHW RGB.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage};

use crate::catalogue::INPUT_SIZE;
use crate::error::NetError;

/// Largest accepted image side, in pixels (bigger files are refused with a clear message).
pub const MAX_SIDE: u32 = 32_768;
/// Largest decoder allocation, in bytes.
pub const MAX_ALLOC: u64 = 2 << 30;

/// An image ready for the network.
#[derive(Clone, Debug)]
pub struct InputImage {
    /// The decoded, upright original (RGB8).
    pub original: RgbImage,
    /// The 299x299 center crop actually fed to the network.
    pub crop: RgbImage,
    /// The crop as NCHW float32 in [-1, 1] ([1, 3, 299, 299], row-major).
    pub tensor: Vec<f32>,
}

fn limits() -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(MAX_SIDE);
    l.max_image_height = Some(MAX_SIDE);
    l.max_alloc = Some(MAX_ALLOC);
    l
}

fn bad(path: &Path, e: impl std::fmt::Display) -> NetError {
    NetError::BadImage {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn decode<R: std::io::BufRead + std::io::Seek>(
    mut reader: ImageReader<R>,
    path: &Path,
) -> Result<DynamicImage, NetError> {
    reader.limits(limits());
    let reader = reader.with_guessed_format().map_err(|e| bad(path, e))?;
    if reader.format().is_none() {
        return Err(bad(path, "not an image (unrecognised format)"));
    }
    let mut decoder = reader.into_decoder().map_err(|e| bad(path, e))?;
    let orientation = decoder.orientation().map_err(|e| bad(path, e))?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| bad(path, e))?;
    img.apply_orientation(orientation);
    if img.width() == 0 || img.height() == 0 {
        return Err(bad(path, "image has no pixels"));
    }
    Ok(img)
}

/// Decode an image file, upright.
pub fn load_image(path: &Path) -> Result<DynamicImage, NetError> {
    let reader = ImageReader::open(path).map_err(|e| NetError::io(path, e))?;
    decode(reader, path)
}

/// Decode an image held in memory (drag-and-drop bytes, clipboard files), upright.
pub fn decode_image(bytes: &[u8], name: &str) -> Result<DynamicImage, NetError> {
    decode(ImageReader::new(Cursor::new(bytes)), &PathBuf::from(name))
}

/// Center-crop to a square and resize to 299x299; scale to [-1, 1].
pub fn prepare(img: &DynamicImage) -> InputImage {
    let original = img.to_rgb8();
    let (w, h) = original.dimensions();
    let side = w.min(h);
    let (x0, y0) = ((w - side) / 2, (h - side) / 2);
    let square = image::imageops::crop_imm(&original, x0, y0, side, side).to_image();
    let size = INPUT_SIZE as u32;
    let crop = if side == size {
        square
    } else {
        image::imageops::resize(&square, size, size, FilterType::Triangle)
    };
    let tensor = to_tensor(&crop);
    InputImage {
        original,
        crop,
        tensor,
    }
}

/// An RGB image as NCHW float32 in [-1, 1] (`x / 127.5 − 1`), `[1, 3, H, W]` row-major.
pub fn to_tensor(img: &RgbImage) -> Vec<f32> {
    let plane = (img.width() * img.height()) as usize;
    let mut tensor = vec![0.0f32; 3 * plane];
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            tensor[c * plane + i] = f32::from(p[c]) / 127.5 - 1.0;
        }
    }
    tensor
}

/// Load and prepare in one step.
pub fn load_input(path: &Path) -> Result<InputImage, NetError> {
    Ok(prepare(&load_image(path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_and_scale() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_fn(400, 300, |x, _| {
            image::Rgb([if x < 200 { 0 } else { 255 }, 128, 255])
        }));
        let input = prepare(&img);
        assert_eq!(input.crop.dimensions(), (299, 299));
        assert_eq!(input.tensor.len(), 3 * 299 * 299);
        assert!(input.tensor.iter().all(|v| (-1.0..=1.0).contains(v)));
        // Blue channel is 255 everywhere → 1.0.
        assert!((input.tensor[2 * 299 * 299] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn garbage_is_an_error() {
        let err = decode_image(b"definitely not an image", "x.bin").unwrap_err();
        assert!(err.to_string().contains("x.bin"), "{err}");
        let mut png = Vec::new();
        DynamicImage::ImageRgb8(RgbImage::new(8, 8))
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        png.truncate(png.len() / 2);
        assert!(decode_image(&png, "cut.png").is_err());
    }
}
