//! Loading an ONNX model onto Inception-V3 (CPU) from arbitrary bytes
//! (`featurescope_net::fuzzing::weights_file`).
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    featurescope_net::fuzzing::weights_file("onnx", data, common::scratch_dir(), common::cpu());
});
