//! Linear or logarithmic axes for positive quantities (losses, reconstruction errors).
//!
//! Errors and losses are skewed: a handful of anomalies sit orders of magnitude above the
//! bulk. On a linear axis the bulk collapses into one bin, so an axis switches to log10 when
//! all values are positive and span more than [`Scale::LOG_SPAN`]. Charts draw in the
//! *transformed* space (`log10(v)` for a log axis) and label ticks in original units, which
//! keeps every chart on one plotters coordinate type.

use super::format;

/// How values map onto an axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Position = value.
    Linear,
    /// Position = log10(value); only chosen when every value is > 0.
    Log10,
}

impl Scale {
    /// max/min ratio above which a positive quantity is drawn on a log axis.
    pub const LOG_SPAN: f64 = 50.0;

    /// Log10 when every finite value is positive and max/min > [`Self::LOG_SPAN`], else linear.
    /// Non-finite values are ignored.
    pub fn choose(values: impl IntoIterator<Item = f64>) -> Scale {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.into_iter().filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if lo > 0.0 && hi.is_finite() && hi / lo > Self::LOG_SPAN {
            Scale::Log10
        } else {
            Scale::Linear
        }
    }

    /// Axis position of `v`; `None` for values the axis cannot show (non-finite, or ≤ 0 on a
    /// log axis).
    pub fn position(self, v: f64) -> Option<f64> {
        match self {
            _ if !v.is_finite() => None,
            Scale::Linear => Some(v),
            Scale::Log10 if v > 0.0 => Some(v.log10()),
            Scale::Log10 => None,
        }
    }

    /// The value at axis position `p` (inverse of [`Self::position`]).
    pub fn value(self, p: f64) -> f64 {
        match self {
            Scale::Linear => p,
            Scale::Log10 => 10f64.powf(p),
        }
    }

    /// Tick label for axis position `p`, in original units. Log ticks between decades are
    /// rounded to two significant digits (`10^-2.5` → `0.0032`).
    pub fn label(self, p: f64) -> String {
        let v = self.value(p);
        match self {
            Scale::Log10 if v > 0.0 && v.is_finite() => {
                let unit = 10f64.powf(v.log10().floor() - 1.0);
                format::number((v / unit).round() * unit)
            }
            _ => format::number(v),
        }
    }

    /// Tick label at position `p` on an axis spanning `range`: [`Self::label`], with the
    /// floating-point dust around 0 that tick arithmetic leaves (`-2.8e-17` on a ±0.2 axis)
    /// shown as `0`.
    pub fn tick(self, p: f64, range: (f64, f64)) -> String {
        if self == Scale::Linear && p.abs() <= (range.1 - range.0).abs() * 1e-9 {
            return "0".into();
        }
        self.label(p)
    }

    /// Words for an axis title: `""` or `" (log scale)"`.
    pub fn suffix(self) -> &'static str {
        match self {
            Scale::Linear => "",
            Scale::Log10 => " (log scale)",
        }
    }
}

/// A drawable range `[lo, hi)` with `lo < hi` around the finite positions given, padded by
/// `pad` of its width on each side. Empty or single-valued input gives a unit-wide range
/// around the value (or around 0), so plotters never sees an empty or NaN range.
pub fn padded_range(positions: impl IntoIterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for p in positions.into_iter().filter(|p| p.is_finite()) {
        lo = lo.min(p);
        hi = hi.max(p);
    }
    if !lo.is_finite() {
        return (-0.5, 0.5);
    }
    let width = hi - lo;
    if width <= 1e-12 * lo.abs().max(hi.abs()) || width == 0.0 {
        let half = if lo == 0.0 { 0.5 } else { lo.abs() * 0.05 };
        return (lo - half, hi + half);
    }
    (lo - width * pad, hi + width * pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_only_for_wide_positive_ranges() {
        assert_eq!(Scale::choose([0.01, 0.02, 5.0]), Scale::Log10);
        assert_eq!(Scale::choose([0.01, 0.02, 0.4]), Scale::Linear);
        assert_eq!(Scale::choose([0.0, 0.02, 5.0]), Scale::Linear);
        assert_eq!(Scale::choose([f64::NAN, 1e-3, 1.0]), Scale::Log10);
        assert_eq!(Scale::choose(std::iter::empty()), Scale::Linear);
    }

    #[test]
    fn positions_round_trip() {
        let s = Scale::Log10;
        assert!((s.value(s.position(0.02).unwrap()) - 0.02).abs() < 1e-15);
        assert_eq!(s.position(0.0), None);
        assert_eq!(Scale::Linear.position(f64::INFINITY), None);
        assert_eq!(s.label(-2.0), "0.01");
        assert_eq!(s.label(-2.5), "0.0032");
        assert_eq!(s.label(0.5), "3.2");
        assert_eq!(Scale::Linear.tick(-2.78e-17, (-0.3, 0.3)), "0");
        assert_eq!(Scale::Linear.tick(1e-12, (0.0, 1e-11)), "1e-12");
        assert_eq!(s.tick(0.0, (-1.0, 1.0)), "1");
    }

    #[test]
    fn ranges_are_never_empty() {
        assert_eq!(padded_range([1.0, 3.0], 0.1), (0.8, 3.2));
        let (lo, hi) = padded_range([2.0, 2.0], 0.1);
        assert!(lo < 2.0 && hi > 2.0);
        let (lo, hi) = padded_range([0.0], 0.1);
        assert!(lo < 0.0 && hi > 0.0);
        let (lo, hi) = padded_range([1e-20, 1e-20], 0.1);
        assert!(lo < 1e-20 && hi > 1e-20 && hi - lo > 0.0);
        assert_eq!(padded_range([f64::NAN], 0.1), (-0.5, 0.5));
    }
}
