//! The typed layer catalogue: Inception-V3 as a tree of blocks → branches → ops, with every
//! tapped layer's id (torchvision module path), kind, kernel, stride, padding, output shape for a
//! 299x299 input, Keras alias, and whether it lies on the 48-layer-deep longest path.
//!
//! The catalogue is the single description of the architecture's hyper-parameters: the model
//! (the `model` module) builds each conv from its entry here, and a test binds the taps the forward
//! pass produces to these ids and shapes.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Side of the square input image the network is built for.
pub const INPUT_SIZE: usize = 299;

/// What a tapped layer computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LayerKind {
    /// Convolution + BatchNorm + ReLU (torchvision's `BasicConv2d`); the tap is after the ReLU.
    Conv,
    /// Max pooling.
    MaxPool,
    /// Average pooling inside a block (padding semantics follow the weight source).
    AvgPool,
    /// Channel concatenation of branches.
    Concat,
    /// The global average pool before the head.
    GlobalAvgPool,
}

impl LayerKind {
    /// Short lowercase name, as in the reference files (`conv`, `maxpool`, `avgpool`, `concat`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Conv => "conv",
            Self::MaxPool => "maxpool",
            Self::AvgPool | Self::GlobalAvgPool => "avgpool",
            Self::Concat => "concat",
        }
    }
}

/// Kind of a block in the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// The stem convs and pools (no block of their own in torchvision).
    Stem,
    /// torchvision `InceptionA` (Mixed_5b, 5c, 5d).
    InceptionA,
    /// torchvision `InceptionB` (Mixed_6a, grid reduction).
    InceptionB,
    /// torchvision `InceptionC` (Mixed_6b … 6e, factorised 7x7).
    InceptionC,
    /// torchvision `InceptionD` (Mixed_7a, grid reduction).
    InceptionD,
    /// torchvision `InceptionE` (Mixed_7b, 7c, expanded filter banks).
    InceptionE,
    /// The global average pool.
    Pool,
}

/// One tapped layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerInfo {
    /// torchvision module path, e.g. `Mixed_5b.branch3x3dbl_2`.
    pub id: String,
    /// What it computes.
    pub kind: LayerKind,
    /// Kernel size [h, w] (convs and pools).
    pub kernel: Option<[usize; 2]>,
    /// Stride [h, w] (convs and pools).
    pub stride: Option<[usize; 2]>,
    /// Symmetric padding [h, w] (convs and pools).
    pub padding: Option<[usize; 2]>,
    /// Input channels (convs).
    pub in_channels: usize,
    /// Output shape [C, H, W] for a 299x299 input.
    pub shape: [usize; 3],
    /// The Keras layer name of the same op (`conv2d_12`, `mixed0`, `max_pooling2d_1`, …).
    pub keras: String,
    /// Other accepted Keras names (`activation_12`, `batch_normalization_12`).
    pub keras_extra: Vec<String>,
    /// Layers whose outputs feed this one (indices into [`Catalogue::layers`]); empty = the input.
    pub inputs: Vec<usize>,
    /// Whether the layer lies on a longest path (48 weight layers, head included).
    pub on_longest_path: bool,
    /// Weight-layer depth from the input up to and including this layer.
    pub depth: usize,
    /// The 1-based conv number in torchvision module order (= Keras `conv2d_N`), for convs.
    pub conv_index: Option<usize>,
}

/// A branch of a block: its ops in order, ending in the branch output.
#[derive(Clone, Debug, PartialEq)]
pub struct BranchInfo {
    /// Branch name as in torchvision (`branch3x3dbl`, `branch_pool`, …).
    pub name: String,
    /// Layer indices, in execution order.
    pub layers: Vec<usize>,
}

/// A block of the tree: the stem, one `Mixed_*` block, or the final pool.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockInfo {
    /// `stem`, `Mixed_5b`, …, `avgpool`.
    pub id: String,
    /// Which torchvision class it mirrors.
    pub kind: BlockKind,
    /// Its branches (the stem and the pool have one).
    pub branches: Vec<BranchInfo>,
    /// The block's own output layer (its concat), if it has one distinct from the branches.
    pub output: Option<usize>,
}

