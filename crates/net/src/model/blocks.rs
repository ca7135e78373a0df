//! The building blocks of Inception-V3, one module per torchvision class, field names mirroring
//! torchvision's so parameter paths equal its state-dict keys.
#![allow(non_snake_case)]

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, PaddingConfig2d};
use burn::tensor::module::{avg_pool2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor};

use super::cpu_conv::CpuConv;
use super::cpu_pool;
use crate::catalogue::{Catalogue, LayerInfo};
use crate::taps::Recorder;

/// BatchNorm epsilon of Inception-V3 (torchvision and Keras both use 1e-3; burn's default is 1e-5).
pub const BN_EPSILON: f64 = 1e-3;

/// torchvision `BasicConv2d`: conv (no bias) → BatchNorm(eps 1e-3) → ReLU.
#[derive(Module, Debug)]
pub struct BasicConv2d {
    /// The convolution.
    pub conv: Conv2d,
    /// Its batch norm.
    pub bn: BatchNorm,
    /// `conv` with `bn` folded in ([`BasicConv2d::fold`]), what inference runs; `None` runs
    /// `conv` then `bn`. Derived from the two, so not part of the record (no state-dict key).
    #[module(skip)]
    pub folded: Option<Folded>,
}

/// A conv with its BatchNorm folded in.
#[derive(Clone, Debug)]
pub enum Folded {
    /// As a burn `Conv2d` with a bias (GPU devices).
    Burn(Conv2d),
    /// As host weights for the CPU path's own GEMM ([`CpuConv`]): burn's `flex` device.
    Cpu(CpuConv),
}

impl BasicConv2d {
    /// Build the conv described by a catalogue entry (weights zero until loaded).
    pub fn new(info: &LayerInfo, device: &Device) -> Self {
        let kernel = info.kernel.unwrap_or([1, 1]);
        let stride = info.stride.unwrap_or([1, 1]);
        let [ph, pw] = info.padding.unwrap_or([0, 0]);
        let conv = Conv2dConfig::new([info.in_channels, info.shape[0]], kernel)
            .with_stride(stride)
            .with_padding(PaddingConfig2d::Explicit(ph, pw, ph, pw))
            .with_bias(false)
            .with_initializer(Initializer::Zeros)
            .init(device);
        let bn = BatchNormConfig::new(info.shape[0])
            .with_epsilon(BN_EPSILON)
            .init(device);
        Self {
            conv,
            bn,
            folded: None,
        }
    }

    /// BatchNorm's per-channel scale at inference: `γ / √(running_var + ε)`.
    pub fn bn_scale(&self) -> Tensor<1> {
        let bn = &self.bn;
        bn.gamma.val() / bn.running_var.value().add_scalar(bn.epsilon).sqrt()
    }

    /// Fold the BatchNorm into the conv for inference: weights `W·s` and bias `β − μ·s` (plus
    /// the conv's own bias times `s`), `s` = [`BasicConv2d::bn_scale`]. One conv with a bias
    /// then replaces a conv and four per-element passes. Call again after changing `conv` or
    /// `bn`; the backward pass keeps reading `conv` and `bn` themselves.
    pub fn fold(&mut self) {
        let scale = self.bn_scale();
        let [c] = scale.dims();
        let mut folded = self.conv.clone();
        folded.weight =
            Param::from_tensor(self.conv.weight.val() * scale.clone().reshape([c, 1, 1, 1]));
        let mut bias = self.bn.beta.val() - self.bn.running_mean.value() * scale.clone();
        if let Some(b) = &self.conv.bias {
            bias = bias + b.val() * scale;
        }
        folded.bias = Some(Param::from_tensor(bias));
        let cpu = crate::model::cpu_kernels_serve(&folded.weight.device())
            .then(|| cpu_conv_of(&folded))
            .flatten();
        self.folded = Some(match cpu {
            Some(cpu) => Folded::Cpu(cpu),
            None => Folded::Burn(folded),
        });
    }

