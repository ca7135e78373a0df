//! Feature-visualisation icons: a small image optimised to drive one channel (the pictures the
//! semantic dictionary and the neuron groups show), computed on the worker and kept on disk per
//! weights, layer and channel under the data home, so they are computed once and the dictionary
//! fills in as a person works. The command line reads the same cache.

use std::path::{Path, PathBuf};

use featurescope_maps::Overwrite;
use featurescope_maps::atlas::fnv1a64;
use featurescope_net::attribution::visualize::{VisualizeOptions, visualize};
use featurescope_net::{Network, WeightsInfo, WeightsSource};
use image::RgbImage;

/// Side of an icon in pixels.
pub const ICON_SIZE: usize = 96;
/// Optimisation steps of an icon (fewer than the inspector's visualisation: a thumbnail).
pub const ICON_STEPS: usize = 48;
/// Every icon uses this seed, so an icon never depends on when it was made.
pub const ICON_SEED: u64 = 0;

/// One channel's icon, for the weights loaded `weights` times (the core's serial).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IconKey {
    /// Weights serial.
    pub weights: u64,
    /// Layer id.
    pub layer: String,
    /// Channel.
    pub channel: usize,
}

/// What names a set of weights on disk: the bundled model by name and featurescope's version;
/// a file by its canonical path, length and modification time (a changed file is new weights).
pub fn weights_id(source: &WeightsSource) -> String {
    match source {
        WeightsSource::Bundled => format!("bundled-{}", env!("CARGO_PKG_VERSION")),
        WeightsSource::File(p) => {
            let path = p.canonicalize().unwrap_or_else(|_| p.clone());
            let meta = std::fs::metadata(&path).ok();
            let len = meta.as_ref().map_or(0, std::fs::Metadata::len);
            let modified = meta
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            let name = path
                .file_stem()
                .map_or_else(|| "weights".into(), |n| n.to_string_lossy().into_owned());
            let hash = fnv1a64(format!("{}|{len}|{modified}", path.display()).as_bytes());
            format!("{name}-{hash:016x}")
        }
    }
}

/// The folder of these weights' icons: `<data home>/featurescope/icons/<weights id>`.
pub fn icon_dir(weights: &WeightsInfo) -> Option<PathBuf> {
    let data = super::paths::data_home()?;
    Some(
        data.join("featurescope/icons")
            .join(weights_id(&weights.source)),
    )
}

/// Where one icon lives in `dir`: `<layer>/<channel>.png`.
pub fn icon_path(dir: &Path, layer: &str, channel: usize) -> PathBuf {
    dir.join(layer).join(format!("{channel}.png"))
}

/// The cached icon of `layer`'s `channel`, if it was made.
pub fn cached(dir: &Path, layer: &str, channel: usize) -> Option<RgbImage> {
    let path = icon_path(dir, layer, channel);
    let img = image::open(&path).ok()?.to_rgb8();
    (img.width() > 0).then_some(img)
}

/// Optimise an icon (on the worker) and keep it at `path` (written atomically; a failed write
/// only loses the cache entry). `progress(done, total)` returns false to cancel.
pub fn compute(
    net: &Network,
    layer: &str,
    channel: usize,
    path: Option<&Path>,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<RgbImage, String> {
    let options = VisualizeOptions {
        steps: ICON_STEPS,
        seed: ICON_SEED,
        size: ICON_SIZE,
        ..VisualizeOptions::default()
    };
    let v = visualize(
        net.model(),
        &net.device().device,
        layer,
        channel,
        &options,
        progress,
    )
    .map_err(|e| e.to_string())?;
    let side = u32::try_from(v.size).map_err(|e| e.to_string())?;
    let img = RgbImage::from_raw(side, side, v.rgb)
        .ok_or_else(|| "the icon has an inconsistent size".to_string())?;
    if let Some(path) = path {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = featurescope_maps::save_image(path, &img.clone().into(), Overwrite::Replace);
    }
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icons_are_kept_per_weights_layer_and_channel() {
        let bundled = weights_id(&WeightsSource::Bundled);
        assert!(bundled.starts_with("bundled-"));
        let file = weights_id(&WeightsSource::File(PathBuf::from("/no/such/model.h5")));
        assert!(file.starts_with("model-"), "{file}");
        assert_ne!(
            file,
            weights_id(&WeightsSource::File("/no/other.h5".into()))
        );
        let p = icon_path(Path::new("/d"), "Mixed_5b", 7);
        assert_eq!(p, PathBuf::from("/d/Mixed_5b/7.png"));
        assert!(cached(Path::new("/no/such/dir"), "Mixed_5b", 7).is_none());
    }
}
