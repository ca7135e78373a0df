//! featurescope's network: a burn Inception-V3 that returns every layer's feature maps from one
//! forward pass, weight importers (TF.js layers, torchvision `.pth`, `.safetensors`), the typed
//! layer catalogue, image preprocessing and backend selection. Depends on burn only (no UI).

pub mod attribution;
mod batch;
pub mod catalogue;
pub mod device;
pub mod device_buffer;
pub mod error;
pub mod fuzzing;
pub mod geometry;
pub mod memory;
pub mod model;
pub mod preprocess;
pub mod taps;
pub mod weights;

use std::path::Path;

use burn::module::Module;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};

pub use catalogue::{Catalogue, LayerInfo, LayerKind};
pub use device::{Backend, BackendChoice, ComputeDevice};
pub use error::NetError;
pub use preprocess::InputImage;
pub use taps::{DeviceTaps, ReluRule, TapRequest};
pub use weights::{WeightsFormat, WeightsInfo, WeightsSource};

use crate::catalogue::INPUT_SIZE;
use crate::model::InceptionV3;

/// Where the bundled default weights live in the source tree, relative to the repository root.
/// The binary does not read them from there: `build.rs` compiles them in
/// ([`WeightsSource::Bundled`]).
pub const DEFAULT_WEIGHTS: &str = "weights/inception_v3_nsfwjs/model.json";

pub use batch::{LayerVisitor, LeftOver};

/// One layer's values on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerData {
    /// torchvision id.
    pub id: String,
    /// NCHW shape.
    pub shape: [usize; 4],
    /// Row-major values.
    pub data: Vec<f32>,
}

/// The head's output on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct HeadOutput {
    /// Raw scores before softmax.
    pub logits: Vec<f32>,
    /// Softmax probabilities.
    pub probabilities: Vec<f32>,
    /// One label per class.
    pub labels: Vec<String>,
}

impl HeadOutput {
    /// The `k` most probable classes: (class index, label, probability), best first.
    pub fn top_k(&self, k: usize) -> Vec<(usize, String, f32)> {
        let mut idx: Vec<usize> = (0..self.probabilities.len()).collect();
        idx.sort_by(|&a, &b| self.probabilities[b].total_cmp(&self.probabilities[a]));
        idx.into_iter()
            .take(k)
            .map(|i| {
                let label = self
                    .labels
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("class {i}"));
                (i, label, self.probabilities[i])
            })
            .collect()
    }
}

/// Everything one pass produced, on the host.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Activations {
    /// Post-activation taps, in execution order.
    pub layers: Vec<LayerData>,
    /// Pre-ReLU taps of convs.
    pub pre_relu: Vec<LayerData>,
    /// The head's output, when the weights have a head and it was asked for.
    pub head: Option<HeadOutput>,
}

impl Activations {
    /// The tap with this torchvision id.
    pub fn get(&self, id: &str) -> Option<&LayerData> {
        self.layers.iter().find(|l| l.id == id)
    }

    /// The pre-ReLU tap with this id.
    pub fn get_pre_relu(&self, id: &str) -> Option<&LayerData> {
        self.pre_relu.iter().find(|l| l.id == id)
    }
}

/// A loaded network on a device.
#[derive(Debug)]
pub struct Network {
    model: InceptionV3,
    device: ComputeDevice,
    weights: WeightsInfo,
    /// Where a batch's images run on the CPU ([`Network::map_images`], which
    /// [`Network::visit_batch_layers`] runs on).
    image_threads: batch::ImageThreads,
}

fn read_back(id: String, t: Tensor<4>) -> Result<LayerData, NetError> {
    let dims = t.dims();
    let data = t
        .try_into_data()
        .map_err(|e| NetError::Device(format!("reading `{id}` back: {e:?}")))?;
    Ok(LayerData {
        id,
        shape: dims,
        data: to_f32(data)?,
    })
}

/// Split an `[N, C, H, W]` tap into N `[1, C, H, W]` ones.
fn split_batch(layer: LayerData) -> Vec<LayerData> {
    let [n, c, h, w] = layer.shape;
    let per = c * h * w;
    (0..n)
        .map(|i| LayerData {
            id: layer.id.clone(),
            shape: [1, c, h, w],
            data: layer.data[i * per..(i + 1) * per].to_vec(),
        })
        .collect()
}

fn to_f32(data: TensorData) -> Result<Vec<f32>, NetError> {
    data.convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| NetError::Device(format!("tensor data: {e:?}")))
}

impl Network {
    /// Load weights of any supported format onto a device.
    pub fn load(path: &Path, device: ComputeDevice) -> Result<Self, NetError> {
        Self::load_source(&WeightsSource::File(path.to_path_buf()), device)
    }

    /// Load the bundled model or a weight file onto a device.
    pub fn load_source(source: &WeightsSource, device: ComputeDevice) -> Result<Self, NetError> {
        let (model, weights) = weights::load_source(source, &device.device)?;
        // Inference only: BatchNorm uses its running statistics and no parameter tracks a
        // gradient, also on an autodiff device (where input gradients are taken).
        // BatchNorm folded into the convs: one conv with a bias per layer (docs/PERFORMANCE.md).
        let model = model.freeze().fold_batch_norms();
        Ok(Self {
            model,
            device,
            weights,
            image_threads: Default::default(),
        })
    }

