//! TensorFlow.js layers-format importer (`model.json` + binary weight shards).
//!
//! Reads the Keras topology to find the Conv2D / BatchNormalization / Dense layers in creation
//! order (Keras' InceptionV3 creates them in torchvision's module order, so the N-th conv is
//! catalogue conv N), reads the `weightsManifest` shards in order and dequantizes each entry
//! (uint8 / uint16 affine `q * scale + min`, float16, or raw float32), then maps every tensor onto
//! the burn module's parameter path.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use burn::tensor::Device;

use crate::error::NetError;
use crate::model::{HeadSpec, InceptionV3};
use crate::weights::keras::{self, Param, Plan};
use crate::weights::{
    Imported, Importer, NamedTensor, WeightsFormat, WeightsInfo, WeightsSource, element_count,
    f32_le,
};

/// TF.js layers models: a `model.json` beside its shards (the bundled model's format).
pub(crate) struct TfjsImporter;

impl Importer for TfjsImporter {
    fn format(&self) -> WeightsFormat {
        WeightsFormat::TfjsLayers
    }
    fn extensions(&self) -> &'static [&'static str] {
        &["json"]
    }
    fn sniff(&self, head: &[u8]) -> bool {
        head.first() == Some(&b'{')
    }
    fn load(&self, path: &Path, device: &Device) -> Result<(InceptionV3, WeightsInfo), NetError> {
        let source = WeightsSource::File(path.to_path_buf());
        build_import(path, import(path)?, &source, device)
    }
}

/// Build the model from a TF.js import (a file's or the bundle's): Keras semantics.
pub(crate) fn build_import(
    path: &Path,
    import: TfjsImport,
    source: &WeightsSource,
    device: &Device,
) -> Result<(InceptionV3, WeightsInfo), NetError> {
    let imported = Imported::keras(import.tensors, import.head);
    crate::weights::build(path, source, WeightsFormat::TfjsLayers, imported, device)
}

#[derive(Deserialize)]
struct ModelJson {
    #[serde(rename = "modelTopology")]
    model_topology: Value,
    #[serde(rename = "weightsManifest")]
    weights_manifest: Vec<ManifestGroup>,
}

#[derive(Deserialize)]
struct ManifestGroup {
    paths: Vec<String>,
    weights: Vec<ManifestEntry>,
}

#[derive(Deserialize)]
struct ManifestEntry {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    #[serde(default)]
    quantization: Option<Quantization>,
}

#[derive(Deserialize)]
struct Quantization {
    dtype: String,
    #[serde(default)]
    min: Option<f64>,
    #[serde(default)]
    scale: Option<f64>,
}

/// The most shard bytes one model may hold (Inception-V3 in float32 is about 100 MB).
pub const MAX_WEIGHT_BYTES: usize = 1 << 30;

/// What the importer produced: tensors named by burn parameter path, and the model's shape.
pub struct TfjsImport {
    /// Tensors in burn layout, named by module path (`Mixed_5b.branch1x1.conv.weight`, …).
    pub tensors: Vec<NamedTensor>,
    /// The head the weights carry.
    pub head: HeadSpec,
}

fn f16_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits >> 15) << 31;
    let exp = (bits >> 10) & 0x1f;
    let frac = u32::from(bits & 0x3ff);
    let value = match exp {
        0 => {
            // Subnormal: frac * 2^-24.
            let v = frac as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
        0x1f => sign | 0x7f80_0000 | (frac << 13),
        e => sign | ((u32::from(e) + 112) << 23) | (frac << 13),
    };
    f32::from_bits(value)
}

/// Decode one manifest entry from `bytes` starting at `*offset`.
fn decode(
    path: &Path,
    entry: &ManifestEntry,
    bytes: &[u8],
    offset: &mut usize,
) -> Result<Vec<f32>, NetError> {
    // A crafted shape must not overflow: its element count is checked, never wrapped.
    let n = element_count(&entry.shape).ok_or_else(|| {
        NetError::bad_weights(
            path,
            format!(
                "tensor `{}` claims shape {:?}, larger than any weight file featurescope reads",
                entry.name, entry.shape
            ),
        )
    })?;
    let mut shard = Shard {
        path,
        entry,
        bytes,
        offset,
        n,
    };
    match &entry.quantization {
        None if entry.dtype == "float32" => Ok(f32_le(shard.take(4)?)),
        None => Err(NetError::bad_weights(
            path,
            format!(
                "tensor `{}` has unsupported dtype {}",
                entry.name, entry.dtype
            ),
        )),
        Some(q) => dequantize(&mut shard, q),
    }
}

/// The concatenated shards of a manifest group, read entry by entry.
struct Shard<'a> {
    path: &'a Path,
    entry: &'a ManifestEntry,
    bytes: &'a [u8],
    offset: &'a mut usize,
    /// The entry's element count.
    n: usize,
}

