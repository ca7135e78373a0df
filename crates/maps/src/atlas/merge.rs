//! [`Atlas::merge`]: the atlas of the union of two disjoint image collections.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::{Atlas, LayerAtlas};
use crate::error::MapsError;

impl Atlas {
    /// The atlas of both collections, equal to one run over all their images.
    ///
    /// Both must have the same version, model, `k` and layers (ids, shapes, geometry, order);
    /// otherwise the error says what differs. An image added to both is an error (its
    /// statistics would be counted twice). Skipped lists are united; an image skipped in one
    /// and added in the other counts as added, and of two reasons for one path the smaller
    /// (byte order) is kept, so `merge(a, b) == merge(b, a)`. The result is canonical.
    pub fn merge(mut a: Atlas, mut b: Atlas) -> Result<Atlas, MapsError> {
        if let Some(diff) = a.difference(&b) {
            return Err(MapsError::Atlas(format!("cannot merge atlases: {diff}")));
        }
        a.canonicalize();
        b.canonicalize();
        let Union {
            images,
            map_a,
            map_b,
        } = union_sorted(&a.images, &b.images)?;
        for l in &mut a.layers {
            l.remap(&map_a);
        }
        for l in &mut b.layers {
            l.remap(&map_b);
        }
        let layers = a
            .layers
            .iter()
            .zip(&b.layers)
            .map(|(x, y)| LayerAtlas::merged(x, y))
            .collect();
        let head = a.clone_head();
        let mut skipped = merge_skipped(a.skipped, b.skipped);
        skipped.retain(|p, _| images.binary_search(p).is_err());
        let mut out = Atlas {
            images,
            skipped,
            layers,
            ..head
        };
        out.rebuild_index();
        Ok(out)
    }

    /// `None` when `other` can be merged with `self`, else the first difference.
    fn difference(&self, other: &Atlas) -> Option<String> {
        if self.version != other.version {
            return Some(format!("version {} vs {}", self.version, other.version));
        }
        if self.model != other.model {
            return Some(format!("model {:?} vs {:?}", self.model, other.model));
        }
        if self.k != other.k {
            return Some(format!("k {} vs {}", self.k, other.k));
        }
        let ids = |x: &Atlas| x.layers.iter().map(|l| l.id.clone()).collect::<Vec<_>>();
        if self.layers.len() != other.layers.len() {
            return Some(format!("layers {:?} vs {:?}", ids(self), ids(other)));
        }
        self.layers
            .iter()
            .zip(&other.layers)
            .find_map(|(x, y)| x.difference(y))
    }

    /// Version, model and `k`, with no images, skips or layers.
    fn clone_head(&self) -> Atlas {
        Atlas {
            version: self.version,
            model: self.model.clone(),
            k: self.k,
            images: Vec::new(),
            index: Default::default(),
            skipped: BTreeMap::new(),
            layers: Vec::new(),
        }
    }
}

/// The sorted union of two image tables and where each input's indices go.
struct Union {
    images: Vec<String>,
    map_a: Vec<u32>,
    map_b: Vec<u32>,
}

/// The [`Union`] of two sorted, duplicate-free path lists; fails on a path present in both.
fn union_sorted(a: &[String], b: &[String]) -> Result<Union, MapsError> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut map_a, mut map_b) = (Vec::with_capacity(a.len()), Vec::with_capacity(b.len()));
    let (mut i, mut j) = (0, 0);
    loop {
        let next = out.len() as u32;
        let take_a = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => match x.cmp(y) {
                Ordering::Less => true,
                Ordering::Greater => false,
                Ordering::Equal => {
                    return Err(MapsError::Atlas(format!(
                        "cannot merge atlases: image {x:?} is in both"
                    )));
                }
            },
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if take_a {
            out.push(a[i].clone());
            map_a.push(next);
            i += 1;
        } else {
            out.push(b[j].clone());
            map_b.push(next);
            j += 1;
        }
    }
    Ok(Union {
        images: out,
        map_a,
        map_b,
    })
}

/// Union of two skip lists; for a path in both, the smaller reason.
fn merge_skipped(
    mut a: BTreeMap<String, String>,
    b: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    for (path, reason) in b {
        match a.get_mut(&path) {
            Some(r) if reason < *r => *r = reason,
            Some(_) => {}
            None => {
                a.insert(path, reason);
            }
        }
    }
    a
}
