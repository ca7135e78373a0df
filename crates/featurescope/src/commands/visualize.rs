//! `featurescope visualize`: feature visualisation, an image optimised to drive one filter as
//! hard as it can (decorrelated Fourier colours, random jitter, scale and rotation).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use featurescope_maps::Overwrite;
use featurescope_net::attribution::visualize::{VisualizeOptions, visualize};

use crate::common::{NetArgs, check_outputs, load_network, progress};

/// Arguments of `visualize`.
#[derive(clap::Args, Debug)]
pub(crate) struct VisualizeArgs {
    /// Layer (id or Keras alias).
    #[arg(long)]
    layer: String,
    /// Channel.
    #[arg(long)]
    channel: usize,
    /// Optimisation steps.
    #[arg(long, default_value_t = 256)]
    steps: usize,
    /// Seed (the same seed gives the same image).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Side of the image in pixels.
    #[arg(long, default_value_t = 224)]
    size: usize,
    /// Output PNG.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    net: NetArgs,
}

/// Run `visualize`.
pub(crate) fn run(a: &VisualizeArgs, overwrite: Overwrite) -> Result<()> {
    check_outputs(overwrite, [a.out.as_path()])?;
    let net = load_network(&a.net)?.net;
    let options = VisualizeOptions {
        steps: a.steps,
        seed: a.seed,
        size: a.size,
        ..VisualizeOptions::default()
    };
    let bar = progress(a.steps, "visualizing");
    let t = Instant::now();
    let mut tick = |done: usize, _: usize| {
        bar.set_position(done as u64);
        true
    };
    let v = visualize(
        net.model(),
        &net.device().device,
        &a.layer,
        a.channel,
        &options,
        &mut tick,
    )?;
    let secs = t.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let img = image::RgbImage::from_raw(v.size as u32, v.size as u32, v.rgb)
        .context("visualisation image size")?;
    featurescope_maps::save_image(&a.out, &img.into(), overwrite)?;
    let first = v.objective.first().copied().unwrap_or(0.0);
    let last = v.objective.last().copied().unwrap_or(0.0);
    println!(
        "{} channel {} (optimised {} channel {}): mean activation {first:.3} → {last:.3} in {} \
         steps, {secs:.1} s ({:.0} ms/step) on {}",
        v.layer,
        v.channel,
        v.source.0,
        v.source.1,
        a.steps,
        secs * 1e3 / a.steps.max(1) as f64,
        net.device().name
    );
    eprintln!("wrote {}", a.out.display());
    Ok(())
}
