//! `featurescope groups`: neuron groups of one layer on one photo — its activations factorised
//! into k groups by non-negative matrix factorisation, each a mask over the photo and a
//! weighting of the channels (Olah et al. 2018).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use featurescope_maps::Overwrite;
use featurescope_maps::figures::render_groups;
use featurescope_maps::groups::{DEFAULT_GROUPS, DEFAULT_ITERS, Groups, factorise};
use featurescope_net::preprocess;
use image::RgbImage;

use crate::common::{NetArgs, check_outputs, load_network};

/// Arguments of `groups`.
#[derive(clap::Args, Debug)]
pub(crate) struct GroupsArgs {
    /// The photo.
    #[arg(long)]
    image: PathBuf,
    /// Layer id or Keras alias.
    #[arg(long)]
    layer: String,
    /// Number of groups.
    #[arg(long, default_value_t = DEFAULT_GROUPS)]
    k: usize,
    /// Multiplicative-update rounds (scikit-learn's max_iter, with tol = 0).
    #[arg(long, default_value_t = DEFAULT_ITERS)]
    iters: usize,
    /// Output PNG: every group over the photo in its own colour, then each group alone, left
    /// to right.
    #[arg(long)]
    out: PathBuf,
    /// Print the groups as JSON on stdout: layer, k, error, spatial masks, channel weights.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    net: NetArgs,
}

/// The JSON `--json` prints.
pub(crate) fn to_json(layer: &str, g: &Groups) -> serde_json::Value {
    serde_json::json!({
        "layer": layer,
        "k": g.k(),
        "error": g.error,
        "height": g.height,
        "width": g.width,
        "spatial": g.spatial,
        "channels": g.loadings,
    })
}

/// All groups over the photo, then each group alone, side by side.
pub(crate) fn figure(g: &Groups, photo: &RgbImage) -> RgbImage {
    let (w, h) = photo.dimensions();
    let panels: Vec<RgbImage> = std::iter::once(render_groups(g, photo, None))
        .chain((0..g.k()).map(|i| render_groups(g, photo, Some(i))))
        .collect();
    let mut out = RgbImage::new(w * panels.len() as u32, h);
    for (i, p) in panels.iter().enumerate() {
        image::imageops::replace(&mut out, p, i64::from(w) * i as i64, 0);
    }
    out
}

/// Run `groups`.
pub(crate) fn run(a: &GroupsArgs, overwrite: Overwrite) -> Result<()> {
    check_outputs(overwrite, [a.out.as_path()])?;
    let input = preprocess::load_input(&a.image)?;
    let net = load_network(&a.net)?.net;
    let (id, maps) = crate::common::layer_maps(&net, &input, &a.layer)?;
    let t = Instant::now();
    let groups = factorise(&maps, a.k, a.iters)?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let img = figure(&groups, &input.crop);
    featurescope_maps::save_image(&a.out, &img.into(), overwrite)?;
    if a.json {
        println!("{}", to_json(&id, &groups));
    }
    let strongest: Vec<String> = (0..groups.k())
        .map(|g| {
            let top: Vec<String> = groups
                .strongest(g, 3)
                .iter()
                .map(|(c, _)| c.to_string())
                .collect();
            format!("{g}: {}", top.join(" "))
        })
        .collect();
    eprintln!(
        "{} groups of {id}: relative error {:.4} after {} rounds, {ms:.0} ms; strongest \
         channels {}",
        groups.k(),
        groups.error,
        a.iters,
        strongest.join(", ")
    );
    eprintln!("wrote {}", a.out.display());
    Ok(())
}
