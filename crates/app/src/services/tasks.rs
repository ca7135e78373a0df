//! Short background tasks that must not block the UI thread: system file dialogs, clipboard
//! reads (an X11 clipboard request waits for its owner) and exports. Each runs on its own thread
//! and reports through one bounded channel; the UI polls it every frame.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Instant;

use featurescope_atlas::{FilterAtlas, Rank};
use featurescope_maps::atlas::{Atlas, AtlasHit, crop_image, input_image_path};
use image::{DynamicImage, RgbImage, RgbaImage};

use featurescope_maps::classes::ClassSummary;
use featurescope_maps::compare::Report;

use super::dialogs::{ExportWrite, FileRequest, NATIVE_MIN_LIFETIME};
use super::layer_views::{GroupsDrawn, GroupsKey};
use super::worker::ImageSource;
use featurescope_maps::LayerMaps;

/// Side of a crop thumbnail in pixels (crops are scaled to it, nearest-neighbour when enlarged).
pub const THUMB_PX: u32 = 96;

/// One filter's ranking in an atlas.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CropKey {
    /// Layer id.
    pub layer: String,
    /// Channel.
    pub channel: usize,
    /// By the channel's maximum or its mean.
    pub rank: Rank,
}

/// One thumbnail of a report image: which image, cropped around which peak of which layer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ThumbKey {
    /// Image path, relative to the collection.
    pub image: String,
    /// Layer id (for the receptive field).
    pub layer: String,
    /// Row of the channel's maximum.
    pub y: u32,
    /// Column of the channel's maximum.
    pub x: u32,
}

/// An atlas read from disk.
#[derive(Clone)]
pub struct LoadedAtlas {
    /// Its directory.
    pub dir: PathBuf,
    /// The collection folder it was built from, when recorded and still there.
    pub root: Option<PathBuf>,
    /// The atlas.
    pub atlas: Arc<FilterAtlas>,
}

impl std::fmt::Debug for LoadedAtlas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "atlas {}", self.dir.display())
    }
}

/// A crop scaled to a thumbnail (enlarged crops stay pixel-sharp).
pub fn crop_thumbnail(crop: &RgbImage) -> RgbImage {
    let (w, h) = crop.dimensions();
    let scale = f64::from(THUMB_PX) / f64::from(w.max(h).max(1));
    let (tw, th) = (
        ((f64::from(w) * scale).round() as u32).max(1),
        ((f64::from(h) * scale).round() as u32).max(1),
    );
    let filter = if scale > 1.0 {
        image::imageops::FilterType::Nearest
    } else {
        image::imageops::FilterType::Triangle
    };
    image::imageops::resize(crop, tw, th, filter)
}

/// What a finished task reports.
#[derive(Debug)]
pub enum TaskResult {
    /// File → Open image: the chosen file.
    OpenImage(PathBuf),
    /// File → Open weights: the chosen file.
    OpenWeights(PathBuf),
    /// Class names read from a labels file (or why not).
    LabelsRead(PathBuf, Result<Vec<String>, String>),
    /// The person closed the dialog without choosing.
    Cancelled,
    /// The system dialog could not be shown: serve the request with the in-app browser.
    DialogUnavailable(FileRequest),
    /// An image (or image file) from the clipboard.
    Pasted(Result<ImageSource, String>),
    /// An export: the message to show.
    Exported(Result<String, String>),
    /// File → Open atlas: the atlas directory's `atlas.json` was chosen.
    OpenAtlas(PathBuf),
    /// File → Build atlas from folder: the collection folder was chosen.
    AtlasFolder(PathBuf),
    /// An atlas read from disk.
    AtlasLoaded(Result<LoadedAtlas, String>),
    /// Neuron groups of a layer, or why not.
    Groups {
        /// Which.
        key: GroupsKey,
        /// The groups, drawn.
        result: Result<Arc<GroupsDrawn>, String>,
    },
    /// Icons read from the disk cache: per channel the image, or `None` when not made yet.
    IconsRead {
        /// Layer id.
        layer: String,
        /// By channel.
        found: Vec<(usize, Option<Arc<RgbImage>>)>,
    },
    /// File → Open comparison report: the chosen file.
    OpenReport(PathBuf),
    /// File → Compare models over a folder: the folder (model B's weights are asked next).
    ReportFolder(PathBuf),
    /// The folder and model B's weights chosen: build the report.
    ReportWeights(PathBuf, PathBuf),
    /// A comparison report read from disk.
    ReportLoaded(Result<(PathBuf, Arc<Report>), String>),
    /// File → Open class summary: the chosen file.
    OpenClasses(PathBuf),
    /// File → Build class summary from a folder: the folder.
    ClassesFolder(PathBuf),
    /// A class summary read from disk.
    ClassesLoaded(Result<(PathBuf, Arc<ClassSummary>), String>),
    /// A thumbnail of a report image: the receptive-field crop around a channel's peak.
    Thumb {
        /// Which.
        key: ThumbKey,
        /// The thumbnail, or why not.
        result: Result<RgbImage, String>,
    },
    /// The crops of one filter's top images.
    AtlasCrops {
        /// Which list.
        key: CropKey,
        /// The hits with their crops (thumbnails), or why they could not be read.
        crops: Result<Vec<(AtlasHit, RgbImage)>, String>,
    },
}

