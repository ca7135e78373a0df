//! Work over a batch's images: the taps handed over as the pass computes them, not kept
//! ([`Network::visit_batch_layers`]: what the atlas and `compare` reduce), and any per-image
//! work side by side ([`Network::map_images`]: the class summary's passes).
//!
//! On the CPU a batch runs *image by image*, as many images at once as rayon has threads, each
//! whole on one thread (a one-thread pool, so every kernel's parallel loop stays on it): no
//! fork and join per kernel, no thread waiting for the other at the end of each layer, and each
//! image's layers stay in that core's cache from one layer to the next and while the visitor
//! reads them. A pass over one image splits each kernel over the threads instead (what a single
//! image wants: its latency); a batch buys throughput. On a GPU the batch is one pass (one
//! dispatch per layer for all the images), its taps read back one at a time after it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use burn::tensor::Tensor;
use rayon::ThreadPool;

use crate::model::host::HostView;
use crate::{Backend, InputImage, NetError, Network, ReluRule, TapRequest, read_back};

/// What [`Network::visit_batch_layers`] hands each tap of each image to:
/// `(image, id, [C, H, W], values)`, `image` its index in the batch. Called from the pass's
/// threads, several images at once: each image's taps come in the network's order, the images
/// in any order.
pub type LayerVisitor<'a> = &'a (dyn Fn(usize, &str, [usize; 3], &[f32]) + Sync);

impl Network {
    /// [`Network::run_batch`]'s layers, not kept: each requested tap of each image goes to
    /// `visit` and is then let go; no pre-ReLU taps, no head. On the CPU each comes as soon as
    /// the pass has computed it, borrowed where it lies (still in cache; memory holds only what
    /// the network needs next), the images side by side ([`Network::map_images`]); on a GPU
    /// after the batch's pass, read back one at a time. The values equal
    /// [`Network::run_batch`]'s, bit for bit.
    pub fn visit_batch_layers(
        &self,
        inputs: &[InputImage],
        request: &TapRequest,
        visit: LayerVisitor,
    ) -> Result<(), NetError> {
        if inputs.is_empty() {
            return Ok(());
        }
        let request = request.clone().with_head(false);
        if self.device.backend != Backend::Cpu {
            return self.visit_read_back(inputs, &request, visit);
        }
        self.map_images(inputs, LeftOver::Split, |i, input| {
            self.visit_image(i, input, &request, visit)
        })?;
        Ok(())
    }

    /// `work` on each image of a batch (its index, the image), the results in the batch's
    /// order. On the CPU the images run side by side, each whole on one thread of its own (a
    /// one-thread pool, so every kernel's parallel loop in `work` stays on it), as many at once
    /// as rayon has threads; an image left over (the batch not a multiple of the threads) runs
    /// as `left_over` says. On a GPU one after another. The first error stops the images not
    /// started yet and is returned.
    pub fn map_images<T: Send>(
        &self,
        inputs: &[InputImage],
        left_over: LeftOver,
        work: impl Fn(usize, &InputImage) -> Result<T, NetError> + Sync,
    ) -> Result<Vec<T>, NetError> {
        let pools = match self.device.backend {
            Backend::Cpu => self.image_threads.pools(),
            _ => &[],
        };
        let threads = pools.len().min(inputs.len());
        let apart = match (threads, left_over) {
            (0, _) | (1, LeftOver::Split) => 0,
            (_, LeftOver::OneThread) => inputs.len(),
            (t, LeftOver::Split) => inputs.len() - inputs.len() % t,
        };
        let mut out = map_apart(&inputs[..apart], &pools[..threads], &work)?;
        for (i, input) in inputs.iter().enumerate().skip(apart) {
            out.push(work(i, input)?);
        }
        Ok(out)
    }

