//! ONNX exports of torchvision's `inception_v3` (`torch.onnx.export`). The exporter folds each
//! BatchNorm into its conv (weights + bias) and renames the initializers (`onnx::Conv_N`), so
//! the i-th `Conv` node is the i-th conv of the architecture, checked by shape; a graph that kept
//! its `BatchNormalization` nodes is read too. The classifier is the last `Gemm` (or `MatMul` +
//! `Add`). Average pools follow the file's `count_include_pad`. Ops before the first conv
//! (torchvision's `transform_input`) map ImageNet-normalised pixels to `x / 127.5 − 1`, which is
//! the network's own input, so they are not run.
//!
//! The messages are declared here with prost's derive, only the fields read.

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::Device;
use prost::Message;

use crate::catalogue::Catalogue;
use crate::error::NetError;
use crate::model::{BN_EPSILON, HeadSpec, InceptionV3, Variant};
use crate::preprocess::Normalization;
use crate::weights::{
    Imported, Importer, NamedTensor, WeightsFormat, WeightsInfo, WeightsSource, build, folded_bn,
};
use crate::weights::{element_count, f32_le, read_capped};

/// `onnx.ModelProto` (fields read).
#[derive(Clone, PartialEq, Message)]
pub struct ModelProto {
    /// The graph.
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
}

/// `onnx.GraphProto` (fields read).
#[derive(Clone, PartialEq, Message)]
pub struct GraphProto {
    /// Nodes, in topological order.
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    /// Weights.
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
}

/// `onnx.NodeProto` (fields read).
#[derive(Clone, PartialEq, Message)]
pub struct NodeProto {
    /// Inputs.
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    /// Outputs.
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    /// Name.
    #[prost(string, tag = "3")]
    pub name: String,
    /// Operator.
    #[prost(string, tag = "4")]
    pub op_type: String,
    /// Attributes.
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
}

/// `onnx.AttributeProto` (fields read).
#[derive(Clone, PartialEq, Message)]
pub struct AttributeProto {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Float.
    #[prost(float, tag = "2")]
    pub f: f32,
    /// Integer.
    #[prost(int64, tag = "3")]
    pub i: i64,
    /// Tensor (a `Constant`'s value).
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
}

/// `onnx.TensorProto` (fields read).
#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    /// Shape.
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    /// Element type (1 = float).
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    /// Float values.
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    /// Name.
    #[prost(string, tag = "8")]
    pub name: String,
    /// Raw little-endian values.
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
    /// 1 when the values live in another file.
    #[prost(int32, tag = "14")]
    pub data_location: i32,
}

const FLOAT: i32 = 1;

/// ONNX.
pub struct OnnxImporter;

impl Importer for OnnxImporter {
    fn format(&self) -> WeightsFormat {
        WeightsFormat::Onnx
    }
    fn extensions(&self) -> &'static [&'static str] {
        &["onnx"]
    }
    /// A ModelProto starts with its IR version (field 1, varint 3..=12).
    fn sniff(&self, head: &[u8]) -> bool {
        matches!(head, [0x08, 3..=12, 0x12 | 0x1a | 0x22 | 0x3a | 0x42, ..])
    }
    fn load(&self, path: &Path, device: &Device) -> Result<(InceptionV3, WeightsInfo), NetError> {
        let bytes = read_capped(path)?;
        let imported = import(path, &bytes)?;
        let source = WeightsSource::File(path.to_path_buf());
        build(path, &source, self.format(), imported, device)
    }
}

struct Weights<'a> {
    path: &'a Path,
    by_name: HashMap<&'a str, &'a TensorProto>,
}

impl<'a> Weights<'a> {
    fn new(path: &'a Path, graph: &'a GraphProto) -> Self {
        let mut by_name: HashMap<&str, &TensorProto> = graph
            .initializer
            .iter()
            .map(|t| (t.name.as_str(), t))
            .collect();
        for n in graph.node.iter().filter(|n| n.op_type == "Constant") {
            if let (Some(out), Some(t)) = (
                n.output.first(),
                n.attribute.iter().find_map(|a| a.t.as_ref()),
            ) {
                by_name.insert(out.as_str(), t);
            }
        }
        Self { path, by_name }
    }

    fn get(&self, name: &str, what: &str) -> Result<(Vec<usize>, Vec<f32>), NetError> {
        let bad = |m: String| NetError::bad_weights(self.path, format!("{what} `{name}`: {m}"));
        let t = self
            .by_name
            .get(name)
            .ok_or_else(|| bad("not an initializer or constant".into()))?;
        if t.data_location == 1 {
            return Err(bad(
                "its values are in an external data file; export with the weights inside the .onnx"
                    .into(),
            ));
        }
        if t.data_type != FLOAT {
            return Err(bad(format!("element type {} is not float32", t.data_type)));
        }
        let shape: Vec<usize> = t
            .dims
            .iter()
            .map(|&d| usize::try_from(d).unwrap_or(usize::MAX))
            .collect();
        let n = element_count(&shape).ok_or_else(|| bad(format!("claims shape {shape:?}")))?;
        let data: Vec<f32> = if t.raw_data.is_empty() {
            t.float_data.clone()
        } else {
            f32_le(&t.raw_data)
        };
        if data.len() != n {
            return Err(bad(format!("{} values for shape {shape:?}", data.len())));
        }
        Ok((shape, data))
    }
}

