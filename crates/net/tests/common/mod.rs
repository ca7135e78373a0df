//! Shared test helpers: reference activations (TF.js / PyTorch), the bundled weights, and the
//! comparison that names the layer, the index and both values on failure.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use featurescope_net::{Activations, BackendChoice, ComputeDevice, Network, TapRequest};
use safetensors::{Dtype, SafeTensors};

pub const TOLERANCE: f32 = 2e-4;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference")
}

pub fn sample(name: &str) -> PathBuf {
    repo().join("assets/samples").join(name)
}

pub fn bundled_weights() -> PathBuf {
    repo().join(featurescope_net::DEFAULT_WEIGHTS)
}

#[path = "../imports/fixtures.rs"]
mod fixtures;

pub use fixtures::{fixture, generated};

/// torchvision's `inception_v3` with the bundled trunk weights as `torch.save` wrote it
/// (`imports/make_fixtures.sh`): `None`, printed as SKIPPED, where the fixtures were not made;
/// a failure under FEATURESCOPE_REQUIRE_IMPORT_FIXTURES (CI sets it).
pub fn torchvision_pth() -> Option<PathBuf> {
    fixture("torchvision.pth")
}

/// The same state dict as `safetensors.torch.save_file` wrote it (no AuxLogits).
pub fn torchvision_safetensors() -> Option<PathBuf> {
    fixture("torchvision.safetensors")
}

/// torch's own taps and head of `torchvision.pth` on `image`'s reference input.
pub fn torch_reference(image: &str) -> Reference {
    let dir = generated();
    Reference::from_files(
        &dir.join(format!("torch_{image}.reference.safetensors")),
        &dir.join(format!("torch_{image}.layers.json")),
    )
}

/// A reference file's tensors as f32 / i64 vectors.
pub struct Reference {
    f32s: HashMap<String, Vec<f32>>,
    i64s: HashMap<String, Vec<i64>>,
    pub layers: Vec<(String, Vec<usize>)>,
}

impl Reference {
    pub fn load(image: &str, torchvision: bool) -> Self {
        let suffix = if torchvision { ".torchvision" } else { "" };
        let dir = reference_dir();
        Self::from_files(
            &dir.join(format!("{image}{suffix}.safetensors")),
            &dir.join(format!("{image}{suffix}.layers.json")),
        )
    }

    /// A reference in the same layout from any pair of files. The 2015 graph's max-pool tap
    /// (`Mixed_7c.branch_pool.max_pool` in its reference) is read under featurescope's id,
    /// which stays `….avg_pool` in every variant.
    pub fn from_files(tensors: &Path, layers: &Path) -> Self {
        let rename = |name: String| {
            name.replace(
                "Mixed_7c.branch_pool.max_pool",
                "Mixed_7c.branch_pool.avg_pool",
            )
        };
        let bytes = std::fs::read(tensors).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let mut f32s = HashMap::new();
        let mut i64s = HashMap::new();
        for (name, view) in st.tensors() {
            let data = view.data();
            let name = rename(name);
            match view.dtype() {
                safetensors::Dtype::F32 => {
                    f32s.insert(
                        name,
                        data.chunks_exact(4)
                            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                            .collect(),
                    );
                }
                safetensors::Dtype::I64 => {
                    i64s.insert(
                        name,
                        data.chunks_exact(8)
                            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                            .collect(),
                    );
                }
                other => panic!("unexpected dtype {other:?}"),
            }
        }
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(layers).unwrap()).unwrap();
        let layers = json["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    rename(l["layer"].as_str().unwrap().to_string()),
                    l["shape_nchw"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_u64().unwrap() as usize)
                        .collect(),
                )
            })
            .filter(|(id, _)| !id.starts_with("head."))
            .collect();
        Self { f32s, i64s, layers }
    }

    pub fn f32(&self, key: &str) -> Option<&Vec<f32>> {
        self.f32s.get(key)
    }

    pub fn input(&self) -> &Vec<f32> {
        self.f32s.get("input").unwrap()
    }
}

