//! The last `N` reconstruction errors, kept exactly and in order: the window the adaptive threshold
//! and the drift alarm read.
//!
//! # Why an exact window and not a sketch
//!
//! A sliding window must forget the oldest value as each new one arrives. The quantile sketches
//! (t-digest, DDSketch, KLL) merge values into centroids or buckets and cannot delete one, so a
//! "sliding" sketch is really a pair of hopping ones (the answer covers between `N` and `2N`
//! rows, and jumps at each hop). The windows the stage needs are small enough to keep exactly
//! (10 000 rows by default, at most [`MAX_WINDOW`]), so this one is exact:
//!
//! - `ring`: the values in arrival order (a `VecDeque`), to know which one leaves next;
//! - `sorted`: the same values ascending, to read any order statistic in `O(1)`.
//!
//! [`SlidingWindow::push`] takes a whole batch of `b` values: they are appended to the ring, the
//! `max(0, len + b − N)` oldest ones leave it, and `sorted` is rebuilt in one merge pass of the
//! kept values with the sorted newcomers: `O(N + b·log b)` per batch, no per-row shifting.
//!
//! # Memory
//!
//! Two `f64` per row: `16·N` bytes, 160 kB for the default window, 16 MB at [`MAX_WINDOW`].

use std::collections::VecDeque;

use super::threshold::quantile_sorted;

/// The largest window, in rows (16 MB of state).
pub const MAX_WINDOW: usize = 1_000_000;

/// The last `capacity` finite values pushed, in arrival order and sorted.
#[derive(Debug, Clone)]
pub struct SlidingWindow {
    capacity: usize,
    ring: VecDeque<f64>,
    sorted: Vec<f64>,
}

impl SlidingWindow {
    /// An empty window of `capacity` rows (clamped to `1..=MAX_WINDOW`).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, MAX_WINDOW);
        Self {
            capacity,
            ring: VecDeque::with_capacity(capacity),
            sorted: Vec::with_capacity(capacity),
        }
    }

    /// A window holding `values`, in this arrival order (the last `capacity` of them).
    pub fn from_values(capacity: usize, values: impl IntoIterator<Item = f64>) -> Self {
        let mut w = Self::new(capacity);
        let values: Vec<f64> = values.into_iter().collect();
        w.push(&values);
        w
    }

    /// Appends the finite values of `values` (in order); the oldest ones beyond the capacity leave.
    pub fn push(&mut self, values: &[f64]) {
        let mut added: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if added.len() > self.capacity {
            added.drain(..added.len() - self.capacity);
        }
        if added.is_empty() {
            return;
        }
        self.ring.extend(added.iter().copied());
        let leaving = self.ring.len().saturating_sub(self.capacity);
        let mut removed: Vec<f64> = self.ring.drain(..leaving).collect();
        removed.sort_by(f64::total_cmp);
        added.sort_by(f64::total_cmp);
        self.sorted = merge_without(&self.sorted, &removed, &added);
    }

    /// Number of values held.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// `true` when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// `true` when it holds `capacity` values.
    pub fn is_full(&self) -> bool {
        self.ring.len() == self.capacity
    }

    /// The window's size in rows.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The values, ascending.
    pub fn sorted(&self) -> &[f64] {
        &self.sorted
    }

    /// The values, oldest first.
    pub fn in_order(&self) -> impl Iterator<Item = f64> + '_ {
        self.ring.iter().copied()
    }

    /// `Q(q)` of the values held (the crate's one quantile, [`quantile_sorted`]).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        quantile_sorted(&self.sorted, q)
    }
}

/// `kept ∖ removed ∪ added`, ascending, in one pass. `removed` must be a sub-multiset of `kept`
/// (every value removed was in the window); all three are ascending.
fn merge_without(kept: &[f64], removed: &[f64], added: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(kept.len() + added.len() - removed.len().min(kept.len()));
    let (mut r, mut a) = (0, 0);
    for &v in kept {
        if r < removed.len() && removed[r].total_cmp(&v).is_eq() {
            r += 1;
            continue;
        }
        while a < added.len() && added[a].total_cmp(&v).is_lt() {
            out.push(added[a]);
            a += 1;
        }
        out.push(v);
    }
    out.extend_from_slice(&added[a..]);
    out
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::model::sorted_errors;

    /// The window equals the last N values, sorted, after any sequence of pushes: checked
    /// against sorting the tail of everything pushed.
    #[test]
    fn holds_exactly_the_last_n_values() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for capacity in [1, 2, 7, 100] {
            let mut w = SlidingWindow::new(capacity);
            let mut all: Vec<f64> = Vec::new();
            for _ in 0..60 {
                let b = rng.random_range(0..(capacity * 2 + 3));
                // Small integers, so that duplicates are common.
                let batch: Vec<f64> = (0..b).map(|_| f64::from(rng.random_range(0..9))).collect();
                w.push(&batch);
                all.extend(&batch);
                let tail = &all[all.len().saturating_sub(capacity)..];
                assert_eq!(w.sorted(), sorted_errors(tail).as_slice());
                assert_eq!(w.in_order().collect::<Vec<_>>(), tail);
                assert_eq!(w.is_full(), all.len() >= capacity);
            }
        }
    }

    #[test]
    fn non_finite_values_are_not_kept_and_quantiles_interpolate() {
        let mut w = SlidingWindow::new(4);
        w.push(&[f64::NAN, 1.0, f64::INFINITY, 2.0, 3.0]);
        assert_eq!(w.len(), 3);
        w.push(&[4.0, 5.0]);
        assert_eq!(w.sorted(), &[2.0, 3.0, 4.0, 5.0]);
        // h = 0.5·3 = 1.5 → 3 + 0.5·(4 − 3)
        assert_eq!(w.quantile(0.5), Some(3.5));
        assert_eq!(SlidingWindow::new(0).capacity(), 1);
        assert_eq!(SlidingWindow::new(usize::MAX).capacity(), MAX_WINDOW);
    }
}
