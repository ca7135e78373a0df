//! `featurescope spatial`: spatial attribution to a class at one layer — per position
//! Σ_k a_k · ∂z_c/∂a_k, where the layer's positions push the class logit up or down (Olah et
//! al. 2018); with a second class, their difference in two colours.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use featurescope_maps::Overwrite;
use featurescope_maps::figures::render_two_colour;
use featurescope_net::attribution::spatial::spatial;
use featurescope_net::preprocess;

use crate::common::{NetArgs, check_outputs, load_network};

/// Arguments of `spatial`.
#[derive(clap::Args, Debug)]
pub(crate) struct SpatialArgs {
    /// The photo.
    #[arg(long)]
    image: PathBuf,
    /// Layer id or Keras alias.
    #[arg(long)]
    layer: String,
    /// The class (the head's logit N, before the softmax).
    #[arg(long)]
    class: usize,
    /// A second class: the map shows class minus class2 (orange: toward --class, blue:
    /// toward --class2).
    #[arg(long)]
    class2: Option<usize>,
    /// Output PNG: the map over the photo (orange positive, blue negative).
    #[arg(long)]
    out: PathBuf,
    /// Also write the map as .npy: float32 [H, W] at the layer's resolution (the difference
    /// with --class2).
    #[arg(long)]
    npy: Option<PathBuf>,
    #[command(flatten)]
    net: NetArgs,
}

/// Run `spatial`.
pub(crate) fn run(a: &SpatialArgs, overwrite: Overwrite) -> Result<()> {
    check_outputs(
        overwrite,
        std::iter::once(a.out.as_path()).chain(a.npy.as_deref()),
    )?;
    let input = preprocess::load_input(&a.image)?;
    let net = load_network(&a.net)?.net;
    let classes: Vec<usize> = std::iter::once(a.class).chain(a.class2).collect();
    let t = Instant::now();
    let s = spatial(
        net.model(),
        &net.device().device,
        &input,
        &a.layer,
        &classes,
        &mut |_, _| true,
    )?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let map = match s.difference() {
        Some(d) => d,
        None => s.maps.first().map(|m| m.data.clone()).unwrap_or_default(),
    };
    let (img, max) = render_two_colour(&map, s.width, s.height, &input.crop);
    featurescope_maps::save_image(&a.out, &img.into(), overwrite)?;
    if let Some(npy) = &a.npy {
        let shape = [s.height as u64, s.width as u64];
        featurescope_maps::write_npy(npy, &shape, &map, overwrite)?;
    }
    let labels = &net.weights().head.labels;
    let name = |c: usize| {
        labels
            .get(c)
            .cloned()
            .unwrap_or_else(|| format!("class {c}"))
    };
    for m in &s.maps {
        let sum: f32 = m.data.iter().sum();
        println!(
            "{} ({}) at {}: logit {:.4}, Σ map {sum:.4}",
            name(m.class),
            m.class,
            s.layer,
            m.logit
        );
    }
    println!(
        "{}x{} map, robust max |value| {max:.4}, {ms:.0} ms on {}",
        s.height,
        s.width,
        net.device().name
    );
    eprintln!("wrote {}", a.out.display());
    Ok(())
}
