//! Keras HDF5 (`.h5` from `model.save` / `save_weights`, Keras 2 and 3) and Keras 3 archives
//! (`.keras`: `config.json` + `model.weights.h5` in a zip), read with the pure-Rust
//! `hdf5-pure` reader. The model config's graph (see [`keras`]) says which layer is which;
//! weights are found by name in `.h5` files and by position (`layers/<class>_k/vars/i`) in
//! `.keras` archives, whose `_k` counters are not the layers' name numbers.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use burn::tensor::Device;
use serde_json::Value;

use crate::error::NetError;
use crate::model::InceptionV3;
use crate::weights::keras::{self, Param, Plan, WeightsKind};
use crate::weights::tfjs::MAX_WEIGHT_BYTES;
use crate::weights::{
    Imported, Importer, NamedTensor, WeightsFormat, WeightsInfo, WeightsSource, build,
};
use crate::weights::{element_count, read_capped};

/// HDF5's 8-byte signature.
pub const SIGNATURE: &[u8] = b"\x89HDF\r\n\x1a\n";

/// Keras `.h5`.
pub struct KerasH5Importer;
/// Keras 3 `.keras`.
pub struct KerasArchiveImporter;

impl Importer for KerasH5Importer {
    fn format(&self) -> WeightsFormat {
        WeightsFormat::KerasH5
    }
    fn extensions(&self) -> &'static [&'static str] {
        &["h5", "hdf5"]
    }
    fn sniff(&self, head: &[u8]) -> bool {
        head.starts_with(SIGNATURE)
    }
    fn load(&self, path: &Path, device: &Device) -> Result<(InceptionV3, WeightsInfo), NetError> {
        let imported = import_h5(path, read_capped(path)?)?;
        let source = WeightsSource::File(path.to_path_buf());
        build(path, &source, self.format(), imported, device)
    }
}

impl Importer for KerasArchiveImporter {
    fn format(&self) -> WeightsFormat {
        WeightsFormat::Keras
    }
    fn extensions(&self) -> &'static [&'static str] {
        &["keras"]
    }
    /// A zip whose first entry is Keras' `metadata.json`, `config.json` or weights.
    fn sniff(&self, head: &[u8]) -> bool {
        head.starts_with(b"PK\x03\x04")
            && head.len() > 30
            && [&b"metadata.json"[..], b"config.json", b"model.weights"]
                .iter()
                .any(|n| head[30..].starts_with(n))
    }
    fn load(&self, path: &Path, device: &Device) -> Result<(InceptionV3, WeightsInfo), NetError> {
        let imported = import_keras(path, read_capped(path)?)?;
        let source = WeightsSource::File(path.to_path_buf());
        build(path, &source, self.format(), imported, device)
    }
}

fn open(path: &Path, bytes: Vec<u8>, what: &str) -> Result<hdf5_pure::File, NetError> {
    if !bytes.starts_with(SIGNATURE) {
        return Err(NetError::bad_weights(
            path,
            format!("{what} is not an HDF5 file (no HDF5 signature)"),
        ));
    }
    hdf5_pure::File::from_bytes(bytes)
        .map_err(|e| NetError::bad_weights(path, format!("{what}: damaged HDF5 ({e})")))
}

fn attr_string(value: &hdf5_pure::AttrValue) -> Option<String> {
    use hdf5_pure::AttrValue as A;
    match value {
        A::String(s) | A::AsciiString(s) | A::VarLenString(s) | A::VarLenAsciiString(s) => {
            Some(s.clone())
        }
        A::VarLenAsciiCharArray(parts) if parts.len() == 1 => Some(parts[0].clone()),
        A::StringSized { value, .. } | A::AsciiStringSized { value, .. } => Some(value.clone()),
        A::U8Array(bytes) => String::from_utf8(bytes.clone()).ok(),
        _ => None,
    }
}

/// Every float dataset under `group`, by (layer name, weight role), with its full path.
fn index_datasets(
    file: &hdf5_pure::File,
    group: &str,
    out: &mut HashMap<(String, Param), Vec<String>>,
    depth: usize,
) -> Result<(), hdf5_pure::Error> {
    if depth > 8 {
        return Ok(());
    }
    let g = file.group(group)?;
    let join = |n: &str| {
        if group == "/" || group.is_empty() {
            n.to_string()
        } else {
            format!("{group}/{n}")
        }
    };
    for name in g.datasets()? {
        let full = join(&name);
        let mut parts = full.rsplit('/');
        let (Some(last), Some(layer)) = (parts.next(), parts.next()) else {
            continue;
        };
        if let Some(param) = Param::from_name(last) {
            out.entry((layer.to_string(), param))
                .or_default()
                .push(full);
        }
    }
    for name in g.groups()? {
        index_datasets(file, &join(&name), out, depth + 1)?;
    }
    Ok(())
}

