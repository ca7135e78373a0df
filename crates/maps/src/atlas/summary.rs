//! Per-image reduction of a layer: each channel's maximum, its position, and its mean.

use super::LayerValues;
use crate::error::MapsError;
use crate::layer::LayerMaps;
use rayon::prelude::*;

/// One channel of one image, reduced to what the atlas ranks.
///
/// Non-finite values (NaN and ±infinity) are ignored, as in [`crate::ChannelStats`]. A channel
/// without any finite value has `max = -inf`, `argmax = (0, 0)` and `mean = NaN`; such a summary
/// is not [`ChannelSummary::is_finite`] and never enters a ranking or the statistics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChannelSummary {
    /// Largest finite value.
    pub max: f32,
    /// `(y, x)` of the first occurrence of `max` in row-major order.
    pub argmax: (u32, u32),
    /// Mean of the finite values, accumulated in `f64`.
    pub mean: f32,
}

impl ChannelSummary {
    /// The summary of a channel without finite values.
    pub const EMPTY: Self = Self {
        max: f32::NEG_INFINITY,
        argmax: (0, 0),
        mean: f32::NAN,
    };

    /// Whether the channel had at least one finite value (then `max` and `mean` are finite).
    pub fn is_finite(&self) -> bool {
        self.max.is_finite() && self.mean.is_finite()
    }
}

/// An atlas' layers' ids and shapes, in its order ([`super::Atlas::shapes`]): what reducing
/// an image's layers to their [`ImageSummaries`] needs.
#[derive(Clone, Debug)]
pub struct AtlasShapes {
    layers: Vec<(String, [usize; 3])>,
}

impl AtlasShapes {
    pub(crate) fn new(layers: Vec<(String, [usize; 3])>) -> Self {
        Self { layers }
    }

    /// An image's summaries before any layer: filled by [`Self::summarize_layer`] layer by
    /// layer (as a pass computes them), then added by [`super::Atlas::add_image_summaries`].
    pub fn image_summaries(&self) -> ImageSummaries {
        ImageSummaries::new(self.layers.len())
    }

    /// One layer of image `path` reduced to its channel summaries: the layer's index in the
    /// atlas and its summaries (for [`ImageSummaries::insert`]), after checking its id and
    /// shape.
    pub fn summarize_layer(
        &self,
        path: &str,
        (id, got, values): LayerValues,
    ) -> Result<(usize, Vec<ChannelSummary>), MapsError> {
        let Some(index) = self.layers.iter().position(|(l, _)| l == id) else {
            return Err(image_error(
                path,
                format!("layer {id:?} is not in the atlas"),
            ));
        };
        let shape = self.layers[index].1;
        let consistent =
            got.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) == Some(values.len());
        if got != shape || !consistent {
            return Err(image_error(
                path,
                format!(
                    "layer {id:?} has shape {got:?} with {} values, the atlas expects {shape:?}",
                    values.len(),
                ),
            ));
        }
        Ok((index, summaries_of(got, values)))
    }
}

/// An error about one image of an atlas.
pub(crate) fn image_error(path: &str, msg: String) -> MapsError {
    MapsError::Atlas(format!("image {path:?}: {msg}"))
}

/// One image's channel summaries, layer by layer in the atlas' layer order, as
/// [`AtlasShapes::summarize_layer`] gives them (a pass's taps arrive one at a time).
#[derive(Clone, Debug)]
pub struct ImageSummaries {
    layers: Vec<Option<Vec<ChannelSummary>>>,
}

impl ImageSummaries {
    /// None of `layers` layers yet.
    pub(crate) fn new(layers: usize) -> Self {
        Self {
            layers: vec![None; layers],
        }
    }

    /// Layer `index`'s summaries (as [`AtlasShapes::summarize_layer`] returns them); a layer
    /// given twice, or one the atlas does not have, is an error.
    pub fn insert(&mut self, index: usize, sums: Vec<ChannelSummary>) -> Result<(), MapsError> {
        match self.layers.get_mut(index) {
            Some(slot @ None) => {
                *slot = Some(sums);
                Ok(())
            }
            Some(Some(_)) => Err(MapsError::Atlas(format!(
                "layer number {index} is given twice"
            ))),
            None => Err(MapsError::Atlas(format!(
                "layer number {index} is not in the atlas"
            ))),
        }
    }

