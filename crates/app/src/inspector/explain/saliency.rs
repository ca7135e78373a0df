//! The saliency view.

use featurescope_net::attribution::Method;

use super::MethodView;

/// The saliency view.
pub struct SaliencyView;

impl MethodView for SaliencyView {
    fn method(&self) -> Method {
        Method::Saliency
    }
}
