//! Resampling one map to another size (inspector view, overlays).

/// Interpolation used by [`resample`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resample {
    /// Blocky: each output pixel takes the source pixel its centre falls in
    /// (PyTorch's `nearest-exact`).
    Nearest,
    /// Bilinear with the `align_corners = false` pixel-centre convention (as PyTorch/OpenCV).
    Bilinear,
}

/// Resamples a row-major `w x h` map to `out_w x out_h`. Returns `out_w * out_h` values;
/// if the input is empty or shorter than `w * h`, the result is all zeros.
pub fn resample(
    values: &[f32],
    w: usize,
    h: usize,
    out_w: usize,
    out_h: usize,
    mode: Resample,
) -> Vec<f32> {
    let n_out = out_w.saturating_mul(out_h);
    let n_in = w.saturating_mul(h);
    if n_in == 0 || values.len() < n_in {
        return vec![0.0; n_out];
    }
    let mut out = Vec::with_capacity(n_out);
    match mode {
        Resample::Nearest => {
            let xs = nearest_indices(w, out_w);
            let ys = nearest_indices(h, out_h);
            for &y in &ys {
                let row = &values[y * w..(y + 1) * w];
                out.extend(xs.iter().map(|&x| row[x]));
            }
        }
        Resample::Bilinear => {
            let xs = bilinear_taps(w, out_w);
            let ys = bilinear_taps(h, out_h);
            for &(y0, y1, fy) in &ys {
                let r0 = &values[y0 * w..(y0 + 1) * w];
                let r1 = &values[y1 * w..(y1 + 1) * w];
                out.extend(xs.iter().map(|&(x0, x1, fx)| {
                    let top = r0[x0] + (r0[x1] - r0[x0]) * fx;
                    let bottom = r1[x0] + (r1[x1] - r1[x0]) * fx;
                    top + (bottom - top) * fy
                }));
            }
        }
    }
    out
}

/// For each of `n_out` output positions, the source index (in `0..n_in`) containing its centre.
pub(crate) fn nearest_indices(n_in: usize, n_out: usize) -> Vec<usize> {
    (0..n_out)
        .map(|o| {
            let src = ((o as f64 + 0.5) * n_in as f64 / n_out as f64).floor() as usize;
            src.min(n_in.saturating_sub(1))
        })
        .collect()
}

/// For each output position: the two source indices and the weight of the second.
fn bilinear_taps(n_in: usize, n_out: usize) -> Vec<(usize, usize, f32)> {
    let scale = n_in as f64 / n_out as f64;
    (0..n_out)
        .map(|o| {
            let src = ((o as f64 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (src.floor() as usize).min(n_in - 1);
            let i1 = (i0 + 1).min(n_in - 1);
            let frac = (src - i0 as f64).clamp(0.0, 1.0) as f32;
            (i0, i1, frac)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: [f32; 4] = [0.0, 1.0, 2.0, 3.0];

    #[test]
    fn nearest_2x2_to_4x4() {
        let out = resample(&SRC, 2, 2, 4, 4, Resample::Nearest);
        #[rustfmt::skip]
        let want = [
            0.0, 0.0, 1.0, 1.0,
            0.0, 0.0, 1.0, 1.0,
            2.0, 2.0, 3.0, 3.0,
            2.0, 2.0, 3.0, 3.0,
        ];
        assert_eq!(out, want);
    }

    #[test]
    fn bilinear_2x2_to_4x4_matches_align_corners_false() {
        let out = resample(&SRC, 2, 2, 4, 4, Resample::Bilinear);
        // torch.nn.functional.interpolate(x, size=4, mode="bilinear", align_corners=False)
        #[rustfmt::skip]
        let want = [
            0.0, 0.25, 0.75, 1.0,
            0.5, 0.75, 1.25, 1.5,
            1.5, 1.75, 2.25, 2.5,
            2.0, 2.25, 2.75, 3.0,
        ];
        for (a, b) in out.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{out:?}");
        }
    }

    #[test]
    fn identity_downsample_and_bad_input() {
        assert_eq!(resample(&SRC, 2, 2, 2, 2, Resample::Bilinear), SRC);
        assert_eq!(resample(&SRC, 2, 2, 1, 1, Resample::Bilinear), [1.5]);
        assert_eq!(resample(&SRC, 2, 2, 1, 1, Resample::Nearest), [3.0]);
        assert_eq!(resample(&SRC, 3, 3, 2, 1, Resample::Nearest), [0.0, 0.0]);
        assert!(resample(&SRC, 2, 2, 0, 5, Resample::Bilinear).is_empty());
    }
}
