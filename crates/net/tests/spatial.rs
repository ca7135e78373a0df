//! Spatial attribution to a class against PyTorch autograd in float64
//! (`tests/reference/NAME.spatial.safetensors`, made by `tests/reference/make_groups_spatial.py`):
//! torchvision's layout with the bundled weights and the seeded fc — the model of the import
//! fixture `torchvision.onnx`, which featurescope loads here — two classes, two layers, both
//! photos, on the CPU. Every element within 1e-3 of the map's largest magnitude (see the test
//! for the one kind of exception the reference spells out: a ReLU gate float32 cannot decide).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use featurescope_net::attribution::spatial::spatial;
use featurescope_net::{BackendChoice, InputImage, Network};
use safetensors::SafeTensors;

const LAYERS: [&str; 2] = ["Mixed_5d", "Mixed_6e"];

/// Every element of every map within 1e-3 of the map's largest magnitude. Where a ReLU gate
/// above the layer has a float64 input within 1e-6 of its layer's max of zero (the reference
/// lists them), float32 may decide it the other way, and a gate passes or blocks a unit's
/// whole gradient: the map then equals the reference with that one gate on its other side
/// (also in the file), to the same 1e-3.
#[test]
fn spatial_attribution_equals_pytorch_float64() {
    let Some(path) = fixture("torchvision.onnx") else {
        return;
    };
    let device = device(BackendChoice::Cpu).unwrap();
    let net = Network::load(&path, device).unwrap();
    let mut worst = (0.0f64, String::new());
    for image in ["chelsea", "coffee"] {
        let bytes =
            std::fs::read(reference_dir().join(format!("{image}.spatial.safetensors"))).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let classes: Vec<usize> = i64s(&st, "classes").iter().map(|&c| c as usize).collect();
        let logits = f64s(&st, "logits");
        // The torchvision reference's input (x / 127.5 − 1 of the 299x299 photo).
        let input = InputImage {
            original: image::RgbImage::new(1, 1),
            crop: image::RgbImage::new(1, 1),
            tensor: Reference::load(image, true).input().clone(),
        };
        for layer in LAYERS {
            let gates = i64s(&st, &format!("{layer}.ambiguous_gates"));
            let listed = gates.chunks_exact(4).filter(|g| g[0] >= 0).count();
            let s = spatial(
                net.model(),
                &net.device().device,
                &input,
                layer,
                &classes,
                &mut |_, _| true,
            )
            .unwrap();
            for m in &s.maps {
                let what = format!("{image} {layer} class {}", m.class);
                let dl = (f64::from(m.logit) - logits[m.class]).abs();
                assert!(dl < 1e-3, "{what}: logit off by {dl}");
                let plain = deviation(&m.data, &f64s(&st, &format!("{layer}.{}.spatial", m.class)));
                let flipped = (0..listed)
                    .map(|j| {
                        let r = f64s(&st, &format!("{layer}.{}.spatial_flip{j}", m.class));
                        (deviation(&m.data, &r), j)
                    })
                    .min_by(|a, b| a.0.total_cmp(&b.0));
                let (dev, how) = match flipped {
                    Some((d, j)) if d < plain => {
                        let g = &gates[4 * j..4 * j + 4];
                        let gate = format!(
                            " (float32 put the ambiguous gate {j} — conv {} channel {} at ({}, {}) — on its other side; with float64's side: {plain:.2e})",
                            g[0], g[1], g[2], g[3]
                        );
                        (d, gate)
                    }
                    _ => (plain, String::new()),
                };
                eprintln!(
                    "{what}: max |ours − torch| = {dev:.2e} of max |value|{how}; logit {:.5} \
                     vs {:.5}; {listed} ambiguous gates listed",
                    m.logit, logits[m.class]
                );
                assert!(dev <= 1e-3, "{what}: {dev:.2e}");
                if dev > worst.0 {
                    worst = (dev, what);
                }
            }
        }
    }
    eprintln!("worst: {:.2e} ({})", worst.0, worst.1);
}
