//! Weight importers, one file per format, each an [`Importer`] listed once in [`IMPORTERS`]
//! and mapping its file onto the same burn module: `tfjs.rs` (TF.js layers models, the
//! bundled default compiled into the binary: `bundled.rs`), `hdf5.rs` (Keras `.h5` and
//! `.keras`; both Keras formats and TF.js share `keras.rs`), `graphdef.rs` (TensorFlow
//! GraphDefs, TensorFlow for Poets' `.pb`), `onnx.rs`, `pytorch.rs` (torchvision `.pth` state
//! dicts) and `safetensors.rs` (both torchvision's layout through burn-store: `state_dict.rs`).
//! Class names follow one rule for every format (`labels.rs`: [`labels::for_head`]).

pub mod bundled;
pub mod graphdef;
pub mod hdf5;
pub mod keras;
pub mod labels;
pub mod onnx;
pub mod pytorch;
pub mod safetensors;
mod state_dict;
pub mod tfjs;

use std::path::{Path, PathBuf};

use burn::store::burn_pack::{Bytes, DType, Tensor as PackTensor};
use burn::store::{ApplyError, ApplyResult, ModuleSnapshot};
use burn::tensor::Device;

use crate::catalogue::Catalogue;
use crate::error::NetError;
use crate::model::{BN_EPSILON, HeadSpec, InceptionV3, Variant};
use crate::preprocess::Normalization;

/// A host tensor named by its burn module path.
#[derive(Clone, Debug)]
pub struct NamedTensor {
    /// Module path, e.g. `Mixed_5b.branch1x1.conv.weight`.
    pub name: String,
    /// Shape in burn layout.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// The weight file formats featurescope reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightsFormat {
    /// TensorFlow.js layers model: `model.json` + shards.
    TfjsLayers,
    /// PyTorch `torch.save` state dict (`.pth`, `.pt`).
    Pytorch,
    /// safetensors (timm, Hugging Face).
    Safetensors,
    /// Keras HDF5 (`model.save` / `save_weights`, Keras 2 and 3).
    KerasH5,
    /// Keras 3 archive (`.keras`: config + `model.weights.h5` in a zip).
    Keras,
    /// TensorFlow frozen GraphDef (`.pb`: TensorFlow for Poets' `retrained_graph.pb`).
    TfGraph,
    /// ONNX (`torch.onnx.export` of torchvision's `inception_v3`).
    Onnx,
}

impl WeightsFormat {
    /// Human-readable name.
    pub fn name(self) -> &'static str {
        match self {
            Self::TfjsLayers => "TF.js layers model",
            Self::Pytorch => "PyTorch state dict",
            Self::Safetensors => "safetensors",
            Self::KerasH5 => "Keras HDF5",
            Self::Keras => "Keras 3 archive",
            Self::TfGraph => "TensorFlow GraphDef",
            Self::Onnx => "ONNX",
        }
    }

    /// Which importer reads `path`: by its extension, else by a cheap look at its first bytes.
    pub fn detect(path: &Path) -> Result<Self, NetError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if let Some(importer) = IMPORTERS
            .iter()
            .find(|i| ext.as_deref().is_some_and(|e| i.extensions().contains(&e)))
        {
            return Ok(importer.format());
        }
        let mut head = [0u8; SNIFF_BYTES];
        let n = {
            use std::io::Read;
            let mut f = std::fs::File::open(path).map_err(|e| NetError::io(path, e))?;
            f.read(&mut head).map_err(|e| NetError::io(path, e))?
        };
        IMPORTERS
            .iter()
            .find(|i| i.sniff(&head[..n]))
            .map(|i| i.format())
            .ok_or_else(|| {
                NetError::bad_weights(
                    path,
                    format!(
                        "not a weight file featurescope knows ({})",
                        formats_described()
                    ),
                )
            })
    }
}

/// How many bytes of a file the importers' sniffs see.
pub const SNIFF_BYTES: usize = 64;

