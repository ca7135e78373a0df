//! Guided backprop: the gradient with every ReLU passing only positive gradient where its input was positive: sharp edges of what the filter looks for.

use super::{Attribution, AttributionMethod, Job, Method};
use crate::error::NetError;
use crate::taps::ReluRule;

/// Guided backprop (Springenberg et al. 2015).
pub struct GuidedBackprop;

impl AttributionMethod for GuidedBackprop {
    fn method(&self) -> Method {
        Method::Guided
    }

    fn id(&self) -> &'static str {
        "guided"
    }

    fn title(&self) -> &'static str {
        "Guided backprop"
    }

    fn summary(&self) -> &'static str {
        "the gradient with every ReLU passing only positive gradient where its input was positive: sharp edges of what the filter looks for"
    }

    fn compute(&self, job: &mut Job<'_>) -> Result<Attribution, NetError> {
        let (grad, value) = job.input_gradient(ReluRule::Guided)?;
        Ok(job.gradient_result(Method::Guided, grad, value))
    }
}
