//! UI tests: the real app, rendered through wgpu (lavapipe in CI), driven like a person would —
//! first run, a deep layer picked from the tree, a tile clicked into the inspector, sorting, a
//! dropped file, a corrupt file. Image snapshots live in `tests/snapshots/`
//! (`UPDATE_SNAPSHOTS=1` regenerates them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use featurescope_app::{FeaturescopeApp, Launch};
use featurescope_net::BackendChoice;

type State = Option<FeaturescopeApp>;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets/samples")
        .join(name)
}

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

fn harness<'a>() -> Harness<'a, State> {
    harness_with(true)
}

/// `accessibility_check`: off only where a third-party widget (egui_file's path and file-name
/// fields) has no accessible name, which the check would report as ours.
fn harness_with<'a>(accessibility_check: bool) -> Harness<'a, State> {
    harness_on(accessibility_check, BackendChoice::Cpu)
}

fn harness_on<'a>(accessibility_check: bool, backend: BackendChoice) -> Harness<'a, State> {
    let launch = Launch::headless(backend);
    Harness::builder()
        .with_size([1280.0, 800.0])
        .with_accessibility_check(accessibility_check)
        .wgpu()
        .build_ui_state(FeaturescopeApp::driven(launch), None)
}

fn app<'h>(h: &'h Harness<'_, State>) -> &'h FeaturescopeApp {
    h.state().as_ref().unwrap()
}

