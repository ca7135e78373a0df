//! Cross-cutting atlas tests: brute force, merging, resuming, storage and corrupt files.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use super::*;

/// xorshift64* — small, deterministic, no dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

const K: usize = 4;

fn rf(jump: u32) -> RfGeometry {
    RfGeometry {
        jump: [jump; 2],
        lo: [-2, -3],
        hi: [4, 5],
        input: [20, 24],
    }
}

fn specs() -> Vec<LayerSpec> {
    vec![
        ("conv".into(), [5, 3, 4], rf(4)),
        ("mixed".into(), [3, 2, 2], rf(8)),
    ]
}

fn empty() -> Atlas {
    Atlas::new("weights-v1", K, specs()).unwrap()
}

/// One image: a path and its maps for both layers.
struct Image {
    path: String,
    maps: Vec<(String, LayerMaps)>,
}

impl Image {
    fn layers(&self) -> Vec<(&str, &LayerMaps)> {
        self.maps.iter().map(|(id, m)| (id.as_str(), m)).collect()
    }
}

/// Values from a small set so that maxima, means and positions tie often; some NaN,
/// infinities and signed zeros; now and then a channel without any finite value.
fn random_maps(rng: &mut Rng, [c, h, w]: [usize; 3]) -> LayerMaps {
    let mut data = Vec::with_capacity(c * h * w);
    for _ in 0..c {
        let dead = rng.below(12) == 0;
        for _ in 0..h * w {
            let v = match rng.below(20) {
                _ if dead => f32::NAN,
                0 => f32::NAN,
                1 => f32::INFINITY,
                2 => -0.0,
                3 => 0.0,
                r => (r % 5) as f32 * 0.75 - 1.0,
            };
            data.push(v);
        }
    }
    LayerMaps::new(c, h, w, data).unwrap()
}

fn random_images(seed: u64, n: usize) -> Vec<Image> {
    let mut rng = Rng(seed);
    let mut names: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut names);
    names
        .into_iter()
        .map(|i| Image {
            path: format!("set{}/img{:03}.png", i % 3, i),
            maps: specs()
                .into_iter()
                .map(|(id, shape, _)| (id, random_maps(&mut rng, shape)))
                .collect(),
        })
        .collect()
}

fn build(images: &[&Image]) -> Atlas {
    let mut atlas = empty();
    for img in images {
        atlas.add_image(&img.path, &img.layers()).unwrap();
    }
    atlas
}

fn canonical(mut a: Atlas) -> Atlas {
    a.canonicalize();
    a
}

/// An independent reference: first maximum and f64 mean of the finite values.
fn reference_summary(values: &[f32], width: usize) -> Option<(f32, u32, u32, f32)> {
    let finite: Vec<(usize, f32)> = values
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .collect();
    let best = finite
        .iter()
        .map(|&(_, v)| v)
        .fold(f32::NEG_INFINITY, f32::max);
    // The first position holding the maximum, and its value (0.0 and -0.0 compare equal).
    let (at, best) = *finite.iter().find(|&&(_, v)| v == best)?;
    let mean = finite.iter().map(|&(_, v)| f64::from(v)).sum::<f64>() / finite.len() as f64;
    Some((best, (at / width) as u32, (at % width) as u32, mean as f32))
}

