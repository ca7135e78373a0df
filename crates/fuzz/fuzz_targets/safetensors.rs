//! Loading a `.safetensors` file onto Inception-V3 (CPU), from arbitrary bytes.
#![no_main]

use featurescope_net::weights;
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let path = common::scratch_file("safetensors", data);
    let _ = weights::load(&path, &common::cpu().device);
});
