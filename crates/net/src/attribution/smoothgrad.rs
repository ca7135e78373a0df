//! SmoothGrad (Smilkov et al. 2017, "SmoothGrad: removing noise by adding noise"): the
//! saliency averaged over noisy copies of the photo.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::{Attribution, AttributionMethod, BackwardOptions, Job, Method, Recorded, read};
use crate::error::NetError;
use crate::taps::ReluRule;

/// SmoothGrad.
pub struct SmoothGrad;

impl AttributionMethod for SmoothGrad {
    fn method(&self) -> Method {
        Method::SmoothGrad
    }

    fn id(&self) -> &'static str {
        "smoothgrad"
    }

    fn title(&self) -> &'static str {
        "SmoothGrad"
    }

    fn summary(&self) -> &'static str {
        "saliency averaged over noisy copies of the photo (Smilkov et al. 2017): \
         the raw result is the mean |gradient| per colour channel"
    }

    fn compute(&self, job: &mut Job<'_>) -> Result<Attribution, NetError> {
        let x = job.image.tensor.clone();
        let n = job.options.samples.max(1);
        let (lo, hi) = x
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let sigma = (job.options.noise.max(0.0) * (hi - lo)).max(f32::MIN_POSITIVE);
        let normal = Normal::new(0.0f32, sigma)
            .map_err(|e| NetError::Attribution(format!("SmoothGrad noise: {e}")))?;
        let mut rng = ChaCha8Rng::seed_from_u64(job.options.seed);
        let mut mean_abs = vec![0f32; x.len()];
        let mut value = 0.0;
        let mut done = 0;
        // Walked from the conv that computes it (the other branches' gradient is zero).
        let target = job.target.source();
        job.tick(0, n)?;
        while done < n {
            let k = job.options.batch.max(1).min(n - done);
            let noisy: Vec<Vec<f32>> = (0..k)
                .map(|_| x.iter().map(|v| v + normal.sample(&mut rng)).collect())
                .collect();
            // The first pass also carries the clean photo, for the target's value.
            let clean = done == 0;
            let mut images: Vec<&[f32]> = Vec::with_capacity(k + 1);
            if clean {
                images.push(&x);
            }
            images.extend(noisy.iter().map(Vec::as_slice));
            let rec = Recorded::new(job.model, job.batch(&images), &target, &[])?;
            if clean {
                value = read(rec.target_value(&target)?)?[0];
            }
            let grads = rec.backward(&target, ReluRule::Standard, &BackwardOptions::default())?;
            let grads = read(grads.input)?;
            let skip = usize::from(clean) * x.len();
            for chunk in grads[skip..].chunks_exact(x.len()) {
                for (m, g) in mean_abs.iter_mut().zip(chunk) {
                    *m += g.abs();
                }
            }
            done += k;
            job.tick(done, n)?;
        }
        let scale = 1.0 / n as f32;
        mean_abs.iter_mut().for_each(|m| *m *= scale);
        Ok(job.gradient_result(Method::SmoothGrad, mean_abs, value))
    }
}
