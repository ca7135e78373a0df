//! UI tests of comparing, in the real app rendered through wgpu (lavapipe in CI): a pinned
//! analysis beside the one on screen on one colour scale (the same image twice: identical
//! halves and a zero difference; two images: ranges from the union), sorted by difference,
//! inspected and explained on both sides; a comparison report's CKA strip beside the tree, a
//! layer's most changed channels with their top images, one opened side by side; a report built
//! on the worker. Snapshots in `tests/snapshots/` (`UPDATE_SNAPSHOTS=1` regenerates them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use egui_kittest::kittest::Queryable;
use featurescope_app::action::Action;
use featurescope_app::services::worker::ImageSource;
use featurescope_app::settings::NormMode;
use featurescope_app::state::{Entry, Inspector, Pinned, Thumb, ViewId};
use featurescope_app::{AppState, LayerRef};
use featurescope_maps::compare::{Batch, BatchLayer, Peak, Report, Settings as ReportSettings};
use featurescope_maps::{DiffScore, LayerPair, SortKey};
use featurescope_net::{Catalogue, WeightsSource};

use common::*;

fn pinned_ready(a: &AppState) -> bool {
    matches!(a.pinned, Some(Pinned::Ready(_)))
}

/// The layer's values under the pinned analysis and on screen.
fn both(a: &AppState) -> (Vec<f32>, Vec<f32>) {
    let pair = a.pair.as_ref().unwrap();
    (
        pair.a.maps.data.clone(),
        a.view.as_ref().unwrap().maps.data.clone(),
    )
}