fn attr_i(node: &NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

/// Import a torchvision Inception-V3 ONNX export.
pub fn import(path: &Path, bytes: &[u8]) -> Result<Imported, NetError> {
    let model = ModelProto::decode(bytes).map_err(|e| {
        NetError::bad_weights(path, format!("not an ONNX model, or a truncated one ({e})"))
    })?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| NetError::bad_weights(path, "not an ONNX model: no graph"))?;
    let w = Weights::new(path, graph);
    let convs: Vec<&NodeProto> = graph.node.iter().filter(|n| n.op_type == "Conv").collect();
    let cat_convs: Vec<_> = Catalogue::inception_v3().convs().collect();
    if convs.len() != cat_convs.len() {
        return Err(NetError::bad_weights(
            path,
            format!(
                "the graph has {} Conv nodes; Inception-V3 has {} (another architecture?)",
                convs.len(),
                cat_convs.len()
            ),
        ));
    }
    // Where each value is read: a conv's output may go to a BatchNormalization node.
    let mut readers: HashMap<&str, Vec<&NodeProto>> = HashMap::new();
    for n in &graph.node {
        for i in &n.input {
            readers.entry(i.as_str()).or_default().push(n);
        }
    }
    let mut tensors = Vec::new();
    for (conv, info) in convs.iter().zip(&cat_convs) {
        tensors.extend(conv_tensors(path, &w, &readers, conv, &info.id)?);
    }
    let counts_padding = graph
        .node
        .iter()
        .find(|n| n.op_type == "AveragePool")
        .and_then(|n| attr_i(n, "count_include_pad"))
        .is_some_and(|v| v != 0);
    let (head_tensors, head) = classifier(path, &w, graph)?;
    tensors.extend(head_tensors);
    Ok(Imported {
        tensors,
        head,
        head_kind: "torchvision fc".into(),
        avg_pool_counts_padding: counts_padding,
        variant: Variant::Standard,
        normalization: Normalization::MinusOneToOne,
    })
}

fn conv_tensors(
    path: &Path,
    w: &Weights<'_>,
    readers: &HashMap<&str, Vec<&NodeProto>>,
    conv: &NodeProto,
    id: &str,
) -> Result<Vec<NamedTensor>, NetError> {
    let input = |i: usize| {
        conv.input.get(i).filter(|s| !s.is_empty()).ok_or_else(|| {
            NetError::bad_weights(
                path,
                format!("Conv `{}` (for `{id}`) lacks input {i}", conv.name),
            )
        })
    };
    let what = format!("weights of `{id}`");
    let (shape, data) = w.get(input(1)?, &what)?;
    let mut out = vec![NamedTensor {
        name: format!("{id}.conv.weight"),
        shape,
        data,
    }];
    let bn = conv
        .output
        .first()
        .and_then(|o| readers.get(o.as_str()))
        .and_then(|r| r.iter().find(|n| n.op_type == "BatchNormalization"));
    if let Some(bn) = bn {
        let eps = bn
            .attribute
            .iter()
            .find(|a| a.name == "epsilon")
            .map_or(1e-5, |a| f64::from(a.f));
        if (eps - BN_EPSILON).abs() > 1e-6 {
            return Err(NetError::bad_weights(
                path,
                format!(
                    "BatchNormalization after `{id}` has epsilon {eps} (Inception-V3 uses {BN_EPSILON})"
                ),
            ));
        }
        let names = ["gamma", "beta", "running_mean", "running_var"];
        for (k, n) in names.iter().enumerate() {
            let name = bn.input.get(k + 1).ok_or_else(|| {
                NetError::bad_weights(
                    path,
                    format!("BatchNormalization `{}` lacks input {}", bn.name, k + 1),
                )
            })?;
            let (shape, data) = w.get(name, &what)?;
            out.push(NamedTensor {
                name: format!("{id}.bn.{n}"),
                shape,
                data,
            });
        }
    } else {
        let bias = match conv.input.get(2).filter(|s| !s.is_empty()) {
            Some(name) => w.get(name, &what)?.1,
            None => vec![0.0; out[0].shape.first().copied().unwrap_or(0)],
        };
        out.extend(folded_bn(id, bias));
    }
    Ok(out)
}

/// The last `Gemm` (or `MatMul`) is torchvision's `fc`.
fn classifier(
    path: &Path,
    w: &Weights<'_>,
    graph: &GraphProto,
) -> Result<(Vec<NamedTensor>, HeadSpec), NetError> {
    let Some(node) = graph
        .node
        .iter()
        .rev()
        .find(|n| n.op_type == "Gemm" || n.op_type == "MatMul")
    else {
        return Ok((Vec::new(), HeadSpec::None));
    };
    let what = "classifier weights";
    let name = node
        .input
        .get(1)
        .ok_or_else(|| NetError::bad_weights(path, format!("`{}` has one input", node.name)))?;
    let (shape, data) = w.get(name, what)?;
    let transposed = node.op_type == "Gemm" && attr_i(node, "transB") == Some(1);
    // burn's Linear weight is [in, out].
    let (weight, classes) = match (shape.as_slice(), transposed) {
        ([out, 2048], true) => {
            let mut t = vec![0.0f32; data.len()];
            for o in 0..*out {
                for i in 0..2048 {
                    t[i * out + o] = data[o * 2048 + i];
                }
            }
            (t, *out)
        }
        ([2048, out], false) => (data, *out),
        (other, _) => {
            return Err(NetError::bad_weights(
                path,
                format!(
                    "the classifier `{}` has weights {other:?}, not 2048 inputs",
                    node.name
                ),
            ));
        }
    };
    let bias = match node.input.get(2).filter(|s| !s.is_empty()) {
        Some(b) => w.get(b, what)?.1,
        None => vec![0.0; classes],
    };
    Ok((
        vec![
            NamedTensor {
                name: "fc.weight".into(),
                shape: vec![2048, classes],
                data: weight,
            },
            NamedTensor {
                name: "fc.bias".into(),
                shape: vec![classes],
                data: bias,
            },
        ],
        HeadSpec::Fc { classes },
    ))
}
