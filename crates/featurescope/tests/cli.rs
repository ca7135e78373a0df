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

/// The float32 values of a `.npy` file and its shape.
fn npy_values(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f32>().unwrap())
}

/// Rank correlation (Spearman, no ties expected) of two equally long lists.
fn rank_correlation(a: &[f64], b: &[f64]) -> f64 {
    let ranks = |v: &[f64]| {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
        let mut r = vec![0f64; v.len()];
        for (rank, &i) in idx.iter().enumerate() {
            r[i] = rank as f64;
        }
        r
    };
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let d2: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - y).powi(2)).sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

/// `render` draws the very values `dump` writes, as the library's `render_grid` lays them out
/// (tiles, labels, title, legend): pixel for pixel, in both normalisations, which differ; and
/// independently of the library, brighter tiles (magma) are the channels with larger values.
#[test]
fn render_draws_the_layers_values_tile_by_tile() {
    use featurescope_maps::{Colormap, GridOptions, LayerMaps, NormSettings, Normalization};
    let dir = tempfile::tempdir().unwrap();
    let photo = sample("chelsea.png");
    let acts = dir.path().join("acts");
    let o = featurescope(&[
        "dump",
        "--image",
        photo.to_str().unwrap(),
        "--layers",
        "mixed0",
        "--out",
        acts.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (shape, values) = npy_values(&acts.join("Mixed_5b.npy"));
    assert_eq!(shape, [1, 256, 35, 35]);
    let maps = LayerMaps::new(256, 35, 35, values.clone()).unwrap();
    let mut grids = Vec::new();
    for (norm, mode, words) in [
        ("tile", Normalization::PerTile, "per-tile"),
        ("layer", Normalization::PerLayer, "per-layer"),
    ] {
        let out = dir.path().join(format!("grid-{norm}.png"));
        let o = featurescope(&[
            "render",
            "--image",
            photo.to_str().unwrap(),
            "--layer",
            "mixed0",
            "--out",
            out.to_str().unwrap(),
            "--colormap",
            "magma",
            "--norm",
            norm,
            "--tile-px",
            "24",
            "--backend",
            "cpu",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stderr(&o).contains("256 tiles"), "{}", stderr(&o));
        let got = image::open(&out).unwrap().to_rgba8();
        let expected = featurescope_maps::render_grid(
            &maps,
            &GridOptions {
                tile_px: 24,
                colormap: Colormap::Magma,
                norm: NormSettings {
                    mode,
                    clip_percentile: None,
                    symmetric: false,
                },
                title: Some(format!("Mixed_5b (mixed0)  256x35x35   magma  {words}")),
                ..GridOptions::default()
            },
        )
        .unwrap();
        // 16 columns of 24-px tiles with 2-px gaps around each.
        assert_eq!(got.width(), 16 * 24 + 17 * 2);
        assert_eq!(got.dimensions(), expected.dimensions(), "{norm}");
        let differing = got
            .pixels()
            .zip(expected.pixels())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(differing, 0, "{norm}: pixels unlike render_grid's");
        grids.push(got);
    }
    let differing = grids[0]
        .pixels()
        .zip(grids[1].pixels())
        .filter(|(a, b)| a != b)
        .count();
    assert!(
        differing > 10_000,
        "per-tile and per-layer differ in {differing} pixels only"
    );
    // Per layer, a tile's brightness follows its channel's values: luminance of the tile's
    // lower half (below the label: tile rows 12..24 show map rows 17..35) against the mean of
    // those map rows.
    let per_layer = &grids[1];
    let (mut brightness, mut means) = (Vec::new(), Vec::new());
    for c in 0..256u32 {
        let (x0, y0) = (2 + (c % 16) * 26, 20 + 2 + (c / 16) * 26);
        let mut sum = 0f64;
        for y in y0 + 12..y0 + 24 {
            for x in x0..x0 + 24 {
                let [r, g, b, _] = per_layer.get_pixel(x, y).0;
                sum += 0.2126 * f64::from(r) + 0.7152 * f64::from(g) + 0.0722 * f64::from(b);
            }
        }
        brightness.push(sum);
        let ch = &values[c as usize * 35 * 35..(c as usize + 1) * 35 * 35];
        means.push(ch[17 * 35..].iter().map(|&v| f64::from(v)).sum::<f64>());
    }
    let rho = rank_correlation(&brightness, &means);
    assert!(rho > 0.9, "rank correlation {rho}");

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
    assert!(image::open(&pre).unwrap().width() > 0);
}

/// Run `bench` on the CPU with these extra arguments; the output and the wall time in ms.
fn bench(extra: &[&str]) -> (Output, f64) {
    let image = sample("chelsea_299.png");
    let mut args = vec![
        "bench",
        "--image",
        image.to_str().unwrap(),
        "--backend",
        "cpu",
    ];
    args.extend_from_slice(extra);
    let t = std::time::Instant::now();
    let o = featurescope(&args);
    (o, t.elapsed().as_secs_f64() * 1e3)
}

fn json_of(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn num(v: &serde_json::Value, key: &str) -> f64 {
    v.get(key)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or_else(|| panic!("missing {key} in {v}"))
}

/// Every tap's id and its number of values, from `layers --json` (the catalogue).
fn catalogue_taps() -> Vec<(String, u64)> {
    let o = featurescope(&["layers", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let shape = l["shape"].as_array().unwrap();
            let n = shape.iter().map(|d| d.as_u64().unwrap()).product();
            (l["id"].as_str().unwrap().to_string(), n)
        })
        .collect()
}

/// The bundled model's head: 5 classes.
const HEAD_CLASSES: u64 = 5;

/// The JSON describes the run it timed: the runs asked for, every tap and the head read back
/// (their bytes as the catalogue sizes them), times that are real (the parts add up to no more
/// than the process took) and a peak memory that holds at least the weights.
#[test]
fn bench_json_reports_the_run_it_timed() {
    let (o, wall_ms) = bench(&["--runs", "3", "--json"]);
    let v = json_of(&o);
    assert_eq!(v["backend"], "cpu");
    assert!(!v["device"].as_str().unwrap().is_empty(), "{v}");
    assert_eq!(v["runs"], 3, "{v}");
    assert_eq!(v["taps"], 123, "{v}");
    assert_eq!(v["read_back"], "all", "{v}");
    let taps = catalogue_taps();
    let mut got: Vec<&str> = v["read_back_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let mut all: Vec<&str> = taps.iter().map(|(id, _)| id.as_str()).collect();
    got.sort_unstable();
    all.sort_unstable();
    assert_eq!(got, all, "every tap read back");
    assert_eq!(v["read_back_head"], true);
    let floats: u64 = taps.iter().map(|(_, n)| n).sum::<u64>() + HEAD_CLASSES;
    assert_eq!(v["read_back_bytes"], floats * 4, "{v}");
    // Three runs: the fastest is the minimum and two took at least the median.
    let (load, warmup) = (num(&v, "load_ms"), num(&v, "warmup_ms"));
    let (min, median) = (num(&v, "forward_ms_min"), num(&v, "forward_ms_median"));
    assert!(load > 0.0 && warmup > 0.0 && min > 1.0, "{v}");
    let timed = load + warmup + min + 2.0 * median;
    assert!(
        timed <= wall_ms,
        "load + warm-up + runs = {timed:.0} ms, more than the process took ({wall_ms:.0} ms)"
    );
    // The weights alone, as f32, are ~87 MB.
    let rss = num(&v, "peak_rss_mb");
    assert!(rss > 80.0 && rss < 64_000.0, "peak RSS {rss} MB");
    assert!(
        v.get("plain_ms_median").is_none(),
        "no baseline unless asked: {v}"
    );
}

/// `bench --methods --folder` reports each row with the ratio it is named by: Grad-CAM and
/// guided backprop of the filter asked for against the forward's median, the feature
/// visualization step against a forward + backward, and the atlas of a folder (every image
/// analysed, in batches of the size asked for) against the single-image forward rate; the
/// forward's every run is listed (what `peers.py` gathers over rounds).
#[test]
fn bench_methods_and_folder_report_their_ratios() {
    let dir = tempfile::tempdir().unwrap();
    for (i, name) in ["chelsea_299.png", "coffee_299.png", "chelsea.png"]
        .iter()
        .enumerate()
    {
        std::fs::copy(sample(name), dir.path().join(format!("{i}.png"))).unwrap();
    }
    let folder = dir.path().to_str().unwrap();
    let (o, wall_ms) = bench(&[
        "--runs",
        "2",
        "--json",
        "--methods",
        "--filter",
        "Mixed_5b:3",
        "--folder",
        folder,
        "--batch",
        "2",
    ]);
    let v = json_of(&o);
    let forward = num(&v, "forward_ms_median");
    assert_eq!(v["forward_ms"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["filter"], "Mixed_5b:3", "{v}");
    for method in ["gradcam", "guided"] {
        let median = num(&v, &format!("{method}_ms_median"));
        let ratio = num(&v, &format!("{method}_ratio_to_forward"));
        assert!(median > 1.0 && median < wall_ms, "{method}: {v}");
        assert!((ratio - median / forward).abs() < 1e-9, "{method}: {v}");
    }
    let (step, pass) = (
        num(&v, "fvis_step_ms_median"),
        num(&v, "forward_backward_ms_median"),
    );
    assert!(step > 1.0 && pass > 1.0, "{v}");
    assert!((num(&v, "fvis_step_ratio_to_forward_backward") - step / pass).abs() < 1e-9);
    assert_eq!(v["fvis_size"], 224, "{v}");
    assert_eq!(v["atlas_images"], 3, "{v}");
    assert_eq!(v["atlas_batch"], 2, "{v}");
    let rate = num(&v, "atlas_images_per_s");
    assert!((rate - 3.0 / num(&v, "atlas_seconds")).abs() < 1e-9, "{v}");
    assert!((num(&v, "atlas_ratio_to_forward_rate") - rate * forward / 1e3).abs() < 1e-9);
    let text = bench(&["--runs", "1", "--methods", "--folder", folder]).0;
    assert!(text.status.success(), "{}", stderr(&text));
    let out = String::from_utf8_lossy(&text.stdout);
    for row in ["grad-cam", "guided", "fvis", "atlas", "Mixed_6e:100"] {
        assert!(out.contains(row), "no {row} in:\n{out}");
    }
    let bad = bench(&["--runs", "1", "--methods", "--filter", "Mixed_5b:9999"]).0;
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("9999"), "{}", stderr(&bad));
}

/// `bench --compare-plain` times the plain burn forward beside ours and gives the ratio of
/// the medians, in the JSON and in the text.
#[test]
fn bench_compare_plain_reports_the_plain_burn_forward_and_the_ratio() {
    let (o, wall_ms) = bench(&["--runs", "2", "--json", "--compare-plain"]);
    let v = json_of(&o);
    let ratio = num(&v, "forward_ms_median") / num(&v, "plain_ms_median");
    assert!(
        (num(&v, "ratio_to_plain_median") - ratio).abs() < 1e-9,
        "{v}"
    );
    // Two runs each: the median is their mean, so both sums are twice the medians.
    let timed = num(&v, "load_ms")
        + num(&v, "warmup_ms")
        + num(&v, "plain_warmup_ms")
        + 2.0 * (num(&v, "forward_ms_median") + num(&v, "plain_ms_median"));
    assert!(num(&v, "plain_ms_min") > 1.0, "{v}");
    assert!(
        timed <= wall_ms,
        "the timed parts ({timed:.0} ms) exceed the process' {wall_ms:.0} ms"
    );

    let (o, _) = bench(&["--runs", "1", "--compare-plain"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    // "forward   min 1.0 ms, median 2.0 ms …", "plain     min …, median 1.0 ms …",
    // "ratio     2.00x plain …": the printed ratio is the printed medians' (to rounding).
    let median_of = |prefix: &str| -> f64 {
        let line = text.lines().find(|l| l.starts_with(prefix)).unwrap();
        let after = line.split("median ").nth(1).unwrap();
        after.split(" ms").next().unwrap().parse().unwrap()
    };
    let (ours, plain) = (median_of("forward "), median_of("plain "));
    let ratio_line = text.lines().find(|l| l.starts_with("ratio ")).unwrap();
    let printed: f64 = ratio_line
        .trim_start_matches("ratio")
        .trim()
        .split('x')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let tolerance = (ours / plain) * (0.05 / ours + 0.05 / plain) + 0.005;
    assert!(
        (printed - ours / plain).abs() <= tolerance,
        "{printed} vs {ours} / {plain}: {text}"
    );
}

/// `--read-only LAYER` reads back the head and that layer only (what came back is counted
/// from the activations the pass returned), while every tap is still recorded; an unknown
/// layer is refused, naming it.
#[test]
fn bench_read_only_keeps_the_taps_on_the_device_and_reads_one_layer() {
    let (o, _) = bench(&["--runs", "1", "--json", "--read-only", "mixed7"]);
    let v = json_of(&o);
    assert_eq!(v["read_back"], "Mixed_6e", "a Keras alias resolves: {v}");
    assert_eq!(v["taps"], 123, "every tap still recorded: {v}");
    assert_eq!(
        v["read_back_layers"],
        serde_json::json!(["Mixed_6e"]),
        "{v}"
    );
    assert_eq!(v["read_back_head"], true, "{v}");
    assert_eq!(
        v["read_back_bytes"],
        (768 * 17 * 17 + HEAD_CLASSES) * 4,
        "Mixed_6e (768x17x17) and the head: {v}"
    );

    let (o, _) = bench(&["--runs", "1", "--read-only", "Mixed_6e"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("123 taps recorded, head + Mixed_6e read back"),
        "{text}"
    );

    let (o, _) = bench(&["--runs", "1", "--read-only", "Mixed_9z"]);
    assert_clean_failure(&o, "Mixed_9z");
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
    let (shape, ours) = npy_values(&npy);
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
    assert_eq!(npy_values(&npy).0, vec![8, 8]);

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
