//! The TF.js layers importer from arbitrary bytes (`featurescope_net::fuzzing::tfjs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| featurescope_net::fuzzing::tfjs(data));
