//! Where featurescope keeps what it makes for the person: the data home and the atlases the app
//! builds.

use std::path::{Path, PathBuf};

use featurescope_maps::atlas::fnv1a64;

/// The user's data directory: `$XDG_DATA_HOME` when it is an absolute path (the XDG spec says to
/// ignore a relative one), else `$HOME/.local/share`.
pub fn data_home() -> Option<PathBuf> {
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    std::env::var_os("XDG_DATA_HOME")
        .and_then(absolute)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(absolute)
                .map(|h| h.join(".local/share"))
        })
}

/// Where the app keeps atlases it builds: `<data home>/featurescope/atlases/<folder>-<hash of
/// its path>`, one per folder.
pub fn default_atlas_dir(root: &Path) -> PathBuf {
    let data = data_home().unwrap_or_else(std::env::temp_dir);
    let name = root
        .file_name()
        .map_or_else(|| "images".into(), |n| n.to_string_lossy().into_owned());
    let hash = fnv1a64(root.as_os_str().as_encoded_bytes());
    data.join("featurescope/atlases")
        .join(format!("{name}-{hash:016x}"))
}

/// Where the app keeps a report it builds: `<data home>/featurescope/comparisons/<folder>-<hash
/// of its path and the two models>.json`, one per folder and pair of models (continued when
/// built again).
pub fn default_report_path(root: &Path, models: &str) -> PathBuf {
    let data = data_home().unwrap_or_else(std::env::temp_dir);
    let name = root
        .file_name()
        .map_or_else(|| "images".into(), |n| n.to_string_lossy().into_owned());
    let mut key = root.as_os_str().as_encoded_bytes().to_vec();
    key.extend_from_slice(models.as_bytes());
    data.join("featurescope/comparisons")
        .join(format!("{name}-{:016x}.json", fnv1a64(&key)))
}

/// Where the app keeps a class summary it builds: `<data home>/featurescope/classes/<folder>-<hash
/// of its path>.classes.json`, one per folder (continued when built again).
pub fn default_classes_path(root: &Path) -> PathBuf {
    let data = data_home().unwrap_or_else(std::env::temp_dir);
    let name = root
        .file_name()
        .map_or_else(|| "images".into(), |n| n.to_string_lossy().into_owned());
    let hash = fnv1a64(root.as_os_str().as_encoded_bytes());
    data.join("featurescope/classes")
        .join(format!("{name}-{hash:016x}.classes.json"))
}
