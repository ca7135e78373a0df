//! What is selected: a layer of the catalogue or the predictions, and the inspected filter with
//! the inspector's view.

use featurescope_net::attribution::Method;
use featurescope_net::{Catalogue, LayerInfo, LayerKind};

/// A tapped layer of the network (its index in the catalogue), or the classifier head's
/// predictions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LayerRef {
    /// `Catalogue::inception_v3().layers[i]`.
    Layer(usize),
    /// The predictions.
    Head,
}

impl LayerRef {
    /// A layer by torchvision id or Keras alias, or `head`.
    pub fn resolve(name: &str) -> Option<Self> {
        if name == "head" {
            return Some(Self::Head);
        }
        let cat = Catalogue::inception_v3();
        let id = &cat.resolve(name)?.id;
        cat.position(id).map(Self::Layer)
    }

    /// A layer by id or alias; panics on an unknown name (tests and constants).
    pub fn named(name: &str) -> Self {
        match Self::resolve(name) {
            Some(l) => l,
            None => panic!("no layer `{name}` in the catalogue"),
        }
    }

    /// The catalogue entry (`None` for the head).
    pub fn info(self) -> Option<&'static LayerInfo> {
        match self {
            Self::Layer(i) => Catalogue::inception_v3().layers.get(i),
            Self::Head => None,
        }
    }

    /// The torchvision id, or `head`.
    pub fn id(self) -> &'static str {
        self.info().map_or("head", |l| l.id.as_str())
    }

    /// Whether it is a conv (which has pre-ReLU values to show).
    pub fn is_conv(self) -> bool {
        self.info().is_some_and(|l| l.kind == LayerKind::Conv)
    }
}

/// Identifies a view of the inspector: each view declares its own (a new view is one file and
/// one entry in the inspector's list, no enum to extend).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ViewId(pub &'static str);

impl ViewId {
    /// The magnified map: what a click on a tile opens.
    pub const MAP: ViewId = ViewId("map");
    /// A and B of a pinned pair and their difference: what a click on a tile opens then.
    pub const PAIR: ViewId = ViewId("pair");

    /// The view of an attribution method.
    pub fn explain(method: Method) -> ViewId {
        ViewId(method.id())
    }
}

/// The inspected filter of the selected layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inspector {
    /// Channel.
    pub channel: usize,
    /// The view on show.
    pub view: ViewId,
}

impl Inspector {
    /// Filter `channel`, on its map (what a click on a tile opens).
    pub fn map(channel: usize) -> Self {
        Self {
            channel,
            view: ViewId::MAP,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_resolve_by_id_alias_or_head() {
        assert_eq!(LayerRef::resolve("head"), Some(LayerRef::Head));
        let mixed5b = LayerRef::named("Mixed_5b");
        assert_eq!(LayerRef::resolve("mixed0"), Some(mixed5b));
        assert_eq!(mixed5b.id(), "Mixed_5b");
        assert_eq!(LayerRef::Head.id(), "head");
        assert!(LayerRef::named("Conv2d_1a_3x3").is_conv());
        assert!(!mixed5b.is_conv() && !LayerRef::Head.is_conv());
        assert_eq!(LayerRef::resolve("no_such_layer"), None);
        assert_eq!(LayerRef::Layer(100_000).info(), None);
    }
}