    /// The weights' description.
    pub fn weights(&self) -> &WeightsInfo {
        &self.weights
    }

    /// The device the network runs on.
    pub fn device(&self) -> &ComputeDevice {
        &self.device
    }

    /// The burn model.
    pub fn model(&self) -> &InceptionV3 {
        &self.model
    }

    fn input_tensor(&self, input: &InputImage) -> Tensor<4> {
        let data = TensorData::new(input.tensor.clone(), [1, 3, INPUT_SIZE, INPUT_SIZE]);
        Tensor::from_data(data, &self.device.device)
    }

    /// `request`, without the head when these weights have none.
    fn request_for(&self, request: &TapRequest) -> TapRequest {
        if self.model.has_head() {
            request.clone()
        } else {
            request.clone().with_head(false)
        }
    }

    /// Run one pass; the taps stay on the device.
    pub fn run_on_device(&self, input: &InputImage, request: &TapRequest) -> DeviceTaps {
        let x = self.input_tensor(input);
        self.model
            .forward_taps(x, &self.request_for(request), ReluRule::Standard)
    }

    /// Run one pass over a batch of images (one dispatch per layer for all of them: what a GPU
    /// wants) and read the requested taps back, split per image. Equals [`Network::run`] on
    /// each image.
    pub fn run_batch(
        &self,
        inputs: &[InputImage],
        request: &TapRequest,
    ) -> Result<Vec<Activations>, NetError> {
        let n = inputs.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let taps = self.batch_taps(inputs, request);
        let mut out = vec![Activations::default(); n];
        for (id, t) in taps.layers {
            for (acts, layer) in out.iter_mut().zip(split_batch(read_back(id, t)?)) {
                acts.layers.push(layer);
            }
        }
        for (id, t) in taps.pre_relu {
            for (acts, layer) in out.iter_mut().zip(split_batch(read_back(id, t)?)) {
                acts.pre_relu.push(layer);
            }
        }
        if let Some(logits) = taps.logits {
            let heads = self.head_output(logits)?;
            for (acts, head) in out.iter_mut().zip(heads) {
                acts.head = Some(head);
            }
        }
        Ok(out)
    }

    /// One recorded pass over a (non-empty) batch.
    fn batch_taps(&self, inputs: &[InputImage], request: &TapRequest) -> DeviceTaps {
        let x = self.batch_input(inputs);
        self.model
            .forward_taps(x, &self.request_for(request), ReluRule::Standard)
    }

    /// A (non-empty) batch's inputs as one `[N, 3, H, W]` tensor on this network's device.
    fn batch_input(&self, inputs: &[InputImage]) -> Tensor<4> {
        let n = inputs.len();
        let mut data = Vec::with_capacity(n * 3 * INPUT_SIZE * INPUT_SIZE);
        for input in inputs {
            data.extend_from_slice(&input.tensor);
        }
        Tensor::from_data(
            TensorData::new(data, [n, 3, INPUT_SIZE, INPUT_SIZE]),
            &self.device.device,
        )
    }

    /// Softmax and read back a `[N, classes]` head output, one [`HeadOutput`] per image.
    fn head_output(&self, logits: Tensor<2>) -> Result<Vec<HeadOutput>, NetError> {
        let [n, classes] = logits.dims();
        let probs = softmax(logits.clone(), 1);
        let read = |t: Tensor<2>, what: &str| -> Result<Vec<f32>, NetError> {
            to_f32(
                t.try_into_data()
                    .map_err(|e| NetError::Device(format!("reading {what}: {e:?}")))?,
            )
        };
        let logits = read(logits, "logits")?;
        let probabilities = read(probs, "probabilities")?;
        Ok((0..n)
            .map(|i| HeadOutput {
                logits: logits[i * classes..(i + 1) * classes].to_vec(),
                probabilities: probabilities[i * classes..(i + 1) * classes].to_vec(),
                labels: self.weights.head.labels.clone(),
            })
            .collect())
    }

