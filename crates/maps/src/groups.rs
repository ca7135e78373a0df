//! Neuron groups ("The Building Blocks of Interpretability", Olah et al. 2018): a layer's
//! activations on one image, `A` (positions × channels, non-negative), factorised into `k`
//! groups by non-negative matrix factorisation, `A ≈ W·H` — each group a spatial mask (a column
//! of `W`) and a weighting of the channels (a row of `H`).
//!
//! The algorithm is scikit-learn's `NMF(init="nndsvd", solver="mu", beta_loss="frobenius",
//! max_iter=iters, tol=0)`: NNDSVD initialisation (Boutsidis & Gallopoulos 2008) from the
//! leading singular vectors (an exact SVD by nalgebra, where scikit-learn approximates it with
//! a randomized one), then `iters` rounds of Lee & Seung's multiplicative updates for the
//! Frobenius norm, each a `W` then an `H` update, in float32 as scikit-learn runs float32 input.
//! Deterministic: the same activations give the same groups, bit for bit.

use nalgebra::{DMatrix, SVD};

use crate::error::MapsError;
use crate::layer::LayerMaps;

/// Default number of groups.
pub const DEFAULT_GROUPS: usize = 6;
/// Default number of multiplicative-update rounds.
pub const DEFAULT_ITERS: usize = 200;
/// NNDSVD sets smaller initial entries to zero (scikit-learn's `eps`).
const INIT_EPS: f64 = 1e-6;
/// A zero denominator of an update is replaced by this (scikit-learn: float32's epsilon).
const DENOM_EPS: f32 = f32::EPSILON;

/// A layer factorised into groups, ordered left to right by their masks' centre of mass.
#[derive(Clone, Debug, PartialEq)]
pub struct Groups {
    /// Height of the layer's map.
    pub height: usize,
    /// Width of the layer's map.
    pub width: usize,
    /// Channels of the layer.
    pub channels: usize,
    /// Per group its spatial mask, `height * width` values, row-major (a column of `W`).
    pub spatial: Vec<Vec<f32>>,
    /// Per group its channel weights, `channels` values (a row of `H`).
    pub loadings: Vec<Vec<f32>>,
    /// ‖A − W·H‖_F / ‖A‖_F.
    pub error: f64,
}

impl Groups {
    /// Number of groups.
    pub fn k(&self) -> usize {
        self.spatial.len()
    }

    /// Group `g`'s `n` strongest channels: `(channel, weight)`, heaviest first (ties by lower
    /// index).
    pub fn strongest(&self, g: usize, n: usize) -> Vec<(usize, f32)> {
        let Some(row) = self.loadings.get(g) else {
            return Vec::new();
        };
        let mut order: Vec<usize> = (0..row.len()).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
        order.into_iter().take(n).map(|c| (c, row[c])).collect()
    }

    /// Group `g`'s mask centre of mass `(x, y)` in map cells (`None` for an empty mask).
    pub fn centroid(&self, g: usize) -> Option<(f64, f64)> {
        centroid(self.spatial.get(g)?, self.width)
    }
}

fn centroid(mask: &[f32], width: usize) -> Option<(f64, f64)> {
    let (mut sum, mut sx, mut sy) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &m) in mask.iter().enumerate() {
        let m = f64::from(m);
        sum += m;
        sx += m * (i % width) as f64;
        sy += m * (i / width) as f64;
    }
    (sum > 0.0).then(|| (sx / sum, sy / sum))
}

