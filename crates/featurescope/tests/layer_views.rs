//! What a layer sees in one photo, against independent computations: the dictionary against
//! brute force over `featurescope dump`; neuron groups against scikit-learn's NMF with the same
//! settings (`crates/net/tests/reference/groups.sklearn.json`, made by
//! `make_groups_spatial.py`, and the same script run live in the fixtures' scikit-learn venv);
//! `spatial`'s outputs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

mod common;

use common::*;
use featurescope_maps::LayerMaps;
use featurescope_maps::groups::factorise;

fn read_npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f32>().unwrap())
}

/// Every position's top 4 channels of three layers equal brute force — every channel sorted
/// by value, ties by lower index — over the layer as `dump` writes it.
#[test]
fn dictionary_equals_brute_force_over_dump() {
    let dir = tempfile::tempdir().unwrap();
    let photo = sample("chelsea_299.png");
    let layers = ["Conv2d_2b_3x3", "Mixed_5b", "Mixed_6e"];
    let acts = dir.path().join("acts");
    let (photo_arg, acts_arg) = (photo.to_str().unwrap(), acts.to_str().unwrap());
    let layer_list = layers.join(",");
    ok(&featurescope(&[
        "dump",
        "--image",
        photo_arg,
        "--out",
        acts_arg,
        "--layers",
        &layer_list,
        "--backend",
        "cpu",
    ]));
    for layer in layers {
        let png = dir.path().join(format!("{layer}.png"));
        let out = ok(&featurescope(&[
            "dictionary",
            "--image",
            photo_arg,
            "--layer",
            layer,
            "--k",
            "4",
            "--json",
            "--out",
            png.to_str().unwrap(),
            "--backend",
            "cpu",
        ]));
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(json["layer"], layer);
        let (shape, data) = read_npy(&acts.join(format!("{layer}.npy")));
        let (c, h, w) = (shape[1] as usize, shape[2] as usize, shape[3] as usize);
        let positions = json["positions"].as_array().unwrap();
        assert_eq!(positions.len(), h * w, "{layer}: every position");
        let mut ties = 0;
        for p in positions {
            let (y, x) = (
                p["y"].as_u64().unwrap() as usize,
                p["x"].as_u64().unwrap() as usize,
            );
            let value = |k: usize| data[k * h * w + y * w + x];
            let mut all: Vec<usize> = (0..c).collect();
            all.sort_by(|&a, &b| value(b).total_cmp(&value(a)).then(a.cmp(&b)));
            ties += usize::from(value(all[3]) == value(all[4]));
            let want: Vec<u64> = all[..4].iter().map(|&k| k as u64).collect();
            let got: Vec<u64> = p["channels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect();
            assert_eq!(got, want, "{layer} at ({y}, {x})");
            let values: Vec<f32> = p["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            let want_values: Vec<f32> = all[..4].iter().map(|&k| value(k)).collect();
            assert_eq!(values, want_values, "{layer} at ({y}, {x})");
        }
        let img = image::open(&png).unwrap();
        assert!(
            img.width() >= w as u32 * 8,
            "{layer}: the PNG has a cell per position"
        );
        eprintln!(
            "{layer}: {} positions equal brute force ({ties} with a tie at the 4th place)",
            h * w
        );
    }
}

/// One case of the scikit-learn reference.
struct Case {
    image: String,
    layer: String,
    error: f64,
    centres: Vec<(f64, f64)>,
}

/// The cases of a scikit-learn reference file (`groups.sklearn.json`'s layout).
fn sklearn_cases_from(path: &Path) -> Vec<Case> {
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            image: c["image"].as_str().unwrap().to_string(),
            layer: c["layer"].as_str().unwrap().to_string(),
            error: c["error"].as_f64().unwrap(),
            centres: c["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| {
                    (
                        g["centre"][0].as_f64().unwrap(),
                        g["centre"][1].as_f64().unwrap(),
                    )
                })
                .collect(),
        })
        .collect()
}

/// The committed reference.
fn sklearn_cases() -> Vec<Case> {
    sklearn_cases_from(&repo().join("crates/net/tests/reference/groups.sklearn.json"))
}

