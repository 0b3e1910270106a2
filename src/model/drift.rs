//! How far live data has moved from what the model was trained on.
//!
//! # Score drift: population stability index
//!
//! The model file keeps quantiles `(qᵢ, vᵢ)` of the training errors
//! (`diagnostics.error_quantiles`, `q = 0, .25, .5, .75, .9, .95, .99, .999, 1`). They cut the
//! error axis into bins `(vᵢ₋₁, vᵢ]` in which a training row falls with probability
//! `eᵢ = qᵢ − qᵢ₋₁` (the first bin is open to −∞, the last to +∞; bins of zero width are merged
//! into their neighbour). With `aᵢ` the fraction of live errors in bin `i`:
//!
//! ```text
//! PSI = Σᵢ (aᵢ − eᵢ) · ln(aᵢ / eᵢ),   aᵢ, eᵢ floored at ε = 1e-4
//! ```
//!
//! `PSI = 0` for identical distributions; the usual reading is: below 0.1 stable, 0.1 to 0.2
//! moderate, above 0.2 a shift worth acting on ([`DEFAULT_PSI_ALERT`]). With the stored bins, a
//! shift that moves the live median above the training 90th percentile gives a PSI well above 1.
//!
//! # Feature drift: standardized mean shift
//!
//! The model keeps each feature's training mean `μ` (`fill`) and spread `s` (`scale`: the
//! standard deviation under the standard scaler, the range under minmax). For a window of live
//! values with mean `x̄` ([`SlidingMeans`]), the drift is `|x̄ − μ| / s`: how many spreads the
//! feature's centre moved.

use super::scaler::Preprocessing;

/// The PSI above which a shift is reported, by convention.
pub const DEFAULT_PSI_ALERT: f64 = 0.2;
/// Floor of a bin's fraction in the PSI, so that an empty bin counts as very unlikely, not
/// impossible.
pub const PSI_EPSILON: f64 = 1e-4;

/// PSI of the ascending live errors `sorted` against the training quantiles `reference`
/// (`(q, value)` pairs, ascending). `None` without live values or with fewer than two reference
/// quantiles (no bins).
pub fn score_psi(reference: &[(f64, f64)], sorted: &[f64]) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let bins = reference_bins(reference)?;
    let n = sorted.len() as f64;
    let mut below = 0usize;
    let mut psi = 0.0;
    for (i, (upper, expected)) in bins.iter().enumerate() {
        let upto = if i + 1 == bins.len() {
            sorted.len()
        } else {
            sorted.partition_point(|v| v <= upper)
        };
        let actual = (upto - below) as f64 / n;
        below = upto;
        psi += psi_term(actual, *expected);
    }
    Some(psi)
}

/// One bin's term `(a − e)·ln(a / e)`, both floored at [`PSI_EPSILON`].
pub fn psi_term(actual: f64, expected: f64) -> f64 {
    let (a, e) = (actual.max(PSI_EPSILON), expected.max(PSI_EPSILON));
    (a - e) * (a / e).ln()
}

/// The bins of `reference`: `(upper edge, probability)`, merging bins of zero width.
fn reference_bins(reference: &[(f64, f64)]) -> Option<Vec<(f64, f64)>> {
    if reference.len() < 2 {
        return None;
    }
    let mut bins: Vec<(f64, f64)> = Vec::with_capacity(reference.len() - 1);
    for w in reference.windows(2) {
        let ((q0, _), (q1, v1)) = (w[0], w[1]);
        let p = (q1 - q0).max(0.0);
        match bins.last_mut() {
            Some((upper, prob)) if *upper >= v1 => *prob += p,
            _ => bins.push((v1, p)),
        }
    }
    Some(bins)
}

/// Per feature, `|x̄ − μ| / s` for the live means `live_means` (original units) against the
/// model's preprocessing. A non-finite live mean gives NaN for that feature.
pub fn feature_mean_shift(preprocessing: &Preprocessing, live_means: &[f64]) -> Vec<f64> {
    live_means
        .iter()
        .zip(preprocessing.fill.iter().zip(&preprocessing.scale))
        .map(|(&x, (&mu, &s))| (x - f64::from(mu)).abs() / f64::from(s).max(f64::MIN_POSITIVE))
        .collect()
}

/// Per-feature means of the last `capacity` rows, kept as running sums over a ring of rows
/// (`capacity × features` `f32`, 4 bytes each). Non-finite values are left out of their
/// feature's mean.
#[derive(Debug, Clone)]
pub struct SlidingMeans {
    capacity: usize,
    width: usize,
    /// Rows, oldest first, flattened.
    ring: std::collections::VecDeque<f32>,
    sums: Vec<f64>,
    counts: Vec<u64>,
}

