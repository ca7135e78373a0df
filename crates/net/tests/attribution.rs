//! Attribution against ground truth: input gradients for saliency, guided backprop and
//! deconvnet against PyTorch autograd in float64 (tests/reference/NAME.attribution.safetensors)
//! on the CPU and on wgpu; the standard rule against burn's own autodiff; Grad-CAM against its
//! definition; integrated gradients' completeness; the sanity check; feature visualisation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use common::*;
use featurescope_net::attribution::engine::{BackwardOptions, Recorded, Target};
use featurescope_net::attribution::sanity::{self, Randomize};
use featurescope_net::attribution::visualize::{VisualizeOptions, visualize};
use featurescope_net::attribution::{Method, Options, Pass, RawKind, channel_source, read};
use featurescope_net::catalogue::INPUT_SIZE;
use featurescope_net::{BackendChoice, ComputeDevice, InputImage, Network, ReluRule, TapRequest};
use safetensors::SafeTensors;

/// The reference's `L.K.method` gradients, grouped by target.
fn attribution_reference(image: &str) -> Vec<(Target, String, Vec<f32>)> {
    let path = reference_dir().join(format!("{image}.attribution.safetensors"));
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        let (rest, method) = name.rsplit_once('.').unwrap();
        let (layer, k) = rest.rsplit_once('.').unwrap();
        let data = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let target = Target::channel(layer, k.parse().unwrap()).unwrap();
        out.push((target, method.to_string(), data));
    }
    out.sort_by(|a, b| (a.0.describe(), &a.1).cmp(&(b.0.describe(), &b.1)));
    out
}

fn reference_image(image: &str) -> InputImage {
    let reference = Reference::load(image, false);
    InputImage {
        original: image::RgbImage::new(1, 1),
        crop: image::RgbImage::new(1, 1),
        tensor: reference.input().clone(),
    }
}

fn rule(method: &str) -> ReluRule {
    match method {
        "saliency" => ReluRule::Standard,
        "guided" => ReluRule::Guided,
        "deconv" => ReluRule::Deconv,
        other => panic!("unknown reference method {other}"),
    }
}

/// The agreement rule: within 1e-3 of max|reference| on ≥ 99.5 % of elements, and a
/// correlation ≥ 0.9999. An all-zero reference needs an all-zero result.
fn agree(ours: &[f32], theirs: &[f32], what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: length");
    assert!(
        ours.iter().all(|v| v.is_finite()),
        "{what}: non-finite values"
    );
    let max = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
    if max == 0.0 {
        let ours_max = ours.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert_eq!(ours_max, 0.0, "{what}: reference is zero, ours is not");
        eprintln!("{what}: zero gradient, as the reference");
        return;
    }
    let close = ours
        .iter()
        .zip(theirs)
        .filter(|(a, b)| (*a - *b).abs() <= 1e-3 * max)
        .count();
    let frac = close as f64 / ours.len() as f64;
    let a: Vec<f64> = ours.iter().map(|&v| f64::from(v)).collect();
    let b: Vec<f64> = theirs.iter().map(|&v| f64::from(v)).collect();
    let corr = sanity::pearson(&a, &b);
    eprintln!(
        "{what}: {:.4} % within 1e-3 of max, correlation {corr:.7}",
        frac * 100.0
    );
    assert!(
        frac >= 0.995,
        "{what}: only {:.3} % within tolerance",
        frac * 100.0
    );
    assert!(corr >= 0.9999, "{what}: correlation {corr}");
}

fn cpu_network() -> Network {
    Network::load(&bundled_weights(), device(BackendChoice::Cpu).unwrap()).unwrap()
}

fn no_progress() -> impl FnMut(usize, usize) -> bool {
    |_, _| true
}

fn explain(
    net: &Network,
    input: &InputImage,
    target: &Target,
    method: Method,
    options: &Options,
) -> featurescope_net::attribution::Attribution {
    net.attribute(input, target, method, options, &mut no_progress())
        .unwrap()
}

#[test]
fn input_gradients_match_pytorch_float64_on_the_cpu() {
    let net = cpu_network();
    for image in ["chelsea", "coffee"] {
        let input = reference_image(image);
        for (target, method, theirs) in attribution_reference(image) {
            let m = match method.as_str() {
                "saliency" => Method::Saliency,
                "guided" => Method::Guided,
                _ => Method::Deconv,
            };
            let ours = explain(&net, &input, &target, m, &Options::default());
            assert_eq!(ours.kind, RawKind::InputGradient);
            assert_eq!(ours.shape, vec![1, 3, INPUT_SIZE, INPUT_SIZE]);
            agree(
                &ours.data,
                &theirs,
                &format!("cpu {image} {} {method}", target.describe()),
            );
        }
    }
}

