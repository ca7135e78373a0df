//! `featurescope bench --soak N`: a long session in one process, to show that memory stays
//! flat. N different images (the sample photos, each time cropped, scaled and mirrored
//! differently, then encoded as PNG and decoded again) are analysed one after another, either
//! the way the CLI does (decode, forward with every tap, a layer's tiles coloured and written)
//! or through the app's own worker (`--via worker`: the jobs and events the window uses).
//! Resident memory is sampled as it goes; the curve is printed, and the run fails when memory
//! after the warm-up (the first tenth) grows by more than 5 %.

use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use featurescope_app::services::worker::{Event, ImageSource, Job, Worker};
use featurescope_maps::{GridOptions, LayerMaps};
use featurescope_net::{TapRequest, WeightsSource, preprocess};
use image::DynamicImage;

use crate::common::{NetArgs, load_network};

/// Where the soak's images go through.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    /// In this process, as `render` does.
    Cli,
    /// Through the app's worker thread, as the window does.
    Worker,
}

/// Largest growth of resident memory after the warm-up.
const MAX_GROWTH: f64 = 0.05;

/// Resident set size now, in MB (Linux `/proc/self/statm`; 0 elsewhere).
pub(crate) fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |pages| pages * 4096.0 / 1e6)
}

/// The i-th soak image, PNG-encoded: a sample photo cropped, scaled and mirrored by `i`.
fn variant(photos: &[DynamicImage], i: usize) -> Result<Vec<u8>> {
    let base = &photos[i % photos.len()];
    let (w, h) = (base.width(), base.height());
    let side = (w.min(h) * (60 + (i % 40) as u32) / 100).max(16);
    let x = (i as u32 * 37) % (w - side + 1);
    let y = (i as u32 * 53) % (h - side + 1);
    let mut img = base.crop_imm(x, y, side, side);
    let size = 200 + (i % 7) as u32 * 60;
    img = img.resize_exact(size, size * 3 / 4, image::imageops::FilterType::Triangle);
    if i % 2 == 1 {
        img = img.fliph();
    }
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(png)
}

/// Run the soak; prints the memory curve.
pub(crate) fn run(n: usize, via: Via, net_args: &NetArgs) -> Result<()> {
    let photos = [
        featurescope_app::SAMPLE_PHOTO,
        include_bytes!("../../../../assets/samples/coffee.png"),
    ]
    .iter()
    .map(|b| image::load_from_memory(b))
    .collect::<Result<Vec<_>, _>>()?;
    let every = (n / 20).max(1);
    let warm_end = (n / 10).max(1);
    let mut curve: Vec<(usize, f64)> = Vec::new();
    let t = Instant::now();
    let mut step: Box<dyn FnMut(usize) -> Result<()>> = match via {
        Via::Cli => {
            let net = load_network(net_args)?.net;
            let dir = tempfile::tempdir()?;
            let request = TapRequest::all();
            Box::new(move |i| {
                let png = variant(&photos, i)?;
                let img = preprocess::decode_image(&png, "soak.png")?;
                let input = preprocess::prepare(&img);
                let acts = net.run(&input, &request)?;
                let layer = &acts.layers[i % acts.layers.len()];
                let [_, c, h, w] = layer.shape;
                let maps = LayerMaps::new(c, h, w, layer.data.clone())?;
                let grid = featurescope_maps::render_grid(&maps, &GridOptions::default())?;
                featurescope_maps::save_image(
                    &dir.path().join("grid.png"),
                    &grid.into(),
                    featurescope_maps::Overwrite::Replace,
                )?;
                Ok(())
            })
        }
        Via::Worker => {
            let source = WeightsSource::from_arg(net_args.weights.clone());
            let worker = Worker::spawn(source, net_args.backend.into(), None, || {});
            let mut generation = 0u64;
            Box::new(move |i| {
                generation += 1;
                let png = variant(&photos, i)?;
                worker
                    .send(Job::Analyse {
                        generation,
                        source: ImageSource::Bytes {
                            name: format!("soak {i}"),
                            bytes: Arc::from(png),
                        },
                        layer: "Mixed_7c".into(),
                    })
                    .map_err(anyhow::Error::msg)?;
                wait_for(&worker, generation)
            })
        }
    };
    for i in 0..n {
        step(i).with_context(|| format!("soak image {i}"))?;
        if i % every == 0 || i + 1 == n || i + 1 == warm_end {
            let rss = rss_mb();
            curve.push((i + 1, rss));
            eprintln!(
                "soak {:>5}/{n}  rss {rss:7.1} MB  {:6.1} s",
                i + 1,
                t.elapsed().as_secs_f64()
            );
        }
    }
    report(&curve, warm_end, n, t.elapsed())
}

/// Wait until the worker has analysed `generation`.
fn wait_for(worker: &Worker, generation: u64) -> Result<()> {
    let start = Instant::now();
    loop {
        for event in worker.poll() {
            match event {
                Event::Analysed(a) if a.generation == generation => return Ok(()),
                Event::AnalyseFailed { message, .. } => bail!("analysis failed: {message}"),
                Event::WeightsFailed(e) => bail!("weights: {e}"),
                Event::JobFailed(e) => bail!("{e}"),
                _ => {}
            }
        }
        if start.elapsed() > Duration::from_secs(600) {
            bail!("the worker did not answer in 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn report(curve: &[(usize, f64)], warm_end: usize, n: usize, took: Duration) -> Result<()> {
    let after_warm = curve
        .iter()
        .find(|(i, _)| *i >= warm_end)
        .map_or(0.0, |c| c.1);
    let last = curve.last().map_or(0.0, |c| c.1);
    let peak = curve.iter().map(|c| c.1).fold(0.0, f64::max);
    let growth = if after_warm > 0.0 {
        last / after_warm - 1.0
    } else {
        0.0
    };
    println!(
        "images            {n} in {:.1} s ({:.0} ms each)",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e3 / n as f64
    );
    println!("rss after warm-up {after_warm:.1} MB (image {warm_end})");
    println!("rss at the end    {last:.1} MB; peak sampled {peak:.1} MB");
    println!(
        "growth            {:+.2} % (limit {:.0} %)",
        growth * 100.0,
        MAX_GROWTH * 100.0
    );
    if growth > MAX_GROWTH {
        bail!(
            "resident memory grew {:.1} % after the warm-up (limit {:.0} %)",
            growth * 100.0,
            MAX_GROWTH * 100.0
        );
    }
    Ok(())
}
