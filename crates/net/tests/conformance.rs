//! Conformance: every one of the 123 taps and the head match the reference activations
//! (TF.js for the bundled weights, PyTorch for the torchvision-layout file) within 2e-4 of each
//! layer's max |value|, on the CPU (`flex`) and on wgpu.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use featurescope_net::{BackendChoice, Network};

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

fn torchvision(choice: BackendChoice) {
    let Some(pth) = torchvision_pth() else { return };
    let Some(device) = device(choice) else { return };
    let what = format!("torchvision/{}", device.backend);
    let net = Network::load(&pth, device).unwrap();
    assert!(net.weights().avg_pool_counts_padding);
    assert_eq!(net.weights().head.labels.len(), 1000);
    let mut failures = Vec::new();
    for image in ["chelsea", "coffee"] {
        let reference = Reference::load(image, true);
        assert_eq!(reference.layers.len(), 123);
        let acts = run_reference_input(&net, &reference);
        failures.extend(compare(&acts, &reference, &format!("{what}/{image}")));
        failures.extend(compare_head(&acts, &reference, &format!("{what}/{image}")));
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
