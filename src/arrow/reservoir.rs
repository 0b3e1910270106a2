//! A uniform random sample of at most `capacity` items from a stream of unknown length, so an
//! input of any size is sampled in bounded memory: the training rows of a file or a query
//! ([`TrainingSample`](super::TrainingSample), `batch::read_training_data`) and the report's
//! errors and latent rows.
//!
//! Reservoir sampling (Vitter's Algorithm R): the first `capacity` items are kept; item `t`
//! (0-based) after that replaces a uniformly chosen kept item with probability
//! `capacity / (t+1)`. Every item of the stream then ends up in the sample with the same
//! probability `min(1, capacity / n)` after `n` offers. Seeded, so the same stream and seed give
//! the same sample.
//!
//! An item is `width` values of `T`, kept flat in one buffer: a row of features
//! (`Reservoir<f32>`, read back as a matrix), or a single value of any type (width 1).

use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A fixed-capacity uniform sample of items of `width` values of `T` (by default rows of f32).
#[derive(Debug, Clone)]
pub struct Reservoir<T = f32> {
    width: usize,
    capacity: usize,
    /// Kept items, one after the other; grows up to `capacity × width` values.
    data: Vec<T>,
    seen: u64,
    rng: ChaCha8Rng,
}

impl<T> Reservoir<T> {
    /// An empty reservoir keeping at most `capacity` items (0 keeps nothing) of `width` values.
    pub fn new(capacity: usize, width: usize, seed: u64) -> Self {
        Reservoir {
            width,
            capacity,
            data: Vec::new(),
            seen: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Offer one item, whose `width` values `make` yields; `make` runs only when the item is
    /// kept, so a rejected item costs nothing.
    pub fn offer_with<I: IntoIterator<Item = T>>(&mut self, make: impl FnOnce() -> I) {
        let Some(slot) = self.slot() else {
            return;
        };
        let at = slot * self.width;
        if at == self.data.len() {
            self.data.extend(make());
        } else {
            for (kept, v) in self.data[at..at + self.width].iter_mut().zip(make()) {
                *kept = v;
            }
        }
        debug_assert_eq!(
            self.data.len(),
            self.len() * self.width,
            "items of width values"
        );
    }

    /// Where the item being offered goes: `Some(slot)` (`slot == len()` before the offer:
    /// appended), or `None` when it is not kept. Draws once from the generator per item after
    /// the first `capacity`.
    fn slot(&mut self) -> Option<usize> {
        let t = self.seen;
        self.seen += 1;
        if t < self.capacity as u64 {
            return usize::try_from(t).ok();
        }
        if self.capacity == 0 {
            return None;
        }
        let j = self.rng.random_range(0..=t);
        usize::try_from(j).ok().filter(|&j| j < self.capacity)
    }

    /// Items offered so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Items kept (`min(seen, capacity)`).
    pub fn len(&self) -> usize {
        self.seen.min(self.capacity as u64) as usize
    }

    /// `true` when nothing was offered.
    pub fn is_empty(&self) -> bool {
        self.seen == 0
    }

    /// `true` when more items were offered than kept.
    pub fn is_sampled(&self) -> bool {
        self.seen > self.capacity as u64
    }

    /// The kept values, item after item (for width 1: the items), in no particular order.
    pub fn into_items(self) -> Vec<T> {
        self.data
    }

    /// The kept items as a `[len, width]` matrix, one row per item.
    pub fn into_matrix(self) -> Array2<T> {
        let shape = (self.len(), self.width);
        Array2::from_shape_vec(shape, self.data).expect("len × width values are kept")
    }
}

impl<T: Clone> Reservoir<T> {
    /// Offer one item (`width` values).
    pub fn offer(&mut self, item: &[T]) {
        debug_assert_eq!(item.len(), self.width);
        self.offer_with(|| item.iter().cloned());
    }

    /// Offer every row of `rows` (`[n, width]`), in order, as one item each.
    pub fn offer_rows(&mut self, rows: ArrayView2<T>) {
        debug_assert_eq!(rows.ncols(), self.width);
        for row in rows.rows() {
            self.offer_with(|| row.iter().cloned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_everything_below_capacity_in_order() {
        let mut r = Reservoir::new(10, 2, 1);
        for i in 0..5 {
            r.offer(&[i as f32, -(i as f32)]);
        }
        assert!(!r.is_sampled());
        let m = r.into_matrix();
        assert_eq!(m.shape(), &[5, 2]);
        assert_eq!(m.column(0).to_vec(), vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        let mut r = Reservoir::new(10, 1, 1);
        (0..7).for_each(|i| r.offer_with(|| [i]));
        assert!(!r.is_sampled());
        assert_eq!(r.into_items(), (0..7).collect::<Vec<_>>());
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut r = Reservoir::new(0, 1, 1);
        (0..5).for_each(|i| r.offer_with(|| [i]));
        assert!(r.is_sampled());
        assert_eq!(r.seen(), 5);
        assert!(r.into_items().is_empty());
    }

    #[test]
    fn sample_is_uniform_over_the_stream() {
        // 200 kept of 10 000, repeated over 50 seeds: each tenth of the stream should get about
        // 10% of the kept rows. Binomial std for 10 000 draws at p = 0.1 is 30; allow 5σ.
        let mut per_decile = [0usize; 10];
        for seed in 0..50 {
            let mut r = Reservoir::new(200, 1, seed);
            for i in 0..10_000 {
                r.offer(&[i as f32]);
            }
            assert!(r.is_sampled());
            assert_eq!(r.seen(), 10_000);
            let m = r.into_matrix();
            assert_eq!(m.nrows(), 200);
            for v in &m {
                per_decile[(*v as usize) / 1000] += 1;
            }
        }
        for (d, &c) in per_decile.iter().enumerate() {
            assert!((c as i64 - 1000).abs() < 150, "decile {d}: {c} of 10000");
        }
    }

    /// Whole rows move together: a kept row is never a mix of two offered ones, whether offered
    /// one at a time or from a (non-contiguous) matrix view.
    #[test]
    fn rows_are_kept_whole() {
        let x = Array2::from_shape_fn((500, 3), |(i, j)| (i * 10 + j) as f32);
        let mut one_by_one = Reservoir::new(20, 3, 9);
        for row in x.rows() {
            one_by_one.offer(row.as_slice().unwrap());
        }
        let mut from_view = Reservoir::new(20, 3, 9);
        from_view.offer_rows(x.t().t());
        let mut transposed = Reservoir::new(20, 3, 9);
        let xt = x.t().to_owned();
        transposed.offer_rows(xt.t());
        let m = one_by_one.into_matrix();
        assert_eq!(m, from_view.into_matrix());
        assert_eq!(m, transposed.into_matrix());
        for row in m.rows() {
            assert_eq!(row[1], row[0] + 1.0);
            assert_eq!(row[2], row[0] + 2.0);
        }
    }

    #[test]
    fn same_seed_same_sample() {
        let run = |seed| {
            let mut r = Reservoir::new(3, 1, seed);
            for i in 0..100 {
                r.offer(&[i as f32]);
            }
            r.into_matrix()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        // Items of any type sample the same positions as rows of f32 under the same seed.
        let mut items = Reservoir::new(3, 1, 7);
        (0..100).for_each(|i| items.offer_with(|| [i.to_string()]));
        let items: Vec<f32> = items
            .into_items()
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(items, run(7).into_raw_vec_and_offset().0);
    }
}
