//! The guided backprop view.

use featurescope_net::attribution::Method;

use super::MethodView;

/// guided backprop.
pub struct GuidedView;

impl MethodView for GuidedView {
    fn method(&self) -> Method {
        Method::Guided
    }
}
