//! A resident tap where it lies on the GPU: the wgpu buffer burn's cubecl runtime keeps it in,
//! its byte offset and its strides, for a shader of the viewer's own to read in place (no copy,
//! no readback). Only for taps on burn's wgpu backend (fused, as this build's is).

use burn::backend::Wgpu;
use burn::backend::wgpu::CubeBackend;
use burn::tensor::Tensor;
use cubecl_wgpu::{AutoCompiler, WgpuServer};

use crate::ResidentTaps;
use crate::error::NetError;

/// wgpu, the very crate (and version) burn computes with and the window draws with.
pub use burn::tensor::wgpu::wgpu;

/// One f32 NCHW tap in a wgpu buffer: element `(n, c, y, x)` is the f32 at byte
/// `offset + 4 * (n * strides[0] + c * strides[1] + y * strides[2] + x * strides[3])`.
#[derive(Debug)]
pub struct TapBuffer {
    /// The buffer (a page of cubecl's memory pool; other tensors live in the rest of it).
    pub buffer: wgpu::Buffer,
    /// Where the tap starts, in bytes (aligned for a storage binding by cubecl's allocator).
    pub offset: u64,
    /// Bytes from `offset` the tap's storage spans.
    pub size: u64,
    /// `[N, C, H, W]`.
    pub shape: [usize; 4],
    /// Strides in elements, per dimension of `shape`.
    pub strides: [usize; 4],
    /// The tensor itself: while it lives its memory is neither freed nor handed out again.
    _keep: Tensor<4>,
}

impl ResidentTaps {
    /// Where post-activation tap `id` lies on the GPU. Work burn queued for it is submitted to
    /// the device's queue first, so commands submitted after this call see its values.
    pub fn device_buffer(&self, id: &str) -> Result<TapBuffer, NetError> {
        tap_buffer(self.tap(id)?.1.clone())
    }
}

/// [`TapBuffer`] of a tensor on burn's wgpu backend.
pub fn tap_buffer(tensor: Tensor<4>) -> Result<TapBuffer, NetError> {
    let err = |what: String| NetError::Device(format!("the tap's GPU buffer: {what}"));
    // burn's wgpu backend is fused: resolving runs what the fusion stream still holds for this
    // tensor (on the device) and gives cubecl's tensor, whose handle names its buffer.
    let fused = tensor
        .clone()
        .try_into_primitive::<Wgpu>()
        .map_err(|e| err(format!("not a wgpu tensor ({e:?})")))?;
    let cube = fused
        .client
        .clone()
        .resolve_tensor_float::<CubeBackend>(fused);
    if cube.dtype != burn::tensor::DType::F32 {
        return Err(err(format!("{:?} values, not f32", cube.dtype)));
    }
    if cube.meta.is_tiled() {
        return Err(err("a tiled storage layout".into()));
    }
    let dims = |v: &[usize]| -> Result<[usize; 4], NetError> {
        v.try_into()
            .map_err(|_| err(format!("rank {}, not 4", v.len())))
    };
    let shape = dims(cube.meta.shape())?;
    let strides = dims(cube.meta.strides())?;
    let managed = cube
        .client
        .get_resource::<WgpuServer<AutoCompiler>>(cube.handle.clone())
        .map_err(|e| err(format!("{e:?}")))?;
    cube.client.flush().map_err(|e| err(format!("{e:?}")))?;
    let resource = managed.resource();
    Ok(TapBuffer {
        buffer: resource.buffer.clone(),
        offset: resource.offset,
        size: resource.size,
        shape,
        strides,
        _keep: tensor,
    })
}
