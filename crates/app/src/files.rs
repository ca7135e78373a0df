//! Choosing files. The system's dialog (through rfd: the XDG desktop portal or zenity on Linux,
//! the platform's own elsewhere) runs on a task thread when the desktop has one; otherwise —
//! or when it fails to appear — featurescope's own file browser (the `egui_file` crate) opens
//! inside the window. A request never ends in silence: it yields a file, a cancel the person
//! chose, or the in-app browser.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use egui_file::{FileDialog, State};
use featurescope_net::WeightsSource;
use serde::{Deserialize, Serialize};

use crate::app::FeaturescopeApp;
use crate::tasks::IMAGE_EXTENSIONS;
use crate::worker::ImageSource;

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
            Self::AtlasFolder => ("Folders", Vec::new()),
            Self::Export { extension, .. } => (extension, vec![extension]),
        }
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
fn has_extension(path: &Path, exts: &[&str]) -> bool {
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
    (session_bus() && portal_installed()) || on_path("zenity")
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

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// featurescope's own file browser: an `egui_file` dialog inside the window, and the request it
/// serves.
pub struct Browser {
    dialog: FileDialog,
    request: FileRequest,
}

/// An export whose chosen file exists: replaced only if the person says so.
pub struct ReplaceQuestion {
    /// The export.
    pub request: FileRequest,
    /// The existing file.
    pub path: PathBuf,
}

/// What the browser produced this frame.
pub enum BrowserOutcome {
    /// Still open.
    Open,
    /// Closed without a file.
    Cancelled,
    /// A file was chosen for this request.
    Chosen(FileRequest, PathBuf),
}

impl Browser {
    /// Open the browser for `request`, starting in `start` (else the current folder).
    pub fn new(request: FileRequest, start: Option<PathBuf>) -> Self {
        let mut dialog = match &request {
            FileRequest::Export { default_name, .. } => {
                FileDialog::save_file().default_filename(default_name.clone())
            }
            FileRequest::AtlasFolder => FileDialog::select_folder(),
            _ => FileDialog::open_file(),
        };
        let (_, exts) = request.filter();
        dialog = dialog
            .id(egui::Id::unique("featurescope-file-browser"))
            .title(&format!("{} (featurescope file browser)", request.title()))
            .default_size([640.0, 440.0])
            .show_rename(false)
            .show_new_folder(matches!(request, FileRequest::Export { .. }))
            .show_files_filter(Box::new(move |p: &Path| has_extension(p, &exts)));
        if let Some(dir) = start.filter(|d| d.is_dir()) {
            dialog = dialog.initial_path(dir);
        }
        dialog.open();
        Self { dialog, request }
    }

    /// Draw the browser; what it produced.
    pub fn show(mut self, ctx: &egui::Context) -> (Option<Self>, BrowserOutcome) {
        self.dialog.show(ctx);
        match self.dialog.state() {
            State::Open => (Some(self), BrowserOutcome::Open),
            State::Selected => match self.dialog.path().map(Path::to_path_buf) {
                Some(path) => (None, BrowserOutcome::Chosen(self.request, path)),
                None => (None, BrowserOutcome::Cancelled),
            },
            State::Cancelled | State::Closed => (None, BrowserOutcome::Cancelled),
        }
    }
}

impl FeaturescopeApp {
    /// Ask for a file: the system dialog where there is one, else the in-app browser.
    pub fn choose_file(&mut self, request: FileRequest) {
        let start = self.recent_dir();
        let system = self.settings.file_dialog == DialogChoice::Auto
            && !self.system_dialog_failed
            && *SYSTEM_DIALOG.get_or_init(system_dialog_available);
        if system {
            self.tasks.system_dialog(request, start);
        } else {
            self.browser = Some(Browser::new(request, start));
        }
    }

    /// The system dialog did not appear: say so once, and use the in-app browser from now on.
    pub(crate) fn system_dialog_unavailable(&mut self, request: FileRequest) {
        if !self.system_dialog_failed {
            self.system_dialog_failed = true;
            self.notify(
                "the system file dialog did not open (no XDG desktop portal or zenity?): \
                 using featurescope's own file browser",
            );
        }
        let start = self.recent_dir();
        self.browser = Some(Browser::new(request, start));
    }

    /// Act on a chosen file.
    pub(crate) fn file_chosen(&mut self, request: FileRequest, path: PathBuf) {
        match request {
            FileRequest::OpenImage => self.analyse(ImageSource::File(path)),
            FileRequest::OpenWeights => self.load_weights(WeightsSource::File(path)),
            FileRequest::OpenLabels => self.tasks.read_labels(path),
            FileRequest::Export { write, .. } => self.tasks.write_export(path, write),
            FileRequest::OpenAtlas => self.open_atlas(path),
            FileRequest::AtlasFolder => self.build_atlas(path),
        }
    }

    /// Draw the in-app browser if it is open, and the replace question if one is pending.
    /// (System dialogs ask before replacing by themselves: GTK, the portal and zenity's
    /// `--confirm-overwrite` all do.)
    pub(crate) fn browser_ui(&mut self, ctx: &egui::Context) {
        self.replace_ui(ctx);
        let Some(browser) = self.browser.take() else {
            return;
        };
        let (still_open, outcome) = browser.show(ctx);
        self.browser = still_open;
        match outcome {
            BrowserOutcome::Chosen(request @ FileRequest::Export { .. }, path) if path.exists() => {
                self.replace = Some(ReplaceQuestion { request, path });
            }
            BrowserOutcome::Chosen(request, path) => self.file_chosen(request, path),
            BrowserOutcome::Open | BrowserOutcome::Cancelled => {}
        }
    }

    fn replace_ui(&mut self, ctx: &egui::Context) {
        let Some(question) = &self.replace else {
            return;
        };
        let name = question.path.file_name().map_or_else(
            || question.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut answer = None;
        egui::Modal::new(egui::Id::unique("featurescope-replace")).show(ctx, |ui| {
            ui.heading("Replace file?");
            ui.label(format!(
                "\"{name}\" already exists. Replace it with this export?"
            ));
            ui.horizontal(|ui| {
                if ui.button("Replace").clicked() {
                    answer = Some(true);
                }
                if ui.button("Cancel").clicked() || ui.input(|i| i.key_pressed(egui::Key::Escape)) {
                    answer = Some(false);
                }
            });
        });
        match answer {
            Some(true) => {
                if let Some(q) = self.replace.take() {
                    self.file_chosen(q.request, q.path);
                }
            }
            Some(false) => {
                self.replace = None;
                self.notify(format!("not saved: {name} left as it was"));
            }
            None => {}
        }
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
    fn a_missing_program_is_not_on_path() {
        assert!(!on_path("featurescope-no-such-program"));
    }
}