/// The task runner.
pub struct Tasks {
    tx: SyncSender<TaskResult>,
    rx: Receiver<TaskResult>,
    repaint: Arc<dyn Fn() + Send + Sync>,
}

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

    /// Show the system's file dialog for `request`, starting in `start`. A dialog that closes
    /// with nothing sooner than [`NATIVE_MIN_LIFETIME`] never appeared: the request comes back
    /// as [`TaskResult::DialogUnavailable`] for the in-app browser.
    pub fn system_dialog(&self, request: FileRequest, start: Option<PathBuf>) {
        self.spawn(move || {
            let (name, exts) = request.filter();
            let mut d = rfd::FileDialog::new().set_title(request.title());
            if !exts.is_empty() {
                d = d.add_filter(name, &exts);
            }
            if let Some(dir) = start {
                d = d.set_directory(dir);
            }
            let shown = Instant::now();
            let picked = match &request {
                FileRequest::Export { default_name, .. } => {
                    d.set_file_name(default_name.clone()).save_file()
                }
                r if r.is_folder() => d.pick_folder(),
                _ => d.add_filter("All files", &["*"]).pick_file(),
            };
            match picked {
                Some(path) => chosen(request, path),
                None if shown.elapsed() < NATIVE_MIN_LIFETIME => {
                    TaskResult::DialogUnavailable(request)
                }
                None => TaskResult::Cancelled,
            }
        });
    }

    /// Write an export to a path chosen in the in-app browser.
    pub fn write_export(&self, path: PathBuf, write: ExportWrite) {
        self.spawn(move || exported(&path, write));
    }

    /// Read a labels file off the UI thread.
    pub fn read_labels(&self, path: PathBuf) {
        self.spawn(move || read_labels(path));
    }

    /// Read an atlas: its directory, or the `atlas.json` in it.
    pub fn load_atlas(&self, path: PathBuf) {
        self.spawn(move || {
            let dir = match path.parent() {
                Some(parent) if !path.is_dir() => parent.to_path_buf(),
                _ => path,
            };
            TaskResult::AtlasLoaded(
                Atlas::load(&dir)
                    .map(|atlas| LoadedAtlas {
                        root: featurescope_atlas::read_root(&dir).filter(|r| r.is_dir()),
                        dir,
                        atlas: Arc::new(atlas),
                    })
                    .map_err(|e| format!("cannot open the atlas: {e}")),
            )
        });
    }

    /// Read the crops of `hits` (one filter's list) from the atlas' stored network inputs.
    pub fn load_crops(&self, dir: PathBuf, key: CropKey, hits: Vec<AtlasHit>) {
        self.spawn(move || {
            let crops = hits
                .into_iter()
                .map(|hit| {
                    let path = input_image_path(&dir, &hit.image);
                    let input = image::open(&path)
                        .map_err(|e| format!("{}: {e}", path.display()))?
                        .to_rgb8();
                    let crop = crop_image(&input, hit.crop);
                    Ok((hit, crop_thumbnail(&crop)))
                })
                .collect();
            TaskResult::AtlasCrops { key, crops }
        });
    }

    /// Factorise a layer into neuron groups (a few hundred milliseconds at most: its own
    /// thread, so the UI never waits).
    pub fn factorise(&self, key: GroupsKey, maps: Arc<LayerMaps>, photo: Arc<RgbImage>) {
        self.spawn(move || {
            let result = super::layer_views::factorise_and_draw(&maps, &key, &photo).map(Arc::new);
            TaskResult::Groups { key, result }
        });
    }

    /// Read channels' icons from the disk cache (`None` for those not made yet).
    pub fn read_icons(&self, dir: PathBuf, layer: String, channels: Vec<usize>) {
        self.spawn(move || {
            let found = channels
                .into_iter()
                .map(|c| (c, super::icons::cached(&dir, &layer, c).map(Arc::new)))
                .collect();
            TaskResult::IconsRead { layer, found }
        });
    }

    /// Read a comparison report.
    pub fn load_report(&self, path: PathBuf) {
        self.spawn(move || {
            TaskResult::ReportLoaded(
                Report::load(&path)
                    .map(|r| (path, Arc::new(r)))
                    .map_err(|e| format!("cannot open the comparison: {e}")),
            )
        });
    }

    /// Read a class summary.
    pub fn load_classes(&self, path: PathBuf) {
        self.spawn(move || {
            TaskResult::ClassesLoaded(
                ClassSummary::load(&path)
                    .map(|s| (path, Arc::new(s)))
                    .map_err(|e| format!("cannot open the class summary: {e}")),
            )
        });
    }

    /// Read one report image from the collection and crop it around a channel's peak (the
    /// unit's receptive field in the network's input).
    pub fn load_thumb(&self, root: PathBuf, key: ThumbKey) {
        self.spawn(move || {
            let result = thumb(&root, &key);
            TaskResult::Thumb { key, result }
        });
    }

    /// Read an image from the clipboard (pixels, or a copied image file).
    pub fn paste(&self) {
        self.spawn(|| TaskResult::Pasted(read_clipboard()));
    }
}

