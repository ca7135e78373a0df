//! Weight importers, one per format, each mapping its file onto the same burn module:
//! TF.js layers models (the bundled default, compiled into the binary), torchvision `.pth`
//! state dicts and timm-style `.safetensors` (both through burn-store).

pub mod bundled;
pub mod tfjs;

use std::path::{Path, PathBuf};

use burn::store::burn_pack::{Bytes, DType, Tensor as PackTensor};
use burn::store::{
    ApplyError, ApplyResult, KeyRemapper, ModuleSnapshot, PyTorchToBurnAdapter, PytorchStore,
    SafetensorsStore,
};
use burn::tensor::Device;

use crate::catalogue::Catalogue;
use crate::error::NetError;
use crate::model::{BN_EPSILON, HeadSpec, InceptionV3};

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
}

impl WeightsFormat {
    /// Human-readable name.
    pub fn name(self) -> &'static str {
        match self {
            Self::TfjsLayers => "TF.js layers model",
            Self::Pytorch => "PyTorch state dict",
            Self::Safetensors => "safetensors",
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
        let mut head = [0u8; 16];
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

/// One weight-file format: its name, the files it claims, a cheap sniff of the first bytes,
/// and its import onto the burn module. A new format is one implementation plus one entry in
/// [`IMPORTERS`]; the file dialog's filter and the unknown-file error read that list.
pub trait Importer: Sync {
    /// The format.
    fn format(&self) -> WeightsFormat;
    /// Lower-case file extensions it claims.
    fn extensions(&self) -> &'static [&'static str];
    /// Whether the file's first 16 bytes look like this format.
    fn sniff(&self, head: &[u8]) -> bool;
    /// Read `path` onto a new model on `device`.
    fn load(&self, path: &Path, device: &Device) -> Result<(InceptionV3, WeightsInfo), NetError>;
}

struct TfjsImporter;
struct PytorchImporter;
struct SafetensorsImporter;

impl Importer for TfjsImporter {
    fn format(&self) -> WeightsFormat {
        WeightsFormat::TfjsLayers
    }
    fn extensions(&self) -> &'static [&'static str] {
        &["json"]
    }
    fn sniff(&self, head: &[u8]) -> bool {
        head.first() == Some(&b'{')
    }
    fn load(&self, path: &Path, device: &Device) -> Result<(InceptionV3, WeightsInfo), NetError> {
        let source = WeightsSource::File(path.to_path_buf());
        load_tfjs(path, tfjs::import(path)?, &source, device)
    }
}

impl Importer for PytorchImporter {
    fn format(&self) -> WeightsFormat {
        WeightsFormat::Pytorch
    }
    fn extensions(&self) -> &'static [&'static str] {
        &["pth", "pt", "ckpt"]
    }
    /// A zip (`torch.save` since 1.6) or a bare pickle (protocol 2+ starts with 0x80).
    fn sniff(&self, head: &[u8]) -> bool {
        head.starts_with(b"PK") || head.first() == Some(&0x80)
    }
    fn load(&self, path: &Path, device: &Device) -> Result<(InceptionV3, WeightsInfo), NetError> {
        load_torch(path, WeightsFormat::Pytorch, device)
    }
}

impl Importer for SafetensorsImporter {
    fn format(&self) -> WeightsFormat {
        WeightsFormat::Safetensors
    }
    fn extensions(&self) -> &'static [&'static str] {
        &["safetensors"]
    }
    /// An 8-byte little-endian header length, then the JSON header.
    fn sniff(&self, head: &[u8]) -> bool {
        head.len() >= 9 && head[8] == b'{'
    }
    fn load(&self, path: &Path, device: &Device) -> Result<(InceptionV3, WeightsInfo), NetError> {
        load_torch(path, WeightsFormat::Safetensors, device)
    }
}

/// Every weight format featurescope reads, in the order files are sniffed.
pub static IMPORTERS: &[&dyn Importer] = &[&TfjsImporter, &PytorchImporter, &SafetensorsImporter];

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
}

/// The nsfwjs head's classes, in order.
pub const NSFWJS_LABELS: [&str; 5] = ["Drawing", "Hentai", "Neutral", "Porn", "Sexy"];

/// ImageNet's 1000 class names (torchvision order).
pub fn imagenet_labels() -> Vec<String> {
    include_str!("../../../../assets/imagenet_classes.txt")
        .lines()
        .map(str::to_string)
        .collect()
}

