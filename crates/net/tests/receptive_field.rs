//! The receptive fields computed from the catalogue's geometry, checked against the network
//! itself: the gradient of one unit with respect to the input (burn autodiff on the CPU) is
//! non-zero only inside the unit's field — every pixel whose change can change the unit lies in
//! the crop the atlas shows — and, for early layers, fills it exactly (no more than the geometry
//! allows). Also: a batched pass equals single passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use common::*;
use featurescope_net::catalogue::INPUT_SIZE;
use featurescope_net::geometry::receptive_fields;
use featurescope_net::{
    BackendChoice, Catalogue, ComputeDevice, Network, ReluRule, TapRequest, preprocess,
};

/// Bounding box `[y0, x0, y1, x1)` of the input pixels where d unit / d input is non-zero.
fn gradient_support(
    net: &Network,
    input: &[f32],
    layer: &str,
    c: usize,
    y: usize,
    x: usize,
) -> Option<[usize; 4]> {
    let device = &net.device().device;
    let x_in: Tensor<4> = Tensor::from_data(
        TensorData::new(input.to_vec(), [1, 3, INPUT_SIZE, INPUT_SIZE]),
        device,
    )
    .require_grad();
    let request = TapRequest::layers([layer]).unwrap().with_head(false);
    let taps = net
        .model()
        .forward_taps(x_in.clone(), &request, ReluRule::Standard);
    let (_, t) = taps.layers.into_iter().next().unwrap();
    let unit = t.slice([0..1, c..c + 1, y..y + 1, x..x + 1]).sum();
    let grads = unit.backward();
    let g: Vec<f32> = x_in
        .grad(&grads)
        .unwrap()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    let n = INPUT_SIZE;
    let mut bbox: Option<[usize; 4]> = None;
    for ch in 0..3 {
        for py in 0..n {
            for px in 0..n {
                if g[(ch * n + py) * n + px] != 0.0 {
                    let b = bbox.get_or_insert([py, px, py + 1, px + 1]);
                    b[0] = b[0].min(py);
                    b[1] = b[1].min(px);
                    b[2] = b[2].max(py + 1);
                    b[3] = b[3].max(px + 1);
                }
            }
        }
    }
    bbox
}

fn autodiff_network() -> Network {
    let device = ComputeDevice {
        device: Device::flex().autodiff(),
        backend: featurescope_net::Backend::Cpu,
        name: "flex + autodiff".into(),
    };
    Network::load(&bundled_weights(), device).unwrap()
}

#[test]
fn gradients_stay_inside_the_receptive_field() {
    let net = autodiff_network();
    let input = preprocess::load_input(&sample("chelsea_299.png")).unwrap();
    let cat = Catalogue::inception_v3();
    let fields = receptive_fields(cat);
    // (layer, channel, y, x, the support must fill the field exactly)
    let units = [
        ("Conv2d_1a_3x3", 3, 40, 57, true),
        ("Conv2d_2b_3x3", 10, 0, 146, false),
        ("maxpool1", 7, 36, 20, false),
        ("Mixed_5b", 100, 17, 4, false),
        ("Mixed_6b.branch7x7_2", 20, 8, 9, false),
    ];
    for (layer, c, y, x, exact) in units {
        let field = fields[cat.position(layer).unwrap()];
        let boxed = field.input_box(y, x);
        let support = gradient_support(&net, &input.tensor, layer, c, y, x);
        let Some(s) = support else {
            // A unit switched off by its ReLU has no gradient at all: pick live units above.
            panic!("{layer} ({c}, {y}, {x}) has a zero gradient");
        };
        assert!(
            s[0] >= boxed[0] && s[1] >= boxed[1] && s[2] <= boxed[2] && s[3] <= boxed[3],
            "{layer} ({c}, {y}, {x}): gradient support {s:?} leaves the field {boxed:?}"
        );
        if exact {
            assert_eq!(s, boxed, "{layer}: support fills the field");
        } else {
            // The field is not loose either: the support reaches most of it.
            let area = |b: [usize; 4]| ((b[2] - b[0]) * (b[3] - b[1])) as f64;
            assert!(
                area(s) >= 0.5 * area(boxed),
                "{layer}: support {s:?} covers under half of the field {boxed:?}"
            );
        }
    }
}

#[test]
fn batched_pass_equals_single_passes() {
    let net = Network::load(&bundled_weights(), device(BackendChoice::Cpu).unwrap()).unwrap();
    let a = preprocess::load_input(&sample("chelsea_299.png")).unwrap();
    let b = preprocess::load_input(&sample("coffee_299.png")).unwrap();
    let request = TapRequest::layers(["Conv2d_2b_3x3", "Mixed_6e", "avgpool"])
        .unwrap()
        .with_head(true);
    let batch = net.run_batch(&[a.clone(), b.clone()], &request).unwrap();
    assert_eq!(batch.len(), 2);
    for (single, batched) in [&a, &b].into_iter().zip(&batch) {
        let one = net.run(single, &request).unwrap();
        assert_eq!(one.layers.len(), batched.layers.len());
        for (l1, lb) in one.layers.iter().zip(&batched.layers) {
            assert_eq!((l1.id.as_str(), l1.shape), (lb.id.as_str(), lb.shape));
            let max = l1.data.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
            for (i, (u, v)) in l1.data.iter().zip(&lb.data).enumerate() {
                assert!(
                    (u - v).abs() <= 1e-5 * max,
                    "{} idx {i}: single={u}, batched={v}",
                    l1.id
                );
            }
        }
        let (h1, hb) = (one.head.unwrap(), batched.head.clone().unwrap());
        for (u, v) in h1.probabilities.iter().zip(&hb.probabilities) {
            assert!((u - v).abs() < 1e-5);
        }
    }
    // Each image's taps handed over as the pass computes them (what the atlas reduces): the
    // same layers, in the same order, the same bits as the split. Three images: two run whole
    // side by side (one per thread on two cores), the third alone split over the threads.
    let visited = std::sync::Mutex::new(vec![Vec::new(); 3]);
    let three = [a.clone(), b, a];
    net.visit_batch_layers(&three, &request, &|image, id, shape, data| {
        visited.lock().unwrap()[image].push((id.to_string(), shape, data.to_vec()));
    })
    .unwrap();
    let batch = [&batch[0], &batch[1], &batch[0]];
    for (acts, visited) in batch.into_iter().zip(visited.into_inner().unwrap()) {
        let ids: Vec<&str> = visited.iter().map(|(id, ..)| id.as_str()).collect();
        let order: Vec<&str> = acts.layers.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, order);
        for ((id, [c, h, w], data), split) in visited.iter().zip(&acts.layers) {
            assert_eq!(split.shape, [1, *c, *h, *w], "{id}");
            assert_eq!(&split.data, data, "{id}");
        }
    }
}
