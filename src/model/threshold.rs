//! The anomaly threshold and the training error distribution.
//!
//! Quantiles use linear interpolation between order statistics (numpy's default, `method =
//! "linear"`): for sorted errors `e₀ ≤ … ≤ eₙ₋₁` and `q ∈ [0, 1]`, with `h = q·(n − 1)`,
//! `Q(q) = e⌊h⌋ + (h − ⌊h⌋)·(e⌊h⌋₊₁ − e⌊h⌋)`.
//!
//! The threshold for a contamination fraction `c` is `Q(1 − c)` of the training rows'
//! reconstruction errors, so about a fraction `c` of training rows lie above it; a row is an
//! anomaly when its error is strictly greater. `c = 0` calibrates no threshold.

/// The quantiles of the training error distribution kept with a model.
pub const DIAGNOSTIC_QUANTILES: [f64; 9] = [0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0];

/// `Q(q)` of ascending `sorted` values, the one quantile of the crate (the threshold, the stored
/// error quantiles, the report's tables and charts).
///
/// `None` when there are no values, and when `q` lies outside [0, 1] (or is NaN): no such
/// quantile exists, and no caller wants the minimum or the maximum in its place (a
/// contamination outside [0, 0.5] is refused when the configuration is validated; were one to
/// slip through, it would calibrate no threshold rather than one at the smallest error).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let h = q * (n - 1) as f64;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// Sorts a copy of finite errors (non-finite ones are dropped).
pub fn sorted_errors(errors: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = errors.iter().copied().filter(|e| e.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// The threshold for contamination `c`: `Q(1 − c)`, or `None` for `c = 0` or no errors.
pub fn calibrate(sorted: &[f64], contamination: f64) -> Option<f64> {
    if contamination <= 0.0 {
        return None;
    }
    quantile_sorted(sorted, 1.0 - contamination)
}

/// `(q, Q(q))` for each of [`DIAGNOSTIC_QUANTILES`].
pub fn error_quantiles(sorted: &[f64]) -> Vec<(f64, f64)> {
    DIAGNOSTIC_QUANTILES
        .iter()
        .filter_map(|&q| quantile_sorted(sorted, q).map(|e| (q, e)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_linear_quantiles() {
        let s = sorted_errors(&[4.0, 1.0, 3.0, 2.0, 5.0]);
        // numpy.quantile([1,2,3,4,5], [0, .1, .5, .99, 1]) = [1, 1.4, 3, 4.96, 5]
        let got: Vec<f64> = [0.0, 0.1, 0.5, 0.99, 1.0]
            .iter()
            .map(|&q| quantile_sorted(&s, q).unwrap())
            .collect();
        let want = [1.0, 1.4, 3.0, 4.96, 5.0];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
        assert_eq!(calibrate(&s, 0.0), None);
        assert_eq!(quantile_sorted(&[], 0.5), None);
        assert_eq!(quantile_sorted(&[5.0], 0.3), Some(5.0));
    }

    /// q outside [0, 1] has no quantile: `None`, never the nearest end of the distribution.
    #[test]
    fn q_outside_the_unit_interval_has_no_quantile() {
        let s = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&s, 0.0), Some(1.0));
        assert_eq!(quantile_sorted(&s, 1.0), Some(4.0));
        for q in [-0.01, 1.01, 1.5, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(quantile_sorted(&s, q), None, "q = {q}");
        }
        // So a contamination above 1 calibrates no threshold instead of the minimum.
        assert_eq!(calibrate(&s, 1.5), None);
        assert_eq!(calibrate(&s, 1.0), Some(1.0));
    }

    #[test]
    fn contamination_flags_about_that_fraction() {
        let errors: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        let t = calibrate(&sorted_errors(&errors), 0.05).unwrap();
        let flagged = errors.iter().filter(|&&e| e > t).count();
        assert_eq!(flagged, 50);
    }
}
