//! The guided backprop view.

use featurescope_net::attribution::Method;

use super::MethodView;

/// The guided backprop view.
pub struct GuidedView;

impl MethodView for GuidedView {
    fn method(&self) -> Method {
        Method::Guided
    }
}
