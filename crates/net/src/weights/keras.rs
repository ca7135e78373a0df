//! Keras models, whichever file they come in (TF.js `model.json`, `.h5`, `.keras`): the model
//! config's graph says which Conv2D / BatchNormalization pair is which Inception-V3 conv and
//! what head follows the trunk; each Keras weight then lands on its burn module path.
//!
//! Layer names and their numbers are not trusted: Keras numbers layers by a per-session
//! counter, stores them in topological order, and nests a transfer-learning base model inside
//! the outer one. The graph is: a post-order walk from the model's output, visiting each
//! layer's inputs in their order, meets the convs in torchvision's module order (a block's
//! Concatenate lists its branches as torchvision does), and each BatchNormalization's input is
//! its Conv2D.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::catalogue::Catalogue;
use crate::error::NetError;
use crate::model::{BN_EPSILON, DenseActivation, HeadSpec};
use crate::weights::NamedTensor;

/// One layer of a (possibly nested) Keras model config.
#[derive(Clone, Debug)]
pub struct Layer {
    /// The layer's name (`conv2d_5`).
    pub name: String,
    /// Its class (`Conv2D`).
    pub class: String,
    /// Its config.
    pub config: Value,
    /// Names of the models it is nested in, outermost first (`["inception_v3"]`).
    pub scopes: Vec<String>,
    /// Its path in a Keras 3 weights file (`layers/functional/layers/conv2d_5`).
    pub store_path: String,
    /// Indices of the layers feeding it.
    inbound: Vec<usize>,
}

/// A Keras weight's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Param {
    /// Conv / dense kernel.
    Kernel,
    /// Conv / dense bias.
    Bias,
    /// BatchNorm scale.
    Gamma,
    /// BatchNorm offset.
    Beta,
    /// BatchNorm running mean.
    MovingMean,
    /// BatchNorm running variance.
    MovingVariance,
}

impl Param {
    /// From a weight's name: `conv2d_5/kernel:0`, `moving_mean`, …
    pub fn from_name(name: &str) -> Option<Self> {
        let last = name.rsplit('/').next().unwrap_or(name);
        let last = last.split(':').next().unwrap_or(last);
        Some(match last {
            "kernel" => Self::Kernel,
            "bias" => Self::Bias,
            "gamma" => Self::Gamma,
            "beta" => Self::Beta,
            "moving_mean" => Self::MovingMean,
            "moving_variance" => Self::MovingVariance,
            _ => return None,
        })
    }

    fn burn_name(self) -> &'static str {
        match self {
            Self::Kernel => "weight",
            Self::Bias => "bias",
            Self::Gamma => "gamma",
            Self::Beta => "beta",
            Self::MovingMean => "running_mean",
            Self::MovingVariance => "running_var",
        }
    }
}

/// How a Keras model maps onto Inception-V3.
#[derive(Debug)]
pub struct Plan {
    /// Every layer, nested models flattened.
    pub layers: Vec<Layer>,
    /// Layer index → burn module prefix (`Mixed_5b.branch1x1.conv`, `dense_head.layers.0`).
    targets: HashMap<usize, String>,
    /// Layer name → burn module prefix.
    by_name: HashMap<String, String>,
    /// The head after the trunk.
    pub head: HeadSpec,
}

