//! torchvision's state-dict layout, which the `.pth` ([`super::pytorch`]) and `.safetensors`
//! ([`super::safetensors`]) importers share: keys are torchvision's module paths (other
//! checkpoints' prefixes removed, one commented pattern per rename), `fc` is the head, average
//! pools count padded zeros, and `AuxLogits` and BatchNorm's step counters are expected
//! leftovers. burn-store reads both formats; every failure names the file and the tensor.

use std::path::Path;

use burn::store::{KeyRemapper, ModuleSnapshot, ModuleStore};
use burn::tensor::Device;

use crate::error::NetError;
use crate::model::{HeadSpec, InceptionV3, Variant};
use crate::preprocess::Normalization;
use crate::weights::{
    Imported, WeightsFormat, WeightsInfo, WeightsSource, check_finite, check_result, class_count,
    labels, weights_info,
};

/// Renames from other checkpoints' keys to torchvision's, one pattern per rename.
pub(crate) fn remapper(path: &Path) -> Result<KeyRemapper, NetError> {
    let err =
        |e: &dyn std::fmt::Display| NetError::bad_weights(path, format!("key remapping: {e}"));
    KeyRemapper::new()
        // `nn.DataParallel` checkpoints prefix every key with `module.`.
        .add_pattern(r"^module\.", "")
        .map_err(|e| err(&e))?
        // Lightning / wrapper checkpoints keep the network under `model.`.
        .add_pattern(r"^model\.", "")
        .map_err(|e| err(&e))
}

/// Refuse what is not a file before a store opens it.
pub(crate) fn require_file(path: &Path) -> Result<(), NetError> {
    if path.is_file() {
        return Ok(());
    }
    Err(NetError::io(
        path,
        std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
    ))
}

/// The head the state dict's `fc.weight` describes (`[classes, 2048]`), read from `keys`, a
/// store opened without any adapter so the shape is PyTorch's.
pub(crate) fn head<S: ModuleStore>(path: &Path, mut keys: S) -> Result<HeadSpec, NetError> {
    let fc = keys
        .get_tensor("fc.weight")
        .map_err(|e| NetError::bad_weights(path, e.to_string()))?
        .map(|t| t.shape.to_vec());
    match fc.as_deref() {
        Some([classes, 2048]) => Ok(HeadSpec::Fc { classes: *classes }),
        Some(other) => Err(NetError::TensorShape {
            path: path.to_path_buf(),
            tensor: "fc.weight".into(),
            expected: vec![1000, 2048],
            found: other.to_vec(),
        }),
        None => Ok(HeadSpec::None),
    }
}

/// Apply the state dict in `store` onto a new model with `head` (torchvision's average-pool
/// semantics), check what was left over and that every value is finite, and describe it.
pub(crate) fn load<S: ModuleStore>(
    path: &Path,
    format: WeightsFormat,
    head: HeadSpec,
    store: &mut S,
    device: &Device,
) -> Result<(InceptionV3, WeightsInfo), NetError> {
    let mut model = InceptionV3::new(&head, true, device);
    let result = model
        .load_from(store)
        .map_err(|e| NetError::bad_weights(path, e.to_string()))?;
    // Expected leftovers: the auxiliary classifier and BatchNorm's step counters.
    check_result(path, &result, |k| {
        k.starts_with("AuxLogits.") || k.ends_with(".num_batches_tracked")
    })?;
    check_finite(path, &model)?;
    let described = Imported {
        tensors: Vec::new(),
        head,
        head_kind: "torchvision fc".into(),
        avg_pool_counts_padding: true,
        variant: Variant::Standard,
        normalization: Normalization::MinusOneToOne,
    };
    let source = WeightsSource::File(path.to_path_buf());
    let names = labels::for_head(&source, format, class_count(&described.head));
    let info = weights_info(&source, format, &described, names);
    Ok((model, info))
}
