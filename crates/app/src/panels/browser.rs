//! featurescope's own file browser (the `egui_file` crate), inside the window, for desktops
//! without a system dialog or when the person prefers it.
//!
//! `egui_file` 0.29 opens a path typed into its File field on Enter, but its Open button only
//! opens a file picked in the list: with a typed path it does nothing. The panel sees the
//! field's text (through the name filter, which the dialog asks about the text every frame) and
//! the button's click (egui's output events), and opens the typed path itself.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use egui::output::OutputEvent;
use egui_file::{FileDialog, State};

use crate::action::Action;
use crate::panel::{Panel, Place};
use crate::services::dialogs::{FileRequest, has_extension};
use crate::state::{AppState, BrowserRequest};

/// The Open button's text (the panel recognises its click by it).
const OPEN: &str = "Open";

/// The browser panel: the open dialog and the request it serves.
#[derive(Default)]
pub struct Browser {
    open: Option<Open>,
}

struct Open {
    serial: u64,
    dialog: FileDialog,
    /// The File field's text as the dialog last showed it.
    typed: Arc<Mutex<String>>,
}

impl Panel for Browser {
    fn id(&self) -> &'static str {
        "file-browser"
    }

    fn place(&self) -> Place {
        Place::Floating
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, actions: &mut Vec<Action>) {
        let Some(request) = &state.files.browser else {
            self.open = None;
            return;
        };
        if self
            .open
            .as_ref()
            .is_none_or(|o| o.serial != request.serial)
        {
            self.open = Some(Open::new(request));
        }
        let Some(open) = &mut self.open else { return };
        let ctx = ui.ctx();
        open.dialog.show(ctx);
        match open.dialog.state() {
            State::Open => {
                if let Some(path) = open.typed_path_to_open(ctx) {
                    actions.push(Action::BrowserChose(path));
                }
            }
            State::Selected => match open.dialog.path() {
                Some(path) => actions.push(Action::BrowserChose(path.to_path_buf())),
                None => actions.push(Action::BrowserClosed),
            },
            State::Cancelled | State::Closed => actions.push(Action::BrowserClosed),
        }
    }
}

impl Open {
    fn new(request: &BrowserRequest) -> Self {
        let r = &request.request;
        let mut dialog = match r {
            FileRequest::Export { default_name, .. } => {
                FileDialog::save_file().default_filename(default_name.clone())
            }
            r if r.is_folder() => FileDialog::select_folder(),
            _ => FileDialog::open_file(),
        };
        let (_, exts) = r.filter();
        let typed = Arc::new(Mutex::new(String::new()));
        let seen = typed.clone();
        dialog = dialog
            .id(egui::Id::unique((
                "featurescope-file-browser",
                request.serial,
            )))
            .title(&format!("{} (featurescope file browser)", r.title()))
            .default_size([640.0, 440.0])
            .show_rename(false)
            .show_new_folder(matches!(r, FileRequest::Export { .. }))
            .open_button_text(OPEN.into())
            .show_files_filter(Box::new(move |p: &Path| has_extension(p, &exts)))
            .filename_filter(Box::new(move |name: &str| {
                *seen.lock().unwrap_or_else(PoisonError::into_inner) = name.to_string();
                true
            }));
        if let Some(dir) = request.start.as_ref().filter(|d| d.is_dir()) {
            dialog = dialog.initial_path(dir);
        }
        dialog.open();
        Self {
            serial: request.serial,
            dialog,
            typed,
        }
    }

    /// A file typed into the File field (a full path, or a name in the folder shown) when the
    /// Open button was clicked this frame; a typed folder is opened in the browser instead.
    fn typed_path_to_open(&mut self, ctx: &egui::Context) -> Option<PathBuf> {
        if self.dialog.dialog_type() != egui_file::DialogType::OpenFile || !open_clicked(ctx) {
            return None;
        }
        let typed = self
            .typed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if typed.is_empty() {
            return None;
        }
        let path = self.dialog.directory().join(typed);
        if path.is_dir() {
            self.dialog.set_path(path);
            return None;
        }
        path.is_file().then_some(path)
    }
}

/// Whether a button labelled [`OPEN`] was clicked this frame.
fn open_clicked(ctx: &egui::Context) -> bool {
    ctx.output(|o| {
        o.events.iter().any(|e| {
            matches!(e, OutputEvent::Clicked(info)
                if info.role == egui::Role::Button && info.label.as_deref() == Some(OPEN))
        })
    })
}
