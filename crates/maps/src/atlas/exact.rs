//! Exact, order-independent statistics of per-image channel maxima.
//!
//! Every finite `f32` is an integer multiple of 2^-149, and its square (exact in `f64`) a multiple
//! of 2^-298. Sums of them are kept as fixed-point two's-complement integers whose last bit weighs
//! 2^-298, so adding images in any order, or merging partial sums, gives bit-identical results.

/// Limbs of the accumulators: 640 bits.
const LIMBS: usize = 10;
/// Limbs of the variance numerator `n * sum_sq - sum^2`: 1024 bits.
const WIDE: usize = 16;
/// The accumulators' last bit weighs 2^-FRAC_BITS.
const FRAC_BITS: u32 = 298;
/// Bound on the bit length of `|sum|` in accumulator units: `2^32` values below `2^128`.
const SUM_BITS: u32 = 32 + 128 + FRAC_BITS;
/// Bound on the bit length of `sum_sq` in accumulator units: `2^32` squares below `2^256`.
const SUM_SQ_BITS: u32 = 32 + 256 + FRAC_BITS;

/// A two's-complement integer of `N` little-endian 64-bit limbs; arithmetic wraps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Int<const N: usize>([u64; N]);

impl<const N: usize> Int<N> {
    const ZERO: Self = Self([0; N]);

    fn is_negative(&self) -> bool {
        self.0.last().is_some_and(|l| l >> 63 == 1)
    }

    fn is_zero(&self) -> bool {
        self.0.iter().all(|&l| l == 0)
    }

    fn add(&mut self, other: &Self) {
        let mut carry = 0u64;
        for (a, b) in self.0.iter_mut().zip(other.0) {
            let (s1, c1) = a.overflowing_add(b);
            let (s2, c2) = s1.overflowing_add(carry);
            *a = s2;
            carry = u64::from(c1 || c2);
        }
    }

    fn neg(&self) -> Self {
        let mut r = Self(self.0.map(|l| !l));
        r.add(&Self::from_u64(1));
        r
    }

    fn sub(&mut self, other: &Self) {
        self.add(&other.neg());
    }

    /// The magnitude, read as an unsigned number (correct even for the most negative value).
    fn magnitude(&self) -> Self {
        if self.is_negative() {
            self.neg()
        } else {
            *self
        }
    }

    fn from_u64(v: u64) -> Self {
        let mut r = Self::ZERO;
        r.0[0] = v;
        r
    }

    /// Number of significant bits, reading the limbs as unsigned.
    fn bit_len(&self) -> u32 {
        let top = self.0.iter().rposition(|&l| l != 0);
        top.map_or(0, |i| i as u32 * 64 + 64 - self.0[i].leading_zeros())
    }

    fn trailing_zeros(&self) -> u32 {
        let low = self.0.iter().position(|&l| l != 0);
        low.map_or(N as u32 * 64, |i| {
            i as u32 * 64 + self.0[i].trailing_zeros()
        })
    }

    /// Unsigned shift left; bits shifted out are lost.
    fn shl(&self, n: u32) -> Self {
        let (limbs, bits) = ((n / 64) as usize, n % 64);
        let mut r = Self::ZERO;
        for i in (limbs..N).rev() {
            let src = i - limbs;
            let mut v = self.0[src] << bits;
            if bits > 0 && src > 0 {
                v |= self.0[src - 1] >> (64 - bits);
            }
            r.0[i] = v;
        }
        r
    }

    /// Unsigned (logical) shift right.
    fn shr(&self, n: u32) -> Self {
        let (limbs, bits) = ((n / 64) as usize, n % 64);
        let mut r = Self::ZERO;
        for i in 0..N.saturating_sub(limbs) {
            let src = i + limbs;
            let mut v = self.0[src] >> bits;
            if bits > 0 && src + 1 < N {
                v |= self.0[src + 1] << (64 - bits);
            }
            r.0[i] = v;
        }
        r
    }

    /// `self * m`, wrapping (correct for two's complement when the product fits).
    fn mul_u64(&self, m: u64) -> Self {
        let mut r = Self::ZERO;
        let mut carry = 0u128;
        for (out, &a) in r.0.iter_mut().zip(&self.0) {
            let p = u128::from(a) * u128::from(m) + carry;
            *out = p as u64;
            carry = p >> 64;
        }
        r
    }

