//! Everything a person can do in the window, as data. Panels and inspector views return
//! actions; the core (`Core::apply`) carries them out between frames, and tests drive the
//! app with the same actions.

use std::path::PathBuf;

use featurescope_atlas::Rank;
use featurescope_net::WeightsSource;
use featurescope_net::attribution::Options;
use featurescope_net::attribution::sanity::Randomize;

use crate::services::attribution::{ExplainKey, VisKey};
use crate::services::layer_views::{GroupsKey, SpatialKey};
use crate::services::tasks::CropKey;
use crate::services::worker::ImageSource;
use crate::settings::Settings;
use crate::state::layer_views::Probe;
use crate::state::{Inspector, LayerRef, TargetChoice, ThumbKey};

/// What can be exported from the tiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Export {
    /// The selected layer's tile grid, as PNG.
    Grid,
    /// The selected layer's values, as `.npy` (float32 NCHW).
    Layer,
    /// One filter's map, coloured, as PNG.
    Tile(usize),
    /// The selected layer's semantic dictionary over the photo, as PNG.
    Dictionary,
    /// The pinned comparison's figure: both inputs, both grids and the difference (PNG at 2x).
    Figure,
}

/// What a file is chosen for (a dialog, or the in-app browser, asks for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choose {
    /// An image to analyse.
    Image,
    /// Weights to load.
    Weights,
    /// Class names for the loaded model's head.
    ClassNames,
    /// An atlas to open.
    Atlas,
    /// The folder of images to build an atlas from.
    AtlasFolder,
    /// A comparison report to open.
    Report,
    /// The folder of images to compare two models over (model B's weights are asked next).
    ReportFolder,
    /// A class summary to open.
    Classes,
    /// The folder of images (one sub-folder per class) to build a class summary from.
    ClassesFolder,
    /// Where to save an export.
    ExportTo(Export),
}

