//! `featurescope classes`, checked against brute force: every count of every channel of all
//! 123 taps equals the `--mass` rule applied to each image's `dump`; built in shards and merged
//! in either order, and stopped and resumed, the summary equals one straight run byte for byte;
//! a corrupt and a non-image file are skipped; unknown folders are refused by name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use featurescope_maps::classes::ClassSummary;

mod common;

use common::*;

/// Six photos in two class folders of the bundled model (named in other cases), a corrupt
/// image and a file that is not an image. Returns the images by class index.
fn folder(root: &Path) -> Vec<(String, u32)> {
    let s = repo().join("assets/samples");
    let coffee = image::open(s.join("coffee_299.png")).unwrap();
    let chelsea = image::open(s.join("chelsea_299.png")).unwrap();
    for d in ["drawing", "NEUTRAL"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(s.join("chelsea.png"), root.join("drawing/chelsea.png")).unwrap();
    coffee
        .fliph()
        .save(root.join("drawing/flipped.png"))
        .unwrap();
    chelsea
        .grayscale()
        .save(root.join("drawing/gray.jpg"))
        .unwrap();
    std::fs::copy(s.join("coffee.png"), root.join("NEUTRAL/coffee.png")).unwrap();
    coffee
        .rotate90()
        .save(root.join("NEUTRAL/rotated.png"))
        .unwrap();
    chelsea.fliph().save(root.join("NEUTRAL/cat.png")).unwrap();
    std::fs::write(root.join("NEUTRAL/notes.txt"), "not an image").unwrap();
    let png = std::fs::read(s.join("chelsea_299.png")).unwrap();
    std::fs::write(root.join("drawing/broken.png"), &png[..png.len() / 3]).unwrap();
    let mut out: Vec<(String, u32)> = [
        ("drawing/chelsea.png", 0),
        ("drawing/flipped.png", 0),
        ("drawing/gray.jpg", 0),
        ("NEUTRAL/coffee.png", 2),
        ("NEUTRAL/rotated.png", 2),
        ("NEUTRAL/cat.png", 2),
    ]
    .into_iter()
    .map(|(p, c)| (p.to_string(), c))
    .collect();
    out.sort();
    out
}

/// The --mass rule, written again here: channels by maximum descending (ties: lower index),
/// the shortest prefix whose f64 sum reaches `mass` of the total.
fn top(maxima: &[f32], mass: f64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..maxima.len()).collect();
    order.sort_by(|&a, &b| maxima[b].total_cmp(&maxima[a]).then(a.cmp(&b)));
    let total: f64 = order.iter().map(|&k| f64::from(maxima[k])).sum();
    let (mut sum, mut n) = (0f64, 0);
    while total > 0.0 && sum < mass * total {
        sum += f64::from(maxima[order[n]]);
        n += 1;
    }
    order.truncate(n);
    order
}

/// `classes` over `root` into `out` on the CPU, 2 nodes and 2 edge images, then `extra`.
fn args<'a>(root: &'a Path, out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "classes",
        "--images",
        root.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
        "--nodes",
        "2",
        "--edge-images",
        "2",
    ];
    args.extend_from_slice(extra);
    args
}

fn build(root: &Path, out: &Path, extra: &[&str]) -> Output {
    featurescope(&args(root, out, extra))
}

