//! Gram matrices `K = X Xᵀ` of a batch's flattened activations, in `f64`.
//!
//! The activations are `f32`; products of two are exact in `f64`. The features are taken a
//! block at a time, converted to `f64`, and multiplied by the `gemm` crate (its AVX2/AVX-512
//! kernels chosen at run time) into the accumulating Gram on the calling thread alone: the
//! summation order is fixed, so the same batch gives the same bits on any number of threads
//! (callers parallelise over layers instead).

/// Features per block converted to `f64` at a time.
const BLOCK: usize = 2048;

/// `X Xᵀ` for `x`, `n` rows of `d` features each (row-major), as an `n x n` row-major matrix.
pub fn gram(x: &[f32], n: usize, d: usize) -> Vec<f64> {
    let mut k = vec![0.0f64; n * n];
    if n == 0 || d == 0 || x.len() < n * d {
        return k;
    }
    let mut block = vec![0.0f64; n * BLOCK.min(d)];
    for start in (0..d).step_by(BLOCK) {
        let w = (d - start).min(BLOCK);
        for (i, row) in block.chunks_exact_mut(w).take(n).enumerate() {
            let src = &x[i * d + start..i * d + start + w];
            for (dst, &v) in row.iter_mut().zip(src) {
                *dst = f64::from(v);
            }
        }
        accumulate(&mut k, &block[..n * w], n, w);
    }
    k
}

/// `k += b bᵀ` for `b` an `n x w` row-major block.
fn accumulate(k: &mut [f64], b: &[f64], n: usize, w: usize) {
    assert!(k.len() == n * n && b.len() == n * w);
    // SAFETY: `k` is a dense row-major `n x n` matrix (column stride 1, row stride n) and `b`
    // a dense row-major `n x w` one (both sizes asserted above). The right-hand side is `bᵀ`,
    // `w x n`, read from the same buffer with swapped strides (element (t, j) at `j * w + t`):
    // only reads. `k` does not alias `b`. `Parallelism::None`: this thread alone.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            n,
            n,
            w,
            k.as_mut_ptr(),
            1,
            n as isize,
            true,
            b.as_ptr(),
            1,
            w as isize,
            b.as_ptr(),
            w as isize,
            1,
            1.0f64,
            1.0f64,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_the_plain_sum_of_products() {
        let (n, d) = (5, 2 * BLOCK + 37);
        let x: Vec<f32> = (0..n * d)
            .map(|i| ((i * 7919) % 1000) as f32 / 250.0 - 1.5)
            .collect();
        let k = gram(&x, n, d);
        for i in 0..n {
            for j in 0..n {
                let plain: f64 = (0..d)
                    .map(|t| f64::from(x[i * d + t]) * f64::from(x[j * d + t]))
                    .sum();
                let got = k[i * n + j];
                assert!(
                    (got - plain).abs() <= 1e-12 * plain.abs().max(1.0),
                    "({i}, {j}): {got} vs {plain}"
                );
            }
        }
        assert_eq!(gram(&x, 5, d), k, "deterministic");
    }
}
