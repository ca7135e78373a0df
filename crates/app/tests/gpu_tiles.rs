//! Tiles coloured on the GPU from the tap where it lies (`services::gpu_tiles`) against the CPU's
//! colouring of the same values (`LayerView::pixels`, what the tile grid draws otherwise): on
//! the shared wgpu device (lavapipe in CI), every pixel within one colour step — the colour at
//! the CPU's table index, or at one index either side — for every normalisation mode, three
//! colormaps (one diverging, so symmetric ranges) and tiles box-averaged to a smaller size. The
//! texture is copied back here, in the test only; the app never reads it. Also times the two
//! paths from the resident tap to finished tiles. Its own test binary: a device kind is
//! initialised once per process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use featurescope_app::SAMPLE_PHOTO;
use featurescope_app::services::gpu_tiles::{GpuQueue, GpuTiles, TileColourer, TileParams};
use featurescope_app::settings::{NormMode, Settings};
use featurescope_app::view::LayerView;
use featurescope_maps::Colormap;
use featurescope_net::device;
use featurescope_net::device_buffer::wgpu;
use featurescope_net::{
    BackendChoice, Network, ResidentTaps, TapRequest, WeightsSource, preprocess,
};

/// The texture's RGBA8 texels, row by row (test only: the app never reads it back).
fn read_texture(gpu: &GpuQueue, tiles: &GpuTiles) -> (usize, Vec<u8>) {
    let [w, h] = tiles.size();
    let row = (w * 4).next_multiple_of(256);
    let buffer = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("test readback"),
        size: (row * h) as u64,
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
        mapped_at_creation: false,
    });
    let mut encoder = gpu
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
    encoder.copy_texture_to_buffer(
        wgpu::TexelCopyTextureInfo {
            texture: &tiles.texture,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        wgpu::TexelCopyBufferInfo {
            buffer: &buffer,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(row as u32),
                rows_per_image: None,
            },
        },
        wgpu::Extent3d {
            width: w as u32,
            height: h as u32,
            depth_or_array_layers: 1,
        },
    );
    gpu.queue.submit([encoder.finish()]);
    buffer
        .slice(..)
        .map_async(wgpu::MapMode::Read, |r| r.unwrap());
    gpu.device
        .poll(wgpu::PollType::wait_indefinitely())
        .unwrap();
    let bytes = buffer.slice(..).get_mapped_range().unwrap().to_vec();
    (row, bytes)
}

fn settings(norm: NormMode, colormap: Colormap) -> Settings {
    Settings {
        norm,
        colormap,
        fixed_lo: 0.5,
        fixed_hi: 3.0,
        ..Settings::default()
    }
}

/// Compares every tile; returns (pixels, pixels equal to the CPU's exactly).
fn compare(
    gpu: &GpuQueue,
    tiles: &GpuTiles,
    view: &LayerView,
    k: usize,
    what: &str,
) -> (usize, usize) {
    let (row, texels) = read_texture(gpu, tiles);
    let lut = view.colormap.lut();
    let (mut all, mut exact) = (0, 0);
    for c in 0..view.maps.channels {
        let ([w, h], cpu) = view.pixels(c, k, |r, g, b| [r, g, b]);
        assert_eq!([w, h], tiles.tile, "{what}: tile size");
        let (x0, y0) = ((c % tiles.columns) * w, (c / tiles.columns) * h);
        for y in 0..h {
            for x in 0..w {
                let at = (y0 + y) * row + (x0 + x) * 4;
                let got = [texels[at], texels[at + 1], texels[at + 2]];
                assert_eq!(texels[at + 3], 255, "{what}: alpha");
                let want = cpu[y * w + x];
                all += 1;
                if got == want {
                    exact += 1;
                    continue;
                }
                // One colour step: the GPU's colour is the table's entry next to the CPU's.
                let near = (0..256)
                    .filter(|&i| lut[i] == want)
                    .any(|i| (i.saturating_sub(1)..=(i + 1).min(255)).any(|j| lut[j] == got));
                assert!(
                    near,
                    "{what}: channel {c} at ({x}, {y}): GPU {got:?}, CPU {want:?}: more than one colour step apart"
                );
            }
        }
    }
    (all, exact)
}

struct Rig {
    net: Network,
    taps: ResidentTaps,
    gpu: GpuQueue,
    colourer: TileColourer,
}

