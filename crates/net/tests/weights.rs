//! Weight files: the bundled TF.js model loads with nothing missing; damaged, truncated, foreign
//! or misshapen files give an error naming the file and the tensor, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::*;
use featurescope_net::{BackendChoice, NetError, Network, WeightsFormat};

fn load(path: &Path) -> Result<Network, NetError> {
    Network::load(path, device(BackendChoice::Cpu).unwrap())
}

fn copy_bundle(dir: &Path) -> std::path::PathBuf {
    let src = bundled_weights();
    let src_dir = src.parent().unwrap();
    for entry in std::fs::read_dir(src_dir).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    dir.join("model.json")
}

#[test]
fn bundled_weights_describe_their_head() {
    let net = load(&bundled_weights()).unwrap();
    let info = net.weights();
    assert_eq!(info.format, WeightsFormat::TfjsLayers);
    assert_eq!(
        info.head.labels,
        ["Drawing", "Hentai", "Neutral", "Porn", "Sexy"]
    );
    assert!(!info.avg_pool_counts_padding);
}

#[test]
fn truncated_shard_names_file_and_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let model = copy_bundle(dir.path());
    let shard = dir.path().join("group1-shard6of6.bin");
    let len = std::fs::metadata(&shard).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&shard)
        .unwrap();
    f.set_len(len / 2).unwrap();
    let err = load(&model).unwrap_err().to_string();
    assert!(
        err.contains("model.json") && err.contains("truncated"),
        "{err}"
    );
    assert!(err.contains('`'), "names a tensor: {err}");
}

#[test]
fn missing_shard_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let model = copy_bundle(dir.path());
    std::fs::remove_file(dir.path().join("group1-shard3of6.bin")).unwrap();
    let err = load(&model).unwrap_err().to_string();
    assert!(err.contains("group1-shard3of6.bin"), "{err}");
}

#[test]
fn misshapen_tensor_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = copy_bundle(dir.path());
    let text = std::fs::read_to_string(&model).unwrap();
    // Same byte count, wrong shape: [32] becomes [4, 8].
    let edited = text.replacen(
        r#""name":"batch_normalization_1/beta","shape":[32]"#,
        r#""name":"batch_normalization_1/beta","shape":[4,8]"#,
        1,
    );
    assert_ne!(edited, text);
    let text = edited;
    std::fs::write(&model, text).unwrap();
    let err = load(&model).unwrap_err().to_string();
    assert!(err.contains("Conv2d_1a_3x3.bn.beta"), "{err}");
}

#[test]
fn not_a_weight_file() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("junk.bin", b"\x00\x01garbage that is not weights".to_vec()),
        ("junk.pth", b"PK\x03\x04 broken zip".to_vec()),
        ("junk.safetensors", vec![7u8; 64]),
        ("model.json", b"{\"not\": \"a model\"}".to_vec()),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let err = load(&p).unwrap_err().to_string();
        assert!(err.contains(name), "{name}: {err}");
    }
    let err = load(&dir.path().join("absent.pth"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("absent.pth"), "{err}");
}

/// torchvision's file holds the auxiliary classifier and BatchNorm's step counters, which
/// Inception-V3's forward pass has no use for: they are the only keys left over.
#[test]
fn torchvision_pth_loads_with_only_expected_leftovers() {
    use burn::store::{ModuleStore, PytorchStore};

    let Some(pth) = torchvision_pth() else { return };
    let keys = PytorchStore::from_file(&pth).keys().unwrap();
    let aux = keys.iter().filter(|k| k.starts_with("AuxLogits.")).count();
    let counters = keys
        .iter()
        .filter(|k| !k.starts_with("AuxLogits.") && k.ends_with(".num_batches_tracked"))
        .count();
    assert!(aux > 0, "the file has AuxLogits: {keys:?}");
    assert_eq!(counters, 94, "a step counter per BatchNorm of the trunk");
    let net = load(&pth).unwrap();
    assert_eq!(net.weights().format, WeightsFormat::Pytorch);
    assert!(net.model().fc.is_some());
    assert_eq!(net.weights().head.labels.len(), 1000);
}

#[test]
fn truncated_pth_names_the_file() {
    let Some(pth) = torchvision_pth() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("half.pth");
    let bytes = std::fs::read(&pth).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = load(&cut).unwrap_err().to_string();
    assert!(err.contains("half.pth"), "{err}");
}

#[test]
fn safetensors_round_trip_with_a_dataparallel_prefix() {
    use burn::store::{BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot, SafetensorsStore};
    use featurescope_net::TapRequest;

    let Some(pth) = torchvision_pth() else { return };
    let torch = load(&pth).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("inception_v3.safetensors");
    // Written as PyTorch would name it, under `module.` (an nn.DataParallel checkpoint).
    let prefix = KeyRemapper::new().add_pattern("^", "module.").unwrap();
    let mut store = SafetensorsStore::from_file(&st)
        .with_to_adapter(BurnToPyTorchAdapter)
        .remap(prefix);
    torch.model().save_into(&mut store).unwrap();
    let from_st = load(&st).unwrap();
    assert_eq!(from_st.weights().format, WeightsFormat::Safetensors);
    assert!(from_st.weights().avg_pool_counts_padding);
    let reference = Reference::load("coffee", true);
    let input = featurescope_net::InputImage {
        original: image::RgbImage::new(1, 1),
        crop: image::RgbImage::new(1, 1),
        tensor: reference.input().clone(),
    };
    let request = TapRequest::layers(["Mixed_6e"]).unwrap().with_head(true);
    let a = torch.run(&input, &request).unwrap();
    let b = from_st.run(&input, &request).unwrap();
    assert_eq!(a.get("Mixed_6e"), b.get("Mixed_6e"));
    assert_eq!(a.head, b.head);
}