#[test]
fn counts_equal_brute_force_over_dumps() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("photos");
    let images = folder(&root);
    let out = dir.path().join("summary.json");
    let o = build(&root, &out, &[]);
    ok(&o);
    let err = stderr(&o);
    assert!(err.contains("skipped NEUTRAL/notes.txt: "), "{err}");
    assert!(err.contains("skipped drawing/broken.png: "), "{err}");
    let s = ClassSummary::load(&out).unwrap();
    assert_eq!(s.layers().len(), 123);
    let filed: Vec<(String, u32)> = s
        .images()
        .iter()
        .map(|(p, f)| (p.clone(), f.class))
        .collect();
    assert_eq!(filed, images);
    assert_eq!(s.skipped().len(), 2);
    let dumps: Vec<PathBuf> = images
        .iter()
        .map(|(name, _)| {
            let d = dir.path().join(format!("dump-{}", name.replace('/', "_")));
            ok(&featurescope(&[
                "dump",
                "--image",
                root.join(name).to_str().unwrap(),
                "--out",
                d.to_str().unwrap(),
                "--backend",
                "cpu",
            ]));
            d
        })
        .collect();
    let mut checked = 0;
    for (l, (id, c)) in s.layers().iter().enumerate() {
        let mut want = [vec![0u64; *c], vec![0u64; *c]];
        for ((_, class), d) in images.iter().zip(&dumps) {
            let file = std::fs::File::open(d.join(format!("{id}.npy"))).unwrap();
            let data: Vec<f32> = npyz::NpyFile::new(file).unwrap().into_vec().unwrap();
            let hw = data.len() / c;
            let maxima: Vec<f32> = data
                .chunks(hw)
                .map(|ch| ch.iter().copied().fold(f32::NEG_INFINITY, f32::max))
                .collect();
            for k in top(&maxima, 0.03) {
                want[usize::from(*class == 2)][k] += 1;
            }
        }
        for (i, class) in [0u32, 2].iter().enumerate() {
            assert_eq!(
                s.classes()[class].counts(l).unwrap(),
                want[i].as_slice(),
                "{id} class {class}"
            );
            checked += c;
        }
    }
    assert!(checked > 20_000, "{checked}");
    // The graph: 12 blocks of 2 nodes, 11 × 4 edges, 2 edge images per class.
    let g = s.classes()[&0].graph().unwrap();
    assert_eq!((g.nodes.len(), g.edges.len(), g.done.len()), (12, 44, 2));
    // show --json, in the shape.
    let o = featurescope(&[
        "classes",
        "show",
        out.to_str().unwrap(),
        "--class",
        "Drawing",
        "--layer",
        "mixed0",
        "--top",
        "5",
        "--json",
    ]);
    ok(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "channels", "class", "correct", "edges", "images", "index", "layer", "nodes"
        ]
    );
    assert_eq!(
        (v["index"].as_u64(), v["images"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(v["channels"].as_array().unwrap().len(), 5);
    assert_eq!(v["edges"].as_array().unwrap().len(), 44);
}

#[test]
fn sharded_merged_and_resumed_summaries_equal_a_straight_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("photos");
    folder(&root);
    let layers = [
        "--layers",
        "Conv2d_4a_3x3,maxpool2,Mixed_5b,Mixed_5c,Mixed_5d,Mixed_6a,Mixed_6b,Mixed_6c,Mixed_6d,Mixed_6e,Mixed_7a,Mixed_7b,Mixed_7c",
    ];
    let whole = dir.path().join("whole.json");
    ok(&build(&root, &whole, &layers));
    let whole = std::fs::read(&whole).unwrap();

    let resumed = dir.path().join("resumed.json");
    let mut stopped = layers.to_vec();
    stopped.extend(["--stop-after", "3"]);
    let o = build(&root, &resumed, &stopped);
    assert!(
        !o.status.success() && stderr(&o).contains("interrupted"),
        "{}",
        stderr(&o)
    );
    ok(&build(&root, &resumed, &layers));
    assert!(std::fs::read(&resumed).unwrap() == whole, "resumed differs");

    // On the CPU each image is a pass of its own on one thread: the same bytes in batches of
    // three (an image left over in each) on a machine of one core as in batches of eight on
    // this one's cores.
    let one_core = dir.path().join("one_core.json");
    let mut batched = layers.to_vec();
    batched.extend(["--batch", "3"]);
    let o = Command::new(env!("CARGO_BIN_EXE_featurescope"))
        .args(args(&root, &one_core, &batched))
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap();
    ok(&o);
    assert!(
        std::fs::read(&one_core).unwrap() == whole,
        "batch 3 on one core differs"
    );

    let parts: Vec<PathBuf> = (0..3)
        .map(|i| {
            let p = dir.path().join(format!("part{i}.json"));
            let shard = format!("{i}/3");
            let mut args = layers.to_vec();
            args.extend(["--shard", shard.as_str()]);
            ok(&build(&root, &p, &args));
            p
        })
        .collect();
    // A part resumes only as its own shard; a whole build does not continue a part.
    let o = build(&root, &parts[0], &[layers[0], layers[1], "--shard", "1/3"]);
    assert!(
        !o.status.success() && stderr(&o).contains("shard 0/3"),
        "{}",
        stderr(&o)
    );
    let o = build(&root, &parts[0], &layers);
    assert!(
        !o.status.success() && stderr(&o).contains("whole folder"),
        "{}",
        stderr(&o)
    );
    for (n, order) in [[0, 1, 2], [2, 0, 1]].iter().enumerate() {
        let merged = dir.path().join(format!("merged{n}.json"));
        let mut args = vec!["classes", "merge"];
        let names: Vec<&str> = order.iter().map(|&i| parts[i].to_str().unwrap()).collect();
        args.extend(names);
        args.extend(["--out", merged.to_str().unwrap()]);
        ok(&featurescope(&args));
        // The graph is the second pass over the merged summary.
        ok(&build(&root, &merged, &layers));
        assert_eq!(
            std::fs::read(&merged).unwrap(),
            whole,
            "merged in order {order:?}"
        );
    }
}

#[test]
fn unknown_folders_are_refused_by_name_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("photos");
    folder(&root);
    std::fs::create_dir_all(root.join("lilies")).unwrap();
    std::fs::copy(sample("coffee_299.png"), root.join("lilies/a.png")).unwrap();
    let out = dir.path().join("s.json");
    let o = build(&root, &out, &[]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("lilies") && err.trim().lines().count() == 1,
        "{err}"
    );
    assert!(!out.exists());
}