/// On wgpu: one forward per target, the three rules' backward walks on it (what the methods
/// do one by one); chelsea only, to keep CI's software adapter within its time.
#[test]
fn input_gradients_match_pytorch_float64_on_wgpu() {
    let Some(dev) = device(BackendChoice::Wgpu) else {
        return;
    };
    eprintln!("wgpu on {}", dev.name);
    let net = Network::load(&bundled_weights(), dev).unwrap();
    let input = reference_image("chelsea");
    let reference = attribution_reference("chelsea");
    let mut targets: Vec<Target> = reference.iter().map(|r| r.0.clone()).collect();
    targets.dedup();
    for target in targets {
        let x = Tensor::from_data(
            TensorData::new(input.tensor.clone(), [1, 3, INPUT_SIZE, INPUT_SIZE]),
            &net.device().device,
        );
        let rec = Recorded::new(net.model(), x, &target, &[]).unwrap();
        for (_, method, theirs) in reference.iter().filter(|r| r.0 == target) {
            let g = rec
                .backward(&target, rule(method), &BackwardOptions::default())
                .unwrap();
            agree(
                &read(g.input).unwrap(),
                theirs,
                &format!("wgpu chelsea {} {method}", target.describe()),
            );
        }
    }
}

/// The standard rule is the plain gradient: it equals burn's autodiff through the same forward
/// pass (a different implementation of every backward op).
/// The hand-written backward pass equals burn's autodiff on the same forward. Both sides run
/// burn's own Conv2d + BatchNorm modules (unfolded): a max pool routes its gradient to the
/// argmax of the forward values, so forwards that differ in the last bit (the CPU path's own
/// folded conv against burn's) may route a near-tie differently, which is not what this test
/// is about. The CPU path's forward is held to the references by the conformance tests, its
/// gradients to PyTorch's float64 ones above.
#[test]
fn standard_rule_equals_burn_autodiff() {
    let device = ComputeDevice {
        device: Device::flex().autodiff(),
        backend: featurescope_net::Backend::Cpu,
        name: "flex + autodiff".into(),
    };
    let autodiff = Network::load(&bundled_weights(), device).unwrap();
    let autodiff_model = autodiff.model().clone().unfold_batch_norms();
    let net = cpu_network();
    let plain = net.model().clone().unfold_batch_norms();
    let input = preprocess_sample("chelsea_299.png");
    for (layer, k) in [
        ("Conv2d_4a_3x3", 17),
        ("Mixed_6e", 100),
        ("Mixed_7b.branch3x3", 500),
    ] {
        let target = Target::channel(layer, k).unwrap();
        let options = Options::default();
        let mut progress = no_progress();
        let ours = Method::Saliency
            .implementation()
            .compute(&mut featurescope_net::attribution::Job {
                model: &plain,
                device: &net.device().device,
                image: &input,
                target: &target,
                options: &options,
                progress: &mut progress,
                pass: None,
            })
            .unwrap();
        let x: Tensor<4> = Tensor::from_data(
            TensorData::new(input.tensor.clone(), [1, 3, INPUT_SIZE, INPUT_SIZE]),
            &autodiff.device().device,
        )
        .require_grad();
        let request = TapRequest::layers([layer]).unwrap().with_head(false);
        let taps = autodiff_model.forward_taps(x.clone(), &request, ReluRule::Standard);
        let (_, t) = taps.layers.into_iter().next().unwrap();
        let grads = t.narrow(1, k, 1).sum().backward();
        let theirs = read(x.grad(&grads).unwrap()).unwrap();
        let max = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = ours
            .data
            .iter()
            .zip(&theirs)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        eprintln!("{layer}.{k}: max |ours - autodiff| = {worst:e} of max {max:e}");
        assert!(max > 0.0, "{layer}.{k}: pick a live channel");
        assert!(worst <= 1e-4 * max, "{layer}.{k}: {worst} vs max {max}");
    }
}

fn preprocess_sample(name: &str) -> InputImage {
    featurescope_net::preprocess::load_input(&sample(name)).unwrap()
}