    /// Every layer's summaries, or the index of the first layer missing.
    pub(crate) fn complete(self) -> Result<Vec<Vec<ChannelSummary>>, usize> {
        self.layers
            .into_iter()
            .enumerate()
            .map(|(i, l)| l.ok_or(i))
            .collect()
    }
}

/// Summaries of every channel of `maps`, in channel order. Eight channels at a time go through
/// vector lanes where the CPU has AVX-512 (one lane per channel, each in the scalar order: the
/// same bits), the rest one by one.
pub fn channel_summaries(maps: &LayerMaps) -> Vec<ChannelSummary> {
    summaries_of([maps.channels, maps.height, maps.width], &maps.data)
}

/// [`channel_summaries`] of `[channels, height, width]` channel-major `values` (as many as the
/// shape holds, checked by the caller).
pub(crate) fn summaries_of(
    [channels, height, width]: [usize; 3],
    values: &[f32],
) -> Vec<ChannelSummary> {
    let plane = height * width;
    if plane == 0 || channels * plane <= TASK_VALUES {
        return summaries_run([channels, height, width], values);
    }
    // Runs of whole lane groups in parallel: each channel is reduced alone, so the result is
    // the same whatever the split.
    let per = (TASK_VALUES / plane).max(1).next_multiple_of(LANES_PER_RUN);
    let runs: Vec<Vec<ChannelSummary>> = (0..channels)
        .into_par_iter()
        .step_by(per)
        .map(|c| {
            let n = per.min(channels - c);
            let part = values.get(c * plane..).unwrap_or_default();
            summaries_run([n, height, width], &part[..(n * plane).min(part.len())])
        })
        .collect();
    runs.concat()
}

/// Values per parallel task of [`summaries_of`].
const TASK_VALUES: usize = 1 << 16;

/// Channels per vector run: a multiple of the AVX-512 lanes' count, so that a split leaves no
/// channel to the scalar loop that one run would have given the lanes.
const LANES_PER_RUN: usize = 8;
#[cfg(target_arch = "x86_64")]
const _: () = assert!(LANES_PER_RUN.is_multiple_of(lanes::LANES));

/// [`summaries_of`] on the calling thread.
fn summaries_run([channels, height, width]: [usize; 3], values: &[f32]) -> Vec<ChannelSummary> {
    let plane = height * width;
    let channel = |c: usize| values.get(c * plane..(c + 1) * plane).unwrap_or(&[]);
    let mut out = Vec::with_capacity(channels);
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
    let mut c = 0;
    #[cfg(target_arch = "x86_64")]
    if lanes::available(plane) {
        while c + lanes::LANES <= channels {
            let Some(values) = values.get(c * plane..(c + lanes::LANES) * plane) else {
                break;
            };
            out.extend(lanes::summarize(values, plane).map(|r| r.finish(width)));
            c += lanes::LANES;
        }
    }
    out.extend((c..channels).map(|c| summarize(channel(c), width)));
    out
}

/// One channel's reduction so far, value by value in row-major order.
#[derive(Clone, Copy, Debug)]
struct Running {
    max: f32,
    at: usize,
    sum: f64,
    finite: usize,
}

impl Running {
    const START: Self = Self {
        max: f32::NEG_INFINITY,
        at: 0,
        sum: 0.0,
        finite: 0,
    };

    /// Take value `v` at index `i`.
    #[inline(always)]
    fn push(&mut self, i: usize, v: f32) {
        if !v.is_finite() {
            return;
        }
        // Strict `>`: the first maximum wins (and -0.0 does not displace an earlier 0.0).
        if v > self.max {
            self.max = v;
            self.at = i;
        }
        self.sum += f64::from(v);
        self.finite += 1;
    }

    fn finish(self, width: usize) -> ChannelSummary {
        if self.finite == 0 || width == 0 {
            return ChannelSummary::EMPTY;
        }
        let coord = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        ChannelSummary {
            max: self.max,
            argmax: (coord(self.at / width), coord(self.at % width)),
            mean: (self.sum / self.finite as f64) as f32,
        }
    }
}

/// The summary of one row-major channel of the given width.
fn summarize(values: &[f32], width: usize) -> ChannelSummary {
    let mut run = Running::START;
    for (i, &v) in values.iter().enumerate() {
        run.push(i, v);
    }
    run.finish(width)
}

