//! From an image file to the network's input: read the file whole (with a size cap, so a file
//! that changes while it is read is decoded as one snapshot), decode every format the `image`
//! crate reads within pixel and allocation limits (a decompression bomb is refused from its
//! header, before any pixel buffer exists), honour EXIF orientation (a broken EXIF block is
//! ignored, not fatal), flatten to 8-bit RGB (transparency composited on white, float HDR/EXR
//! tone-mapped), center-crop to a square, resize to 299x299 with a triangle (antialiased
//! bilinear, as PIL's `BILINEAR`) filter, scale to [-1, 1], NCHW RGB.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage};

use crate::catalogue::INPUT_SIZE;
use crate::error::NetError;

/// Largest accepted image side, in pixels.
pub const MAX_SIDE: u32 = 32_768;
/// Largest accepted image, in pixels (width x height): 100 megapixels.
pub const MAX_PIXELS: u64 = 100_000_000;
/// Largest decoder allocation, in bytes.
pub const MAX_ALLOC: u64 = 1 << 30;
/// Largest image file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 512 << 20;
/// The background transparent pixels are composited on (white, as a browser page shows them).
pub const BACKGROUND: [u8; 3] = [255, 255, 255];

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
    // Sides and pixel count are checked by `decode` itself, to name them in the message; the
    // decoders enforce the allocation cap.
    let mut l = Limits::default();
    l.max_alloc = Some(MAX_ALLOC);
    l
}

fn bad(path: &Path, e: impl std::fmt::Display) -> NetError {
    // One line: decoders' messages sometimes carry newlines.
    let message = e
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    NetError::BadImage {
        path: path.to_path_buf(),
        message,
    }
}

fn too_big(path: &Path, w: u32, h: u32) -> NetError {
    bad(
        path,
        format!(
            "{w}x{h} pixels is larger than featurescope reads ({} megapixels, {MAX_SIDE} per side, {} MiB decoded)",
            MAX_PIXELS / 1_000_000,
            MAX_ALLOC >> 20
        ),
    )
}

fn decode_error(path: &Path, e: ImageError) -> NetError {
    match e {
        ImageError::Limits(_) => bad(
            path,
            format!(
                "the image is larger than featurescope reads ({} megapixels, {MAX_SIDE} per side, {} MiB decoded)",
                MAX_PIXELS / 1_000_000,
                MAX_ALLOC >> 20
            ),
        ),
        other => bad(path, other),
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
    let mut decoder = reader.into_decoder().map_err(|e| decode_error(path, e))?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(bad(path, "image has no pixels"));
    }
    if w > MAX_SIDE
        || h > MAX_SIDE
        || u64::from(w) * u64::from(h) > MAX_PIXELS
        || decoder.total_bytes() > MAX_ALLOC
    {
        return Err(too_big(path, w, h));
    }
    // A damaged EXIF block only loses the orientation; the pixels are still good.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| decode_error(path, e))?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// Read a whole file, refusing folders, empty files and files over [`MAX_FILE_BYTES`].
fn read_file(path: &Path) -> Result<Vec<u8>, NetError> {
    let meta = std::fs::metadata(path).map_err(|e| NetError::io(path, e))?;
    if meta.is_dir() {
        return Err(bad(path, "is a folder, not an image"));
    }
    let file = std::fs::File::open(path).map_err(|e| NetError::io(path, e))?;
    let mut bytes = Vec::new();
    // One read of at most the cap plus one byte: a file that grows while it is read stops at
    // the cap instead of filling memory.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| NetError::io(path, e))?;
    if bytes.is_empty() {
        return Err(bad(path, "the file is empty"));
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(bad(
            path,
            format!(
                "the file is over {} MiB, more than featurescope reads as an image",
                MAX_FILE_BYTES >> 20
            ),
        ));
    }
    Ok(bytes)
}

/// Decode an image file, upright.
pub fn load_image(path: &Path) -> Result<DynamicImage, NetError> {
    let bytes = read_file(path)?;
    let mut reader = ImageReader::new(Cursor::new(bytes.as_slice()));
    // The extension names formats without a signature (TGA); the content wins where it has one.
    if let Ok(format) = ImageFormat::from_path(path) {
        reader.set_format(format);
    }
    decode(reader, path)
}

/// Decode an image held in memory (drag-and-drop bytes, clipboard files), upright.
pub fn decode_image(bytes: &[u8], name: &str) -> Result<DynamicImage, NetError> {
    let path = PathBuf::from(name);
    if bytes.is_empty() {
        return Err(bad(&path, "the file is empty"));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes));
    if let Ok(format) = ImageFormat::from_path(&path) {
        reader.set_format(format);
    }
    decode(reader, &path)
}