/// Saliency by finite differences on the whole network: the directional derivative along a
/// random direction equals ⟨gradient, direction⟩ (the network is piecewise linear; a step
/// small enough to cross few kinks gives a close estimate).
#[test]
fn saliency_matches_finite_differences() {
    let net = cpu_network();
    let input = preprocess_sample("coffee_299.png");
    let target = Target::channel("Conv2d_2b_3x3", 5).unwrap();
    let grad = explain(&net, &input, &target, Method::Saliency, &Options::default());
    let value = |x: &[f32]| -> f64 {
        let img = InputImage {
            tensor: x.to_vec(),
            ..input.clone()
        };
        let acts = net
            .run(&img, &TapRequest::layers(["Conv2d_2b_3x3"]).unwrap())
            .unwrap();
        let l = &acts.layers[0];
        let plane = l.shape[2] * l.shape[3];
        l.data[5 * plane..6 * plane]
            .iter()
            .map(|&v| f64::from(v))
            .sum()
    };
    // A smooth random direction (a few sinusoids), scaled to unit max.
    let n = INPUT_SIZE;
    let dir: Vec<f32> = (0..3 * n * n)
        .map(|i| {
            let (c, y, x) = (i / (n * n), (i / n) % n, i % n);
            ((x as f32 * 0.05 + c as f32).sin() * (y as f32 * 0.037).cos()) * 0.5
        })
        .collect();
    let eps = 1e-3f32;
    let plus: Vec<f32> = input
        .tensor
        .iter()
        .zip(&dir)
        .map(|(v, d)| v + eps * d)
        .collect();
    let minus: Vec<f32> = input
        .tensor
        .iter()
        .zip(&dir)
        .map(|(v, d)| v - eps * d)
        .collect();
    let fd = (value(&plus) - value(&minus)) / (2.0 * f64::from(eps));
    let analytic: f64 = grad
        .data
        .iter()
        .zip(&dir)
        .map(|(g, d)| f64::from(*g) * f64::from(*d))
        .sum();
    eprintln!("finite difference {fd:.5}, gradient {analytic:.5}");
    assert!(
        (fd - analytic).abs() <= 0.01 * analytic.abs().max(1e-6),
        "finite difference {fd} vs gradient {analytic}"
    );
}

/// At the first conv, guided backprop equals the plain gradient (the seed is positive) and
/// deconvnet ignores the input altogether (no ReLU gates it): the rules' definitions.
#[test]
fn relu_rules_at_the_first_layer_follow_their_definitions() {
    let net = cpu_network();
    let (a, b) = (
        preprocess_sample("chelsea_299.png"),
        preprocess_sample("coffee_299.png"),
    );
    // A channel that is on in some places and off in others on the first photo.
    let acts = net
        .run(&a, &TapRequest::layers(["Conv2d_1a_3x3"]).unwrap())
        .unwrap();
    let l = &acts.layers[0];
    let plane = l.shape[2] * l.shape[3];
    let k = (0..l.shape[1])
        .find(|&c| {
            let on = l.data[c * plane..(c + 1) * plane]
                .iter()
                .filter(|v| **v > 0.0)
                .count();
            (plane / 5..plane * 4 / 5).contains(&on)
        })
        .unwrap();
    let target = Target::channel("Conv2d_1a_3x3", k).unwrap();
    let run =
        |image: &InputImage, m: Method| explain(&net, image, &target, m, &Options::default()).data;
    let same = |x: Vec<f32>, y: Vec<f32>| x == y;
    assert!(same(run(&a, Method::Guided), run(&a, Method::Saliency)));
    assert!(same(run(&b, Method::Guided), run(&b, Method::Saliency)));
    assert!(same(run(&a, Method::Deconv), run(&b, Method::Deconv)));
    assert!(!same(run(&a, Method::Saliency), run(&b, Method::Saliency)));
    assert!(!same(run(&a, Method::Saliency), run(&a, Method::Deconv)));
}

