//! The semantic dictionary ("The Building Blocks of Interpretability", Olah et al. 2018): at
//! each position of a layer, the few channels that fire most there.

use crate::layer::LayerMaps;

/// The channels that fire most at one position, strongest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Fires {
    /// Row of the position in the layer's map.
    pub y: usize,
    /// Column.
    pub x: usize,
    /// Channel indices, by value (largest first; equal values by lower index).
    pub channels: Vec<usize>,
    /// Their values, in the same order.
    pub values: Vec<f32>,
}

/// The `k` channels with the largest values at row `y`, column `x` (all of them when the layer
/// has fewer), largest first; equal values are ordered by lower channel index, and NaN counts
/// as the smallest value. `None` when the position lies outside the map.
pub fn top_channels(maps: &LayerMaps, y: usize, x: usize, k: usize) -> Option<Fires> {
    if y >= maps.height || x >= maps.width {
        return None;
    }
    let at = y * maps.width + x;
    let plane = maps.plane_len();
    let value = |c: usize| maps.data[c * plane + at];
    let mut order: Vec<usize> = (0..maps.channels).collect();
    let k = k.min(order.len());
    // Descending by value, ascending by index: a strict total order, so the top k are unique.
    let by_value = |a: &usize, b: &usize| {
        let key = |c: usize| {
            let v = value(c);
            if v.is_nan() { f32::NEG_INFINITY } else { v }
        };
        key(*b).total_cmp(&key(*a)).then(a.cmp(b))
    };
    if k < order.len() && k > 0 {
        order.select_nth_unstable_by(k - 1, by_value);
    }
    order.truncate(k);
    order.sort_by(by_value);
    let values = order.iter().map(|&c| value(c)).collect();
    Some(Fires {
        y,
        x,
        channels: order,
        values,
    })
}

/// Every position's top `k` channels, row by row.
pub fn dictionary(maps: &LayerMaps, k: usize) -> Vec<Fires> {
    (0..maps.height)
        .flat_map(|y| (0..maps.width).map(move |x| (y, x)))
        .filter_map(|(y, x)| top_channels(maps, y, x, k))
        .collect()
}

/// The position of a layer's map that a point of the network's input falls in: `(u, v)` are
/// the point's coordinates as fractions (0..1) of the input's width and height.
pub fn position_at(maps: &LayerMaps, u: f32, v: f32) -> Option<[usize; 2]> {
    if !(0.0..=1.0).contains(&u) || !(0.0..=1.0).contains(&v) || maps.plane_len() == 0 {
        return None;
    }
    let cell = |t: f32, n: usize| ((t * n as f32) as usize).min(n - 1);
    Some([cell(v, maps.height), cell(u, maps.width)])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn maps() -> LayerMaps {
        // 4 channels of 1x2: position 0 = [1, 3, 3, 0], position 1 = [NaN, 2, -1, 2].
        LayerMaps::new(4, 1, 2, vec![1.0, f32::NAN, 3.0, 2.0, 3.0, -1.0, 0.0, 2.0]).unwrap()
    }

    #[test]
    fn top_k_by_value_then_lower_index() {
        let m = maps();
        let f = top_channels(&m, 0, 0, 2).unwrap();
        assert_eq!(f.channels, vec![1, 2]);
        assert_eq!(f.values, vec![3.0, 3.0]);
        let f = top_channels(&m, 0, 1, 4).unwrap();
        assert_eq!(f.channels, vec![1, 3, 2, 0], "NaN last");
        assert_eq!(top_channels(&m, 0, 1, 10).unwrap().channels.len(), 4);
        assert!(top_channels(&m, 0, 0, 0).unwrap().channels.is_empty());
        assert!(top_channels(&m, 1, 0, 2).is_none());
        assert_eq!(dictionary(&m, 1).len(), 2);
    }

    #[test]
    fn input_points_map_to_cells() {
        let m = LayerMaps::new(1, 3, 4, vec![0.0; 12]).unwrap();
        assert_eq!(position_at(&m, 0.0, 0.0), Some([0, 0]));
        assert_eq!(position_at(&m, 1.0, 1.0), Some([2, 3]));
        assert_eq!(position_at(&m, 0.5, 0.5), Some([1, 2]));
        assert_eq!(position_at(&m, -0.1, 0.5), None);
    }
}
