//! `featurescope compare`, checked: CKA of a model against itself is 1 at every tap; against a
//! float64 NumPy implementation of the same estimator over the same `dump`s (8 images, two
//! batches of 4; `compare/cka_reference.json`, made by `compare/make_cka_reference.sh`) within
//! 1e-4 at every tap; the bundled model against its TensorFlow-for-Poets export is 1 before
//! the export's max-pool branch and below 1 from it on; shards merged in any order, and a run
//! stopped and continued, give the bytes of one straight run; the figure of one image twice
//! has identical halves and a zero difference.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

mod common;

use common::*;

#[path = "../../net/tests/imports/fixtures.rs"]
mod fixtures;

/// Images per batch in these tests: the 8 fixture images are two batches.
const BATCH: &str = "4";

/// Eight photos made from the two samples (flipped, rotated, grey), in `dir`.
fn write_images(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let cat = image::open(sample("chelsea_299.png")).unwrap();
    let cup = image::open(sample("coffee_299.png")).unwrap();
    let images = [
        ("a_cat.png", cat.clone()),
        ("b_cup.png", cup.clone()),
        ("c_cat_flipped.png", cat.fliph()),
        ("d_cup_flipped.png", cup.fliph()),
        ("e_cat_grey.png", cat.grayscale()),
        ("f_cup_rotated.png", cup.rotate90()),
        ("g_cat_rotated.png", cat.rotate180()),
        ("h_cup_grey.png", cup.grayscale()),
    ];
    for (name, img) in images {
        img.to_rgb8().save(dir.join(name)).unwrap();
    }
}

/// Model B: the bundled model with every weight from Mixed_6a up re-initialised (seeded), saved
/// in torchvision's layout (so its average pools count padded zeros, too), without a head.
fn write_model_b(path: &Path) {
    use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, SafetensorsStore};
    use featurescope_net::attribution::sanity::{Randomize, randomized};
    let (device, _) = featurescope_net::device::select_or_cpu(featurescope_net::BackendChoice::Cpu);
    let net =
        featurescope_net::Network::load_source(&featurescope_net::WeightsSource::Bundled, device)
            .unwrap();
    let mut model = randomized(net.model(), &Randomize::From("Mixed_6a".into()), 20).unwrap();
    model.fc = None;
    model.dense_head = None;
    let mut store = SafetensorsStore::from_file(path).with_to_adapter(BurnToPyTorchAdapter);
    model.save_into(&mut store).unwrap();
}

/// The fixture in `dir`: `images/` and `model_b.safetensors`.
fn write_fixture(dir: &Path) -> (PathBuf, PathBuf) {
    let (images, model_b) = (dir.join("images"), dir.join("model_b.safetensors"));
    write_images(&images);
    write_model_b(&model_b);
    (images, model_b)
}

/// Writes the fixture to `$FEATURESCOPE_CKA_FIXTURE_DIR` for `compare/make_cka_reference.sh`.
#[test]
#[ignore = "run by compare/make_cka_reference.sh"]
fn write_cka_fixture() {
    let dir = std::env::var_os("FEATURESCOPE_CKA_FIXTURE_DIR").expect("the fixture's folder");
    write_fixture(Path::new(&dir));
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `compare show REPORT --json` (with `--layer`, its channels too).
fn show(report: &Path, layer: Option<&str>) -> serde_json::Value {
    let mut args = vec!["compare", "show", path(report), "--json", "--top", "1000"];
    if let Some(l) = layer {
        args.extend(["--layer", l]);
    }
    let o = featurescope(&args);
    ok(&o);
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Each layer's CKA from a report.
fn ckas(report: &Path) -> BTreeMap<String, f64> {
    let v = show(report, None);
    v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let cka = l["cka"].as_f64().unwrap_or(f64::NAN);
            (l["layer"].as_str().unwrap().to_string(), cka)
        })
        .collect()
}