/// Grad-CAM for a class at Mixed_7c against its definition: the head sees Mixed_7c through the
/// global average pool, so ∂logit/∂A_k is the same at every position — the head's gradient at
/// the pool (here by burn's autodiff over the head alone) over 64 — and the map is
/// ReLU(Σ_k α_k A_k) with α_k that constant.
#[test]
fn grad_cam_matches_its_definition() {
    let net = cpu_network();
    let input = preprocess_sample("chelsea_299.png");
    let class = 1;
    let cam = net
        .attribute(
            &input,
            &Target::Class(class),
            Method::GradCam,
            &Options::default(),
            &mut no_progress(),
        )
        .unwrap();
    assert_eq!(cam.cam_layer.as_deref(), Some("Mixed_7c"));
    assert_eq!(cam.shape, vec![8, 8]);
    let acts = net
        .run(
            &input,
            &TapRequest::layers(["Mixed_7c", "avgpool"]).unwrap(),
        )
        .unwrap();
    let a = acts.get("Mixed_7c").unwrap();
    let pooled = acts.get("avgpool").unwrap();
    // The head alone on an autodiff device.
    let ad = Device::flex().autodiff();
    let head_net = Network::load(
        &bundled_weights(),
        ComputeDevice {
            device: ad.clone(),
            backend: featurescope_net::Backend::Cpu,
            name: "autodiff".into(),
        },
    )
    .unwrap();
    let p: Tensor<2> =
        Tensor::from_data(TensorData::new(pooled.data.clone(), [1, 2048]), &ad).require_grad();
    let (logits, _) = head_net.model().head_forward(p.clone()).unwrap();
    let grads = logits.narrow(1, class, 1).sum().backward();
    let g = read(p.grad(&grads).unwrap()).unwrap();
    let plane = 64;
    let expected: Vec<f32> = (0..plane)
        .map(|i| {
            let s: f32 = (0..2048).map(|k| g[k] / 64.0 * a.data[k * plane + i]).sum();
            s.max(0.0)
        })
        .collect();
    let max = expected.iter().fold(0f32, |m, v| m.max(*v));
    assert!(max > 0.0, "the class has evidence somewhere");
    for (i, (o, e)) in cam.data.iter().zip(&expected).enumerate() {
        assert!((o - e).abs() <= 1e-4 * max, "cell {i}: {o} vs {e}");
    }
}

#[test]
fn integrated_gradients_are_complete() {
    let net = cpu_network();
    let input = preprocess_sample("chelsea_299.png");
    let target = Target::channel("Mixed_5b", 10).unwrap();
    let mut errors = Vec::new();
    for steps in [8, 64] {
        let options = Options {
            steps,
            ..Options::default()
        };
        let ig = explain(&net, &input, &target, Method::Integrated, &options);
        let c = ig.completeness.unwrap();
        eprintln!(
            "{steps} steps: Σ attributions {:.4}, F(x) − F(x′) {:.4}, error {:.3} %",
            c.sum,
            c.difference,
            c.relative_error() * 100.0
        );
        errors.push(c.relative_error());
    }
    assert!(
        errors[1] < 0.05,
        "64 steps: completeness error {}",
        errors[1]
    );
    assert!(
        errors[1] <= errors[0] + 1e-3,
        "more steps, no better: {errors:?}"
    );
}

#[test]
fn smoothgrad_is_seeded_and_grad_cam_guided_combines_both() {
    let net = cpu_network();
    let input = preprocess_sample("coffee_299.png");
    let target = Target::channel("Mixed_6e", 100).unwrap();
    let options = Options {
        samples: 4,
        batch: 2,
        ..Options::default()
    };
    let a = explain(&net, &input, &target, Method::SmoothGrad, &options);
    let b = explain(&net, &input, &target, Method::SmoothGrad, &options);
    assert_eq!(a.data, b.data, "same seed, same SmoothGrad");
    assert!(a.data.iter().all(|v| *v >= 0.0));
    let other = Options {
        seed: 1,
        ..options.clone()
    };
    let c = explain(&net, &input, &target, Method::SmoothGrad, &other);
    assert_ne!(a.data, c.data);
    // Default Grad-CAM layer of a channel target: the block its own block reads.
    let gg = explain(&net, &input, &target, Method::GuidedGradCam, &options);
    assert_eq!(gg.cam_layer.as_deref(), Some("Mixed_6d"));
    assert_eq!(gg.shape, vec![1, 3, INPUT_SIZE, INPUT_SIZE]);
    // Cancelling stops the work with `Cancelled`.
    let err = net
        .attribute(
            &input,
            &target,
            Method::SmoothGrad,
            &options,
            &mut |_, _| false,
        )
        .unwrap_err();
    assert!(matches!(err, featurescope_net::NetError::Cancelled));
    // A Grad-CAM layer above the target is refused with a reason.
    let high = Options {
        cam_layer: Some("Mixed_7c".into()),
        ..Options::default()
    };
    let err = net
        .attribute(&input, &target, Method::GradCam, &high, &mut no_progress())
        .unwrap_err();
    assert!(err.to_string().contains("does not lie below"), "{err}");
}