/// Compare one pass with a reference; returns failure messages (empty = pass).
pub fn compare(acts: &Activations, reference: &Reference, what: &str) -> Vec<String> {
    let mut failures = Vec::new();
    // Largest |rust - ref| / layer max seen, and where: printed for the record.
    let mut worst = (0.0f32, String::new());
    for (id, shape) in &reference.layers {
        let Some(ours) = acts.get(id) else {
            failures.push(format!("{what}: layer {id} missing from our taps"));
            continue;
        };
        if ours.shape.to_vec() != *shape {
            failures.push(format!(
                "{what}: layer {id}: shape {:?} vs reference {shape:?}",
                ours.shape
            ));
            continue;
        }
        let ch_max = reference.f32(&format!("{id}.channel_max")).unwrap();
        let ch_mean = reference.f32(&format!("{id}.channel_mean")).unwrap();
        let s_idx = reference.i64s.get(&format!("{id}.sample_index")).unwrap();
        let s_val = reference.f32(&format!("{id}.sample_value")).unwrap();
        let scale = ch_max
            .iter()
            .chain(s_val)
            .fold(0.0f32, |m, v| m.max(v.abs()))
            .max(1e-12);
        let tol = TOLERANCE * scale;
        let mut check = |kind: &str, i: usize, ours: f32, theirs: f32| {
            let rel = (ours - theirs).abs() / scale;
            if rel > worst.0 {
                worst = (rel, format!("{id} {kind} {i}"));
            }
            if (ours - theirs).abs() > tol || !ours.is_finite() {
                failures.push(format!(
                    "{what}: layer {id}, {kind} idx {i}: rust={ours}, ref={theirs} (tol {tol:e})"
                ));
            }
        };
        for (&i, &v) in s_idx.iter().zip(s_val) {
            check("sample", i as usize, ours.data[i as usize], v);
        }
        let [_, c, h, w] = ours.shape;
        let plane = h * w;
        for ch in 0..c {
            let m = &ours.data[ch * plane..(ch + 1) * plane];
            let mean = m.iter().map(|&v| f64::from(v)).sum::<f64>() / plane as f64;
            let max = m.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            check("channel_mean", ch, mean as f32, ch_mean[ch]);
            check("channel_max", ch, max, ch_max[ch]);
        }
        if let Some(full) = reference.f32(&format!("{id}.full")) {
            for (i, (&a, &b)) in ours.data.iter().zip(full).enumerate() {
                check("full", i, a, b);
            }
        }
    }
    eprintln!(
        "{what}: largest deviation {:.2e} of the layer's max ({}), tolerance {TOLERANCE:.0e}",
        worst.0, worst.1
    );
    failures
}

/// Compare the head's probabilities (every reference has them) and, where the reference has
/// them, its logits, within 2e-4 of the largest reference value.
pub fn compare_head(acts: &Activations, reference: &Reference, what: &str) -> Vec<String> {
    let mut failures = Vec::new();
    let head = acts.head.as_ref().expect("head output");
    assert!(
        reference.f32("head.probabilities.full").is_some(),
        "{what}: the reference has no head.probabilities.full"
    );
    for (key, ours) in [
        ("head.probabilities.full", &head.probabilities),
        ("head.logits.full", &head.logits),
    ] {
        let Some(theirs) = reference.f32(key) else {
            continue;
        };
        assert_eq!(ours.len(), theirs.len(), "{what}: {key} length");
        let scale = theirs.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
        for (i, (&a, &b)) in ours.iter().zip(theirs).enumerate() {
            if (a - b).abs() > TOLERANCE * scale {
                failures.push(format!("{what}: {key} idx {i}: rust={a}, ref={b}"));
            }
        }
    }
    failures
}

/// The device for a backend, or `None` with a printed reason when wgpu has no adapter here
/// (set FEATURESCOPE_REQUIRE_WGPU=1 — CI does — to make that a failure instead).
pub fn device(choice: BackendChoice) -> Option<ComputeDevice> {
    match featurescope_net::device::select(choice) {
        Ok(d) => Some(d),
        Err(e) => {
            if std::env::var_os("FEATURESCOPE_REQUIRE_WGPU").is_some() {
                panic!("wgpu required but unavailable: {e}");
            }
            eprintln!("SKIPPED: {e}");
            None
        }
    }
}

/// Run the reference input (the exact tensor the reference used) through a network.
pub fn run_reference_input(net: &Network, reference: &Reference) -> Activations {
    let input = featurescope_net::InputImage {
        original: image::RgbImage::new(1, 1),
        crop: image::RgbImage::new(1, 1),
        tensor: reference.input().clone(),
    };
    net.run(&input, &TapRequest::all()).unwrap()
}

pub fn report(failures: &[String]) {
    if !failures.is_empty() {
        let shown: Vec<_> = failures.iter().take(20).cloned().collect();
        panic!(
            "{} mismatches; first ones:\n{}",
            failures.len(),
            shown.join("\n")
        );
    }
}

/// A float64 or float32 tensor of a reference file, as `f64`.
pub fn f64s(st: &SafeTensors<'_>, name: &str) -> Vec<f64> {
    let view = st.tensor(name).unwrap();
    match view.dtype() {
        Dtype::F64 => view
            .data()
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        Dtype::F32 => view
            .data()
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap())))
            .collect(),
        other => panic!("{name}: {other:?}"),
    }
}

/// An int64 tensor of a reference file.
pub fn i64s(st: &SafeTensors<'_>, name: &str) -> Vec<i64> {
    st.tensor(name)
        .unwrap()
        .data()
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// max |ours − reference| / max |reference|.
pub fn deviation(ours: &[f32], reference: &[f64]) -> f64 {
    assert_eq!(ours.len(), reference.len());
    let max = reference.iter().fold(0f64, |a, v| a.max(v.abs()));
    ours.iter()
        .zip(reference)
        .map(|(a, b)| (f64::from(*a) - b).abs())
        .fold(0f64, f64::max)
        / max
}
