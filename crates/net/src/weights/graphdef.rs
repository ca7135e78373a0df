//! TensorFlow frozen GraphDefs of Google's 2015 Inception-V3 (`inception-2015-12-05`), which is
//! what TensorFlow for Poets' `retrain.py` writes as `retrained_graph.pb`: weights are Const
//! nodes under scopes `conv`, `conv_1`, … `mixed` … `mixed_10`; each conv is followed by
//! `BatchNormWithGlobalNormalization`, or, after `optimize_for_inference`, by a `BiasAdd` of
//! the folded BatchNorm. The last block's pool branch is a max pool (the network is built as
//! [`Variant::Graph2015`]); the input is `(x − 128) / 128`. The head is retrain.py's
//! `final_training_ops` or the original 1008-class `softmax`.
//!
//! The messages are declared here with prost's derive, only the fields read (the wire format
//! skips the rest).

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::Device;
use prost::Message;

use crate::catalogue::Catalogue;
use crate::error::NetError;
use crate::model::{BN_EPSILON, DenseActivation, HeadSpec, InceptionV3, Variant};
use crate::preprocess::Normalization;
use crate::weights::keras::{Param, named};
use crate::weights::{
    Imported, Importer, NamedTensor, WeightsFormat, WeightsInfo, WeightsSource, build, folded_bn,
};
use crate::weights::{element_count, f32_le, read_capped};

/// `tensorflow.GraphDef` (fields read).
#[derive(Clone, PartialEq, Message)]
pub struct GraphDef {
    /// The nodes.
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeDef>,
}

/// `tensorflow.NodeDef` (fields read).
#[derive(Clone, PartialEq, Message)]
pub struct NodeDef {
    /// Unique name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Operation.
    #[prost(string, tag = "2")]
    pub op: String,
    /// Inputs: `node`, `node:1`, or `^node` (control).
    #[prost(string, repeated, tag = "3")]
    pub input: Vec<String>,
    /// Attributes.
    #[prost(map = "string, message", tag = "5")]
    pub attr: HashMap<String, AttrValue>,
}

/// `tensorflow.AttrValue` (its `oneof` read as optional fields: the same wire format).
#[derive(Clone, PartialEq, Message)]
pub struct AttrValue {
    /// String.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub s: Option<Vec<u8>>,
    /// Integer.
    #[prost(int64, optional, tag = "3")]
    pub i: Option<i64>,
    /// Float.
    #[prost(float, optional, tag = "4")]
    pub f: Option<f32>,
    /// Bool.
    #[prost(bool, optional, tag = "5")]
    pub b: Option<bool>,
    /// Tensor.
    #[prost(message, optional, tag = "8")]
    pub tensor: Option<TensorProto>,
}

/// `tensorflow.TensorProto` (fields read).
#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    /// `DataType` (1 = float).
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    /// Shape.
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShapeProto>,
    /// Raw little-endian values.
    #[prost(bytes = "vec", tag = "4")]
    pub tensor_content: Vec<u8>,
    /// Float values (one value fills the shape).
    #[prost(float, repeated, tag = "5")]
    pub float_val: Vec<f32>,
}

/// `tensorflow.TensorShapeProto`.
#[derive(Clone, PartialEq, Message)]
pub struct TensorShapeProto {
    /// Dimensions.
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<Dim>,
}

/// One dimension.
#[derive(Clone, PartialEq, Message)]
pub struct Dim {
    /// Size.
    #[prost(int64, tag = "1")]
    pub size: i64,
}

const DT_FLOAT: i32 = 1;

/// TensorFlow `.pb`.
pub struct GraphDefImporter;

