//! Bounded, totally ordered rankings of images for one channel.

use std::cmp::Ordering;
use std::collections::HashSet;

/// Which per-image value of a channel a ranking uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rank {
    /// The channel's maximum over the map.
    Max,
    /// The channel's mean over the map.
    Mean,
}

/// One image's place in a channel's ranking: its score and where the channel peaked.
///
/// Equality compares the score's bits, so `0.0` and `-0.0` differ (as they do in the ranking).
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    /// Index into the atlas' image table.
    pub image: u32,
    /// The ranked value (maximum or mean); always finite.
    pub score: f32,
    /// Row of the channel's first maximum for this image.
    pub y: u32,
    /// Column of the channel's first maximum for this image.
    pub x: u32,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.image, self.score.to_bits(), self.y, self.x)
            == (other.image, other.score.to_bits(), other.y, other.x)
    }
}

impl Eq for Entry {}

impl Entry {
    /// The ranking order when image indices follow the image paths' order (a canonical atlas):
    /// score descending ([`f32::total_cmp`]), then image ascending, then `(y, x)` ascending.
    /// `Less` means "ranks higher".
    pub fn rank_cmp(a: &Entry, b: &Entry) -> Ordering {
        Self::rank_cmp_by(a, b, |i, j| i.cmp(&j))
    }

    /// [`Entry::rank_cmp`] with images compared by `image_cmp` (e.g. by their paths).
    pub fn rank_cmp_by(a: &Entry, b: &Entry, image_cmp: impl Fn(u32, u32) -> Ordering) -> Ordering {
        b.score
            .total_cmp(&a.score)
            .then_with(|| image_cmp(a.image, b.image))
            .then_with(|| (a.y, a.x).cmp(&(b.y, b.x)))
    }
}

/// The best at most `k` entries of a ranking, best first, at most one per image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopK {
    k: usize,
    entries: Vec<Entry>,
}