/// featurescope's factorisation of the case's activations: its relative error within 1 % of
/// scikit-learn's, each group's centre within a cell of scikit-learn's (the same left-to-right
/// order). Returns the relative difference of the errors.
fn check_factorisation(case: &Case) -> f64 {
    let what = format!("{} {}", case.image, case.layer);
    let g = factorise(&reference_maps(&case.image, &case.layer), 6, 200).unwrap();
    let rel = (g.error - case.error).abs() / case.error;
    eprintln!(
        "{what}: error {:.6} vs scikit-learn {:.6} (relative difference {rel:.1e})",
        g.error, case.error
    );
    assert!(rel <= 0.01, "{what}: {rel}");
    assert_eq!(g.k(), case.centres.len(), "{what}: groups");
    for (i, want) in case.centres.iter().enumerate() {
        let got = g.centroid(i).unwrap();
        let d = (got.0 - want.0).hypot(got.1 - want.1);
        assert!(
            d <= 1.0,
            "{what}: group {i} centre {got:?}, scikit-learn's {want:?}"
        );
    }
    rel
}

/// The reference's input: TF.js's activations of the layer (`L.full`), as scikit-learn got them.
fn reference_maps(image: &str, layer: &str) -> LayerMaps {
    let path = repo().join(format!("crates/net/tests/reference/{image}.safetensors"));
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let view = st.tensor(&format!("{layer}.full")).unwrap();
    let shape: Vec<u64> = view.shape().iter().map(|&d| d as u64).collect();
    let data = view
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    LayerMaps::from_shape(&shape, data).unwrap()
}

/// Groups' relative error within 1 % of scikit-learn's (same activations: the factorisation
/// itself; the binary on the photo: through featurescope's own forward pass), on three layers
/// of two photos; the masks come out in the same left-to-right order as scikit-learn's (each
/// centre within a cell of its), and twice the same.
#[test]
fn groups_match_scikit_learn() {
    let dir = tempfile::tempdir().unwrap();
    let mut worst = (0.0f64, String::new());
    for case in sklearn_cases() {
        let what = format!("{} {}", case.image, case.layer);
        let rel = check_factorisation(&case);
        // The binary, on the photo, through featurescope's forward pass.
        let photo = sample(&format!("{}_299.png", case.image));
        let png = dir.path().join(format!("{what}.png"));
        let args = [
            "groups",
            "--image",
            photo.to_str().unwrap(),
            "--layer",
            &case.layer,
            "--json",
            "--out",
            png.to_str().unwrap(),
            "--backend",
            "cpu",
        ];
        let first: serde_json::Value = serde_json::from_str(&ok(&featurescope(&args))).unwrap();
        let error = first["error"].as_f64().unwrap();
        let rel_cli = (error - case.error).abs() / case.error;
        eprintln!(
            "{what}: `featurescope groups` error {error:.6} (relative difference {rel_cli:.1e})"
        );
        assert!(rel_cli <= 0.01, "{what}: binary {rel_cli}");
        assert_eq!(first["k"], 6);
        assert_eq!(first["spatial"].as_array().unwrap().len(), 6);
        std::fs::remove_file(&png).unwrap();
        let again: serde_json::Value = serde_json::from_str(&ok(&featurescope(&args))).unwrap();
        assert_eq!(first, again, "{what}: not the same twice");
        if rel.max(rel_cli) > worst.0 {
            worst = (rel.max(rel_cli), what);
        }
    }
    eprintln!(
        "worst relative difference of the error: {:.1e} ({})",
        worst.0, worst.1
    );
}