impl Importer for GraphDefImporter {
    fn format(&self) -> WeightsFormat {
        WeightsFormat::TfGraph
    }
    fn extensions(&self) -> &'static [&'static str] {
        &["pb"]
    }
    /// A GraphDef starts with its first node (field 1, length-delimited) whose name (field 1)
    /// follows: `0a LEN 0a LEN`.
    fn sniff(&self, head: &[u8]) -> bool {
        head.first() == Some(&0x0a) && {
            let skip = head
                .iter()
                .skip(1)
                .position(|b| b & 0x80 == 0)
                .map(|p| p + 2);
            skip.and_then(|s| head.get(s)) == Some(&0x0a)
        }
    }
    fn load(&self, path: &Path, device: &Device) -> Result<(InceptionV3, WeightsInfo), NetError> {
        let bytes = read_capped(path)?;
        let imported = import(path, &bytes)?;
        let source = WeightsSource::File(path.to_path_buf());
        build(path, &source, self.format(), imported, device)
    }
}

/// The 2015 graph's scope of a torchvision conv id.
pub fn scope_of(id: &str) -> Option<String> {
    const BLOCKS: [(&str, &str); 11] = [
        ("Mixed_5b", "mixed"),
        ("Mixed_5c", "mixed_1"),
        ("Mixed_5d", "mixed_2"),
        ("Mixed_6a", "mixed_3"),
        ("Mixed_6b", "mixed_4"),
        ("Mixed_6c", "mixed_5"),
        ("Mixed_6d", "mixed_6"),
        ("Mixed_6e", "mixed_7"),
        ("Mixed_7a", "mixed_8"),
        ("Mixed_7b", "mixed_9"),
        ("Mixed_7c", "mixed_10"),
    ];
    let stem = match id {
        "Conv2d_1a_3x3" => Some("conv"),
        "Conv2d_2a_3x3" => Some("conv_1"),
        "Conv2d_2b_3x3" => Some("conv_2"),
        "Conv2d_3b_1x1" => Some("conv_3"),
        "Conv2d_4a_3x3" => Some("conv_4"),
        _ => None,
    };
    if let Some(s) = stem {
        return Some(s.to_string());
    }
    let (block, conv) = id.split_once('.')?;
    let scope = BLOCKS.iter().find(|b| b.0 == block)?.1;
    let tower = |t: &str, i: usize| {
        let conv = if i == 0 {
            "conv".to_string()
        } else {
            format!("conv_{i}")
        };
        if t.is_empty() {
            conv
        } else {
            format!("{t}/{conv}")
        }
    };
    let numbered = |prefix: &str| {
        conv.strip_prefix(prefix)
            .and_then(|n| n.parse::<usize>().ok())
    };
    let inner = match (block, conv) {
        (_, "branch1x1") => tower("", 0),
        (_, "branch_pool") => tower("tower_2", 0),
        ("Mixed_6a", "branch3x3") => tower("", 0),
        ("Mixed_6a", _) => tower("tower", numbered("branch3x3dbl_")? - 1),
        ("Mixed_7a", _) if conv.starts_with("branch3x3_") => {
            tower("tower", numbered("branch3x3_")? - 1)
        }
        ("Mixed_7a", _) => tower("tower_1", numbered("branch7x7x3_")? - 1),
        (_, "branch3x3_1") => tower("tower", 0),
        (_, "branch3x3_2a") => tower("tower/mixed", 0),
        (_, "branch3x3_2b") => tower("tower/mixed", 1),
        (_, "branch3x3dbl_1") if block.starts_with("Mixed_7") => tower("tower_1", 0),
        (_, "branch3x3dbl_2") if block.starts_with("Mixed_7") => tower("tower_1", 1),
        (_, "branch3x3dbl_3a") => tower("tower_1/mixed", 0),
        (_, "branch3x3dbl_3b") => tower("tower_1/mixed", 1),
        (_, c) if c.starts_with("branch5x5_") => tower("tower", numbered("branch5x5_")? - 1),
        (_, c) if c.starts_with("branch3x3dbl_") => {
            tower("tower_1", numbered("branch3x3dbl_")? - 1)
        }
        (_, c) if c.starts_with("branch7x7dbl_") => {
            tower("tower_1", numbered("branch7x7dbl_")? - 1)
        }
        (_, c) if c.starts_with("branch7x7_") => tower("tower", numbered("branch7x7_")? - 1),
        _ => return None,
    };
    Some(format!("{scope}/{inner}"))
}

