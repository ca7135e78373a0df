//! Tiles coloured on the GPU: the grid's request goes to the worker once; what comes back is
//! kept for the grid, and a failure sends this analysis' tiles to the CPU with a notice.

use std::sync::Arc;

use super::Core;
use crate::services::gpu_tiles::{GpuTiles, TileParams};
use crate::services::worker::Job;

impl Core {
    /// Ask the worker to colour the layer on screen on the GPU (once per layer and settings).
    pub(super) fn colour_on_gpu(&mut self, params: TileParams) {
        let state = &self.state;
        let Some(generation) = state.analysis.as_ref().map(|a| a.generation) else {
            return;
        };
        if !state.gpu_tiles.to_ask(generation, &params) {
            return;
        }
        self.state.gpu_tiles.asked = Some(params.clone());
        let job = Job::ColourTiles { generation, params };
        if let Err(e) = self.worker.send(job) {
            // Busy or gone: this time the CPU colours them.
            self.state.gpu_tiles.asked = None;
            self.state.gpu_tiles.failed = Some(e);
        }
    }

    /// The worker's answer to [`Core::colour_on_gpu`].
    pub(super) fn tiles_coloured(
        &mut self,
        generation: u64,
        params: TileParams,
        result: Result<Arc<GpuTiles>, String>,
    ) {
        let state = &mut self.state;
        if state.analysis.as_ref().map(|a| a.generation) != Some(generation) {
            return;
        }
        let tiles = &mut state.gpu_tiles;
        if tiles.asked.as_ref() == Some(&params) {
            tiles.asked = None;
        }
        match result {
            Ok(t) => tiles.ready = Some(t),
            Err(e) => {
                tiles.failed = Some(e.clone());
                state.warn(format!("tiles coloured on the CPU: {e}"));
            }
        }
    }
}
