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
use std::mem::MaybeUninit;

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

/// How an image's planes lie in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Planes {
    /// Row-major `[h, w]` planes.
    AsIs,
    /// Each plane stored transposed (`[w, h]` row-major): its row `y` is the stored column `y`.
    Transposed,
}

/// The `[h, w]` planes of `image` (stored as `layout` says) zero-padded into planes of
/// `rows × cols` (the image at row `ph`, column `pw` of each), with `slack` zeros after the
/// last plane for reads that run past it. Each value is written once: the padding as zeros,
/// the image where it goes (no zeroing of the whole buffer first).
pub fn padded_planes(
    image: &[f32],
    [h, w]: [usize; 2],
    [ph, pw]: [usize; 2],
    [rows, cols]: [usize; 2],
    slack: usize,
    layout: Planes,
    parallel: bool,
) -> Vec<f32> {
    assert!(rows >= h + ph && cols >= w + pw);
    let (planes, plane) = (image.len() / (h * w), rows * cols);
    let mut padded = unwritten(planes * plane + slack);
    let zero = MaybeUninit::new(0.0f32);
    let fill = |(padded, image): (&mut [MaybeUninit<f32>], &[f32])| {
        let (top, rest) = padded.split_at_mut(ph * cols);
        let (inside, bottom) = rest.split_at_mut(h * cols);
        top.fill(zero);
        bottom.fill(zero);
        for (y, row) in inside.chunks_exact_mut(cols).enumerate() {
            let (left, rest) = row.split_at_mut(pw);
            let (values, right) = rest.split_at_mut(w);
            left.fill(zero);
            right.fill(zero);
            match layout {
                Planes::AsIs => {
                    let from = &image[y * w..(y + 1) * w];
                    for (d, &v) in values.iter_mut().zip(from) {
                        *d = MaybeUninit::new(v);
                    }
                }
                Planes::Transposed => {
                    for (d, &v) in values.iter_mut().zip(image[y..].iter().step_by(h)) {
                        *d = MaybeUninit::new(v);
                    }
                }
            }
        }
    };
    let (body, tail) = padded.split_at_mut(planes * plane);
    fill_planes(body, plane, image, h * w, parallel, fill);
    tail.fill(zero);
    // SAFETY: every plane was written whole (its padding rows, and each row's padding and
    // values), and the tail as zeros.
    #[allow(unsafe_code)]
    unsafe {
        written(padded)
    }
}

/// A buffer every value of which is written before anything reads it, so it is not zeroed
/// first.
pub fn unwritten(len: usize) -> Vec<MaybeUninit<f32>> {
    let mut out = Vec::with_capacity(len);
    // SAFETY: the capacity holds `len` elements, and `MaybeUninit` needs no initialisation.
    #[allow(unsafe_code)]
    unsafe {
        out.set_len(len);
    }
    out
}

/// [`unwritten`]'s buffer once all of it has been written.
///
/// # Safety
/// Every element must have been written.
#[allow(unsafe_code)]
pub unsafe fn written(out: Vec<MaybeUninit<f32>>) -> Vec<f32> {
    let mut out = std::mem::ManuallyDrop::new(out);
    let (ptr, len, capacity) = (out.as_mut_ptr(), out.len(), out.capacity());
    // SAFETY: `MaybeUninit<f32>` and `f32` have one layout; the allocation is handed over
    // whole (pointer, length, capacity) and every element is initialised (the contract).
    unsafe { Vec::from_raw_parts(ptr.cast::<f32>(), len, capacity) }
}
