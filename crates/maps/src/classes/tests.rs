#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use super::*;

fn layers() -> Vec<LayerSpec> {
    vec![("A".into(), 4), ("B".into(), 3)]
}

fn names() -> Vec<String> {
    vec!["Daisy".into(), "roses".into(), "tulips".into()]
}

/// A deterministic pseudo-random observation for image `i`.
fn observation(i: u32) -> Vec<LayerObservation> {
    let mut state = i.wrapping_mul(2_654_435_761).wrapping_add(12345);
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 1000) as f32 / 37.0 - 3.0
    };
    layers()
        .iter()
        .map(|(_, c)| LayerObservation {
            maxima: (0..*c).map(|_| next().abs()).collect(),
            attribution: (0..*c).map(|_| next() * 1e-3).collect(),
        })
        .collect()
}

fn filed(i: u32) -> Filed {
    Filed {
        class: i % 3,
        predicted: (i / 2) % 3,
    }
}

fn summary_of(images: impl Iterator<Item = u32>) -> ClassSummary {
    let mut s = ClassSummary::new("m", 0.3, names(), layers()).unwrap();
    for i in images {
        s.add_image(&format!("img{i:02}.png"), filed(i), &observation(i))
            .unwrap();
    }
    s
}

fn bytes(s: &ClassSummary) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    s.save(&path).unwrap();
    std::fs::read(path).unwrap()
}

#[test]
fn top_channels_is_the_shortest_prefix_reaching_the_mass() {
    // Sorted: 4 (k1), 3 (k0), 2 (k3), 1 (k2); total 10.
    let m = [3.0, 4.0, 1.0, 2.0];
    assert_eq!(top_channels(&m, 0.4), vec![1]);
    assert_eq!(top_channels(&m, 0.41), vec![1, 0]);
    assert_eq!(top_channels(&m, 0.7), vec![1, 0]);
    assert_eq!(top_channels(&m, 0.71), vec![1, 0, 3]);
    assert_eq!(top_channels(&m, 1.0), vec![1, 0, 3, 2]);
    assert_eq!(
        top_channels(&[2.0, 2.0, 1.0], 0.5),
        vec![0, 1],
        "ties: lower index first"
    );
    assert!(top_channels(&[0.0, 0.0], 0.5).is_empty());
    assert_eq!(top_channels(&[f32::NAN, 1.0], 0.5), vec![1]);
}

#[test]
fn counts_and_confusion_follow_the_images() {
    let s = summary_of(0..9);
    let roses = &s.classes()[&1];
    assert_eq!(roses.images(), 3); // 1, 4, 7
    // predicted (i/2)%3: 1→0, 4→2, 7→0
    assert_eq!(roses.predicted(), &BTreeMap::from([(0, 2), (2, 1)]));
    assert_eq!(roses.correct(1), 0);
    let mut want = vec![0u64; 4];
    let mut attr = [0f64; 4];
    for i in [1, 4, 7] {
        let obs = observation(i);
        for k in top_channels(&obs[0].maxima, 0.3) {
            want[k] += 1;
        }
        for (sum, a) in attr.iter_mut().zip(&obs[0].attribution) {
            *sum += f64::from(*a);
        }
    }
    assert_eq!(roses.counts(0).unwrap(), want.as_slice());
    for (got, want) in roses.attribution(0).unwrap().iter().zip(attr) {
        assert!((got - want / 3.0).abs() < 1e-12, "{got} {want}");
    }
    assert_eq!(s.resolve_class("DAISY"), Some(0));
    assert_eq!(s.resolve_class("2"), Some(2));
    assert_eq!(s.resolve_class("3"), None);
    assert_eq!(s.resolve_class("lilies"), None);
}

#[test]
fn merges_in_any_order_equal_one_run_byte_for_byte() {
    let whole = bytes(&summary_of(0..20));
    let parts = || {
        [
            summary_of((0..20).filter(|i| i % 3 == 0)),
            summary_of((0..20).filter(|i| i % 3 == 1)),
            summary_of((0..20).filter(|i| i % 3 == 2)),
        ]
    };
    let [a, b, c] = parts();
    let abc = ClassSummary::merge(ClassSummary::merge(a, b).unwrap(), c).unwrap();
    assert_eq!(bytes(&abc), whole);
    let [a, b, c] = parts();
    let cba = ClassSummary::merge(c, ClassSummary::merge(b, a).unwrap()).unwrap();
    assert_eq!(bytes(&cba), whole);
    // Reverse insertion order in one run gives the same bytes too.
    assert_eq!(bytes(&summary_of((0..20).rev())), whole);
}