/// One weight-file format: its name, the files it claims, a cheap sniff of the first bytes,
/// and its import onto the burn module. A new format is one implementation plus one entry in
/// [`IMPORTERS`]; the file dialog's filter and the unknown-file error read that list.
pub trait Importer: Sync {
    /// The format.
    fn format(&self) -> WeightsFormat;
    /// Lower-case file extensions it claims.
    fn extensions(&self) -> &'static [&'static str];
    /// Whether the file's first [`SNIFF_BYTES`] bytes (or fewer, for a short file) look like
    /// this format.
    fn sniff(&self, head: &[u8]) -> bool;
    /// Read `path` onto a new model on `device`.
    fn load(&self, path: &Path, device: &Device) -> Result<(InceptionV3, WeightsInfo), NetError>;
}

/// Every weight format featurescope reads, in the order files are sniffed.
pub static IMPORTERS: &[&dyn Importer] = &[
    &tfjs::TfjsImporter,
    &hdf5::KerasH5Importer,
    &hdf5::KerasArchiveImporter,
    &pytorch::PytorchImporter,
    &safetensors::SafetensorsImporter,
    &graphdef::GraphDefImporter,
    &onnx::OnnxImporter,
];

/// Every extension some importer claims (the open-weights dialog's filter).
pub fn extensions() -> Vec<&'static str> {
    IMPORTERS
        .iter()
        .flat_map(|i| i.extensions().iter().copied())
        .collect()
}

/// The formats in words, for messages: `TF.js layers model (.json), …`.
pub fn formats_described() -> String {
    IMPORTERS
        .iter()
        .map(|i| format!("{} (.{})", i.format().name(), i.extensions().join(", .")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The classifier head a set of weights carries.
#[derive(Clone, Debug, PartialEq)]
pub struct HeadInfo {
    /// One label per class (empty when there is no head).
    pub labels: Vec<String>,
    /// What it is, in words.
    pub description: String,
    /// The file the class names came from (`None`: built in, or `class N`).
    pub labels_file: Option<PathBuf>,
}

/// Where weights come from: the model compiled into the binary, or a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WeightsSource {
    /// The bundled default model (`weights/inception_v3_nsfwjs`, inside the binary).
    Bundled,
    /// A weight file of any supported format (for TF.js, its `model.json`).
    File(PathBuf),
}

impl WeightsSource {
    /// The default: `$FEATURESCOPE_WEIGHTS` when set, else the bundled model.
    pub fn default_for_run() -> Self {
        match std::env::var_os("FEATURESCOPE_WEIGHTS") {
            Some(p) if !p.is_empty() => Self::File(PathBuf::from(p)),
            _ => Self::Bundled,
        }
    }

    /// `--weights PATH` if given, else [`WeightsSource::default_for_run`].
    pub fn from_arg(path: Option<PathBuf>) -> Self {
        path.map_or_else(Self::default_for_run, Self::File)
    }

    /// A short name for the UI: `bundled inception_v3_nsfwjs`, or the file's name.
    pub fn short_name(&self) -> String {
        match self {
            Self::Bundled => self.to_string(),
            Self::File(p) => p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
        }
    }
}

impl std::fmt::Display for WeightsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bundled => write!(f, "bundled {}", bundled::NAME),
            Self::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// What was loaded.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightsInfo {
    /// Where it came from.
    pub source: WeightsSource,
    /// Its format.
    pub format: WeightsFormat,
    /// Its head.
    pub head: HeadInfo,
    /// Average-pool semantics the weights were trained with.
    pub avg_pool_counts_padding: bool,
    /// Which Inception-V3 the file describes.
    pub variant: Variant,
    /// The pixel scaling the model was trained with.
    pub normalization: Normalization,
}

/// A model as an importer read it, before it becomes a burn module.
pub struct Imported {
    /// Tensors named by burn module path, in burn layout.
    pub tensors: Vec<NamedTensor>,
    /// The head the file carries.
    pub head: HeadSpec,
    /// What the head is, in words (`Keras dense head`, `final_training_ops`, …).
    pub head_kind: String,
    /// Average pools count padded zeros (torchvision) or not (Keras, TensorFlow).
    pub avg_pool_counts_padding: bool,
    /// Which Inception-V3.
    pub variant: Variant,
    /// The pixel scaling it wants.
    pub normalization: Normalization,
}

impl Imported {
    /// Keras / TF.js defaults: no counted padding, the standard network, `x / 127.5 − 1`.
    pub fn keras(tensors: Vec<NamedTensor>, head: HeadSpec) -> Self {
        Self {
            tensors,
            head,
            head_kind: "Keras dense head".into(),
            avg_pool_counts_padding: false,
            variant: Variant::Standard,
            normalization: Normalization::MinusOneToOne,
        }
    }
}

pub use labels::{NSFWJS_LABELS, imagenet_labels};

/// Load weights from a source onto `device`.
pub fn load_source(
    source: &WeightsSource,
    device: &Device,
) -> Result<(InceptionV3, WeightsInfo), NetError> {
    match source {
        WeightsSource::Bundled => tfjs::build_import(
            Path::new(bundled::LABEL),
            bundled::import()?,
            source,
            device,
        ),
        WeightsSource::File(path) => load(path, device),
    }
}

/// Load a weight file of any supported format onto `device`.
pub fn load(path: &Path, device: &Device) -> Result<(InceptionV3, WeightsInfo), NetError> {
    let format = WeightsFormat::detect(path)?;
    match IMPORTERS.iter().find(|i| i.format() == format) {
        Some(importer) => importer.load(path, device),
        None => Err(NetError::bad_weights(path, "no importer for this format")),
    }
}

/// Read a whole weight file, refusing a folder and anything larger than any Inception-V3
/// ([`tfjs::MAX_WEIGHT_BYTES`]) before reading it.
pub(crate) fn read_capped(path: &Path) -> Result<Vec<u8>, NetError> {
    let meta = std::fs::metadata(path).map_err(|e| NetError::io(path, e))?;
    if !meta.is_file() {
        return Err(NetError::bad_weights(path, "not a file"));
    }
    if meta.len() > tfjs::MAX_WEIGHT_BYTES as u64 {
        return Err(NetError::bad_weights(
            path,
            format!(
                "{} MiB is larger than any Inception-V3 ({} MiB at most)",
                meta.len() >> 20,
                tfjs::MAX_WEIGHT_BYTES >> 20
            ),
        ));
    }
    std::fs::read(path).map_err(|e| NetError::io(path, e))
}

/// The element count of a shape a file claims, or `None` when it overflows or exceeds what
/// any weight file featurescope reads can hold: checked before anything is allocated.
pub(crate) fn element_count(shape: &[usize]) -> Option<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= tfjs::MAX_WEIGHT_BYTES / 4)
}