/// Adebayo et al.'s cascading randomisation: with every layer from Mixed_5b up re-initialised,
/// the saliency map of a Mixed_6e filter changes a lot; guided backprop's barely does (the
/// method's known insensitivity to the weights, which the check must make visible).
#[test]
fn sanity_check_shows_guided_backprop_insensitivity() {
    let net = cpu_network();
    let input = preprocess_sample("chelsea_299.png");
    let target = Target::channel("Mixed_6e", 100).unwrap();
    let options = Options::default();
    let scope = Randomize::From("Mixed_5b".into());
    let mut corr = Vec::new();
    for method in [Method::Saliency, Method::Guided] {
        let mut progress = no_progress();
        let mut job = net.job(&input, &target, &options, &mut progress);
        let report = sanity::check(&mut job, method, &scope, 7).unwrap();
        // The trained network's map is the method's own result, and the network is untouched.
        let again = explain(&net, &input, &target, method, &options);
        assert!(report.original.data == again.data, "trained map differs");
        assert!(
            report.randomized.data != again.data,
            "randomised map unchanged"
        );
        eprintln!(
            "{}: rank correlation after randomising {} = {:.3}",
            method.title(),
            scope.describe(),
            report.rank_correlation
        );
        corr.push(report.rank_correlation);
    }
    // From a block's output: the block's own convs are re-initialised too.
    let mut progress = no_progress();
    let mut job = net.job(&input, &target, &options, &mut progress);
    let own = sanity::check(
        &mut job,
        Method::Saliency,
        &Randomize::From("Mixed_6e".into()),
        7,
    )
    .unwrap();
    assert!(own.rank_correlation < 0.9, "{}", own.rank_correlation);
    assert!(corr[0] < 0.5, "saliency should change: {}", corr[0]);
    assert!(
        corr[1] > corr[0] + 0.1,
        "guided backprop should stay closer: {corr:?}"
    );
}

#[test]
fn concat_channels_name_their_branch() {
    assert_eq!(
        channel_source("Mixed_5b", 0),
        Some(("Mixed_5b.branch1x1".into(), 0))
    );
    assert_eq!(
        channel_source("Mixed_5b", 64 + 64 + 96 + 5),
        Some(("Mixed_5b.branch_pool".into(), 5))
    );
    assert_eq!(
        channel_source("mixed9", 320 + 384 + 10),
        Some(("Mixed_7b.branch3x3_2b".into(), 10))
    );
    assert_eq!(
        channel_source("Mixed_6a", 384 + 96 + 7),
        Some(("Mixed_6a.branch_pool.max_pool".into(), 7))
    );
    assert_eq!(channel_source("Mixed_5b", 256), None);
    // Gradients are walked from the conv that computes a concat's channel (the references
    // above, Mixed_5b.10, Mixed_6e.100 and Mixed_7c.7, go that way); a pool's channel stays.
    let source = |layer: &str, k: usize| Target::channel(layer, k).unwrap().source();
    assert_eq!(
        source("Mixed_6e", 100),
        Target::channel("Mixed_6e.branch1x1", 100).unwrap()
    );
    assert_eq!(
        source("mixed9", 320 + 384 + 10).at(2, 3),
        Target::channel("Mixed_7b.branch3x3_2b", 10)
            .unwrap()
            .at(2, 3)
    );
    let pool = Target::channel("Mixed_6a", 384 + 96 + 7).unwrap();
    assert_eq!(pool.source(), pool);
}

