//! Tiles coloured on the GPU, from the tap where it lies: when the network runs on the window's
//! own wgpu device, a compute shader (`gpu_tiles.wgsl`) reads the resident tap's buffer in
//! place, finds each channel's (or the layer's) value range, box-averages large maps down to
//! the tile's size and looks each value up in the colormap's 256-entry table, writing one
//! RGBA8 atlas texture of every tile. Nothing is read back: the texture goes to the window,
//! which registers it with its renderer, and the submission is ordered on the one queue before
//! the frame that draws it. The CPU colouring (`LayerView::pixels`) stays for the CPU backend,
//! percentile clipping (no GPU sort here) and anything this path refuses.
//!
//! Plain wgpu (the very crate burn and the window use); no window type is named here.

use std::future::Future;

use featurescope_maps::{Colormap, NormSettings, Normalization};
use featurescope_net::device_buffer::{TapBuffer, wgpu};

/// How a layer's tiles are coloured on the GPU: what must match for a texture to be reused.
#[derive(Clone, Debug, PartialEq)]
pub struct TileParams {
    /// torchvision id of the layer.
    pub layer: String,
    /// Where the value range comes from (percentile clipping is the CPU's alone).
    pub mode: Normalization,
    /// `[-m, m]`, `m = max(|lo|, |hi|)`.
    pub symmetric: bool,
    /// The colormap.
    pub colormap: Colormap,
    /// Box-averaging factor (1: every value its own texel), as `LayerView::tile_factor`.
    pub factor: usize,
}

impl TileParams {
    /// The parameters for `settings`, or `None` when the GPU cannot colour that way
    /// (percentile clipping).
    pub fn new(layer: &str, norm: NormSettings, colormap: Colormap, factor: usize) -> Option<Self> {
        norm.clip_percentile.is_none().then(|| Self {
            layer: layer.to_string(),
            mode: norm.mode,
            symmetric: norm.symmetric,
            colormap,
            factor: factor.max(1),
        })
    }
}

/// One layer's tiles on the GPU: an RGBA8 texture of `columns` x `rows` tiles of
/// `tile[0]` x `tile[1]` texels, channel `c` at column `c % columns`, row `c / columns`.
#[derive(Debug)]
pub struct GpuTiles {
    /// What they were coloured with.
    pub params: TileParams,
    /// The analysis they belong to.
    pub generation: u64,
    /// The atlas (`Rgba8Unorm`, as egui's own textures; `COPY_SRC` for tests).
    pub texture: wgpu::Texture,
    /// Channels.
    pub channels: usize,
    /// Tiles per row.
    pub columns: usize,
    /// One tile's texels: `[w, h]`.
    pub tile: [usize; 2],
}

impl GpuTiles {
    /// The atlas' size in texels.
    pub fn size(&self) -> [usize; 2] {
        [
            self.texture.width() as usize,
            self.texture.height() as usize,
        ]
    }

    /// Channel `c`'s rectangle in texture coordinates: `(min, max)`, each `[u, v]`.
    pub fn uv(&self, c: usize) -> ([f32; 2], [f32; 2]) {
        let [w, h] = self.size();
        let (x, y) = (
            (c % self.columns) * self.tile[0],
            (c / self.columns) * self.tile[1],
        );
        let at = |x: usize, y: usize| [x as f32 / w as f32, y as f32 / h as f32];
        (at(x, y), at(x + self.tile[0], y + self.tile[1]))
    }
}

/// The GPU's device and queue, the window's and the network's.
#[derive(Clone, Debug)]
pub struct GpuQueue {
    /// The device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
}

/// The colouring pipelines and the colormaps' tables, made once per device.
#[derive(Debug)]
pub struct TileColourer {
    gpu: GpuQueue,
    layout: wgpu::BindGroupLayout,
    channel_ranges: wgpu::ComputePipeline,
    layer_range: wgpu::ComputePipeline,
    colour: wgpu::ComputePipeline,
    /// Every colormap's 256 entries, packed RGBA8, in `Colormap::ALL` order.
    luts: wgpu::Buffer,
}

/// Bytes of the shader's `Params`.
const PARAMS_BYTES: usize = 80;

impl TileColourer {
    /// Compile the shader and upload the tables; a validation error comes back as text (wgpu
    /// would otherwise panic on it, as cubecl's error handler does).
    pub fn new(gpu: GpuQueue) -> Result<Self, String> {
        let device = gpu.device.clone();
        checked(&device, "compiling the tile shader", || Self::build(gpu))
    }

