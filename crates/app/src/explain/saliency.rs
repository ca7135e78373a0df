//! The saliency view.

use featurescope_net::attribution::Method;

use super::MethodView;

/// saliency.
pub struct SaliencyView;

impl MethodView for SaliencyView {
    fn method(&self) -> Method {
        Method::Saliency
    }
}