/// `compare --images DIR --out REPORT --batch 4 --backend cpu` with more arguments.
fn compare(images: &Path, out: &Path, more: &[&str]) -> Output {
    let mut args = vec![
        "compare",
        "--images",
        path(images),
        "--out",
        path(out),
        "--batch",
        BATCH,
        "--backend",
        "cpu",
    ];
    args.extend_from_slice(more);
    featurescope(&args)
}

#[test]
fn a_model_against_itself_is_one_at_every_tap() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    write_images(&images);
    let report = dir.path().join("self.json");
    ok(&compare(&images, &report, &[]));
    let ckas = ckas(&report);
    assert_eq!(ckas.len(), 123);
    let worst = ckas
        .iter()
        .map(|(l, c)| (l, (c - 1.0).abs()))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    eprintln!("self CKA: worst |1 - CKA| = {:.3e} at {}", worst.1, worst.0);
    assert!(worst.1 <= 1e-6, "{} has CKA {}", worst.0, ckas[worst.0]);
    // Every channel's maximum correlates perfectly (or is constant) and its top images agree.
    let v = show(&report, Some("Mixed_5b"));
    let channels = v["channels"].as_array().unwrap();
    assert_eq!(channels.len(), 256);
    for c in channels {
        assert_eq!(c["jaccard"].as_f64(), Some(1.0), "{c}");
        if let Some(r) = c["correlation"].as_f64() {
            assert!((r - 1.0).abs() <= 1e-12, "{c}");
        }
    }
}

#[test]
fn cka_matches_numpy_and_parts_merge_to_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (images, model_b) = write_fixture(dir.path());
    let b = ["--weights2", path(&model_b)];
    let whole = dir.path().join("whole.json");
    ok(&compare(&images, &whole, &b));
    numpy_reference(&whole);
    show_shapes(&whole);
    let bytes = std::fs::read(&whole).unwrap();

    // Two shards (one batch each), merged in both orders.
    let (p0, p1) = (dir.path().join("p0.json"), dir.path().join("p1.json"));
    ok(&compare(
        &images,
        &p0,
        &[&b[..], &["--shard", "0/2"]].concat(),
    ));
    ok(&compare(
        &images,
        &p1,
        &[&b[..], &["--shard", "1/2"]].concat(),
    ));
    for (first, second, name) in [(&p0, &p1, "m01.json"), (&p1, &p0, "m10.json")] {
        let m = dir.path().join(name);
        ok(&featurescope(&[
            "compare",
            "merge",
            path(first),
            path(second),
            "--out",
            path(&m),
        ]));
        assert!(
            std::fs::read(&m).unwrap() == bytes,
            "{name} differs from one run"
        );
    }
    parts_folder(&images, &b, dir.path(), &bytes);
    // Stopped after one batch (as Ctrl-C would), then the same command continues.
    let resumed = dir.path().join("resumed.json");
    let stopped = compare(
        &images,
        &resumed,
        &[&b[..], &["--stop-after", "1"]].concat(),
    );
    assert!(!stopped.status.success());
    assert!(stderr(&stopped).contains("run the same command to continue"));
    ok(&compare(&images, &resumed, &b));
    assert!(
        std::fs::read(&resumed).unwrap() == bytes,
        "a resumed run differs"
    );
    // A part of other settings is refused, naming what differs.
    let other = dir.path().join("other.json");
    ok(&compare(
        &images,
        &other,
        &["--shard", "0/2", "--layers", "Conv2d_1a_3x3"],
    ));
    let o = featurescope(&[
        "compare",
        "merge",
        path(&p1),
        path(&other),
        "--out",
        path(&dir.path().join("x.json")),
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("differ in models"),
        "{}",
        stderr(&o)
    );
}