    fn build(gpu: GpuQueue) -> Self {
        let device = &gpu.device;
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("featurescope tiles"),
            source: wgpu::ShaderSource::Wgsl(include_str!("gpu_tiles.wgsl").into()),
        });
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("featurescope tiles"),
            entries: &layout_entries(),
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("featurescope tiles"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = |entry: &str| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                cache: None,
            })
        };
        let (channel_ranges, layer_range, colour) = (
            pipeline("channel_ranges"),
            pipeline("layer_range"),
            pipeline("colour"),
        );
        let luts = buffer(
            device,
            "featurescope colormaps",
            &packed_luts(),
            wgpu::BufferUsages::STORAGE,
        );
        Self {
            gpu,
            layout,
            channel_ranges,
            layer_range,
            colour,
            luts,
        }
    }

    /// Colour every tile of `tap` into a new texture and submit the work; returns without
    /// waiting for the GPU (the queue orders it before any later use of the texture).
    pub fn colour(
        &self,
        tap: &TapBuffer,
        params: &TileParams,
        generation: u64,
    ) -> Result<GpuTiles, String> {
        let layout = Layout::of(tap, params, &self.gpu.device.limits())?;
        checked(&self.gpu.device, "colouring tiles on the GPU", || {
            self.encode(tap, params, generation, &layout)
        })
    }

    fn encode(
        &self,
        tap: &TapBuffer,
        params: &TileParams,
        generation: u64,
        layout: &Layout,
    ) -> GpuTiles {
        let device = &self.gpu.device;
        let texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("featurescope tiles"),
            size: wgpu::Extent3d {
                width: layout.size[0],
                height: layout.size[1],
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba8Unorm,
            usage: wgpu::TextureUsages::STORAGE_BINDING
                | wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let uniforms = buffer(
            device,
            "featurescope tile params",
            &layout.params_bytes(tap, params),
            wgpu::BufferUsages::UNIFORM,
        );
        let ranges = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("featurescope tile ranges"),
            size: 8 * (layout.channels as u64 + 1),
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        let bind = self.bind_group(tap, &uniforms, &ranges, &view);
        self.submit(&bind, layout);
        GpuTiles {
            params: params.clone(),
            generation,
            texture,
            channels: layout.channels,
            columns: layout.columns,
            tile: layout.tile,
        }
    }

    fn bind_group(
        &self,
        tap: &TapBuffer,
        uniforms: &wgpu::Buffer,
        ranges: &wgpu::Buffer,
        view: &wgpu::TextureView,
    ) -> wgpu::BindGroup {
        let src = wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &tap.buffer,
            offset: tap.offset,
            size: std::num::NonZeroU64::new(tap.size.next_multiple_of(4)),
        });
        let resources = [
            src,
            uniforms.as_entire_binding(),
            self.luts.as_entire_binding(),
            ranges.as_entire_binding(),
            wgpu::BindingResource::TextureView(view),
        ];
        let entries: Vec<wgpu::BindGroupEntry<'_>> = resources
            .into_iter()
            .enumerate()
            .map(|(i, resource)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource,
            })
            .collect();
        self.gpu
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("featurescope tiles"),
                layout: &self.layout,
                entries: &entries,
            })
    }

    /// Three dispatches (ranges per channel, the layer's, the colours), one submission.
    fn submit(&self, bind: &wgpu::BindGroup, layout: &Layout) {
        let mut encoder = self
            .gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("featurescope tiles"),
            });
        let dispatches = [
            (&self.channel_ranges, [layout.channels as u32, 1]),
            (&self.layer_range, [1, 1]),
            (
                &self.colour,
                [layout.size[0].div_ceil(8), layout.size[1].div_ceil(8)],
            ),
        ];
        for (pipeline, [x, y]) in dispatches {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("featurescope tiles"),
                timestamp_writes: None,
            });
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, bind, &[]);
            pass.dispatch_workgroups(x, y, 1);
        }
        self.gpu.queue.submit([encoder.finish()]);
    }
}

/// Where the tiles go in the atlas.
struct Layout {
    channels: usize,
    columns: usize,
    tile: [usize; 2],
    size: [u32; 2],
}