fn min_max(v: &[f32]) -> (f32, f32) {
    v.iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

#[test]
fn a_pinned_analysis_beside_the_next_on_one_scale() {
    let mut h = harness();
    wait_for(&mut h, "the first analysis", idle);
    set_and_run(&mut h, |s| s.norm = NormMode::PerLayer);
    h.get_by_label("File").click();
    h.run();
    h.get_by_label("Pin analysis as A").click();
    wait_for(&mut h, "pinning", |a| pinned_ready(a) && a.pair.is_some());

    // The same image twice: identical halves, a zero difference.
    let a = app(&h);
    let (pair, view) = (a.pair.as_ref().unwrap(), a.view.as_ref().unwrap());
    assert!(pair.diff.maps.data.iter().all(|&d| d == 0.0));
    for c in 0..view.maps.channels {
        assert_eq!(pair.a.range(c), view.range(c), "channel {c}");
        assert_eq!(pair.a.rgba(c), view.rgba(c), "channel {c}");
    }
    h.snapshot("pinned_same_image");

    // Another image as B: every colour range now spans both.
    act(
        &mut h,
        Action::Analyse(ImageSource::File(sample("coffee_299.png"))),
    );
    wait_for(&mut h, "the second image", |a| {
        idle(a)
            && a.pair.is_some()
            && a.analysis.as_ref().unwrap().source.name() == "coffee_299.png"
    });
    let (va, vb) = both(app(&h));
    let ((alo, ahi), (blo, bhi)) = (min_max(&va), min_max(&vb));
    let range = app(&h).view.as_ref().unwrap().range(0);
    assert_eq!((range.lo, range.hi), (alo.min(blo), ahi.max(bhi)));
    assert!(ahi != bhi, "the two images differ at this layer");
    assert_eq!(app(&h).pair.as_ref().unwrap().a.range(7), range);
    set_and_run(&mut h, |s| s.norm = NormMode::PerTile);
    let a = app(&h);
    let (view, pair) = (a.view.as_ref().unwrap(), a.pair.as_ref().unwrap());
    let c = 5;
    let ((alo, ahi), (blo, bhi)) = (
        min_max(pair.a.maps.channel(c)),
        min_max(view.maps.channel(c)),
    );
    assert_eq!(
        (view.range(c).lo, view.range(c).hi),
        (alo.min(blo), ahi.max(bhi))
    );
    assert_eq!(pair.a.range(c), view.range(c));

    // Sorted by how much each filter differs.
    set_and_run(&mut h, |s| s.sort = SortKey::DiffL2);
    let a = app(&h);
    let (view, pair) = (a.view.as_ref().unwrap(), a.pair.as_ref().unwrap());
    let scores = LayerPair::new(pair.a.maps.clone(), view.maps.clone())
        .unwrap()
        .scores(DiffScore::L2);
    let first = view.order[0];
    assert!(scores.iter().all(|&s| s <= scores[first]));
    h.snapshot("pinned_pair");

    // The inspector shows A, B and the difference of the clicked filter.
    h.get_by_label(&format!("filter {first}")).click();
    h.run();
    assert_eq!(
        app(&h).inspector,
        Some(Inspector {
            channel: first,
            view: ViewId::PAIR
        })
    );
    h.snapshot("pinned_inspector");

    // Attributions for both: saliency of that filter on A (pinned) and on B.
    use featurescope_net::attribution::Method;
    let saliency = Inspector {
        channel: first,
        view: ViewId::explain(Method::Saliency),
    };
    act(&mut h, Action::Inspect(saliency));
    wait_for(&mut h, "saliency of both", |a| {
        let ready: std::collections::HashSet<u64> = a
            .explain
            .cache
            .iter()
            .filter(|(k, e)| k.method == Method::Saliency && matches!(e, Entry::Ready(..)))
            .map(|(k, _)| k.generation)
            .collect();
        ready.len() == 2
    });
    act(&mut h, Action::Unpin);
    h.run();
    assert!(app(&h).pair.is_none() && app(&h).pinned.is_none());
}

/// A report over four copies of the sample photos, made with the data model (no network):
/// CKA falls with depth because model B's features drift from A's more and more.
fn synthetic_report(dir: &Path) -> PathBuf {
    let root = dir.join("photos");
    std::fs::create_dir_all(&root).unwrap();
    let images = ["a_cat.png", "b_cup.png", "c_cat.png", "d_cup.png"];
    for (i, name) in images.iter().enumerate() {
        let src = if i % 2 == 0 {
            "chelsea_299.png"
        } else {
            "coffee_299.png"
        };
        std::fs::copy(sample(src), root.join(name)).unwrap();
    }
    let cat = Catalogue::inception_v3();
    let layers: Vec<(String, [usize; 3])> =
        cat.layers.iter().map(|l| (l.id.clone(), l.shape)).collect();
    let settings = ReportSettings {
        model_a: "bundled inception_v3_nsfwjs".into(),
        model_b: "retrained.pb (1 bytes)".into(),
        batch: 4,
        top: 3,
        files: 4,
        digest: "test".into(),
    };
    let mut report = Report::new(settings, &layers).unwrap();
    report.set_root(Some(root.to_string_lossy().into_owned()));
    report.set_sources(Some(["bundled".into(), "bundled".into()]));
    let gram = |x: &[[f64; 3]; 4]| {
        let mut g = vec![0.0; 16];
        for i in 0..4 {
            for j in 0..4 {
                g[i * 4 + j] = (0..3).map(|d| x[i][d] * x[j][d]).sum();
            }
        }
        g
    };
    let a = [
        [1.0, 0.2, 0.0],
        [0.1, 1.5, 0.3],
        [0.9, 0.1, 0.2],
        [0.0, 1.2, 0.8],
    ];
    let batch_layers = layers
        .iter()
        .enumerate()
        .map(|(k, (_, shape))| {
            let drift = (k as f64 / 123.0).powi(3);
            let mut b = a;
            b.iter_mut()
                .enumerate()
                .for_each(|(i, r)| r[(i + 1) % 3] += drift * 2.0);
            let peaks = |side: f32| {
                (0..4 * shape[0])
                    .map(|i| {
                        let (img, c) = (i / shape[0], i % shape[0]);
                        let v = ((img * 7 + c * 3) % 5) as f32 + side * ((c + img) % 3) as f32;
                        Some(Peak {
                            value: v,
                            y: 0,
                            x: 0,
                        })
                    })
                    .collect()
            };
            BatchLayer {
                gram: [gram(&a), gram(&b)],
                peaks: [peaks(0.0), peaks(drift as f32 * 4.0)],
            }
        })
        .collect();
    report
        .add_batch(Batch {
            index: 0,
            images: images.iter().map(|s| s.to_string()).collect(),
            skipped: Vec::new(),
            layers: batch_layers,
        })
        .unwrap();
    let path = dir.join("report.json");
    report
        .save(&path, featurescope_maps::Overwrite::Refuse)
        .unwrap();
    path
}

#[test]
fn the_cka_strip_lists_what_changed_and_opens_it_side_by_side() {
    let mut h = harness();
    wait_for(&mut h, "the first analysis", idle);
    let dir = tempfile::tempdir().unwrap();
    let path = synthetic_report(dir.path());
    act(&mut h, Action::OpenReport(path));
    wait_for(&mut h, "the report", |a| a.report.is_some());
    h.get_by_label("CKA Mixed_7c");
    h.snapshot("cka_strip");

    // A click on a layer: it is shown, and its most changed channels listed with their top
    // images under both models. (Picked in the tree first, the strip scrolls to it.)
    act(&mut h, Action::Select(LayerRef::named("Mixed_6e")));
    h.run();
    h.get_by_label("CKA Mixed_6e").click();
    // The thumbnails' spinners keep repainting until they arrive: step, not run.
    h.run_steps(3);
    assert_eq!(app(&h).selected, LayerRef::named("Mixed_6e"));
    wait_for(&mut h, "the thumbnails", |a| {
        let r = a.report.as_ref().unwrap();
        !r.thumbs.is_empty() && r.thumbs.values().all(|t| matches!(t, Thumb::Ready(_)))
    });
    h.snapshot("cka_channels");

    // A click on an image: it opens under model A (pinned) and model B, on that channel.
    let changes = app(&h)
        .report
        .as_ref()
        .unwrap()
        .report
        .layer("Mixed_6e")
        .unwrap()
        .channel_changes();
    let channel = changes[0].channel;
    // The first of the most changed filter's top images under A.
    h.get_all_by_label_contains("A top image ")
        .next()
        .unwrap()
        .click();
    wait_for(&mut h, "the side-by-side pair", |a| {
        a.pair.is_some() && a.inspector.is_some_and(|i| i.view == ViewId::PAIR)
    });
    let a = app(&h);
    assert_eq!(a.inspector.map(|i| i.channel), Some(channel));
    assert_eq!(a.selected, LayerRef::named("Mixed_6e"));
}

#[test]
fn a_report_is_built_on_the_worker_and_opened() {
    let mut h = harness();
    wait_for(&mut h, "the first analysis", idle);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("photos");
    std::fs::create_dir_all(&root).unwrap();
    for (i, src) in [
        "chelsea_299.png",
        "coffee_299.png",
        "chelsea_299.png",
        "coffee_299.png",
    ]
    .iter()
    .enumerate()
    {
        let img = image::open(sample(src)).unwrap();
        let img = if i < 2 { img } else { img.fliph() };
        img.save(root.join(format!("{i}.png"))).unwrap();
    }
    let out = dir.path().join("same.json");
    act(
        &mut h,
        Action::BuildReport {
            root,
            weights_b: WeightsSource::Bundled,
            out: Some(out.clone()),
        },
    );
    assert!(app(&h).report_build.is_some());
    wait_for(&mut h, "the report", |a| a.report.is_some());
    let a = app(&h);
    assert!(a.report_build.is_none() && out.is_file());
    let r = &a.report.as_ref().unwrap().report;
    assert_eq!(r.images().len(), 4);
    assert!(
        r.layers()
            .iter()
            .all(|l| (l.cka().unwrap() - 1.0).abs() < 1e-6)
    );
}