/// The graph's nodes by name, and what reads each node.
struct Graph<'a> {
    path: &'a Path,
    nodes: HashMap<&'a str, &'a NodeDef>,
    consumers: HashMap<&'a str, Vec<&'a NodeDef>>,
}

/// `node:1` / `^node` → `node`.
fn node_name(input: &str) -> &str {
    let s = input.strip_prefix('^').unwrap_or(input);
    s.split(':').next().unwrap_or(s)
}

impl<'a> Graph<'a> {
    fn new(path: &'a Path, graph: &'a GraphDef) -> Self {
        let mut nodes = HashMap::new();
        let mut consumers: HashMap<&str, Vec<&NodeDef>> = HashMap::new();
        for n in &graph.node {
            nodes.insert(n.name.as_str(), n);
            for i in n.input.iter().filter(|i| !i.starts_with('^')) {
                consumers.entry(node_name(i)).or_default().push(n);
            }
        }
        Self {
            path,
            nodes,
            consumers,
        }
    }

    fn node(&self, name: &str) -> Result<&'a NodeDef, NetError> {
        self.nodes.get(name).copied().ok_or_else(|| {
            NetError::bad_weights(
                self.path,
                format!(
                    "no node `{name}`: not Google's 2015 Inception-V3 graph (TensorFlow for Poets' `retrained_graph.pb`)"
                ),
            )
        })
    }

    /// The Const behind `input`, through Identity nodes (`…/read`).
    fn constant(&self, input: &str) -> Result<(Vec<usize>, Vec<f32>), NetError> {
        let mut node = self.node(node_name(input))?;
        for _ in 0..8 {
            if node.op != "Identity" {
                break;
            }
            let Some(next) = node.input.iter().find(|i| !i.starts_with('^')) else {
                break;
            };
            node = self.node(node_name(next))?;
        }
        if node.op != "Const" {
            return Err(NetError::bad_weights(
                self.path,
                format!("node `{}` is a {}, not a constant", node.name, node.op),
            ));
        }
        let tensor = node
            .attr
            .get("value")
            .and_then(|v| v.tensor.as_ref())
            .ok_or_else(|| {
                NetError::bad_weights(self.path, format!("constant `{}` has no value", node.name))
            })?;
        self.decode(&node.name, tensor)
    }

    fn decode(&self, name: &str, t: &TensorProto) -> Result<(Vec<usize>, Vec<f32>), NetError> {
        let bad =
            |what: String| NetError::bad_weights(self.path, format!("constant `{name}`: {what}"));
        if t.dtype != DT_FLOAT {
            return Err(bad(format!("data type {} is not float32", t.dtype)));
        }
        let shape: Vec<usize> = t
            .tensor_shape
            .iter()
            .flat_map(|s| &s.dim)
            .map(|d| usize::try_from(d.size).unwrap_or(usize::MAX))
            .collect();
        let n = element_count(&shape).ok_or_else(|| bad(format!("claims shape {shape:?}")))?;
        let data: Vec<f32> = if !t.tensor_content.is_empty() {
            f32_le(&t.tensor_content)
        } else if t.float_val.len() == 1 {
            vec![t.float_val[0]; n]
        } else {
            t.float_val.clone()
        };
        if data.len() != n {
            return Err(bad(format!("{} values for shape {shape:?}", data.len())));
        }
        Ok((shape, data))
    }

    /// The first node reading `name` whose op is one of `ops`.
    fn consumer(&self, name: &str, ops: &[&str]) -> Option<&'a NodeDef> {
        self.consumers
            .get(name)?
            .iter()
            .copied()
            .find(|n| ops.contains(&n.op.as_str()))
    }
}

