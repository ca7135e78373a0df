//! The window's side of tiles coloured on the GPU: the renderer egui draws with (kept in the
//! context's memory by [`use_renderer`]), and the GPU tiles' texture registered with it — a
//! bind group made on the UI thread, no copy and no wait for the GPU.

use std::sync::Arc;

use eframe::egui_wgpu::{RenderState, wgpu};
use egui::TextureId;

use crate::services::gpu_tiles::GpuTiles;

fn key() -> egui::Id {
    egui::Id::unique("featurescope gpu tile renderer")
}

/// Let the tile grid register GPU-coloured tiles with `render_state`'s renderer, the one this
/// context is drawn with (the window's, or a test harness').
pub fn use_renderer(ctx: &egui::Context, render_state: RenderState) {
    ctx.data_mut(|d| d.insert_temp(key(), render_state));
}

/// Let go of the renderer given to [`use_renderer`] (the window is closing): the context
/// lives on in the threads that repaint it, and whichever lets it go last would otherwise
/// drop the renderer, and with it the graphics instance, there.
pub fn forget_renderer(ctx: &egui::Context) {
    ctx.data_mut(|d| d.remove::<RenderState>(key()));
}

/// The renderer given to [`use_renderer`], if any.
pub fn renderer(ctx: &egui::Context) -> Option<RenderState> {
    ctx.data(|d| d.get_temp::<RenderState>(key()))
}

/// The GPU tiles registered with the renderer: one texture id, pointed at the latest tiles.
#[derive(Default)]
pub struct GpuTexture {
    shown: Option<(Arc<GpuTiles>, TextureId)>,
}

impl GpuTexture {
    /// The texture id egui draws `tiles` with, registering them when they are new.
    pub fn id(&mut self, ctx: &egui::Context, tiles: &Arc<GpuTiles>) -> Option<TextureId> {
        if let Some((shown, id)) = &self.shown
            && Arc::ptr_eq(shown, tiles)
        {
            return Some(*id);
        }
        let rs = renderer(ctx)?;
        let view = tiles
            .texture
            .create_view(&wgpu::TextureViewDescriptor::default());
        let mut renderer = rs.renderer.write();
        let id = match self.shown.take() {
            Some((_, id)) => {
                renderer.update_egui_texture_from_wgpu_texture(
                    &rs.device,
                    &view,
                    wgpu::FilterMode::Nearest,
                    id,
                );
                id
            }
            None => renderer.register_native_texture(&rs.device, &view, wgpu::FilterMode::Nearest),
        };
        self.shown = Some((tiles.clone(), id));
        Some(id)
    }

    /// Whether a GPU texture is registered (counted among the tile textures).
    pub fn bytes(&self) -> usize {
        self.shown.as_ref().map_or(0, |(t, _)| {
            let [w, h] = t.size();
            w * h * 4
        })
    }
}