    /// Sign-extends (or truncates) to `M` limbs.
    fn resize<const M: usize>(&self) -> Int<M> {
        let fill = if self.is_negative() { u64::MAX } else { 0 };
        let mut r = Int([fill; M]);
        for (out, &l) in r.0.iter_mut().zip(&self.0) {
            *out = l;
        }
        r
    }

    /// The square, in `M` limbs (wrapping if it does not fit).
    fn square<const M: usize>(&self) -> Int<M> {
        self.mul(self)
    }

    /// The signed product, in `M` limbs (wrapping if it does not fit).
    fn mul<const M: usize>(&self, other: &Self) -> Int<M> {
        let (a, b) = (self.magnitude(), other.magnitude());
        let mut r = Int::<M>::ZERO;
        for (i, &x) in a.0.iter().enumerate() {
            let mut carry = 0u128;
            for (j, &y) in b.0.iter().enumerate() {
                let Some(slot) = r.0.get_mut(i + j) else {
                    break;
                };
                let p = u128::from(x) * u128::from(y) + u128::from(*slot) + carry;
                *slot = p as u64;
                carry = p >> 64;
            }
            if let Some(slot) = r.0.get_mut(i + N) {
                *slot = carry as u64;
            }
        }
        if self.is_negative() != other.is_negative() {
            r.neg()
        } else {
            r
        }
    }

    /// The value `self * 2^-frac_bits`, correctly rounded to `f64`.
    fn to_f64(self, frac_bits: u32) -> f64 {
        let m = self.magnitude();
        let len = m.bit_len();
        let (top, shift) = if len <= 64 {
            (m.0[0], 0)
        } else {
            let shift = len - 64;
            let sticky = u64::from(m.trailing_zeros() < shift);
            (m.shr(shift).0[0] | sticky, shift)
        };
        // `top` has 64 bits and f64 keeps 53, so the sticky bit in bit 0 makes rounding exact.
        let v = scale(top as f64, i64::from(shift) - i64::from(frac_bits));
        if self.is_negative() { -v } else { v }
    }
}

/// `v * 2^e`, exact unless the result over- or underflows.
fn scale(mut v: f64, mut e: i64) -> f64 {
    let pow = |k: i64| f64::from_bits(((k + 1023) as u64) << 52);
    while e > 1000 {
        v *= pow(1000);
        e -= 1000;
    }
    while e < -1000 {
        v *= pow(-1000);
        e += 1000;
    }
    v * pow(e)
}

/// An exact sum of finite `f64` values that are multiples of `2^-FRAC` (for `FRAC = 298`: every
/// `f32` value and every product of two; for `FRAC = 1074`: every `f64`), kept in `N` limbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Fixed<const N: usize, const FRAC: u32>(Int<N>);

/// The atlas' accumulator: f32 values and their squares.
type ExactSum = Fixed<LIMBS, FRAC_BITS>;

impl<const N: usize, const FRAC: u32> Fixed<N, FRAC> {
    pub(crate) const ZERO: Self = Self(Int::ZERO);

    /// Adds `v`; see the type docs for the precondition (values that break it, and non-finite
    /// ones, are ignored).
    pub(crate) fn add_f64(&mut self, v: f64) {
        if !v.is_finite() || v == 0.0 {
            return;
        }
        let bits = v.to_bits();
        let exp = ((bits >> 52) & 0x7ff) as i32;
        let frac = bits & ((1u64 << 52) - 1);
        let (mut m, mut e) = if exp == 0 {
            (frac, -1074)
        } else {
            (frac | 1 << 52, exp - 1075)
        };
        let tz = m.trailing_zeros();
        m >>= tz;
        e += tz as i32;
        let shift = e + FRAC as i32;
        if shift < 0 || shift + 64 > (N * 64) as i32 - 1 {
            return; // Unreachable for the values the type documents.
        }
        let term = Int::<N>::from_u64(m).shl(shift as u32);
        if v < 0.0 {
            self.0.sub(&term);
        } else {
            self.0.add(&term);
        }
    }

    /// Adds another sum.
    pub(crate) fn merge(&mut self, other: &Self) {
        self.0.add(&other.0);
    }

