//! Exact merging of class summaries built over disjoint images (shards, parts).

use super::{ClassStats, ClassSummary};
use crate::error::MapsError;

impl ClassSummary {
    /// The summary of both parts' images. The parts must share the model, mass, class names and
    /// layers, hold disjoint images, and have no graph yet (the graph is a pass over the merged
    /// summary). The result is no shard's. Sums are exact, so any order and grouping of merges gives the same summary.
    pub fn merge(mut a: ClassSummary, b: ClassSummary) -> Result<ClassSummary, MapsError> {
        let bad = |m: String| Err(MapsError::Classes(m));
        if a.model != b.model || a.mass.to_bits() != b.mass.to_bits() {
            return bad(format!(
                "the parts differ: model {:?} mass {} against model {:?} mass {}",
                a.model, a.mass, b.model, b.mass
            ));
        }
        if a.names != b.names || a.layers != b.layers {
            return bad("the parts differ in their class names or layers".into());
        }
        if a.any_graph() || b.any_graph() {
            return bad(
                "a part has a graph already: merge the parts built before the graph".into(),
            );
        }
        if let (Some((_, n)), Some((_, m))) = (a.shard, b.shard)
            && n != m
        {
            return bad(format!("the parts are shards of {n} and of {m}"));
        }
        if a.shard.is_some() && a.shard == b.shard {
            return bad("both parts are the same shard".into());
        }
        a.shard = None;
        if let Some(p) = b.images.keys().find(|p| a.images.contains_key(*p)) {
            return bad(format!("{p} is in both parts"));
        }
        for (path, filed) in b.images {
            a.skipped.remove(&path);
            a.images.insert(path, filed);
        }
        for (path, why) in b.skipped {
            if !a.images.contains_key(&path) {
                a.skipped.insert(path, why);
            }
        }
        for (class, stats) in b.classes {
            match a.classes.get_mut(&class) {
                Some(mine) => mine.merge(&stats),
                None => {
                    a.classes.insert(class, stats);
                }
            }
        }
        Ok(a)
    }
}

impl ClassStats {
    fn merge(&mut self, other: &ClassStats) {
        self.images += other.images;
        for (c, n) in &other.predicted {
            *self.predicted.entry(*c).or_insert(0) += n;
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            for (m, t) in mine.iter_mut().zip(theirs) {
                *m += t;
            }
        }
        for (mine, theirs) in self.attribution.iter_mut().zip(&other.attribution) {
            for (m, t) in mine.iter_mut().zip(theirs) {
                m.merge(t);
            }
        }
    }
}
