//! Display order of channels.

use crate::stats::ChannelStats;

/// What to sort tiles by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SortKey {
    /// Channel index, ascending.
    Index,
    /// Maximum activation, descending.
    Max,
    /// Mean activation, descending.
    Mean,
    /// Fraction of positive positions, descending.
    ActiveFraction,
    /// How selective the filter is across a collection of images (an atlas' z-score of the
    /// best image's maximum), descending: scores from outside the layer's own values.
    Selectivity,
    /// How much the filter differs between two analyses of the layer (`‖A − B‖₂` of a pinned
    /// pair, [`crate::pair::DiffScore::L2`]), descending: scores from outside the layer.
    DiffL2,
    /// How much the filter's maximum moved between two analyses (`|max A − max B|`,
    /// [`crate::pair::DiffScore::MaxChange`]), descending: scores from outside the layer.
    DiffMax,
    /// The selected class's mean attribution to the filter over a class summary's images,
    /// descending: scores from outside the layer.
    ClassAttribution,
    /// In how many of the selected class's images the filter is among the image's top
    /// channels (a class summary's count), descending: scores from outside the layer.
    ClassCount,
}

impl SortKey {
    /// Every key, in menu order.
    pub const ALL: [SortKey; 9] = [
        SortKey::Index,
        SortKey::Max,
        SortKey::Mean,
        SortKey::ActiveFraction,
        SortKey::Selectivity,
        SortKey::DiffL2,
        SortKey::DiffMax,
        SortKey::ClassAttribution,
        SortKey::ClassCount,
    ];

    /// Lowercase name: `"index"`, `"max"`, `"mean"`, `"active"`, `"selectivity"`,
    /// `"difference"`, `"max change"`, `"class attribution"`, `"class count"`.
    pub fn name(self) -> &'static str {
        match self {
            SortKey::Index => "index",
            SortKey::Max => "max",
            SortKey::Mean => "mean",
            SortKey::ActiveFraction => "active",
            SortKey::Selectivity => "selectivity",
            SortKey::DiffL2 => "difference",
            SortKey::DiffMax => "max change",
            SortKey::ClassAttribution => "class attribution",
            SortKey::ClassCount => "class count",
        }
    }

    /// Whether the key sorts by scores from outside the layer's values ([`tile_order`]'s
    /// `scores`), rather than by the channels' own statistics.
    pub fn needs_scores(self) -> bool {
        matches!(
            self,
            SortKey::Selectivity
                | SortKey::DiffL2
                | SortKey::DiffMax
                | SortKey::ClassAttribution
                | SortKey::ClassCount
        )
    }

    /// Whether the key sorts by the difference of a pinned pair (its scores come from
    /// [`crate::pair::LayerPair::scores`]).
    pub fn needs_pair(self) -> bool {
        matches!(self, SortKey::DiffL2 | SortKey::DiffMax)
    }

    /// Whether the key sorts by a class summary's scores for the selected class.
    pub fn needs_class(self) -> bool {
        matches!(self, SortKey::ClassAttribution | SortKey::ClassCount)
    }

    /// Parses a name case-insensitively; also accepts `"channel"`, `"active-fraction"`,
    /// `"active_fraction"` and `"activefraction"`.
    pub fn from_name(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "channel" | "idx" => Some(SortKey::Index),
            "diff" | "diff-l2" | "l2" => Some(SortKey::DiffL2),
            "diff-max" | "max-change" => Some(SortKey::DiffMax),
            "class-attribution" | "attribution" => Some(SortKey::ClassAttribution),
            "class-count" | "count" => Some(SortKey::ClassCount),
            "active-fraction" | "active_fraction" | "activefraction" => {
                Some(SortKey::ActiveFraction)
            }
            other => Self::ALL.into_iter().find(|k| k.name() == other),
        }
    }

    fn value(self, s: &ChannelStats) -> f32 {
        match self {
            SortKey::Index
            | SortKey::Selectivity
            | SortKey::DiffL2
            | SortKey::DiffMax
            | SortKey::ClassAttribution
            | SortKey::ClassCount => 0.0,
            SortKey::Max => s.max,
            SortKey::Mean => s.mean,
            SortKey::ActiveFraction => s.active_fraction,
        }
    }
}