/// A `--parts` folder as a job array fills it (part 0 by `--shard`, part 1 as Slurm's task 1 of
/// 2), merged as a folder: refused while a shard is missing (naming it) unless
/// `--allow-missing`, then the bytes of one run.
fn parts_folder(images: &Path, model_b: &[&str], dir: &Path, bytes: &[u8]) {
    let parts = dir.join("parts");
    let part = |more: &[&str], env: &[(&str, &str)]| {
        let mut args = vec![
            "compare",
            "--images",
            path(images),
            "--parts",
            path(&parts),
            "--batch",
            BATCH,
            "--backend",
            "cpu",
        ];
        args.extend_from_slice(model_b);
        args.extend_from_slice(more);
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_featurescope"))
            .args(&args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        ok(&o);
        o
    };
    part(&["--shard", "0/2"], &[]);
    assert!(parts.join("part-0000-of-0002.json").is_file());
    let merged = dir.join("from_parts.json");
    let merge = |more: &[&str]| {
        let mut args = vec!["compare", "merge", path(&parts), "--out", path(&merged)];
        args.extend_from_slice(more);
        featurescope(&args)
    };
    let o = merge(&[]);
    assert!(
        !o.status.success() && stderr(&o).contains("shards 1 of 2"),
        "{}",
        stderr(&o)
    );
    let o = merge(&["--allow-missing"]);
    ok(&o);
    assert!(
        stderr(&o).contains("without shards 1 of 2"),
        "{}",
        stderr(&o)
    );
    let slurm = [
        ("SLURM_ARRAY_TASK_ID", "1"),
        ("SLURM_ARRAY_TASK_COUNT", "2"),
    ];
    let o = part(&[], &slurm);
    assert!(
        stderr(&o).contains("shard 1/2 from SLURM_ARRAY_TASK_ID=1"),
        "{}",
        stderr(&o)
    );
    ok(&merge(&["--overwrite"]));
    assert!(
        std::fs::read(&merged).unwrap() == bytes,
        "the merged --parts folder differs from one run"
    );
}

/// Every tap's CKA against the committed NumPy reference.
fn numpy_reference(report: &Path) {
    let text = std::fs::read_to_string(
        repo().join("crates/featurescope/tests/compare/cka_reference.json"),
    )
    .expect("cka_reference.json: run crates/featurescope/tests/compare/make_cka_reference.sh");
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    let reference = reference["cka"].as_object().unwrap();
    let ours = ckas(report);
    assert_eq!(reference.len(), 123);
    let mut worst = (String::new(), 0.0f64);
    for (layer, r) in reference {
        let r = r.as_f64().unwrap();
        let d = (ours[layer] - r).abs();
        assert!(d <= 1e-4, "layer {layer}: rust={}, numpy={r}", ours[layer]);
        if d > worst.1 {
            worst = (layer.clone(), d);
        }
    }
    let lowest = reference
        .values()
        .filter_map(|v| v.as_f64())
        .fold(1.0, f64::min);
    eprintln!(
        "CKA against NumPy: worst |difference| {:.3e} at {}; CKA ranges down to {lowest:.4}",
        worst.1, worst.0
    );
    assert!(lowest < 0.9, "model B should differ somewhere");
}

/// `show --json`'s keys, and `show`'s text.
fn show_shapes(report: &Path) {
    let v = show(report, Some("mixed7"));
    let keys: Vec<&String> = v["layers"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["cka", "layer"]);
    let channels = v["channels"].as_array().unwrap();
    assert_eq!(channels.len(), 768);
    let keys: Vec<&String> = channels[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["channel", "correlation", "jaccard"]);
    // Ranked by change: the correlations ascend (those without one count as 1 or 0).
    let text = featurescope(&[
        "compare",
        "show",
        path(report),
        "--layer",
        "Mixed_6e",
        "--top",
        "3",
    ]);
    ok(&text);
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(out.contains("Mixed_6e - most changed channels"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.contains("jaccard")).count(),
        3,
        "{out}"
    );
}

/// The bundled model against its TensorFlow-for-Poets export (the fixture `make_fixtures.sh`
/// builds: the same trunk, the 2015 graph's max-pool branch in Mixed_7c). The export also feeds
/// its trunk `(x − 128) / 128` where the bundled model feeds `x / 127.5 − 1` (0.4 % apart at the
/// first conv), so the trunks are the same function only up to that: on these 8 images
/// |1 − CKA| reaches 1.5e-5 there (the issue hoped for 1e-5), while the max-pool branch and
/// what follows it fall below 1 by 5.6e-4 and more. The test holds the trunk to 2e-5 and the
/// changed taps to more than 5e-5 below 1: CKA tells the two apart by an order of magnitude.
#[test]
fn the_bundled_model_against_its_poets_export() {
    let Some(pb) = fixtures::fixture("poets/retrained_graph.pb") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    write_images(&images);
    let report = dir.path().join("poets.json");
    ok(&compare(&images, &report, &["--weights2", path(&pb)]));
    // The pool itself (a max where the bundled model averages) is reported, not held: how far
    // its CKA falls depends on the images.
    let pool = "Mixed_7c.branch_pool.avg_pool";
    let changed = ["Mixed_7c.branch_pool", "Mixed_7c", "avgpool"];
    let (mut worst_same, mut over) = ((String::new(), 0.0f64), Vec::new());
    for (layer, cka) in ckas(&report) {
        let d = 1.0 - cka;
        if changed.contains(&layer.as_str()) {
            eprintln!("{layer}: 1 - CKA = {d:.3e}");
            assert!(d > 5e-5, "{layer}: CKA {cka} should be clearly below 1");
        } else if layer == pool {
            eprintln!("{layer} (max pool in the export): 1 - CKA = {d:.3e}");
        } else {
            if d.abs() > 1e-5 {
                over.push(format!("{layer} {d:.2e}"));
            }
            if d.abs() > worst_same.1 {
                worst_same = (layer, d.abs());
            }
        }
    }
    eprintln!(
        "same trunk: worst |1 - CKA| {:.3e} at {}; over 1e-5: {over:?}",
        worst_same.1, worst_same.0
    );
    assert!(
        worst_same.1 <= 2e-5,
        "{}: |1 - CKA| = {}",
        worst_same.0,
        worst_same.1
    );
}

#[test]
fn the_figure_of_one_image_twice_and_of_two_images() {
    let dir = tempfile::tempdir().unwrap();
    let (fig, diff) = (dir.path().join("same.png"), dir.path().join("same.npy"));
    let cat = sample("chelsea_299.png");
    let run = |image2: &Path, fig: &Path, npy: &Path, norm: &str| {
        featurescope(&[
            "compare",
            "--image",
            path(&cat),
            "--image2",
            path(image2),
            "--layer",
            "mixed0",
            "--out",
            path(fig),
            "--npy",
            path(npy),
            "--norm",
            norm,
            "--backend",
            "cpu",
        ])
    };
    ok(&run(&cat, &fig, &diff, "layer"));
    let (shape, values) = featurescope_maps::read_npy(&diff).unwrap();
    assert_eq!(shape, [1, 256, 35, 35]);
    assert!(
        values.iter().all(|&v| v == 0.0),
        "A - B of one image twice is zero"
    );
    let img = image::open(&fig).unwrap();
    assert!(
        img.width() > 1000,
        "drawn at 2x: {}x{}",
        img.width(),
        img.height()
    );
    // Two images: A - B is the difference of the two dumps.
    let cup = sample("coffee_299.png");
    let (fig2, diff2) = (dir.path().join("two.png"), dir.path().join("two.npy"));
    ok(&run(&cup, &fig2, &diff2, "tile"));
    let (_, d) = featurescope_maps::read_npy(&diff2).unwrap();
    let dump = |image: &Path, out: &Path| {
        ok(&featurescope(&[
            "dump",
            "--image",
            path(image),
            "--layers",
            "mixed0",
            "--out",
            path(out),
            "--backend",
            "cpu",
        ]));
        featurescope_maps::read_npy(&out.join("Mixed_5b.npy"))
            .unwrap()
            .1
    };
    let (a, b) = (
        dump(&cat, &dir.path().join("a")),
        dump(&cup, &dir.path().join("b")),
    );
    assert!(a.iter().zip(&b).zip(&d).all(|((x, y), z)| x - y == *z));
    assert!(d.iter().any(|&v| v != 0.0));
    // An existing output is not replaced without --overwrite.
    let again = run(&cup, &fig2, &dir.path().join("new.npy"), "layer");
    assert!(!again.status.success() && stderr(&again).contains("already exists"));
}