/// Keras' `to_snake_case`: `_` before a capital that starts a lower-case run (after any
/// character) or that follows a lower-case letter; `Conv2D` → `conv2d`.
fn snake_case(class: &str) -> String {
    let chars: Vec<char> = class.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let starts_word = chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
            let after_lower = chars[i - 1].is_ascii_lowercase();
            if starts_word || after_lower {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn is_model(class: &str) -> bool {
    matches!(class, "Model" | "Functional" | "Sequential")
}

/// Names in a Keras 2 (`[[["conv2d_1", 0, 0, {}]]]`) or Keras 3 (`[{"args": [...keras_history
/// ["conv2d", 0, 0]...]}]`) inbound-node list: the first call's inputs, in order.
fn inbound_names(nodes: &Value) -> Vec<String> {
    fn keras3(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(name) = map
                    .get("keras_history")
                    .and_then(|h| h.get(0))
                    .and_then(Value::as_str)
                {
                    out.push(name.to_string());
                    return;
                }
                for (k, v) in map {
                    if k != "kwargs" {
                        keras3(v, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| keras3(i, out)),
            _ => {}
        }
    }
    let Some(first) = nodes.as_array().and_then(|n| n.first()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match first {
        Value::Array(inputs) => {
            for i in inputs {
                if let Some(name) = i.get(0).and_then(Value::as_str) {
                    out.push(name.to_string());
                }
            }
        }
        other => keras3(other, &mut out),
    }
    out
}

/// `[["dense_3", 0, 0]]` or `["dense_3", 0, 0]` → names.
fn endpoint_names(v: Option<&Value>) -> Vec<String> {
    match v.and_then(Value::as_array) {
        Some(items) if items.first().is_some_and(Value::is_string) => items
            .first()
            .and_then(Value::as_str)
            .map(|s| vec![s.to_string()])
            .unwrap_or_default(),
        Some(items) => items
            .iter()
            .filter_map(|i| i.get(0).and_then(Value::as_str).map(str::to_string))
            .collect(),
        None => Vec::new(),
    }
}

/// Flattens nested models into one layer list with resolved inputs.
struct Flattener {
    layers: Vec<Layer>,
    /// Unresolved inbound names per layer, with the scope (model instance) to resolve them in.
    pending: Vec<(usize, usize, Vec<String>)>,
    /// (model instance, layer name) → layer index, or for a nested model its output layer.
    names: HashMap<(usize, String), usize>,
    /// Model instances numbered so far.
    models: usize,
}

/// The model instance a nested model's inputs come from, and their names there.
type Outer = Option<(usize, Vec<String>)>;

/// One model instance whose layers are being added.
struct Instance<'a> {
    /// Its number (the scope its layers' names resolve in).
    number: usize,
    /// Names of the models it is nested in, outermost first.
    scopes: &'a [String],
    /// Where its inputs come from, when nested.
    outer: &'a Outer,
    /// How deep it is nested.
    depth: usize,
    /// A `Sequential`: each layer's input is the previous layer.
    sequential: bool,
}

/// One entry of a model config's layer list.
struct Entry<'a> {
    /// The entry itself (`{class_name, config, name?, inbound_nodes?}`).
    raw: &'a Value,
    class: String,
    config: Value,
    name: String,
}

impl<'a> Entry<'a> {
    fn read(raw: &'a Value) -> Self {
        let class = raw
            .get("class_name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let config = raw.get("config").cloned().unwrap_or(Value::Null);
        let name = raw
            .get("name")
            .and_then(Value::as_str)
            .or_else(|| config.get("name").and_then(Value::as_str))
            .unwrap_or_default()
            .to_string();
        Self {
            raw,
            class,
            config,
            name,
        }
    }

    /// The name Keras 3 numbers the layer's weights under: its class in snake case, every
    /// nested functional model as `functional`.
    fn store_key(&self) -> String {
        snake_case(if is_model(&self.class) && self.class != "Sequential" {
            "Functional"
        } else {
            &self.class
        })
    }
}

/// `layers/<key>` for the first layer of a kind in a model, `layers/<key>_<k>` after.
fn store_path(counters: &mut HashMap<String, usize>, prefix: &str, key: String) -> String {
    let k = counters.entry(key.clone()).or_insert(0);
    let path = if *k == 0 {
        format!("{prefix}layers/{key}")
    } else {
        format!("{prefix}layers/{key}_{k}")
    };
    *k += 1;
    path
}

impl Flattener {
    /// Add the layers of `model` (a `{class_name, config}` value) under `scopes` / `prefix`;
    /// returns the indices of its outputs. `outer` is the inbound of the model itself.
    fn model(
        &mut self,
        model: &Value,
        scopes: &[String],
        prefix: &str,
        outer: Outer,
        depth: usize,
    ) -> Vec<usize> {
        let class = model
            .get("class_name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let config = model.get("config").unwrap_or(&Value::Null);
        let list = config
            .get("layers")
            .or(Some(config))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if depth > 8 {
            return Vec::new();
        }
        let instance = Instance {
            number: self.models,
            scopes,
            outer: &outer,
            depth,
            sequential: class == "Sequential",
        };
        self.models += 1;
        let mut counters: HashMap<String, usize> = HashMap::new();
        let mut previous: Option<String> = None;
        for (i, raw) in list.iter().enumerate() {
            let entry = Entry::read(raw);
            let store_path = store_path(&mut counters, prefix, entry.store_key());
            let name = entry.name.clone();
            self.layer(&instance, entry, store_path, i, previous.take());
            previous = Some(name);
        }
        let outputs = if instance.sequential {
            previous.into_iter().collect()
        } else {
            endpoint_names(config.get("output_layers"))
        };
        outputs
            .iter()
            .filter_map(|n| self.names.get(&(instance.number, n.clone())).copied())
            .collect()
    }

    /// Add the `i`-th entry of `instance`'s layer list (after `previous`): a layer, or a
    /// nested model's layers.
    fn layer(
        &mut self,
        instance: &Instance<'_>,
        entry: Entry<'_>,
        store_path: String,
        i: usize,
        previous: Option<String>,
    ) {
        let mut inbound = if instance.sequential {
            previous.into_iter().collect()
        } else {
            inbound_names(entry.raw.get("inbound_nodes").unwrap_or(&Value::Null))
        };
        // A nested model's (or a Sequential's first) inputs come from outside it.
        let from_outside = if instance.sequential {
            i == 0
        } else {
            entry.class == "InputLayer"
        };
        if let (true, Some((_, names))) = (from_outside, instance.outer) {
            inbound = names.clone();
        }
        if is_model(&entry.class) {
            let mut inner_scopes = instance.scopes.to_vec();
            inner_scopes.push(entry.name.clone());
            let outs = self.model(
                entry.raw,
                &inner_scopes,
                &format!("{store_path}/"),
                Some((instance.number, inbound)),
                instance.depth + 1,
            );
            if let Some(&out) = outs.first() {
                self.names.insert((instance.number, entry.name), out);
            }
            return;
        }
        let index = self.layers.len();
        self.names
            .insert((instance.number, entry.name.clone()), index);
        self.layers.push(Layer {
            name: entry.name,
            class: entry.class,
            config: entry.config,
            scopes: instance.scopes.to_vec(),
            store_path,
            inbound: Vec::new(),
        });
        let scope = match instance.outer {
            Some((outer, _)) if from_outside => *outer,
            _ => instance.number,
        };
        self.pending.push((index, scope, inbound));
    }

    fn resolve(&mut self) {
        for (index, scope, names) in std::mem::take(&mut self.pending) {
            let inbound = names
                .iter()
                .filter_map(|n| self.names.get(&(scope, n.clone())).copied())
                .collect();
            self.layers[index].inbound = inbound;
        }
    }
}

/// The layers in execution order: a post-order walk from `outputs`, inputs in their order.
fn execution_order(layers: &[Layer], outputs: &[usize]) -> Vec<usize> {
    let mut order = Vec::new();
    let mut state = vec![0u8; layers.len()]; // 0 new, 1 entered, 2 done
    for &out in outputs {
        let mut stack = vec![(out, 0usize)];
        while let Some((node, next)) = stack.pop() {
            if next == 0 {
                if state[node] != 0 {
                    continue;
                }
                state[node] = 1;
            }
            if let Some(&input) = layers[node].inbound.get(next) {
                stack.push((node, next + 1));
                if state[input] == 0 {
                    stack.push((input, 0));
                }
            } else {
                state[node] = 2;
                order.push(node);
            }
        }
    }
    order
}

fn dense_activation(path: &Path, layer: &Layer) -> Result<DenseActivation, NetError> {
    let act = layer.config.get("activation").and_then(Value::as_str);
    activation_named(path, layer, act)
}

fn activation_named(
    path: &Path,
    layer: &Layer,
    act: Option<&str>,
) -> Result<DenseActivation, NetError> {
    match act {
        Some("relu") => Ok(DenseActivation::Relu),
        Some("softmax") => Ok(DenseActivation::Softmax),
        Some("linear") | None => Ok(DenseActivation::Linear),
        Some(other) => Err(NetError::bad_weights(
            path,
            format!(
                "head layer `{}` has activation {other}; featurescope runs relu, softmax or linear heads",
                layer.name
            ),
        )),
    }
}

impl Plan {
    /// Read a Keras model config (`model_config` / `config.json`: `{class_name, config}`).
    pub fn from_config(path: &Path, model: &Value) -> Result<Self, NetError> {
        let mut f = Flattener {
            layers: Vec::new(),
            pending: Vec::new(),
            names: HashMap::new(),
            models: 0,
        };
        let outputs = f.model(model, &[], "", None, 0);
        f.resolve();
        let layers = f.layers;
        if outputs.is_empty() {
            let convs = layers.iter().filter(|l| l.class == "Conv2D").count();
            return Err(NetError::bad_weights(
                path,
                format!(
                    "the Keras model config's output is none of its layers, so its {convs} Conv2D layers cannot be placed (Inception-V3 has 94)"
                ),
            ));
        }
        let order = execution_order(&layers, &outputs);
        let cat = Catalogue::inception_v3();
        let cat_convs: Vec<_> = cat.convs().collect();
        let convs: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| layers[i].class == "Conv2D")
            .collect();
        if convs.len() != cat_convs.len() {
            return Err(NetError::bad_weights(
                path,
                format!(
                    "the model has {} Conv2D layers on its path to the output; Inception-V3 has {} (another architecture?)",
                    convs.len(),
                    cat_convs.len()
                ),
            ));
        }
        let mut targets = HashMap::new();
        for (&conv, info) in convs.iter().zip(&cat_convs) {
            let bn = order.iter().copied().find(|&i| {
                layers[i].class == "BatchNormalization" && layers[i].inbound.first() == Some(&conv)
            });
            let Some(bn) = bn else {
                return Err(NetError::bad_weights(
                    path,
                    format!(
                        "Conv2D `{}` (Inception-V3's `{}`) is not followed by a BatchNormalization",
                        layers[conv].name, info.id
                    ),
                ));
            };
            let eps = layers[bn].config.get("epsilon").and_then(Value::as_f64);
            if let Some(eps) = eps.filter(|e| (e - BN_EPSILON).abs() > 1e-9) {
                return Err(NetError::bad_weights(
                    path,
                    format!(
                        "BatchNormalization `{}` has epsilon {eps} (Inception-V3 uses {BN_EPSILON})",
                        layers[bn].name
                    ),
                ));
            }
            targets.insert(conv, format!("{}.conv", info.id));
            targets.insert(bn, format!("{}.bn", info.id));
        }
        let head = Self::head(path, &layers, &order, &mut targets)?;
        let by_name = targets
            .iter()
            .map(|(&i, p)| (layers[i].name.clone(), p.clone()))
            .collect();
        Ok(Self {
            layers,
            targets,
            by_name,
            head,
        })
    }

    /// The layers after the trunk's last Concatenate: pooling, flatten, dropout, dense.
    fn head(
        path: &Path,
        layers: &[Layer],
        order: &[usize],
        targets: &mut HashMap<usize, String>,
    ) -> Result<HeadSpec, NetError> {
        let start = order
            .iter()
            .rposition(|&i| layers[i].class == "Concatenate")
            .map_or(order.len(), |p| p + 1);
        let mut dense: Vec<(usize, DenseActivation)> = Vec::new();
        for &i in &order[start..] {
            let layer = &layers[i];
            match layer.class.as_str() {
                "AveragePooling2D"
                | "GlobalAveragePooling2D"
                | "Flatten"
                | "Dropout"
                | "SpatialDropout2D"
                | "GaussianNoise"
                | "GaussianDropout"
                | "InputLayer"
                | "Reshape" => {}
                "Dense" => {
                    let units = layer
                        .config
                        .get("units")
                        .and_then(Value::as_u64)
                        .unwrap_or_default() as usize;
                    targets.insert(i, format!("dense_head.layers.{}", dense.len()));
                    dense.push((units, dense_activation(path, layer)?));
                }
                "Activation" | "Softmax" | "ReLU" => {
                    let act = match layer.class.as_str() {
                        "Softmax" => Some("softmax"),
                        "ReLU" => Some("relu"),
                        _ => layer.config.get("activation").and_then(Value::as_str),
                    };
                    let act = activation_named(path, layer, act)?;
                    match dense.last_mut() {
                        Some(last) if last.1 == DenseActivation::Linear => last.1 = act,
                        _ if act == DenseActivation::Linear => {}
                        _ => {
                            return Err(NetError::bad_weights(
                                path,
                                format!(
                                    "head layer `{}` ({}) does not follow a linear Dense layer",
                                    layer.name, layer.class
                                ),
                            ));
                        }
                    }
                }
                other => {
                    return Err(NetError::bad_weights(
                        path,
                        format!(
                            "head layer `{}` is a {other}; featurescope runs heads of pooling, Flatten, Dropout and Dense layers",
                            layer.name
                        ),
                    ));
                }
            }
        }
        Ok(if dense.is_empty() {
            HeadSpec::None
        } else {
            HeadSpec::Dense(dense)
        })
    }

    /// The layers whose weights Inception-V3 uses, with their burn prefixes.
    pub fn targeted(&self) -> impl Iterator<Item = (&Layer, &str)> {
        let mut v: Vec<_> = self.targets.iter().collect();
        v.sort_by_key(|(i, _)| **i);
        v.into_iter().map(|(i, p)| (&self.layers[*i], p.as_str()))
    }

    /// The burn prefix of the layer named `name` (the last path component of a weight name).
    pub fn target_named(&self, name: &str) -> Option<&str> {
        self.by_name.get(name).map(String::as_str)
    }
}

/// What a layer of a weights-only file is, judged by its weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightsKind {
    /// A 4-D kernel.
    Conv,
    /// Running statistics.
    BatchNorm,
    /// A 2-D kernel.
    Dense,
}

/// The creation counter in a Keras layer name: `conv2d_12` → 12, `conv2d` → 0.
pub fn creation_index(name: &str) -> u64 {
    name.rsplit_once('_')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0)
}

/// A weights-only file (`save_weights`: no model config, so no graph) mapped by the layers'
/// creation counters, which Keras assigns in the order `keras.applications.InceptionV3` creates
/// them (torchvision's module order). The i-th Conv2D pairs with the i-th BatchNormalization;
/// dense layers form the head, with ReLU between them and softmax last (the file does not say:
/// Keras' classifier convention). Returns layer name → burn prefix, and the head.
pub fn plan_by_creation(
    path: &Path,
    layers: &[(String, WeightsKind, usize)],
) -> Result<(HashMap<String, String>, HeadSpec), NetError> {
    let sorted = |kind: WeightsKind| {
        let mut v: Vec<&(String, WeightsKind, usize)> =
            layers.iter().filter(|l| l.1 == kind).collect();
        v.sort_by_key(|l| (creation_index(&l.0), l.0.clone()));
        v
    };
    let convs = sorted(WeightsKind::Conv);
    let bns = sorted(WeightsKind::BatchNorm);
    let cat_convs: Vec<_> = Catalogue::inception_v3().convs().collect();
    if convs.len() != cat_convs.len() || bns.len() != cat_convs.len() {
        return Err(NetError::bad_weights(
            path,
            format!(
                "the file holds {} conv kernels and {} BatchNorms; Inception-V3 has {} of each (another architecture?)",
                convs.len(),
                bns.len(),
                cat_convs.len()
            ),
        ));
    }
    let mut targets = HashMap::new();
    for ((conv, bn), info) in convs.iter().zip(&bns).zip(&cat_convs) {
        targets.insert(conv.0.clone(), format!("{}.conv", info.id));
        targets.insert(bn.0.clone(), format!("{}.bn", info.id));
    }
    let dense = sorted(WeightsKind::Dense);
    let mut head = Vec::new();
    for (i, d) in dense.iter().enumerate() {
        targets.insert(d.0.clone(), format!("dense_head.layers.{i}"));
        let act = if i + 1 == dense.len() {
            DenseActivation::Softmax
        } else {
            DenseActivation::Relu
        };
        head.push((d.2, act));
    }
    let head = if head.is_empty() {
        HeadSpec::None
    } else {
        HeadSpec::Dense(head)
    };
    Ok((targets, head))
}

/// The weights a Keras 3 file stores for `layer`, in order (`vars/0`, `vars/1`, …).
pub fn keras3_vars(layer: &Layer) -> Vec<Param> {
    let flag = |k: &str| layer.config.get(k).and_then(Value::as_bool).unwrap_or(true);
    match layer.class.as_str() {
        "Conv2D" | "Dense" => {
            let mut v = vec![Param::Kernel];
            if flag("use_bias") {
                v.push(Param::Bias);
            }
            v
        }
        "BatchNormalization" => {
            let mut v = Vec::new();
            if flag("scale") {
                v.push(Param::Gamma);
            }
            if flag("center") {
                v.push(Param::Beta);
            }
            v.extend([Param::MovingMean, Param::MovingVariance]);
            v
        }
        _ => Vec::new(),
    }
}

/// Keras HWIO kernel → torch/burn OIHW.
pub fn hwio_to_oihw(data: &[f32], shape: &[usize]) -> (Vec<f32>, Vec<usize>) {
    let (kh, kw, ci, co) = (shape[0], shape[1], shape[2], shape[3]);
    let mut out = vec![0.0f32; data.len()];
    for h in 0..kh {
        for w in 0..kw {
            for i in 0..ci {
                let src = ((h * kw + w) * ci + i) * co;
                for o in 0..co {
                    out[((o * ci + i) * kh + h) * kw + w] = data[src + o];
                }
            }
        }
    }
    (out, vec![co, ci, kh, kw])
}

/// One Keras weight as the burn tensor at `prefix` (conv kernels HWIO → OIHW; dense kernels are
/// `[in, out]` in Keras and burn alike); shapes are checked when the tensors are applied.
pub fn named(prefix: &str, param: Param, shape: Vec<usize>, data: Vec<f32>) -> NamedTensor {
    let (data, shape) = if param == Param::Kernel && shape.len() == 4 {
        hwio_to_oihw(&data, &shape)
    } else {
        (data, shape)
    };
    NamedTensor {
        name: format!("{prefix}.{}", param.burn_name()),
        shape,
        data,
    }
}

/// Keras' InceptionV3 builds BatchNormalization with `scale=False`: no gamma is stored, it is 1.
/// Adds a gamma of ones for every conv's BatchNorm that has none.
pub fn complete_gammas(tensors: &mut Vec<NamedTensor>) {
    let have: std::collections::HashSet<String> = tensors
        .iter()
        .filter(|t| t.name.ends_with(".bn.gamma"))
        .map(|t| t.name.clone())
        .collect();
    for info in Catalogue::inception_v3().convs() {
        let name = format!("{}.bn.gamma", info.id);
        if !have.contains(&name) {
            tensors.push(NamedTensor {
                name,
                shape: vec![info.shape[0]],
                data: vec![1.0; info.shape[0]],
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_follows_keras() {
        assert_eq!(snake_case("Conv2D"), "conv2d");
        assert_eq!(snake_case("BatchNormalization"), "batch_normalization");
        assert_eq!(
            snake_case("GlobalAveragePooling2D"),
            "global_average_pooling2d"
        );
        assert_eq!(snake_case("Functional"), "functional");
        assert_eq!(snake_case("ReLU"), "re_lu");
        assert_eq!(snake_case("AveragePooling2D"), "average_pooling2d");
    }

    #[test]
    fn creation_counters() {
        assert_eq!(creation_index("conv2d_12"), 12);
        assert_eq!(creation_index("conv2d"), 0);
        assert_eq!(creation_index("batch_normalization_94"), 94);
    }

    #[test]
    fn hwio_transpose() {
        // kh=1, kw=2, ci=1, co=2: HWIO values [h0w0o0, h0w0o1, h0w1o0, h0w1o1].
        let (v, s) = hwio_to_oihw(&[1.0, 2.0, 3.0, 4.0], &[1, 2, 1, 2]);
        assert_eq!(s, vec![2, 1, 1, 2]);
        assert_eq!(v, vec![1.0, 3.0, 2.0, 4.0]);
    }

    #[test]
    fn the_bundled_topology_maps_every_conv_by_its_graph() {
        let text = include_str!("../../../../weights/inception_v3_nsfwjs/model.json");
        let json: Value = serde_json::from_str(text).expect("model.json");
        let config = &json["modelTopology"]["model_config"];
        let plan = Plan::from_config(Path::new("model.json"), config).expect("plan");
        // Keras 2 numbers layers by creation, which is torchvision's order for this model.
        let cat_convs: Vec<_> = Catalogue::inception_v3().convs().collect();
        for (i, info) in cat_convs.iter().enumerate() {
            assert_eq!(
                plan.target_named(&format!("conv2d_{}", i + 1)),
                Some(format!("{}.conv", info.id).as_str())
            );
            assert_eq!(
                plan.target_named(&format!("batch_normalization_{}", i + 1)),
                Some(format!("{}.bn", info.id).as_str())
            );
        }
        assert_eq!(
            plan.head,
            HeadSpec::Dense(vec![
                (256, DenseActivation::Relu),
                (128, DenseActivation::Relu),
                (5, DenseActivation::Softmax)
            ])
        );
    }
}
