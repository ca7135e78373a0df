//! How the app starts: first image, weights, backend, and the device the window shares.

use std::path::PathBuf;
use std::time::Instant;

use featurescope_net::{BackendChoice, ComputeDevice};

use crate::services::gpu_tiles::GpuQueue;

/// The bundled sample photo (CC0, see assets/samples/CREDITS.md), analysed at first start.
pub const SAMPLE_PHOTO: &[u8] = include_bytes!("../../../assets/samples/chelsea.png");

/// How the app starts.
#[derive(Clone, Debug)]
pub struct Launch {
    /// First image (default: the bundled sample photo).
    pub image: Option<PathBuf>,
    /// Weights (default: the bundled model).
    pub weights: Option<PathBuf>,
    /// Backend.
    pub backend: BackendChoice,
    /// Restore persisted settings (off in tests).
    pub restore_settings: bool,
    /// When the process started, to print start → window / first tiles and then close
    /// (`featurescope --startup-report`); `None` in normal use.
    pub startup_report: Option<Instant>,
    /// The GPU device the window draws with, for the network to run on too (one wgpu device
    /// for both: [`crate::run_native`] acquires it); `None`: the worker picks its device from
    /// `backend`.
    pub device: Option<ComputeDevice>,
    /// That device's wgpu handles, for the worker to colour tiles on the GPU from the taps it
    /// keeps there (`services::gpu_tiles`); `None`: tiles are coloured on the CPU.
    pub gpu: Option<GpuQueue>,
}

impl Default for Launch {
    fn default() -> Self {
        Self {
            image: None,
            weights: None,
            backend: BackendChoice::Auto,
            restore_settings: true,
            startup_report: None,
            device: None,
            gpu: None,
        }
    }
}

impl Launch {
    /// How tests and benches start the app: the sample photo, the bundled model, on
    /// `backend`, without saved settings.
    pub fn headless(backend: BackendChoice) -> Self {
        Self {
            restore_settings: false,
            backend,
            ..Self::default()
        }
    }
}
