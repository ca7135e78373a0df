//! The default model, compiled into the binary by `build.rs` from
//! `weights/inception_v3_nsfwjs/` (TF.js layers format, nsfwjs 4.4.0, MIT): a binary copied
//! anywhere, with no checkout and no data directory beside it, still opens on it.

use std::borrow::Cow;
use std::path::Path;

use crate::error::NetError;
use crate::weights::tfjs::{self, TfjsImport};

include!(concat!(env!("OUT_DIR"), "/bundled_weights.rs"));

/// The bundled model's name.
pub const NAME: &str = "inception_v3_nsfwjs";

/// How the bundled model is named in messages and errors.
pub const LABEL: &str = "<bundled>/inception_v3_nsfwjs/model.json";

/// Bytes the bundle adds to the binary.
pub fn size_bytes() -> usize {
    MODEL_JSON.len() + SHARDS.iter().map(|(_, b)| b.len()).sum::<usize>()
}

/// Import the bundled TF.js model from memory.
pub fn import() -> Result<TfjsImport, NetError> {
    let label = Path::new(LABEL);
    tfjs::import_from(label, MODEL_JSON, &mut |name| {
        SHARDS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, bytes)| Cow::Borrowed(*bytes))
            .ok_or_else(|| {
                NetError::bad_weights(label, format!("shard `{name}` is not in the bundle"))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_is_complete() {
        assert_eq!(SHARDS.len(), 6);
        assert!(size_bytes() > 20_000_000, "{}", size_bytes());
        let import = import().expect("bundled model imports");
        // 94 convs × (kernel, gamma, beta, mean, variance) + 3 dense layers × (kernel, bias).
        assert_eq!(import.tensors.len(), 94 * 5 + 3 * 2);
    }
}
