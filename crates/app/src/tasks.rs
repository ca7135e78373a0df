//! Short background tasks that must not block the UI thread: native file dialogs, clipboard
//! reads (an X11 clipboard request waits for its owner) and exports. Each runs on its own thread
//! and reports through one bounded channel; the UI polls it every frame.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use image::{DynamicImage, RgbaImage};

use crate::worker::ImageSource;

/// What a finished task reports.
#[derive(Debug)]
pub enum TaskResult {
    /// File → Open image: the chosen file, or `None` if cancelled.
    OpenImage(Option<PathBuf>),
    /// File → Open weights: the chosen file, or `None` if cancelled.
    OpenWeights(Option<PathBuf>),
    /// An image (or image file) from the clipboard.
    Pasted(Result<ImageSource, String>),
    /// An export: the message to show.
    Exported(Result<String, String>),
}

/// The task runner.
pub struct Tasks {
    tx: SyncSender<TaskResult>,
    rx: Receiver<TaskResult>,
    repaint: Arc<dyn Fn() + Send + Sync>,
}

/// Image extensions offered in the open dialog (everything the `image` crate decodes).
pub const IMAGE_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp", "ico", "pnm", "pbm", "pgm", "ppm",
    "tga", "qoi", "hdr", "exr", "dds",
];

impl Tasks {
    /// A runner that calls `repaint` when a task finishes.
    pub fn new(repaint: Arc<dyn Fn() + Send + Sync>) -> Self {
        let (tx, rx) = sync_channel(16);
        Self { tx, rx, repaint }
    }

    fn spawn(&self, f: impl FnOnce() -> TaskResult + Send + 'static) {
        let tx = self.tx.clone();
        let repaint = self.repaint.clone();
        let spawned = std::thread::Builder::new()
            .name("featurescope-task".into())
            .spawn(move || {
                let _ = tx.send(f());
                repaint();
            });
        if let Err(e) = spawned {
            let _ = self.tx.try_send(TaskResult::Exported(Err(format!(
                "cannot start a task: {e}"
            ))));
        }
    }

    /// Results that arrived since the last call.
    pub fn poll(&self) -> Vec<TaskResult> {
        self.rx.try_iter().collect()
    }

    /// Ask for an image file.
    pub fn open_image(&self, start: Option<PathBuf>) {
        self.spawn(move || {
            let mut d = rfd::FileDialog::new()
                .set_title("Open image")
                .add_filter("Images", IMAGE_EXTENSIONS)
                .add_filter("All files", &["*"]);
            if let Some(dir) = start {
                d = d.set_directory(dir);
            }
            TaskResult::OpenImage(d.pick_file())
        });
    }

    /// Ask for a weight file.
    pub fn open_weights(&self) {
        self.spawn(|| {
            TaskResult::OpenWeights(
                rfd::FileDialog::new()
                    .set_title("Open weights")
                    .add_filter("Weights", &["json", "pth", "pt", "safetensors"])
                    .pick_file(),
            )
        });
    }

    /// Read an image from the clipboard (pixels, or a copied image file).
    pub fn paste(&self) {
        self.spawn(|| TaskResult::Pasted(read_clipboard()));
    }

    /// Ask where to save, then write with `write`.
    pub fn export(
        &self,
        title: &'static str,
        default_name: String,
        extension: &'static str,
        write: impl FnOnce(&std::path::Path) -> Result<(), String> + Send + 'static,
    ) {
        self.spawn(move || {
            let path = rfd::FileDialog::new()
                .set_title(title)
                .set_file_name(default_name)
                .add_filter(extension, &[extension])
                .save_file();
            TaskResult::Exported(match path {
                None => Err("export cancelled".into()),
                Some(p) => write(&p).map(|()| format!("saved {}", p.display())),
            })
        });
    }
}

fn read_clipboard() -> Result<ImageSource, String> {
    let mut clipboard =
        arboard::Clipboard::new().map_err(|e| format!("clipboard unavailable: {e}"))?;
    if let Ok(img) = clipboard.get_image() {
        let (w, h) = (img.width as u32, img.height as u32);
        let rgba = RgbaImage::from_raw(w, h, img.bytes.into_owned())
            .ok_or_else(|| "clipboard image has an inconsistent size".to_string())?;
        return Ok(ImageSource::Decoded {
            name: format!("clipboard ({w}x{h})"),
            image: Arc::new(DynamicImage::ImageRgba8(rgba)),
        });
    }
    // A copied file shows up as its path or a file:// URI.
    let text = clipboard
        .get_text()
        .map_err(|_| "the clipboard holds no image".to_string())?;
    let first = text.lines().next().unwrap_or_default().trim();
    let path = PathBuf::from(first.strip_prefix("file://").unwrap_or(first));
    if path.is_file() {
        Ok(ImageSource::File(path))
    } else {
        Err("the clipboard holds no image".into())
    }
}