#[test]
fn top_k_equals_brute_force() {
    let images = random_images(7, 30);
    let atlas = build(&images.iter().collect::<Vec<_>>());
    for (id, [c, _, w], geometry) in specs() {
        for ch in 0..c {
            for rank in [Rank::Max, Rank::Mean] {
                let mut all: Vec<(String, f32, u32, u32)> = images
                    .iter()
                    .filter_map(|img| {
                        let maps = &img.maps.iter().find(|(i, _)| *i == id)?.1;
                        let (max, y, x, mean) = reference_summary(maps.channel(ch), w)?;
                        let score = if rank == Rank::Max { max } else { mean };
                        Some((img.path.clone(), score, y, x))
                    })
                    .collect();
                all.sort_by(|a, b| {
                    b.1.total_cmp(&a.1)
                        .then_with(|| a.0.cmp(&b.0))
                        .then_with(|| (a.2, a.3).cmp(&(b.2, b.3)))
                });
                all.truncate(K);
                let got: Vec<(String, f32, u32, u32)> = atlas
                    .top(&id, ch, rank)
                    .unwrap()
                    .into_iter()
                    .map(|h| {
                        assert_eq!(h.crop, geometry.crop(h.y, h.x));
                        (h.image, h.score, h.y, h.x)
                    })
                    .collect();
                let bits = |v: &[(String, f32, u32, u32)]| -> Vec<(String, u32, u32, u32)> {
                    v.iter()
                        .map(|(p, s, y, x)| (p.clone(), s.to_bits(), *y, *x))
                        .collect()
                };
                assert_eq!(bits(&got), bits(&all), "{id} channel {ch} {rank:?}");
            }
        }
    }
    // The test data must exercise ties at the cut and channels without finite values.
    let conv = atlas.layer("conv").unwrap();
    let ties = (0..5).any(|c| {
        let r = conv.ranking(c, Rank::Max).unwrap();
        r.len() == K && r[0].score == r[K - 1].score
    });
    assert!(ties, "no ties in the test data");
    let counts: Vec<u64> = (0..5).map(|c| conv.stats(c).unwrap().count()).collect();
    assert!(counts.iter().any(|&n| n < 30), "{counts:?}");
}

#[test]
fn stats_and_selectivity_match_brute_force() {
    let images = random_images(11, 30);
    let atlas = build(&images.iter().collect::<Vec<_>>());
    let sel = atlas.selectivity("mixed").unwrap();
    for (ch, &got) in sel.iter().enumerate() {
        let maxima: Vec<f64> = images
            .iter()
            .filter_map(|img| reference_summary(img.maps[1].1.channel(ch), 2))
            .map(|s| f64::from(s.0))
            .collect();
        let n = maxima.len() as f64;
        let mean = maxima.iter().sum::<f64>() / n;
        let std = (maxima.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / n).sqrt();
        let top = maxima.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let expected = if std > 0.0 { (top - mean) / std } else { 0.0 };
        assert!(
            (f64::from(got) - expected).abs() < 1e-5,
            "{ch}: {got} vs {expected}"
        );
        let s = atlas.layer("mixed").unwrap().stats(ch).unwrap();
        assert_eq!(s.count(), maxima.len() as u64);
        assert!((s.mean().unwrap() - mean).abs() < 1e-12);
    }
    assert_eq!(atlas.selectivity("nope"), None);
}

#[test]
fn selectivity_hand_made() {
    let spec = vec![("l".to_string(), [2, 1, 2], rf(1))];
    let mut atlas = Atlas::new("m", 2, spec).unwrap();
    // Channel 0 maxima 1, 2, 3, 6: mean 3, population std sqrt(3.5). Channel 1 constant.
    for (i, m) in [1.0, 2.0, 3.0, 6.0].into_iter().enumerate() {
        let maps = LayerMaps::new(2, 1, 2, vec![m, -m, 4.0, 4.0]).unwrap();
        atlas
            .add_image(&format!("{i}.png"), &[("l", &maps)])
            .unwrap();
    }
    let sel = atlas.selectivity("l").unwrap();
    assert_eq!(sel, vec![(3.0 / 3.5f64.sqrt()) as f32, 0.0]);
    let top = atlas.top("l", 0, Rank::Mean).unwrap();
    assert_eq!((top[0].image.as_str(), top[0].score), ("0.png", 0.0));
    // Channel 1 ties everywhere: paths decide, position is the first maximum.
    let top = atlas.top("l", 1, Rank::Max).unwrap();
    let got: Vec<(&str, u32)> = top.iter().map(|h| (h.image.as_str(), h.x)).collect();
    assert_eq!(got, vec![("0.png", 0), ("1.png", 0)]);
}

/// Splits `images` (shuffled by `seed`) into `parts` atlases, each built in its own order.
fn partial_atlases(images: &[Image], seed: u64, parts: usize) -> Vec<Atlas> {
    let mut rng = Rng(seed);
    let mut order: Vec<&Image> = images.iter().collect();
    rng.shuffle(&mut order);
    let size = order.len().div_ceil(parts);
    order.chunks(size).map(build).collect()
}

