//! Loading a PyTorch `.pth` (zip or legacy pickle) onto Inception-V3 (CPU), from arbitrary
//! bytes. The pickle reader must never run code: a `posix.system` call in the corpus would
//! create the marker file, which the target checks for.
#![no_main]

use featurescope_net::weights;
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let path = common::scratch_file("pth", data);
    let _ = weights::load(&path, &common::cpu().device);
    assert!(
        !std::path::Path::new("/tmp/featurescope-fuzz-pickle-ran").exists(),
        "a pickle ran code"
    );
});
