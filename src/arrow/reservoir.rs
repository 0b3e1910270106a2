//! A uniform random sample of at most `capacity` rows from a stream of unknown length.
//!
//! Reservoir sampling (Vitter's Algorithm R): the first `capacity` rows are kept; row `t`
//! (0-based) after that replaces a uniformly chosen kept row with probability `capacity / (t+1)`.
//! Every row of the stream then ends up in the sample with the same probability
//! `capacity / rows`. Seeded, so the same file and seed give the same sample.

use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A fixed-capacity uniform sample of f32 rows of one width.
#[derive(Debug, Clone)]
pub struct Reservoir {
    width: usize,
    capacity: usize,
    /// Kept rows, row-major; grows up to `capacity × width` values.
    data: Vec<f32>,
    seen: u64,
    rng: ChaCha8Rng,
}

impl Reservoir {
    /// An empty reservoir keeping at most `capacity` rows of `width` values.
    pub fn new(capacity: usize, width: usize, seed: u64) -> Self {
        Reservoir {
            width,
            capacity,
            data: Vec::new(),
            seen: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Offer one row (`width` values).
    pub fn offer(&mut self, row: &[f32]) {
        debug_assert_eq!(row.len(), self.width);
        let t = self.seen;
        self.seen += 1;
        if t < self.capacity as u64 {
            self.data.extend_from_slice(row);
        } else {
            let j = self.rng.random_range(0..=t);
            if j < self.capacity as u64 {
                let at = j as usize * self.width;
                self.data[at..at + self.width].copy_from_slice(row);
            }
        }
    }

    /// Offer every row of `rows` (`[n, width]`), in order.
    pub fn offer_rows(&mut self, rows: ArrayView2<f32>) {
        let mut buf = vec![0.0f32; self.width];
        for r in rows.rows() {
            match r.as_slice() {
                Some(s) => self.offer(s),
                None => {
                    buf.iter_mut().zip(r.iter()).for_each(|(b, v)| *b = *v);
                    self.offer(&buf);
                }
            }
        }
    }

    /// Rows offered so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Rows kept (`min(seen, capacity)`).
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.width).unwrap_or(0)
    }

    /// `true` when nothing was offered.
    pub fn is_empty(&self) -> bool {
        self.seen == 0
    }

    /// `true` when more rows were offered than kept.
    pub fn is_sampled(&self) -> bool {
        self.seen > self.capacity as u64
    }

    /// The kept rows as a `[len, width]` matrix.
    pub fn into_matrix(self) -> Array2<f32> {
        let rows = self.len();
        Array2::from_shape_vec((rows, self.width), self.data)
            .unwrap_or_else(|_| Array2::zeros((0, self.width)))
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
            for v in m.iter() {
                per_decile[(*v as usize) / 1000] += 1;
            }
        }
        for (d, &c) in per_decile.iter().enumerate() {
            assert!((c as i64 - 1000).abs() < 150, "decile {d}: {c} of 10000");
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
    }
}