fn thumb(root: &Path, key: &ThumbKey) -> Result<RgbImage, String> {
    let input = featurescope_net::preprocess::load_input(&root.join(&key.image))
        .map_err(|e| e.to_string())?;
    let specs = featurescope_atlas::layer_specs(Some(std::slice::from_ref(&key.layer)))
        .map_err(|e| e.to_string())?;
    let (_, _, rf) = specs.first().ok_or("no such layer")?;
    Ok(crop_thumbnail(&crop_image(
        &input.crop,
        rf.crop(key.y, key.x),
    )))
}

fn exported(path: &Path, write: ExportWrite) -> TaskResult {
    TaskResult::Exported(write(path).map(|()| format!("saved {}", path.display())))
}

/// The result for a file the system dialog returned.
fn chosen(request: FileRequest, path: PathBuf) -> TaskResult {
    match request {
        FileRequest::OpenImage => TaskResult::OpenImage(path),
        FileRequest::OpenWeights => TaskResult::OpenWeights(path),
        FileRequest::OpenLabels => read_labels(path),
        FileRequest::Export { write, .. } => exported(&path, write),
        FileRequest::OpenAtlas => TaskResult::OpenAtlas(path),
        FileRequest::AtlasFolder => TaskResult::AtlasFolder(path),
        FileRequest::OpenReport => TaskResult::OpenReport(path),
        FileRequest::ReportFolder => TaskResult::ReportFolder(path),
        FileRequest::ReportWeights { root } => TaskResult::ReportWeights(root, path),
        FileRequest::OpenClasses => TaskResult::OpenClasses(path),
        FileRequest::ClassesFolder => TaskResult::ClassesFolder(path),
    }
}

fn read_labels(path: PathBuf) -> TaskResult {
    let labels = featurescope_net::weights::labels::read(&path).map_err(|e| e.to_string());
    TaskResult::LabelsRead(path, labels)
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