impl Layout {
    fn of(tap: &TapBuffer, params: &TileParams, limits: &wgpu::Limits) -> Result<Self, String> {
        let [n, channels, h, w] = tap.shape;
        if n != 1 || channels == 0 || h == 0 || w == 0 {
            return Err(format!("cannot tile a {:?} tap on the GPU", tap.shape));
        }
        let max_groups = limits.max_compute_workgroups_per_dimension as usize;
        if channels > max_groups {
            return Err(format!("{channels} channels: more than one dispatch holds"));
        }
        let k = params.factor.max(1);
        let tile = [w.div_ceil(k), h.div_ceil(k)];
        let max_side = limits.max_texture_dimension_2d as usize;
        let columns = (channels as f64).sqrt().ceil() as usize;
        let columns = columns.clamp(1, (max_side / tile[0]).max(1));
        let rows = channels.div_ceil(columns);
        let size = [columns * tile[0], rows * tile[1]];
        if size[0] > max_side || size[1] > max_side {
            return Err(format!(
                "a {}x{} tile atlas is larger than this GPU's {max_side} texels",
                size[0], size[1]
            ));
        }
        Ok(Self {
            channels,
            columns,
            tile,
            size: [size[0] as u32, size[1] as u32],
        })
    }

    /// The shader's `Params`, little-endian.
    fn params_bytes(&self, tap: &TapBuffer, params: &TileParams) -> Vec<u8> {
        let [_, c, h, w] = tap.shape;
        let [_, sc, sh, sw] = tap.strides;
        let cmap = Colormap::ALL
            .iter()
            .position(|&m| m == params.colormap)
            .unwrap_or(0);
        let (mode, lo, hi) = match params.mode {
            Normalization::PerTile => (0, 0.0, 0.0),
            Normalization::PerLayer => (1, 0.0, 0.0),
            Normalization::Fixed { lo, hi } => (2, lo, hi),
        };
        let words = [
            [c, h, w, params.factor.max(1)],
            [sc, sh, sw, 0],
            [self.columns, self.tile[0], self.tile[1], cmap],
            [mode, usize::from(params.symmetric), 0, 0],
        ];
        let mut bytes = Vec::with_capacity(PARAMS_BYTES);
        for v in words.iter().flatten() {
            bytes.extend_from_slice(&(*v as u32).to_le_bytes());
        }
        for v in [lo, hi, 0.0, 0.0] {
            bytes.extend_from_slice(&f32::to_le_bytes(v));
        }
        bytes
    }
}

/// `f()` inside a validation error scope: its error as text instead of wgpu's panic.
fn checked<T>(device: &wgpu::Device, what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let out = f();
    // Native wgpu answers at once; a scope still pending is taken as clean.
    let mut popped = std::pin::pin!(scope.pop());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match popped.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Some(e)) => Err(format!("{what}: {e}")),
        _ => Ok(out),
    }
}

fn buffer(
    device: &wgpu::Device,
    label: &str,
    bytes: &[u8],
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    use wgpu::util::DeviceExt;
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: bytes,
        usage,
    })
}

/// Every colormap's table, entry `m * 256 + i` = `r | g << 8 | b << 16 | 255 << 24`.
fn packed_luts() -> Vec<u8> {
    Colormap::ALL
        .iter()
        .flat_map(|m| m.lut().iter())
        .flat_map(|&[r, g, b]| [r, g, b, 255])
        .collect()
}

fn layout_entries() -> [wgpu::BindGroupLayoutEntry; 5] {
    let storage = |read_only| wgpu::BindingType::Buffer {
        ty: wgpu::BufferBindingType::Storage { read_only },
        has_dynamic_offset: false,
        min_binding_size: None,
    };
    let types = [
        storage(true),
        wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        storage(true),
        storage(false),
        wgpu::BindingType::StorageTexture {
            access: wgpu::StorageTextureAccess::WriteOnly,
            format: wgpu::TextureFormat::Rgba8Unorm,
            view_dimension: wgpu::TextureViewDimension::D2,
        },
    ];
    let mut i = 0;
    types.map(|ty| {
        i += 1;
        wgpu::BindGroupLayoutEntry {
            binding: i - 1,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty,
            count: None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_refuse_percentile_clipping_only() {
        let plain = NormSettings::default();
        let p = TileParams::new("Mixed_5b", plain, Colormap::Magma, 0);
        assert_eq!(p.map(|p| p.factor), Some(1));
        let clipped = NormSettings {
            clip_percentile: Some(1.0),
            ..plain
        };
        assert!(TileParams::new("Mixed_5b", clipped, Colormap::Magma, 2).is_none());
    }

    #[test]
    fn packed_tables_follow_the_colormaps() {
        let luts = packed_luts();
        assert_eq!(luts.len(), Colormap::ALL.len() * 256 * 4);
        for (m, cmap) in Colormap::ALL.iter().enumerate() {
            for i in [0, 127, 255] {
                let at = (m * 256 + i) * 4;
                let [r, g, b] = cmap.lut()[i];
                assert_eq!(luts[at..at + 4], [r, g, b, 255], "{cmap} {i}");
            }
        }
    }
}