/// One thing a person does.
#[derive(Debug)]
pub enum Action {
    /// Analyse an image (the newest request wins).
    Analyse(ImageSource),
    /// Load other weights (the current ones stay if they fail).
    LoadWeights(WeightsSource),
    /// Read class names for the loaded model from a labels file.
    ReadClassNames(PathBuf),
    /// A file dropped on the window: an image, weights or class names, by its name.
    Dropped(PathBuf),
    /// Analyse the image on the clipboard.
    Paste,
    /// Show a layer, or the predictions.
    Select(LayerRef),
    /// The previous (-1) or next (+1) layer in execution order.
    StepLayer(isize),
    /// New display settings (colormap, normalisation, order, tile size…).
    ChangeSettings(Box<Settings>),
    /// Ask for a file: a dialog, or featurescope's own browser.
    Choose(Choose),
    /// The in-app browser chose a file for its request.
    BrowserChose(PathBuf),
    /// The in-app browser was closed without a file.
    BrowserClosed,
    /// The answer to "replace the existing file?".
    Replace(bool),
    /// Inspect a filter of the selected layer, in one of the inspector's views.
    Inspect(Inspector),
    /// Close the inspector.
    CloseInspector,
    /// What the attribution methods explain.
    ExplainTarget(TargetChoice),
    /// The attribution methods' parameters.
    ExplainOptions(Box<Options>),
    /// Compute an explanation (unless it is cached or running).
    Explain(ExplainKey),
    /// The same explanation with weights re-initialised (the sanity check).
    SanityCheck(ExplainKey, Randomize),
    /// Forget a failed or cancelled explanation so that it runs again.
    RetryExplain(ExplainKey),
    /// Steps and seed of the next feature visualisation.
    VisualizeSettings {
        /// Steps.
        steps: usize,
        /// Seed.
        seed: u64,
    },
    /// Compute a feature visualisation.
    Visualize(VisKey),
    /// Cancel what runs for an explanation or a visualisation.
    Cancel(Cancel),
    /// Point at the photo (hover, or a click that pins), or stop pointing (`None`).
    Probe(Option<Probe>),
    /// Channels per position in the dictionary and "what fires here".
    DictionaryK(usize),
    /// Groups and update rounds of the next factorisation.
    GroupsSettings {
        /// Groups.
        k: usize,
        /// Rounds.
        iters: usize,
    },
    /// Factorise a layer into neuron groups (unless done or running).
    Groups(GroupsKey),
    /// The classes of the spatial view (`None`: the top class alone).
    SpatialClasses(Option<(usize, Option<usize>)>),
    /// Compute a spatial attribution (unless done or running).
    Spatial(SpatialKey),
    /// The views show these channels of a layer: get their icons (from the disk cache, else
    /// computed in the background).
    WantIcons {
        /// Layer id.
        layer: String,
        /// Channels.
        channels: Vec<usize>,
    },
    /// Compute these channels' icons now, first in line.
    ComputeIcons {
        /// Layer id.
        layer: String,
        /// Channels.
        channels: Vec<usize>,
    },
    /// Compute icons in the background (or only on request).
    IconsInBackground(bool),
    /// Open the atlas at this path (its folder or `atlas.json`).
    OpenAtlas(PathBuf),
    /// Build (or continue) the atlas of a folder, into a folder of its own (default: one
    /// under the data home per collection).
    BuildAtlas {
        /// The collection.
        root: PathBuf,
        /// Where the atlas goes.
        out: Option<PathBuf>,
    },
    /// Stop the atlas build (what is done is kept).
    StopAtlasBuild,
    /// Rank an atlas' top images by maximum or mean.
    RankAtlasBy(Rank),
    /// Read the crops of one filter's top images.
    LoadCrops(CropKey),
    /// Analyse one of the atlas' images.
    AnalyseAtlasImage(String),
    /// Pin the analysis on screen as side A of a comparison: the next image, or the same
    /// image under other weights, is side B.
    Pin,
    /// Forget the pinned analysis.
    Unpin,
    /// Open a comparison report (two models over a folder).
    OpenReport(PathBuf),
    /// Compare the current weights (A) with `weights_b` over the images of `root`, on the
    /// worker; the report goes to `out` (default: one under the data home per folder and
    /// models).
    BuildReport {
        /// The collection.
        root: PathBuf,
        /// Model B.
        weights_b: WeightsSource,
        /// The report file.
        out: Option<PathBuf>,
    },
    /// Stop the report build (the batches done are kept).
    StopReportBuild,
    /// Close the report.
    CloseReport,
    /// Show a layer and list its most changed channels (a click on the CKA strip).
    ReportLayer(String),
    /// Read the thumbnail of a report's top image.
    LoadThumb(ThumbKey),
    /// Open one of the report's images under both models side by side (model A pinned, model
    /// B on screen) on one channel of one layer.
    SideBySide {
        /// The image, relative to the collection.
        image: String,
        /// Layer id.
        layer: String,
        /// Channel to inspect.
        channel: usize,
    },
    /// Open a class summary (a `featurescope classes` file).
    OpenClasses(PathBuf),
    /// Build (or continue) the class summary of a folder with one sub-folder per class, on the
    /// worker; the summary goes to `out` (default: one under the data home per folder).
    BuildClasses {
        /// The collection.
        root: PathBuf,
        /// The summary file.
        out: Option<PathBuf>,
        /// Graph nodes per block.
        nodes: usize,
        /// Images per class whose influences the graph's edges average.
        edge_images: usize,
    },
    /// Stop the class summary's build (what is done is kept, and opened).
    StopClassBuild,
    /// Close the class summary.
    CloseClasses,
    /// Show this class's graph (and sort the tiles by it).
    PickClass(u32),
    /// Compare the picked class with this one (`None`: the picked class's graph alone).
    CompareClass(Option<u32>),
    /// Show a layer and inspect one of its channels (a click on a class graph's node).
    InspectChannel {
        /// Layer id.
        layer: String,
        /// Channel.
        channel: usize,
    },
    /// Dismiss the notice at this index.
    Dismiss(usize),
    /// Fault injection: the next network job fails as a lost GPU does.
    SimulateDeviceLoss,
    /// Colour the tiles of the layer on screen on the GPU, from its tap there (the tile grid
    /// asks once per layer, settings and size while the network shares the window's device).
    ColourOnGpu(crate::services::gpu_tiles::TileParams),
}

/// A computation to cancel.
#[derive(Debug)]
pub enum Cancel {
    /// An explanation.
    Explain(ExplainKey),
    /// A feature visualisation.
    Visualize(VisKey),
}
