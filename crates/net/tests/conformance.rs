//! Conformance: every one of the 123 taps and the head match the reference activations
//! (TF.js for the bundled weights, PyTorch for the torchvision-layout `.pth`) within 2e-4 of
//! each layer's max |value|, on the CPU (`flex`) and on wgpu. Compared per tap: the 256 sampled
//! elements, every channel's mean and max, and every element of `Conv2d_1a_3x3`, `Mixed_5b` and
//! `Mixed_7c` (`tests/reference/README.md`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use featurescope_net::{BackendChoice, Network, WeightsFormat};

fn tfjs(choice: BackendChoice) {
    let Some(device) = device(choice) else { return };
    let what = format!("tfjs/{}", device.backend);
    let net = Network::load(&bundled_weights(), device).unwrap();
    let mut failures = Vec::new();
    for image in ["chelsea", "coffee"] {
        let reference = Reference::load(image, false);
        assert_eq!(reference.layers.len(), 123);
        let acts = run_reference_input(&net, &reference);
        assert_eq!(acts.layers.len(), 123, "every tap returned");
        failures.extend(compare(&acts, &reference, &format!("{what}/{image}")));
        failures.extend(compare_head(&acts, &reference, &format!("{what}/{image}")));
    }
    report(&failures);
}

/// `torchvision.pth` (made by `make_fixtures.sh`: the bundled trunk, a seeded `fc`): every tap
/// against the committed PyTorch reference (made from `../shared`'s `.pth`, the same trunk),
/// the head against torch's own output for this file (`generated/torch_NAME`).
fn torchvision(choice: BackendChoice) {
    let Some(pth) = torchvision_pth() else { return };
    let Some(device) = device(choice) else { return };
    let what = format!("torchvision/{}", device.backend);
    let net = Network::load(&pth, device).unwrap();
    assert_eq!(net.weights().format, WeightsFormat::Pytorch);
    assert!(net.weights().avg_pool_counts_padding);
    assert_eq!(net.weights().head.labels.len(), 1000);
    let mut failures = Vec::new();
    for image in ["chelsea", "coffee"] {
        let reference = Reference::load(image, true);
        assert_eq!(reference.layers.len(), 123);
        let acts = run_reference_input(&net, &reference);
        failures.extend(compare(&acts, &reference, &format!("{what}/{image}")));
        let head = torch_reference(image);
        assert_eq!(
            head.input(),
            reference.input(),
            "{image}: torch was fed the same input"
        );
        failures.extend(compare_head(&acts, &head, &format!("{what}/{image}")));
    }
    report(&failures);
}

#[test]
fn tfjs_weights_match_tfjs_reference_on_cpu() {
    tfjs(BackendChoice::Cpu);
}

#[test]
fn tfjs_weights_match_tfjs_reference_on_wgpu() {
    tfjs(BackendChoice::Wgpu);
}

#[test]
fn torchvision_weights_match_pytorch_reference_on_cpu() {
    torchvision(BackendChoice::Cpu);
}

#[test]
fn torchvision_weights_match_pytorch_reference_on_wgpu() {
    torchvision(BackendChoice::Wgpu);
}

#[test]
fn preprocessing_reproduces_reference_input() {
    for image in ["chelsea", "coffee"] {
        let reference = Reference::load(image, false);
        let input =
            featurescope_net::preprocess::load_input(&sample(&format!("{image}_299.png"))).unwrap();
        assert_eq!(&input.tensor, reference.input(), "{image}: input tensor");
    }
}

/// Network::load folds every BatchNorm into its conv (docs/PERFORMANCE.md); the folded pass must
/// equal burn's own Conv2d + BatchNorm modules, tap by tap, within float32 rounding.
#[test]
fn folded_batch_norms_equal_the_plain_modules_at_every_tap() {
    use burn::tensor::{Tensor, TensorData};
    use featurescope_net::{Catalogue, LayerKind, ReluRule, TapRequest};

    let device = device(BackendChoice::Cpu).unwrap();
    let net = Network::load(&bundled_weights(), device).unwrap();
    let convs = Catalogue::inception_v3()
        .layers
        .iter()
        .filter(|l| l.kind == LayerKind::Conv)
        .collect::<Vec<_>>();
    assert_eq!(convs.len(), 94);
    for l in &convs {
        let conv = net.model().basic_conv(&l.id).unwrap();
        assert!(
            matches!(conv.folded, Some(featurescope_net::model::Folded::Cpu(_))),
            "{} is not folded for the CPU path",
            l.id
        );
    }
    let input = featurescope_net::preprocess::load_input(&sample("chelsea_299.png")).unwrap();
    let folded = net.run(&input, &TapRequest::all()).unwrap();
    let x = Tensor::from_data(
        TensorData::new(input.tensor.clone(), [1, 3, 299, 299]),
        &net.device().device,
    );
    let plain_model = net.model().clone().plain();
    assert!(
        plain_model
            .basic_conv("Mixed_7c.branch_pool")
            .unwrap()
            .folded
            .is_none()
    );
    let plain = plain_model.forward_taps(x, &TapRequest::all(), ReluRule::Standard);
    assert_eq!(plain.layers.len(), 123);
    let mut worst = (0.0f32, String::new());
    for ((id, t), f) in plain.layers.into_iter().zip(&folded.layers) {
        assert_eq!(id, f.id);
        let p = t
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        let max = p.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
        let dev = p
            .iter()
            .zip(&f.data)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()))
            / max;
        if dev > worst.0 {
            worst = (dev, id);
        }
    }
    assert!(
        worst.0 < 1e-5,
        "folded vs plain: {:.3e} of the layer's max at {}",
        worst.0,
        worst.1
    );
    let probs = net.plain_baseline().run(&input).unwrap();
    let head = folded.head.unwrap().probabilities;
    assert_eq!(probs.len(), head.len());
    for (a, b) in probs.iter().zip(&head) {
        assert!((a - b).abs() < 1e-5, "plain {a} vs folded {b}");
    }
}
