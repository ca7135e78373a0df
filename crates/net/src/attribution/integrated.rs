//! Integrated gradients (Sundararajan et al. 2017, "Axiomatic attribution for deep
//! networks"): `(x − x′) · ∫₀¹ ∂F(x′ + α(x − x′))/∂x dα`, by the midpoint rule in N steps, with
//! the completeness error (Σ attributions vs F(x) − F(x′)) reported.

use super::{
    Attribution, AttributionMethod, BackwardOptions, Baseline, Completeness, Job, Method, Recorded,
    read,
};
use crate::catalogue::INPUT_SIZE;
use crate::error::NetError;
use crate::preprocess;
use crate::taps::ReluRule;

/// Integrated gradients.
pub struct IntegratedGradients;

/// The baseline input x′ for a photo.
pub fn baseline_input(job: &Job<'_>) -> Vec<f32> {
    match job.options.baseline {
        // x / 127.5 − 1 of a black pixel.
        Baseline::Black => vec![-1.0; job.image.tensor.len()],
        Baseline::Blurred => {
            let sigma = INPUT_SIZE as f32 / 15.0;
            preprocess::to_tensor(&image::imageops::blur(&job.image.crop, sigma))
        }
    }
}

impl AttributionMethod for IntegratedGradients {
    fn method(&self) -> Method {
        Method::Integrated
    }

    fn id(&self) -> &'static str {
        "integrated"
    }

    fn title(&self) -> &'static str {
        "Integrated gradients"
    }

    fn summary(&self) -> &'static str {
        "gradients integrated along the straight path from a black (or blurred) baseline to \
         the photo (Sundararajan et al. 2017); the attributions sum to the target's change"
    }

    fn compute(&self, job: &mut Job<'_>) -> Result<Attribution, NetError> {
        let x = job.image.tensor.clone();
        let base = baseline_input(job);
        let steps = job.options.steps.max(1);
        job.tick(0, steps + 1)?;
        // Walked from the conv that computes it (the other branches' gradient is zero).
        let target = job.target.source();
        let ends = Recorded::new(job.model, job.batch(&[&x, &base]), &target, &[])?;
        let values = read(ends.target_value(&target)?)?;
        drop(ends);
        let mut sum = vec![0f32; x.len()];
        let mut done = 0;
        while done < steps {
            let k = job.options.batch.max(1).min(steps - done);
            let points: Vec<Vec<f32>> = (done..done + k)
                .map(|i| {
                    let alpha = (i as f32 + 0.5) / steps as f32;
                    base.iter()
                        .zip(&x)
                        .map(|(b, v)| b + alpha * (v - b))
                        .collect()
                })
                .collect();
            let refs: Vec<&[f32]> = points.iter().map(Vec::as_slice).collect();
            let rec = Recorded::new(job.model, job.batch(&refs), &target, &[])?;
            let g = rec.backward(&target, ReluRule::Standard, &BackwardOptions::default())?;
            for chunk in read(g.input)?.chunks_exact(x.len()) {
                for (s, v) in sum.iter_mut().zip(chunk) {
                    *s += v;
                }
            }
            done += k;
            job.tick(done + 1, steps + 1)?;
        }
        let attributions: Vec<f32> = sum
            .iter()
            .zip(x.iter().zip(&base))
            .map(|(s, (v, b))| (v - b) * s / steps as f32)
            .collect();
        let total: f64 = attributions.iter().map(|&a| f64::from(a)).sum();
        let mut out = job.gradient_result(Method::Integrated, attributions, values[0]);
        out.completeness = Some(Completeness {
            sum: total as f32,
            difference: values[0] - values[1],
        });
        Ok(out)
    }
}