impl SlidingMeans {
    /// An empty window of `capacity` rows (at least 1) of `width` features.
    pub fn new(capacity: usize, width: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            width,
            ring: std::collections::VecDeque::new(),
            sums: vec![0.0; width],
            counts: vec![0; width],
        }
    }

    /// Appends rows (`values` row-major, a multiple of the width); the oldest beyond the
    /// capacity leave.
    pub fn push(&mut self, values: &[f32]) {
        if self.width == 0 {
            return;
        }
        for row in values.chunks_exact(self.width) {
            self.add(row, 1.0);
            self.ring.extend(row);
            if self.ring.len() > self.capacity * self.width {
                let old: Vec<f32> = self.ring.drain(..self.width).collect();
                self.add(&old, -1.0);
            }
        }
    }

    fn add(&mut self, row: &[f32], sign: f64) {
        for (j, v) in row.iter().enumerate() {
            if v.is_finite() {
                self.sums[j] += sign * f64::from(*v);
                if sign > 0.0 {
                    self.counts[j] += 1;
                } else {
                    self.counts[j] -= 1;
                }
            }
        }
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.ring.len() / self.width.max(1)
    }

    /// `true` when no row is held.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// `true` when `capacity` rows are held.
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity
    }

    /// Each feature's mean over the rows held (NaN for a feature with no finite value).
    pub fn means(&self) -> Vec<f64> {
        self.sums
            .iter()
            .zip(&self.counts)
            .map(|(s, &c)| if c == 0 { f64::NAN } else { s / c as f64 })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MissingPolicy, ScalerKind};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// Two equal bins, live 3:1 → (.75 − .5)·ln 1.5 + (.25 − .5)·ln .5 = 0.274653.
    #[test]
    fn psi_matches_a_hand_computed_value() {
        let reference = [(0.0, 0.0), (0.5, 1.0), (1.0, 2.0)];
        let psi = score_psi(&reference, &[0.5, 0.5, 0.5, 1.5]).unwrap();
        let want = 0.25 * 1.5f64.ln() + (-0.25) * 0.5f64.ln();
        assert!(
            close(psi, want) && close(want, 0.274_653_072_167_027),
            "{psi}"
        );
        // Values beyond the reference's ends fall in the end bins.
        let same = score_psi(&reference, &[-5.0, 1.0, 1.5, 9.0]).unwrap();
        assert!(close(same, 0.0), "{same}");
    }

    /// An empty bin counts with ε: (1 − .5)·ln(1/.5) + (1e-4 − .5)·ln(1e-4/.5).
    #[test]
    fn an_empty_bin_is_floored_and_zero_width_bins_merge() {
        let reference = [(0.0, 0.0), (0.5, 1.0), (1.0, 2.0)];
        let psi = score_psi(&reference, &[0.1, 0.2]).unwrap();
        let want = 0.5 * 2f64.ln() + (1e-4 - 0.5) * (1e-4f64 / 0.5).ln();
        assert!(close(psi, want), "{psi} vs {want}");
        // The 0.25 and 0.5 quantiles coincide: one bin of probability 0.5.
        let tied = [(0.0, 0.0), (0.25, 1.0), (0.5, 1.0), (1.0, 2.0)];
        assert!(close(score_psi(&tied, &[0.5, 1.5]).unwrap(), 0.0));
        assert_eq!(score_psi(&tied, &[]), None);
        assert_eq!(score_psi(&[(0.0, 1.0)], &[1.0]), None);
    }

    #[test]
    fn the_stored_quantiles_give_zero_for_the_training_distribution_and_more_as_it_shifts() {
        let errors: Vec<f64> = (0..10_000).map(|i| f64::from(i) / 10_000.0).collect();
        let reference = crate::model::error_quantiles(&errors);
        assert!(score_psi(&reference, &errors).unwrap() < 1e-3);
        let mut last = 0.0;
        for shift in [0.05, 0.1, 0.2, 0.4] {
            let moved: Vec<f64> = errors.iter().map(|e| e + shift).collect();
            let psi = score_psi(&reference, &moved).unwrap();
            assert!(psi > last, "shift {shift}: {psi} after {last}");
            last = psi;
        }
        assert!(last > DEFAULT_PSI_ALERT);
    }

    #[test]
    fn sliding_means_are_the_means_of_the_last_rows() {
        let mut m = SlidingMeans::new(2, 2);
        m.push(&[1.0, 10.0, 3.0, f32::NAN]);
        assert_eq!(m.means(), vec![2.0, 10.0]);
        assert!(m.is_full());
        // Row (1, 10) leaves.
        m.push(&[5.0, 20.0]);
        assert_eq!(m.means(), vec![4.0, 20.0]);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn mean_shift_is_in_spreads() {
        let p = Preprocessing {
            scaler: ScalerKind::Standard,
            missing: MissingPolicy::Reject,
            offset: vec![10.0, 0.0],
            scale: vec![2.0, 0.5],
            fill: vec![10.0, 0.0],
        };
        let d = feature_mean_shift(&p, &[13.0, -0.25]);
        assert!(close(d[0], 1.5) && close(d[1], 0.5), "{d:?}");
    }
}