#[test]
fn feature_visualisation_raises_its_filter_and_is_reproducible() {
    let net = cpu_network();
    let options = VisualizeOptions {
        steps: 12,
        size: 96,
        ..VisualizeOptions::default()
    };
    let device = &net.device().device;
    let run = || {
        visualize(
            net.model(),
            device,
            "Mixed_5b",
            10,
            &options,
            &mut no_progress(),
        )
    };
    let a = run().unwrap();
    assert_eq!(a.rgb, run().unwrap().rgb, "same seed, same image");
    assert_eq!(a.rgb.len(), 96 * 96 * 3);
    assert_eq!(a.source, ("Mixed_5b.branch1x1".into(), 10));
    let first = a.objective[0];
    let last = *a.objective.last().unwrap();
    eprintln!(
        "objective {first:.4} → {last:.4} over {} steps",
        a.objective.len()
    );
    assert!(last > first * 2.0 + 1e-3, "{:?}", a.objective);
    let mut seen = 0;
    let err = visualize(
        net.model(),
        device,
        "Mixed_5b",
        10,
        &options,
        &mut |s, _| {
            seen = s;
            s < 3
        },
    )
    .unwrap_err();
    assert!(matches!(err, featurescope_net::NetError::Cancelled));
    assert_eq!(seen, 3);
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> (f32, f32) {
    assert_eq!(a.len(), b.len());
    let max = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    (worst, max)
}

/// `backward_from` with each image's own class seed equals a class target walked image by
/// image; with a floor, one unit of a block's output walked down to the block below equals the
/// captured gradient of that unit's own target, and leaves the input's gradient zero.
#[test]
fn backward_from_per_image_classes_and_a_floor_equal_whole_walks() {
    use featurescope_net::catalogue::Catalogue;
    let net = cpu_network();
    let device = &net.device().device;
    let images = [
        preprocess_sample("chelsea_299.png"),
        reference_image("coffee"),
    ];
    let mut batch = images[0].tensor.clone();
    batch.extend_from_slice(&images[1].tensor);
    let x2: Tensor<4> = Tensor::from_data(
        TensorData::new(batch, [2, 3, INPUT_SIZE, INPUT_SIZE]),
        device,
    );
    let single = |i: usize| -> Tensor<4> {
        Tensor::from_data(
            TensorData::new(images[i].tensor.clone(), [1, 3, INPUT_SIZE, INPUT_SIZE]),
            device,
        )
    };
    let classes = [4usize, 1];
    let rec = Recorded::new(net.model(), x2, &Target::Class(0), &[]).unwrap();
    let (at, seed) = rec.class_seed(&classes, ReluRule::Standard).unwrap();
    let ours = read(
        rec.backward_from(vec![(at, seed)], None, ReluRule::Standard, &[])
            .unwrap()
            .input,
    )
    .unwrap();
    let per = 3 * INPUT_SIZE * INPUT_SIZE;
    for (b, &class) in classes.iter().enumerate() {
        let target = Target::Class(class);
        let one = Recorded::new(net.model(), single(b), &target, &[]).unwrap();
        let theirs = one
            .backward(&target, ReluRule::Standard, &BackwardOptions::default())
            .unwrap();
        let theirs = read(theirs.input).unwrap();
        let (worst, max) = max_abs_diff(&ours[b * per..(b + 1) * per], &theirs);
        eprintln!("class {class}: {worst:e} of {max:e}");
        assert!(
            max > 0.0 && worst <= 1e-5 * max,
            "class {class}: {worst} of {max}"
        );
    }

    let cat = Catalogue::inception_v3();
    let below = cat.position("Mixed_5d").unwrap();
    let above = cat.position("Mixed_6a").unwrap();
    let (k, y, xx) = (384 + 96 + 7, 8, 5);
    let unit = Target::channel("Mixed_6a", k).unwrap().at(y, xx);
    let rec = Recorded::new(net.model(), single(0), &unit, &[below]).unwrap();
    let whole = rec
        .backward(
            &unit,
            ReluRule::Standard,
            &BackwardOptions {
                capture: vec![below],
                ..BackwardOptions::default()
            },
        )
        .unwrap();
    let [_, c, h, w] = rec.value(above).unwrap().dims();
    let mut g = vec![0f32; c * h * w];
    g[(k * h + y) * w + xx] = 1.0;
    let seed = Tensor::from_data(TensorData::new(g, [1, c, h, w]), device);
    let mut walked = rec
        .backward_from(
            vec![(above, seed)],
            Some(below),
            ReluRule::Standard,
            &[below],
        )
        .unwrap();
    let input = read(walked.input).unwrap();
    assert!(input.iter().all(|v| *v == 0.0), "the floor stops the walk");
    let ours = read(walked.captured.remove(&below).unwrap()).unwrap();
    let theirs = read(whole.captured[&below].clone()).unwrap();
    let (worst, max) = max_abs_diff(&ours, &theirs);
    assert!(max > 0.0 && worst == 0.0, "floor: {worst} of {max}");
    assert!(
        rec.backward_from(vec![], None, ReluRule::Standard, &[])
            .is_ok()
    );
    let deep = cat.position("Mixed_7c").unwrap();
    let bad = Tensor::zeros([1, 2048, 8, 8], device);
    assert!(
        rec.backward_from(vec![(deep, bad)], None, ReluRule::Standard, &[])
            .is_err()
    );
}

/// The class summary's pass: maxima equal the forward taps', attributions equal Σ a·g with g
/// the captured gradient of the class-target walk, per image, for each image's own class; the
/// predicted class is the logits' argmax.
#[test]
fn class_pass_equals_activation_times_the_class_gradient() {
    use featurescope_net::attribution::classes::class_pass;
    use featurescope_net::catalogue::Catalogue;
    let net = cpu_network();
    let device = &net.device().device;
    let images = [
        preprocess_sample("chelsea_299.png"),
        preprocess_sample("coffee_299.png"),
    ];
    let cat = Catalogue::inception_v3();
    let layers: Vec<usize> = [
        "Conv2d_2b_3x3",
        "Mixed_5b.branch_pool.avg_pool",
        "Mixed_6e",
        "avgpool",
    ]
    .iter()
    .map(|l| cat.position(l).unwrap())
    .collect();
    let classes = [3usize, 0];
    let found = class_pass(net.model(), device, &images, Some(&classes), &layers).unwrap();
    let request = TapRequest::all();
    for (b, image) in images.iter().enumerate() {
        let acts = net.run(image, &request).unwrap();
        let probs = &acts.head.as_ref().unwrap().probabilities;
        let top = (0..probs.len()).fold(0, |m, i| if probs[i] > probs[m] { i } else { m });
        assert_eq!(found[b].predicted, top);
        assert_eq!(found[b].class, classes[b]);
        let target = Target::Class(classes[b]);
        let x = Tensor::from_data(
            TensorData::new(image.tensor.clone(), [1, 3, INPUT_SIZE, INPUT_SIZE]),
            device,
        );
        let rec = Recorded::new(net.model(), x, &target, &[]).unwrap();
        let options = BackwardOptions {
            capture: layers.clone(),
            ..BackwardOptions::default()
        };
        let mut back = rec.backward(&target, ReluRule::Standard, &options).unwrap();
        for (l, &i) in layers.iter().enumerate() {
            let a = read(rec.value(i).unwrap().clone()).unwrap();
            let g = read(back.captured.remove(&i).unwrap()).unwrap();
            let c = cat.layers[i].shape[0];
            let hw = a.len() / c;
            let tap = acts
                .layers
                .iter()
                .find(|t| t.id == cat.layers[i].id)
                .unwrap();
            let ours = &found[b].layers[l];
            let mut worst = 0f64;
            let mut max = 0f64;
            for k in 0..c {
                let want_max = tap.data[k * hw..(k + 1) * hw]
                    .iter()
                    .copied()
                    .fold(f32::NEG_INFINITY, f32::max);
                assert_eq!(ours.maxima[k].to_bits(), want_max.to_bits(), "{i} {k}");
                let want: f64 = (k * hw..(k + 1) * hw)
                    .map(|j| f64::from(a[j]) * f64::from(g[j]))
                    .sum();
                worst = worst.max((f64::from(ours.attribution[k]) - want).abs());
                max = max.max(want.abs());
            }
            eprintln!("{}: {worst:e} of {max:e}", cat.layers[i].id);
            assert!(
                max > 0.0 && worst <= 1e-4 * max,
                "{}: {worst} of {max}",
                cat.layers[i].id
            );
        }
    }
}

/// The graph's influences equal, for each upper node, Σ a_j·g_j with g the gradient that the
/// node's own unit target (at its maximum, first in row-major order) sends to the lower block.
#[test]
fn influences_equal_unit_targets_at_each_nodes_maximum() {
    use featurescope_net::attribution::classes::influences;
    use featurescope_net::catalogue::Catalogue;
    let net = cpu_network();
    let device = &net.device().device;
    let image = preprocess_sample("chelsea_299.png");
    let cat = Catalogue::inception_v3();
    let (lo, hi) = (
        cat.position("Mixed_5d").unwrap(),
        cat.position("Mixed_6a").unwrap(),
    );
    let nodes = vec![(lo, vec![20u32, 93]), (hi, vec![100u32, 500])];
    let found = influences(net.model(), device, std::slice::from_ref(&image), &nodes).unwrap();
    assert_eq!((found.len(), found[0].len(), found[0][0].len()), (1, 1, 4));
    let acts = net.run(&image, &TapRequest::all()).unwrap();
    let tap = |id: &str| acts.layers.iter().find(|t| t.id == id).unwrap();
    let (upper, lower) = (tap("Mixed_6a"), tap("Mixed_5d"));
    let [_, _, h, w] = upper.shape;
    let [_, _, hl, wl] = lower.shape;
    let x = || {
        Tensor::from_data(
            TensorData::new(image.tensor.clone(), [1, 3, INPUT_SIZE, INPUT_SIZE]),
            device,
        )
    };
    for k in [100usize, 500] {
        let ch = &upper.data[k * h * w..(k + 1) * h * w];
        let at = (0..ch.len()).fold(0, |m, i| if ch[i] > ch[m] { i } else { m });
        let target = Target::channel("Mixed_6a", k).unwrap().at(at / w, at % w);
        let rec = Recorded::new(net.model(), x(), &target, &[lo]).unwrap();
        let options = BackwardOptions {
            capture: vec![lo],
            ..BackwardOptions::default()
        };
        let back = rec.backward(&target, ReluRule::Standard, &options).unwrap();
        let g = read(back.captured[&lo].clone()).unwrap();
        for j in [20usize, 93] {
            let want: f64 = (j * hl * wl..(j + 1) * hl * wl)
                .map(|i| f64::from(lower.data[i]) * f64::from(g[i]))
                .sum();
            let got = f64::from(found[0][0][&(j as u32, k as u32)]);
            eprintln!("{j} → {k}: {got} vs {want}");
            assert!(
                (got - want).abs() <= 1e-5 * want.abs().max(1e-3),
                "{j} → {k}: {got} vs {want}"
            );
        }
    }
}

/// The largest difference between two results, relative to the first's largest magnitude.
fn relative_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let max = a.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    diff / max.max(f32::MIN_POSITIVE)
}

