//! `featurescope atlas`, checked against brute force: the atlas' top-K lists (images, scores,
//! positions of the maximum) for every channel of every layer are exactly those computed from
//! each image's `dump`; a run interrupted (by flag and by a real SIGINT) and resumed, and a
//! collection built in shards and merged, equal one straight run byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use featurescope_maps::atlas::{Atlas, Rank};

mod common;

use common::*;

/// Six photos (two in a subfolder, variants made here) and a file that is not an image.
fn collection(root: &Path) -> Vec<String> {
    let samples = repo().join("assets/samples");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::copy(samples.join("chelsea.png"), root.join("chelsea.png")).unwrap();
    std::fs::copy(samples.join("coffee.png"), root.join("coffee.png")).unwrap();
    std::fs::copy(samples.join("chelsea_299.png"), root.join("sub/cat.png")).unwrap();
    let coffee = image::open(samples.join("coffee_299.png")).unwrap();
    coffee.fliph().save(root.join("sub/flipped.png")).unwrap();
    coffee.grayscale().save(root.join("gray.jpg")).unwrap();
    coffee.rotate90().save(root.join("rotated.png")).unwrap();
    std::fs::write(root.join("notes.txt"), "not an image").unwrap();
    let mut images = vec![
        "chelsea.png",
        "coffee.png",
        "gray.jpg",
        "rotated.png",
        "sub/cat.png",
        "sub/flipped.png",
    ];
    images.sort_unstable();
    images.into_iter().map(String::from).collect()
}

/// A channel's values for one image: (max, first row-major argmax, mean as f64 → f32).
fn reduce(values: &[f32], w: usize) -> (f32, u32, u32, f32) {
    let mut best = (f32::NEG_INFINITY, 0usize);
    let mut sum = 0f64;
    for (i, &v) in values.iter().enumerate() {
        if v > best.0 {
            best = (v, i);
        }
        sum += f64::from(v);
    }
    let mean = (sum / values.len() as f64) as f32;
    (best.0, (best.1 / w) as u32, (best.1 % w) as u32, mean)
}

