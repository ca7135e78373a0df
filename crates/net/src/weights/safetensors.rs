//! safetensors files (timm, Hugging Face, `safetensors.torch.save_file`) in torchvision's
//! layout ([`super::state_dict`]). The header length is checked by the safetensors crate
//! before anything is allocated.

use std::path::Path;

use burn::store::{PyTorchToBurnAdapter, SafetensorsStore};
use burn::tensor::Device;

use crate::error::NetError;
use crate::model::InceptionV3;
use crate::weights::{Importer, WeightsFormat, WeightsInfo, state_dict};

/// A torchvision `inception_v3` state dict saved as safetensors.
pub(crate) struct SafetensorsImporter;

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
        state_dict::require_file(path)?;
        let remapper = state_dict::remapper(path)?;
        let head = state_dict::head(
            path,
            SafetensorsStore::from_file(path).remap(remapper.clone()),
        )?;
        // The tensors are in PyTorch's layout: the adapter transposes Linear weights.
        let mut store = SafetensorsStore::from_file(path)
            .remap(remapper)
            .with_from_adapter(PyTorchToBurnAdapter)
            .allow_partial(true)
            .validate(false);
        state_dict::load(path, WeightsFormat::Safetensors, head, &mut store, device)
    }
}