#[test]
fn merge_equals_straight_run() {
    let images = random_images(3, 31);
    let straight = canonical(build(&images.iter().collect::<Vec<_>>()));
    let [a, b] = <[Atlas; 2]>::try_from(partial_atlases(&images, 5, 2)).unwrap();
    assert_eq!(Atlas::merge(a.clone(), b.clone()).unwrap(), straight);
    assert_eq!(Atlas::merge(b, a).unwrap(), straight);
    let [p, q, r] = <[Atlas; 3]>::try_from(partial_atlases(&images, 9, 3)).unwrap();
    let left = Atlas::merge(Atlas::merge(p.clone(), q.clone()).unwrap(), r.clone()).unwrap();
    let right = Atlas::merge(p.clone(), Atlas::merge(q.clone(), r.clone()).unwrap()).unwrap();
    let mixed = Atlas::merge(Atlas::merge(r, p).unwrap(), q).unwrap();
    assert_eq!(left, straight);
    assert_eq!(right, straight);
    assert_eq!(mixed, straight);
    // Merging with an empty atlas changes nothing.
    assert_eq!(Atlas::merge(empty(), straight.clone()).unwrap(), straight);
}

#[test]
fn merge_unites_skips() {
    let images = random_images(4, 6);
    let (x, y) = images.split_at(3);
    let mut a = build(&x.iter().collect::<Vec<_>>());
    let mut b = build(&y.iter().collect::<Vec<_>>());
    a.skip("z.png", "bad").unwrap();
    b.skip("z.png", "also bad").unwrap();
    b.skip("c.png", "truncated\nfile").unwrap();
    a.skip(&y[0].path, "failed first").unwrap();
    let m = Atlas::merge(a.clone(), b.clone()).unwrap();
    assert_eq!(m, Atlas::merge(b, a).unwrap());
    let skipped: Vec<(&str, &str)> = m
        .skipped()
        .iter()
        .map(|(p, r)| (p.as_str(), r.as_str()))
        .collect();
    assert_eq!(
        skipped,
        vec![("c.png", "truncated file"), ("z.png", "also bad")]
    );
    assert!(m.has_image(&y[0].path) && !m.is_skipped(&y[0].path));
}

#[test]
fn merge_refuses_incompatible_atlases() {
    let images = random_images(8, 4);
    let a = build(&[&images[0], &images[1]]);
    let err = |x: Atlas, y: Atlas| Atlas::merge(x, y).unwrap_err().to_string();
    let both = err(a.clone(), build(&[&images[1], &images[2]]));
    assert!(
        both.contains(&images[1].path) && both.contains("both"),
        "{both}"
    );
    let other_model = Atlas::new("weights-v2", K, specs()).unwrap();
    assert!(err(a.clone(), other_model).contains("model"));
    let other_k = Atlas::new("weights-v1", K + 1, specs()).unwrap();
    assert!(err(a.clone(), other_k).contains("k 4 vs 5"));
    let mut s = specs();
    s[1].1 = [3, 3, 3];
    let msg = err(a.clone(), Atlas::new("weights-v1", K, s).unwrap());
    assert!(msg.contains("\"mixed\": shape 3x2x2 vs 3x3x3"), "{msg}");
    let mut s = specs();
    s[0].2 = rf(2);
    assert!(err(a.clone(), Atlas::new("weights-v1", K, s).unwrap()).contains("receptive field"));
    let s = specs()[..1].to_vec();
    assert!(err(a, Atlas::new("weights-v1", K, s).unwrap()).contains("layers"));
}

