//! PyTorch state dicts (`.pth`, `.pt`, `.ckpt`: `torch.save`'s zip, or a bare pickle) in
//! torchvision's layout ([`super::state_dict`]), read by burn-store's data-only unpickler: a
//! pickle that names `posix.system` is refused, never run.

use std::path::Path;

use burn::store::PytorchStore;
use burn::tensor::Device;

use crate::error::NetError;
use crate::model::InceptionV3;
use crate::weights::{Importer, WeightsFormat, WeightsInfo, state_dict};

/// `torch.save` of a torchvision `inception_v3` state dict.
pub(crate) struct PytorchImporter;

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
        state_dict::require_file(path)?;
        let remapper = state_dict::remapper(path)?;
        let head = state_dict::head(path, PytorchStore::from_file(path).remap(remapper.clone()))?;
        // PytorchStore converts PyTorch's layout (Linear weights transposed) itself.
        let mut store = PytorchStore::from_file(path)
            .remap(remapper)
            .allow_partial(true)
            .validate(false);
        state_dict::load(path, WeightsFormat::Pytorch, head, &mut store, device)
    }
}