impl<'a> Shard<'a> {
    /// The entry's bytes at `width` bytes per element; the offset moves past them.
    fn take(&mut self, width: usize) -> Result<&'a [u8], NetError> {
        let need = self.n.saturating_mul(width);
        let start = *self.offset;
        let end = start
            .checked_add(need)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                NetError::bad_weights(
                    self.path,
                    format!(
                        "weight shards end before tensor `{}` (need {need} bytes at offset {start}, have {}): truncated or missing shard",
                        self.entry.name,
                        self.bytes.len()
                    ),
                )
            })?;
        *self.offset = end;
        Ok(&self.bytes[start..end])
    }
}

/// A quantized entry's values. TF.js dequantizes in double precision and stores float32:
/// value = q * scale + min; float16 is converted as is.
fn dequantize(shard: &mut Shard<'_>, q: &Quantization) -> Result<Vec<f32>, NetError> {
    let (path, entry) = (shard.path, shard.entry);
    let name = &entry.name;
    let affine = |qv: f64| -> Result<f32, NetError> {
        match (q.scale, q.min) {
            (Some(s), Some(m)) => Ok((qv * s + m) as f32),
            _ => Err(NetError::bad_weights(
                path,
                format!("tensor `{name}`: quantization without scale/min"),
            )),
        }
    };
    match q.dtype.as_str() {
        "uint8" => shard
            .take(1)?
            .iter()
            .map(|&b| affine(f64::from(b)))
            .collect(),
        "uint16" => shard
            .take(2)?
            .chunks_exact(2)
            .map(|c| affine(f64::from(u16::from_le_bytes([c[0], c[1]]))))
            .collect(),
        "float16" => Ok(shard
            .take(2)?
            .chunks_exact(2)
            .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
            .collect()),
        other => Err(NetError::bad_weights(
            path,
            format!("tensor `{name}` has unsupported quantization {other}"),
        )),
    }
}

/// Import a TF.js layers model of Inception-V3 from `model.json` and the shards beside it.
pub fn import(path: &Path) -> Result<TfjsImport, NetError> {
    let text = std::fs::read_to_string(path).map_err(|e| NetError::io(path, e))?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    import_from(path, &text, &mut |shard| {
        let shard_path: PathBuf = dir.join(shard);
        std::fs::read(&shard_path).map(Cow::Owned).map_err(|e| {
            NetError::bad_weights(
                path,
                format!(
                    "cannot read weight shard `{shard}`: {e} ({})",
                    shard_path.display()
                ),
            )
        })
    })
}

/// Reads one weight shard named in the manifest.
pub type ShardReader<'a> = dyn FnMut(&str) -> Result<Cow<'static, [u8]>, NetError> + 'a;

/// Import a TF.js layers model from its `model.json` text, reading shards through `shard`
/// (files beside it, or bytes compiled into the binary). `path` names the model in errors.
pub fn import_from(
    path: &Path,
    text: &str,
    shard: &mut ShardReader<'_>,
) -> Result<TfjsImport, NetError> {
    let model: ModelJson = serde_json::from_str(text)
        .map_err(|e| NetError::bad_weights(path, format!("not a TF.js layers model.json: {e}")))?;
    let config = model
        .model_topology
        .get("model_config")
        .unwrap_or(&model.model_topology);
    let plan = Plan::from_config(path, config)?;
    let mut tensors = Vec::new();
    let mut total = 0usize;
    for group in &model.weights_manifest {
        let mut bytes = Vec::new();
        for name in &group.paths {
            let data = shard(name)?;
            total += data.len();
            if total > MAX_WEIGHT_BYTES {
                return Err(NetError::bad_weights(
                    path,
                    format!(
                        "the manifest's shards add up to over {} MiB, more than any Inception-V3 (shard `{name}`)",
                        MAX_WEIGHT_BYTES >> 20
                    ),
                ));
            }
            bytes.extend_from_slice(&data);
        }
        let mut offset = 0usize;
        for entry in &group.weights {
            let values = decode(path, entry, &bytes, &mut offset)?;
            let (layer, param) = entry.name.rsplit_once('/').unwrap_or(("", &entry.name));
            // Layer names may carry a scope prefix (`model_1/conv2d_1`): match the last part.
            let layer = layer.rsplit('/').next().unwrap_or(layer);
            let Some(prefix) = plan.target_named(layer) else {
                return Err(NetError::bad_weights(
                    path,
                    format!(
                        "tensor `{}` belongs to no layer of Inception-V3",
                        entry.name
                    ),
                ));
            };
            let Some(param) = Param::from_name(param) else {
                return Err(NetError::bad_weights(
                    path,
                    format!("tensor `{}`: unknown parameter kind {param}", entry.name),
                ));
            };
            tensors.push(keras::named(prefix, param, entry.shape.clone(), values));
        }
        if offset != bytes.len() {
            return Err(NetError::bad_weights(
                path,
                format!(
                    "weight shards hold {} bytes but the manifest describes {offset}: wrong or damaged shards",
                    bytes.len()
                ),
            ));
        }
    }
    keras::complete_gammas(&mut tensors);
    Ok(TfjsImport {
        tensors,
        head: plan.head,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_decoding() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0000), 0.0);
        assert!((f16_to_f32(0x0001) - 5.960_464_5e-8).abs() < 1e-12);
    }
}
