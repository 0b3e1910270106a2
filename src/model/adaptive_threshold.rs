//! A threshold that follows the live error distribution: `Q(q)` of the last `N` reconstruction
//! errors, instead of the one calibrated at training time.
//!
//! ```text
//! threshold(batch k) = Q(q) of the window before batch k     (once the window is full)
//!                    = the model's calibrated threshold       (until then)
//! window            ← window + errors of batch k             (the oldest leave)
//! ```
//!
//! The quantile is [`quantile_sorted`](super::quantile_sorted) over an exact [`SlidingWindow`]
//! (see there for why not a sketch). A row is an anomaly when its error is strictly greater than
//! the threshold, as with the fixed one; `q = 1 − c` flags about a fraction `c` of a stationary
//! stream, whatever level its errors have drifted to.
//!
//! # Checkpoints
//!
//! [`ThresholdCheckpoint`] is what survives a restart: the rows seen and at most
//! [`CHECKPOINT_POINTS`] order statistics of the window, half evenly spaced in rank and half
//! around the quantile in use (a JSON document of about 20 kB, whatever `N`). [`AdaptiveThreshold::restore`] rebuilds a window of the same length from them by linear
//! interpolation, so the first threshold after a restart is the one before it up to the
//! interpolation between neighbouring stored ranks (within 1 % on a log-normal window of 10 000
//! rows, tested); after `N` new rows
//! the window is exact again. The restored values' arrival order is unknown, so they are laid out
//! in a stride permutation of their ranks: the rows that leave first are spread over the whole
//! distribution rather than taken from one end.

use serde::{Deserialize, Serialize};

use super::sliding_window::{MAX_WINDOW, SlidingWindow};
use super::threshold::quantile_sorted;
use crate::error::{Error, Result};

/// Window size when none is given, in rows.
pub const DEFAULT_WINDOW: usize = 10_000;
/// Order statistics a checkpoint keeps.
pub const CHECKPOINT_POINTS: usize = 512;
/// The `format` field of a checkpoint.
const CHECKPOINT_FORMAT: &str = "aeflow.threshold";
const CHECKPOINT_VERSION: u32 = 1;

/// The settings of an adaptive threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveThresholdConfig {
    /// Rows in the window, `1..=MAX_WINDOW`.
    pub window: usize,
    /// The quantile `q ∈ (0, 1)` of the window that is the threshold.
    pub quantile: f64,
}

impl AdaptiveThresholdConfig {
    /// The default quantile for a model trained with contamination `c`: `1 − c`; `None` for
    /// `c = 0` (no contamination, no default).
    pub fn default_quantile(contamination: f64) -> Option<f64> {
        (contamination > 0.0 && contamination < 1.0).then_some(1.0 - contamination)
    }

    /// Checks the ranges; errors name `window` and `quantile`.
    pub fn validate(&self) -> Result<()> {
        if self.window == 0 || self.window > MAX_WINDOW {
            return Err(Error::config(
                "window",
                format!(
                    "must be 1..={MAX_WINDOW} rows (16 bytes of state per row); got {}",
                    self.window
                ),
            ));
        }
        if !(self.quantile > 0.0 && self.quantile < 1.0) {
            return Err(Error::config(
                "quantile",
                format!("must lie strictly between 0 and 1; got {}", self.quantile),
            ));
        }
        Ok(())
    }
}

/// A sliding-window quantile threshold (see the module docs).
#[derive(Debug, Clone)]
pub struct AdaptiveThreshold {
    config: AdaptiveThresholdConfig,
    window: SlidingWindow,
    rows_seen: u64,
}

impl AdaptiveThreshold {
    /// An empty window; errors when `config` is out of range.
    pub fn new(config: AdaptiveThresholdConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            window: SlidingWindow::new(config.window),
            rows_seen: 0,
        })
    }

    /// The settings.
    pub fn config(&self) -> AdaptiveThresholdConfig {
        self.config
    }

    /// `Q(q)` of the window once it is full; `None` before (the caller keeps the model's).
    pub fn threshold(&self) -> Option<f64> {
        if self.window.is_full() {
            self.window.quantile(self.config.quantile)
        } else {
            None
        }
    }

    /// Adds a batch of errors (non-finite ones are skipped).
    pub fn observe(&mut self, errors: &[f64]) {
        self.window.push(errors);
        self.rows_seen += errors.iter().filter(|e| e.is_finite()).count() as u64;
    }

    /// The window.
    pub fn window(&self) -> &SlidingWindow {
        &self.window
    }

    /// Finite errors observed since the state began (restored ones included).
    pub fn rows_seen(&self) -> u64 {
        self.rows_seen
    }

    /// What a restart needs (see the module docs).
    pub fn checkpoint(&self) -> ThresholdCheckpoint {
        let sorted = self.window.sorted();
        let points = checkpoint_ranks(sorted.len(), self.config.quantile)
            .into_iter()
            .filter_map(|p| quantile_sorted(sorted, p).map(|v| (p, v)))
            .collect();
        ThresholdCheckpoint {
            format: CHECKPOINT_FORMAT.to_string(),
            version: CHECKPOINT_VERSION,
            rows_seen: self.rows_seen,
            len: sorted.len(),
            points,
        }
    }

    /// A threshold under `config` resuming from `checkpoint`: a window of `min(len, window)`
    /// values interpolated from its points.
    pub fn restore(
        config: AdaptiveThresholdConfig,
        checkpoint: &ThresholdCheckpoint,
    ) -> Result<Self> {
        let mut t = Self::new(config)?;
        let len = checkpoint.len.min(config.window);
        if len == 0 || checkpoint.points.is_empty() {
            return Ok(t);
        }
        let by_rank: Vec<f64> = (0..len)
            .map(|j| {
                let p = if len == 1 {
                    0.5
                } else {
                    j as f64 / (len - 1) as f64
                };
                interpolate(&checkpoint.points, p)
            })
            .collect();
        let stride = coprime_stride(len);
        t.window = SlidingWindow::from_values(
            config.window,
            (0..len).map(|i| by_rank[(i * stride) % len]),
        );
        t.rows_seen = checkpoint.rows_seen;
        Ok(t)
    }
}

