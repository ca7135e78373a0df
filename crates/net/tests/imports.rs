//! People's own model files, made by the real tools (`tests/imports/make_*.py`: Keras 2 and 3,
//! TensorFlow, PyTorch's ONNX exporter, `torch.save`, safetensors), carrying the bundled model's weights: every tap and the
//! head match what the tool that wrote the file computed, within 2e-4 of each layer's max; the
//! right variant, pixel scaling and class names are used; damaged and foreign files are refused
//! with one line naming the file and what was expected.
//!
//! The files (about 90 MB each) are generated, not committed: `.ci/run` makes them before the
//! tests. Without them each test prints SKIPPED, unless FEATURESCOPE_REQUIRE_IMPORT_FIXTURES is
//! set (CI sets it), which makes a missing file a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::*;
use featurescope_net::model::Variant;
use featurescope_net::preprocess::Normalization;
use featurescope_net::{BackendChoice, Network, TapRequest, WeightsFormat};

struct Expect {
    format: WeightsFormat,
    classes: usize,
    variant: Variant,
    normalization: Normalization,
    counts_padding: bool,
}

const KERAS: Expect = Expect {
    format: WeightsFormat::KerasH5,
    classes: 5,
    variant: Variant::Standard,
    normalization: Normalization::MinusOneToOne,
    counts_padding: false,
};

/// Load `file`, run chelsea through featurescope's own preprocessing, compare with
/// `reference` (the tool's own activations); returns the network for further checks.
fn matches_its_tool(file: &str, reference: &str, expect: Expect) -> Option<Network> {
    let path = fixture(file)?;
    let device = device(BackendChoice::Cpu)?;
    let net = Network::load(&path, device).unwrap_or_else(|e| panic!("{file}: {e}"));
    let info = net.weights();
    assert_eq!(info.format, expect.format, "{file}");
    assert_eq!(info.head.labels.len(), expect.classes, "{file}: classes");
    assert_eq!(info.variant, expect.variant, "{file}");
    assert_eq!(info.normalization, expect.normalization, "{file}");
    assert_eq!(
        info.avg_pool_counts_padding, expect.counts_padding,
        "{file}"
    );
    let reference = Reference::from_files(
        &generated().join(format!("{reference}.reference.safetensors")),
        &generated().join(format!("{reference}.layers.json")),
    );
    assert_eq!(reference.layers.len(), 123, "{reference:?} taps");
    // featurescope's preprocessing, then the format's scaling, is what the tool was fed.
    let input = featurescope_net::preprocess::load_input(&sample("chelsea_299.png")).unwrap();
    let (scale, offset) = expect.normalization.affine();
    let fed = reference.input();
    let worst = input
        .tensor
        .iter()
        .zip(fed)
        .map(|(v, r)| (scale * v + offset - r).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst < 1e-6,
        "{file}: input differs from the tool's by {worst}"
    );
    let acts = net.run(&input, &TapRequest::all()).unwrap();
    let mut failures = compare(&acts, &reference, file);
    failures.extend(compare_head(&acts, &reference, file));
    report(&failures);
    Some(net)
}

impl std::fmt::Debug for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "reference with {} taps", self.layers.len())
    }
}

#[test]
fn keras2_h5_written_by_tf_keras() {
    matches_its_tool("keras2.h5", "keras2", KERAS);
}

#[test]
fn keras3_h5_written_by_keras3() {
    matches_its_tool("keras3.h5", "keras3", KERAS);
}

#[test]
fn weights_only_files_from_save_weights() {
    matches_its_tool("keras2_weights.h5", "keras2", KERAS);
    matches_its_tool("keras3.weights.h5", "keras3", KERAS);
}

#[test]
fn keras3_archive() {
    matches_its_tool(
        "keras3.keras",
        "keras3",
        Expect {
            format: WeightsFormat::Keras,
            ..KERAS
        },
    );
}

#[test]
fn nested_transfer_learning_keras_and_h5() {
    for file in ["transfer.keras", "transfer.h5", "transfer_sequential.keras"] {
        let format = if file.ends_with("keras") {
            WeightsFormat::Keras
        } else {
            WeightsFormat::KerasH5
        };
        let Some(net) = matches_its_tool(
            file,
            "transfer",
            Expect {
                format,
                classes: 3,
                ..KERAS
            },
        ) else {
            return;
        };
        assert_eq!(net.weights().head.labels, ["class 0", "class 1", "class 2"]);
    }
}