    /// One pass over image `index` of a batch, its taps handed to `visit` in place.
    fn visit_image(
        &self,
        index: usize,
        input: &InputImage,
        request: &TapRequest,
        visit: LayerVisitor,
    ) -> Result<(), NetError> {
        let mut failed = None;
        let mut on_tap = |id: &str, t: &Tensor<4>| {
            if failed.is_some() {
                return;
            }
            let [_, c, h, w] = t.dims();
            match HostView::of(t) {
                Some(view) => visit(index, id, [c, h, w], view.values()),
                None => match read_back(id.to_string(), t.clone()) {
                    Ok(layer) => visit(index, id, [c, h, w], &layer.data),
                    Err(e) => failed = Some(e),
                },
            }
        };
        let x = self.input_tensor(input);
        self.model
            .forward_visiting(x, request, ReluRule::Standard, &mut on_tap);
        failed.map_or(Ok(()), Err)
    }

    /// One pass over the batch on its device, each tap read back after it and handed over
    /// image by image.
    fn visit_read_back(
        &self,
        inputs: &[InputImage],
        request: &TapRequest,
        visit: LayerVisitor,
    ) -> Result<(), NetError> {
        let x = self.batch_input(inputs);
        let taps = self.model.forward_taps(x, request, ReluRule::Standard);
        for (id, t) in taps.layers {
            let layer = read_back(id, t)?;
            let [_, c, h, w] = layer.shape;
            for (i, values) in layer.data.chunks_exact((c * h * w).max(1)).enumerate() {
                visit(i, &layer.id, [c, h, w], values);
            }
        }
        Ok(())
    }
}

/// How [`Network::map_images`] runs an image left over when a batch is not a multiple of the
/// threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeftOver {
    /// On the caller's thread, its kernels split over rayon's (no thread waits for another):
    /// for a forward pass, whose values are the same bits either way.
    Split,
    /// On one thread like the others, the rest waiting: every image then gives the same bits
    /// whatever batch it falls in and however many cores the machine has (the backward pass'
    /// sums differ, in their last bits, when its kernels are split).
    OneThread,
}

/// The one-thread pools a batch's images run on (a pool of one: every kernel's parallel loop
/// stays on its thread), as many as rayon has threads, made the first time a batch runs on the
/// CPU and kept with the network: no threads made and ended for every batch, and each thread's
/// allocator memory stays with it from one batch to the next.
#[derive(Debug, Default)]
pub(crate) struct ImageThreads(OnceLock<Vec<ThreadPool>>);

impl ImageThreads {
    /// The pools; fewer where threads could not be made. With none, every image runs on the
    /// caller's thread, split over rayon's pool (slower; a backward's last bits may differ).
    fn pools(&self) -> &[ThreadPool] {
        self.0.get_or_init(|| {
            (0..rayon::current_num_threads())
                .map_while(|i| {
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(1)
                        .thread_name(move |_| format!("featurescope-image-{i}"))
                        .build()
                        .ok()
                })
                .collect()
        })
    }
}

/// `work` on each of `inputs`, each whole on one of `pools` (one thread each), as many at once
/// as there are pools; the results in `inputs`' order.
fn map_apart<T: Send>(
    inputs: &[InputImage],
    pools: &[ThreadPool],
    work: &(impl Fn(usize, &InputImage) -> Result<T, NetError> + Sync),
) -> Result<Vec<T>, NetError> {
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(inputs.len()));
    let failed = Mutex::new(None);
    let run = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(input) = inputs.get(i) else {
                return;
            };
            match work(i, input) {
                Ok(value) => locked(&done).push((i, value)),
                Err(e) => {
                    locked(&failed).get_or_insert(e);
                    // The others stop at their next image.
                    next.store(inputs.len(), Ordering::Relaxed);
                    return;
                }
            }
        }
    };
    // Each pool's thread runs images while a thread of ours waits for it.
    std::thread::scope(|scope| {
        for pool in pools {
            scope.spawn(|| pool.install(run));
        }
    });
    if let Some(e) = into_inner(failed) {
        return Err(e);
    }
    let mut done = into_inner(done);
    done.sort_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, value)| value).collect())
}

/// What `m` holds, also after a panic elsewhere while it was held.
fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn into_inner<T>(m: Mutex<T>) -> T {
    m.into_inner().unwrap_or_else(PoisonError::into_inner)
}