    /// The sum, correctly rounded to `f64`.
    pub(crate) fn value(&self) -> f64 {
        self.0.to_f64(FRAC)
    }

    /// The sum as `"[-]<hex>p<exp>"` meaning `hex * 2^exp`, the hex digits odd; zero is `"0"`.
    pub(crate) fn encode(&self) -> String {
        if self.0.is_zero() {
            return "0".into();
        }
        let m = self.0.magnitude();
        let tz = m.trailing_zeros();
        let odd = m.shr(tz);
        let digits = odd.bit_len().div_ceil(4);
        let hex: String = (0..digits)
            .rev()
            .map(|d| {
                let nibble = odd.shr(d * 4).0[0] & 0xf;
                char::from_digit(nibble as u32, 16).unwrap_or('0')
            })
            .collect();
        let sign = if self.0.is_negative() { "-" } else { "" };
        format!("{sign}{hex}p{}", i64::from(tz) - i64::from(FRAC))
    }

    /// Parses [`Fixed::encode`]'s form; the magnitude must stay below `2^max_bits` units.
    pub(crate) fn decode(s: &str, max_bits: u32) -> Result<Self, String> {
        let bad = |why: &str| Err(format!("bad exact sum {s:?}: {why}"));
        if s == "0" {
            return Ok(Self::ZERO);
        }
        let (negative, rest) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let Some((hex, exp)) = rest.split_once('p') else {
            return bad("expected <hex>p<exponent>");
        };
        if hex.is_empty() || hex.len() > N * 16 {
            return bad("hex part is empty or too long");
        }
        let mut m = Int::<N>::ZERO;
        for c in hex.chars() {
            let Some(d) = c.to_digit(16) else {
                return bad("not a hex digit");
            };
            m = m.shl(4);
            m.add(&Int::from_u64(u64::from(d)));
        }
        let Ok(exp) = exp.parse::<i64>() else {
            return bad("exponent is not an integer");
        };
        let shift = exp + i64::from(FRAC);
        let total = i64::from(m.bit_len()) + shift;
        if shift < 0 || total > i64::from(max_bits.min(N as u32 * 64 - 1)) {
            return bad("out of range");
        }
        let v = m.shl(shift as u32);
        Ok(Self(if negative { v.neg() } else { v }))
    }
}

/// An exact, order-independent sum of `f32` values (fixed point, last bit 2^-298): adding the
/// same values in any order, or merging partial sums, gives the identical sum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct F32Sum(ExactSum);

impl F32Sum {
    /// Adds `v`; non-finite values are ignored.
    pub fn add(&mut self, v: f32) {
        self.0.add_f64(f64::from(v));
    }

    /// Adds another sum.
    pub fn merge(&mut self, other: &Self) {
        self.0.0.add(&other.0.0);
    }

    /// The sum, correctly rounded to `f64`.
    pub fn value(&self) -> f64 {
        self.0.0.to_f64(FRAC_BITS)
    }

    /// The sum as `"[-]<hex>p<exp>"` (`hex * 2^exp`, hex odd), `"0"` for zero.
    pub fn encode(&self) -> String {
        self.0.encode()
    }

    /// Parses [`F32Sum::encode`]'s form (at most 2^32 values below 2^128 in magnitude).
    pub fn decode(s: &str) -> Result<Self, String> {
        ExactSum::decode(s, SUM_BITS).map(Self)
    }
}

/// Running statistics of one channel's per-image maxima: count, sum and sum of squares, exact.
///
/// Only finite maxima are counted (a channel whose map has no finite value contributes nothing).
/// Merging adds the three parts, so any split and order of the images gives identical results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct MaxStats {
    count: u64,
    sum: ExactSum,
    sum_sq: ExactSum,
}

impl ExactSum {
    /// `n · sxy − sx · sy`, computed exactly and then rounded to `f64` (in value units squared):
    /// `n²` times the covariance of the values whose sums these are (`sxy` the products' sum).
    pub(crate) fn covariance_numerator(n: u64, sxy: &Self, sx: &Self, sy: &Self) -> f64 {
        let mut num = sxy.0.resize::<WIDE>().mul_u64(n).shl(FRAC_BITS);
        num.sub(&sx.0.mul::<WIDE>(&sy.0));
        num.to_f64(2 * FRAC_BITS)
    }
}

