//! Loading a Keras 3 `.keras` archive onto Inception-V3 (CPU) from arbitrary bytes
//! (`featurescope_net::fuzzing::weights_file`).
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    featurescope_net::fuzzing::weights_file("keras", data, common::scratch_dir(), common::cpu());
});