#[test]
// `reductions[image][channel]`: the channel index reads across images, not along one slice.
#[allow(clippy::needless_range_loop)]
fn atlas_equals_brute_force_over_dumps() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("photos");
    let images = collection(&root);
    let out = dir.path().join("atlas");
    let top = 3usize;
    let o = featurescope(&[
        "atlas",
        "--images",
        root.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--top",
        "3",
        "--backend",
        "cpu",
    ]);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("skipped notes.txt: "), "{err}");
    let atlas = Atlas::load(&out).unwrap();
    assert_eq!(atlas.images(), images.as_slice());
    assert_eq!(atlas.layers().len(), 123);

    // Brute force: every image's every layer from `dump`.
    let mut per_image = Vec::new();
    for name in &images {
        let acts = dir.path().join(format!("dump-{}", name.replace('/', "_")));
        ok(&featurescope(&[
            "dump",
            "--image",
            root.join(name).to_str().unwrap(),
            "--out",
            acts.to_str().unwrap(),
            "--backend",
            "cpu",
        ]));
        per_image.push(acts);
    }
    let mut checked = 0;
    for layer in atlas.layers() {
        let [c, h, w] = layer.shape();
        // reductions[image][channel]
        let reductions: Vec<Vec<(f32, u32, u32, f32)>> = per_image
            .iter()
            .map(|acts| {
                let file = std::fs::File::open(acts.join(format!("{}.npy", layer.id))).unwrap();
                let data: Vec<f32> = npyz::NpyFile::new(file).unwrap().into_vec().unwrap();
                assert_eq!(data.len(), c * h * w);
                data.chunks(h * w).map(|ch| reduce(ch, w)).collect()
            })
            .collect();
        for ch in 0..c {
            for rank in [Rank::Max, Rank::Mean] {
                let mut expected: Vec<(usize, f32, u32, u32)> = (0..images.len())
                    .map(|i| {
                        let (max, y, x, mean) = reductions[i][ch];
                        let score = if matches!(rank, Rank::Max) { max } else { mean };
                        (i, score, y, x)
                    })
                    .collect();
                // Score descending, then image path ascending.
                expected.sort_by(|a, b| match b.1.total_cmp(&a.1) {
                    Ordering::Equal => images[a.0].cmp(&images[b.0]),
                    o => o,
                });
                expected.truncate(top);
                let got = atlas.top(&layer.id, ch, rank).unwrap();
                assert_eq!(got.len(), top);
                for (e, g) in expected.iter().zip(&got) {
                    assert_eq!(
                        (images[e.0].as_str(), e.1.to_bits(), e.2, e.3),
                        (g.image.as_str(), g.score.to_bits(), g.y, g.x),
                        "{} channel {ch} {rank:?}: expected {e:?}, atlas {g:?}",
                        layer.id
                    );
                    let f = layer.rf.crop(g.y, g.x);
                    assert_eq!(f, g.crop);
                    assert!(g.crop.x0 < g.crop.x1 && g.crop.y0 < g.crop.y1);
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 20_000, "{checked} channel rankings checked");

    // `atlas show --json`: one array of {image, score, y, x, crop}.
    let o = featurescope(&[
        "atlas",
        "show",
        out.to_str().unwrap(),
        "--layer",
        "mixed0",
        "--channel",
        "7",
        "--json",
    ]);
    ok(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), top);
    let keys: Vec<&String> = arr[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["crop", "image", "score", "x", "y"]);
    // The crops' inputs are kept for every image that is ranked anywhere.
    for i in atlas.referenced_images() {
        let p = featurescope_maps::atlas::input_image_path(&out, &atlas.images()[i as usize]);
        assert_eq!(image::open(&p).unwrap().width(), 299);
    }
    // --crops writes each ranked image's receptive-field crop.
    let crops = dir.path().join("crops");
    ok(&featurescope(&[
        "atlas",
        "show",
        out.to_str().unwrap(),
        "--layer",
        "Mixed_7c",
        "--channel",
        "3",
        "--crops",
        crops.to_str().unwrap(),
    ]));
    let hits = atlas.top("Mixed_7c", 3, Rank::Max).unwrap();
    for (i, hit) in hits.iter().enumerate() {
        let file = crops.join(format!("{:02}_{}.png", i + 1, hit.image.replace('/', "_")));
        let img = image::open(&file).unwrap();
        assert_eq!(
            (img.width(), img.height()),
            (hit.crop.x1 - hit.crop.x0, hit.crop.y1 - hit.crop.y0)
        );
    }
    let o = featurescope(&[
        "atlas",
        "show",
        out.to_str().unwrap(),
        "--layer",
        "mixed0",
        "--channel",
        "256",
    ]);
    assert!(!o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stderr).trim().lines().count(), 1);
}

/// `atlas` over three layers, top 2 on the CPU unless `extra` says otherwise.
fn atlas_args<'a>(root: &'a Path, out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "atlas",
        "--images",
        root.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--layers",
        "Conv2d_1a_3x3,mixed0,Mixed_7c",
    ];
    for (flag, default) in [("--top", "2"), ("--backend", "cpu")] {
        if !extra.contains(&flag) {
            args.extend([flag, default]);
        }
    }
    args.extend_from_slice(extra);
    args
}

fn build(root: &Path, out: &Path, extra: &[&str]) -> Output {
    featurescope(&atlas_args(root, out, extra))
}

fn index(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("atlas.json")).unwrap()
}

