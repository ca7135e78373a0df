//! The deconvnet view.

use featurescope_net::attribution::Method;

use super::MethodView;

/// The deconvnet view.
pub struct DeconvView;

impl MethodView for DeconvView {
    fn method(&self) -> Method {
        Method::Deconv
    }
}