/// The whole network's description.
#[derive(Clone, Debug)]
pub struct Catalogue {
    /// Every tapped layer, in execution order.
    pub layers: Vec<LayerInfo>,
    /// The tree: blocks → branches → layers.
    pub blocks: Vec<BlockInfo>,
    /// Depth of the longest path from input to head, in weight layers (convs + fc) — 48.
    pub longest_path: usize,
    index: HashMap<String, usize>,
}

impl Catalogue {
    /// The catalogue of torchvision's Inception-V3 (built once).
    pub fn inception_v3() -> &'static Catalogue {
        static CAT: OnceLock<Catalogue> = OnceLock::new();
        CAT.get_or_init(build)
    }

    /// Resolve a torchvision id or a Keras alias (case-sensitive ids, case-insensitive aliases).
    pub fn resolve(&self, name: &str) -> Option<&LayerInfo> {
        self.index
            .get(name)
            .or_else(|| self.index.get(&name.to_ascii_lowercase()))
            .map(|&i| &self.layers[i])
    }

    /// Index of a layer by id or alias.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.resolve(name)
            .and_then(|l| self.index.get(&l.id).copied())
    }

    /// The layer with this exact torchvision id.
    pub fn get(&self, id: &str) -> Option<&LayerInfo> {
        self.index.get(id).map(|&i| &self.layers[i])
    }

    /// The convs in torchvision module order (conv N is Keras `conv2d_N`).
    pub fn convs(&self) -> impl Iterator<Item = &LayerInfo> {
        let mut convs: Vec<&LayerInfo> = self
            .layers
            .iter()
            .filter(|l| l.kind == LayerKind::Conv)
            .collect();
        convs.sort_by_key(|l| l.conv_index);
        convs.into_iter()
    }
}

/// Builder state: appends layers and computes shapes as it goes.
struct Builder {
    layers: Vec<LayerInfo>,
    blocks: Vec<BlockInfo>,
    convs: usize,
    max_pools: usize,
    avg_pools: usize,
    concats: usize,
}

struct Op {
    kind: LayerKind,
    out_c: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
}

fn conv(out_c: usize, kernel: [usize; 2], stride: usize, padding: [usize; 2]) -> Op {
    Op {
        kind: LayerKind::Conv,
        out_c,
        kernel,
        stride: [stride, stride],
        padding,
    }
}

fn conv1(out_c: usize) -> Op {
    conv(out_c, [1, 1], 1, [0, 0])
}

fn out_len(len: usize, k: usize, s: usize, p: usize) -> usize {
    (len + 2 * p - k) / s + 1
}

impl Builder {
    fn add(&mut self, id: String, op: Op, input: Option<usize>) -> usize {
        let (in_c, in_h, in_w) = match input {
            Some(i) => {
                let [c, h, w] = self.layers[i].shape;
                (c, h, w)
            }
            None => (3, INPUT_SIZE, INPUT_SIZE),
        };
        let out_c = if op.kind == LayerKind::Conv {
            op.out_c
        } else {
            in_c
        };
        let shape = [
            out_c,
            out_len(in_h, op.kernel[0], op.stride[0], op.padding[0]),
            out_len(in_w, op.kernel[1], op.stride[1], op.padding[1]),
        ];
        let (keras, keras_extra, conv_index) = match op.kind {
            LayerKind::Conv => {
                self.convs += 1;
                let n = self.convs;
                (
                    format!("conv2d_{n}"),
                    vec![
                        format!("activation_{n}"),
                        format!("batch_normalization_{n}"),
                    ],
                    Some(n),
                )
            }
            LayerKind::MaxPool => {
                self.max_pools += 1;
                (format!("max_pooling2d_{}", self.max_pools), vec![], None)
            }
            LayerKind::AvgPool => {
                self.avg_pools += 1;
                (
                    format!("average_pooling2d_{}", self.avg_pools),
                    vec![],
                    None,
                )
            }
            LayerKind::Concat | LayerKind::GlobalAvgPool => (String::new(), vec![], None),
        };
        self.layers.push(LayerInfo {
            id,
            kind: op.kind,
            kernel: Some(op.kernel),
            stride: Some(op.stride),
            padding: Some(op.padding),
            in_channels: in_c,
            shape,
            keras,
            keras_extra,
            inputs: input.into_iter().collect(),
            on_longest_path: false,
            depth: 0,
            conv_index,
        });
        self.layers.len() - 1
    }

