//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum MapsError {
    /// The data length does not match `channels * height * width`.
    #[error("layer data has {got} values but shape {channels}x{height}x{width} needs {expected}")]
    ShapeMismatch {
        /// Channel count given.
        channels: usize,
        /// Map height given.
        height: usize,
        /// Map width given.
        width: usize,
        /// `channels * height * width`.
        expected: usize,
        /// Length of the data actually supplied.
        got: usize,
    },
    /// A shape whose element count does not fit in `usize`, or has the wrong rank.
    #[error("unsupported shape {shape:?}: {reason}")]
    BadShape {
        /// The offending shape.
        shape: Vec<u64>,
        /// Why it was rejected.
        reason: String,
    },
    /// A channel index outside `0..channels`.
    #[error("channel {channel} is out of range: the layer has {channels} channels")]
    ChannelOutOfRange {
        /// The requested channel.
        channel: usize,
        /// How many channels the layer has.
        channels: usize,
    },
    /// The grid image would exceed [`crate::MAX_GRID_SIDE`] pixels on a side.
    #[error(
        "grid image would be {width}x{height} px, over the {max} px limit per side; use a smaller tile size"
    )]
    TooLarge {
        /// Width the image would have had.
        width: u64,
        /// Height the image would have had.
        height: u64,
        /// The per-side limit.
        max: u32,
    },
    /// Nonsensical grid options (zero tile size, zero columns, ...).
    #[error("invalid grid options: {0}")]
    InvalidOptions(String),
    /// An I/O error while reading or writing `path`.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An output file exists and was not to be replaced.
    #[error("{} already exists; not replaced (pass --overwrite to replace it)", path.display())]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// A `.npy` file that could not be read as float32 data.
    #[error("cannot use .npy file {}: {message}", path.display())]
    Npy {
        /// The file involved.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Neuron groups that cannot be computed (a bad group count, negative values).
    #[error("neuron groups: {0}")]
    Groups(String),
    /// An atlas operation that cannot be done (unknown layer, wrong shape, incompatible merge, ...).
    #[error("atlas: {0}")]
    Atlas(String),
    /// An atlas file that is malformed, inconsistent or too large.
    #[error("invalid atlas file {}: {message}", path.display())]
    AtlasFile {
        /// The file involved.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A class-summary operation that cannot be done (unknown class, incompatible merge, ...).
    #[error("class summary: {0}")]
    Classes(String),
    /// A class-summary file that is malformed, inconsistent or too large.
    #[error("invalid class summary {}: {message}", path.display())]
    ClassesFile {
        /// The file involved.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A model comparison that cannot be done (wrong shapes, incompatible merge, ...).
    #[error("compare: {0}")]
    Compare(String),
    /// A comparison report file that is malformed, inconsistent or too large.
    #[error("invalid comparison report {}: {message}", path.display())]
    CompareFile {
        /// The file involved.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

impl MapsError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
