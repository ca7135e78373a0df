//! The fuzz targets' seed corpora and every crash they found (`crates/fuzz/corpus/<target>/`,
//! `crates/fuzz/regressions/<target>/`), replayed through the same entry points as the cargo-fuzz
//! targets, on the stable toolchain: a crash once found stays fixed. Also a short smoke run:
//! each seed mutated a few hundred times (byte flips, truncations, splices) by a seeded
//! generator. The coverage-guided runs themselves need nightly (docs/ROBUSTNESS.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use featurescope_net::BackendChoice;
use featurescope_net::fuzzing;
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
    run("image", 300, &fuzzing::image);
}

#[test]
fn tfjs_corpus() {
    run("tfjs", 100, &fuzzing::tfjs);
}

fn weights_corpus(ext: &str) {
    let dir = tempfile::tempdir().unwrap();
    let cpu = featurescope_net::device::select(BackendChoice::Cpu).unwrap();
    run(ext, 200, &|d| {
        fuzzing::weights_file(ext, d, dir.path(), &cpu)
    });
}

#[test]
fn safetensors_corpus() {
    weights_corpus("safetensors");
}

#[test]
fn pth_corpus() {
    weights_corpus("pth");
}

#[test]
fn h5_corpus() {
    weights_corpus("h5");
}

#[test]
fn keras_corpus() {
    weights_corpus("keras");
}

#[test]
fn pb_corpus() {
    weights_corpus("pb");
}

#[test]
fn onnx_corpus() {
    weights_corpus("onnx");
}