/// Step until the worker has delivered and nothing is running (the network runs for real).
fn settle(h: &mut Harness<'_, State>) {
    let start = Instant::now();
    loop {
        h.step();
        if app(h).is_idle() && app(h).view.is_some() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "the analysis did not finish; notices: {:?}",
            h.state().as_ref().map(|a| &a.notices)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    h.run();
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
    assert_eq!(a.selected, "Conv2d_2b_3x3");
    assert_eq!(a.view.as_ref().unwrap().order.len(), 64);
    assert!(a.weights.is_some());
    h.get_by_label_contains("Neutral");
    h.snapshot("first_run");

    // Pick a deep layer from the tree: Mixed_7c's concat, 2048 filters.
    h.get_by_label_contains("Mixed_7c  InceptionE").click();
    h.run();
    let a = app(&h);
    assert_eq!(a.selected, "Mixed_7c");
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
    assert_eq!(app(&h).selected, "Mixed_5b");
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
    assert_eq!(app(&h).selected, "Mixed_5c.branch1x1");
    h.key_press(egui::Key::ArrowUp);
    h.run();
    assert_eq!(app(&h).selected, "Mixed_5b");

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
    {
        let a = h.state_mut().as_mut().unwrap();
        // As on a desktop without a portal, or as the person chose in the File menu.
        a.settings.file_dialog = featurescope_app::files::DialogChoice::BuiltIn;
        // The browser starts in the folder of the most recent file.
        a.settings.recent = vec![dir.path().join("espresso.png")];
    }
    h.get_by_label("File").click();
    h.run();
    h.get_by_label("Open image…  (Ctrl+O)").click();
    h.run();
    assert!(app(&h).browser.is_some(), "the in-app browser is open");
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
    assert!(app(&h).browser.is_none(), "the browser closed");
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
    assert!(app(&h).browser.is_none());
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
    h.state_mut()
        .as_mut()
        .unwrap()
        .build_atlas_into(root.clone(), out.clone());
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

/// Step until `done` holds (the worker computes for real).
fn wait_for(h: &mut Harness<'_, State>, what: &str, done: impl Fn(&FeaturescopeApp) -> bool) {
    let start = Instant::now();
    loop {
        h.step();
        if done(app(h)) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "{what} did not finish; notices: {:?}; explanations: {:?}",
            app(h).notices,
            app(h)
                .explain
                .cache
                .iter()
                .map(|(k, e)| format!("{:?} {:?}: {}", k.method, k.sanity, entry_state(e)))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    h.run();
}

fn entry_state(e: &featurescope_app::explain::Entry) -> String {
    use featurescope_app::explain::Entry;
    match e {
        Entry::Pending { done, total, .. } => format!("pending {done}/{total}"),
        Entry::Ready(..) => "ready".into(),
        Entry::Failed(m) => format!("failed: {m}"),
    }
}

fn explained(a: &FeaturescopeApp, method: featurescope_net::attribution::Method) -> bool {
    a.explain.cache.iter().any(|(k, e)| {
        k.method == method && matches!(e, featurescope_app::explain::Entry::Ready(..))
    })
}

/// The inspector's explanation views: a concat's channel names its branch; guided backprop
/// computed on the worker and shown alone and over the photo; SmoothGrad cancelled midway;
/// a feature visualisation run from its tab.
#[test]
fn inspector_explains_a_filter() {
    use featurescope_net::attribution::Method;
    let mut h = harness();
    settle(&mut h);
    h.state_mut().as_mut().unwrap().select("Mixed_5b");
    h.run();
    h.get_by_label("filter 10").click();
    h.run();
    h.get_by_label_contains("is Mixed_5b.branch1x1 channel 10");
    h.get_by_label("Guided backprop").click();
    wait_for(&mut h, "guided backprop", |a| explained(a, Method::Guided));
    h.get_by_label_contains("Mixed_5b channel 10 at (");
    h.snapshot("explain_guided");

    // The sanity check: the re-initialised network's map under the trained one's, with the
    // rank correlation.
    h.get_by_label("Sanity check: randomise from here up")
        .click();
    wait_for(&mut h, "the sanity check", |a| {
        a.explain.cache.iter().any(|(k, e)| {
            k.sanity.is_some() && matches!(e, featurescope_app::explain::Entry::Ready(..))
        })
    });
    h.get_by_label_contains("rank correlation with the trained network's map");
    {
        use featurescope_app::explain::Entry;
        let cache = &app(&h).explain.cache;
        let ready = |sanity: bool| {
            cache.iter().find_map(|(k, e)| match e {
                Entry::Ready(done, _) if k.sanity.is_some() == sanity => Some(done),
                _ => None,
            })
        };
        let (plain, checked) = (ready(false).unwrap(), ready(true).unwrap());
        assert!(
            checked.alone.pixels != plain.alone.pixels,
            "re-initialising the block left the map unchanged"
        );
        let rho = checked.rank_correlation.unwrap();
        assert!((-1.0..=1.0).contains(&rho), "{rho}");
    }
    h.snapshot("explain_sanity");

    // SmoothGrad: cancel while it runs; the view says so and offers a retry.
    h.state_mut().as_mut().unwrap().explain.options.samples = 64;
    h.get_by_label("SmoothGrad").click();
    h.run();
    h.get_by_label("Cancel").click();
    wait_for(&mut h, "cancelling SmoothGrad", |a| {
        a.explain.cache.iter().any(|(k, e)| {
            k.method == Method::SmoothGrad
                && matches!(e, featurescope_app::explain::Entry::Failed(m) if m == "cancelled")
        })
    });
    h.get_by_label("Retry");

    // Feature visualisation, short.
    h.state_mut().as_mut().unwrap().visual.steps = 16;
    h.get_by_label("Feature visualization").click();
    h.run();
    h.get_by_label("Visualize").click();
    wait_for(&mut h, "feature visualisation", |a| {
        a.visual
            .cache
            .values()
            .any(|e| matches!(e, featurescope_app::explain::visualize::VisEntry::Ready(..)))
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
        h.state_mut()
            .as_mut()
            .unwrap()
            .load_weights(featurescope_net::WeightsSource::File(case.path.clone()));
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
        h.state_mut().as_mut().unwrap().select(id);
        h.run();
        assert!(
            app(&h).reading.is_empty(),
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
    let mut h = harness_on(true, BackendChoice::Wgpu);
    settle(&mut h);
    assert!(app(&h).weights.as_ref().unwrap().1.starts_with("wgpu"));
    h.state_mut().as_mut().unwrap().settings.tile_px = 48.0;
    h.state_mut().as_mut().unwrap().simulate_device_loss();
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
            && a.weights.as_ref().is_some_and(|w| w.1.starts_with("cpu"));
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
    {
        let a = h.state_mut().as_mut().unwrap();
        a.settings.file_dialog = featurescope_app::files::DialogChoice::BuiltIn;
        a.settings.recent = vec![dir.path().join("photo.png")];
    }
    let export = |h: &mut Harness<'_, State>| {
        h.get_by_label("File").click();
        h.run();
        h.get_by_label("Export grid as PNG…").click();
        h.run();
        h.get_by_label("Save").click();
        h.run();
    };
    export(&mut h);
    assert!(app(&h).replace.is_some(), "asked before replacing");
    h.get_by_label_contains("already exists. Replace it");
    h.snapshot("replace_question");
    h.get_by_label("Cancel").click();
    h.run();
    assert!(app(&h).replace.is_none());
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
        .is_some_and(|(w, _)| w.source == featurescope_net::WeightsSource::File(path.to_path_buf()))
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
    let (info, _) = app(&h).weights.clone().unwrap();
    assert_eq!(info.source, featurescope_net::WeightsSource::File(graph));
}