fn rig() -> Option<Rig> {
    let shared = match device::select_shared(BackendChoice::Wgpu) {
        Ok(Some(shared)) => shared,
        other => {
            assert!(
                std::env::var_os("FEATURESCOPE_REQUIRE_WGPU").is_none(),
                "no wgpu device ({other:?}), and FEATURESCOPE_REQUIRE_WGPU is set"
            );
            eprintln!("SKIPPED: no wgpu device: {other:?}");
            return None;
        }
    };
    let gpu = GpuQueue {
        device: shared.setup.device.clone(),
        queue: shared.setup.queue.clone(),
    };
    let net = Network::load_source(&WeightsSource::Bundled, shared.compute).unwrap();
    let image = preprocess::decode_image(SAMPLE_PHOTO, "chelsea.png").unwrap();
    let taps = net
        .run_resident(&preprocess::prepare(&image), &TapRequest::all())
        .unwrap();
    let colourer = TileColourer::new(gpu.clone()).unwrap();
    Some(Rig {
        net,
        taps,
        gpu,
        colourer,
    })
}

#[test]
fn gpu_tiles_equal_the_cpu_tiles_within_one_colour_step_and_time_both() {
    let Some(rig) = rig() else { return };
    // Conv2d_2b_3x3: 64 maps of 147x147, at the default 72 px tile box-averaged by 2 (and 3);
    // Mixed_6e: 768 maps of 17x17, each value its own texel.
    let cases = [("Conv2d_2b_3x3", [2, 3]), ("Mixed_6e", [1, 1])];
    let colormaps = [Colormap::Viridis, Colormap::Magma, Colormap::Diverging];
    let modes = [NormMode::PerTile, NormMode::PerLayer, NormMode::Fixed];
    for (layer, factors) in cases {
        let data = rig.taps.read(layer).unwrap();
        for norm in modes {
            for colormap in colormaps {
                for k in factors {
                    let s = settings(norm, colormap);
                    let view = LayerView::new(&data, false, &s, 1, None).unwrap();
                    let params =
                        TileParams::new(layer, s.norm_settings(false), colormap, k).unwrap();
                    let tap = rig.taps.device_buffer(layer).unwrap();
                    let tiles = rig.colourer.colour(&tap, &params, 1).unwrap();
                    let what = format!("{layer} {norm:?} {colormap} k={k}");
                    let (all, exact) = compare(&rig.gpu, &tiles, &view, k, &what);
                    eprintln!("{what}: {exact} of {all} pixels exact, the rest one step");
                    assert!(exact * 100 >= all * 99, "{what}: {exact} of {all} exact");
                }
            }
        }
    }
    time_both(&rig, "Conv2d_2b_3x3", 2);
    time_both(&rig, "Mixed_6e", 1);
    drop(rig.net);
}

/// Tap to finished tiles, five times each way, medians: the shader (find the buffer, colour,
/// wait for the GPU — the app does not wait) against the CPU path (read the layer back, prepare
/// the view, colour every tile).
fn time_both(rig: &Rig, layer: &str, k: usize) {
    let s = Settings::default();
    let params = TileParams::new(layer, s.norm_settings(false), s.colormap, k).unwrap();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut gpu_ms = Vec::new();
    let mut submit_ms = Vec::new();
    let mut cpu_ms = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let tap = rig.taps.device_buffer(layer).unwrap();
        let tiles = rig.colourer.colour(&tap, &params, 1).unwrap();
        submit_ms.push(t.elapsed().as_secs_f64() * 1e3);
        rig.gpu
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .unwrap();
        gpu_ms.push(t.elapsed().as_secs_f64() * 1e3);
        drop(tiles);
        let t = Instant::now();
        let data = rig.taps.read(layer).unwrap();
        let view = LayerView::new(&data, false, &s, 1, None).unwrap();
        let pixels: usize = (0..view.maps.channels)
            .map(|c| view.pixels(c, k, |r, g, b| [r, g, b]).1.len())
            .sum();
        assert!(pixels > 0);
        cpu_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (g, sub, c) = (median(gpu_ms), median(submit_ms), median(cpu_ms));
    eprintln!(
        "TIMING {layer} k={k}: tap to tiles, shader {g:.2} ms (submitted after {sub:.2} ms) vs \
         CPU readback + view + colouring {c:.2} ms: CPU / shader = {:.2}x",
        c / g
    );
}