/// Eight channels in the eight `f64` lanes of AVX-512 registers. A lane does what
/// [`Running::push`] does, in the same order, so its sum is the scalar sum bit for bit; the
/// values are converted to `f64` (exactly) before they are compared, which orders them as
/// `f32` does (−0 and 0 equal, NaN unordered).
#[cfg(target_arch = "x86_64")]
mod lanes {
    use super::Running;
    use std::arch::x86_64::*;

    /// Channels per call.
    pub(super) const LANES: usize = 8;

    /// Whether this CPU has the lanes (and positions fit their `i64` indices).
    pub(super) fn available(plane: usize) -> bool {
        plane > 0 && i64::try_from(plane).is_ok() && std::arch::is_x86_feature_detected!("avx512f")
    }

    /// The reductions of the eight planes of `plane` values each in `values`.
    pub(super) fn summarize(values: &[f32], plane: usize) -> [Running; LANES] {
        assert!(plane > 0 && values.len() == LANES * plane);
        // SAFETY: AVX-512F is present (`available`); `values` holds the eight planes.
        #[allow(unsafe_code)]
        let mut runs = unsafe { blocks(values, plane) };
        // The last positions (fewer than eight), lane by lane, continuing each lane's order.
        let done = plane - plane % LANES;
        for (run, values) in runs.iter_mut().zip(values.chunks_exact(plane)) {
            for (i, &v) in values.iter().enumerate().skip(done) {
                run.push(i, v);
            }
        }
        runs
    }

    /// Positions in blocks of eight: eight loads of eight values, transposed so that each
    /// register holds one position of the eight channels.
    ///
    /// # Safety
    /// AVX-512F must be present; `values.len() == LANES * plane`.
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx512f")]
    unsafe fn blocks(values: &[f32], plane: usize) -> [Running; LANES] {
        let p = values.as_ptr();
        let inf = _mm512_set1_pd(f64::INFINITY);
        let one = _mm512_set1_epi64(1);
        let mut max = _mm512_set1_pd(f64::NEG_INFINITY);
        let mut sum = _mm512_setzero_pd();
        let mut at = _mm512_setzero_si512();
        let mut finite = _mm512_setzero_si512();
        for i in (0..plane - plane % LANES).step_by(LANES) {
            // SAFETY: `c·plane + i + 8 ≤ (c + 1)·plane` for every lane `c`.
            let rows: [__m256; LANES] =
                std::array::from_fn(|c| unsafe { _mm256_loadu_ps(p.add(c * plane + i)) });
            for (j, x) in transpose(rows).into_iter().enumerate() {
                let x = _mm512_cvtps_pd(x);
                let ok = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(_mm512_abs_pd(x), inf);
                let greater = _mm512_mask_cmp_pd_mask::<_CMP_GT_OQ>(ok, x, max);
                max = _mm512_mask_blend_pd(greater, max, x);
                let index = _mm512_set1_epi64((i + j) as i64);
                at = _mm512_mask_blend_epi64(greater, at, index);
                sum = _mm512_mask_add_pd(sum, ok, sum, x);
                finite = _mm512_mask_add_epi64(finite, ok, finite, one);
            }
        }
        let (mut maxs, mut sums) = ([0.0f64; LANES], [0.0f64; LANES]);
        let (mut ats, mut counts) = ([0i64; LANES], [0i64; LANES]);
        // SAFETY: each array holds eight 64-bit lanes.
        unsafe {
            _mm512_storeu_pd(maxs.as_mut_ptr(), max);
            _mm512_storeu_pd(sums.as_mut_ptr(), sum);
            _mm512_storeu_si512(ats.as_mut_ptr().cast(), at);
            _mm512_storeu_si512(counts.as_mut_ptr().cast(), finite);
        }
        std::array::from_fn(|c| Running {
            // Exact: the lane holds an `f32` value (or −∞).
            max: maxs[c] as f32,
            at: ats[c] as usize,
            sum: sums[c],
            finite: counts[c] as usize,
        })
    }