    /// A chain of ops from `input`, ids `prefix.name`; returns the layer indices.
    fn chain(&mut self, prefix: &str, input: usize, ops: Vec<(&str, Op)>) -> Vec<usize> {
        let mut last = input;
        let mut out = Vec::new();
        for (name, op) in ops {
            last = self.add(format!("{prefix}.{name}"), op, Some(last));
            out.push(last);
        }
        out
    }

    fn concat(&mut self, id: String, parts: &[usize], keras: String) -> usize {
        let [_, h, w] = self.layers[parts[0]].shape;
        let c = parts.iter().map(|&p| self.layers[p].shape[0]).sum();
        self.layers.push(LayerInfo {
            id,
            kind: LayerKind::Concat,
            kernel: None,
            stride: None,
            padding: None,
            in_channels: c,
            shape: [c, h, w],
            keras,
            keras_extra: vec![],
            inputs: parts.to_vec(),
            on_longest_path: false,
            depth: 0,
            conv_index: None,
        });
        self.layers.len() - 1
    }

    fn next_mixed(&mut self) -> String {
        let n = self.concats;
        self.concats += 1;
        format!("mixed{n}")
    }

    fn pool(kind: LayerKind, stride: usize, padding: usize) -> Op {
        Op {
            kind,
            out_c: 0,
            kernel: [3, 3],
            stride: [stride, stride],
            padding: [padding, padding],
        }
    }

    fn branch(name: &str, layers: Vec<usize>) -> BranchInfo {
        BranchInfo {
            name: name.to_string(),
            layers,
        }
    }

    fn block_a(&mut self, p: &str, x: usize, pool_features: usize) -> usize {
        let b1 = self.chain(p, x, vec![("branch1x1", conv1(64))]);
        let b5 = self.chain(
            p,
            x,
            vec![
                ("branch5x5_1", conv1(48)),
                ("branch5x5_2", conv(64, [5, 5], 1, [2, 2])),
            ],
        );
        let b3 = self.chain(
            p,
            x,
            vec![
                ("branch3x3dbl_1", conv1(64)),
                ("branch3x3dbl_2", conv(96, [3, 3], 1, [1, 1])),
                ("branch3x3dbl_3", conv(96, [3, 3], 1, [1, 1])),
            ],
        );
        let bp = self.chain(
            p,
            x,
            vec![
                ("branch_pool.avg_pool", Self::pool(LayerKind::AvgPool, 1, 1)),
                ("branch_pool", conv1(pool_features)),
            ],
        );
        let ends = [last(&b1), last(&b5), last(&b3), last(&bp)];
        let keras = self.next_mixed();
        let out = self.concat(p.to_string(), &ends, keras);
        self.blocks.push(BlockInfo {
            id: p.to_string(),
            kind: BlockKind::InceptionA,
            branches: vec![
                Self::branch("branch1x1", b1),
                Self::branch("branch5x5", b5),
                Self::branch("branch3x3dbl", b3),
                Self::branch("branch_pool", bp),
            ],
            output: Some(out),
        });
        out
    }

    fn block_b(&mut self, p: &str, x: usize) -> usize {
        let b3 = self.chain(p, x, vec![("branch3x3", conv(384, [3, 3], 2, [0, 0]))]);
        let bd = self.chain(
            p,
            x,
            vec![
                ("branch3x3dbl_1", conv1(64)),
                ("branch3x3dbl_2", conv(96, [3, 3], 1, [1, 1])),
                ("branch3x3dbl_3", conv(96, [3, 3], 2, [0, 0])),
            ],
        );
        let bp = self.chain(
            p,
            x,
            vec![("branch_pool.max_pool", Self::pool(LayerKind::MaxPool, 2, 0))],
        );
        let ends = [last(&b3), last(&bd), last(&bp)];
        let keras = self.next_mixed();
        let out = self.concat(p.to_string(), &ends, keras);
        self.blocks.push(BlockInfo {
            id: p.to_string(),
            kind: BlockKind::InceptionB,
            branches: vec![
                Self::branch("branch3x3", b3),
                Self::branch("branch3x3dbl", bd),
                Self::branch("branch_pool", bp),
            ],
            output: Some(out),
        });
        out
    }