fn read_dataset(
    path: &Path,
    file: &hdf5_pure::File,
    name: &str,
) -> Result<(Vec<usize>, Vec<f32>), NetError> {
    let fail = |e: hdf5_pure::Error| NetError::bad_weights(path, format!("dataset `{name}`: {e}"));
    let ds = file.dataset(name).map_err(fail)?;
    let shape: Vec<usize> = ds
        .shape()
        .map_err(fail)?
        .into_iter()
        .map(|d| d as usize)
        .collect();
    let n = element_count(&shape).ok_or_else(|| {
        NetError::bad_weights(path, format!("dataset `{name}` claims shape {shape:?}"))
    })?;
    let data = ds.read_f32().map_err(fail)?;
    if data.len() != n {
        return Err(NetError::bad_weights(
            path,
            format!(
                "dataset `{name}` holds {} values for shape {shape:?}",
                data.len()
            ),
        ));
    }
    Ok((shape, data))
}

fn has_config(file: &hdf5_pure::File) -> bool {
    file.root()
        .attrs()
        .is_ok_and(|a| a.contains_key("model_config"))
}

/// One weight of a weights-only file: its role and dataset path.
type LayerWeights = Vec<(Param, String)>;

/// The layers of a weights-only file: Keras 2 `save_weights` (`<layer>/<layer>/kernel:0`,
/// names kept) or Keras 3 `.weights.h5` (`layers/<class>_k/vars/i`, the name in the `vars`
/// group's `name` attribute).
fn weights_only_layers(
    file: &hdf5_pure::File,
) -> Result<HashMap<String, LayerWeights>, hdf5_pure::Error> {
    let mut layers: HashMap<String, LayerWeights> = HashMap::new();
    if file.group("layers").is_ok() {
        keras3_layers(file, "layers", &mut layers, 0)?;
    } else {
        let mut index = HashMap::new();
        index_datasets(file, "/", &mut index, 0)?;
        for ((layer, param), paths) in index {
            if let Some(p) = paths.into_iter().next() {
                layers.entry(layer).or_default().push((param, p));
            }
        }
    }
    Ok(layers)
}

fn keras3_layers(
    file: &hdf5_pure::File,
    group: &str,
    out: &mut HashMap<String, LayerWeights>,
    depth: usize,
) -> Result<(), hdf5_pure::Error> {
    if depth > 8 {
        return Ok(());
    }
    for key in file.group(group)?.groups()? {
        let layer = format!("{group}/{key}");
        if file.group(&format!("{layer}/layers")).is_ok() {
            keras3_layers(file, &format!("{layer}/layers"), out, depth + 1)?;
            continue;
        }
        let Ok(vars) = file.group(&format!("{layer}/vars")) else {
            continue;
        };
        let name = vars
            .attrs()?
            .get("name")
            .and_then(attr_string)
            .unwrap_or_default();
        let mut n: Vec<String> = vars.datasets()?;
        n.sort_by_key(|v| v.parse::<usize>().unwrap_or(usize::MAX));
        let class = key.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_');
        let roles: &[Param] = match (class, n.len()) {
            ("conv2d" | "dense", 1) => &[Param::Kernel],
            ("conv2d" | "dense", 2) => &[Param::Kernel, Param::Bias],
            ("batch_normalization", 3) => &[Param::Beta, Param::MovingMean, Param::MovingVariance],
            ("batch_normalization", 4) => &[
                Param::Gamma,
                Param::Beta,
                Param::MovingMean,
                Param::MovingVariance,
            ],
            _ => continue,
        };
        let name = if name.is_empty() { key.clone() } else { name };
        let weights = roles
            .iter()
            .zip(&n)
            .map(|(r, v)| (*r, format!("{layer}/vars/{v}")))
            .collect();
        out.insert(name, weights);
    }
    Ok(())
}

/// A weights-only `.h5`: no graph, so layers are mapped by their creation counters.
fn import_weights_only(path: &Path, file: &hdf5_pure::File) -> Result<Imported, NetError> {
    let layers = weights_only_layers(file)
        .map_err(|e| NetError::bad_weights(path, format!("damaged HDF5 ({e})")))?;
    if file.group("layers").is_ok() && layers.keys().any(|k| k.starts_with("layers/")) {
        return Err(NetError::bad_weights(
            path,
            "a Keras 3 weights file without layer names (written before Keras 3.x stored them) and without the model's config: save the whole model with `model.save(\"model.keras\")`",
        ));
    }
    let mut kinds = Vec::new();
    for (name, weights) in &layers {
        let kernel = weights.iter().find(|w| w.0 == Param::Kernel);
        let kind = if weights.iter().any(|w| w.0 == Param::MovingMean) {
            Some((WeightsKind::BatchNorm, 0))
        } else if let Some((_, p)) = kernel {
            let shape = file
                .dataset(p)
                .and_then(|d| d.shape())
                .map_err(|e| NetError::bad_weights(path, format!("dataset `{p}`: {e}")))?;
            match shape.as_slice() {
                [_, _, _, _] => Some((WeightsKind::Conv, 0)),
                [_, units] => Some((WeightsKind::Dense, *units as usize)),
                _ => None,
            }
        } else {
            None
        };
        if let Some((k, units)) = kind {
            kinds.push((name.clone(), k, units));
        }
    }
    let (targets, head) = keras::plan_by_creation(path, &kinds)?;
    let mut tensors = Vec::new();
    for (name, prefix) in &targets {
        for (param, p) in layers.get(name).into_iter().flatten() {
            let (shape, data) = read_dataset(path, file, p)?;
            tensors.push(keras::named(prefix, *param, shape, data));
        }
    }
    keras::complete_gammas(&mut tensors);
    let mut imported = Imported::keras(tensors, head);
    imported.head_kind =
        "Keras dense head from a weights-only file (activations assumed: relu, softmax last)"
            .into();
    Ok(imported)
}

