//! Tiles coloured on the GPU from the current analysis' resident taps
//! ([`super::Job::ColourTiles`]): the tap's own buffer read by `gpu_tiles`' shader, nothing read
//! back; the texture goes to the window in [`super::Event::TilesColoured`].

use std::sync::Arc;

use super::{Event, WorkerState};
use crate::services::gpu_tiles::{GpuTiles, TileColourer, TileParams};

impl WorkerState {
    pub(super) fn colour_tiles(&mut self, generation: u64, params: TileParams) {
        if generation != self.generation {
            return;
        }
        let result = self.colour_on_gpu(generation, &params);
        self.emit(Event::TilesColoured {
            generation,
            params,
            result,
        });
    }

    fn colour_on_gpu(
        &mut self,
        generation: u64,
        params: &TileParams,
    ) -> Result<Arc<GpuTiles>, String> {
        let Some(gpu) = &self.gpu else {
            return Err("the network does not share the window's GPU".into());
        };
        if self.resident.is_none() {
            return Err("the layers are not on the GPU (the network runs on the CPU)".into());
        }
        let colourer = self
            .colourer
            .get_or_insert_with(|| TileColourer::new(gpu.clone()))
            .as_ref()
            .map_err(Clone::clone)?;
        let taps = self.resident.as_ref().ok_or("no taps on the GPU")?;
        let tap = taps
            .device_buffer(&params.layer)
            .map_err(|e| e.to_string())?;
        colourer.colour(&tap, params, generation).map(Arc::new)
    }
}
