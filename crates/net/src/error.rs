//! The one error type of the network crate: every failure names what it was working on.

use std::path::PathBuf;

/// Anything that can go wrong while loading weights, preparing an image or running the network.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A file could not be read at all.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not a weight file of the kind it claims to be, or is damaged.
    #[error("{path}: {message}")]
    BadWeights {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the tensor when one is at fault.
        message: String,
    },
    /// A tensor the network needs is absent from the weight file.
    #[error("{path}: missing tensor `{tensor}`")]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name (torchvision module path).
        tensor: String,
    },
    /// A tensor is present but has the wrong shape.
    #[error("{path}: tensor `{tensor}` has shape {found:?}, expected {expected:?}")]
    TensorShape {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// Shape the network needs.
        expected: Vec<usize>,
        /// Shape found in the file.
        found: Vec<usize>,
    },
    /// The image could not be opened or decoded.
    #[error("{path}: {message}")]
    BadImage {
        /// The file (or `<clipboard>`, `<memory>`).
        path: PathBuf,
        /// What the decoder said.
        message: String,
    },
    /// A layer id that is neither a torchvision module path nor a Keras alias of this network.
    #[error("unknown layer `{0}` (run `featurescope layers` for the list)")]
    UnknownLayer(String),
    /// An attribution or visualisation request that cannot be computed (a channel or class
    /// that does not exist, a Grad-CAM layer above the target, no head for a class target).
    #[error("{0}")]
    Attribution(String),
    /// The person cancelled a long computation.
    #[error("cancelled")]
    Cancelled,
    /// The compute device could not be created or failed while running.
    #[error("device: {0}")]
    Device(String),
}

impl NetError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn bad_weights(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::BadWeights {
            path: path.into(),
            message: message.into(),
        }
    }
}
