//! UI tests of class summaries, in the real app rendered through wgpu (lavapipe in CI) at
//! 1400x900: a summary built on the worker from a small folder of class folders (two classes of
//! two photos), opened in the Classes window with the first class's graph; a click on a node
//! shows its layer in the tiles and inspects its channel; the tiles sorted by the class's
//! attribution and count; two classes compared. Snapshots in `tests/snapshots/`
//! (`UPDATE_SNAPSHOTS=1` regenerates them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use egui_kittest::kittest::Queryable;
use featurescope_app::LayerRef;
use featurescope_app::action::Action;
use featurescope_app::state::ViewId;
use featurescope_maps::SortKey;

use common::*;

/// Larger than the other UI tests' window: the Classes window beside the tiles.
const WINDOW: [f32; 2] = [1400.0, 900.0];

/// Two class folders of the bundled model (0 `drawing`, 2 `neutral`), two photos each.
fn folder(root: &Path) {
    for (class, photo) in [
        ("drawing", "chelsea_299.png"),
        ("neutral", "coffee_299.png"),
    ] {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        let img = image::open(sample(photo)).unwrap();
        img.save(dir.join("a.png")).unwrap();
        img.fliph().save(dir.join("b.png")).unwrap();
    }
}

/// Channels of `layer` by the class's score, descending (ties: lower index first).
fn by_score(scores: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order
}

#[test]
fn a_class_summary_is_built_its_graph_drawn_and_a_node_inspected() {
    let mut h = harness_sized(WINDOW);
    wait_for(&mut h, "the first analysis", idle);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("photos");
    folder(&root);
    let out = dir.path().join("photos.classes.json");
    act(
        &mut h,
        Action::BuildClasses {
            root,
            out: Some(out.clone()),
            nodes: 3,
            edge_images: 2,
        },
    );
    assert!(app(&h).class_build.is_some());
    wait_for(&mut h, "the summary", |a| a.classes.is_some());
    let a = app(&h);
    assert!(a.class_build.is_none() && out.is_file());
    let c = a.classes.as_ref().unwrap();
    assert_eq!(
        c.summary.classes().keys().copied().collect::<Vec<_>>(),
        [0, 2]
    );
    assert!(c.summary.has_graphs());
    assert_eq!(c.class, Some(0), "the first class is picked");
    let graph = c.stats().unwrap().graph().unwrap();
    assert_eq!(graph.nodes.len(), 12);
    let (layer, nodes) = graph
        .nodes
        .iter()
        .find(|(l, _)| l == "Mixed_6e")
        .cloned()
        .unwrap();
    h.get_by_label("images 2 · accuracy 0 %");
    h.snapshot("classes_graph");

    // A click on a node: its layer in the tiles, its channel in the inspector.
    let channel = nodes[0];
    h.get_by_label(&format!("class node {layer} {channel}"))
        .click();
    h.run();
    let a = app(&h);
    assert_eq!(a.selected, LayerRef::named("Mixed_6e"));
    let inspector = a.inspector.unwrap();
    assert_eq!(
        (inspector.channel, inspector.view),
        (channel as usize, ViewId::MAP)
    );
    wait_for(&mut h, "the layer", idle);
    h.snapshot("classes_node_inspected");

    // The tiles sorted by the class's attribution, then by its count.
    for key in [SortKey::ClassAttribution, SortKey::ClassCount] {
        set_and_run(&mut h, |s| s.sort = key);
        let a = app(&h);
        let scores = a.classes.as_ref().unwrap().scores(&layer, key).unwrap();
        let view = a.view.as_ref().unwrap();
        let hide = a.settings.hide_dead;
        let expected: Vec<usize> = by_score(&scores)
            .into_iter()
            .filter(|&c| !(hide && view.stats[c].dead))
            .collect();
        assert_eq!(view.order, expected, "{key}");
    }
    let top = by_score(
        &app(&h)
            .classes
            .as_ref()
            .unwrap()
            .scores(&layer, SortKey::ClassAttribution)
            .unwrap(),
    );
    assert_eq!(top[0], channel as usize, "the graph's first node leads");
    set_and_run(&mut h, |s| s.sort = SortKey::Index);

    // Two classes compared: each block's channels by the difference of their attributions.
    act(&mut h, Action::CloseInspector);
    act(&mut h, Action::CompareClass(Some(2)));
    // The window grows to the comparison over a few frames.
    h.run_steps(4);
    h.get_by_label("Neutral uses more");
    h.snapshot("classes_compared");
}

