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
}

impl SortKey {
    /// Every key, in menu order.
    pub const ALL: [SortKey; 4] = [
        SortKey::Index,
        SortKey::Max,
        SortKey::Mean,
        SortKey::ActiveFraction,
    ];

    /// Lowercase name: `"index"`, `"max"`, `"mean"`, `"active"`.
    pub fn name(self) -> &'static str {
        match self {
            SortKey::Index => "index",
            SortKey::Max => "max",
            SortKey::Mean => "mean",
            SortKey::ActiveFraction => "active",
        }
    }

    /// Parses a name case-insensitively; also accepts `"channel"`, `"active-fraction"`,
    /// `"active_fraction"` and `"activefraction"`.
    pub fn from_name(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "channel" | "idx" => Some(SortKey::Index),
            "active-fraction" | "active_fraction" | "activefraction" => {
                Some(SortKey::ActiveFraction)
            }
            other => Self::ALL.into_iter().find(|k| k.name() == other),
        }
    }

    fn value(self, s: &ChannelStats) -> f32 {
        match self {
            SortKey::Index => 0.0,
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
/// `hide_dead` drops dead channels.
pub fn tile_order(stats: &[ChannelStats], key: SortKey, hide_dead: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..stats.len())
        .filter(|&i| !(hide_dead && stats[i].dead))
        .collect();
    if key != SortKey::Index {
        order.sort_by(|&a, &b| {
            key.value(&stats[b])
                .total_cmp(&key.value(&stats[a]))
                .then(a.cmp(&b))
        });
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
        assert_eq!(tile_order(&stats, SortKey::Index, false), vec![0, 1, 2, 3]);
        assert_eq!(tile_order(&stats, SortKey::Index, true), vec![0, 2, 3]);
        assert_eq!(tile_order(&stats, SortKey::Max, false), vec![2, 3, 0, 1]);
        assert_eq!(tile_order(&stats, SortKey::Mean, false), vec![0, 2, 3, 1]);
        assert_eq!(
            tile_order(&stats, SortKey::ActiveFraction, false),
            vec![2, 0, 3, 1]
        );
        assert_eq!(
            tile_order(&stats, SortKey::ActiveFraction, true),
            vec![2, 0, 3]
        );
        assert!(tile_order(&[], SortKey::Max, true).is_empty());
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