    fn block_c(&mut self, p: &str, x: usize, c7: usize) -> usize {
        let row = |c| conv(c, [1, 7], 1, [0, 3]);
        let col = |c| conv(c, [7, 1], 1, [3, 0]);
        let b1 = self.chain(p, x, vec![("branch1x1", conv1(192))]);
        let b7 = self.chain(
            p,
            x,
            vec![
                ("branch7x7_1", conv1(c7)),
                ("branch7x7_2", row(c7)),
                ("branch7x7_3", col(192)),
            ],
        );
        let bd = self.chain(
            p,
            x,
            vec![
                ("branch7x7dbl_1", conv1(c7)),
                ("branch7x7dbl_2", col(c7)),
                ("branch7x7dbl_3", row(c7)),
                ("branch7x7dbl_4", col(c7)),
                ("branch7x7dbl_5", row(192)),
            ],
        );
        let bp = self.chain(
            p,
            x,
            vec![
                ("branch_pool.avg_pool", Self::pool(LayerKind::AvgPool, 1, 1)),
                ("branch_pool", conv1(192)),
            ],
        );
        let ends = [last(&b1), last(&b7), last(&bd), last(&bp)];
        let keras = self.next_mixed();
        let out = self.concat(p.to_string(), &ends, keras);
        self.blocks.push(BlockInfo {
            id: p.to_string(),
            kind: BlockKind::InceptionC,
            branches: vec![
                Self::branch("branch1x1", b1),
                Self::branch("branch7x7", b7),
                Self::branch("branch7x7dbl", bd),
                Self::branch("branch_pool", bp),
            ],
            output: Some(out),
        });
        out
    }

    fn block_d(&mut self, p: &str, x: usize) -> usize {
        let b3 = self.chain(
            p,
            x,
            vec![
                ("branch3x3_1", conv1(192)),
                ("branch3x3_2", conv(320, [3, 3], 2, [0, 0])),
            ],
        );
        let b7 = self.chain(
            p,
            x,
            vec![
                ("branch7x7x3_1", conv1(192)),
                ("branch7x7x3_2", conv(192, [1, 7], 1, [0, 3])),
                ("branch7x7x3_3", conv(192, [7, 1], 1, [3, 0])),
                ("branch7x7x3_4", conv(192, [3, 3], 2, [0, 0])),
            ],
        );
        let bp = self.chain(
            p,
            x,
            vec![("branch_pool.max_pool", Self::pool(LayerKind::MaxPool, 2, 0))],
        );
        let ends = [last(&b3), last(&b7), last(&bp)];
        let keras = self.next_mixed();
        let out = self.concat(p.to_string(), &ends, keras);
        self.blocks.push(BlockInfo {
            id: p.to_string(),
            kind: BlockKind::InceptionD,
            branches: vec![
                Self::branch("branch3x3", b3),
                Self::branch("branch7x7x3", b7),
                Self::branch("branch_pool", bp),
            ],
            output: Some(out),
        });
        out
    }

