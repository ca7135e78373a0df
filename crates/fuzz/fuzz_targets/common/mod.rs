//! Shared by the weight-file targets: the importers read paths, so each input is written to a
//! per-process scratch file (in /dev/shm where there is one: memory, not disk).

use std::path::{Path, PathBuf};

pub fn scratch_file(ext: &str, data: &[u8]) -> PathBuf {
    let dir = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!("featurescope-fuzz-{}.{ext}", std::process::id()));
    std::fs::write(&path, data).expect("scratch file");
    path
}

pub fn cpu() -> &'static featurescope_net::ComputeDevice {
    static CPU: std::sync::OnceLock<featurescope_net::ComputeDevice> = std::sync::OnceLock::new();
    CPU.get_or_init(|| {
        featurescope_net::device::select(featurescope_net::BackendChoice::Cpu)
            .expect("the CPU device")
    })
}
