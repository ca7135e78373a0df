//! An open class summary (what the model uses per class over a folder: counts, attributions,
//! the graph of each class's top channels) with the class picked and the one compared with, and
//! a summary being built on the worker.

use std::path::PathBuf;
use std::sync::Arc;

use featurescope_maps::SortKey;
use featurescope_maps::classes::{ClassStats, ClassSummary};

use super::atlas::FolderBuild;

/// An open class summary.
pub struct ClassesState {
    /// Its file.
    pub path: PathBuf,
    /// The summary.
    pub summary: Arc<ClassSummary>,
    /// The class whose graph is shown (and whose scores sort the tiles).
    pub class: Option<u32>,
    /// The class compared with (`None`: the graph of `class` alone).
    pub other: Option<u32>,
}

impl ClassesState {
    /// A summary just opened: its first class picked.
    pub fn new(path: PathBuf, summary: Arc<ClassSummary>) -> Self {
        let class = summary.classes().keys().next().copied();
        Self {
            path,
            summary,
            class,
            other: None,
        }
    }

    /// The picked class's statistics.
    pub fn stats(&self) -> Option<&ClassStats> {
        self.summary.classes().get(&self.class?)
    }

    /// A class's name (its index when the summary names none).
    pub fn name(&self, class: u32) -> String {
        self.summary
            .names()
            .get(class as usize)
            .cloned()
            .unwrap_or_else(|| class.to_string())
    }

    /// Per channel of `layer`: the picked class's score for a class sort key (its mean
    /// attribution, or its count); `None` without a class, for a layer the summary lacks, or
    /// for another key.
    pub fn scores(&self, layer: &str, key: SortKey) -> Option<Vec<f32>> {
        let stats = self.stats()?;
        let index = self.summary.layer_index(layer)?;
        match key {
            SortKey::ClassAttribution => stats
                .attribution(index)
                .map(|a| a.into_iter().map(|v| v as f32).collect()),
            SortKey::ClassCount => stats
                .counts(index)
                .map(|c| c.iter().map(|&v| v as f32).collect()),
            _ => None,
        }
    }

    /// Whether the tiles of `layer` can be sorted by the picked class.
    pub fn sorts(&self, layer: &str) -> bool {
        self.stats().is_some() && self.summary.layer_index(layer).is_some()
    }
}

/// A class summary being built on the worker: the folder job, and whether it has reached the
/// graph's pass (the second: influences between the top channels of consecutive blocks).
pub struct ClassBuild {
    /// Progress and the stop flag.
    pub folder: FolderBuild,
    /// In the graph's pass.
    pub graphs: bool,
}

impl ClassBuild {
    /// A build just sent to the worker.
    pub fn new(stop: Arc<std::sync::atomic::AtomicBool>) -> Self {
        Self {
            folder: FolderBuild::new(stop),
            graphs: false,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use featurescope_maps::classes::{Filed, LayerObservation};

    /// Two classes over one layer of three channels.
    fn summary() -> ClassSummary {
        let names = vec!["cat".to_string(), "dog".to_string()];
        let mut s = ClassSummary::new("m", 0.5, names, vec![("Mixed_6e".into(), 3)]).unwrap();
        let obs = |maxima: [f32; 3], attribution: [f32; 3]| LayerObservation {
            maxima: maxima.to_vec(),
            attribution: attribution.to_vec(),
        };
        let filed = |class| Filed {
            class,
            predicted: 0,
        };
        s.add_image("a", filed(1), &[obs([1.0, 5.0, 0.0], [0.1, 0.2, 0.9])])
            .unwrap();
        s.add_image("b", filed(1), &[obs([1.0, 5.0, 0.0], [0.3, 0.2, 0.1])])
            .unwrap();
        s.add_image("c", filed(0), &[obs([9.0, 0.0, 0.0], [1.0, 0.0, 0.0])])
            .unwrap();
        s
    }

    #[test]
    fn scores_are_the_picked_class_means_and_counts() {
        let mut c = ClassesState::new(PathBuf::from("x.json"), Arc::new(summary()));
        assert_eq!(c.class, Some(0), "the first class with images");
        assert_eq!(c.name(1), "dog");
        c.class = Some(1);
        let a = c.scores("Mixed_6e", SortKey::ClassAttribution).unwrap();
        assert_eq!(a, vec![0.2, 0.2, 0.5]);
        let n = c.scores("Mixed_6e", SortKey::ClassCount).unwrap();
        assert_eq!(n, vec![0.0, 2.0, 0.0]);
        assert!(c.sorts("Mixed_6e") && !c.sorts("Mixed_7c"));
        assert_eq!(c.scores("Mixed_7c", SortKey::ClassCount), None);
        assert_eq!(c.scores("Mixed_6e", SortKey::Max), None);
        c.class = None;
        assert!(!c.sorts("Mixed_6e"));
    }
}
