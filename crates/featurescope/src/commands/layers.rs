//! `featurescope layers`: the layer tree (ids, Keras aliases, kinds, kernels, output shapes,
//! the 48-deep path marked), or the same as JSON.

use anyhow::Result;
use featurescope_net::catalogue::BlockInfo;
use featurescope_net::{Catalogue, LayerInfo};

/// Arguments of `layers`.
#[derive(clap::Args, Debug)]
pub(crate) struct LayersArgs {
    /// Print JSON instead of the tree.
    #[arg(long)]
    json: bool,
}

/// Run `layers`.
pub(crate) fn run(a: &LayersArgs) -> Result<()> {
    let cat = Catalogue::inception_v3();
    if a.json {
        let layers: Vec<_> = cat
            .layers
            .iter()
            .map(|l| {
                serde_json::json!({
                    "id": l.id, "kind": l.kind.name(), "shape": l.shape, "keras": l.keras,
                    "kernel": l.kernel, "stride": l.stride, "on_longest_path": l.on_longest_path,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&layers)?);
        return Ok(());
    }
    let mut out = vec![format!(
        "Inception-V3: {} tapped layers; * = on the {}-layer-deep longest path (convs + fc)",
        cat.layers.len(),
        cat.longest_path
    )];
    out.push(format!(
        "    {:<34} {:<8} {:<7} {:>13}  keras",
        "id", "kind", "k/s", "CxHxW (299)"
    ));
    for b in &cat.blocks {
        block_lines(cat, b, &mut out);
    }
    out.push("* head (fc or the weights' dense head)".into());
    println!("{}", out.join("\n"));
    Ok(())
}

fn shape_str(l: &LayerInfo) -> String {
    format!("{}x{}x{}", l.shape[0], l.shape[1], l.shape[2])
}

fn layer_line(l: &LayerInfo, indent: &str) -> String {
    let mark = if l.on_longest_path { "*" } else { " " };
    let geometry = match (l.kernel, l.stride) {
        (Some(k), Some(s)) if l.kind != featurescope_net::LayerKind::Concat => {
            format!("{}x{}/{}", k[0], k[1], s[0])
        }
        _ => String::new(),
    };
    format!(
        "{mark} {indent}{:<34} {:<8} {:<7} {:>13}  {}",
        l.id,
        l.kind.name(),
        geometry,
        shape_str(l),
        l.keras
    )
}

fn block_lines(cat: &Catalogue, b: &BlockInfo, out: &mut Vec<String>) {
    out.push(format!("  {} ({:?})", b.id, b.kind));
    for br in &b.branches {
        if b.branches.len() > 1 {
            out.push(format!("    {}", br.name));
        }
        let indent = if b.branches.len() > 1 { "    " } else { "  " };
        for &i in &br.layers {
            out.push(layer_line(&cat.layers[i], indent));
        }
    }
    if let Some(o) = b.output {
        out.push(layer_line(&cat.layers[o], "  "));
    }
}
