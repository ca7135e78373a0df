//! `featurescope dictionary`: the semantic dictionary of one layer on one photo — at every
//! position the k channels that fire most, drawn over the photo (Olah et al. 2018).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use featurescope_maps::Overwrite;
use featurescope_maps::dictionary::{Fires, dictionary};
use featurescope_maps::figures::render_dictionary;
use featurescope_net::preprocess;

use crate::common::{NetArgs, check_outputs, layer_maps, load_network};

/// Arguments of `dictionary`.
#[derive(clap::Args, Debug)]
pub(crate) struct DictionaryArgs {
    /// The photo.
    #[arg(long)]
    image: PathBuf,
    /// Layer id or Keras alias.
    #[arg(long)]
    layer: String,
    /// Channels per position.
    #[arg(long, default_value_t = 4)]
    k: usize,
    /// Output PNG: each position's channels over the photo, as pictures (a channel's feature
    /// visualisation when the app's cache has it) or else as a colour of its own.
    #[arg(long)]
    out: PathBuf,
    /// Print every position's channels and values as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Pixels per position in the PNG (default: what fits 1200 px, at least 8).
    #[arg(long)]
    cell_px: Option<u32>,
    #[command(flatten)]
    net: NetArgs,
}

/// The JSON `--json` prints.
pub(crate) fn to_json(layer: &str, fires: &[Fires]) -> serde_json::Value {
    let positions: Vec<_> = fires
        .iter()
        .map(
            |f| serde_json::json!({"y": f.y, "x": f.x, "channels": f.channels, "values": f.values}),
        )
        .collect();
    serde_json::json!({"layer": layer, "positions": positions})
}

/// Run `dictionary`.
pub(crate) fn run(a: &DictionaryArgs, overwrite: Overwrite) -> Result<()> {
    check_outputs(overwrite, [a.out.as_path()])?;
    anyhow::ensure!(a.k > 0, "--k must be at least 1");
    let input = preprocess::load_input(&a.image)?;
    let net = load_network(&a.net)?.net;
    let (id, maps) = layer_maps(&net, &input, &a.layer)?;
    let t = Instant::now();
    let fires = dictionary(&maps, a.k);
    let top_ms = t.elapsed().as_secs_f64() * 1e3;
    let icons = featurescope_app::services::icons::icon_dir(net.weights());
    let (mut cached, mut colours) = (0, 0);
    let mut picture = |c: usize| {
        let icon = icons
            .as_deref()
            .and_then(|d| featurescope_app::services::icons::cached(d, &id, c));
        match icon {
            Some(_) => cached += 1,
            None => colours += 1,
        }
        icon
    };
    let cell = a
        .cell_px
        .unwrap_or_else(|| featurescope_app::services::layer_views::dictionary_cell_px(maps.width))
        .max(1);
    let img = render_dictionary(
        &fires,
        (maps.height, maps.width),
        cell,
        &input.crop,
        &mut picture,
    );
    let draw_ms = t.elapsed().as_secs_f64() * 1e3 - top_ms;
    let (width, height) = img.dimensions();
    featurescope_maps::save_image(&a.out, &img.into(), overwrite)?;
    if a.json {
        println!("{}", to_json(&id, &fires));
    }
    eprintln!(
        "wrote {} ({width}x{height}: {} positions of {id}, {} channels each; pictures: {cached} cached \
         feature visualizations, {colours} colours; top k {top_ms:.1} ms, figure {draw_ms:.0} ms)",
        a.out.display(),
        fires.len(),
        a.k.min(maps.channels)
    );
    Ok(())
}