/// `--predicted` files every image, whatever the layout (here a folder named after no class and
/// the top level), under its top-1 class: each class's images are all predicted right.
#[test]
fn predicted_files_every_image_under_its_top_class() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("photos");
    std::fs::create_dir_all(root.join("lilies")).unwrap();
    std::fs::copy(sample("coffee_299.png"), root.join("lilies/coffee.png")).unwrap();
    std::fs::copy(sample("chelsea_299.png"), root.join("chelsea.png")).unwrap();
    let out = dir.path().join("s.json");
    ok(&build(
        &root,
        &out,
        &["--predicted", "--layers", "Mixed_7c"],
    ));
    let s = ClassSummary::load(&out).unwrap();
    assert_eq!(s.images().len(), 2);
    for f in s.images().values() {
        assert_eq!(f.class, f.predicted);
    }
    for (c, stats) in s.classes() {
        assert_eq!(stats.correct(*c), stats.images());
    }
    // With one layer there is no graph (its blocks are not summarised).
    assert!(!s.any_graph());
}

/// SIGTERM (a job engine preempting the task) as soon as the build starts: what is done is a
/// valid summary and the same command finishes it, equal to a straight run byte for byte.
#[test]
fn sigterm_keeps_what_is_done_and_the_same_command_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("photos");
    folder(&root);
    let layers = [
        "--layers",
        "maxpool2,Mixed_5b,Mixed_5c,Mixed_5d,Mixed_6a,Mixed_6b,Mixed_6c,Mixed_6d,Mixed_6e,Mixed_7a,Mixed_7b,Mixed_7c",
    ];
    let straight = dir.path().join("straight.json");
    ok(&build(&root, &straight, &layers));
    let out = dir.path().join("stopped.json");
    interrupt_after_start(&args(&root, &out, &layers), "TERM");
    assert!(ClassSummary::load(&out).unwrap().images().len() <= 6);
    ok(&build(&root, &out, &layers));
    assert!(
        std::fs::read(&out).unwrap() == std::fs::read(&straight).unwrap(),
        "resumed differs"
    );
}
