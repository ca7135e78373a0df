//! Tiles coloured on the GPU: whether the worker can, what the tile grid asked for, what came
//! back. The texture is the services' wgpu texture (no egui handle); the grid registers it with
//! the window's renderer.

use std::sync::Arc;

use crate::services::gpu_tiles::{GpuTiles, TileParams};

/// The GPU tile path's state.
#[derive(Debug, Default)]
pub struct GpuTilesState {
    /// The worker shares the window's GPU device and keeps the taps there.
    pub available: bool,
    /// Asked of the worker and not yet back.
    pub asked: Option<TileParams>,
    /// The latest tiles (of the analysis on screen).
    pub ready: Option<Arc<GpuTiles>>,
    /// Why the GPU could not colour this analysis' tiles: the CPU colours them instead, and the
    /// GPU is not asked again until the next analysis.
    pub failed: Option<String>,
}

impl GpuTilesState {
    /// The tiles for `params` of analysis `generation`, when they are ready.
    pub fn tiles(&self, generation: u64, params: &TileParams) -> Option<&Arc<GpuTiles>> {
        self.ready
            .as_ref()
            .filter(|t| t.generation == generation && t.params == *params)
    }

    /// Whether the grid should wait for the GPU (asked, or to ask) rather than colour on the CPU.
    pub fn colours(&self) -> bool {
        self.available && self.failed.is_none()
    }

    /// Whether `params` still has to be asked for.
    pub fn to_ask(&self, generation: u64, params: &TileParams) -> bool {
        self.colours()
            && self.asked.as_ref() != Some(params)
            && self.tiles(generation, params).is_none()
    }

    /// A new analysis or weights: what was coloured or asked is stale, and the GPU may be tried
    /// again.
    pub fn reset(&mut self) {
        self.asked = None;
        self.ready = None;
        self.failed = None;
    }
}
