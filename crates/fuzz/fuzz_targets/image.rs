//! Image decoding and preprocessing from arbitrary bytes (`featurescope_net::fuzzing::image`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| featurescope_net::fuzzing::image(data));
