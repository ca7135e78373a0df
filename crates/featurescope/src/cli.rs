//! The command line: the arguments (clap) and which subcommand runs. Each subcommand's
//! arguments and work are in its own file under `commands/`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::commands::{
    atlas, attribute, bench, classes, compare, dictionary, dump, groups, install, layers, render,
    spatial, visualize,
};
use crate::common::{Backend, overwrite_from, started, weights_help};

/// See what a convolutional network sees: every layer of Inception-V3, every filter.
///
/// Without a subcommand, opens the app (on IMAGE if given, as a file manager's "Open with" does).
#[derive(Parser, Debug)]
#[command(
    name = "featurescope",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// (app) Image to open, as a desktop entry's `%f` passes it.
    #[arg(value_name = "IMAGE", conflicts_with = "image")]
    file: Option<PathBuf>,
    /// (app) Image to analyse first; default: the bundled sample photo.
    #[arg(long)]
    image: Option<PathBuf>,
    /// (app) Weights to load; default: the bundled model.
    #[arg(long, long_help = weights_help())]
    weights: Option<PathBuf>,
    /// (app) Where the network runs.
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    backend: Backend,
    /// (app) Print start → window and start → first tiles to stderr, then close the window.
    #[arg(long, hide = true)]
    startup_report: bool,
    /// Replace output files that already exist (without it, an existing file is never
    /// touched and the command stops before any work).
    #[arg(long, global = true)]
    overwrite: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Add featurescope to the desktop: applications menu, icons, "Open with" for images
    /// (under $XDG_DATA_HOME, default ~/.local/share).
    Install,
    /// Remove what `install` added.
    Uninstall,
    /// Which images of a folder excite each filter most: top images and receptive-field crops
    /// per channel (`atlas merge`, `atlas show` for the rest).
    Atlas(atlas::AtlasArgs),
    /// Per class of a folder of your images: which channels the model uses (counts,
    /// attributions) and how they feed each other (a graph); `classes show`, `classes merge`.
    Classes(classes::ClassesArgs),
    /// Two images or two weights at one layer on one scale (a figure), or two models over a
    /// folder: which layers changed (CKA) and which filters (`compare show`, `compare merge`).
    Compare(compare::CompareArgs),
    /// Print the layer tree: ids, Keras aliases, output shapes, the 48-deep path marked (*).
    Layers(layers::LayersArgs),
    /// Write every tapped layer as `<layer id>.npy` (float32, NCHW), plus `head.npy`.
    Dump(dump::DumpArgs),
    /// Draw every filter of one layer as a labelled, colormapped tile grid (PNG).
    Render(render::RenderArgs),
    /// What in the photo drives a filter (or a class): saliency, SmoothGrad, integrated
    /// gradients, guided backprop, deconvnet, Grad-CAM, guided Grad-CAM.
    Attribute(attribute::AttributeArgs),
    /// Feature visualisation: optimise an image that drives one filter as hard as it can.
    Visualize(visualize::VisualizeArgs),
    /// The semantic dictionary of a layer on a photo: at every position the k channels that
    /// fire most, drawn over the photo.
    Dictionary(dictionary::DictionaryArgs),
    /// Neuron groups of a layer on a photo: its activations factorised into k groups (NMF),
    /// each a mask over the photo and a weighting of the channels.
    Groups(groups::GroupsArgs),
    /// Spatial attribution to a class at a layer: where the positions push the class logit
    /// (activation × gradient, summed over channels); two classes: their difference.
    Spatial(spatial::SpatialArgs),
    /// Time the forward pass with all taps read back to host memory (or, with --soak, run a
    /// long session and print its memory curve).
    Bench(bench::BenchArgs),
}

/// Run the parsed command line.
pub fn run(args: Args) -> Result<()> {
    let overwrite = overwrite_from(args.overwrite);
    match args.command {
        None => featurescope_app::run_native(featurescope_app::Launch {
            image: args.file.or(args.image),
            weights: args.weights,
            backend: args.backend.into(),
            restore_settings: true,
            startup_report: args.startup_report.then(started),
            device: None,
            gpu: None,
        })
        .map_err(|e| anyhow::anyhow!("{e}")),
        Some(Command::Install) => install::install(),
        Some(Command::Uninstall) => install::uninstall(),
        Some(Command::Atlas(a)) => atlas::run(a, overwrite),
        Some(Command::Classes(a)) => classes::run(a, overwrite),
        Some(Command::Compare(a)) => compare::run(a, overwrite),
        Some(Command::Layers(a)) => layers::run(&a),
        Some(Command::Dump(a)) => dump::run(&a, overwrite),
        Some(Command::Render(a)) => render::run(&a, overwrite),
        Some(Command::Attribute(a)) => attribute::run(&a, overwrite),
        Some(Command::Visualize(a)) => visualize::run(&a, overwrite),
        Some(Command::Dictionary(a)) => dictionary::run(&a, overwrite),
        Some(Command::Groups(a)) => groups::run(&a, overwrite),
        Some(Command::Spatial(a)) => spatial::run(&a, overwrite),
        Some(Command::Bench(a)) => bench::run(a),
    }
}