    /// Explain `target` on `input` with one attribution method, on this network's device.
    /// `progress` gets `(done, total)` and returns `false` to cancel.
    pub fn attribute(
        &self,
        input: &InputImage,
        target: &attribution::Target,
        method: attribution::Method,
        options: &attribution::Options,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<attribution::Attribution, NetError> {
        let mut job = self.job(input, target, options, progress);
        method.implementation().compute(&mut job)
    }

    /// The context an attribution method runs in, on this network.
    pub fn job<'a>(
        &'a self,
        input: &'a InputImage,
        target: &'a attribution::Target,
        options: &'a attribution::Options,
        progress: &'a mut dyn FnMut(usize, usize) -> bool,
    ) -> attribution::Job<'a> {
        attribution::Job {
            model: &self.model,
            device: &self.device.device,
            image: input,
            target,
            options,
            progress,
            pass: None,
        }
    }

    /// The baseline `featurescope bench --compare-plain` times this network against: the same
    /// weights on the same device, run as a plain burn Inception-V3 would run them (burn's
    /// `Conv2d` then `BatchNorm` modules, burn's pools, no kernel of our own), with no tap
    /// recorded and only
    /// the head's output (or, without a head, the 2048 pooled features) read back.
    pub fn plain_baseline(&self) -> PlainBaseline {
        PlainBaseline {
            model: self.model.clone().plain(),
            device: self.device.device.clone(),
        }
    }

    /// Run one pass and read every requested tap back to host memory.
    pub fn run(&self, input: &InputImage, request: &TapRequest) -> Result<Activations, NetError> {
        self.run_with_progress(input, request, &mut |_, _| {})
    }

    /// [`Network::run`], reporting `(taps read back, taps in all)` as the readback proceeds
    /// (on a GPU the pass itself completes while the first taps are read).
    pub fn run_with_progress(
        &self,
        input: &InputImage,
        request: &TapRequest,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Activations, NetError> {
        let taps = self.run_on_device(input, request);
        let total = taps.layers.len() + taps.pre_relu.len();
        let mut done = 0;
        progress(done, total);
        let mut read = |list: Vec<(String, Tensor<4>)>| -> Result<Vec<LayerData>, NetError> {
            list.into_iter()
                .map(|(id, t)| {
                    let l = read_back(id, t);
                    done += 1;
                    progress(done, total);
                    l
                })
                .collect()
        };
        let layers = read(taps.layers)?;
        let pre_relu = read(taps.pre_relu)?;
        let head = match taps.logits {
            Some(logits) => self.head_output(logits)?.into_iter().next(),
            None => None,
        };
        Ok(Activations {
            layers,
            pre_relu,
            head,
        })
    }

    /// Run one pass, read the head's output back and keep every tap on the device, to be read
    /// back one layer at a time ([`ResidentTaps::read`]): what a viewer that shows one layer
    /// of a GPU pass wants.
    pub fn run_resident(
        &self,
        input: &InputImage,
        request: &TapRequest,
    ) -> Result<ResidentTaps, NetError> {
        let taps = self.run_on_device(input, request);
        let head = match taps.logits {
            Some(logits) => self.head_output(logits)?.into_iter().next(),
            None => None,
        };
        Ok(ResidentTaps {
            layers: taps.layers,
            head,
        })
    }
}

/// One pass's taps kept on its device, with the head's output already on the host: see
/// [`Network::run_resident`]. Dropping it frees the device memory.
#[derive(Debug)]
pub struct ResidentTaps {
    layers: Vec<(String, Tensor<4>)>,
    /// The head's output, when the weights have a head and it was asked for.
    pub head: Option<HeadOutput>,
}

impl ResidentTaps {
    /// The ids of the post-activation taps, in execution order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.layers.iter().map(|(id, _)| id.as_str())
    }

    /// Post-activation tap `id` where it lies, with its id.
    pub(crate) fn tap(&self, id: &str) -> Result<&(String, Tensor<4>), NetError> {
        self.layers
            .iter()
            .find(|(l, _)| l == id)
            .ok_or_else(|| NetError::UnknownLayer(id.to_string()))
    }

    /// Read one post-activation tap back to the host (the tap stays on the device).
    pub fn read(&self, id: &str) -> Result<LayerData, NetError> {
        let (id, t) = self.tap(id)?;
        read_back(id.clone(), t.clone())
    }

    /// Activations holding the head and the taps named in `ids` (read back now).
    pub fn read_some(&self, ids: &[&str]) -> Result<Activations, NetError> {
        Ok(Activations {
            layers: ids
                .iter()
                .map(|id| self.read(id))
                .collect::<Result<_, _>>()?,
            pre_relu: Vec::new(),
            head: self.head.clone(),
        })
    }
}

/// A plain burn forward of a network's weights: see [`Network::plain_baseline`].
#[derive(Debug)]
pub struct PlainBaseline {
    model: InceptionV3,
    device: Device,
}

impl PlainBaseline {
    /// One forward pass; returns the values read back (class probabilities, or the pooled
    /// features of a model without a head).
    pub fn run(&self, input: &InputImage) -> Result<Vec<f32>, NetError> {
        let data = TensorData::new(input.tensor.clone(), [1, 3, INPUT_SIZE, INPUT_SIZE]);
        let x = Tensor::from_data(data, &self.device);
        let out: Tensor<2> = if self.model.has_head() {
            let taps = self
                .model
                .forward_taps(x, &TapRequest::head_only(), ReluRule::Standard);
            match taps.logits {
                Some(logits) => softmax(logits, 1),
                None => return Err(NetError::Device("the head gave no output".into())),
            }
        } else {
            let request = TapRequest::layers(["avgpool"])?;
            let taps = self.model.forward_taps(x, &request, ReluRule::Standard);
            match taps.layers.into_iter().next() {
                Some((_, pooled)) => pooled.flatten(1, 3),
                None => return Err(NetError::Device("no pooled features".into())),
            }
        };
        to_f32(
            out.try_into_data()
                .map_err(|e| NetError::Device(format!("reading the output back: {e:?}")))?,
        )
    }
}