    /// Drop the folded conv: run `conv` then `bn`, as burn's modules compute them.
    pub fn unfold(&mut self) {
        self.folded = None;
    }

    /// Conv and BatchNorm, before the ReLU.
    pub fn pre_relu(&self, x: Tensor<4>) -> Tensor<4> {
        match self.cpu_forward(x, false) {
            Ok(y) => y,
            Err(x) => self.burn_pre_relu(*x),
        }
    }

    /// The CPU path's folded conv (with the ReLU fused in when `relu`), where it serves `x`.
    fn cpu_forward(&self, x: Tensor<4>, relu: bool) -> Result<Tensor<4>, Box<Tensor<4>>> {
        match &self.folded {
            Some(Folded::Cpu(cpu)) if crate::model::cpu_kernels_serve(&x.device()) => {
                cpu.forward(x, relu)
            }
            _ => Err(Box::new(x)),
        }
    }

    /// Conv and BatchNorm with burn's ops: the folded conv, or the two modules.
    fn burn_pre_relu(&self, x: Tensor<4>) -> Tensor<4> {
        match &self.folded {
            Some(Folded::Burn(folded)) => folded.forward(x),
            _ => self.bn.forward(self.conv.forward(x)),
        }
    }

    /// Forward, recording the post-ReLU (and, on request, pre-ReLU) output under `id`.
    pub fn forward(&self, x: Tensor<4>, id: &str, rec: &mut Recorder) -> Tensor<4> {
        // Without a pre-ReLU tap, the CPU path fuses the ReLU into the conv (every rule's
        // forward is the plain ReLU).
        let x = match rec.wants_pre_relu(id) {
            true => x,
            false => match self.cpu_forward(x, true) {
                Ok(y) => {
                    rec.tap(id, &y);
                    return y;
                }
                Err(x) => *x,
            },
        };
        let y = self.pre_relu(x);
        if rec.wants_pre_relu(id) {
            rec.tap_pre_relu(id, &y);
        }
        let y = rec.relu.apply(y);
        rec.tap(id, &y);
        y
    }
}

/// The folded conv's weights and bias on the host, for [`CpuConv`].
fn cpu_conv_of(folded: &Conv2d) -> Option<CpuConv> {
    let host = |t: Tensor<1>| -> Option<Vec<f32>> {
        t.into_data().convert::<f32>().try_into_vec::<f32>().ok()
    };
    let weight = folded.weight.val();
    let dims = weight.dims();
    let weight = host(weight.flatten(0, 3))?;
    let bias = host(folded.bias.as_ref()?.val())?;
    if folded.dilation != [1, 1] || folded.groups != 1 {
        return None;
    }
    let padding = match &folded.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            [*top, *left]
        }
        PaddingConfig2d::Valid => [0, 0],
        _ => return None,
    };
    CpuConv::new(weight, bias, dims, folded.stride, padding)
}

/// Look a conv up in the catalogue and build it.
pub(crate) fn conv(prefix: &str, name: &str, device: &Device) -> BasicConv2d {
    let id = if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    };
    match Catalogue::inception_v3().get(&id) {
        Some(info) => BasicConv2d::new(info, device),
        // The ids below are the catalogue's own; a miss is a programming error caught by tests.
        None => unreachable!("catalogue has no conv `{id}`"),
    }
}

/// The CPU path's `kernel` of `x` when the CPU kernels may run and it takes `x` (the `flex`
/// device, a fitting shape), else burn's `op`.
fn cpu_kernel_or(
    x: Tensor<4>,
    cpu_kernels: bool,
    kernel: impl FnOnce(Tensor<4>) -> Result<Tensor<4>, Box<Tensor<4>>>,
    op: impl FnOnce(Tensor<4>) -> Tensor<4>,
) -> Tensor<4> {
    if !cpu_kernels {
        return op(x);
    }
    kernel(x).unwrap_or_else(|x| op(*x))
}