/// The ranks `p ∈ [0, 1]` a checkpoint of `len` values keeps, ascending and distinct: half of
/// [`CHECKPOINT_POINTS`] evenly over `[0, 1]`, half evenly over `q ± max(1 − q, 0.01)`, where the
/// threshold is read (the tail is where evenly spaced ranks are sparsest and values spread most).
fn checkpoint_ranks(len: usize, q: f64) -> Vec<f64> {
    if len == 0 {
        return Vec::new();
    }
    let half = (CHECKPOINT_POINTS / 2).min(len);
    let even = |k: usize, lo: f64, hi: f64| {
        (0..k).map(move |i| {
            if k == 1 {
                lo
            } else {
                lo + (hi - lo) * i as f64 / (k - 1) as f64
            }
        })
    };
    let d = (1.0 - q).max(0.01);
    let mut ranks: Vec<f64> = even(half.max(2), 0.0, 1.0)
        .chain(even(half, (q - d).max(0.0), (q + d).min(1.0)))
        .collect();
    ranks.sort_by(f64::total_cmp);
    ranks.dedup();
    ranks
}

/// The value at rank `p` of the piecewise-linear curve through `points` (`(rank, value)`,
/// ascending in both).
fn interpolate(points: &[(f64, f64)], p: f64) -> f64 {
    let i = points.partition_point(|(r, _)| *r < p);
    match (i.checked_sub(1).map(|j| points[j]), points.get(i).copied()) {
        (Some((r0, v0)), Some((r1, v1))) if r1 > r0 => v0 + (p - r0) / (r1 - r0) * (v1 - v0),
        (_, Some((_, v))) | (Some((_, v)), None) => v,
        (None, None) => f64::NAN,
    }
}

/// A stride near `0.618·len` with `gcd(stride, len) = 1`, so that `i ↦ i·stride mod len` visits
/// every rank once, far apart.
fn coprime_stride(len: usize) -> usize {
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let mut s = ((len as f64 * 0.618) as usize).max(1);
    while gcd(s, len) != 1 {
        s += 1;
    }
    s
}

/// The state of an [`AdaptiveThreshold`] that survives a restart, as stored (JSON).
///
/// ```json
/// {"format":"aeflow.threshold","version":1,"rows_seen":52000,"len":10000,
///  "points":[[0.0,0.004],[0.00196,0.011], …,[1.0,0.93]]}
/// ```
/// `points` are `(rank p, Q(p) of the window)` pairs, ascending in both: at most
/// [`CHECKPOINT_POINTS`], half evenly spaced over `[0, 1]` and half around the quantile in use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdCheckpoint {
    /// Always `aeflow.threshold`.
    pub format: String,
    /// Format version (1).
    pub version: u32,
    /// Rows observed in total.
    pub rows_seen: u64,
    /// Rows the window held.
    pub len: usize,
    /// `(rank, value)` pairs of the window, ascending in both.
    pub points: Vec<(f64, f64)>,
}

