//! Shared by the weight-file targets: a scratch folder (memory, in /dev/shm, where there is
//! one) and the CPU device, both made once per process.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        }
    })
}

pub fn cpu() -> &'static featurescope_net::ComputeDevice {
    static CPU: OnceLock<featurescope_net::ComputeDevice> = OnceLock::new();
    CPU.get_or_init(|| {
        featurescope_net::device::select(featurescope_net::BackendChoice::Cpu)
            .expect("the CPU device")
    })
}
