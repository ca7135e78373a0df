//! Criterion benches of the hot paths (docs/PERFORMANCE.md), each beside its baseline:
//! - `forward/*`: one forward with all 123 taps read back, against the plain burn forward of the
//!   same weights on the same device (`Network::plain_baseline`); on the CPU, and on wgpu when
//!   an adapter exists (lavapipe counts; set `FEATURESCOPE_BENCH_WGPU=0` to skip it).
//! - `tiles/*`: colouring every tile of `Mixed_7c` (2048 filters, 8x8) as the app's tile grid
//!   does (`LayerView::new` + one `ColorImage` per filter), and `Conv2d_2b_3x3` (64 filters of
//!   147x147, box-averaged to 73x73 as the grid shows them).
//! - `export/*`: the PNG grid of `Mixed_7c` (render + encode + atomic write), the CLI's and the
//!   app's export path.
//!
//! Run: `cargo bench --workspace --bench hot_paths`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use featurescope_app::settings::Settings;
use featurescope_app::view::LayerView;
use featurescope_maps::{GridOptions, LayerMaps, Overwrite};
use featurescope_net::{BackendChoice, InputImage, Network, TapRequest, WeightsSource};

fn sample() -> InputImage {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../assets/samples/chelsea_299.png"
    );
    featurescope_net::preprocess::load_input(std::path::Path::new(path)).unwrap()
}

fn network(choice: BackendChoice) -> Option<Network> {
    let (device, notice) = featurescope_net::device::select_or_cpu(choice);
    if choice == BackendChoice::Wgpu
        && (notice.is_some() || device.backend != featurescope_net::Backend::Wgpu)
    {
        return None;
    }
    Some(Network::load_source(&WeightsSource::Bundled, device).unwrap())
}

fn forward(c: &mut Criterion) {
    featurescope_net::memory::keep_freed_memory();
    let input = sample();
    let mut backends = vec![BackendChoice::Cpu];
    if std::env::var("FEATURESCOPE_BENCH_WGPU").as_deref() != Ok("0") {
        backends.push(BackendChoice::Wgpu);
    }
    for choice in backends {
        let Some(net) = network(choice) else {
            eprintln!("forward: no wgpu adapter, skipped");
            continue;
        };
        let name = net.device().backend;
        let plain = net.plain_baseline();
        let all = TapRequest::all();
        net.run(&input, &all).unwrap();
        plain.run(&input).unwrap();
        let mut group = c.benchmark_group(format!("forward/{name}"));
        if name == featurescope_net::Backend::Wgpu {
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(30));
        }
        group.bench_function("featurescope, 123 taps read back", |b| {
            b.iter(|| black_box(net.run(&input, &all).unwrap()))
        });
        group.bench_function("plain burn, head only", |b| {
            b.iter(|| black_box(plain.run(&input).unwrap()))
        });
        group.finish();
    }
}

fn tap(id: &str) -> featurescope_net::LayerData {
    let net = network(BackendChoice::Cpu).unwrap();
    let request = TapRequest::layers([id]).unwrap();
    let mut acts = net.run(&sample(), &request).unwrap();
    acts.layers.remove(0)
}

fn tiles(c: &mut Criterion) {
    let settings = Settings::default();
    let mut group = c.benchmark_group("tiles");
    for (id, scale) in [("Mixed_7c", 1), ("Conv2d_2b_3x3", 2)] {
        let data = tap(id);
        group.bench_function(format!("{id}, {} filters", data.shape[1]), |b| {
            b.iter(|| {
                let view = LayerView::new(&data, false, &settings, 1, None).unwrap();
                for ch in 0..data.shape[1] {
                    let (size, pixels) = view.pixels(ch, scale, egui::Color32::from_rgb);
                    black_box(egui::ColorImage::new(size, pixels));
                }
            })
        });
    }
    group.finish();
}

fn export(c: &mut Criterion) {
    let data = tap("Mixed_7c");
    let [_, ch, h, w] = data.shape;
    let maps = LayerMaps::new(ch, h, w, data.data).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Mixed_7c.png");
    let opts = GridOptions::default();
    let mut group = c.benchmark_group("export");
    group.sample_size(10);
    group.bench_function("Mixed_7c grid PNG, 2048 tiles", |b| {
        b.iter(|| {
            let grid = featurescope_maps::render_grid(&maps, &opts).unwrap();
            let img = image::DynamicImage::from(grid);
            featurescope_maps::save_image(&path, &img, Overwrite::Replace).unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, forward, tiles, export);
criterion_main!(benches);
