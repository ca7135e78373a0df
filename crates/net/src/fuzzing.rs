//! The entry points the fuzz targets drive (`crates/fuzz`), in one place so that the
//! coverage-guided targets (nightly, cargo-fuzz) and the corpus replay in the test suite
//! (`tests/fuzz_corpus.rs`, stable) run exactly the same code on the same bytes.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::weights::tfjs;
use crate::{ComputeDevice, preprocess};

/// File names an image input can carry; its first byte picks one (signature-less formats such
/// as TGA are recognised only by their extension).
pub const IMAGE_NAMES: [&str; 8] = [
    "x", "x.tga", "x.png", "x.jpg", "x.ico", "x.pnm", "x.hdr", "x.dds",
];

/// Decode and prepare an image from arbitrary bytes (first byte: which name). Panics only if
/// a decoded image breaks the network input's invariants.
pub fn image(data: &[u8]) {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let name = IMAGE_NAMES[usize::from(pick) % IMAGE_NAMES.len()];
    if let Ok(img) = preprocess::decode_image(bytes, name) {
        let input = preprocess::prepare(&img);
        assert_eq!(input.tensor.len(), 3 * 299 * 299);
        assert!(input.tensor.iter().all(|v| (-1.0..=1.0).contains(v)));
    }
}

/// Import a TF.js model from arbitrary bytes: `model.json` text, a NUL byte, then the bytes
/// every shard the manifest names reads as.
pub fn tfjs(data: &[u8]) {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (json, shards) = data.split_at(split);
    let shards = shards.get(1..).unwrap_or_default().to_vec();
    let Ok(text) = std::str::from_utf8(json) else {
        return;
    };
    let _ = tfjs::import_from(Path::new("model.json"), text, &mut |_| {
        Ok(Cow::Owned(shards.clone()))
    });
}

/// The file a pickle would create if it ever ran code (the `pth` corpus' hostile pickles call
/// `touch` on it).
pub const PICKLE_MARKER: &str = "/tmp/featurescope-fuzz-pickle-ran";

/// Load a weight file with extension `ext` (`safetensors`, `pth`, `h5`, `keras`, `pb`, `onnx`) from arbitrary bytes onto
/// `device`, through `scratch` (the importers read paths). Panics if a pickle ran code.
pub fn weights_file(ext: &str, data: &[u8], scratch: &Path, device: &ComputeDevice) {
    let path: PathBuf = scratch.join(format!("featurescope-fuzz-{}.{ext}", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let _ = crate::weights::load(&path, &device.device);
    assert!(!Path::new(PICKLE_MARKER).exists(), "a pickle ran code");
}