/// What the app does: the image's pass already ran with every tap read back; an explanation
/// walks back from its taps with no forward of its own, and gives what it gives from the image.
/// A pass missing a layer the walk needs runs the forward after all, and the sanity check's
/// re-initialised network never takes the (trained) pass.
#[test]
fn walks_on_the_apps_pass_equal_walks_from_the_image() {
    let net = cpu_network();
    let input = preprocess_sample("chelsea_299.png");
    let acts = net.run(&input, &TapRequest::all()).unwrap();
    let partial = net
        .run(&input, &TapRequest::layers(["Mixed_5b"]).unwrap())
        .unwrap();
    let options = Options::default();
    let targets = [Target::channel("Mixed_6e", 100).unwrap(), Target::Class(2)];
    let methods = [
        Method::Saliency,
        Method::Guided,
        Method::Deconv,
        Method::GradCam,
        Method::GuidedGradCam,
    ];
    for target in &targets {
        for method in methods {
            let from_image = explain(&net, &input, target, method, &options);
            for pass in [Pass::Host(&acts), Pass::Host(&partial)] {
                let mut progress = no_progress();
                let job = net.job(&input, target, &options, &mut progress);
                let on_pass = method
                    .implementation()
                    .compute(&mut job.on_pass(pass))
                    .unwrap();
                assert_eq!(from_image.shape, on_pass.shape);
                assert!(
                    from_image.data == on_pass.data,
                    "{} of {}: {} apart on the pass",
                    method.title(),
                    target.describe(),
                    relative_difference(&from_image.data, &on_pass.data)
                );
                assert_eq!(from_image.target_value, on_pass.target_value);
            }
        }
    }
    let target = &targets[0];
    let scope = Randomize::From("Mixed_6a".into());
    let mut progress = no_progress();
    let mut job = net.job(&input, target, &options, &mut progress);
    let plain = sanity::check(&mut job, Method::Guided, &scope, 7).unwrap();
    let mut progress = no_progress();
    let mut job = net
        .job(&input, target, &options, &mut progress)
        .on_pass(Pass::Host(&acts));
    let on_pass = sanity::check(&mut job, Method::Guided, &scope, 7).unwrap();
    assert!(plain.original.data == on_pass.original.data);
    assert!(plain.randomized.data == on_pass.randomized.data);
}

/// On wgpu the app keeps the taps on the device: guided backprop from them equals guided
/// backprop from the image.
#[test]
fn walks_on_a_resident_pass_equal_walks_from_the_image_on_wgpu() {
    let Some(dev) = device(BackendChoice::Wgpu) else {
        return;
    };
    let net = Network::load(&bundled_weights(), dev).unwrap();
    let input = preprocess_sample("chelsea_299.png");
    let taps = net.run_resident(&input, &TapRequest::all()).unwrap();
    let target = Target::channel("Mixed_5d", 40).unwrap();
    let options = Options::default();
    let from_image = explain(&net, &input, &target, Method::Guided, &options);
    let mut progress = no_progress();
    let job = net.job(&input, &target, &options, &mut progress);
    let on_pass = Method::Guided
        .implementation()
        .compute(&mut job.on_pass(Pass::Device(&taps)))
        .unwrap();
    let d = relative_difference(&from_image.data, &on_pass.data);
    eprintln!("guided on the resident pass: {d:e} of max apart");
    assert!(d <= 1e-5, "{d}");
}