/// 3x3 stride-1 average pool, padded by one; counts padded zeros or not.
pub(crate) fn avg_pool_3x3(x: Tensor<4>, counts_padding: bool, cpu_kernels: bool) -> Tensor<4> {
    let options = AvgPoolOptions::new([3, 3])
        .with_stride([1, 1])
        .with_padding([1, 1])
        .with_count_include_pad(counts_padding);
    cpu_kernel_or(
        x,
        cpu_kernels,
        |x| cpu_pool::avg_pool_3x3_s1(x, counts_padding),
        |x| avg_pool2d(x, options),
    )
}

/// 3x3 stride-2 max pool, no padding.
pub(crate) fn max_pool_3x3_s2(x: Tensor<4>, cpu_kernels: bool) -> Tensor<4> {
    cpu_kernel_or(
        x,
        cpu_kernels,
        |x| cpu_pool::max_pool_3x3(x, 2),
        |x| max_pool2d(x, MaxPoolOptions::new([3, 3]).with_stride([2, 2])),
    )
}

/// 3x3 stride-1 max pool, padded by one (padding never wins the max).
pub(crate) fn max_pool_3x3_s1(x: Tensor<4>, cpu_kernels: bool) -> Tensor<4> {
    let options = MaxPoolOptions::new([3, 3])
        .with_stride([1, 1])
        .with_padding([1, 1]);
    cpu_kernel_or(
        x,
        cpu_kernels,
        |x| cpu_pool::max_pool_3x3(x, 1),
        |x| max_pool2d(x, options),
    )
}

fn tapped_cat(parts: Vec<Tensor<4>>, id: &str, rec: &mut Recorder) -> Tensor<4> {
    let y = Tensor::cat(parts, 1);
    rec.tap(id, &y);
    y
}

fn pool_branch(x: &Tensor<4>, p: &str, rec: &mut Recorder) -> Tensor<4> {
    let y = avg_pool_3x3(x.clone(), rec.avg_pool_counts_padding, rec.cpu_kernels);
    rec.tap(&format!("{p}.branch_pool.avg_pool"), &y);
    y
}

/// torchvision `InceptionA` (Mixed_5b, 5c, 5d).
#[derive(Module, Debug)]
pub struct InceptionA {
    pub branch1x1: BasicConv2d,
    pub branch5x5_1: BasicConv2d,
    pub branch5x5_2: BasicConv2d,
    pub branch3x3dbl_1: BasicConv2d,
    pub branch3x3dbl_2: BasicConv2d,
    pub branch3x3dbl_3: BasicConv2d,
    pub branch_pool: BasicConv2d,
}

impl InceptionA {
    /// Block `p` (e.g. `Mixed_5b`).
    pub fn new(p: &str, d: &Device) -> Self {
        Self {
            branch1x1: conv(p, "branch1x1", d),
            branch5x5_1: conv(p, "branch5x5_1", d),
            branch5x5_2: conv(p, "branch5x5_2", d),
            branch3x3dbl_1: conv(p, "branch3x3dbl_1", d),
            branch3x3dbl_2: conv(p, "branch3x3dbl_2", d),
            branch3x3dbl_3: conv(p, "branch3x3dbl_3", d),
            branch_pool: conv(p, "branch_pool", d),
        }
    }

    /// Forward with taps under prefix `p`.
    pub fn forward(&self, x: Tensor<4>, p: &str, rec: &mut Recorder) -> Tensor<4> {
        let id = |n: &str| format!("{p}.{n}");
        let b1 = self.branch1x1.forward(x.clone(), &id("branch1x1"), rec);
        let b5 = self.branch5x5_1.forward(x.clone(), &id("branch5x5_1"), rec);
        let b5 = self.branch5x5_2.forward(b5, &id("branch5x5_2"), rec);
        let b3 = self
            .branch3x3dbl_1
            .forward(x.clone(), &id("branch3x3dbl_1"), rec);
        let b3 = self.branch3x3dbl_2.forward(b3, &id("branch3x3dbl_2"), rec);
        let b3 = self.branch3x3dbl_3.forward(b3, &id("branch3x3dbl_3"), rec);
        let bp = pool_branch(&x, p, rec);
        let bp = self.branch_pool.forward(bp, &id("branch_pool"), rec);
        tapped_cat(vec![b1, b5, b3, bp], p, rec)
    }
}