fn inputs(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("inputs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn resumed_and_merged_atlases_equal_a_straight_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("photos");
    collection(&root);
    let straight = dir.path().join("straight");
    ok(&build(&root, &straight, &[]));

    // Interrupted after two images, then the same command again.
    let resumed = dir.path().join("resumed");
    let o = build(&root, &resumed, &["--stop-after", "2"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("interrupted"), "{err}");
    assert_eq!(Atlas::load(&resumed).unwrap().images().len(), 2);
    let o = build(&root, &resumed, &[]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains(" already in "));
    assert_eq!(index(&resumed), index(&straight));
    assert_eq!(inputs(&resumed), inputs(&straight));

    // Batches of two: each batch enters the atlas while the next one's pass runs.
    let pairs = dir.path().join("pairs");
    ok(&build(&root, &pairs, &["--batch", "2"]));
    assert_eq!(index(&pairs), index(&straight));
    assert_eq!(inputs(&pairs), inputs(&straight));

    // Three shards, merged two steps: the first, missing a shard, only on purpose.
    let parts: Vec<PathBuf> = (0..3)
        .map(|i| dir.path().join(format!("part{i}")))
        .collect();
    for (i, p) in parts.iter().enumerate() {
        ok(&build(&root, p, &["--shard", &format!("{i}/3")]));
    }
    let ab = dir.path().join("ab");
    let all = dir.path().join("all");
    let merge = |a: &Path, b: &Path, out: &Path, extra: &[&str]| {
        let mut args = vec![
            "atlas",
            "merge",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        featurescope(&args)
    };
    let o = merge(&parts[2], &parts[0], &ab, &[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("missing shards 1 of 3 (found 0, 2)"), "{err}");
    assert!(!ab.exists(), "nothing written: {err}");
    let o = merge(&parts[2], &parts[0], &ab, &["--allow-missing"]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("without shards 1 of 3"));
    ok(&merge(&parts[1], &ab, &all, &[]));
    assert_eq!(index(&all), index(&straight));
    assert_eq!(inputs(&all), inputs(&straight));
    assert!(!all.join("shards.json").exists(), "complete: a whole atlas");

    // Other settings never mix: a different --top on the same directory is refused.
    let o = build(&root, &straight, &["--top", "5"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("other settings"));
}

#[test]
fn ctrl_c_keeps_what_is_done_and_the_same_command_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("photos");
    collection(&root);
    let straight = dir.path().join("straight");
    ok(&build(&root, &straight, &[]));
    let out = dir.path().join("interrupted");
    interrupt_after_start(&atlas_args(&root, &out, &[]), "INT");
    // Whatever was done is a valid atlas; the same command finishes it.
    let done = Atlas::load(&out).unwrap().images().len();
    assert!(done <= 6);
    ok(&build(&root, &out, &[]));
    assert_eq!(index(&out), index(&straight));
}

#[test]
fn batched_gpu_atlas_agrees_with_the_cpu() {
    // wgpu (a GPU, or lavapipe in CI) with two images per pass, against the CPU one at a time.
    if featurescope_net::device::select(featurescope_net::BackendChoice::Wgpu).is_err() {
        assert!(
            std::env::var_os("FEATURESCOPE_REQUIRE_WGPU").is_none(),
            "wgpu required but unavailable"
        );
        eprintln!("SKIPPED: no wgpu adapter");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("photos");
    std::fs::create_dir_all(&root).unwrap();
    let samples = repo().join("assets/samples");
    std::fs::copy(samples.join("chelsea_299.png"), root.join("cat.png")).unwrap();
    std::fs::copy(samples.join("coffee_299.png"), root.join("espresso.png")).unwrap();
    let (gpu, cpu) = (dir.path().join("gpu"), dir.path().join("cpu"));
    for (out, backend, batch) in [(&gpu, "wgpu", "2"), (&cpu, "cpu", "1")] {
        ok(&build(
            &root,
            out,
            &["--backend", backend, "--batch", batch],
        ));
    }
    let (g, c) = (Atlas::load(&gpu).unwrap(), Atlas::load(&cpu).unwrap());
    let (mut units, mut moved) = (0usize, 0usize);
    for layer in c.layers() {
        let [channels, _, _] = layer.shape();
        let hits = |a: &Atlas, ch| a.top(&layer.id, ch, Rank::Max).unwrap();
        let layer_max = (0..channels)
            .flat_map(|ch| hits(&c, ch))
            .fold(0f32, |m, h| m.max(h.score.abs()));
        for ch in 0..channels {
            for cpu_hit in hits(&c, ch) {
                let gpu_hit = hits(&g, ch)
                    .into_iter()
                    .find(|h| h.image == cpu_hit.image)
                    .unwrap();
                assert!(
                    (gpu_hit.score - cpu_hit.score).abs() <= 2e-4 * layer_max,
                    "{} channel {ch} {}: gpu {} cpu {}",
                    layer.id,
                    cpu_hit.image,
                    gpu_hit.score,
                    cpu_hit.score
                );
                units += 1;
                // A maximum may move between two near-equal values under float rounding.
                moved += usize::from((gpu_hit.y, gpu_hit.x) != (cpu_hit.y, cpu_hit.x));
            }
        }
    }
    assert!(moved * 200 <= units, "{moved} of {units} maxima moved");
}

/// The parts of a sharded build, written by `--parts DIR` (one per job-array task), merge from
/// their folder or named one by one, in any order, into the same bytes as a straight run; a
/// missing part is named, a part given twice refused, an existing atlas never replaced
/// without --overwrite.
#[test]
fn a_folder_of_parts_merges_in_any_order_into_a_straight_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("photos");
    collection(&root);
    let straight = dir.path().join("straight");
    ok(&build(&root, &straight, &[]));
    let parts = dir.path().join("parts");
    for i in 0..3 {
        let mut args = atlas_args(&root, &parts, &[]);
        // `--parts DIR` instead of `--out DIR`.
        args[3] = "--parts";
        let shard = format!("{i}/3");
        args.extend(["--shard", &shard]);
        let o = featurescope(&args);
        ok(&o);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("shard {i}/3 from --shard {i}/3")),
            "{err}"
        );
    }
    let names: Vec<String> = (0..3).map(|i| format!("part-000{i}-of-0003")).collect();
    assert_eq!(
        {
            let mut v: Vec<String> = std::fs::read_dir(&parts)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        },
        names
    );
    let merge = |args: &[&Path], out: &Path, extra: &[&str]| {
        let mut a: Vec<&str> = vec!["atlas", "merge"];
        a.extend(args.iter().map(|p| p.to_str().unwrap()));
        a.extend(["--out", out.to_str().unwrap()]);
        a.extend_from_slice(extra);
        featurescope(&a)
    };
    let from_folder = dir.path().join("from-folder");
    let o = merge(&[&parts], &from_folder, &[]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("merged the 3 parts of 3"));
    let p = |i: usize| parts.join(&names[i]);
    let (p0, p1, p2) = (p(0), p(1), p(2));
    let named = dir.path().join("named");
    ok(&merge(&[&p2, &p0, &p1], &named, &[]));
    for out in [&from_folder, &named] {
        assert_eq!(index(out), index(&straight));
        assert_eq!(inputs(out), inputs(&straight));
        assert_eq!(
            std::fs::read(out.join("collection.json")).unwrap(),
            std::fs::read(straight.join("collection.json")).unwrap()
        );
        assert!(!out.join("shards.json").exists());
    }
    // The result exists: not replaced unless asked.
    let o = merge(&[&parts], &named, &[]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--overwrite"));
    ok(&merge(&[&parts], &named, &["--overwrite"]));
    assert_eq!(index(&named), index(&straight));
    // A part given twice, and a missing one, are refused by name.
    let o = merge(&[&p0, &parts], &dir.path().join("twice"), &[]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("given twice"));
    std::fs::rename(&p1, dir.path().join("elsewhere")).unwrap();
    let o = merge(&[&parts], &dir.path().join("partial"), &[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("missing shards 1 of 3 (found 0, 2); merge them too, or pass --allow-missing"),
        "{err}"
    );
}

/// A part directory belongs to its shard: the same shard continues it after an interruption
/// (a preempted task run again), another shard or the whole collection is refused; the shard
/// can come from the job array's environment (AWS Batch here; Slurm and Kubernetes in
/// deploy.rs).
#[test]
fn a_part_resumes_only_as_its_own_shard() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("photos");
    let images = collection(&root);
    let part = dir.path().join("part");
    let in_shard = images
        .iter()
        .filter(|f| featurescope_atlas::Shard::new(1, 2).unwrap().contains(f))
        .count();
    assert!(in_shard >= 2, "{in_shard}");
    let aws = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_featurescope"))
            .args(atlas_args(&root, &part, extra))
            .env("AWS_BATCH_JOB_ARRAY_INDEX", "1")
            .env("AWS_BATCH_JOB_ARRAY_SIZE", "2")
            .env_remove("SLURM_ARRAY_TASK_ID")
            .env_remove("JOB_COMPLETION_INDEX")
            .output()
            .unwrap()
    };
    let o = aws(&["--stop-after", "1"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("shard 1/2 from AWS_BATCH_JOB_ARRAY_INDEX=1 of 2"),
        "{err}"
    );
    assert!(err.contains("interrupted"), "{err}");
    for (extra, expected) in [
        (
            &["--shard", "0/2"][..],
            "holds an atlas of shard 1/2, not of shard 0/2",
        ),
        (&["--shard", "1/3"][..], "not of shard 1/3"),
        (&[][..], "not of the whole collection"),
    ] {
        let o = build(&root, &part, extra);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(expected), "{extra:?}: {err}");
    }
    let o = aws(&[]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains(" 1 already in "));
    let atlas = Atlas::load(&part).unwrap();
    assert_eq!(
        atlas.images().len() + atlas.skipped().len(),
        in_shard
            + usize::from(
                featurescope_atlas::Shard::new(1, 2)
                    .unwrap()
                    .contains("notes.txt")
            )
    );
}

/// A job engine preempts (or cancels) a task with SIGTERM: the part keeps what is done, and
/// the task run again (the same command, the same array index) continues it into the same
/// bytes as the shard built in one go.
#[test]
fn a_preempted_task_keeps_its_part_and_the_requeued_task_continues_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("photos");
    collection(&root);
    let whole = dir.path().join("whole");
    ok(&build(&root, &whole, &["--shard", "1/2"]));
    let parts = dir.path().join("parts");
    let task = || {
        let mut args = atlas_args(&root, &parts, &[]);
        args[3] = "--parts";
        let mut c = Command::new(env!("CARGO_BIN_EXE_featurescope"));
        c.args(args)
            .env("SLURM_ARRAY_TASK_ID", "1")
            .env("SLURM_ARRAY_TASK_COUNT", "2")
            .env_remove("SLURM_ARRAY_TASK_MIN")
            .env_remove("SLURM_ARRAY_TASK_STEP")
            .stderr(Stdio::piped());
        c
    };
    let mut child = task().spawn().unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut lines = String::new();
    while !lines.contains("to analyse") {
        let mut line = String::new();
        assert!(
            std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0,
            "{lines}"
        );
        lines += &line;
    }
    assert!(
        lines.contains("shard 1/2 from SLURM_ARRAY_TASK_ID=1 of SLURM_ARRAY_TASK_COUNT=2"),
        "{lines}"
    );
    let (status, rest) = signal_and_wait(&mut child, stderr, "TERM");
    // Killed by the signal, there would be no exit code and no message.
    assert!(status.code().is_some(), "ended by SIGTERM itself: {rest}");
    let part = parts.join("part-0001-of-0002");
    assert!(
        Atlas::load(&part).is_ok(),
        "the part is a valid atlas: {rest}"
    );
    let o = task().output().unwrap();
    ok(&o);
    assert_eq!(index(&part), index(&whole));
    assert_eq!(inputs(&part), inputs(&whole));
}
