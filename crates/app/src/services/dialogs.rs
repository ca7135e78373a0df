//! Choosing files: what a request is for, and which dialog serves it. The system's dialog
//! (through rfd: the XDG desktop portal or zenity on Linux, the platform's own elsewhere) runs
//! on a task thread ([`super::tasks`]) when the desktop has one; otherwise — or when it fails to
//! appear — featurescope's own file browser opens inside the window (the browser panel). A
//! request never ends in silence: it yields a file, a cancel the person chose, or the in-app
//! browser.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Image extensions offered in the open dialog (everything the `image` crate decodes).
pub const IMAGE_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp", "ico", "pnm", "pbm", "pgm", "ppm",
    "tga", "qoi", "hdr", "exr", "dds",
];

/// A system dialog that returns "cancelled" sooner than this never appeared: nobody closes a
/// dialog that fast, but rfd answers that way when neither a portal nor zenity could show one.
pub const NATIVE_MIN_LIFETIME: Duration = Duration::from_millis(400);

/// Which file dialog to use (a persistent setting).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DialogChoice {
    /// The system's dialog where the desktop has one, else the built-in browser.
    #[default]
    Auto,
    /// Always featurescope's own browser.
    BuiltIn,
}

/// Writes an export to the chosen path (runs on a task thread).
pub type ExportWrite = Box<dyn FnOnce(&Path) -> Result<(), String> + Send>;

/// What a file is being chosen for.
pub enum FileRequest {
    /// An image to analyse.
    OpenImage,
    /// Weights to load.
    OpenWeights,
    /// Class names for the loaded model's head.
    OpenLabels,
    /// An atlas to open (its `atlas.json`).
    OpenAtlas,
    /// The folder of images to build an atlas from.
    AtlasFolder,
    /// A comparison report to open.
    OpenReport,
    /// The folder of images to compare two models over.
    ReportFolder,
    /// Model B's weights for comparing over `root`.
    ReportWeights {
        /// The folder chosen first.
        root: PathBuf,
    },
    /// A class summary to open.
    OpenClasses,
    /// The folder of images (one sub-folder per class) to build a class summary from.
    ClassesFolder,
    /// Where to save an export.
    Export {
        /// Dialog title.
        title: &'static str,
        /// Suggested file name.
        default_name: String,
        /// The one extension offered.
        extension: &'static str,
        /// What to write there.
        write: ExportWrite,
    },
}

impl std::fmt::Debug for FileRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.title())
    }
}

impl FileRequest {
    /// The dialog's title.
    pub fn title(&self) -> &'static str {
        match self {
            Self::OpenImage => "Open image",
            Self::OpenWeights => "Open weights",
            Self::OpenLabels => "Open class names",
            Self::OpenAtlas => "Open atlas (atlas.json)",
            Self::AtlasFolder => "Build atlas from folder",
            Self::OpenReport => "Open comparison report (.json)",
            Self::ReportFolder => "Compare two models over a folder: the images",
            Self::ReportWeights { .. } => "Compare two models over a folder: model B's weights",
            Self::OpenClasses => "Open class summary (.json)",
            Self::ClassesFolder => "Build class summary: the folder of class folders",
            Self::Export { title, .. } => title,
        }
    }

    /// (filter name, extensions) the dialog offers.
    pub fn filter(&self) -> (&'static str, Vec<&'static str>) {
        match self {
            Self::OpenImage => ("Images", IMAGE_EXTENSIONS.to_vec()),
            Self::OpenWeights => ("Weights", featurescope_net::weights::extensions()),
            Self::OpenLabels => ("Class names", vec!["txt", "json"]),
            Self::OpenAtlas => ("Atlas", vec!["json"]),
            Self::AtlasFolder | Self::ReportFolder | Self::ClassesFolder => ("Folders", Vec::new()),
            Self::OpenReport => ("Comparison report", vec!["json"]),
            Self::OpenClasses => ("Class summary", vec!["json"]),
            Self::ReportWeights { .. } => ("Weights", featurescope_net::weights::extensions()),
            Self::Export { extension, .. } => (extension, vec![extension]),
        }
    }

    /// Whether it asks for a folder.
    pub fn is_folder(&self) -> bool {
        matches!(
            self,
            Self::AtlasFolder | Self::ReportFolder | Self::ClassesFolder
        )
    }

    /// Whether `path` is a file this request accepts (by extension, case-insensitively).
    pub fn accepts(&self, path: &Path) -> bool {
        has_extension(path, &self.filter().1)
    }
}

