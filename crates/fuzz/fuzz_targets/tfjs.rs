//! The TF.js layers importer from arbitrary bytes: everything before the first NUL byte is the
//! `model.json` text, everything after it the contents of every shard the manifest names.
#![no_main]

use std::borrow::Cow;
use std::path::Path;

use featurescope_net::weights::tfjs;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (json, shards) = data.split_at(split);
    let shards = shards.get(1..).unwrap_or_default().to_vec();
    let Ok(text) = std::str::from_utf8(json) else {
        return;
    };
    let _ = tfjs::import_from(Path::new("model.json"), text, &mut |_name| {
        Ok(Cow::Owned(shards.clone()))
    });
});