/// torchvision `InceptionB` (Mixed_6a).
#[derive(Module, Debug)]
pub struct InceptionB {
    pub branch3x3: BasicConv2d,
    pub branch3x3dbl_1: BasicConv2d,
    pub branch3x3dbl_2: BasicConv2d,
    pub branch3x3dbl_3: BasicConv2d,
}

impl InceptionB {
    /// Block `p`.
    pub fn new(p: &str, d: &Device) -> Self {
        Self {
            branch3x3: conv(p, "branch3x3", d),
            branch3x3dbl_1: conv(p, "branch3x3dbl_1", d),
            branch3x3dbl_2: conv(p, "branch3x3dbl_2", d),
            branch3x3dbl_3: conv(p, "branch3x3dbl_3", d),
        }
    }

    /// Forward with taps under prefix `p`.
    pub fn forward(&self, x: Tensor<4>, p: &str, rec: &mut Recorder) -> Tensor<4> {
        let id = |n: &str| format!("{p}.{n}");
        let b3 = self.branch3x3.forward(x.clone(), &id("branch3x3"), rec);
        let bd = self
            .branch3x3dbl_1
            .forward(x.clone(), &id("branch3x3dbl_1"), rec);
        let bd = self.branch3x3dbl_2.forward(bd, &id("branch3x3dbl_2"), rec);
        let bd = self.branch3x3dbl_3.forward(bd, &id("branch3x3dbl_3"), rec);
        let bp = max_pool_3x3_s2(x, rec.cpu_kernels);
        rec.tap(&id("branch_pool.max_pool"), &bp);
        tapped_cat(vec![b3, bd, bp], p, rec)
    }
}

/// torchvision `InceptionC` (Mixed_6b … 6e).
#[derive(Module, Debug)]
pub struct InceptionC {
    pub branch1x1: BasicConv2d,
    pub branch7x7_1: BasicConv2d,
    pub branch7x7_2: BasicConv2d,
    pub branch7x7_3: BasicConv2d,
    pub branch7x7dbl_1: BasicConv2d,
    pub branch7x7dbl_2: BasicConv2d,
    pub branch7x7dbl_3: BasicConv2d,
    pub branch7x7dbl_4: BasicConv2d,
    pub branch7x7dbl_5: BasicConv2d,
    pub branch_pool: BasicConv2d,
}

impl InceptionC {
    /// Block `p`.
    pub fn new(p: &str, d: &Device) -> Self {
        Self {
            branch1x1: conv(p, "branch1x1", d),
            branch7x7_1: conv(p, "branch7x7_1", d),
            branch7x7_2: conv(p, "branch7x7_2", d),
            branch7x7_3: conv(p, "branch7x7_3", d),
            branch7x7dbl_1: conv(p, "branch7x7dbl_1", d),
            branch7x7dbl_2: conv(p, "branch7x7dbl_2", d),
            branch7x7dbl_3: conv(p, "branch7x7dbl_3", d),
            branch7x7dbl_4: conv(p, "branch7x7dbl_4", d),
            branch7x7dbl_5: conv(p, "branch7x7dbl_5", d),
            branch_pool: conv(p, "branch_pool", d),
        }
    }

    /// Forward with taps under prefix `p`.
    pub fn forward(&self, x: Tensor<4>, p: &str, rec: &mut Recorder) -> Tensor<4> {
        let id = |n: &str| format!("{p}.{n}");
        let b1 = self.branch1x1.forward(x.clone(), &id("branch1x1"), rec);
        let b7 = self.branch7x7_1.forward(x.clone(), &id("branch7x7_1"), rec);
        let b7 = self.branch7x7_2.forward(b7, &id("branch7x7_2"), rec);
        let b7 = self.branch7x7_3.forward(b7, &id("branch7x7_3"), rec);
        let bd = self
            .branch7x7dbl_1
            .forward(x.clone(), &id("branch7x7dbl_1"), rec);
        let bd = self.branch7x7dbl_2.forward(bd, &id("branch7x7dbl_2"), rec);
        let bd = self.branch7x7dbl_3.forward(bd, &id("branch7x7dbl_3"), rec);
        let bd = self.branch7x7dbl_4.forward(bd, &id("branch7x7dbl_4"), rec);
        let bd = self.branch7x7dbl_5.forward(bd, &id("branch7x7dbl_5"), rec);
        let bp = pool_branch(&x, p, rec);
        let bp = self.branch_pool.forward(bp, &id("branch_pool"), rec);
        tapped_cat(vec![b1, b7, bd, bp], p, rec)
    }
}