impl TopK {
    /// An empty ranking keeping at most `k` entries. Nothing is allocated until the first insert.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            entries: Vec::new(),
        }
    }

    /// Wraps entries that are already sorted, unique per image and at most `k` (checked by the caller).
    pub(crate) fn from_sorted(k: usize, entries: Vec<Entry>) -> Self {
        Self { k, entries }
    }

    /// The most entries kept.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The entries, best first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Inserts `e` under [`Entry::rank_cmp`]; see [`TopK::insert_by`].
    pub fn insert(&mut self, e: Entry) -> bool {
        self.insert_by(e, |i, j| i.cmp(&j))
    }

    /// Inserts `e`, ordering images by `image_cmp`; returns whether it was kept.
    ///
    /// Non-finite scores are refused. If the image is already ranked, the better of its two
    /// entries stays. O(k) time; the buffer is allocated once with room for exactly `k` entries.
    pub fn insert_by(&mut self, e: Entry, image_cmp: impl Fn(u32, u32) -> Ordering) -> bool {
        let cmp = |a: &Entry, b: &Entry| Entry::rank_cmp_by(a, b, &image_cmp);
        if !e.score.is_finite() || self.k == 0 {
            return false;
        }
        // Not better than the last of a full list: not better than an entry of its own image
        // either (that ranks at or above the last), so nothing changes.
        if self.entries.len() >= self.k
            && self
                .entries
                .last()
                .is_some_and(|last| cmp(&e, last) != Ordering::Less)
        {
            return false;
        }
        if let Some(pos) = self.entries.iter().position(|x| x.image == e.image) {
            if cmp(&e, &self.entries[pos]) != Ordering::Less {
                return false;
            }
            self.entries.remove(pos);
        }
        if self.entries.len() >= self.k {
            match self.entries.last() {
                Some(last) if cmp(&e, last) == Ordering::Less => {}
                _ => return false,
            }
            self.entries.truncate(self.k - 1);
        }
        if self.entries.capacity() < self.k {
            self.entries.reserve_exact(self.k - self.entries.len());
        }
        let pos = self
            .entries
            .partition_point(|x| cmp(x, &e) == Ordering::Less);
        self.entries.insert(pos, e);
        true
    }

    /// The top `a.k()` of the union of `a` and `b` (both under [`Entry::rank_cmp`]); an image in
    /// both keeps its better entry.
    pub fn merge(a: &TopK, b: &TopK) -> TopK {
        let k = a.k;
        let mut out = Vec::with_capacity(k.min(a.entries.len() + b.entries.len()));
        let mut seen = HashSet::with_capacity(out.capacity());
        let (mut i, mut j) = (0, 0);
        while out.len() < k {
            let next = match (a.entries.get(i), b.entries.get(j)) {
                (Some(x), Some(y)) if Entry::rank_cmp(y, x) == Ordering::Less => {
                    j += 1;
                    *y
                }
                (Some(x), _) => {
                    i += 1;
                    *x
                }
                (None, Some(y)) => {
                    j += 1;
                    *y
                }
                (None, None) => break,
            };
            if seen.insert(next.image) {
                out.push(next);
            }
        }
        TopK { k, entries: out }
    }

    /// Rewrites every image index through `map` (which must preserve the images' order).
    pub(crate) fn remap(&mut self, map: &[u32]) {
        for e in &mut self.entries {
            e.image = map.get(e.image as usize).copied().unwrap_or(e.image);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(image: u32, score: f32) -> Entry {
        Entry {
            image,
            score,
            y: image % 3,
            x: 0,
        }
    }

    #[test]
    fn keeps_best_k_in_total_order() {
        let mut t = TopK::new(3);
        for (i, s) in [1.0, 5.0, 3.0, 5.0, 0.5, f32::NAN, 4.0]
            .into_iter()
            .enumerate()
        {
            t.insert(e(i as u32, s));
        }
        let got: Vec<(u32, f32)> = t.entries().iter().map(|x| (x.image, x.score)).collect();
        assert_eq!(got, vec![(1, 5.0), (3, 5.0), (6, 4.0)]);
        assert_eq!(t.entries.capacity(), 3);
        // A tie with the last entry loses to the lower image index.
        assert!(!t.insert(e(7, 4.0)));
        assert!(t.insert(e(0, 4.0)));
        assert_eq!(t.entries()[2].image, 0);
        assert!(!t.insert(e(9, f32::INFINITY)));
    }

    #[test]
    fn one_entry_per_image() {
        let mut t = TopK::new(3);
        t.insert(e(1, 1.0));
        assert!(!t.insert(e(1, 0.5)));
        assert!(t.insert(e(1, 2.0)));
        assert_eq!(t.entries().len(), 1);
        assert_eq!(t.entries()[0].score, 2.0);
    }

    #[test]
    fn custom_image_order() {
        let names = ["b", "a", "c"];
        let by_name = |i: u32, j: u32| names[i as usize].cmp(names[j as usize]);
        let mut t = TopK::new(2);
        for i in 0..3 {
            t.insert_by(e(i, 1.0), by_name);
        }
        let got: Vec<u32> = t.entries().iter().map(|x| x.image).collect();
        assert_eq!(got, vec![1, 0]);
    }

    #[test]
    fn merge_equals_top_of_union() {
        let scores = [3.0, 1.0, 3.0, 2.0, 7.0, 3.0, 0.0, -0.0, 2.0, 9.0];
        let mut all = TopK::new(4);
        let (mut a, mut b) = (TopK::new(4), TopK::new(4));
        for (i, &s) in scores.iter().enumerate() {
            all.insert(e(i as u32, s));
            if i % 3 == 0 { &mut a } else { &mut b }.insert(e(i as u32, s));
        }
        assert_eq!(TopK::merge(&a, &b), all);
        assert_eq!(TopK::merge(&b, &a), all);
        // The same image in both inputs counts once.
        assert_eq!(TopK::merge(&all, &all), all);
        assert_eq!(TopK::merge(&all, &TopK::new(4)), all);
    }
}