impl std::fmt::Display for SortKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Channel order for display: `Index` ascending; the others descending (ties by index).
/// `hide_dead` drops dead channels. A key that [needs scores](SortKey::needs_scores) sorts by
/// `scores` (one per channel; a missing one counts as the lowest), and by index when there are
/// none.
pub fn tile_order(
    stats: &[ChannelStats],
    key: SortKey,
    hide_dead: bool,
    scores: Option<&[f32]>,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..stats.len())
        .filter(|&i| !(hide_dead && stats[i].dead))
        .collect();
    let value = |c: usize| match (key.needs_scores(), scores) {
        (true, Some(s)) => s.get(c).copied().unwrap_or(f32::MIN),
        (true, None) => 0.0,
        (false, _) => key.value(&stats[c]),
    };
    if key != SortKey::Index {
        order.sort_by(|&a, &b| value(b).total_cmp(&value(a)).then(a.cmp(&b)));
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(max: f32, mean: f32, active_fraction: f32, dead: bool) -> ChannelStats {
        ChannelStats {
            min: 0.0,
            max,
            mean,
            active_fraction,
            dead,
        }
    }

    #[test]
    fn order_for_each_key_with_ties_and_hide_dead() {
        let stats = [
            st(1.0, 0.5, 0.2, false),
            st(0.0, 0.0, 0.0, true),
            st(3.0, 0.5, 0.9, false),
            st(3.0, 0.1, 0.2, false),
        ];
        let order = |key, hide| tile_order(&stats, key, hide, None);
        assert_eq!(order(SortKey::Index, false), vec![0, 1, 2, 3]);
        assert_eq!(order(SortKey::Index, true), vec![0, 2, 3]);
        assert_eq!(order(SortKey::Max, false), vec![2, 3, 0, 1]);
        assert_eq!(order(SortKey::Mean, false), vec![0, 2, 3, 1]);
        assert_eq!(order(SortKey::ActiveFraction, false), vec![2, 0, 3, 1]);
        assert_eq!(order(SortKey::ActiveFraction, true), vec![2, 0, 3]);
        assert!(tile_order(&[], SortKey::Max, true, None).is_empty());
        // Scores from outside (an atlas' selectivity): descending, ties and missing by index;
        // without scores, index order; the stats' own keys ignore them.
        let scores = [0.5, 2.0, 0.5];
        let by = |key, hide| tile_order(&stats, key, hide, Some(&scores));
        assert_eq!(by(SortKey::Selectivity, false), vec![1, 0, 2, 3]);
        assert_eq!(by(SortKey::Selectivity, true), vec![0, 2, 3]);
        assert_eq!(order(SortKey::Selectivity, false), vec![0, 1, 2, 3]);
        assert_eq!(by(SortKey::Max, false), vec![2, 3, 0, 1]);
        assert_eq!(by(SortKey::ClassAttribution, false), vec![1, 0, 2, 3]);
        assert_eq!(by(SortKey::ClassCount, true), vec![0, 2, 3]);
        assert_eq!(order(SortKey::ClassCount, false), vec![0, 1, 2, 3]);
        assert!(SortKey::ClassCount.needs_class() && !SortKey::DiffL2.needs_class());
    }

    #[test]
    fn names_round_trip() {
        for k in SortKey::ALL {
            assert_eq!(SortKey::from_name(k.name()), Some(k));
            assert_eq!(SortKey::from_name(&k.name().to_uppercase()), Some(k));
        }
        assert_eq!(
            SortKey::from_name("active_fraction"),
            Some(SortKey::ActiveFraction)
        );
        assert_eq!(SortKey::from_name("bogus"), None);
    }
}
