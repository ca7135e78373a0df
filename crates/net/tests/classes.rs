//! Class summaries' numbers against PyTorch autograd in float64
//! (`tests/reference/classes.reference.safetensors`, made by
//! `tests/reference/make_classes_reference.py`), for two models — torchvision's layout (the
//! import fixture `torchvision.onnx`: the bundled trunk weights and a seeded fc) and the
//! bundled model (Keras avg pools, the nsfwjs head) — two classes each, both photos, on the CPU:
//! - the channel attributions Σ a·∂z/∂a of all 123 taps ([`class_pass`]), every channel within
//!   1e-3 of the layer's largest magnitude;
//! - the graph's influences between the nodes of four block pairs ([`influences`]), within 1e-3
//!   of the pair's largest magnitude.
//!
//! One thing the reference spells out: a ReLU gate whose float64 input lies within 1e-6 of its
//! layer's largest magnitude of zero, which float32 (featurescope's arithmetic) may decide the
//! other way — and a gate passes or blocks every path through its unit. The reference lists
//! those gates with float64's side and, per gate, the exact change of the attributions when it
//! alone is on its other side. The test reads our forward's side of each listed gate (the same
//! batch as `class_pass`'s) and compares with the reference for those same decisions: the plain
//! float64 attributions plus the change of each gate float32 put the other way (it says which).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use burn::tensor::{Tensor, TensorData};
use common::*;
use featurescope_net::attribution::classes::{class_pass, influences};
use featurescope_net::attribution::engine::{Recorded, Target};
use featurescope_net::attribution::read;
use featurescope_net::catalogue::{Catalogue, INPUT_SIZE, LayerKind};
use featurescope_net::{BackendChoice, InputImage, Network};
use safetensors::SafeTensors;

const IMAGES: [&str; 2] = ["chelsea", "coffee"];
const EDGES: [(&str, &str, [u32; 2], [u32; 2]); 4] = [
    ("maxpool2", "Mixed_5b", [64, 26], [59, 67]),
    ("Mixed_5d", "Mixed_6a", [20, 93], [100, 500]),
    ("Mixed_6e", "Mixed_7a", [107, 306], [619, 1111]),
    ("Mixed_7b", "Mixed_7c", [832, 2025], [161, 1987]),
];
const TOLERANCE: f64 = 1e-3;

/// max |ours − reference| relative to the reference's largest magnitude; where the reference
/// is all zero, ours must be too (0 or ∞).
fn relative(ours: &[f32], reference: &[f64]) -> f64 {
    assert_eq!(ours.len(), reference.len());
    let max = reference.iter().fold(0f64, |a, v| a.max(v.abs()));
    let worst = ours
        .iter()
        .zip(reference)
        .map(|(a, b)| (f64::from(*a) - b).abs())
        .fold(0f64, f64::max);
    match (max > 0.0, worst > 0.0) {
        (true, _) => worst / max,
        (false, false) => 0.0,
        (false, true) => f64::INFINITY,
    }
}

fn input(name: &str, torchvision: bool) -> InputImage {
    InputImage {
        original: image::RgbImage::new(1, 1),
        crop: image::RgbImage::new(1, 1),
        tensor: Reference::load(name, torchvision).input().clone(),
    }
}

/// The listed ambiguous gates of one (image, class) that our float32 forward put on the other
/// side from float64: `(J, layer, [channel, y, x])` of the reference's `PREFIX.gateJ.LAYER`
/// whose open/closed state differs in `rec` (our recorded values, image 0).
fn flipped_gates(
    st: &SafeTensors<'_>,
    prefix: &str,
    rec: &Recorded<'_>,
) -> Vec<(usize, String, [i64; 3])> {
    let cat = Catalogue::inception_v3();
    let mut out = Vec::new();
    for name in st.names() {
        let Some(rest) = name.strip_prefix(&format!("{prefix}.gate")) else {
            continue;
        };
        let (j, layer) = rest.split_once('.').unwrap();
        let g = i64s(st, name);
        let [c, y, x, open] = [g[0], g[1], g[2], g[3]].map(|v| v as usize);
        let tap = cat.position(layer).unwrap();
        assert_eq!(cat.layers[tap].kind, LayerKind::Conv, "{name}");
        let value = rec.value(tap).unwrap();
        let [_, _, h, w] = value.dims();
        let ours = read(value.clone().narrow(0, 0, 1)).unwrap()[(c * h + y) * w + x];
        if (ours > 0.0) != (open == 1) {
            out.push((j.parse().unwrap(), layer.to_string(), [g[0], g[1], g[2]]));
        }
    }
    out.sort();
    out
}

