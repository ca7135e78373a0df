//! The network-input images kept next to `atlas.json`, for showing crops.
//!
//! The caller writes each image's network input (the resized RGB picture the network saw) to
//! [`input_image_path`]. Files are named by a 64-bit FNV-1a hash of the image path, so they stay
//! valid when merging renumbers images.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use image::RgbImage;

use super::{Atlas, CropBox};
use crate::error::MapsError;

/// Sub-directory of an atlas directory holding the input images.
pub const INPUTS_DIR: &str = "inputs";

/// `dir/inputs/<16 hex digits of FNV-1a-64(image_path)>.png`.
pub fn input_image_path(dir: &Path, image_path: &str) -> PathBuf {
    dir.join(INPUTS_DIR).join(input_file_name(image_path))
}

fn input_file_name(image_path: &str) -> String {
    format!("{:016x}.png", fnv1a64(image_path.as_bytes()))
}

/// 64-bit FNV-1a: stable file names derived from paths.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The part of `input` inside `crop`, clipped to the image (empty if nothing is left).
pub fn crop_image(input: &RgbImage, crop: CropBox) -> RgbImage {
    let (w, h) = input.dimensions();
    let x0 = crop.x0.min(w);
    let y0 = crop.y0.min(h);
    let x1 = crop.x1.clamp(x0, w);
    let y1 = crop.y1.clamp(y0, h);
    image::imageops::crop_imm(input, x0, y0, x1 - x0, y1 - y0).to_image()
}

/// Merges the atlases in directories `a` and `b` into `out` (which may be `a` or `b`) and
/// returns the result. The input images of every image in some ranking of the merged atlas are
/// hard-linked (or copied) into `out/inputs/`; missing ones are left out, and no other files
/// are copied. `atlas.json` is written last.
pub fn merge_dirs(a: &Path, b: &Path, out: &Path) -> Result<Atlas, MapsError> {
    let atlas_a = Atlas::load(a)?;
    let atlas_b = Atlas::load(b)?;
    let from_a: HashSet<String> = atlas_a.images().iter().cloned().collect();
    let merged = Atlas::merge(atlas_a, atlas_b)?;
    for id in merged.referenced_images() {
        let Some(path) = merged.images().get(id as usize) else {
            continue;
        };
        let src_dir = if from_a.contains(path) { a } else { b };
        link_or_copy(
            &input_image_path(src_dir, path),
            &input_image_path(out, path),
        )?;
    }
    merged.save(out)?;
    Ok(merged)
}

/// Hard-links `src` to `dst`, copying if linking fails; nothing if `src` is missing or `dst`
/// exists.
fn link_or_copy(src: &Path, dst: &Path) -> Result<(), MapsError> {
    if !src.is_file() || dst.exists() {
        return Ok(());
    }
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent).map_err(|e| MapsError::io(parent, e))?;
    }
    if std::fs::hard_link(src, dst).is_err() {
        std::fs::copy(src, dst).map_err(|e| MapsError::io(dst, e))?;
    }
    Ok(())
}

/// Deletes the input images in `dir/inputs/` of images that are in no ranking of `atlas`
/// (files not named like [`input_image_path`]'s are left alone). Returns how many were deleted.
pub fn prune_inputs(dir: &Path, atlas: &Atlas) -> Result<usize, MapsError> {
    let inputs = dir.join(INPUTS_DIR);
    let listing = match std::fs::read_dir(&inputs) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(MapsError::io(&inputs, e)),
    };
    let keep: HashSet<String> = atlas
        .referenced_images()
        .into_iter()
        .filter_map(|i| atlas.images().get(i as usize))
        .map(|p| input_file_name(p))
        .collect();
    let mut removed = 0;
    for entry in listing {
        let entry = entry.map_err(|e| MapsError::io(&inputs, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_input_name(&name) && !keep.contains(&name) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| MapsError::io(&path, e))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Whether `name` looks like `<16 lowercase hex digits>.png`.
fn is_input_name(name: &str) -> bool {
    name.strip_suffix(".png").is_some_and(|stem| {
        stem.len() == 16 && stem.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_and_names() {
        // Reference values of FNV-1a 64.
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        let p = input_image_path(Path::new("/x"), "cats/a.jpg");
        let name = p.file_name().unwrap().to_str().unwrap();
        assert!(is_input_name(name), "{name}");
        assert!(p.starts_with("/x/inputs"));
        assert!(!is_input_name("atlas.json"));
        assert!(!is_input_name("0123456789abcdeF.png"));
    }

    #[test]
    fn crop_clips_to_the_image() {
        let img = RgbImage::from_fn(4, 3, |x, y| image::Rgb([x as u8, y as u8, 0]));
        let c = crop_image(
            &img,
            CropBox {
                x0: 1,
                y0: 1,
                x1: 9,
                y1: 2,
            },
        );
        assert_eq!(c.dimensions(), (3, 1));
        assert_eq!(c.get_pixel(0, 0).0, [1, 1, 0]);
        let empty = crop_image(
            &img,
            CropBox {
                x0: 7,
                y0: 0,
                x1: 9,
                y1: 3,
            },
        );
        assert_eq!(empty.dimensions(), (0, 3));
    }
}
