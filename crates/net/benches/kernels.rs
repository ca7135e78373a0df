//! The CPU path's conv kernels on the geometries that cost Inception-V3 the most, one image:
//! the packed AVX-512 kernel (`cpu_gemm`, weights packed at load, bias and ReLU in registers)
//! against the `gemm` crate path that CPUs without AVX-512 take. `cargo bench --workspace
//! --bench kernels`.

use burn::tensor::{Device, Distribution, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use featurescope_net::model::cpu_conv::CpuConv;

/// (layer, c_in, c_out, [kh, kw], stride, [ph, pw], input side).
type Geometry = (
    &'static str,
    usize,
    usize,
    [usize; 2],
    usize,
    [usize; 2],
    usize,
);

const LAYERS: [Geometry; 10] = [
    ("Conv2d_2b_3x3", 32, 64, [3, 3], 1, [1, 1], 147),
    ("Conv2d_4a_3x3", 80, 192, [3, 3], 1, [0, 0], 73),
    ("Mixed_5b.branch1x1", 192, 64, [1, 1], 1, [0, 0], 35),
    ("Mixed_5b.branch3x3dbl_3", 96, 96, [3, 3], 1, [1, 1], 35),
    ("Mixed_6a.branch3x3", 288, 384, [3, 3], 2, [0, 0], 35),
    ("Mixed_6b.branch1x1", 768, 192, [1, 1], 1, [0, 0], 17),
    ("Mixed_6b.branch7x7_2", 128, 128, [1, 7], 1, [0, 3], 17),
    ("Mixed_6b.branch7x7dbl_2", 128, 128, [7, 1], 1, [3, 0], 17),
    ("Mixed_7b.branch3x3_2a", 384, 384, [1, 3], 1, [0, 1], 8),
    ("Mixed_7b.branch1x1", 1280, 320, [1, 1], 1, [0, 0], 8),
];

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap_or_default()
}

fn convs(c: &mut Criterion) {
    featurescope_net::memory::keep_freed_memory();
    let device = Device::flex();
    let normal = Distribution::Normal(0.0, 1.0);
    for (name, c_in, c_out, [kh, kw], s, pad, side) in LAYERS {
        let x = Tensor::<4>::random([1, c_in, side, side], normal, &device);
        let weight = host(Tensor::<1>::random(
            [c_out * c_in * kh * kw],
            normal,
            &device,
        ));
        let bias = host(Tensor::<1>::random([c_out], normal, &device));
        let Some(packed) = CpuConv::new(weight, bias, [c_out, c_in, kh, kw], [s, s], pad) else {
            continue;
        };
        let plain = packed.clone().without_packing();
        let mut group = c.benchmark_group(format!("conv/{name}"));
        group.bench_function("packed kernel", |b| {
            b.iter(|| packed.forward(x.clone(), true).map(|y| y.dims()))
        });
        group.bench_function("gemm crate", |b| {
            b.iter(|| plain.forward(x.clone(), true).map(|y| y.dims()))
        });
        group.finish();
    }
}

criterion_group!(benches, convs);
criterion_main!(benches);