/// Stopped at once, a build keeps what it did (nothing, or the images before the stop, opened
/// either way without a panic); built again, the same file is continued to the whole folder.
#[test]
fn a_stopped_class_build_is_continued() {
    let mut h = harness_sized(WINDOW);
    wait_for(&mut h, "the first analysis", idle);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("photos");
    folder(&root);
    let out = dir.path().join("photos.classes.json");
    let build = |root: &Path| Action::BuildClasses {
        root: root.to_path_buf(),
        out: Some(out.clone()),
        nodes: 2,
        edge_images: 1,
    };
    act(&mut h, build(&root));
    act(&mut h, Action::StopClassBuild);
    wait_for(&mut h, "the stop", |a| a.class_build.is_none());
    let a = app(&h);
    match &a.classes {
        Some(c) => assert!(c.summary.images().len() < 4 || !c.summary.has_graphs()),
        None => assert!(a.notices.iter().any(|n| n.text.contains("class summary"))),
    }
    act(&mut h, build(&root));
    wait_for(&mut h, "the whole summary", |a| {
        a.class_build.is_none()
            && a.classes
                .as_ref()
                .is_some_and(|c| c.summary.images().len() == 4 && c.summary.has_graphs())
    });
}

/// A summary of two layers (no graph: not every block), written here.
fn ungraphed_summary(path: &Path) {
    use featurescope_maps::classes::{ClassSummary, Filed, LayerObservation};
    let names: Vec<String> = ["Drawing", "Hentai", "Neutral", "Porn", "Sexy"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let layers = vec![
        ("Mixed_6e".to_string(), 768),
        ("Mixed_7c".to_string(), 2048),
    ];
    let mut s = ClassSummary::new("test", 0.03, names, layers.clone()).unwrap();
    for (i, class) in [(0u32, 1u32), (1, 1), (2, 3)] {
        let obs: Vec<LayerObservation> = layers
            .iter()
            .map(|(_, c)| LayerObservation {
                maxima: (0..*c)
                    .map(|k| ((k * 7 + i as usize) % 13) as f32)
                    .collect(),
                attribution: (0..*c)
                    .map(|k| ((k * 31 + class as usize * 5) % 101) as f32 / 100.0)
                    .collect(),
            })
            .collect();
        let filed = Filed {
            class,
            predicted: class,
        };
        s.add_image(&format!("{i}.png"), filed, &obs).unwrap();
    }
    s.save(path).unwrap();
}

/// Opened from a file: a summary without a graph shows each block's most attributed channels;
/// a file that is no summary is an error and the open one stays.
#[test]
fn a_summary_without_graph_is_opened_and_a_bad_file_keeps_it() {
    let mut h = harness_sized(WINDOW);
    wait_for(&mut h, "the first analysis", idle);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two_layers.classes.json");
    ungraphed_summary(&path);
    act(&mut h, Action::OpenClasses(path.clone()));
    wait_for(&mut h, "the summary", |a| a.classes.is_some());
    let c = app(&h).classes.as_ref().unwrap();
    assert_eq!(c.class, Some(1), "the first class with images");
    let top = c.summary.top_attributed(1, 1, 1)[0];
    h.get_by_label("images 2 · accuracy 100 %");
    h.get_by_label_contains("this summary has no graph");
    h.get_by_label(&format!("class node Mixed_7c {top}"));

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"not\": \"a summary\"}").unwrap();
    act(&mut h, Action::OpenClasses(bad));
    wait_for(&mut h, "the error", |a| {
        a.notices
            .iter()
            .any(|n| n.is_error() && n.text.contains("class summary"))
    });
    assert_eq!(app(&h).classes.as_ref().unwrap().path, path);
}