#[test]
fn resume_after_save_and_load_equals_straight_run() {
    let images = random_images(21, 30);
    let straight = canonical(build(&images.iter().collect::<Vec<_>>()));
    let dir = temp_dir("resume");
    let first = build(&images[..13].iter().collect::<Vec<_>>());
    first.save(&dir).unwrap();
    let mut resumed = Atlas::load(&dir).unwrap();
    assert_eq!(resumed, canonical(first));
    for img in &images {
        if !resumed.has_image(&img.path) {
            resumed.add_image(&img.path, &img.layers()).unwrap();
        }
    }
    assert_eq!(canonical(resumed.clone()), straight);
    // Saving a non-canonical atlas writes the canonical form.
    resumed.save(&dir).unwrap();
    assert_eq!(Atlas::load(&dir).unwrap(), straight);
    straight.save(&dir).unwrap();
    let again = std::fs::read(dir.join(ATLAS_FILE)).unwrap();
    resumed.save(&dir).unwrap();
    assert_eq!(std::fs::read(dir.join(ATLAS_FILE)).unwrap(), again);
    assert!(!dir.join("atlas.json.tmp").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn add_image_checks_layers() {
    let images = random_images(1, 2);
    let mut atlas = build(&[&images[0]]);
    let before = atlas.clone();
    let err = |a: &mut Atlas, layers: &[(&str, &LayerMaps)]| {
        a.add_image("new.png", layers).unwrap_err().to_string()
    };
    let (conv, mixed) = (&images[1].maps[0].1, &images[1].maps[1].1);
    assert!(err(&mut atlas, &[("conv", conv)]).contains("\"mixed\" is missing"));
    assert!(err(&mut atlas, &[("conv", conv), ("x", mixed)]).contains("not in the atlas"));
    assert!(err(&mut atlas, &[("conv", conv), ("conv", conv)]).contains("twice"));
    let msg = err(&mut atlas, &[("conv", mixed), ("mixed", conv)]);
    assert!(msg.contains("new.png") && msg.contains("expects"), "{msg}");
    let mut broken = mixed.clone();
    broken.data.pop();
    assert!(err(&mut atlas, &[("conv", conv), ("mixed", &broken)]).contains("expects"));
    let dup = atlas.add_image(&images[0].path, &images[0].layers());
    assert!(dup.unwrap_err().to_string().contains("already"));
    assert!(atlas.skip(&images[0].path, "x").is_err());
    assert_eq!(atlas, before);
    // Layer order does not matter; a skipped image that is added leaves the skip list.
    atlas.skip("new.png", "timeout").unwrap();
    atlas
        .add_image("new.png", &[("mixed", mixed), ("conv", conv)])
        .unwrap();
    assert!(atlas.skipped().is_empty() && atlas.has_image("new.png"));
    assert!(
        atlas
            .top("nope", 0, Rank::Max)
            .unwrap_err()
            .to_string()
            .contains("conv")
    );
    assert!(matches!(
        atlas.top("mixed", 3, Rank::Max),
        Err(MapsError::ChannelOutOfRange { channels: 3, .. })
    ));
}

#[test]
fn new_refuses_bad_parameters() {
    assert!(Atlas::new("m", 0, specs()).is_err());
    assert!(Atlas::new("m", MAX_K + 1, specs()).is_err());
    let mut s = specs();
    s[1].0 = "conv".into();
    assert!(
        Atlas::new("m", 3, s)
            .unwrap_err()
            .to_string()
            .contains("twice")
    );
    let mut s = specs();
    s[0].1 = [0, 1, 1];
    assert!(Atlas::new("m", 3, s).is_err());
    let mut s = specs();
    s[0].1 = [MAX_CHANNELS, 1, 1];
    assert!(
        Atlas::new("m", MAX_K, s)
            .unwrap_err()
            .to_string()
            .contains("ranked")
    );
    let mut s = specs();
    s[0].2.jump = [0, 1];
    assert!(Atlas::new("m", 3, s).is_err());
}

#[test]
fn hit_json_has_exactly_the_documented_keys() {
    let hit = AtlasHit {
        image: "a/b.png".into(),
        score: 1.5,
        y: 2,
        x: 3,
        crop: CropBox {
            x0: 0,
            y0: 1,
            x1: 4,
            y1: 5,
        },
    };
    let json = serde_json::to_string(&[hit]).unwrap();
    assert_eq!(
        json,
        r#"[{"image":"a/b.png","score":1.5,"y":2,"x":3,"crop":{"x0":0,"y0":1,"x1":4,"y1":5}}]"#
    );
}

#[test]
fn referenced_images_and_canonical_indices() {
    let images = random_images(13, 12);
    let atlas = canonical(build(&images.iter().collect::<Vec<_>>()));
    assert!(atlas.is_canonical());
    let refs = atlas.referenced_images();
    assert!(!refs.is_empty() && refs.iter().all(|&i| (i as usize) < 12));
    for layer in atlas.layers() {
        for c in 0..layer.channels {
            for rank in [Rank::Max, Rank::Mean] {
                let r = layer.ranking(c, rank).unwrap();
                assert!(
                    r.windows(2)
                        .all(|w| Entry::rank_cmp(&w[0], &w[1]) == Ordering::Less)
                );
                assert!(r.iter().all(|e| refs.contains(&e.image)));
            }
        }
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("featurescope-atlas-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn extreme_scores_round_trip_exactly() {
    let spec = vec![("l".to_string(), [1, 1, 1], rf(1))];
    let mut atlas = Atlas::new("m", 8, spec).unwrap();
    let specials = [
        f32::MAX,
        -f32::MAX,
        f32::MIN_POSITIVE,
        1e-45,
        -1e-45,
        0.1,
        1.0 / 3.0,
        16_777_217.0,
        -0.0,
        3.4e-39,
        2.5e-22,
        7.3e21,
    ];
    let mut rng = Rng(99);
    let randoms = (0..200)
        .map(|_| f32::from_bits(rng.next() as u32))
        .filter(|v| v.is_finite());
    for (i, v) in specials.into_iter().chain(randoms).enumerate() {
        let maps = LayerMaps::new(1, 1, 1, vec![v]).unwrap();
        atlas
            .add_image(&format!("{i:04}"), &[("l", &maps)])
            .unwrap();
    }
    let dir = temp_dir("extreme");
    atlas.save(&dir).unwrap();
    assert_eq!(Atlas::load(&dir).unwrap(), canonical(atlas));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn scores_read_back_bit_exact() {
    // Random bit patterns over the whole f32 range, written the way save writes them.
    let mut rng = Rng(12345);
    for _ in 0..200_000 {
        let v = f32::from_bits(rng.next() as u32);
        if !v.is_finite() {
            continue;
        }
        let json = store::score_json(v);
        let back: f32 = serde_json::from_str(&json).unwrap();
        assert_eq!(back.to_bits(), v.to_bits(), "{v:e} written as {json}");
    }
}

/// A saved atlas' JSON, edited by `edit`, written back; returns the load error.
fn load_edited(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let images = random_images(17, 10);
    let atlas = build(&images.iter().collect::<Vec<_>>());
    let dir = temp_dir(name);
    atlas.save(&dir).unwrap();
    let path = dir.join(ATLAS_FILE);
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut json);
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    let err = Atlas::load(&dir).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        matches!(&err, MapsError::AtlasFile { path: p, .. } if p == &path),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("atlas.json"), "{msg}");
    msg
}

fn set(json: &mut serde_json::Value, pointer: &str, v: serde_json::Value) {
    *json.pointer_mut(pointer).unwrap() = v;
}

#[test]
fn corrupt_files_are_refused_with_the_file_named() {
    use serde_json::json;
    type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "version",
            Box::new(|j| set(j, "/version", json!(2))),
            "version 2",
        ),
        (
            "format",
            Box::new(|j| set(j, "/format", json!("zip"))),
            "format",
        ),
        (
            "index",
            Box::new(|j| set(j, "/layers/0/by_max/0/0/0", json!(99))),
            "out of range",
        ),
        (
            "y",
            Box::new(|j| set(j, "/layers/0/by_mean/1/0/2", json!(3))),
            "outside 3x4",
        ),
        (
            "huge",
            Box::new(|j| set(j, "/layers/0/by_max/0/0/1", json!(1e39))),
            "not finite",
        ),
        (
            "overflow",
            Box::new(|j| set(j, "/layers/0/by_max/0/0/1", json!(1e300))),
            "not finite",
        ),
        (
            "null",
            Box::new(|j| set(j, "/layers/0/by_max/0/0/1", json!(null))),
            "f32",
        ),
        ("k", Box::new(|j| set(j, "/k", json!(2))), "expected 2"),
        ("k0", Box::new(|j| set(j, "/k", json!(0))), "k = 0"),
        (
            "bigk",
            Box::new(|j| set(j, "/k", json!(1_000_000_000_000u64))),
            "k = 1000000000000",
        ),
        (
            "shape",
            Box::new(|j| set(j, "/layers/0/shape", json!([6, 3, 4]))),
            "has 5 channels",
        ),
        (
            "claim",
            Box::new(|j| set(j, "/layers/1/shape", json!([1_000_000_000_000u64, 1, 1]))),
            "exceeds the limits",
        ),
        (
            "order",
            Box::new(|j| {
                let list = j
                    .pointer_mut("/layers/0/by_max/0")
                    .unwrap()
                    .as_array_mut()
                    .unwrap();
                list.swap(0, 3);
            }),
            "out of order",
        ),
        (
            "dup-image",
            Box::new(|j| {
                let p = j["images"][0].clone();
                set(j, "/images/1", p);
            }),
            "listed twice",
        ),
        (
            "count",
            Box::new(|j| set(j, "/layers/0/stats/0/0", json!(99))),
            "exceeds the 10",
        ),
        (
            "sum",
            Box::new(|j| set(j, "/layers/0/stats/0/1", json!("1zp3"))),
            "exact sum",
        ),
        (
            "mean",
            Box::new(|j| set(j, "/layers/0/stats/0", json!([4, "1p10", "1p30"]))),
            "below the mean",
        ),
        (
            "extra",
            Box::new(|j| j["extra"] = json!(1)),
            "unknown field",
        ),
        (
            "entry",
            Box::new(|j| set(j, "/layers/0/by_max/0/0", json!([0, 1.0, 0]))),
            "length",
        ),
        (
            "rf",
            Box::new(|j| set(j, "/layers/0/rf/jump", json!([0, 1]))),
            "zero",
        ),
        (
            "skip",
            Box::new(|j| {
                let p = j["images"][0].clone();
                set(j, "/skipped", json!([[p, "x"]]));
            }),
            "both added and skipped",
        ),
    ];
    for (name, edit, expected) in cases {
        let msg = load_edited(name, edit);
        assert!(msg.contains(expected), "{name}: {msg}");
    }
}

#[test]
fn truncated_missing_and_oversized_files() {
    let images = random_images(2, 5);
    let dir = temp_dir("truncated");
    build(&images.iter().collect::<Vec<_>>())
        .save(&dir)
        .unwrap();
    let path = dir.join(ATLAS_FILE);
    let bytes = std::fs::read(&path).unwrap();
    for cut in [0, 1, bytes.len() / 3, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = Atlas::load(&dir).unwrap_err().to_string();
        assert!(
            err.contains("atlas.json") && err.contains("EOF"),
            "{cut}: {err}"
        );
    }
    std::fs::write(&path, b"{\"format\": NaN}").unwrap();
    assert!(Atlas::load(&dir).is_err());
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(store::MAX_FILE_BYTES + 1).unwrap(); // sparse: nothing is written
    let err = Atlas::load(&dir).unwrap_err().to_string();
    assert!(err.contains("atlas.json") && err.contains("limit"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(Atlas::load(&dir), Err(MapsError::Io { .. })));
}

fn write_inputs(dir: &Path, atlas: &Atlas) {
    for p in atlas.images() {
        let path = input_image_path(dir, p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::RgbImage::new(2, 2).save(&path).unwrap();
    }
}

#[test]
fn merge_dirs_copies_only_referenced_inputs() {
    let images = random_images(30, 24);
    let straight = canonical(build(&images.iter().collect::<Vec<_>>()));
    let [a, b] = <[Atlas; 2]>::try_from(partial_atlases(&images, 1, 2)).unwrap();
    let root = temp_dir("merge-dirs");
    let (da, db, out) = (root.join("a"), root.join("b"), root.join("out"));
    for (dir, atlas) in [(&da, &a), (&db, &b)] {
        atlas.save(dir).unwrap();
        write_inputs(dir, atlas);
    }
    let merged = merge_dirs(&da, &db, &out).unwrap();
    assert_eq!(merged, straight);
    assert_eq!(Atlas::load(&out).unwrap(), straight);
    let refs = merged.referenced_images();
    assert!(
        refs.len() < 24,
        "every image is referenced; the test proves nothing"
    );
    let copied = std::fs::read_dir(out.join("inputs")).unwrap().count();
    assert_eq!(copied, refs.len());
    for &i in &refs {
        assert!(input_image_path(&out, &merged.images()[i as usize]).is_file());
    }
    // Pruning the first directory against the merged atlas keeps only referenced inputs.
    std::fs::write(da.join("inputs").join("notes.txt"), b"keep me").unwrap();
    let removed = prune_inputs(&da, &merged).unwrap();
    let left = std::fs::read_dir(da.join("inputs")).unwrap().count();
    assert_eq!(left + removed, a.images().len() + 1);
    assert!(da.join("inputs").join("notes.txt").is_file());
    assert_eq!(prune_inputs(&root, &merged).unwrap(), 0);
    std::fs::remove_dir_all(&root).unwrap();
}
