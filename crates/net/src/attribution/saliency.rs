//! Saliency: the plain gradient of the target with respect to the input; shown as its largest absolute value over the colour channels.

use super::{Attribution, AttributionMethod, Job, Method};
use crate::error::NetError;
use crate::taps::ReluRule;

/// Saliency (Simonyan et al. 2014).
pub struct Saliency;

impl AttributionMethod for Saliency {
    fn method(&self) -> Method {
        Method::Saliency
    }

    fn id(&self) -> &'static str {
        "saliency"
    }

    fn title(&self) -> &'static str {
        "Saliency"
    }

    fn summary(&self) -> &'static str {
        "the plain gradient of the target with respect to the input; shown as its largest absolute value over the colour channels"
    }

    fn compute(&self, job: &mut Job<'_>) -> Result<Attribution, NetError> {
        let (grad, value) = job.input_gradient(ReluRule::Standard)?;
        Ok(job.gradient_result(Method::Saliency, grad, value))
    }
}