    fn block_e(&mut self, p: &str, x: usize, inner: usize) -> usize {
        let b1 = self.chain(p, x, vec![("branch1x1", conv1(320))]);
        let mut b3 = self.chain(p, x, vec![("branch3x3_1", conv1(384))]);
        let b3_1 = last(&b3);
        let a = self.add(
            format!("{p}.branch3x3_2a"),
            conv(384, [1, 3], 1, [0, 1]),
            Some(b3_1),
        );
        let b = self.add(
            format!("{p}.branch3x3_2b"),
            conv(384, [3, 1], 1, [1, 0]),
            Some(b3_1),
        );
        let cat3 = self.concat(format!("{p}.branch3x3"), &[a, b], format!("mixed9_{inner}"));
        b3.extend([a, b, cat3]);
        let mut bd = self.chain(
            p,
            x,
            vec![
                ("branch3x3dbl_1", conv1(448)),
                ("branch3x3dbl_2", conv(384, [3, 3], 1, [1, 1])),
            ],
        );
        let bd_2 = last(&bd);
        let a = self.add(
            format!("{p}.branch3x3dbl_3a"),
            conv(384, [1, 3], 1, [0, 1]),
            Some(bd_2),
        );
        let b = self.add(
            format!("{p}.branch3x3dbl_3b"),
            conv(384, [3, 1], 1, [1, 0]),
            Some(bd_2),
        );
        let catd = self.concat(
            format!("{p}.branch3x3dbl"),
            &[a, b],
            format!("concatenate_{}", inner + 1),
        );
        bd.extend([a, b, catd]);
        let bp = self.chain(
            p,
            x,
            vec![
                ("branch_pool.avg_pool", Self::pool(LayerKind::AvgPool, 1, 1)),
                ("branch_pool", conv1(192)),
            ],
        );
        let ends = [last(&b1), cat3, catd, last(&bp)];
        let keras = self.next_mixed();
        let out = self.concat(p.to_string(), &ends, keras);
        self.blocks.push(BlockInfo {
            id: p.to_string(),
            kind: BlockKind::InceptionE,
            branches: vec![
                Self::branch("branch1x1", b1),
                Self::branch("branch3x3", b3),
                Self::branch("branch3x3dbl", bd),
                Self::branch("branch_pool", bp),
            ],
            output: Some(out),
        });
        out
    }
}

fn last(v: &[usize]) -> usize {
    v.last().copied().unwrap_or_default()
}

fn build() -> Catalogue {
    let mut b = Builder {
        layers: Vec::new(),
        blocks: Vec::new(),
        convs: 0,
        max_pools: 0,
        avg_pools: 0,
        concats: 0,
    };
    // Stem, as torchvision's `Inception3.__init__` lists it.
    let mut stem = Vec::new();
    let mut x = b.add("Conv2d_1a_3x3".into(), conv(32, [3, 3], 2, [0, 0]), None);
    stem.push(x);
    for (id, op) in [
        ("Conv2d_2a_3x3", conv(32, [3, 3], 1, [0, 0])),
        ("Conv2d_2b_3x3", conv(64, [3, 3], 1, [1, 1])),
        ("maxpool1", Builder::pool(LayerKind::MaxPool, 2, 0)),
        ("Conv2d_3b_1x1", conv1(80)),
        ("Conv2d_4a_3x3", conv(192, [3, 3], 1, [0, 0])),
        ("maxpool2", Builder::pool(LayerKind::MaxPool, 2, 0)),
    ] {
        x = b.add(id.into(), op, Some(x));
        stem.push(x);
    }
    b.blocks.push(BlockInfo {
        id: "stem".into(),
        kind: BlockKind::Stem,
        branches: vec![Builder::branch("stem", stem)],
        output: None,
    });
    x = b.block_a("Mixed_5b", x, 32);
    x = b.block_a("Mixed_5c", x, 64);
    x = b.block_a("Mixed_5d", x, 64);
    x = b.block_b("Mixed_6a", x);
    x = b.block_c("Mixed_6b", x, 128);
    x = b.block_c("Mixed_6c", x, 160);
    x = b.block_c("Mixed_6d", x, 160);
    x = b.block_c("Mixed_6e", x, 192);
    x = b.block_d("Mixed_7a", x);
    x = b.block_e("Mixed_7b", x, 0);
    x = b.block_e("Mixed_7c", x, 1);
    let [c, h, w] = b.layers[x].shape;
    let pool = b.add(
        "avgpool".into(),
        Op {
            kind: LayerKind::GlobalAvgPool,
            out_c: c,
            kernel: [h, w],
            stride: [1, 1],
            padding: [0, 0],
        },
        Some(x),
    );
    b.layers[pool].keras = "average_pooling2d_10".into();
    b.layers[pool].keras_extra = vec!["avg_pool".into(), "global_average_pooling2d_1".into()];
    b.blocks.push(BlockInfo {
        id: "avgpool".into(),
        kind: BlockKind::Pool,
        branches: vec![Builder::branch("avgpool", vec![pool])],
        output: None,
    });
    let longest_path = mark_longest_path(&mut b.layers);
    let mut index = HashMap::new();
    for (i, l) in b.layers.iter().enumerate() {
        index.insert(l.id.clone(), i);
        for alias in std::iter::once(&l.keras).chain(&l.keras_extra) {
            if !alias.is_empty() {
                index.insert(alias.clone(), i);
            }
        }
    }
    Catalogue {
        layers: b.layers,
        blocks: b.blocks,
        longest_path,
        index,
    }
}