/// The reference for one (image, class) with the gates `flipped` on their other side: per
/// tap the plain float64 attributions plus each flip's change (stored where it moves the tap
/// past 1e-4 of its largest magnitude).
fn expected(
    st: &SafeTensors<'_>,
    prefix: &str,
    flipped: &[(usize, String, [i64; 3])],
) -> Vec<Vec<f64>> {
    let names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    let cat = Catalogue::inception_v3();
    cat.layers
        .iter()
        .map(|info| {
            let plain = f64s(st, &format!("{prefix}.{}", info.id));
            let mut out = plain.clone();
            for (j, ..) in flipped {
                let name = format!("{prefix}.flip{j}.{}", info.id);
                if names.contains(&name) {
                    for ((o, f), p) in out.iter_mut().zip(f64s(st, &name)).zip(&plain) {
                        *o += f - p;
                    }
                }
            }
            out
        })
        .collect()
}

fn check_model(net: &Network, st: &SafeTensors<'_>, model: &str, torchvision: bool) -> f64 {
    let cat = Catalogue::inception_v3();
    let device = &net.device().device;
    let all: Vec<usize> = (0..cat.layers.len()).collect();
    let classes: Vec<usize> = i64s(st, &format!("{model}.classes"))
        .iter()
        .map(|&c| c as usize)
        .collect();
    let mut worst = 0f64;
    for name in IMAGES {
        let image = input(name, torchvision);
        let inputs = vec![image.clone(); classes.len()];
        let found = class_pass(net.model(), device, &inputs, Some(&classes), &all).unwrap();
        // The same forward as class_pass's (the same batch), for our ReLU gates.
        let mut batch = Vec::new();
        for i in &inputs {
            batch.extend_from_slice(&i.tensor);
        }
        let batch = Tensor::from_data(
            TensorData::new(batch, [inputs.len(), 3, INPUT_SIZE, INPUT_SIZE]),
            device,
        );
        let rec = Recorded::new(net.model(), batch, &Target::Class(0), &[]).unwrap();
        for (b, &class) in classes.iter().enumerate() {
            let prefix = format!("{model}.{name}.{class}");
            let flipped = flipped_gates(st, &prefix, &rec);
            let reference = expected(st, &prefix, &flipped);
            let (mut dev, mut tap) = (0f64, "");
            for (l, info) in cat.layers.iter().enumerate() {
                let d = relative(&found[b].layers[l].attribution, &reference[l]);
                if d > dev {
                    (dev, tap) = (d, &info.id);
                }
            }
            let how = if flipped.is_empty() {
                String::new()
            } else {
                format!(
                    "; float32 put {} of the listed ambiguous gates on the other side (layer, \
                     [channel, y, x]): {:?}",
                    flipped.len(),
                    flipped.iter().map(|f| (&f.1, f.2)).collect::<Vec<_>>()
                )
            };
            eprintln!("{prefix}: attributions of 123 taps within {dev:.2e} (worst at {tap}){how}");
            assert!(dev <= TOLERANCE, "{prefix}: {dev:.2e} at {tap}{how}");
            worst = worst.max(dev);
        }
        for (lo, hi, los, his) in EDGES {
            let nodes = vec![
                (cat.position(lo).unwrap(), los.to_vec()),
                (cat.position(hi).unwrap(), his.to_vec()),
            ];
            let found =
                influences(net.model(), device, std::slice::from_ref(&image), &nodes).unwrap();
            let weights = &found[0][0];
            let ours: Vec<f32> = los
                .iter()
                .flat_map(|j| his.iter().map(move |k| weights[&(*j, *k)]))
                .collect();
            let theirs = f64s(st, &format!("{model}.{name}.edges.{lo}.{hi}"));
            assert!(theirs.iter().any(|v| *v != 0.0), "{lo} → {hi}: all zero");
            let dev = relative(&ours, &theirs);
            eprintln!("{model} {name} edges {lo} → {hi}: within {dev:.2e} ({ours:?})");
            assert!(
                dev <= TOLERANCE,
                "{model} {name} edges {lo} → {hi}: {dev:.2e}"
            );
            worst = worst.max(dev);
        }
    }
    worst
}

#[test]
fn class_attributions_and_influences_equal_pytorch_float64() {
    let bytes = std::fs::read(reference_dir().join("classes.reference.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let device = || device(BackendChoice::Cpu).unwrap();
    let bundled = Network::load(&bundled_weights(), device()).unwrap();
    let worst = check_model(&bundled, &st, "bundled", false);
    eprintln!("bundled model: worst {worst:.2e}");
    let Some(path) = fixture("torchvision.onnx") else {
        return;
    };
    let torchvision = Network::load(&path, device()).unwrap();
    let worst = check_model(&torchvision, &st, "torchvision", true);
    eprintln!("torchvision layout: worst {worst:.2e}");
}