/// Factorise `maps` (post-ReLU: every value ≥ 0) into `k` groups with `iters` update rounds.
/// `k` is at most min(positions, channels), as NNDSVD needs.
pub fn factorise(maps: &LayerMaps, k: usize, iters: usize) -> Result<Groups, MapsError> {
    let (n, m) = (maps.plane_len(), maps.channels);
    if k == 0 || k > n.min(m) {
        return Err(MapsError::Groups(format!(
            "{k} groups of a {}x{}x{} layer: between 1 and {} (min of positions and channels)",
            m,
            maps.height,
            maps.width,
            n.min(m)
        )));
    }
    if let Some(v) = maps.data.iter().find(|v| !v.is_finite() || **v < 0.0) {
        return Err(MapsError::Groups(format!(
            "non-negative matrix factorisation needs values ≥ 0 (the layer after its ReLU); \
             found {v}"
        )));
    }
    // LayerMaps holds channel planes one after another: column j of the column-major
    // positions × channels matrix A is channel j.
    let a = DMatrix::from_column_slice(n, m, &maps.data);
    let (mut w, mut h) = nndsvd(&a, k)?;
    for _ in 0..iters {
        update(&a, &mut w, &mut h);
    }
    let error = relative_error(&a, &w, &h);
    let mut groups: Vec<(Vec<f32>, Vec<f32>)> = (0..k)
        .map(|g| {
            let mask = w.column(g).iter().copied().collect::<Vec<f32>>();
            let loading = h.row(g).iter().copied().collect::<Vec<f32>>();
            (mask, loading)
        })
        .collect();
    // Left to right by the masks' centre of mass, then top to bottom; empty masks last.
    let key = |mask: &[f32]| centroid(mask, maps.width).unwrap_or((f64::INFINITY, f64::INFINITY));
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&i, &j| {
        let (a, b) = (key(&groups[i].0), key(&groups[j].0));
        a.0.total_cmp(&b.0)
            .then(a.1.total_cmp(&b.1))
            .then(i.cmp(&j))
    });
    let mut sorted = Vec::with_capacity(k);
    for i in order {
        sorted.push(std::mem::take(&mut groups[i]));
    }
    let (spatial, loadings) = sorted.into_iter().unzip();
    Ok(Groups {
        height: maps.height,
        width: maps.width,
        channels: m,
        spatial,
        loadings,
        error,
    })
}