/// Depth in weight layers (convs; the head's fc adds one), longest-path marking.
fn mark_longest_path(layers: &mut [LayerInfo]) -> usize {
    let weight = |l: &LayerInfo| usize::from(l.kind == LayerKind::Conv);
    // Depth from the input, in execution (topological) order.
    for i in 0..layers.len() {
        let from = layers[i]
            .inputs
            .iter()
            .map(|&j| layers[j].depth)
            .max()
            .unwrap_or(0);
        layers[i].depth = from + weight(&layers[i]);
    }
    // Depth from each layer's output to the head's fc (which counts 1).
    let mut below = vec![0usize; layers.len()];
    let last_index = layers.len() - 1;
    below[last_index] = 1;
    for i in (0..layers.len()).rev() {
        for &j in &layers[i].inputs.clone() {
            below[j] = below[j].max(below[i] + weight(&layers[i]));
        }
    }
    let total = layers[last_index].depth + 1;
    for (l, b) in layers.iter_mut().zip(below) {
        l.on_longest_path = l.depth + b == total;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_longest_path() {
        let cat = Catalogue::inception_v3();
        assert_eq!(cat.layers.len(), 123);
        assert_eq!(cat.convs().count(), 94);
        assert_eq!(cat.longest_path, 48);
        let concats = cat
            .layers
            .iter()
            .filter(|l| l.kind == LayerKind::Concat)
            .count();
        assert_eq!(concats, 11 + 4);
        let on_path_convs = cat
            .layers
            .iter()
            .filter(|l| l.on_longest_path && l.kind == LayerKind::Conv)
            .count();
        // 5 stem + 3x3 + 3 + 4x5 + 4 + 2x(2 + both of 3a/3b) = 49 convs marked; 47 on any one path.
        assert_eq!(on_path_convs, 49);
        assert!(
            cat.get("Mixed_6e.branch7x7dbl_5")
                .is_some_and(|l| l.on_longest_path)
        );
        assert!(
            cat.get("Mixed_6e.branch1x1")
                .is_some_and(|l| !l.on_longest_path)
        );
    }

    #[test]
    fn aliases_and_shapes() {
        let cat = Catalogue::inception_v3();
        assert_eq!(
            cat.resolve("mixed0").map(|l| l.id.as_str()),
            Some("Mixed_5b")
        );
        assert_eq!(
            cat.resolve("mixed10").map(|l| l.id.as_str()),
            Some("Mixed_7c")
        );
        assert_eq!(
            cat.resolve("mixed9_0").map(|l| l.id.as_str()),
            Some("Mixed_7b.branch3x3")
        );
        assert_eq!(
            cat.resolve("conv2d_12").map(|l| l.id.as_str()),
            Some("Mixed_5b.branch_pool")
        );
        assert_eq!(
            cat.resolve("average_pooling2d_10").map(|l| l.id.as_str()),
            Some("avgpool")
        );
        assert_eq!(cat.get("Mixed_7c").map(|l| l.shape), Some([2048, 8, 8]));
        assert_eq!(cat.get("Mixed_6a").map(|l| l.shape), Some([768, 17, 17]));
        assert_eq!(cat.get("avgpool").map(|l| l.shape), Some([2048, 1, 1]));
        assert!(cat.resolve("nope").is_none());
    }
}