impl<const N: usize, const FRAC: u32> Default for Fixed<N, FRAC> {
    fn default() -> Self {
        Self::ZERO
    }
}

impl MaxStats {
    /// Counts one image's maximum; non-finite values are ignored.
    pub fn add(&mut self, max: f32) {
        if !max.is_finite() {
            return;
        }
        let v = f64::from(max);
        self.count += 1;
        self.sum.add_f64(v);
        self.sum_sq.add_f64(v * v); // Exact: 24-bit mantissas give a 48-bit product.
    }

    /// Adds another accumulator's images to this one.
    pub fn merge(&mut self, other: &Self) {
        self.count += other.count;
        self.sum.merge(&other.sum);
        self.sum_sq.merge(&other.sum_sq);
    }

    /// Number of images counted.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Mean of the counted maxima, or `None` when there are none.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum.value() / self.count as f64)
    }

    /// Population standard deviation of the counted maxima, or `None` when there are none.
    /// Exactly 0 when all maxima are equal.
    pub fn std(&self) -> Option<f64> {
        (self.count > 0).then(|| self.scaled_variance_root() / self.count as f64)
    }

    /// How far `top1` (the largest maximum) stands out: `(top1 - mean) / std` over the counted
    /// maxima, with the population standard deviation. 0 when fewer than 2 images were counted
    /// or all maxima are equal. Computed from exact integers, so it is deterministic.
    pub fn selectivity(&self, top1: f32) -> f32 {
        if self.count < 2 || !top1.is_finite() {
            return 0.0;
        }
        let root = self.scaled_variance_root();
        if root <= 0.0 {
            return 0.0;
        }
        (self.excess(top1).to_f64(FRAC_BITS) / root) as f32
    }

    /// `count * top1 - sum` in accumulator units (exact).
    fn excess(&self, top1: f32) -> Int<LIMBS> {
        let mut t = ExactSum::ZERO;
        t.add_f64(f64::from(top1));
        let mut d = t.0.mul_u64(self.count);
        d.sub(&self.sum.0);
        d
    }

    /// `count * sum_sq - sum^2` in units of 2^-(2 * FRAC_BITS) (exact; `count^2` times the variance).
    fn variance_numerator(&self) -> Int<WIDE> {
        let mut num = self
            .sum_sq
            .0
            .resize::<WIDE>()
            .mul_u64(self.count)
            .shl(FRAC_BITS);
        num.sub(&self.sum.0.square::<WIDE>());
        num
    }

    /// `sqrt(count * sum_sq - sum^2)` = `count * std`, 0 when the numerator is not positive.
    fn scaled_variance_root(&self) -> f64 {
        let num = self.variance_numerator();
        if num.is_negative() || num.is_zero() {
            return 0.0;
        }
        num.to_f64(2 * FRAC_BITS).sqrt()
    }

    /// `(count, sum, sum_sq)` in the text form stored in atlas files.
    pub(crate) fn encode(&self) -> (u64, String, String) {
        (self.count, self.sum.encode(), self.sum_sq.encode())
    }

    /// Parses [`MaxStats::encode`]'s form and checks it could come from `count` finite `f32`s.
    pub(crate) fn decode(count: u64, sum: &str, sum_sq: &str) -> Result<Self, String> {
        if count > u64::from(u32::MAX) {
            return Err(format!("count {count} is too large"));
        }
        let stats = Self {
            count,
            sum: ExactSum::decode(sum, SUM_BITS)?,
            sum_sq: ExactSum::decode(sum_sq, SUM_SQ_BITS)?,
        };
        if stats.sum_sq.0.is_negative() {
            return Err("sum of squares is negative".into());
        }
        if count == 0 && !(stats.sum.0.is_zero() && stats.sum_sq.0.is_zero()) {
            return Err("sums are not zero for a count of zero".into());
        }
        if stats.variance_numerator().is_negative() {
            return Err("sum of squares is smaller than the squared sum allows".into());
        }
        Ok(stats)
    }

    /// Whether `top1` is at least the mean of the counted maxima (exact), as the largest must be.
    pub(crate) fn top1_consistent(&self, top1: f32) -> bool {
        self.count == 0 || !self.excess(top1).is_negative()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats_of(values: &[f32]) -> MaxStats {
        let mut s = MaxStats::default();
        values.iter().for_each(|&v| s.add(v));
        s
    }

    #[test]
    fn sums_are_exact_and_order_independent() {
        // In f64, (1e30 + 1) - 1e30 loses the 1; the exact sum keeps it.
        let a = stats_of(&[1e30, 1.0, -1e30, 2f32.powi(-149)]);
        let b = stats_of(&[2f32.powi(-149), -1e30, 1.0, 1e30]);
        assert_eq!(a, b);
        assert_eq!(a.mean(), Some((1.0 + 2f64.powi(-149)) / 4.0));
        let mut c = stats_of(&[1e30, 1.0]);
        c.merge(&stats_of(&[-1e30, 2f32.powi(-149)]));
        assert_eq!(a, c);
    }

    #[test]
    fn mean_std_selectivity_hand_made() {
        let s = stats_of(&[1.0, 2.0, 3.0, 6.0, f32::NAN]);
        assert_eq!(s.count(), 4);
        assert_eq!(s.mean(), Some(3.0));
        // Population variance: (4 + 1 + 0 + 9) / 4 = 3.5.
        assert_eq!(s.std(), Some(3.5f64.sqrt()));
        assert_eq!(s.selectivity(6.0), (3.0 / 3.5f64.sqrt()) as f32);
        // Constant maxima: std exactly 0, selectivity 0, even for values that are inexact in f64 sums.
        let c = stats_of(&[0.1, 0.1, 0.1]);
        assert_eq!(c.std(), Some(0.0));
        assert_eq!(c.selectivity(0.1), 0.0);
        assert_eq!(stats_of(&[5.0]).selectivity(5.0), 0.0);
        assert_eq!(MaxStats::default().mean(), None);
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let s = stats_of(&[f32::MAX, -f32::MAX, f32::MAX, f32::MIN_POSITIVE / 8.0]);
        assert_eq!(s.count(), 4);
        let sel = s.selectivity(f32::MAX);
        assert!(sel.is_finite() && sel > 0.0, "{sel}");
        let (n, a, b) = s.encode();
        assert_eq!(MaxStats::decode(n, &a, &b).unwrap(), s);
    }

    #[test]
    fn encode_decode_round_trip_and_rejects_junk() {
        let s = stats_of(&[1.5, -0.25, 3.0e-20, 7.0e12]);
        let (n, a, b) = s.encode();
        assert_eq!(MaxStats::decode(n, &a, &b).unwrap(), s);
        assert_eq!(stats_of(&[1.5]).encode().1, "3p-1");
        assert_eq!(stats_of(&[-2.0]).encode().1, "-1p1");
        assert_eq!(MaxStats::default().encode(), (0, "0".into(), "0".into()));
        for junk in [
            "",
            "p",
            "1p",
            "xp3",
            "1p-299",
            "1p400",
            "1.5p0",
            "--1p0",
            "1p9999999999999",
        ] {
            assert!(MaxStats::decode(1, junk, "0").is_err(), "{junk}");
        }
        let long = format!("{}p0", "f".repeat(200));
        assert!(MaxStats::decode(1, &long, "0").is_err());
        assert!(MaxStats::decode(0, "1p0", "1p0").is_err());
        // Sum of squares too small for the sum (n * q < s^2).
        assert!(MaxStats::decode(2, "1p2", "1p0").is_err());
        assert!(MaxStats::decode(1, "0", "-1p0").is_err());
        assert!(MaxStats::decode(u64::MAX, "0", "0").is_err());
    }

    #[test]
    fn to_f64_rounds_correctly() {
        // 2^64 + 2^11 + 1 needs rounding up past a tie (sticky bit).
        let mut v = Int::<LIMBS>::from_u64(1).shl(64);
        v.add(&Int::from_u64((1 << 11) + 1));
        let expected = 2f64.powi(64) + 2f64.powi(12);
        assert_eq!(v.to_f64(0), expected);
        assert_eq!(v.neg().to_f64(0), -expected);
        assert_eq!(Int::<LIMBS>::from_u64(3).to_f64(1), 1.5);
    }
}