/// Linear light to the sRGB curve, both in [0, 1].
fn srgb_encode(linear: f32) -> f32 {
    if linear <= 0.003_130_8 {
        linear * 12.92
    } else {
        1.055 * linear.powf(1.0 / 2.4) - 0.055
    }
}

/// A float (HDR, EXR) image's linear values to 8 bits: Reinhard's `x / (1 + x)` keeps highlights
/// apart instead of clipping them, then the sRGB curve. NaN and negative values become black.
fn tone_map(value: f32) -> u8 {
    let x = if value.is_finite() {
        value.max(0.0)
    } else if value > 0.0 {
        f32::MAX
    } else {
        0.0
    };
    let mapped = if x >= f32::MAX { 1.0 } else { x / (1.0 + x) };
    (srgb_encode(mapped) * 255.0).round().clamp(0.0, 255.0) as u8
}

/// Any decoded image as 8-bit RGB: float images tone-mapped, transparency composited on
/// [`BACKGROUND`], 16-bit and grayscale converted.
pub fn to_rgb(img: &DynamicImage) -> RgbImage {
    match img {
        DynamicImage::ImageRgb32F(f) => {
            let (w, h) = f.dimensions();
            RgbImage::from_fn(w, h, |x, y| {
                let p = f.get_pixel(x, y);
                image::Rgb([tone_map(p[0]), tone_map(p[1]), tone_map(p[2])])
            })
        }
        DynamicImage::ImageRgba32F(f) => {
            let (w, h) = f.dimensions();
            RgbImage::from_fn(w, h, |x, y| {
                let p = f.get_pixel(x, y);
                let a = if p[3].is_finite() {
                    p[3].clamp(0.0, 1.0)
                } else {
                    1.0
                };
                let c = |i: usize| {
                    let v = f32::from(tone_map(p[i])) * a + f32::from(BACKGROUND[i]) * (1.0 - a);
                    v.round().clamp(0.0, 255.0) as u8
                };
                image::Rgb([c(0), c(1), c(2)])
            })
        }
        other if other.color().has_alpha() => {
            let rgba = other.to_rgba8();
            let (w, h) = rgba.dimensions();
            RgbImage::from_fn(w, h, |x, y| {
                let p = rgba.get_pixel(x, y);
                let a = u32::from(p[3]);
                let c = |i: usize| {
                    ((u32::from(p[i]) * a + u32::from(BACKGROUND[i]) * (255 - a) + 127) / 255) as u8
                };
                image::Rgb([c(0), c(1), c(2)])
            })
        }
        other => other.to_rgb8(),
    }
}

/// Center-crop to a square and resize to 299x299; scale to [-1, 1].
pub fn prepare(img: &DynamicImage) -> InputImage {
    let original = to_rgb(img);
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

/// How a model wants its pixels scaled. The network's input is always `x / 127.5 − 1`; a
/// model trained on another scale gets the difference folded into its first conv at load time
/// (exact: that conv has no padding), so every path (tiles, attributions) sees the same input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Normalization {
    /// `x / 127.5 − 1` (Keras' InceptionV3 `preprocess_input`, TF.js, torchvision weights
    /// without `transform_input`).
    #[default]
    MinusOneToOne,
    /// `(x − 128) / 128` (Google's 2015 graph and TensorFlow for Poets: `Sub` 128, `Mul` 1/128).
    Centered128,
}

impl Normalization {
    /// `(scale, offset)` such that the model's input is `scale * v + offset` for the network's
    /// `v = x / 127.5 − 1`.
    pub fn affine(self) -> (f32, f32) {
        match self {
            Self::MinusOneToOne => (1.0, 0.0),
            // (x − 128) / 128 with x = 127.5 (v + 1): v · 127.5/128 − 0.5/128, both exact.
            Self::Centered128 => (127.5 / 128.0, -0.5 / 128.0),
        }
    }

    /// In words.
    pub fn describe(self) -> &'static str {
        match self {
            Self::MinusOneToOne => "x / 127.5 - 1",
            Self::Centered128 => "(x - 128) / 128",
        }
    }
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
