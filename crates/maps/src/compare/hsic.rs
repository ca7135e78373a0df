//! The unbiased HSIC estimator and linear CKA from Gram matrices.
//!
//! HSIC₁ (Song et al. 2012, "Feature selection via dependence maximization", eq. 5), as the
//! minibatch CKA of Nguyen, Raghu & Kornblith (2021) uses it: with `K̃`, `L̃` the Gram matrices
//! with their diagonals set to zero,
//!
//! ```text
//! HSIC₁(K, L) = [ tr(K̃L̃) + (1ᵀK̃1)(1ᵀL̃1) / ((n−1)(n−2)) − 2/(n−2) · 1ᵀK̃L̃1 ] / (n(n−3))
//! ```
//!
//! Unbiased for every `n ≥ 4`, so per-batch values can be averaged (summed) over batches:
//! `CKA = Σ HSIC₁(K,L) / √(Σ HSIC₁(K,K) · Σ HSIC₁(L,L))`.

/// The smallest batch HSIC₁ is defined for.
pub const MIN_BATCH: usize = 4;

/// HSIC₁ of two `n x n` Gram matrices (row-major), in `f64`; `None` for `n < 4` or a wrong
/// length. Sums run in a fixed order, so equal inputs give equal bits.
pub fn unbiased_hsic(k: &[f64], l: &[f64], n: usize) -> Option<f64> {
    if n < MIN_BATCH || k.len() != n * n || l.len() != n * n {
        return None;
    }
    let off = |m: &[f64], i: usize, j: usize| if i == j { 0.0 } else { m[i * n + j] };
    let mut trace = 0.0; // tr(K̃ L̃) = Σ_ij K̃_ij L̃_ji
    let (mut sum_k, mut sum_l, mut cross) = (0.0, 0.0, 0.0);
    for j in 0..n {
        // Column sums of K̃ and row sums of L̃: 1ᵀK̃L̃1 = Σ_j (Σ_i K̃_ij)(Σ_m L̃_jm).
        let (mut col_k, mut row_l) = (0.0, 0.0);
        for i in 0..n {
            trace += off(k, i, j) * off(l, j, i);
            col_k += off(k, i, j);
            row_l += off(l, j, i);
        }
        sum_k += col_k;
        sum_l += row_l;
        cross += col_k * row_l;
    }
    let nf = n as f64;
    let value = trace + sum_k * sum_l / ((nf - 1.0) * (nf - 2.0)) - 2.0 / (nf - 2.0) * cross;
    Some(value / (nf * (nf - 3.0)))
}

/// `kl / √(kk · ll)`: linear CKA from summed HSIC values; `None` when either self-similarity
/// is not positive (a constant layer) or the result is not finite.
pub fn cka(kl: f64, kk: f64, ll: f64) -> Option<f64> {
    if !(kk > 0.0 && ll > 0.0) {
        return None;
    }
    let v = kl / (kk.sqrt() * ll.sqrt());
    v.is_finite().then_some(v)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn gram(x: &[Vec<f64>]) -> Vec<f64> {
        let n = x.len();
        let mut g = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                g[i * n + j] = x[i].iter().zip(&x[j]).map(|(a, b)| a * b).sum();
            }
        }
        g
    }

    /// Values worked out by hand from the formula.
    #[test]
    fn hand_made_values() {
        // K = L = identity: every off-diagonal entry zero, so HSIC₁ = 0.
        let n = 5;
        let mut eye = vec![0.0; n * n];
        (0..n).for_each(|i| eye[i * n + i] = 1.0);
        assert_eq!(unbiased_hsic(&eye, &eye, n), Some(0.0));
        // Too small or misshapen.
        assert_eq!(unbiased_hsic(&[0.0; 9], &[0.0; 9], 3), None);
        assert_eq!(unbiased_hsic(&[0.0; 16], &[0.0; 15], 4), None);
        // K = all ones (a constant feature): tr = n(n-1), sums = n(n-1), cross = n(n-1)^2:
        // n(n-1) + n²(n-1)²/((n-1)(n-2)) - 2n(n-1)²/(n-2) = n(n-1)(n-2 + n - 2(n-1))/(n-2) = 0.
        let ones = vec![1.0; n * n];
        assert!(unbiased_hsic(&ones, &ones, n).unwrap().abs() < 1e-12);
    }

    #[test]
    fn cka_is_one_for_scaled_features_and_invariant_to_order() {
        let x: Vec<Vec<f64>> = (0..6)
            .map(|i| {
                (0..5)
                    .map(|d| ((i * 7 + d * 3) % 11) as f64 - 4.0)
                    .collect()
            })
            .collect();
        let y: Vec<Vec<f64>> = x
            .iter()
            .map(|r| r.iter().map(|v| 3.0 * v).collect())
            .collect();
        let (k, l) = (gram(&x), gram(&y));
        let kl = unbiased_hsic(&k, &l, 6).unwrap();
        let kk = unbiased_hsic(&k, &k, 6).unwrap();
        let ll = unbiased_hsic(&l, &l, 6).unwrap();
        assert!((cka(kl, kk, ll).unwrap() - 1.0).abs() < 1e-12);
        // Another representation: below 1.
        let z: Vec<Vec<f64>> = x.iter().map(|r| vec![r[0] * r[1], r[4]]).collect();
        let m = gram(&z);
        let km = unbiased_hsic(&k, &m, 6).unwrap();
        let mm = unbiased_hsic(&m, &m, 6).unwrap();
        assert!(cka(km, kk, mm).unwrap() < 0.99);
        assert_eq!(cka(1.0, 0.0, 1.0), None);
    }
}
