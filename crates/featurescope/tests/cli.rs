//! The binary's headless subcommands, run as a user would: outputs on disk, one-line errors and
//! non-zero exits on bad input, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;

mod common;

use common::*;

/// A failure is exactly one line, starts with our prefix and never mentions a panic.
fn assert_clean_failure(o: &Output, must_contain: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "should fail: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(!err.contains("stack backtrace"), "backtrace: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("featurescope: error: "), "{err}");
    assert!(
        err.contains(must_contain),
        "expected `{must_contain}` in: {err}"
    );
}

#[test]
fn layers_prints_the_tree() {
    let o = featurescope(&["layers"]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "Conv2d_1a_3x3",
        "Mixed_5b.branch3x3dbl_2",
        "Mixed_7c.branch3x3dbl",
        "avgpool",
        "mixed0",
        "conv2d_94",
        "2048x8x8",
        "48-layer-deep",
    ] {
        assert!(out.contains(needle), "missing {needle}");
    }
    let marked = out.lines().filter(|l| l.starts_with('*')).count();
    // 49 convs (both of 7b/7c's 3a and 3b) + pools/concats on the path + the head line.
    assert!(marked > 49, "{marked}");
    let json = featurescope(&["layers", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 123);
}

#[test]
fn dump_writes_npy_per_tap_and_head() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("acts");
    let o = featurescope(&[
        "dump",
        "--image",
        sample("coffee_299.png").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let files: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert_eq!(files.len(), 124, "123 taps + head.npy");
    let mut f = std::fs::File::open(out.join("Mixed_6e.npy")).unwrap();
    let npy = npyz::NpyFile::new(&mut f).unwrap();
    assert_eq!(npy.shape(), &[1, 768, 17, 17]);
    let mut f = std::fs::File::open(out.join("head.npy")).unwrap();
    let npy = npyz::NpyFile::new(&mut f).unwrap();
    assert_eq!(npy.shape(), &[1, 5]);
    let probs: Vec<f32> = npy.into_vec().unwrap();
    assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    // A subset, by Keras alias, writes just those layers and no head.
    let sub = dir.path().join("sub");
    let o = featurescope(&[
        "dump",
        "--image",
        sample("coffee_299.png").to_str().unwrap(),
        "--out",
        sub.to_str().unwrap(),
        "--backend",
        "cpu",
        "--layers",
        "mixed0,conv2d_1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut names: Vec<String> = std::fs::read_dir(&sub)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["Conv2d_1a_3x3.npy", "Mixed_5b.npy"]);
}

#[test]
fn render_writes_a_grid_png() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("grid.png");
    let o = featurescope(&[
        "render",
        "--image",
        sample("chelsea.png").to_str().unwrap(),
        "--layer",
        "mixed0",
        "--out",
        out.to_str().unwrap(),
        "--colormap",
        "magma",
        "--norm",
        "tile",
        "--tile-px",
        "24",
        "--backend",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let img = image::open(&out).unwrap();
    // 256 tiles: 16 columns of 24 px plus gaps, a title strip and a legend.
    assert!(img.width() >= 16 * 24 && img.height() >= 16 * 24);
    let pre = dir.path().join("pre.png");
    let o = featurescope(&[
        "render",
        "--image",
        sample("chelsea.png").to_str().unwrap(),
        "--layer",
        "Conv2d_1a_3x3",
        "--pre-relu",
        "--out",
        pre.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn bench_json_has_the_documented_keys() {
    let o = featurescope(&[
        "bench",
        "--image",
        sample("chelsea_299.png").to_str().unwrap(),
        "--backend",
        "cpu",
        "--runs",
        "2",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for key in [
        "backend",
        "device",
        "load_ms",
        "forward_ms_min",
        "forward_ms_median",
        "peak_rss_mb",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["backend"], "cpu");
    assert!(v["forward_ms_min"].as_f64().unwrap() <= v["forward_ms_median"].as_f64().unwrap());
    assert!(
        v.get("plain_ms_median").is_none(),
        "no baseline unless asked: {v}"
    );
}

/// `bench --compare-plain` times the plain burn forward beside ours and gives the ratio.
#[test]
fn bench_compare_plain_reports_the_plain_burn_forward_and_the_ratio() {
    let o = featurescope(&[
        "bench",
        "--image",
        sample("chelsea_299.png").to_str().unwrap(),
        "--backend",
        "cpu",
        "--runs",
        "2",
        "--json",
        "--compare-plain",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let num = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or_else(|| panic!("missing {k} in {v}"))
    };
    assert!(num("plain_ms_min") > 0.0 && num("plain_ms_min") <= num("plain_ms_median"));
    let ratio = num("forward_ms_median") / num("plain_ms_median");
    assert!((num("ratio_to_plain_median") - ratio).abs() < 1e-9, "{v}");

    let o = featurescope(&[
        "bench",
        "--image",
        sample("chelsea_299.png").to_str().unwrap(),
        "--backend",
        "cpu",
        "--runs",
        "1",
        "--compare-plain",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("plain ") && text.contains("x plain"),
        "{text}"
    );
}

#[test]
fn bench_read_only_keeps_the_taps_on_the_device_and_reads_one_layer() {
    let bench = |extra: &[&str]| {
        let image = sample("chelsea_299.png");
        let mut args = vec![
            "bench",
            "--image",
            image.to_str().unwrap(),
            "--backend",
            "cpu",
            "--runs",
            "1",
        ];
        args.extend_from_slice(extra);
        featurescope(&args)
    };
    let o = bench(&["--json", "--read-only", "mixed7"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["read_back"], "Mixed_6e", "a Keras alias resolves: {v}");
    assert_eq!(v["taps"], 123, "every tap still recorded: {v}");

    let o = bench(&["--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["read_back"], "all", "{v}");

    let o = bench(&["--read-only", "Mixed_6e"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("123 taps recorded, head + Mixed_6e read back"),
        "{text}"
    );

    let o = bench(&["--read-only", "Mixed_9z"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("Mixed_9z") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn bad_input_is_one_line_and_nonzero() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let out = out.to_str().unwrap();
    let missing = featurescope(&["dump", "--image", "/nonexistent/cat.png", "--out", out]);
    assert_clean_failure(&missing, "/nonexistent/cat.png");

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "this is not an image").unwrap();
    let o = featurescope(&["dump", "--image", text.to_str().unwrap(), "--out", out]);
    assert_clean_failure(&o, "notes.txt");

    let png = std::fs::read(sample("coffee_299.png")).unwrap();
    let cut = dir.path().join("cut.png");
    std::fs::write(&cut, &png[..png.len() / 3]).unwrap();
    let o = featurescope(&[
        "render",
        "--image",
        cut.to_str().unwrap(),
        "--layer",
        "mixed0",
        "--out",
        out,
    ]);
    assert_clean_failure(&o, "cut.png");

    let o = featurescope(&[
        "render",
        "--image",
        sample("coffee_299.png").to_str().unwrap(),
        "--layer",
        "Mixed_9z",
        "--out",
        out,
    ]);
    assert_clean_failure(&o, "Mixed_9z");

    let o = featurescope(&[
        "bench",
        "--image",
        sample("coffee_299.png").to_str().unwrap(),
        "--weights",
        text.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert_clean_failure(&o, "notes.txt");
}

fn read_npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f32>().unwrap())
}

/// `attribute --npy` writes the raw input gradient, NCHW, which agrees with PyTorch's float64
/// guided backprop (the reference the network crate's tests hold every method to); the PNG
/// is the photo's size; Grad-CAM's .npy is its layer's map.
#[test]
fn attribute_writes_the_raw_gradient_and_a_png() {
    let dir = tempfile::tempdir().unwrap();
    let (png, npy) = (dir.path().join("g.png"), dir.path().join("g.npy"));
    let (photo, png_arg, npy_arg) = (
        sample("chelsea_299.png"),
        png.to_str().unwrap(),
        npy.to_str().unwrap(),
    );
    // Each run writes the same two files: replacing them is asked for.
    let base = [
        "attribute",
        "--overwrite",
        "--backend",
        "cpu",
        "--image",
        photo.to_str().unwrap(),
        "--out",
        png_arg,
    ];
    let run = |extra: &[&str]| featurescope(&[&base[..], extra].concat());
    let o = run(&[
        "--layer",
        "Mixed_5b",
        "--channel",
        "10",
        "--method",
        "guided",
        "--npy",
        npy_arg,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let img = image::open(&png).unwrap();
    assert_eq!((img.width(), img.height()), (299, 299));
    let (shape, ours) = read_npy(&npy);
    assert_eq!(shape, vec![1, 3, 299, 299]);
    let reference =
        std::fs::read(repo().join("crates/net/tests/reference/chelsea.attribution.safetensors"))
            .unwrap();
    let st = safetensors::SafeTensors::deserialize(&reference).unwrap();
    let theirs: Vec<f32> = st
        .tensor("Mixed_5b.10.guided")
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let max = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
    let close = ours
        .iter()
        .zip(&theirs)
        .filter(|(a, b)| (*a - *b).abs() <= 1e-3 * max)
        .count();
    assert!(close as f64 >= 0.995 * ours.len() as f64, "{close} close");

    let o = run(&[
        "--class",
        "2",
        "--method",
        "gradcam",
        "--overlay",
        "--npy",
        npy_arg,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("Grad-CAM layer Mixed_7c"), "{out}");
    assert_eq!(read_npy(&npy).0, vec![8, 8]);

    let o = run(&[
        "--layer",
        "Mixed_5b",
        "--channel",
        "10",
        "--method",
        "guided",
        "--sanity",
        "Mixed_5b",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("sanity check: rank correlation with layers from Mixed_5b up re-initialised"),
        "{out}"
    );
    // Bad requests: one line each.
    assert_clean_failure(
        &run(&[
            "--layer",
            "Mixed_5b",
            "--channel",
            "999",
            "--method",
            "saliency",
        ]),
        "has 256 channels",
    );
    assert_clean_failure(
        &run(&["--class", "9", "--method", "saliency"]),
        "no class 9",
    );
    assert_clean_failure(
        &run(&[
            "--layer",
            "Mixed_5b",
            "--channel",
            "1",
            "--method",
            "gradcam",
            "--layer-cam",
            "Mixed_7c",
        ]),
        "does not lie below",
    );
}

#[test]
fn visualize_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str| {
        let p = dir.path().join(name);
        let o = featurescope(&[
            "visualize",
            "--backend",
            "cpu",
            "--layer",
            "mixed0",
            "--channel",
            "3",
            "--steps",
            "6",
            "--size",
            "96",
            "--seed",
            "5",
            "--out",
            p.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read(p).unwrap()
    };
    assert_eq!(run("a.png"), run("b.png"));
}

#[path = "../../net/tests/imports/fixtures.rs"]
mod fixtures;

fn poets_graph() -> Option<std::path::PathBuf> {
    fixtures::fixture("poets/retrained_graph.pb")
}

#[test]
fn weights_of_another_format_in_a_subcommand_name_their_own_classes() {
    let Some(graph) = poets_graph() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("acts");
    let o = featurescope(&[
        "dump",
        "--image",
        sample("chelsea_299.png").to_str().unwrap(),
        "--weights",
        graph.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--layers",
        "mixed10",
        "--backend",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("Mixed_7c.npy").is_file());
    let o = featurescope(&[
        "dump",
        "--image",
        sample("chelsea_299.png").to_str().unwrap(),
        "--weights",
        graph.to_str().unwrap(),
        "--out",
        dir.path().join("all").to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("predictions: roses"), "{err}");
    // A truncated one: one line naming the file.
    let cut = dir.path().join("cut.pb");
    let bytes = std::fs::read(&graph).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let o = featurescope(&[
        "render",
        "--image",
        sample("chelsea_299.png").to_str().unwrap(),
        "--weights",
        cut.to_str().unwrap(),
        "--layer",
        "mixed0",
        "--out",
        dir.path().join("x.png").to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert_clean_failure(&o, "cut.pb: not a TensorFlow GraphDef");
}
