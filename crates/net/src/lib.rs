//! featurescope's network: a burn Inception-V3 that returns every layer's feature maps from one
//! forward pass, weight importers (TF.js layers, torchvision `.pth`, `.safetensors`), the typed
//! layer catalogue, image preprocessing and backend selection. Depends on burn only (no UI).

pub mod catalogue;
pub mod device;
pub mod error;
pub mod model;
pub mod preprocess;
pub mod taps;
pub mod weights;

use std::path::{Path, PathBuf};

use burn::tensor::activation::softmax;
use burn::tensor::{Tensor, TensorData};

pub use catalogue::{Catalogue, LayerInfo, LayerKind};
pub use device::{BackendChoice, ComputeDevice};
pub use error::NetError;
pub use preprocess::InputImage;
pub use taps::{DeviceTaps, ReluRule, TapRequest};
pub use weights::{WeightsFormat, WeightsInfo};

use crate::catalogue::INPUT_SIZE;
use crate::model::InceptionV3;

/// Where the bundled default weights live, relative to the repository root.
pub const DEFAULT_WEIGHTS: &str = "weights/inception_v3_nsfwjs/model.json";

/// Find the bundled weights: `$FEATURESCOPE_WEIGHTS`, then next to the executable
/// (`weights/…`, `../share/featurescope/weights/…`), then `$XDG_DATA_HOME/featurescope/weights/…`
/// (`~/.local/share/…`), then the source checkout.
pub fn default_weights_path() -> PathBuf {
    if let Some(p) = std::env::var_os("FEATURESCOPE_WEIGHTS") {
        return PathBuf::from(p);
    }
    let rel = Path::new(DEFAULT_WEIGHTS);
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        candidates.push(dir.join(rel));
        candidates.push(dir.join("../share/featurescope").join(rel));
    }
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    if let Some(data) = data_home {
        candidates.push(data.join("featurescope").join(rel));
    }
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    candidates.push(checkout.clone());
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .and_then(|p| p.canonicalize().ok())
        .unwrap_or(checkout)
}

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

fn to_f32(data: TensorData) -> Result<Vec<f32>, NetError> {
    data.convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| NetError::Device(format!("tensor data: {e:?}")))
}

impl Network {
    /// Load weights of any supported format onto a device.
    pub fn load(path: &Path, device: ComputeDevice) -> Result<Self, NetError> {
        let (model, weights) = weights::load(path, &device.device)?;
        Ok(Self {
            model,
            device,
            weights,
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

    /// Run one pass; the taps stay on the device.
    pub fn run_on_device(&self, input: &InputImage, request: &TapRequest) -> DeviceTaps {
        let x = self.input_tensor(input);
        let request = if self.model.has_head() {
            request.clone()
        } else {
            request.clone().with_head(false)
        };
        self.model.forward_taps(x, &request, ReluRule::Standard)
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
            Some(logits) => {
                let probs = softmax(logits.clone(), 1);
                let logits = to_f32(
                    logits
                        .try_into_data()
                        .map_err(|e| NetError::Device(format!("reading logits: {e:?}")))?,
                )?;
                let probabilities = to_f32(
                    probs
                        .try_into_data()
                        .map_err(|e| NetError::Device(format!("reading probabilities: {e:?}")))?,
                )?;
                Some(HeadOutput {
                    logits,
                    probabilities,
                    labels: self.weights.head.labels.clone(),
                })
            }
            None => None,
        };
        Ok(Activations {
            layers,
            pre_relu,
            head,
        })
    }
}