/// One conv's tensors: its kernel and BatchNorm (or folded bias).
fn conv_tensors(g: &Graph<'_>, id: &str, scope: &str) -> Result<Vec<NamedTensor>, NetError> {
    let conv_name = format!("{scope}/Conv2D");
    let conv = g.node(&conv_name)?;
    let kernel_input = conv.input.get(1).ok_or_else(|| {
        NetError::bad_weights(g.path, format!("`{conv_name}` has no filter input"))
    })?;
    let (shape, data) = g.constant(kernel_input)?;
    if shape.len() != 4 {
        return Err(NetError::bad_weights(
            g.path,
            format!("the filter of `{conv_name}` has shape {shape:?}, not [h, w, in, out]"),
        ));
    }
    let mut out = vec![named(&format!("{id}.conv"), Param::Kernel, shape, data)];
    let Some(next) = g.consumer(
        &conv_name,
        &[
            "BatchNormWithGlobalNormalization",
            "BiasAdd",
            "Add",
            "AddV2",
        ],
    ) else {
        return Err(NetError::bad_weights(
            g.path,
            format!("`{conv_name}` is followed by neither a BatchNorm nor a bias"),
        ));
    };
    if next.op == "BatchNormWithGlobalNormalization" {
        let eps = next.attr.get("variance_epsilon").and_then(|a| a.f);
        if let Some(eps) = eps.filter(|e| (f64::from(*e) - BN_EPSILON).abs() > 1e-6) {
            return Err(NetError::bad_weights(
                g.path,
                format!(
                    "`{}` has variance_epsilon {eps} (Inception-V3 uses {BN_EPSILON})",
                    next.name
                ),
            ));
        }
        let scaled = next
            .attr
            .get("scale_after_normalization")
            .and_then(|a| a.b)
            .unwrap_or(true);
        let input = |i: usize| {
            next.input.get(i).ok_or_else(|| {
                NetError::bad_weights(g.path, format!("`{}` lacks input {i}", next.name))
            })
        };
        let prefix = format!("{id}.bn");
        let (_, mean) = g.constant(input(1)?)?;
        let (_, var) = g.constant(input(2)?)?;
        let (_, beta) = g.constant(input(3)?)?;
        let (_, gamma) = g.constant(input(4)?)?;
        let gamma = if scaled { gamma } else { vec![1.0; beta.len()] };
        for (param, v) in [
            (Param::MovingMean, mean),
            (Param::MovingVariance, var),
            (Param::Beta, beta),
            (Param::Gamma, gamma),
        ] {
            out.push(named(&prefix, param, vec![v.len()], v));
        }
    } else {
        let bias_input = next
            .input
            .iter()
            .find(|i| node_name(i) != conv_name)
            .ok_or_else(|| {
                NetError::bad_weights(g.path, format!("`{}` adds nothing", next.name))
            })?;
        let (_, bias) = g.constant(bias_input)?;
        out.extend(folded_bn(id, bias));
    }
    Ok(out)
}