/// Little-endian float32 values.
pub(crate) fn f32_le(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// The number of classes a head ends in (0 without a head).
pub(crate) fn class_count(head: &HeadSpec) -> usize {
    match head {
        HeadSpec::None => 0,
        HeadSpec::Fc { classes } => *classes,
        HeadSpec::Dense(layers) => layers.last().map_or(0, |l| l.0),
    }
}

/// Fold the model's pixel scaling into the first conv: it sees `scale * v + offset` for the
/// network's input `v`; with `W' = scale * W` and the BatchNorm mean moved by `offset * ΣW`
/// per output channel, the conv on `v` equals the original on the scaled input. Exact because
/// `Conv2d_1a_3x3` has no padding.
fn fold_normalization(
    path: &Path,
    tensors: &mut [NamedTensor],
    norm: Normalization,
) -> Result<(), NetError> {
    let (scale, offset) = norm.affine();
    if (scale, offset) == (1.0, 0.0) {
        return Ok(());
    }
    let find = |tensors: &[NamedTensor], name: &str| tensors.iter().position(|t| t.name == name);
    let (Some(w), Some(m)) = (
        find(tensors, "Conv2d_1a_3x3.conv.weight"),
        find(tensors, "Conv2d_1a_3x3.bn.running_mean"),
    ) else {
        return Err(NetError::MissingTensor {
            path: path.to_path_buf(),
            tensor: "Conv2d_1a_3x3.conv.weight".into(),
        });
    };
    let out = tensors[m].data.len();
    let per = tensors[w].data.len() / out.max(1);
    let sums: Vec<f64> = tensors[w]
        .data
        .chunks(per.max(1))
        .map(|c| c.iter().map(|&v| f64::from(v)).sum())
        .collect();
    for v in &mut tensors[w].data {
        *v *= scale;
    }
    for (mean, sum) in tensors[m].data.iter_mut().zip(sums) {
        *mean = (f64::from(*mean) - f64::from(offset) * sum) as f32;
    }
    Ok(())
}

/// A conv whose BatchNorm was folded into its weights and a bias, as the BatchNorm that adds
/// the bias and does nothing else (mean 0, variance `1 − eps`, gamma 1).
pub fn folded_bn(id: &str, bias: Vec<f32>) -> Vec<NamedTensor> {
    let n = bias.len();
    let t = |p: &str, data: Vec<f32>| NamedTensor {
        name: format!("{id}.bn.{p}"),
        shape: vec![n],
        data,
    };
    vec![
        t("gamma", vec![1.0; n]),
        t("beta", bias),
        t("running_mean", vec![0.0; n]),
        t("running_var", vec![(1.0 - BN_EPSILON) as f32; n]),
    ]
}

/// Build the burn module from imported tensors: apply them (shapes checked, nothing missing,
/// nothing left over), refuse NaN/Inf, find the class names.
pub(crate) fn build(
    path: &Path,
    source: &WeightsSource,
    format: WeightsFormat,
    mut imported: Imported,
    device: &Device,
) -> Result<(InceptionV3, WeightsInfo), NetError> {
    fold_normalization(path, &mut imported.tensors, imported.normalization)?;
    let mut model = InceptionV3::new(&imported.head, imported.avg_pool_counts_padding, device)
        .with_variant(imported.variant);
    let tensors = std::mem::take(&mut imported.tensors)
        .into_iter()
        .map(|t| PackTensor::new(t.name, DType::F32, t.shape, None, Bytes::from_elems(t.data)))
        .collect();
    let result = model.apply(tensors, None, None, false);
    check_result(path, &result, |_| false)?;
    check_finite(path, &model)?;
    let names = labels::for_head(source, format, class_count(&imported.head));
    let info = weights_info(source, format, &imported, names);
    Ok((model, info))
}

/// What was loaded, in words: source, format, head (with its class names and the file they
/// came from) and the semantics the model runs with.
pub(crate) fn weights_info(
    source: &WeightsSource,
    format: WeightsFormat,
    imported: &Imported,
    (labels, labels_file): (Vec<String>, Option<PathBuf>),
) -> WeightsInfo {
    let classes = class_count(&imported.head);
    let description = match &imported.head {
        HeadSpec::None => "no head".to_string(),
        HeadSpec::Dense(l) if l.len() > 1 => {
            format!(
                "{} ({} layers, {classes} classes)",
                imported.head_kind,
                l.len()
            )
        }
        _ => format!("{} ({classes} classes)", imported.head_kind),
    };
    WeightsInfo {
        source: source.clone(),
        format,
        head: HeadInfo {
            labels,
            description,
            labels_file,
        },
        avg_pool_counts_padding: imported.avg_pool_counts_padding,
        variant: imported.variant,
        normalization: imported.normalization,
    }
}

/// Refuse weights holding NaN or infinite values, naming the first such tensor: they would
/// show as blank or saturated maps that look like the network's own doing.
pub(crate) fn check_finite(path: &Path, model: &InceptionV3) -> Result<(), NetError> {
    for tensor in model.collect(None, None, false) {
        if tensor.dtype != DType::F32 {
            continue;
        }
        let bytes = tensor
            .to_bytes()
            .map_err(|e| NetError::bad_weights(path, format!("tensor `{}`: {e}", tensor.name)))?;
        let non_finite = bytes
            .chunks_exact(4)
            .filter(|c| !f32::from_le_bytes([c[0], c[1], c[2], c[3]]).is_finite())
            .count();
        if non_finite > 0 {
            return Err(NetError::bad_weights(
                path,
                format!(
                    "tensor `{}` holds {non_finite} NaN or infinite values",
                    tensor.name
                ),
            ));
        }
    }
    Ok(())
}

/// Turn an apply result into the first error it holds, naming the tensor.
pub(crate) fn check_result(
    path: &Path,
    result: &ApplyResult,
    expected_unused: impl Fn(&str) -> bool,
) -> Result<(), NetError> {
    if let Some(err) = result.errors.first() {
        return Err(match err {
            ApplyError::ShapeMismatch {
                path: tensor,
                expected,
                found,
            } => NetError::TensorShape {
                path: path.to_path_buf(),
                tensor: tensor.clone(),
                expected: expected.to_vec(),
                found: found.to_vec(),
            },
            other => NetError::bad_weights(path, other.to_string()),
        });
    }
    if let Some((tensor, _)) = result.missing.first() {
        return Err(NetError::MissingTensor {
            path: path.to_path_buf(),
            tensor: tensor.clone(),
        });
    }
    if let Some(extra) = result.unused.iter().find(|k| !expected_unused(k)) {
        return Err(NetError::bad_weights(
            path,
            format!("tensor `{extra}` is not part of Inception-V3 (wrong architecture?)"),
        ));
    }
    if result.applied.is_empty() {
        return Err(NetError::bad_weights(
            path,
            "no Inception-V3 tensor in the file",
        ));
    }
    let _ = Catalogue::inception_v3();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DenseActivation;

    /// The bundled trunk (no head), under burn's names.
    fn trunk() -> Vec<NamedTensor> {
        let import = bundled::import().expect("the bundled model imports");
        let trunk = import.tensors.into_iter();
        trunk
            .filter(|t| !t.name.starts_with("dense_head"))
            .collect()
    }

    fn tensor(name: &str, shape: Vec<usize>) -> NamedTensor {
        let n = shape.iter().product();
        NamedTensor {
            name: name.into(),
            shape,
            data: vec![0.01; n],
        }
    }

    /// `tensors` (burn's names) with an `fc` of `classes` as a torchvision state dict.
    fn torchvision_safetensors(path: &Path, tensors: &[NamedTensor], classes: usize) {
        let mut dict: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
            .iter()
            .map(|t| {
                let name = t
                    .name
                    .replace(".gamma", ".weight")
                    .replace(".beta", ".bias");
                let bytes = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
                (name, t.shape.clone(), bytes)
            })
            .collect();
        for t in [
            tensor("fc.weight", vec![classes, 2048]),
            tensor("fc.bias", vec![classes]),
        ] {
            let bytes = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
            dict.push((t.name, t.shape, bytes));
        }
        let views = dict.iter().map(|(name, shape, bytes)| {
            let view = ::safetensors::tensor::TensorView::new(
                ::safetensors::Dtype::F32,
                shape.clone(),
                bytes,
            );
            (name.clone(), view.expect("a valid tensor view"))
        });
        let bytes = ::safetensors::serialize(views, None).expect("serialized");
        std::fs::write(path, bytes).expect("write");
    }

    /// `got` equals `expected`, printed in brief when it does not.
    fn same_names(got: &[String], expected: &[String], what: &str) {
        assert!(
            got == expected,
            "{what}: {} names {:?}…, expected {} names {:?}…",
            got.len(),
            &got[..got.len().min(3)],
            expected.len(),
            &expected[..expected.len().min(3)]
        );
    }

    /// One rule names a head's classes, whatever the file's format: 1000 classes are
    /// ImageNet's (Keras' and torchvision's share one order), TF-slim's 1001 put "background"
    /// first, other counts are numbered. Issue 18: a 1000-class torchvision head got
    /// ImageNet's names, a Keras or ONNX one did not.
    #[test]
    fn every_format_names_a_head_of_1000_or_1001_classes_alike() {
        let device = crate::device::select(crate::BackendChoice::Cpu).expect("the CPU");
        let device = device.device;
        let dir = tempfile::tempdir().expect("temporary folder");
        let trunk = trunk();
        let imagenet = imagenet_labels();
        assert_eq!((imagenet.len(), imagenet[0].as_str()), (1000, "tench"));
        for classes in [1000, 1001, 3] {
            let expected: Vec<String> = match classes {
                1000 => imagenet.clone(),
                1001 => std::iter::once("background".to_string())
                    .chain(imagenet.iter().cloned())
                    .collect(),
                n => (0..n).map(|i| format!("class {i}")).collect(),
            };
            let mut keras = trunk.clone();
            keras.push(tensor("dense_head.layers.0.weight", vec![2048, classes]));
            keras.push(tensor("dense_head.layers.0.bias", vec![classes]));
            let head = HeadSpec::Dense(vec![(classes, DenseActivation::Softmax)]);
            let h5 = dir.path().join(format!("keras_{classes}.h5"));
            let source = WeightsSource::File(h5.clone());
            let keras = Imported::keras(keras, head);
            let (_, info) = build(&h5, &source, WeightsFormat::KerasH5, keras, &device)
                .expect("a Keras model with a dense head");
            same_names(
                &info.head.labels,
                &expected,
                &format!("Keras .h5, {classes} classes"),
            );

            let mut onnx = trunk.clone();
            onnx.push(tensor("fc.weight", vec![2048, classes]));
            onnx.push(tensor("fc.bias", vec![classes]));
            let onnx = Imported {
                tensors: onnx,
                head: HeadSpec::Fc { classes },
                head_kind: "torchvision fc".into(),
                avg_pool_counts_padding: true,
                variant: Variant::Standard,
                normalization: Normalization::MinusOneToOne,
            };
            let path = dir.path().join(format!("torchvision_{classes}.onnx"));
            let source = WeightsSource::File(path.clone());
            let (_, info) = build(&path, &source, WeightsFormat::Onnx, onnx, &device)
                .expect("an ONNX model with torchvision's fc");
            same_names(
                &info.head.labels,
                &expected,
                &format!("ONNX, {classes} classes"),
            );

            let st = dir
                .path()
                .join(format!("torchvision_{classes}.safetensors"));
            torchvision_safetensors(&st, &trunk, classes);
            let (_, info) = load(&st, &device).expect("a torchvision state dict");
            assert_eq!(info.format, WeightsFormat::Safetensors);
            same_names(
                &info.head.labels,
                &expected,
                &format!("safetensors, {classes} classes"),
            );
        }
    }

    #[test]
    fn every_importer_is_found_by_its_extensions_and_its_first_bytes() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let keras: &[u8] =
            b"PK\x03\x04\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0metadata.json";
        let heads: [(WeightsFormat, &[u8]); 7] = [
            (WeightsFormat::TfjsLayers, b"{\"modelTopology\": {}}"),
            (WeightsFormat::Pytorch, b"PK\x03\x04 archive/data.pkl"),
            (WeightsFormat::Safetensors, b"\x10\0\0\0\0\0\0\0{\"a\":{}}"),
            (WeightsFormat::KerasH5, b"\x89HDF\r\n\x1a\n\0\0\0\0"),
            (WeightsFormat::Keras, keras),
            (WeightsFormat::TfGraph, b"\x0a\x0b\x0a\x09DecodeJpeg"),
            (WeightsFormat::Onnx, b"\x08\x08\x12\x07pytorch"),
        ];
        for (format, head) in heads {
            let importer = IMPORTERS.iter().find(|i| i.format() == format);
            let importer = importer.expect("an importer per format");
            for ext in importer.extensions() {
                let p = dir.path().join(format!("w.{ext}"));
                std::fs::write(&p, b"").expect("write");
                assert_eq!(WeightsFormat::detect(&p).ok(), Some(format), "{ext}");
            }
            let p = dir.path().join(format!("{}-no-extension", format.name()));
            std::fs::write(&p, head).expect("write");
            assert_eq!(WeightsFormat::detect(&p).ok(), Some(format));
        }
        assert_eq!(extensions().len(), 10);
        let p = dir.path().join("notes");
        std::fs::write(&p, b"hello").expect("write");
        let err = WeightsFormat::detect(&p).err().map(|e| e.to_string());
        let err = err.unwrap_or_default();
        for i in IMPORTERS {
            assert!(err.contains(i.format().name()), "{err}");
        }
    }
}
