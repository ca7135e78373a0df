//! `featurescope dump`: every tapped layer (or the ones asked for) as `<layer id>.npy`
//! (float32, NCHW), plus the head's probabilities as `head.npy`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use featurescope_maps::Overwrite;
use featurescope_net::{Activations, TapRequest, preprocess};

use crate::common::{NetArgs, check_outputs, load_network, progress};

/// Arguments of `dump`.
#[derive(clap::Args, Debug)]
pub(crate) struct DumpArgs {
    /// The image.
    #[arg(long)]
    image: PathBuf,
    /// Output folder (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Only these layers (comma-separated ids or Keras aliases).
    #[arg(long, value_delimiter = ',')]
    layers: Option<Vec<String>>,
    #[command(flatten)]
    net: NetArgs,
}

/// Run `dump`.
pub(crate) fn run(a: &DumpArgs, overwrite: Overwrite) -> Result<()> {
    let input = preprocess::load_input(&a.image)?;
    let request = match &a.layers {
        Some(l) => TapRequest::layers(l.clone())?.with_head(false),
        None => TapRequest::all(),
    };
    let net = load_network(&a.net)?.net;
    let acts = net.run(&input, &request)?;
    // Nothing is written when any output exists (no half-replaced dump).
    let targets: Vec<PathBuf> = acts
        .layers
        .iter()
        .map(|l| a.out.join(format!("{}.npy", l.id)))
        .chain(acts.head.as_ref().map(|_| a.out.join("head.npy")))
        .collect();
    check_outputs(overwrite, targets.iter().map(PathBuf::as_path))?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    write(&acts, &a.out, overwrite)?;
    eprintln!(
        "wrote {} layers{} to {}",
        acts.layers.len(),
        if acts.head.is_some() {
            " + head.npy"
        } else {
            ""
        },
        a.out.display()
    );
    Ok(())
}

/// Write the layers and the head (printing the top predictions) into `out`.
fn write(acts: &Activations, out: &Path, overwrite: Overwrite) -> Result<()> {
    let bar = progress(acts.layers.len(), "writing");
    for l in &acts.layers {
        let shape: Vec<u64> = l.shape.iter().map(|&d| d as u64).collect();
        featurescope_maps::write_npy(
            &out.join(format!("{}.npy", l.id)),
            &shape,
            &l.data,
            overwrite,
        )?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    if let Some(head) = &acts.head {
        featurescope_maps::write_npy(
            &out.join("head.npy"),
            &[1, head.probabilities.len() as u64],
            &head.probabilities,
            overwrite,
        )?;
        let top: Vec<String> = head
            .top_k(3)
            .into_iter()
            .map(|(_, label, p)| format!("{label} {:.1} %", p * 100.0))
            .collect();
        eprintln!("predictions: {}", top.join(", "));
    }
    Ok(())
}