/// The same comparison against scikit-learn run now: `make_groups_spatial.py --part groups` in
/// the fixtures' scikit-learn venv ($FEATURESCOPE_FIXTURE_VENV_SKLEARN, default
/// /tmp/featurescope-fixtures-sklearn; `.ci/run` makes it), written to a temporary file. Without
/// the venv it prints SKIPPED, unless FEATURESCOPE_REQUIRE_SKLEARN is set (CI), where that is a
/// failure.
#[test]
fn groups_match_scikit_learn_live() {
    let venv = std::env::var_os("FEATURESCOPE_FIXTURE_VENV_SKLEARN").map_or_else(
        || "/tmp/featurescope-fixtures-sklearn".into(),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    if !python.exists() {
        assert!(
            std::env::var_os("FEATURESCOPE_REQUIRE_SKLEARN").is_none(),
            "no scikit-learn venv at {} (make it: python3 \
             crates/net/tests/reference/make_groups_spatial.py --venv-only)",
            venv.display()
        );
        eprintln!("SKIPPED: no scikit-learn venv at {}", venv.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("groups.sklearn.json");
    let run = std::process::Command::new(&python)
        .arg(repo().join("crates/net/tests/reference/make_groups_spatial.py"))
        .args(["--part", "groups"])
        .env("FEATURESCOPE_REFERENCE_CHILD", "1")
        .env("FEATURESCOPE_GROUPS_OUT", &out)
        .env("OMP_NUM_THREADS", "2")
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    let cases = sklearn_cases_from(&out);
    assert_eq!(cases.len(), 6, "three layers of two photos");
    let worst = cases.iter().map(check_factorisation).fold(0.0, f64::max);
    eprintln!("live scikit-learn: worst relative difference of the error {worst:.1e}");
}

/// `dictionary` draws a channel as its feature-visualisation icon when the app's disk cache
/// (`<data home>/featurescope/icons/<weights id>/<layer>/<channel>.png`) has it, else as a
/// colour.
#[test]
fn dictionary_reads_the_icon_cache() {
    let dir = tempfile::tempdir().unwrap();
    let photo = sample("chelsea_299.png");
    let run = |out: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_featurescope"))
            .args(["dictionary", "--image", photo.to_str().unwrap()])
            .args([
                "--layer",
                "Mixed_7c",
                "--k",
                "1",
                "--json",
                "--backend",
                "cpu",
            ])
            .arg("--out")
            .arg(dir.path().join(out))
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .output()
            .unwrap()
    };
    let first = run("a.png");
    let json: serde_json::Value = serde_json::from_str(&ok(&first)).unwrap();
    assert!(stderr(&first).contains("0 cached"), "{}", stderr(&first));
    let top = json["positions"][0]["channels"][0].as_u64().unwrap();
    let icons = dir
        .path()
        .join("data/featurescope/icons")
        .join(concat!("bundled-", env!("CARGO_PKG_VERSION")))
        .join("Mixed_7c");
    std::fs::create_dir_all(&icons).unwrap();
    image::RgbImage::from_pixel(8, 8, image::Rgb([255, 0, 0]))
        .save(icons.join(format!("{top}.png")))
        .unwrap();
    let second = run("b.png");
    ok(&second);
    // Pictures are made once per channel: this one from the cache, the others as colours.
    assert!(
        stderr(&second).contains("pictures: 1 cached"),
        "{}",
        stderr(&second)
    );
}

/// `spatial` writes its map as float32 [H, W] at the layer's resolution (the difference of the
/// two classes with --class2) and a PNG; it refuses to replace an existing file.
#[test]
fn spatial_writes_the_map() {
    let dir = tempfile::tempdir().unwrap();
    let (png, npy) = (dir.path().join("s.png"), dir.path().join("s.npy"));
    let photo = sample("chelsea_299.png");
    let args = [
        "spatial",
        "--image",
        photo.to_str().unwrap(),
        "--layer",
        "Mixed_6e",
        "--class",
        "0",
        "--class2",
        "1",
        "--out",
        png.to_str().unwrap(),
        "--npy",
        npy.to_str().unwrap(),
        "--backend",
        "cpu",
    ];
    let out = ok(&featurescope(&args));
    assert!(out.contains("17x17 map"), "{out}");
    let (shape, data) = read_npy(&npy);
    assert_eq!(shape, vec![17, 17]);
    assert!(data.iter().any(|v| *v != 0.0));
    assert_eq!(image::open(&png).unwrap().width(), 299);
    let again = featurescope(&args);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
}
