//! The values of a tensor on burn's `flex` device, borrowed where they lie.
//!
//! `Tensor::into_data` moves a tensor's values out when nothing else holds them and copies them
//! when something does. On the CPU path almost every kernel input is also a tap the recorder
//! holds (and a block's input feeds four branches), so reading inputs that way copied each of
//! them once per reader. A [`HostView`] shares the tensor's buffer instead (one reference count)
//! and reads it in place. [`fill_planes`] and [`padded_planes`]: the convs' per-plane buffers,
//! filled in parallel.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

/// A flex tensor's contiguous float32 values, shared with the tensor, read in place.
pub struct HostView(FlexTensor);

impl HostView {
    /// A view of `x`, or `None` when it is not a contiguous float32 tensor on the `flex`
    /// device (the caller then keeps burn's op).
    pub fn of<const D: usize>(x: &Tensor<D>) -> Option<Self> {
        let flex = x.clone().try_into_primitive::<Flex>().ok()?;
        flex.as_slice::<f32>().is_some().then_some(Self(flex))
    }

    /// The values, in the tensor's (row-major) order.
    pub fn values(&self) -> &[f32] {
        self.0.as_slice::<f32>().unwrap_or_default()
    }
}

/// A tensor on `x`'s device from row-major values (moved, not copied).
pub fn tensor_like<const D: usize>(
    x: &Tensor<D>,
    values: Vec<f32>,
    shape: [usize; D],
) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), &x.device())
}

/// `fill` each `chunk` values of `dst` from the matching `plane` values of `src` (one plane
/// each), over rayon's threads when `parallel`.
pub fn fill_planes<T: Send, U: Sync>(
    dst: &mut [T],
    chunk: usize,
    src: &[U],
    plane: usize,
    parallel: bool,
    fill: impl Fn((&mut [T], &[U])) + Send + Sync,
) {
    match parallel {
        true => dst
            .par_chunks_mut(chunk)
            .zip(src.par_chunks(plane))
            .for_each(fill),
        false => dst.chunks_mut(chunk).zip(src.chunks(plane)).for_each(fill),
    }
}

/// The `[h, w]` planes of `image` zero-padded into planes of `rows × cols` (the image at row
/// `ph`, column `pw` of each), with `slack` zeros after the last plane for reads that run past
/// it.
pub fn padded_planes(
    image: &[f32],
    [h, w]: [usize; 2],
    [ph, pw]: [usize; 2],
    [rows, cols]: [usize; 2],
    slack: usize,
    parallel: bool,
) -> Vec<f32> {
    let (planes, plane) = (image.len() / (h * w), rows * cols);
    let mut padded = vec![0.0f32; planes * plane + slack];
    let fill = |(padded, image): (&mut [f32], &[f32])| {
        for (y, row) in image.chunks_exact(w).enumerate() {
            padded[(y + ph) * cols + pw..][..w].copy_from_slice(row);
        }
    };
    fill_planes(
        &mut padded[..planes * plane],
        plane,
        image,
        h * w,
        parallel,
        fill,
    );
    padded
}