#[test]
fn merge_refuses_overlaps_and_mismatches() {
    let a = summary_of(0..4);
    let err = ClassSummary::merge(a.clone(), summary_of(3..6)).unwrap_err();
    assert!(err.to_string().contains("img03.png"), "{err}");
    let other = ClassSummary::new("m", 0.2, names(), layers()).unwrap();
    assert!(ClassSummary::merge(a.clone(), other).is_err());
    let mut graphed = summary_of(4..6);
    graphed.start_graphs(&["A".into(), "B".into()], 2).unwrap();
    assert!(ClassSummary::merge(a, graphed).is_err());
}

#[test]
fn saves_and_loads_with_graphs_and_skips() {
    let mut s = summary_of(0..7);
    s.skip("broken.jpg", "cannot decode").unwrap();
    s.start_graphs(&["A".into(), "B".into()], 2).unwrap();
    let g = s.class_mut(1).unwrap().graph_mut().unwrap();
    assert_eq!(g.edges.len(), 4);
    g.add(
        0,
        &BTreeMap::from([((g.nodes[0].1[0], g.nodes[1].1[1]), 0.5f32)]),
    );
    g.mark_done("img04.png");
    g.mark_done("img01.png");
    assert_eq!(g.done, vec!["img01.png", "img04.png"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    s.save(&path).unwrap();
    let back = ClassSummary::load(&path).unwrap();
    assert_eq!(back, s);
    assert_eq!(bytes(&back), std::fs::read(&path).unwrap());
    let w = back.classes()[&1].graph().unwrap().weights();
    assert_eq!(w.iter().filter(|&&v| v == 0.25).count(), 1);
    assert!(s.is_done("broken.jpg") && s.is_done("img00.png") && !s.is_done("x"));
}

#[test]
fn load_refuses_damaged_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    let good = String::from_utf8(bytes(&summary_of(0..3))).unwrap();
    for (from, to) in [
        ("\"version\":1", "\"version\":9"),
        ("\"featurescope-classes\"", "\"featurescope-atlas\""),
        ("\"images\":1", "\"images\":2"),
        ("[\"img00.png\",0,0]", "[\"img00.png\",7,0]"),
        ("\"mass\":0.3", "\"mass\":0.0"),
    ] {
        assert!(good.contains(from), "{from}");
        std::fs::write(&path, good.replacen(from, to, 1)).unwrap();
        let err = ClassSummary::load(&path).unwrap_err().to_string();
        assert!(err.contains("s.json"), "{from}: {err}");
    }
    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    assert!(ClassSummary::load(&path).is_err());
}

#[test]
fn nodes_are_the_top_attributed_channels() {
    let s = summary_of(0..9);
    let a = s.classes()[&2].attribution(1).unwrap();
    let top = s.top_attributed(2, 1, 2);
    assert_eq!(top.len(), 2);
    assert!(a[top[0] as usize] >= a[top[1] as usize]);
    let rest = (0..3u32).find(|k| !top.contains(k)).unwrap();
    assert!(a[top[1] as usize] >= a[rest as usize]);
    assert_eq!(s.edge_images(2, 2), vec!["img02.png", "img05.png"]);
}

#[test]
fn shards_round_trip_and_merge_into_no_shard() {
    let part = |i: u32| {
        let mut s = ClassSummary::new("m", 0.3, names(), layers()).unwrap();
        s.set_shard(Some((i, 2))).unwrap();
        for k in (0..6).filter(|k| k % 2 == i) {
            s.add_image(&format!("img{k:02}.png"), filed(k), &observation(k))
                .unwrap();
        }
        s
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.json");
    part(1).save(&path).unwrap();
    assert_eq!(ClassSummary::load(&path).unwrap().shard(), Some((1, 2)));
    let merged = ClassSummary::merge(part(1), part(0)).unwrap();
    assert_eq!(merged.shard(), None);
    assert_eq!(bytes(&merged), bytes(&summary_of(0..6)));
    assert!(ClassSummary::merge(part(0), part(0)).is_err());
    let mut other = ClassSummary::new("m", 0.3, names(), layers()).unwrap();
    other.set_shard(Some((2, 3))).unwrap();
    assert!(ClassSummary::merge(part(0), other).is_err());
    assert!(part(0).set_shard(None).is_err(), "only before any image");
}
