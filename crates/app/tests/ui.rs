//! UI tests: the real app, rendered through wgpu (lavapipe in CI), driven like a person would —
//! first run, a deep layer picked from the tree, a tile clicked into the inspector, sorting, a
//! dropped file, a corrupt file. Image snapshots live in `tests/snapshots/`
//! (`UPDATE_SNAPSHOTS=1` regenerates them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use featurescope_app::action::{Action, Choose, Export};
use featurescope_app::services::dialogs::DialogChoice;
use featurescope_app::state::{Entry, Inspector};
use featurescope_app::{AppState, FeaturescopeApp, Launch, LayerRef};
use featurescope_net::{Backend, BackendChoice};

use common::*;

#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

/// `accessibility_check`: off only where a third-party widget (egui_file's path and file-name
/// fields) has no accessible name, which the check would report as ours.
fn harness_with<'a>(accessibility_check: bool) -> Harness<'a, State> {
    harness_on(SIZE, accessibility_check, BackendChoice::Cpu)
}

/// Step until the worker has delivered and nothing is running (the network runs for real).
fn settle(h: &mut Harness<'_, State>) {
    wait_for_with(h, "the analysis", Duration::from_secs(180), idle, |a| {
        format!("notices: {:?}", a.notices)
    });
}

fn drop_file(h: &mut Harness<'_, State>, path: PathBuf) {
    h.input_mut().dropped_files.push(Arc::new(Dropped(path)));
    h.step();
}

#[test]
fn first_run_deep_layer_and_inspector() {
    let mut h = harness();
    settle(&mut h);
    let a = app(&h);
    assert_eq!(a.selected.id(), "Conv2d_2b_3x3");
    assert_eq!(a.view.as_ref().unwrap().order.len(), 64);
    assert!(a.weights.is_some());
    h.get_by_label_contains("Neutral");
    h.snapshot("first_run");

    // Pick a deep layer from the tree: Mixed_7c's concat, 2048 filters.
    h.get_by_label_contains("Mixed_7c  InceptionE").click();
    h.run();
    let a = app(&h);
    assert_eq!(a.selected.id(), "Mixed_7c");
    let view = a.view.as_ref().unwrap();
    assert_eq!(view.maps.channels, 2048);
    assert_eq!((view.maps.height, view.maps.width), (8, 8));
    h.snapshot("deep_layer");

    // Click a tile: the inspector opens on that filter.
    h.get_by_label("filter 0").click();
    h.run();
    assert_eq!(app(&h).inspector.as_ref().map(|i| i.channel), Some(0));
    h.get_by_label_contains("Mixed_7c · filter 0");
    h.snapshot("inspector");
}