/// NNDSVD: `W` (n × k) and `H` (k × m) from A's `k` leading singular triplets, each split into
/// its positive or negative part, whichever carries more.
fn nndsvd(a: &DMatrix<f32>, k: usize) -> Result<(DMatrix<f32>, DMatrix<f32>), MapsError> {
    let (n, m) = a.shape();
    let svd = SVD::try_new(a.map(f64::from), true, true, f64::EPSILON, 0)
        .ok_or_else(|| MapsError::Groups("the SVD did not converge".into()))?;
    let (Some(u), Some(vt)) = (&svd.u, &svd.v_t) else {
        return Err(MapsError::Groups(
            "the SVD returned no singular vectors".into(),
        ));
    };
    let s = &svd.singular_values;
    let mut w = DMatrix::<f64>::zeros(n, k);
    let mut h = DMatrix::<f64>::zeros(k, m);
    let root = s[0].max(0.0).sqrt();
    for i in 0..n {
        w[(i, 0)] = root * u[(i, 0)].abs();
    }
    for c in 0..m {
        h[(0, c)] = root * vt[(0, c)].abs();
    }
    for j in 1..k {
        let x: Vec<f64> = u.column(j).iter().copied().collect();
        let y: Vec<f64> = vt.row(j).iter().copied().collect();
        let norm = |v: &[f64], sign: f64| {
            v.iter()
                .map(|t| (sign * t).max(0.0).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        let (xp, yp, xn, yn) = (norm(&x, 1.0), norm(&y, 1.0), norm(&x, -1.0), norm(&y, -1.0));
        let (mp, mn) = (xp * yp, xn * yn);
        let (sign, xs, ys, sigma) = if mp > mn {
            (1.0, xp, yp, mp)
        } else {
            (-1.0, xn, yn, mn)
        };
        if sigma <= 0.0 {
            continue;
        }
        let lambda = (s[j] * sigma).sqrt();
        for (i, t) in x.iter().enumerate() {
            w[(i, j)] = lambda * (sign * t).max(0.0) / xs;
        }
        for (c, t) in y.iter().enumerate() {
            h[(j, c)] = lambda * (sign * t).max(0.0) / ys;
        }
    }
    w.apply(|v| *v = if *v < INIT_EPS { 0.0 } else { *v });
    h.apply(|v| *v = if *v < INIT_EPS { 0.0 } else { *v });
    Ok((w.cast::<f32>(), h.cast::<f32>()))
}

/// One round of the multiplicative updates for ‖A − WH‖²_F: `W ← W ⊙ (A Hᵀ) ⊘ (W H Hᵀ)`, then
/// `H ← H ⊙ (Wᵀ A) ⊘ (Wᵀ W H)` with the new `W`.
fn update(a: &DMatrix<f32>, w: &mut DMatrix<f32>, h: &mut DMatrix<f32>) {
    let ht = h.transpose();
    let numerator = a * &ht;
    let denominator = &*w * (&*h * &ht);
    scale(w, &numerator, &denominator);
    let wt = w.transpose();
    let numerator = &wt * a;
    let denominator = (&wt * &*w) * &*h;
    scale(h, &numerator, &denominator);
}

fn scale(target: &mut DMatrix<f32>, numerator: &DMatrix<f32>, denominator: &DMatrix<f32>) {
    for ((t, num), den) in target
        .iter_mut()
        .zip(numerator.iter())
        .zip(denominator.iter())
    {
        let den = if *den == 0.0 { DENOM_EPS } else { *den };
        *t *= num / den;
    }
}

/// ‖A − W·H‖_F / ‖A‖_F, accumulated in float64.
fn relative_error(a: &DMatrix<f32>, w: &DMatrix<f32>, h: &DMatrix<f32>) -> f64 {
    let wh = w * h;
    let (mut diff, mut total) = (0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(wh.iter()) {
        diff += (f64::from(*x) - f64::from(*y)).powi(2);
        total += f64::from(*x).powi(2);
    }
    if total == 0.0 {
        return 0.0;
    }
    (diff / total).sqrt()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A 3-channel 4x6 layer made of two spatial parts: the left half fires channels 0 and 1,
    /// the right half channel 2.
    fn two_parts() -> LayerMaps {
        let (h, w) = (4, 6);
        let mut data = vec![0.0; 3 * h * w];
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                let t = 1.0 + (y + x) as f32 * 0.1;
                if x < 3 {
                    data[i] = t;
                    data[h * w + i] = 0.5 * t;
                } else {
                    data[2 * h * w + i] = 2.0 * t;
                }
            }
        }
        LayerMaps::new(3, h, w, data).unwrap()
    }

    #[test]
    fn two_parts_are_found_left_then_right() {
        let g = factorise(&two_parts(), 2, 200).unwrap();
        assert!(g.error < 1e-3, "{}", g.error);
        let (left, right) = (g.centroid(0).unwrap(), g.centroid(1).unwrap());
        assert!(left.0 < 1.5 && right.0 > 3.5, "{left:?} {right:?}");
        assert_eq!(g.strongest(0, 1)[0].0, 0);
        assert_eq!(g.strongest(1, 1)[0].0, 2);
        // Deterministic, to the bit.
        assert_eq!(factorise(&two_parts(), 2, 200).unwrap(), g);
    }

    #[test]
    fn more_iterations_never_fit_worse_and_bad_requests_are_refused() {
        let m = two_parts();
        let e1 = factorise(&m, 1, 5).unwrap().error;
        let e2 = factorise(&m, 1, 50).unwrap().error;
        assert!(e2 <= e1 + 1e-9, "{e1} {e2}");
        assert!(factorise(&m, 0, 10).is_err());
        assert!(factorise(&m, 4, 10).is_err());
        let mut neg = m.clone();
        neg.data[0] = -1.0;
        assert!(
            factorise(&neg, 2, 10)
                .unwrap_err()
                .to_string()
                .contains("≥ 0")
        );
    }
}
