//! `featurescope render`: every filter of one layer as a labelled, colormapped tile grid (PNG).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use featurescope_maps::{Colormap, GridOptions, LayerMaps, NormSettings, Normalization, Overwrite};
use featurescope_net::{Catalogue, LayerInfo, NetError, TapRequest, preprocess};

use crate::common::{NetArgs, check_outputs, load_network};

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Norm {
    /// Each tile uses its own min..max.
    Tile,
    /// All tiles share the layer's min..max.
    Layer,
}

/// Arguments of `render`.
#[derive(clap::Args, Debug)]
pub(crate) struct RenderArgs {
    /// The image.
    #[arg(long)]
    image: PathBuf,
    /// Layer id or Keras alias.
    #[arg(long)]
    layer: String,
    /// Output PNG.
    #[arg(long)]
    out: PathBuf,
    /// viridis, magma, inferno, plasma, turbo, cividis, grayscale, diverging.
    #[arg(long, default_value = "viridis")]
    colormap: String,
    /// Normalise per tile or per layer.
    #[arg(long, value_enum, default_value_t = Norm::Layer)]
    norm: Norm,
    /// Pre-ReLU values (convs only; drawn with a diverging map unless --colormap says otherwise).
    #[arg(long)]
    pre_relu: bool,
    /// Tile side in pixels.
    #[arg(long, default_value_t = 96)]
    tile_px: u32,
    #[command(flatten)]
    net: NetArgs,
}

/// Run `render`.
pub(crate) fn run(a: &RenderArgs, overwrite: Overwrite) -> Result<()> {
    check_outputs(overwrite, [a.out.as_path()])?;
    let info = Catalogue::inception_v3()
        .resolve(&a.layer)
        .ok_or_else(|| NetError::UnknownLayer(a.layer.clone()))?;
    let colormap = colormap(a)?;
    let input = preprocess::load_input(&a.image)?;
    let mut request = TapRequest::layers([info.id.as_str()])?;
    if a.pre_relu {
        request = request.with_pre_relu([info.id.as_str()])?;
    }
    let net = load_network(&a.net)?.net;
    let acts = net.run(&input, &request)?;
    let data = if a.pre_relu {
        acts.get_pre_relu(&info.id)
    } else {
        acts.get(&info.id)
    }
    .with_context(|| format!("layer {} was not produced", info.id))?;
    let [_, c, h, w] = data.shape;
    let maps = LayerMaps::new(c, h, w, data.data.clone())?;
    let opts = grid_options(a, info, colormap, [c, h, w]);
    let grid = image::DynamicImage::from(featurescope_maps::render_grid(&maps, &opts)?);
    featurescope_maps::save_image(&a.out, &grid, overwrite)?;
    eprintln!(
        "wrote {} ({}x{}, {c} tiles)",
        a.out.display(),
        grid.width(),
        grid.height()
    );
    Ok(())
}

/// The colormap asked for; pre-ReLU values get the diverging map unless one was named.
fn colormap(a: &RenderArgs) -> Result<Colormap> {
    let Some(colormap) = Colormap::from_name(&a.colormap) else {
        let names: Vec<_> = Colormap::ALL.iter().map(|c| c.name()).collect();
        bail!(
            "unknown colormap `{}` (one of: {})",
            a.colormap,
            names.join(", ")
        );
    };
    Ok(if a.pre_relu && a.colormap == "viridis" {
        Colormap::Diverging
    } else {
        colormap
    })
}

/// The grid's layout, normalisation and title (`<id> (<alias>)  CxHxW  <colormap>  <norm>`).
fn grid_options(
    a: &RenderArgs,
    info: &LayerInfo,
    colormap: Colormap,
    [c, h, w]: [usize; 3],
) -> GridOptions {
    let norm = NormSettings {
        mode: match a.norm {
            Norm::Tile => Normalization::PerTile,
            Norm::Layer => Normalization::PerLayer,
        },
        clip_percentile: None,
        symmetric: colormap.is_diverging(),
    };
    let what = if a.pre_relu { "pre-ReLU" } else { "" };
    GridOptions {
        tile_px: a.tile_px,
        colormap,
        norm,
        title: Some(format!(
            "{} ({})  {c}x{h}x{w} {what}  {}  {}",
            info.id,
            info.keras,
            colormap.name(),
            match a.norm {
                Norm::Tile => "per-tile",
                Norm::Layer => "per-layer",
            }
        )),
        ..GridOptions::default()
    }
}