/// torchvision `InceptionD` (Mixed_7a).
#[derive(Module, Debug)]
pub struct InceptionD {
    pub branch3x3_1: BasicConv2d,
    pub branch3x3_2: BasicConv2d,
    pub branch7x7x3_1: BasicConv2d,
    pub branch7x7x3_2: BasicConv2d,
    pub branch7x7x3_3: BasicConv2d,
    pub branch7x7x3_4: BasicConv2d,
}

impl InceptionD {
    /// Block `p`.
    pub fn new(p: &str, d: &Device) -> Self {
        Self {
            branch3x3_1: conv(p, "branch3x3_1", d),
            branch3x3_2: conv(p, "branch3x3_2", d),
            branch7x7x3_1: conv(p, "branch7x7x3_1", d),
            branch7x7x3_2: conv(p, "branch7x7x3_2", d),
            branch7x7x3_3: conv(p, "branch7x7x3_3", d),
            branch7x7x3_4: conv(p, "branch7x7x3_4", d),
        }
    }

    /// Forward with taps under prefix `p`.
    pub fn forward(&self, x: Tensor<4>, p: &str, rec: &mut Recorder) -> Tensor<4> {
        let id = |n: &str| format!("{p}.{n}");
        let b3 = self.branch3x3_1.forward(x.clone(), &id("branch3x3_1"), rec);
        let b3 = self.branch3x3_2.forward(b3, &id("branch3x3_2"), rec);
        let b7 = self
            .branch7x7x3_1
            .forward(x.clone(), &id("branch7x7x3_1"), rec);
        let b7 = self.branch7x7x3_2.forward(b7, &id("branch7x7x3_2"), rec);
        let b7 = self.branch7x7x3_3.forward(b7, &id("branch7x7x3_3"), rec);
        let b7 = self.branch7x7x3_4.forward(b7, &id("branch7x7x3_4"), rec);
        let bp = max_pool_3x3_s2(x, rec.cpu_kernels);
        rec.tap(&id("branch_pool.max_pool"), &bp);
        tapped_cat(vec![b3, b7, bp], p, rec)
    }
}

/// torchvision `InceptionE` (Mixed_7b, 7c).
#[derive(Module, Debug)]
pub struct InceptionE {
    pub branch1x1: BasicConv2d,
    pub branch3x3_1: BasicConv2d,
    pub branch3x3_2a: BasicConv2d,
    pub branch3x3_2b: BasicConv2d,
    pub branch3x3dbl_1: BasicConv2d,
    pub branch3x3dbl_2: BasicConv2d,
    pub branch3x3dbl_3a: BasicConv2d,
    pub branch3x3dbl_3b: BasicConv2d,
    pub branch_pool: BasicConv2d,
    /// The pool branch pools with a 3x3 max pool instead of an average pool (Google's 2015
    /// graph does so in its last block, `mixed_10/tower_2/pool`). The tap keeps its id.
    #[module(skip)]
    pub max_pool_branch: bool,
}

