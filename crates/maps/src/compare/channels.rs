//! Per channel, over a collection: how its spatial maximum moves under model A and model B —
//! the correlation of the two across images (from exact sums, so any split and merge order
//! gives the same bits) and the overlap of the two top-K image lists.

use std::cmp::Ordering;
use std::collections::HashSet;

use crate::atlas::{Entry, Fixed, TopK};

/// The atlas' exact accumulator: f32 values and products of two.
pub(crate) type Sum = Fixed<10, 298>;

/// One image's summary of a channel: its maximum and where it is (the first, row-major).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Peak {
    /// The maximum over the map.
    pub value: f32,
    /// Its row.
    pub y: u32,
    /// Its column.
    pub x: u32,
}

impl Peak {
    /// The maximum of one channel's `w`-wide map; `None` without a finite value.
    pub fn of(values: &[f32], w: usize) -> Option<Peak> {
        let mut best: Option<(f32, usize)> = None;
        for (i, &v) in values.iter().enumerate() {
            if v.is_finite() && best.is_none_or(|(b, _)| v > b) {
                best = Some((v, i));
            }
        }
        let (value, i) = best?;
        let w = w.max(1);
        Some(Peak {
            value,
            y: (i / w) as u32,
            x: (i % w) as u32,
        })
    }
}

/// Which model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The first (`--weights`).
    A,
    /// The second (`--weights2`).
    B,
}

/// One channel's running statistics under both models.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChannelPair {
    /// Images counted (both maxima finite).
    pub(crate) count: u64,
    /// Σa, Σb, Σa², Σb², Σab of the maxima, exact.
    pub(crate) sums: [Sum; 5],
    /// The top-K images by the maximum under A and under B.
    pub(crate) top: [TopK; 2],
}

impl ChannelPair {
    pub(crate) fn new(k: usize) -> Self {
        Self {
            count: 0,
            sums: [Sum::ZERO; 5],
            top: [TopK::new(k), TopK::new(k)],
        }
    }

    /// Counts image `image` with its peaks under A and B; `cmp` orders images (by path).
    pub(crate) fn add(
        &mut self,
        image: u32,
        a: Peak,
        b: Peak,
        cmp: impl Fn(u32, u32) -> Ordering + Copy,
    ) {
        let (x, y) = (f64::from(a.value), f64::from(b.value));
        self.count += 1;
        // Products of two f32 are exact in f64 (24-bit mantissas).
        for (s, v) in self.sums.iter_mut().zip([x, y, x * x, y * y, x * y]) {
            s.add_f64(v);
        }
        for (top, p) in self.top.iter_mut().zip([a, b]) {
            let e = Entry {
                image,
                score: p.value,
                y: p.y,
                x: p.x,
            };
            top.insert_by(e, cmp);
        }
    }

    /// Adds another pair's images (whose indices `map` renumbers into this one's table).
    pub(crate) fn merge(
        &mut self,
        other: &Self,
        map: &[u32],
        cmp: impl Fn(u32, u32) -> Ordering + Copy,
    ) {
        self.count += other.count;
        for (s, o) in self.sums.iter_mut().zip(&other.sums) {
            s.merge(o);
        }
        for (top, theirs) in self.top.iter_mut().zip(&other.top) {
            for e in theirs.entries() {
                let image = map.get(e.image as usize).copied().unwrap_or(e.image);
                top.insert_by(Entry { image, ..*e }, cmp);
            }
        }
    }

    /// Pearson correlation of the maxima under A and B across the images; `None` with fewer
    /// than two images or when either side is constant.
    pub(crate) fn correlation(&self) -> Option<f64> {
        let n = self.count;
        if n < 2 {
            return None;
        }
        let [a, b, aa, bb, ab] = &self.sums;
        let var_a = Sum::covariance_numerator(n, aa, a, a);
        let var_b = Sum::covariance_numerator(n, bb, b, b);
        if !(var_a > 0.0 && var_b > 0.0) {
            return None;
        }
        let cov = Sum::covariance_numerator(n, ab, a, b);
        Some((cov / (var_a.sqrt() * var_b.sqrt())).clamp(-1.0, 1.0))
    }

    /// Jaccard index of the two top-K image sets (1 when both are empty).
    pub(crate) fn jaccard(&self) -> f64 {
        let [a, b] = &self.top;
        let set_a: HashSet<u32> = a.entries().iter().map(|e| e.image).collect();
        let set_b: HashSet<u32> = b.entries().iter().map(|e| e.image).collect();
        let union = set_a.union(&set_b).count();
        if union == 0 {
            return 1.0;
        }
        set_a.intersection(&set_b).count() as f64 / union as f64
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn peak(value: f32) -> Peak {
        Peak { value, y: 0, x: 0 }
    }

    fn pair(values: &[(f32, f32)], k: usize) -> ChannelPair {
        let mut p = ChannelPair::new(k);
        for (i, &(a, b)) in values.iter().enumerate() {
            p.add(i as u32, peak(a), peak(b), |i, j| i.cmp(&j));
        }
        p
    }

    #[test]
    fn correlation_and_jaccard_by_hand() {
        let same = pair(&[(1.0, 1.0), (2.0, 2.0), (4.0, 4.0)], 2);
        assert_eq!(same.correlation(), Some(1.0));
        assert_eq!(same.jaccard(), 1.0);
        // b = -a + c: correlation -1; top-2 under A = {2, 1}, under B = {0, 1}: 1 / 3.
        let flipped = pair(&[(1.0, 5.0), (2.0, 4.0), (4.0, 2.0)], 2);
        assert!((flipped.correlation().unwrap() + 1.0).abs() < 1e-15);
        assert!((flipped.jaccard() - 1.0 / 3.0).abs() < 1e-15);
        // Constant under B: no correlation.
        assert_eq!(pair(&[(1.0, 3.0), (2.0, 3.0)], 1).correlation(), None);
        assert_eq!(pair(&[(1.0, 3.0)], 1).correlation(), None);
        assert_eq!(ChannelPair::new(3).jaccard(), 1.0);
    }

    #[test]
    fn merging_equals_one_pass() {
        let values: Vec<(f32, f32)> = (0..9)
            .map(|i| (((i * 5) % 7) as f32 * 0.1, ((i * 3) % 5) as f32 + 0.25))
            .collect();
        let all = pair(&values, 3);
        let mut first = pair(&values[..4], 3);
        let rest = {
            let mut p = ChannelPair::new(3);
            for (i, &(a, b)) in values.iter().enumerate().skip(4) {
                p.add((i - 4) as u32, peak(a), peak(b), |i, j| i.cmp(&j));
            }
            p
        };
        let map: Vec<u32> = (4..9).collect();
        first.merge(&rest, &map, |i, j| i.cmp(&j));
        assert_eq!(first, all);
    }

    #[test]
    fn peak_is_the_first_maximum() {
        let p = Peak::of(&[0.0, 3.0, f32::NAN, 3.0, 1.0, 2.0], 3).unwrap();
        assert_eq!((p.value, p.y, p.x), (3.0, 0, 1));
        assert_eq!(Peak::of(&[f32::NAN], 1), None);
    }
}
