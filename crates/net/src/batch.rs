//! A batch's taps handed over as the pass computes them, not kept
//! ([`Network::visit_batch_layers`]: what the folder commands reduce).
//!
//! On the CPU a batch runs *image by image*, as many images at once as rayon has threads, each
//! whole on one thread (a one-thread pool, so every kernel's parallel loop stays on it): no
//! fork and join per kernel, no thread waiting for the other at the end of each layer, and each
//! image's layers stay in that core's cache from one layer to the next and while the visitor
//! reads them. A pass over one image splits each kernel over the threads instead (what a single
//! image wants: its latency); a batch buys throughput. On a GPU the batch is one pass (one
//! dispatch per layer for all the images), its taps read back one at a time after it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

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
    /// the network needs next), the images run whole, one per thread; on a GPU after the
    /// batch's pass, read back one at a time. The values equal [`Network::run_batch`]'s, bit for
    /// bit.
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
        // Whole images one per thread while every thread gets one; an image left over runs
        // split over all of them (else one thread would wait for the other).
        let pools = self.image_threads.pools();
        let threads = pools.len().min(inputs.len());
        let apart = match threads {
            0 | 1 => 0,
            t => inputs.len() - inputs.len() % t,
        };
        self.visit_images_apart(&inputs[..apart], &pools[..threads], &request, visit)?;
        for (i, input) in inputs.iter().enumerate().skip(apart) {
            self.visit_image(i, input, &request, visit)?;
        }
        Ok(())
    }

    /// `inputs`, each whole on one of `pools` (one thread each), as many at once as there are
    /// pools.
    fn visit_images_apart(
        &self,
        inputs: &[InputImage],
        pools: &[ThreadPool],
        request: &TapRequest,
        visit: LayerVisitor,
    ) -> Result<(), NetError> {
        let next = AtomicUsize::new(0);
        let failed = Mutex::new(None);
        let run = || {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(input) = inputs.get(i) else {
                    return;
                };
                if let Err(e) = self.visit_image(i, input, request, visit) {
                    failed
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .get_or_insert(e);
                    // The others stop at their next image.
                    next.store(inputs.len(), Ordering::Relaxed);
                    return;
                }
            }
        };
        // Each pool's thread runs images while a thread of ours waits for it.
        std::thread::scope(|scope| {
            for pool in pools {
                scope.spawn(|| pool.install(run));
            }
        });
        failed
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .map_or(Ok(()), Err)
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

/// The one-thread pools a batch's images run on (a pool of one: every kernel's parallel loop
/// stays on its thread), as many as rayon has threads, made the first time a batch runs on the
/// CPU and kept with the network: no threads made and ended for every batch, and each thread's
/// allocator memory stays with it from one batch to the next.
#[derive(Debug, Default)]
pub(crate) struct ImageThreads(OnceLock<Vec<ThreadPool>>);

impl ImageThreads {
    /// The pools; fewer (none) where threads could not be made: the images left over then run
    /// split over rayon's pool, the same values, only slower.
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
