//! A pass already run on the image, whose taps a [`Recorded`](super::Recorded) pass takes
//! instead of running the forward again: the app keeps every tap of the image on screen (on the
//! GPU as device tensors, on the CPU read back to host memory), and an explanation of a filter
//! then costs only its backward walk.

use burn::tensor::{Device, Tensor, TensorData};

use crate::{Activations, ResidentTaps};

/// Every tap of one forward pass of the image under explanation, with the weights the
/// explanation uses (the caller's promise: a pass of another image or other weights gives
/// another image's gradient).
#[derive(Clone, Copy, Debug)]
pub enum Pass<'a> {
    /// Taps kept on the device ([`crate::Network::run_resident`]).
    Device(&'a ResidentTaps),
    /// Taps read back to host memory ([`crate::Network::run`]); each one a walk needs is
    /// copied onto the device.
    Host(&'a Activations),
}

impl Pass<'_> {
    /// Tap `id` as a tensor on `device`; `None` when the pass did not keep it.
    pub fn tap(&self, id: &str, device: &Device) -> Option<Tensor<4>> {
        match self {
            Self::Device(taps) => taps.tap(id).ok().map(|(_, t)| t.clone()),
            Self::Host(acts) => acts
                .get(id)
                .map(|l| Tensor::from_data(TensorData::new(l.data.clone(), l.shape), device)),
        }
    }
}