/// Load weights from a source onto `device`.
pub fn load_source(
    source: &WeightsSource,
    device: &Device,
) -> Result<(InceptionV3, WeightsInfo), NetError> {
    match source {
        WeightsSource::Bundled => load_tfjs(
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

fn load_tfjs(
    path: &Path,
    import: tfjs::TfjsImport,
    source: &WeightsSource,
    device: &Device,
) -> Result<(InceptionV3, WeightsInfo), NetError> {
    if (import.bn_epsilon - BN_EPSILON).abs() > 1e-9 {
        return Err(NetError::bad_weights(
            path,
            format!(
                "BatchNorm epsilon {} (Inception-V3 uses {BN_EPSILON})",
                import.bn_epsilon
            ),
        ));
    }
    let labels: Vec<String> = match &import.head {
        HeadSpec::Dense(layers) if layers.last().is_some_and(|l| l.0 == NSFWJS_LABELS.len()) => {
            NSFWJS_LABELS.iter().map(|s| s.to_string()).collect()
        }
        HeadSpec::Dense(layers) => (0..layers.last().map_or(0, |l| l.0))
            .map(|i| format!("class {i}"))
            .collect(),
        _ => Vec::new(),
    };
    let description = match &import.head {
        HeadSpec::Dense(layers) => format!(
            "Keras dense head ({} layers, {} classes)",
            layers.len(),
            labels.len()
        ),
        _ => "no head".to_string(),
    };
    // Keras / TF average pools do not count padded zeros.
    let mut model = InceptionV3::new(&import.head, false, device);
    let tensors = import
        .tensors
        .into_iter()
        .map(|t| PackTensor::new(t.name, DType::F32, t.shape, None, Bytes::from_elems(t.data)))
        .collect();
    let result = model.apply(tensors, None, None, false);
    check_result(path, &result, |_| false)?;
    check_finite(path, &model)?;
    Ok((
        model,
        WeightsInfo {
            source: source.clone(),
            format: WeightsFormat::TfjsLayers,
            head: HeadInfo {
                labels,
                description,
            },
            avg_pool_counts_padding: false,
        },
    ))
}

/// Renames from other checkpoints' keys to torchvision's, one pattern per rename.
fn torch_remapper() -> Result<KeyRemapper, NetError> {
    let err = |e: &dyn std::fmt::Display| NetError::Device(format!("key remapping: {e}"));
    KeyRemapper::new()
        // `nn.DataParallel` checkpoints prefix every key with `module.`.
        .add_pattern(r"^module\.", "")
        .map_err(|e| err(&e))?
        // Lightning / wrapper checkpoints keep the network under `model.`.
        .add_pattern(r"^model\.", "")
        .map_err(|e| err(&e))
}

fn load_torch(
    path: &Path,
    format: WeightsFormat,
    device: &Device,
) -> Result<(InceptionV3, WeightsInfo), NetError> {
    if !path.is_file() {
        return Err(NetError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    let remapper = torch_remapper()?;
    let fail = |e: &dyn std::fmt::Display| NetError::bad_weights(path, e.to_string());
    // First pass over the keys: is there an `fc`, and with how many classes?
    let fc_shape: Option<Vec<usize>> = match format {
        WeightsFormat::Safetensors => {
            let mut store = SafetensorsStore::from_file(path).remap(remapper.clone());
            use burn::store::ModuleStore;
            let t = store.get_tensor("fc.weight").map_err(|e| fail(&e))?;
            t.map(|t| t.shape.to_vec())
        }
        _ => {
            let mut store = PytorchStore::from_file(path).remap(remapper.clone());
            use burn::store::ModuleStore;
            let t = store.get_tensor("fc.weight").map_err(|e| fail(&e))?;
            t.map(|t| t.shape.to_vec())
        }
    };
    let head = match fc_shape.as_deref() {
        Some([classes, 2048]) => HeadSpec::Fc { classes: *classes },
        Some(other) => {
            return Err(NetError::TensorShape {
                path: path.to_path_buf(),
                tensor: "fc.weight".into(),
                expected: vec![1000, 2048],
                found: other.to_vec(),
            });
        }
        None => HeadSpec::None,
    };
    let classes = match head {
        HeadSpec::Fc { classes } => classes,
        _ => 0,
    };
    // torchvision average pools count padded zeros.
    let mut model = InceptionV3::new(&head, true, device);
    let result = match format {
        WeightsFormat::Safetensors => {
            let mut store = SafetensorsStore::from_file(path)
                .remap(remapper)
                .with_from_adapter(PyTorchToBurnAdapter)
                .allow_partial(true)
                .validate(false);
            model.load_from(&mut store).map_err(|e| fail(&e))?
        }
        _ => {
            let mut store = PytorchStore::from_file(path)
                .remap(remapper)
                .allow_partial(true)
                .validate(false);
            model.load_from(&mut store).map_err(|e| fail(&e))?
        }
    };
    // Expected leftovers: the auxiliary classifier and BatchNorm's step counters.
    check_result(path, &result, |k| {
        k.starts_with("AuxLogits.") || k.ends_with(".num_batches_tracked")
    })?;
    check_finite(path, &model)?;
    let labels = if classes == 1000 {
        imagenet_labels()
    } else {
        (0..classes).map(|i| format!("class {i}")).collect()
    };
    let description = if classes > 0 {
        format!("torchvision fc ({classes} classes)")
    } else {
        "no head".to_string()
    };
    Ok((
        model,
        WeightsInfo {
            source: WeightsSource::File(path.to_path_buf()),
            format,
            head: HeadInfo {
                labels,
                description,
            },
            avg_pool_counts_padding: true,
        },
    ))
}

/// Refuse weights holding NaN or infinite values, naming the first such tensor: they would
/// show as blank or saturated maps that look like the network's own doing.
fn check_finite(path: &Path, model: &InceptionV3) -> Result<(), NetError> {
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
fn check_result(
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

    #[test]
    fn every_importer_is_found_by_its_extensions_and_its_first_bytes() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let heads: [(WeightsFormat, &[u8]); 3] = [
            (WeightsFormat::TfjsLayers, b"{\"modelTopology\": {}}"),
            (WeightsFormat::Pytorch, b"PK\x03\x04 archive/data.pkl"),
            (WeightsFormat::Safetensors, b"\x10\0\0\0\0\0\0\0{\"a\":{}}"),
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
        assert_eq!(extensions().len(), 5);
        let p = dir.path().join("notes");
        std::fs::write(&p, b"hello").expect("write");
        let err = WeightsFormat::detect(&p).err().map(|e| e.to_string());
        let err = err.unwrap_or_default();
        for i in IMPORTERS {
            assert!(err.contains(i.format().name()), "{err}");
        }
    }
}