impl InceptionE {
    /// Block `p`.
    pub fn new(p: &str, d: &Device) -> Self {
        Self {
            branch1x1: conv(p, "branch1x1", d),
            branch3x3_1: conv(p, "branch3x3_1", d),
            branch3x3_2a: conv(p, "branch3x3_2a", d),
            branch3x3_2b: conv(p, "branch3x3_2b", d),
            branch3x3dbl_1: conv(p, "branch3x3dbl_1", d),
            branch3x3dbl_2: conv(p, "branch3x3dbl_2", d),
            branch3x3dbl_3a: conv(p, "branch3x3dbl_3a", d),
            branch3x3dbl_3b: conv(p, "branch3x3dbl_3b", d),
            branch_pool: conv(p, "branch_pool", d),
            max_pool_branch: false,
        }
    }

    /// Forward with taps under prefix `p`.
    pub fn forward(&self, x: Tensor<4>, p: &str, rec: &mut Recorder) -> Tensor<4> {
        let id = |n: &str| format!("{p}.{n}");
        let b1 = self.branch1x1.forward(x.clone(), &id("branch1x1"), rec);
        let b3 = self.branch3x3_1.forward(x.clone(), &id("branch3x3_1"), rec);
        let b3a = self
            .branch3x3_2a
            .forward(b3.clone(), &id("branch3x3_2a"), rec);
        let b3b = self.branch3x3_2b.forward(b3, &id("branch3x3_2b"), rec);
        let b3 = tapped_cat(vec![b3a, b3b], &id("branch3x3"), rec);
        let bd = self
            .branch3x3dbl_1
            .forward(x.clone(), &id("branch3x3dbl_1"), rec);
        let bd = self.branch3x3dbl_2.forward(bd, &id("branch3x3dbl_2"), rec);
        let bda = self
            .branch3x3dbl_3a
            .forward(bd.clone(), &id("branch3x3dbl_3a"), rec);
        let bdb = self
            .branch3x3dbl_3b
            .forward(bd, &id("branch3x3dbl_3b"), rec);
        let bd = tapped_cat(vec![bda, bdb], &id("branch3x3dbl"), rec);
        let bp = if self.max_pool_branch {
            let y = max_pool_3x3_s1(x, rec.cpu_kernels);
            rec.tap(&id("branch_pool.avg_pool"), &y);
            y
        } else {
            pool_branch(&x, p, rec)
        };
        let bp = self.branch_pool.forward(bp, &id("branch_pool"), rec);
        tapped_cat(vec![b1, b3, bd, bp], p, rec)
    }
}

/// `conv(name)` / `conv_mut(name)`: a block's `BasicConv2d` by its torchvision field name, so
/// code that walks the catalogue (the backward pass, weight randomisation) reaches each conv's
/// parameters from its layer id.
macro_rules! named_convs {
    ($block:ty: $($field:ident),+ $(,)?) => {
        impl $block {
            /// The conv with this torchvision field name (`branch1x1`, …).
            pub fn conv(&self, name: &str) -> Option<&BasicConv2d> {
                match name {
                    $(stringify!($field) => Some(&self.$field),)+
                    _ => None,
                }
            }

            /// The conv with this field name, mutably.
            pub fn conv_mut(&mut self, name: &str) -> Option<&mut BasicConv2d> {
                match name {
                    $(stringify!($field) => Some(&mut self.$field),)+
                    _ => None,
                }
            }
        }
    };
}

named_convs!(InceptionA: branch1x1, branch5x5_1, branch5x5_2, branch3x3dbl_1, branch3x3dbl_2,
    branch3x3dbl_3, branch_pool);
named_convs!(InceptionB: branch3x3, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3);
named_convs!(InceptionC: branch1x1, branch7x7_1, branch7x7_2, branch7x7_3, branch7x7dbl_1,
    branch7x7dbl_2, branch7x7dbl_3, branch7x7dbl_4, branch7x7dbl_5, branch_pool);
named_convs!(InceptionD: branch3x3_1, branch3x3_2, branch7x7x3_1, branch7x7x3_2, branch7x7x3_3,
    branch7x7x3_4);
named_convs!(InceptionE: branch1x1, branch3x3_1, branch3x3_2a, branch3x3_2b, branch3x3dbl_1,
    branch3x3dbl_2, branch3x3dbl_3a, branch3x3dbl_3b, branch_pool);
