//! Deconvnet: the deconvnet projection: every ReLU passes the positive part of the gradient, whatever its input was.

use super::{Attribution, AttributionMethod, Job, Method};
use crate::error::NetError;
use crate::taps::ReluRule;

/// Deconvnet (Zeiler and Fergus 2014).
pub struct Deconvnet;

impl AttributionMethod for Deconvnet {
    fn method(&self) -> Method {
        Method::Deconv
    }

    fn id(&self) -> &'static str {
        "deconv"
    }

    fn title(&self) -> &'static str {
        "Deconvnet"
    }

    fn summary(&self) -> &'static str {
        "the deconvnet projection: every ReLU passes the positive part of the gradient, whatever its input was"
    }

    fn compute(&self, job: &mut Job<'_>) -> Result<Attribution, NetError> {
        let (grad, value) = job.input_gradient(ReluRule::Deconv)?;
        Ok(job.gradient_result(Method::Deconv, grad, value))
    }
}