#[test]
fn selecting_sorting_dropping_and_a_corrupt_file() {
    let mut h = harness();
    settle(&mut h);

    // The filter box finds a layer by Keras alias; clicking the row selects it.
    h.get_by_label("Find").focus();
    h.get_by_label("Find").type_text("mixed0");
    h.run();
    h.get_by_label_contains("Mixed_5b  ").click();
    h.run();
    assert_eq!(app(&h).selected.id(), "Mixed_5b");
    let by_index = app(&h).view.as_ref().unwrap().order.clone();
    assert_eq!(by_index, (0..256).collect::<Vec<_>>());

    // Sorting by max reorders the tiles, largest first.
    h.get_by_label("sort by").click();
    h.run();
    h.get_by_label("max").click();
    h.run();
    let view = app(&h).view.as_ref().unwrap();
    assert_ne!(view.order, by_index);
    let maxes: Vec<f32> = view.order.iter().map(|&c| view.stats[c].max).collect();
    assert!(maxes.windows(2).all(|w| w[0] >= w[1]), "sorted by max");

    // Arrow keys step through the layers (once no text field has the keyboard).
    h.key_press(egui::Key::Escape);
    h.run();
    h.key_press(egui::Key::ArrowDown);
    h.run();
    assert_eq!(app(&h).selected.id(), "Mixed_5c.branch1x1");
    h.key_press(egui::Key::ArrowUp);
    h.run();
    assert_eq!(app(&h).selected.id(), "Mixed_5b");

    // A dropped file is analysed and its tiles shown.
    drop_file(&mut h, sample("coffee.png"));
    settle(&mut h);
    assert_eq!(
        app(&h).analysis.as_ref().unwrap().source.name(),
        "coffee.png"
    );

    // A corrupt file: an error naming it, and the previous image stays.
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("broken.png");
    let bytes = std::fs::read(sample("coffee_299.png")).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    drop_file(&mut h, cut);
    let start = Instant::now();
    while !app(&h).notices.iter().any(|n| n.is_error()) {
        assert!(start.elapsed() < Duration::from_secs(60));
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    h.run();
    let a = app(&h);
    assert!(
        a.notices
            .iter()
            .any(|n| n.is_error() && n.text.contains("broken.png"))
    );
    assert_eq!(a.analysis.as_ref().unwrap().source.name(), "coffee.png");
    assert!(a.view.is_some(), "tiles still on screen");
    // The message holds a temporary path: mask its text, keep the banner in the picture.
    let text = h.get_by_label_contains("broken.png").rect();
    let dismiss = h.get_by_label("Dismiss").rect();
    h.mask(egui::Rect::from_min_max(
        text.min,
        egui::pos2(dismiss.min.x, text.max.y),
    ));
    h.snapshot("corrupt_file_error");
}

#[test]
fn built_in_file_browser_opens_an_image() {
    let mut h = harness_with(false);
    settle(&mut h);
    // A folder with a photo, a file that is not an image, and a subfolder.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(sample("coffee.png"), dir.path().join("espresso.png")).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not an image").unwrap();
    std::fs::create_dir(dir.path().join("more photos")).unwrap();
    set(&mut h, |s| {
        // As on a desktop without a portal, or as the person chose in the File menu.
        s.file_dialog = DialogChoice::BuiltIn;
        // The browser starts in the folder of the most recent file.
        s.recent = vec![dir.path().join("espresso.png")];
    });
    h.get_by_label("File").click();
    h.run();
    h.get_by_label("Open image…  (Ctrl+O)").click();
    h.run();
    assert!(
        app(&h).files.browser.is_some(),
        "the in-app browser is open"
    );
    h.get_by_label_contains("Open image (featurescope file browser)");
    h.get_by_label_contains("more photos");
    assert!(
        h.query_by_label_contains("notes.txt").is_none(),
        "only images are listed"
    );
    h.get_by_label_contains("espresso.png").click();
    h.run();
    // The folder's path is a temporary one: mask it.
    let path = dir.path().to_string_lossy().into_owned();
    let fields: Vec<egui::Rect> = h.get_all_by_value(&path).map(|n| n.rect()).collect();
    assert!(!fields.is_empty());
    for r in fields {
        h.mask(r);
    }
    h.snapshot("file_browser");

    h.get_by_label("Open").click();
    // The analysis starts (a spinner keeps repainting): step, don't wait to settle.
    h.step();
    h.step();
    assert!(app(&h).files.browser.is_none(), "the browser closed");
    settle(&mut h);
    assert_eq!(
        app(&h).analysis.as_ref().unwrap().source.name(),
        "espresso.png"
    );

    // Cancelling leaves everything as it was.
    h.key_press(egui::Key::Escape);
    h.run();
    h.get_by_label("File").click();
    h.run();
    h.get_by_label("Open weights…").click();
    h.run();
    h.get_by_label_contains("Open weights (featurescope file browser)");
    h.get_by_label("Cancel").click();
    h.run();
    assert!(app(&h).files.browser.is_none());
    assert!(app(&h).notices.iter().all(|n| !n.is_error()));
}

#[test]
fn atlas_built_from_a_folder_beside_the_tiles() {
    let mut h = harness();
    settle(&mut h);
    // A small collection: two photos and two variants, and a file that is not an image.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("photos");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::copy(sample("chelsea_299.png"), root.join("cat.png")).unwrap();
    std::fs::copy(sample("coffee_299.png"), root.join("espresso.png")).unwrap();
    let coffee = image::open(sample("coffee_299.png")).unwrap();
    coffee
        .fliph()
        .save(root.join("espresso-flipped.png"))
        .unwrap();
    let cat = image::open(sample("chelsea_299.png")).unwrap();
    cat.grayscale().save(root.join("cat-gray.png")).unwrap();
    std::fs::write(root.join("readme.txt"), "not an image").unwrap();
    let out = dir.path().join("atlas");
    act(
        &mut h,
        Action::BuildAtlas {
            root: root.clone(),
            out: Some(out.clone()),
        },
    );
    let start = Instant::now();
    while app(&h).atlas.is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "the atlas was not built; notices: {:?}",
            app(&h).notices
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    let a = app(&h);
    assert!(a.atlas_build.is_none());
    let atlas = a.atlas.as_ref().unwrap().loaded.atlas.clone();
    assert_eq!(atlas.images().len(), 4);
    assert_eq!(atlas.skipped().len(), 1);
    assert!(out.join("atlas.json").is_file());

    // Click a tile: its top images appear beside the tiles, as receptive-field crops.
    h.get_by_label("filter 0").click();
    let start = Instant::now();
    while h.query_by_label_contains("atlas image 1: ").is_none() {
        assert!(start.elapsed() < Duration::from_secs(240), "no crops");
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    h.run();
    let top = atlas
        .top("Conv2d_2b_3x3", 0, featurescope_maps::atlas::Rank::Max)
        .unwrap();
    h.get_by_label(&format!("atlas image 1: {}", top[0].image));
    h.get_by_label(&format!("atlas image 4: {}", top[3].image));
    h.snapshot("atlas_beside_tiles");

    // Tiles sorted by selectivity across the atlas.
    h.get_by_label("sort by").click();
    h.run();
    h.get_by_label("selectivity").click();
    h.run();
    let sel = atlas.selectivity("Conv2d_2b_3x3").unwrap();
    let view = app(&h).view.as_ref().unwrap();
    let ordered: Vec<f32> = view.order.iter().map(|&c| sel[c]).collect();
    assert!(ordered.windows(2).all(|w| w[0] >= w[1]), "by selectivity");

    // A click on a crop analyses that image.
    let second = top[1].image.clone();
    h.get_by_label(&format!("atlas image 2: {second}")).click();
    h.step();
    settle(&mut h);
    assert_eq!(app(&h).analysis.as_ref().unwrap().source.name(), second);
}

/// [`wait_for`], naming the explanations too on failure.
fn wait_explained(h: &mut Harness<'_, State>, what: &str, done: impl Fn(&AppState) -> bool) {
    wait_for_with(h, what, Duration::from_secs(240), done, |a| {
        format!(
            "notices: {:?}; explanations: {:?}",
            a.notices,
            a.explain
                .cache
                .iter()
                .map(|(k, e)| format!("{:?} {:?}: {}", k.method, k.sanity, entry_state(e)))
                .collect::<Vec<_>>()
        )
    });
}

fn entry_state<T>(e: &Entry<T>) -> String {
    match e {
        Entry::Pending { done, total, .. } => format!("pending {done}/{total}"),
        Entry::Ready(..) => "ready".into(),
        Entry::Failed(m) => format!("failed: {m}"),
    }
}

fn explained(a: &AppState, method: featurescope_net::attribution::Method) -> bool {
    a.explain
        .cache
        .iter()
        .any(|(k, e)| k.method == method && matches!(e, Entry::Ready(..)))
}

/// The inspector's explanation views: a concat's channel names its branch; guided backprop
/// computed on the worker and shown alone and over the photo; SmoothGrad cancelled midway;
/// a feature visualisation run from its tab.
#[test]
fn inspector_explains_a_filter() {
    use featurescope_net::attribution::Method;
    let mut h = harness();
    settle(&mut h);
    act(&mut h, Action::Select(LayerRef::named("Mixed_5b")));
    h.run();
    h.get_by_label("filter 10").click();
    h.run();
    h.get_by_label_contains("is Mixed_5b.branch1x1 channel 10");
    h.get_by_label("Guided backprop").click();
    wait_explained(&mut h, "guided backprop", |a| explained(a, Method::Guided));
    h.get_by_label_contains("Mixed_5b channel 10 at (");
    h.snapshot("explain_guided");

    // The sanity check: the re-initialised network's map under the trained one's, with the
    // rank correlation.
    h.get_by_label("Sanity check: randomise from here up")
        .click();
    wait_explained(&mut h, "the sanity check", |a| {
        a.explain
            .cache
            .iter()
            .any(|(k, e)| k.sanity.is_some() && matches!(e, Entry::Ready(..)))
    });
    h.get_by_label_contains("rank correlation with the trained network's map");
    {
        let cache = &app(&h).explain.cache;
        let ready = |sanity: bool| {
            cache.iter().find_map(|(k, e)| match e {
                Entry::Ready(done) if k.sanity.is_some() == sanity => Some(done),
                _ => None,
            })
        };
        let (plain, checked) = (ready(false).unwrap(), ready(true).unwrap());
        assert!(
            checked.alone.as_raw() != plain.alone.as_raw(),
            "re-initialising the block left the map unchanged"
        );
        let rho = checked.rank_correlation.unwrap();
        assert!((-1.0..=1.0).contains(&rho), "{rho}");
    }
    h.snapshot("explain_sanity");

    // SmoothGrad: cancel while it runs; the view says so and offers a retry.
    let options = featurescope_net::attribution::Options {
        samples: 64,
        ..app(&h).explain.options.clone()
    };
    act(&mut h, Action::ExplainOptions(Box::new(options)));
    h.get_by_label("SmoothGrad").click();
    h.run();
    h.get_by_label("Cancel").click();
    wait_explained(&mut h, "cancelling SmoothGrad", |a| {
        a.explain.cache.iter().any(|(k, e)| {
            k.method == Method::SmoothGrad && matches!(e, Entry::Failed(m) if m == "cancelled")
        })
    });
    h.get_by_label("Retry");

    // Feature visualisation, short.
    act(&mut h, Action::VisualizeSettings { steps: 16, seed: 0 });
    h.get_by_label("Feature visualization").click();
    h.run();
    h.get_by_label("Visualize").click();
    wait_explained(&mut h, "feature visualisation", |a| {
        a.visual
            .cache
            .values()
            .any(|e| matches!(e, Entry::Ready(..)))
    });
    h.get_by_label_contains("16 steps, seed 0");
}

/// Wait for a notice whose text contains `text`.
fn wait_notice(h: &mut Harness<'_, State>, text: &str) {
    let start = Instant::now();
    while !app(h).notices.iter().any(|n| n.text.contains(text)) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no notice with {text:?}: {:?}",
            app(h).notices
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[path = "../../net/tests/hostile/cases.rs"]
mod cases;

#[test]
fn hostile_files_dropped_on_the_window_keep_the_last_image_and_model() {
    let mut h = harness();
    settle(&mut h);
    let before = app(&h).analysis.as_ref().unwrap().source.name();
    let weights_before = app(&h).weights.clone();
    let dir = tempfile::tempdir().unwrap();
    for case in cases::image_cases(dir.path()) {
        if !case.refused() {
            continue;
        }
        let name = case.file_name();
        drop_file(&mut h, case.path.clone());
        wait_notice(&mut h, &name);
        let a = app(&h);
        assert_eq!(
            a.analysis.as_ref().unwrap().source.name(),
            before,
            "{}",
            case.name
        );
        assert!(a.view.is_some(), "{}: tiles still on screen", case.name);
    }
    for case in cases::weight_cases(dir.path()) {
        if !case.refused() || !case.name.starts_with("safetensors") {
            continue;
        }
        let name = case.file_name();
        act(
            &mut h,
            Action::LoadWeights(featurescope_net::WeightsSource::File(case.path.clone())),
        );
        wait_notice(&mut h, &name);
        assert!(
            app(&h)
                .notices
                .iter()
                .any(|n| n.is_error() && n.text.contains("previous weights stay"))
        );
        assert_eq!(app(&h).weights, weights_before, "{}", case.name);
    }
}

#[test]
fn on_the_cpu_every_layer_comes_with_the_analysis() {
    let mut h = harness();
    settle(&mut h);
    assert!(!app(&h).analysis.as_ref().unwrap().resident);
    assert_eq!(
        app(&h).analysis.as_ref().unwrap().activations.layers.len(),
        123
    );
    for id in ["Mixed_6e", "head", "avgpool"] {
        act(&mut h, Action::Select(LayerRef::named(id)));
        h.run();
        assert!(
            app(&h).pending.reading.is_empty(),
            "{id}: nothing to ask the worker for"
        );
        assert_eq!(app(&h).view.is_some(), id != "head", "{id}: shown at once");
    }
    assert!(
        !app(&h).notices.iter().any(|n| n.is_error()),
        "{:?}",
        app(&h).notices
    );
}

#[test]
fn a_lost_gpu_falls_back_to_the_cpu_keeping_settings() {
    let has_adapter = !featurescope_net::device::adapters().is_empty();
    if !has_adapter {
        assert!(
            std::env::var_os("FEATURESCOPE_REQUIRE_WGPU").is_none(),
            "no wgpu adapter, and FEATURESCOPE_REQUIRE_WGPU is set"
        );
        eprintln!("SKIPPED: no wgpu adapter");
        return;
    }
    let mut h = harness_on(SIZE, true, BackendChoice::Wgpu);
    settle(&mut h);
    assert_eq!(
        app(&h).weights.as_ref().unwrap().device.backend,
        Backend::Wgpu
    );
    set(&mut h, |s| s.tile_px = 48.0);
    act(&mut h, Action::SimulateDeviceLoss);
    drop_file(&mut h, sample("coffee.png"));
    wait_notice(&mut h, "GPU stopped working");
    assert!(
        app(&h)
            .notices
            .iter()
            .any(|n| n.level == featurescope_app::NoticeLevel::Warning
                && n.text.contains("GPU stopped working")),
        "a banner, not a status-bar line the next message replaces"
    );
    let start = Instant::now();
    loop {
        h.step();
        let a = app(&h);
        let done = a.is_idle()
            && a.analysis
                .as_ref()
                .is_some_and(|x| x.source.name() == "coffee.png")
            && a.weights
                .as_ref()
                .is_some_and(|w| w.device.backend == Backend::Cpu);
        if done {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "{:?}",
            a.notices
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(app(&h).settings.tile_px, 48.0, "settings kept");
    assert!(app(&h).view.is_some());
}

#[test]
fn export_over_an_existing_file_asks_first() {
    let mut h = harness_with(false);
    settle(&mut h);
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("Conv2d_2b_3x3.png");
    std::fs::write(&target, b"an older export").unwrap();
    set(&mut h, |s| {
        s.file_dialog = DialogChoice::BuiltIn;
        s.recent = vec![dir.path().join("photo.png")];
    });
    let export = |h: &mut Harness<'_, State>| {
        h.get_by_label("File").click();
        h.run();
        h.get_by_label("Export grid as PNG…").click();
        h.run();
        h.get_by_label("Save").click();
        h.run();
    };
    export(&mut h);
    assert!(app(&h).files.replace.is_some(), "asked before replacing");
    h.get_by_label_contains("already exists. Replace it");
    h.snapshot("replace_question");
    h.get_by_label("Cancel").click();
    h.run();
    assert!(app(&h).files.replace.is_none());
    wait_notice(&mut h, "not saved");
    assert_eq!(std::fs::read(&target).unwrap(), b"an older export");

    export(&mut h);
    h.get_by_label("Replace").click();
    h.run();
    wait_notice(&mut h, "saved ");
    assert!(image::open(&target).is_ok(), "replaced by the grid");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temporary left: {names:?}");
}

#[path = "../../net/tests/imports/fixtures.rs"]
mod fixtures;

fn poets_graph() -> Option<PathBuf> {
    fixtures::fixture("poets/retrained_graph.pb")
}

/// Wait until the weights loaded come from `path`.
fn wait_weights(h: &mut Harness<'_, State>, path: &Path) {
    let start = Instant::now();
    while !app(h)
        .weights
        .as_ref()
        .is_some_and(|w| w.info.source == featurescope_net::WeightsSource::File(path.to_path_buf()))
    {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "weights not loaded: {:?}",
            app(h).notices
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_retrained_model_dropped_on_the_window_shows_its_own_class_names() {
    let Some(graph) = poets_graph() else { return };
    let mut h = harness();
    settle(&mut h);
    // The retrained graph, dropped: its labels file beside it names the classes.
    drop_file(&mut h, graph.clone());
    wait_weights(&mut h, &graph);
    drop_file(&mut h, sample("chelsea_299.png"));
    settle(&mut h);
    let head = app(&h).analysis.as_ref().unwrap().activations.head.clone();
    let labels = head.map(|h| h.labels).unwrap_or_default();
    assert_eq!(labels, ["daisy", "roses", "tulips"]);
    h.get_by_label_contains("roses");
    // The tree says the last block's pool branch is a max pool in this graph.
    h.get_by_label_contains("Mixed_7c  InceptionE").click();
    h.run();
    h.get_by_label_contains("branch_pool.MAX_pool");

    // Class names chosen by hand: a file naming 3 classes replaces them, one naming 2 does not.
    let dir = tempfile::tempdir().unwrap();
    let names = dir.path().join("class_names.json");
    std::fs::write(&names, r#"["sunflower", "tulip", "rose"]"#).unwrap();
    drop_file(&mut h, names.clone());
    wait_notice(&mut h, "class names from");
    h.run();
    h.get_by_label_contains("tulip");
    let wrong = dir.path().join("two.labels.txt");
    std::fs::write(&wrong, "a\nb\n").unwrap();
    drop_file(&mut h, wrong);
    wait_notice(&mut h, "names 2 classes; the model has 3");
    let head = app(&h).analysis.as_ref().unwrap().activations.head.clone();
    assert_eq!(head.unwrap().labels, ["sunflower", "tulip", "rose"]);

    // A damaged graph: refused, the retrained model stays.
    let cut = dir.path().join("retrained_graph.pb");
    let bytes = std::fs::read(&graph).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    drop_file(&mut h, cut);
    wait_notice(&mut h, "previous weights stay");
    let weights = app(&h).weights.clone().unwrap();
    assert_eq!(
        weights.info.source,
        featurescope_net::WeightsSource::File(graph)
    );
}

/// Dragging a toolbar value while a conv's pre-ReLU values were on their way asked the worker
/// for them again on every change, until its queue was full ("the network is busy"); and while
/// they were on their way, the inspector was dropped.
#[test]
fn pre_relu_values_are_asked_for_once_and_the_inspector_waits_for_them() {
    use featurescope_app::settings::NormMode;
    let mut h = harness();
    settle(&mut h);
    // A deep conv: its pre-ReLU pass runs almost the whole network, so it is still running
    // while the drag below goes on.
    let layer = LayerRef::named("Mixed_7c.branch3x3_1");
    act(&mut h, Action::Select(layer));
    h.run();
    act(&mut h, Action::Inspect(Inspector::map(5)));
    set(&mut h, |s| {
        s.pre_relu = true;
        s.norm = NormMode::Fixed;
    });
    // A drag on the fixed range's low end: a new value per frame, faster than any pass.
    for i in 0..64 {
        set(&mut h, |s| s.fixed_lo = -(i as f32) / 16.0);
    }
    let a = app(&h);
    assert_eq!(a.pending.pre_relu.len(), 1, "asked once: {:?}", a.pending);
    assert!(!a.notices.iter().any(|n| n.is_error()), "{:?}", a.notices);
    // A frame while they are on their way: the inspector stays on its filter.
    h.step();
    assert_eq!(app(&h).inspector.map(|i| i.channel), Some(5));
    wait_explained(&mut h, "the pre-ReLU values", |a| {
        a.view.as_ref().is_some_and(|v| v.pre_relu)
    });
    let a = app(&h);
    assert_eq!(a.inspector.map(|i| i.channel), Some(5));
    assert!(a.pending.pre_relu.is_empty());
    assert_eq!(a.view.as_ref().unwrap().id, "Mixed_7c.branch3x3_1");
    assert!(
        a.view.as_ref().unwrap().stats.iter().any(|s| s.min < 0.0),
        "pre-ReLU values go below zero"
    );
    h.get_by_label_contains("Mixed_7c.branch3x3_1 · filter 5");
}

/// While the first analysis ran (the network still loading), the input panel said "Drop an
/// image here" although an image was being analysed.
#[test]
fn the_input_panel_says_what_is_being_analysed_before_the_first_result() {
    let mut h = harness();
    h.step();
    if app(&h).analysis.is_none() {
        h.get_by_label_contains("Analysing chelsea.png (sample)");
        assert!(h.query_by_label_contains("Drop an image here").is_none());
    }
    settle(&mut h);
    assert!(h.query_by_label_contains("Analysing").is_none());
}

/// The status bar's left text (the image, timings) ran under its right text (the newest
/// information line: weights, device) when both were long.
#[test]
fn the_status_bar_cuts_long_texts_short_rather_than_overlapping_them() {
    let launch = Launch::headless(BackendChoice::Cpu);
    // Machine details shown, as in the real window.
    let mut h = Harness::builder()
        .with_size([1400.0, 900.0])
        .wgpu()
        .build_ui_state(
            move |ui, app: &mut State| {
                app.get_or_insert_with(|| FeaturescopeApp::new(ui.ctx(), None, launch.clone()))
                    .frame_ui(ui);
            },
            None,
        );
    settle(&mut h);
    let dir = tempfile::tempdir().unwrap();
    let long = format!(
        "{}.png",
        "a-very-long-photo-name-from-a-camera-roll-".repeat(3)
    );
    let photo = dir.path().join(&long);
    std::fs::copy(sample("coffee_299.png"), &photo).unwrap();
    drop_file(&mut h, photo);
    settle(&mut h);
    let names = dir
        .path()
        .join("class_names_with_a_long_file_name_for_this_test.json");
    let labels: Vec<String> = (0..5).map(|i| format!("class {i}")).collect();
    std::fs::write(&names, serde_json::to_string(&labels).unwrap()).unwrap();
    drop_file(&mut h, names);
    wait_notice(&mut h, "class names from");
    h.run();
    // The photo's name is in the input panel too: the status bar's is the lowest.
    let left = h
        .get_all_by_label_contains("a-very-long-photo-name")
        .map(|n| n.rect())
        .max_by(|a, b| a.max.y.total_cmp(&b.max.y))
        .unwrap();
    let right = h.get_by_label_contains("class names from").rect();
    assert!(
        !left.intersects(right),
        "the status texts overlap: {left:?} and {right:?}"
    );
    assert!(right.width() <= 0.55 * 1400.0, "{right:?}");
}

/// In the built-in file browser a full path typed into the File field opened with Enter, but
/// the Open button did nothing.
#[test]
fn a_path_typed_into_the_built_in_browser_opens_with_the_open_button() {
    let mut h = harness_with(false);
    settle(&mut h);
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("typed.png");
    std::fs::copy(sample("coffee_299.png"), &photo).unwrap();
    set(&mut h, |s| s.file_dialog = DialogChoice::BuiltIn);
    act(&mut h, Action::Choose(Choose::Image));
    h.run();
    assert!(app(&h).files.browser.is_some());
    // The File field: the browser's text field without a value (the folder field has one).
    let field = h
        .get_all_by_role(egui::accesskit::Role::TextInput)
        .map(|n| n.accesskit_node())
        .rfind(|n| n.value().is_none_or(|v| v.is_empty()) && n.label().is_none())
        .expect("the File field")
        .id();
    h.get_by(|n| n.id() == field).click();
    h.run();
    h.get_by(|n| n.id() == field)
        .type_text(photo.to_str().unwrap());
    h.run();
    h.get_by_label("Open").click();
    h.step();
    h.step();
    assert!(app(&h).files.browser.is_none(), "the browser closed");
    settle(&mut h);
    assert_eq!(
        app(&h).analysis.as_ref().unwrap().source.name(),
        "typed.png"
    );
}

/// What the layer sees in this photo: hovering the crop names the channels that fire at the
/// unit under the pointer (equal to the layer's own top values there), a click pins it; the
/// dictionary, the neuron groups and the spatial attribution to the top class against another
/// class, each computed off the UI thread.
#[test]
fn what_fires_here_groups_and_the_class_map() {
    use featurescope_maps::dictionary::{position_at, top_channels};
    let mut h = harness();
    settle(&mut h);
    // Icons only on request: the snapshots show the channels' maps, deterministically.
    act(&mut h, Action::IconsInBackground(false));
    act(&mut h, Action::Select(LayerRef::named("Mixed_5b")));
    h.run();
    let crop = "the network's input: hover or click for what fires here";
    h.get_by_label(crop).hover();
    h.run();
    let probe = app(&h).layer_views.probe.expect("hovering sets the probe");
    assert!(!probe.pinned);
    let view = app(&h).view.as_ref().unwrap();
    let [y, x] = position_at(&view.maps, probe.u, probe.v).unwrap();
    assert_eq!(
        [y, x],
        [17, 17],
        "the crop's centre is Mixed_5b's centre unit"
    );
    let fires = top_channels(&view.maps, y, x, 4).unwrap();
    h.get_by_label_contains(&format!("What fires here: Mixed_5b at ({y}, {x})"));
    for (c, v) in fires.channels.iter().zip(&fires.values) {
        h.get_by_label(&format!("channel {c} · {v:.3}"));
    }
    h.get_by_label(crop).click();
    h.run();
    assert!(app(&h).layer_views.probe.unwrap().pinned);
    h.get_by_label_contains("(pinned)");
    h.snapshot("fires_here");

    // The layer views, from the inspector's third row of tabs.
    h.get_by_label("filter 0").click();
    h.run();
    h.get_by_label("Dictionary").click();
    h.run();
    h.get_by_label_contains("channels named");
    h.snapshot("dictionary");
    h.get_by_label("Neuron groups").click();
    wait_explained(&mut h, "neuron groups", |a| {
        a.layer_views
            .groups
            .values()
            .any(|e| matches!(e, Entry::Ready(..)))
    });
    h.get_by_label_contains("6 groups · relative error");
    h.snapshot("groups");

    let labels = app(&h)
        .analysis
        .as_ref()
        .unwrap()
        .activations
        .head
        .clone()
        .unwrap();
    let top = labels.top_k(2);
    act(
        &mut h,
        Action::SpatialClasses(Some((top[0].0, Some(top[1].0)))),
    );
    h.get_by_label("Spatial attribution").click();
    wait_explained(&mut h, "spatial attribution", |a| {
        a.layer_views
            .spatial
            .values()
            .any(|e| matches!(e, Entry::Ready(..)))
    });
    h.get_by_label_contains("minus");
    h.snapshot("class_map");
}

/// Feature-visualisation icons are made on the worker: one asked for (ComputeIcons) even with
/// background icons off; with them on, the channels a view names (WantIcons) are queued and
/// made one at a time while nothing else waits, and those named while they were off follow.
/// Each is the channel's 96 px picture.
#[test]
fn icons_are_made_on_the_worker_on_request_and_in_the_background() {
    let mut h = harness();
    settle(&mut h);
    act(&mut h, Action::IconsInBackground(false));
    act(&mut h, Action::Select(LayerRef::named("Mixed_5b")));
    h.run();
    act(
        &mut h,
        Action::ComputeIcons {
            layer: "Mixed_5b".into(),
            channels: vec![90],
        },
    );
    wait_explained(&mut h, "the icon asked for", |a| {
        a.layer_views.icons.get("Mixed_5b", 90).is_some()
    });
    let icon = app(&h).layer_views.icons.get("Mixed_5b", 90).unwrap();
    assert_eq!(icon.dimensions(), (96, 96));
    // Background off: a channel a view names is not made.
    act(
        &mut h,
        Action::WantIcons {
            layer: "Mixed_5b".into(),
            channels: vec![9],
        },
    );
    h.run();
    assert!(app(&h).layer_views.icons.get("Mixed_5b", 9).is_none());
    assert!(app(&h).layer_views.icons.running.is_none());
    // Background on: the channel named while off and newly named ones are queued and made, one
    // at a time.
    act(&mut h, Action::IconsInBackground(true));
    act(
        &mut h,
        Action::WantIcons {
            layer: "Mixed_5b".into(),
            channels: vec![34],
        },
    );
    wait_explained(&mut h, "the background icon", |a| {
        a.layer_views.icons.get("Mixed_5b", 34).is_some()
    });
    assert_eq!(
        app(&h)
            .layer_views
            .icons
            .get("Mixed_5b", 34)
            .unwrap()
            .dimensions(),
        (96, 96)
    );
    wait_explained(&mut h, "the icon named while off", |a| {
        a.layer_views.icons.get("Mixed_5b", 9).is_some()
    });
}

/// The dictionary exports as a PNG: every position of the layer a cell, as the view draws it.
#[test]
fn the_dictionary_exports_as_png() {
    let mut h = harness_with(false);
    settle(&mut h);
    let dir = tempfile::tempdir().unwrap();
    set(&mut h, |s| {
        s.file_dialog = DialogChoice::BuiltIn;
        s.recent = vec![dir.path().join("photo.png")];
    });
    act(&mut h, Action::Select(LayerRef::named("Mixed_6e")));
    h.run();
    act(&mut h, Action::Choose(Choose::ExportTo(Export::Dictionary)));
    h.run();
    h.get_by_label("Save").click();
    h.run();
    wait_notice(&mut h, "saved ");
    let img = image::open(dir.path().join("Mixed_6e_dictionary.png")).unwrap();
    let cell = featurescope_app::services::layer_views::dictionary_cell_px(17);
    assert_eq!((img.width(), img.height()), (17 * cell, 17 * cell));
}
