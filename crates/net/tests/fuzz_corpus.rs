//! The fuzz targets' seed corpora and every crash they found (`crates/fuzz/corpus/<target>/`,
//! `crates/fuzz/regressions/<target>/`), replayed through the same entry points as the cargo-fuzz
//! targets, on the stable toolchain: a crash once found stays fixed. Also a short smoke run:
//! each seed mutated a few hundred times (byte flips, truncations, splices) by a seeded
//! generator. The coverage-guided runs themselves need nightly (docs/ROBUSTNESS.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use featurescope_net::weights::tfjs;
use featurescope_net::{BackendChoice, preprocess};
use rand::{Rng, SeedableRng};

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) {
            files.extend(entries.map(|e| e.unwrap().path()));
        }
    }
    files.sort();
    files
}

const NAMES: [&str; 8] = [
    "x", "x.tga", "x.png", "x.jpg", "x.ico", "x.pnm", "x.hdr", "x.dds",
];

fn image(data: &[u8]) {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    if let Ok(img) = preprocess::decode_image(bytes, NAMES[usize::from(pick) % NAMES.len()]) {
        let input = preprocess::prepare(&img);
        assert_eq!(input.tensor.len(), 3 * 299 * 299);
    }
}

fn tfjs(data: &[u8]) {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (json, shards) = data.split_at(split);
    let shards = shards.get(1..).unwrap_or_default().to_vec();
    let Ok(text) = std::str::from_utf8(json) else {
        return;
    };
    let _ = tfjs::import_from(Path::new("model.json"), text, &mut |_| {
        Ok(Cow::Owned(shards.clone()))
    });
}

fn weights_file(ext: &str, data: &[u8], dir: &Path) {
    let path = dir.join(format!("input.{ext}"));
    std::fs::write(&path, data).unwrap();
    let cpu = featurescope_net::device::select(BackendChoice::Cpu).unwrap();
    let _ = featurescope_net::weights::load(&path, &cpu.device);
}

/// Seeded mutations of `seed`: flips, truncations, insertions, splices of itself.
fn mutations(seed: &[u8], count: usize, rng_seed: u64) -> Vec<Vec<u8>> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(rng_seed);
    (0..count)
        .map(|_| {
            let mut m = seed.to_vec();
            for _ in 0..rng.random_range(1..=4) {
                if m.is_empty() {
                    m.push(rng.random());
                    continue;
                }
                let at = rng.random_range(0..m.len());
                match rng.random_range(0..5) {
                    0 => m[at] ^= 1 << rng.random_range(0..8),
                    1 => m[at] = rng.random(),
                    2 => m.truncate(at),
                    3 => m.insert(at, [0x00, 0xff, 0x7f, 0x80][rng.random_range(0..4)]),
                    _ => {
                        let len = rng.random_range(0..=(m.len() - at).min(64));
                        let chunk = m[at..at + len].to_vec();
                        let to = rng.random_range(0..=m.len());
                        m.splice(to..to, chunk);
                    }
                }
            }
            m
        })
        .collect()
}

fn run(target: &str, per_seed: usize, f: &dyn Fn(&[u8])) {
    let files = inputs(target);
    assert!(!files.is_empty(), "no corpus for {target}");
    for (i, file) in files.iter().enumerate() {
        let seed = std::fs::read(file).unwrap();
        f(&seed);
        for m in mutations(&seed, per_seed, i as u64) {
            f(&m);
        }
    }
}

#[test]
fn image_corpus() {
    run("image", 300, &image);
}

#[test]
fn tfjs_corpus() {
    run("tfjs", 100, &tfjs);
}

#[test]
fn safetensors_corpus() {
    let dir = tempfile::tempdir().unwrap();
    run("safetensors", 200, &|d| {
        weights_file("safetensors", d, dir.path())
    });
}

#[test]
fn pth_corpus() {
    let dir = tempfile::tempdir().unwrap();
    run("pth", 200, &|d| weights_file("pth", d, dir.path()));
    assert!(
        !Path::new("/tmp/featurescope-fuzz-pickle-ran").exists(),
        "a pickle ran code"
    );
}