/// The model config stored in a Keras `.h5` (`model_config`, JSON).
fn h5_config(path: &Path, file: &hdf5_pure::File) -> Result<Value, NetError> {
    let attrs = file
        .root()
        .attrs()
        .map_err(|e| NetError::bad_weights(path, format!("damaged HDF5 ({e})")))?;
    let Some(text) = attrs.get("model_config").and_then(attr_string) else {
        let what = if file.group("model_weights").is_ok() || attrs.contains_key("layer_names") {
            "a Keras weights-only file (`save_weights`) without the model's config: featurescope needs the graph to know which layer is which; save the whole model with `model.save(\"model.h5\")` or `.keras`"
        } else {
            "not a Keras model file: no `model_config` attribute"
        };
        return Err(NetError::bad_weights(path, what));
    };
    serde_json::from_str(&text)
        .map_err(|e| NetError::bad_weights(path, format!("damaged `model_config` JSON: {e}")))
}

/// Import a Keras `.h5` from its bytes.
pub fn import_h5(path: &Path, bytes: Vec<u8>) -> Result<Imported, NetError> {
    let file = open(path, bytes, "the file")?;
    if !has_config(&file) {
        return import_weights_only(path, &file);
    }
    let config = h5_config(path, &file)?;
    let plan = Plan::from_config(path, &config)?;
    let root = if file.group("model_weights").is_ok() {
        "model_weights"
    } else {
        "/"
    };
    let mut index = HashMap::new();
    index_datasets(&file, root, &mut index, 0)
        .map_err(|e| NetError::bad_weights(path, format!("damaged HDF5 ({e})")))?;
    let mut tensors = Vec::new();
    for (layer, prefix) in plan.targeted() {
        for param in keras::keras3_vars(layer) {
            let Some(candidates) = index.get(&(layer.name.clone(), param)) else {
                return Err(NetError::bad_weights(
                    path,
                    format!(
                        "no {param:?} weight for layer `{}` (Inception-V3's `{prefix}`)",
                        layer.name
                    ),
                ));
            };
            // A name used in two nested models: the one under this layer's scopes.
            let name = candidates
                .iter()
                .find(|c| layer.scopes.iter().all(|s| c.split('/').any(|p| p == s)))
                .unwrap_or(&candidates[0]);
            let (shape, data) = read_dataset(path, &file, name)?;
            tensors.push(keras::named(prefix, param, shape, data));
        }
    }
    finish(tensors, plan)
}

/// Import a Keras 3 `.keras` archive from its bytes.
pub fn import_keras(path: &Path, bytes: Vec<u8>) -> Result<Imported, NetError> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| NetError::bad_weights(path, format!("not a Keras archive (zip): {e}")))?;
    let mut entry = |name: &str| -> Result<Vec<u8>, NetError> {
        let mut f = zip.by_name(name).map_err(|e| {
            NetError::bad_weights(path, format!("not a Keras archive: no `{name}` ({e})"))
        })?;
        if f.size() > MAX_WEIGHT_BYTES as u64 {
            return Err(NetError::bad_weights(
                path,
                format!("`{name}` is too large"),
            ));
        }
        let mut out = Vec::with_capacity(f.size() as usize);
        f.read_to_end(&mut out)
            .map_err(|e| NetError::bad_weights(path, format!("damaged `{name}`: {e}")))?;
        Ok(out)
    };
    let config: Value = serde_json::from_slice(&entry("config.json")?)
        .map_err(|e| NetError::bad_weights(path, format!("damaged `config.json`: {e}")))?;
    let weights = entry("model.weights.h5")?;
    let plan = Plan::from_config(path, &config)?;
    let file = open(path, weights, "`model.weights.h5`")?;
    let mut tensors = Vec::new();
    for (layer, prefix) in plan.targeted() {
        for (i, param) in keras::keras3_vars(layer).into_iter().enumerate() {
            let name = format!("{}/vars/{i}", layer.store_path);
            if file.dataset(&name).is_err() {
                return Err(NetError::bad_weights(
                    path,
                    format!(
                        "no weight `{name}` for layer `{}` (Inception-V3's `{prefix}`)",
                        layer.name
                    ),
                ));
            }
            let (shape, data) = read_dataset(path, &file, &name)?;
            tensors.push(keras::named(prefix, param, shape, data));
        }
    }
    finish(tensors, plan)
}

fn finish(mut tensors: Vec<NamedTensor>, plan: Plan) -> Result<Imported, NetError> {
    keras::complete_gammas(&mut tensors);
    Ok(Imported::keras(tensors, plan.head))
}