    /// The 8x8 transpose: lane `c` of output `j` is lane `j` of input `c`.
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx512f")]
    fn transpose(r: [__m256; LANES]) -> [__m256; LANES] {
        let t = [
            _mm256_unpacklo_ps(r[0], r[1]),
            _mm256_unpackhi_ps(r[0], r[1]),
            _mm256_unpacklo_ps(r[2], r[3]),
            _mm256_unpackhi_ps(r[2], r[3]),
            _mm256_unpacklo_ps(r[4], r[5]),
            _mm256_unpackhi_ps(r[4], r[5]),
            _mm256_unpacklo_ps(r[6], r[7]),
            _mm256_unpackhi_ps(r[6], r[7]),
        ];
        let u = [
            _mm256_shuffle_ps::<0x44>(t[0], t[2]),
            _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
            _mm256_shuffle_ps::<0x44>(t[1], t[3]),
            _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
            _mm256_shuffle_ps::<0x44>(t[4], t[6]),
            _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
            _mm256_shuffle_ps::<0x44>(t[5], t[7]),
            _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
        ];
        [
            _mm256_permute2f128_ps::<0x20>(u[0], u[4]),
            _mm256_permute2f128_ps::<0x20>(u[1], u[5]),
            _mm256_permute2f128_ps::<0x20>(u[2], u[6]),
            _mm256_permute2f128_ps::<0x20>(u[3], u[7]),
            _mm256_permute2f128_ps::<0x31>(u[0], u[4]),
            _mm256_permute2f128_ps::<0x31>(u[1], u[5]),
            _mm256_permute2f128_ps::<0x31>(u[2], u[6]),
            _mm256_permute2f128_ps::<0x31>(u[3], u[7]),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_max_mean_and_nan_handling() {
        let maps = LayerMaps::new(
            3,
            2,
            3,
            vec![
                1.0,
                5.0,
                2.0,
                5.0,
                f32::NAN,
                5.0, // first max at (0, 1)
                f32::NAN,
                f32::INFINITY,
                -1.0,
                -3.0,
                f32::NAN,
                -1.0, // finite: -1, -3, -1
                f32::NAN,
                f32::NAN,
                f32::NAN,
                f32::NAN,
                f32::NAN,
                f32::NAN,
            ],
        )
        .unwrap();
        let s = channel_summaries(&maps);
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[0].max, s[0].argmax, s[0].mean),
            (5.0, (0, 1), 18.0 / 5.0)
        );
        assert_eq!((s[1].max, s[1].argmax), (-1.0, (0, 2)));
        assert_eq!(s[1].mean, (-5.0f64 / 3.0) as f32);
        assert!(s[0].is_finite() && s[1].is_finite());
        assert!(!s[2].is_finite());
        assert_eq!(s[2].max, f32::NEG_INFINITY);
        assert!(s[2].mean.is_nan());
    }

    #[test]
    fn signed_zero_tie_keeps_the_first() {
        let maps = LayerMaps::new(1, 1, 3, vec![-0.0, 0.0, -1.0]).unwrap();
        let s = channel_summaries(&maps)[0];
        assert_eq!(s.argmax, (0, 0));
        assert!(s.max.is_sign_negative());
    }

    /// The lanes give the scalar reduction's bits: every plane size around the blocks of eight,
    /// channel counts around the lanes and past a parallel split, with NaN, ±∞, ±0, ties and
    /// one channel without finite values.
    #[test]
    fn lanes_match_the_scalar_reduction_bit_for_bit() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, 3.0];
        for (height, width) in [
            (1, 1),
            (1, 7),
            (2, 4),
            (3, 3),
            (1, 9),
            (8, 8),
            (17, 17),
            (35, 35),
            (73, 73),
        ] {
            let plane = height * width;
            // Past `TASK_VALUES`, the runs split between threads: counts that are not whole
            // runs or lane groups.
            let split = [TASK_VALUES / plane + 5, 3 * TASK_VALUES / plane + 3];
            for channels in [1, 7, 8, 9, 17].into_iter().chain(split) {
                let data: Vec<f32> = (0..channels * plane)
                    .map(|i| match next() % 16 {
                        0 => specials[(next() % 6) as usize],
                        _ if i / plane == 3 => f32::NAN,
                        r => (r as f32 - 7.5) * 1e-3 * (next() % 10_000) as f32,
                    })
                    .collect();
                let maps = LayerMaps::new(channels, height, width, data).unwrap();
                let got = channel_summaries(&maps);
                for (c, got) in got.iter().enumerate() {
                    let want = summarize(maps.channel(c), width);
                    let bits = |s: &ChannelSummary| (s.max.to_bits(), s.argmax, s.mean.to_bits());
                    assert_eq!(
                        bits(got),
                        bits(&want),
                        "{channels}x{height}x{width}, channel {c}"
                    );
                }
            }
        }
    }
}