const POETS: Expect = Expect {
    format: WeightsFormat::TfGraph,
    classes: 3,
    variant: Variant::Graph2015,
    normalization: Normalization::Centered128,
    counts_padding: false,
};

#[test]
fn tensorflow_for_poets_graph_with_its_labels() {
    let Some(net) = matches_its_tool("poets/retrained_graph.pb", "poets", POETS) else {
        return;
    };
    let labels = std::fs::read_to_string(generated().join("poets/retrained_labels.txt")).unwrap();
    let expected: Vec<&str> = labels.lines().collect();
    assert_eq!(net.weights().head.labels, expected);
    assert!(net.weights().head.labels_file.is_some());
}

#[test]
fn tensorflow_for_poets_graph_after_optimize_for_inference() {
    matches_its_tool("poets/optimized_graph.pb", "poets_optimized", POETS);
}

#[test]
fn the_2015_graph_with_its_1008_class_softmax() {
    let Some(net) = matches_its_tool(
        "poets/classify_image_graph_def.pb",
        "poets_1008",
        Expect {
            classes: 1008,
            ..POETS
        },
    ) else {
        return;
    };
    // retrained_labels.txt beside it names 3 classes: not these.
    assert_eq!(net.weights().head.labels[7], "class 7");
}

#[test]
fn onnx_exported_from_torchvision() {
    let Some(net) = matches_its_tool(
        "torchvision.onnx",
        "torchvision_onnx",
        Expect {
            format: WeightsFormat::Onnx,
            classes: 1000,
            variant: Variant::Standard,
            normalization: Normalization::MinusOneToOne,
            counts_padding: true,
        },
    ) else {
        return;
    };
    // 1000 classes and no labels file: ImageNet's, as for every format (issue 18).
    assert_eq!(net.weights().head.labels[0], "tench");
    assert_eq!(net.weights().head.labels[999], "toilet tissue");
}

const TORCHVISION: Expect = Expect {
    format: WeightsFormat::Pytorch,
    classes: 1000,
    variant: Variant::Standard,
    normalization: Normalization::MinusOneToOne,
    counts_padding: true,
};

#[test]
fn torchvision_pth_written_by_torch_save() {
    let Some(net) = matches_its_tool("torchvision.pth", "torch_chelsea", TORCHVISION) else {
        return;
    };
    assert_eq!(net.weights().head.labels[0], "tench");
}

#[test]
fn torchvision_safetensors_written_by_safetensors() {
    matches_its_tool(
        "torchvision.safetensors",
        "torch_chelsea",
        Expect {
            format: WeightsFormat::Safetensors,
            ..TORCHVISION
        },
    );
}

/// The one-line error for `path`: names the file and says what was expected.
fn refusal(path: &Path) -> String {
    let device = device(BackendChoice::Cpu).unwrap();
    let err = Network::load(path, device)
        .expect_err("refused")
        .to_string();
    assert!(!err.contains('\n'), "one line: {err}");
    assert!(
        err.contains(&path.display().to_string()),
        "names the file: {err}"
    );
    err
}

#[test]
fn foreign_models_are_refused_saying_what_was_expected() {
    let cases = [
        ("resnet50.h5", "Inception-V3 has 94"),
        ("poets/other_graph.pb", "2015 Inception-V3 graph"),
        ("other.onnx", "Inception-V3 has 94"),
    ];
    for (file, says) in cases {
        let Some(path) = fixture(file) else { continue };
        let err = refusal(&path);
        assert!(err.contains(says), "{file}: {err}");
    }
}

#[test]
fn truncated_files_of_every_format_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for file in [
        "keras3.h5",
        "keras3.keras",
        "poets/retrained_graph.pb",
        "torchvision.onnx",
        "torchvision.pth",
        "torchvision.safetensors",
    ] {
        let Some(path) = fixture(file) else { continue };
        let bytes = std::fs::read(&path).unwrap();
        for keep in [bytes.len() / 2, bytes.len() - 1000, 200] {
            let cut = dir.path().join(
                path.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .replace('.', "-cut."),
            );
            std::fs::write(&cut, &bytes[..keep]).unwrap();
            let err = refusal(&cut);
            eprintln!("{file} cut at {keep}: {err}");
        }
    }
}