/// What a file dropped on the window is taken for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dropped {
    /// An image to analyse (also anything unknown: its decoder says what is wrong).
    Image,
    /// A weight file of a format some importer claims.
    Weights,
    /// Class names (`*.txt`, or a `.json` named like `labels` / `class_names`).
    Labels,
}

impl Dropped {
    /// By the file's name.
    pub fn of(path: &Path) -> Self {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let labels_like = name.contains("label") || name.contains("class");
        if has_extension(path, IMAGE_EXTENSIONS) {
            Self::Image
        } else if has_extension(path, &["txt"]) || (has_extension(path, &["json"]) && labels_like) {
            Self::Labels
        } else if has_extension(path, &featurescope_net::weights::extensions()) {
            Self::Weights
        } else {
            Self::Image
        }
    }
}

/// Whether `path` ends in one of `exts`, case-insensitively.
pub fn has_extension(path: &Path, exts: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Whether this desktop can show a system file dialog. On Linux and the BSDs that needs the XDG
/// desktop portal on a D-Bus session bus, or zenity; Windows and macOS always have one.
pub fn system_dialog_available() -> bool {
    if cfg!(any(target_os = "windows", target_os = "macos")) {
        return true;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    (session_bus() && portal_installed()) || on_path(&path, "zenity")
}

fn session_bus() -> bool {
    std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|a| !a.is_empty())
        || std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| Path::new(&d).join("bus").exists())
}

/// The portal is D-Bus activated: its service file is in a `dbus-1/services` data folder.
fn portal_installed() -> bool {
    let dirs = std::env::var("XDG_DATA_DIRS")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/usr/local/share:/usr/share".into());
    dirs.split(':').any(|d| {
        Path::new(d)
            .join("dbus-1/services/org.freedesktop.portal.Desktop.service")
            .is_file()
    })
}

/// Whether `program` is a file in one of the folders of `path` (a `PATH` value).
fn on_path(path: &std::ffi::OsStr, program: &str) -> bool {
    std::env::split_paths(path).any(|dir| dir.join(program).is_file())
}

/// An export whose chosen file exists: replaced only if the person says so.
pub struct ReplaceQuestion {
    /// The export.
    pub request: FileRequest,
    /// The existing file.
    pub path: PathBuf,
}

/// Which dialog serves a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialog {
    /// The system's, on a task thread.
    System,
    /// featurescope's own browser, inside the window.
    BuiltIn,
}

/// The dialog for the next request: the system's where the desktop has one, unless the person
/// chose the built-in browser or the system dialog already failed to appear this run.
pub fn dialog_for(choice: DialogChoice, system_failed: bool) -> Dialog {
    let system = choice == DialogChoice::Auto
        && !system_failed
        && *SYSTEM_DIALOG.get_or_init(system_dialog_available);
    if system {
        Dialog::System
    } else {
        Dialog::BuiltIn
    }
}

/// Whether the desktop has a system dialog, asked once per run.
static SYSTEM_DIALOG: OnceLock<bool> = OnceLock::new();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_filter_by_extension() {
        assert!(FileRequest::OpenImage.accepts(Path::new("/a/cat.JPG")));
        assert!(!FileRequest::OpenImage.accepts(Path::new("/a/model.json")));
        assert!(FileRequest::OpenWeights.accepts(Path::new("model.json")));
        assert!(FileRequest::OpenWeights.accepts(Path::new("w.safetensors")));
        for (name, kind) in [
            ("cat.JPG", Dropped::Image),
            ("retrained_graph.pb", Dropped::Weights),
            ("model.keras", Dropped::Weights),
            ("model.json", Dropped::Weights),
            ("inception.onnx", Dropped::Weights),
            ("fine_tuned.h5", Dropped::Weights),
            ("retrained_labels.txt", Dropped::Labels),
            ("class_names.json", Dropped::Labels),
            ("notes.xyz", Dropped::Image),
        ] {
            assert_eq!(Dropped::of(Path::new(name)), kind, "{name}");
        }
    }

    #[test]
    fn a_program_is_found_only_in_the_folders_of_path() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(b.path().join("zenity"), "#!/bin/sh\n").unwrap();
        std::fs::create_dir(a.path().join("folder-not-program")).unwrap();
        let path = std::env::join_paths([a.path(), b.path()]).unwrap();
        assert!(on_path(&path, "zenity"), "found in the second folder");
        assert!(!on_path(&path, "featurescope-no-such-program"));
        assert!(
            !on_path(&path, "folder-not-program"),
            "a folder is no program"
        );
        let only_a = std::env::join_paths([a.path()]).unwrap();
        assert!(
            !on_path(&only_a, "zenity"),
            "not in a folder PATH does not name"
        );
        assert!(!on_path(std::ffi::OsStr::new(""), "zenity"));
    }
}