impl ThresholdCheckpoint {
    /// The JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a checkpoint; `source` names where it came from in errors.
    pub fn from_bytes(bytes: &[u8], source: &str) -> Result<Self> {
        let c: Self = serde_json::from_slice(bytes).map_err(|e| {
            Error::data(
                source,
                format!("is not an adaptive-threshold checkpoint: {e}"),
            )
        })?;
        if c.format != CHECKPOINT_FORMAT || c.version != CHECKPOINT_VERSION {
            return Err(Error::data(
                source,
                format!(
                    "is a checkpoint of format {:?} version {}; expected {CHECKPOINT_FORMAT:?} \
                     version {CHECKPOINT_VERSION}",
                    c.format, c.version
                ),
            ));
        }
        if c.points.len() > CHECKPOINT_POINTS
            || c.points
                .iter()
                .any(|(p, v)| !v.is_finite() || !(0.0..=1.0).contains(p))
            || c.points
                .windows(2)
                .any(|w| w[0].0 >= w[1].0 || w[0].1 > w[1].1)
        {
            return Err(Error::data(
                source,
                format!(
                    "holds {} points; expected at most {CHECKPOINT_POINTS} (rank, value) pairs, \
                     ranks in [0, 1] and both ascending",
                    c.points.len()
                ),
            ));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, LogNormal};

    use super::*;

    fn config(window: usize, quantile: f64) -> AdaptiveThresholdConfig {
        AdaptiveThresholdConfig { window, quantile }
    }

    #[test]
    fn the_threshold_is_the_windows_quantile_once_it_is_full() {
        let mut t = AdaptiveThreshold::new(config(5, 0.5)).unwrap();
        t.observe(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(
            t.threshold(),
            None,
            "not full yet: the model's threshold holds"
        );
        t.observe(&[5.0]);
        assert_eq!(t.threshold(), Some(3.0));
        // 1 and 2 leave: {3, 4, 5, 10, 11} → median 5.
        t.observe(&[10.0, 11.0]);
        assert_eq!(t.threshold(), Some(5.0));
        assert_eq!(t.rows_seen(), 7);
    }

    #[test]
    fn settings_out_of_range_are_refused_by_name() {
        for (c, name) in [
            (config(0, 0.9), "window"),
            (config(MAX_WINDOW + 1, 0.9), "window"),
            (config(10, 1.0), "quantile"),
            (config(10, 0.0), "quantile"),
            (config(10, f64::NAN), "quantile"),
        ] {
            let e = AdaptiveThreshold::new(c).unwrap_err();
            assert!(
                matches!(&e, Error::Config { option, .. } if option == name),
                "{e}"
            );
        }
        assert_eq!(AdaptiveThresholdConfig::default_quantile(0.01), Some(0.99));
        assert_eq!(AdaptiveThresholdConfig::default_quantile(0.0), None);
    }

    /// A restored window gives the threshold of the original within 1 % on a heavy-tailed error
    /// distribution, for every quantile a user is likely to pick, and it keeps adapting.
    #[test]
    fn a_restored_threshold_is_within_one_percent_of_the_original() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let dist = LogNormal::new(-3.0, 0.8).unwrap();
        let errors: Vec<f64> = (0..25_000).map(|_| dist.sample(&mut rng)).collect();
        for q in [0.9, 0.95, 0.99, 0.995] {
            let mut t = AdaptiveThreshold::new(config(10_000, q)).unwrap();
            t.observe(&errors);
            let bytes = t.checkpoint().to_bytes();
            assert!(bytes.len() < 24_000, "{} bytes", bytes.len());
            let c = ThresholdCheckpoint::from_bytes(&bytes, "test").unwrap();
            let r = AdaptiveThreshold::restore(t.config(), &c).unwrap();
            let (a, b) = (t.threshold().unwrap(), r.threshold().unwrap());
            assert!((a - b).abs() / a < 0.01, "q = {q}: {a} vs restored {b}");
            assert_eq!((r.rows_seen(), r.window().len()), (25_000, 10_000));
            // Both then forget the past at the same pace.
            let mut t2 = t.clone();
            let mut r2 = r.clone();
            let shifted: Vec<f64> = errors[..10_000].iter().map(|e| e * 3.0).collect();
            t2.observe(&shifted);
            r2.observe(&shifted);
            assert_eq!(t2.threshold(), r2.threshold());
        }
    }

    #[test]
    fn a_restore_into_a_smaller_window_and_bad_checkpoints() {
        let mut t = AdaptiveThreshold::new(config(100, 0.9)).unwrap();
        t.observe(&(0..100).map(f64::from).collect::<Vec<_>>());
        let r = AdaptiveThreshold::restore(config(10, 0.9), &t.checkpoint()).unwrap();
        assert!(r.window().is_full());
        let th = r.threshold().unwrap();
        assert!((th - 89.1).abs() < 1.0, "{th}");
        let empty = AdaptiveThreshold::new(config(10, 0.9))
            .unwrap()
            .checkpoint();
        let r = AdaptiveThreshold::restore(config(10, 0.9), &empty).unwrap();
        assert!(r.window().is_empty());
        for bad in [
            &b"not json"[..],
            br#"{"format":"x","version":1,"rows_seen":1,"len":1,"points":[[0.5,1.0]]}"#,
            br#"{"format":"aeflow.threshold","version":1,"rows_seen":1,"len":2,"points":[[0,2.0],[1,1.0]]}"#,
        ] {
            let e = ThresholdCheckpoint::from_bytes(bad, "state/0@7").unwrap_err();
            assert!(e.to_string().contains("state/0@7"), "{e}");
        }
    }
}