/// The classifier: a MatMul of the 2048-wide bottleneck with a constant, plus a constant bias.
fn head(g: &Graph<'_>) -> Result<(Vec<NamedTensor>, HeadSpec, String), NetError> {
    let candidates = [
        "final_training_ops/Wx_plus_b/MatMul",
        "softmax/logits/MatMul",
    ];
    let by_name = candidates.iter().find_map(|n| g.nodes.get(n).copied());
    let matmul = by_name.or_else(|| {
        let mut all: Vec<&NodeDef> = g
            .nodes
            .values()
            .copied()
            .filter(|n| n.op == "MatMul")
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all.into_iter().next()
    });
    let Some(matmul) = matmul else {
        return Ok((Vec::new(), HeadSpec::None, String::new()));
    };
    let weights_input = matmul
        .input
        .get(1)
        .ok_or_else(|| NetError::bad_weights(g.path, format!("`{}` has one input", matmul.name)))?;
    let (shape, kernel) = g.constant(weights_input)?;
    let classes = match shape.as_slice() {
        [2048, c] => *c,
        other => {
            return Err(NetError::bad_weights(
                g.path,
                format!(
                    "the classifier `{}` has weights {other:?}, not [2048, classes]",
                    matmul.name
                ),
            ));
        }
    };
    let add = g
        .consumer(&matmul.name, &["Add", "AddV2", "BiasAdd"])
        .ok_or_else(|| NetError::bad_weights(g.path, format!("`{}` has no bias", matmul.name)))?;
    let bias_input = add
        .input
        .iter()
        .find(|i| node_name(i) != matmul.name)
        .ok_or_else(|| NetError::bad_weights(g.path, format!("`{}` adds nothing", add.name)))?;
    let (_, bias) = g.constant(bias_input)?;
    let prefix = "dense_head.layers.0";
    let tensors = vec![
        named(prefix, Param::Kernel, shape, kernel),
        named(prefix, Param::Bias, vec![bias.len()], bias),
    ];
    let kind = match matmul.name.split('/').next() {
        Some("final_training_ops") => "retrain.py's final_training_ops",
        Some("softmax") => "the 2015 graph's softmax",
        _ => "dense head",
    };
    Ok((
        tensors,
        HeadSpec::Dense(vec![(classes, DenseActivation::Softmax)]),
        kind.to_string(),
    ))
}

/// Import a 2015-style Inception-V3 GraphDef.
pub fn import(path: &Path, bytes: &[u8]) -> Result<Imported, NetError> {
    let graph = GraphDef::decode(bytes).map_err(|e| {
        NetError::bad_weights(
            path,
            format!("not a TensorFlow GraphDef, or a truncated one ({e})"),
        )
    })?;
    let g = Graph::new(path, &graph);
    let mut tensors = Vec::new();
    for info in Catalogue::inception_v3().convs() {
        let scope = scope_of(&info.id).ok_or_else(|| {
            NetError::bad_weights(path, format!("no 2015-graph scope for `{}`", info.id))
        })?;
        tensors.extend(conv_tensors(&g, &info.id, &scope)?);
    }
    let variant = match g.node("mixed_10/tower_2/pool")?.op.as_str() {
        "MaxPool" => Variant::Graph2015,
        _ => Variant::Standard,
    };
    let (head_tensors, head, kind) = head(&g)?;
    tensors.extend(head_tensors);
    Ok(Imported {
        tensors,
        head,
        head_kind: kind,
        avg_pool_counts_padding: false,
        variant,
        normalization: Normalization::Centered128,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_conv_has_a_2015_scope() {
        let scopes: Vec<String> = Catalogue::inception_v3()
            .convs()
            .map(|c| scope_of(&c.id).expect("scope"))
            .collect();
        assert_eq!(scopes.len(), 94);
        let unique: std::collections::HashSet<_> = scopes.iter().collect();
        assert_eq!(unique.len(), 94);
        assert_eq!(
            scope_of("Mixed_5b.branch5x5_2").as_deref(),
            Some("mixed/tower/conv_1")
        );
        assert_eq!(
            scope_of("Mixed_6e.branch7x7dbl_5").as_deref(),
            Some("mixed_7/tower_1/conv_4")
        );
        assert_eq!(
            scope_of("Mixed_7a.branch7x7x3_4").as_deref(),
            Some("mixed_8/tower_1/conv_3")
        );
        assert_eq!(
            scope_of("Mixed_7c.branch3x3dbl_3b").as_deref(),
            Some("mixed_10/tower_1/mixed/conv_1")
        );
        assert_eq!(
            scope_of("Mixed_6a.branch3x3dbl_3").as_deref(),
            Some("mixed_3/tower/conv_2")
        );
    }
}
