//! A uniform random sample of fixed size from a stream of unknown length (Vitter's
//! algorithm R), so the report reads inputs of any size in bounded memory.
//!
//! After `n` offers each item is kept with probability `min(1, capacity / n)`. The sampler is
//! seeded, so the same input and seed give the same report.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Keeps a uniform sample of at most `capacity` of the items offered.
#[derive(Debug)]
pub struct Reservoir<T> {
    capacity: usize,
    seen: u64,
    items: Vec<T>,
    rng: ChaCha8Rng,
}

impl<T> Reservoir<T> {
    /// An empty sample of at most `capacity` items (0 keeps nothing).
    pub fn new(capacity: usize, seed: u64) -> Self {
        Reservoir {
            capacity,
            seen: 0,
            items: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Offer one item; `make` runs only when the item is kept, so rejected rows cost nothing.
    pub fn offer_with(&mut self, make: impl FnOnce() -> T) {
        self.seen += 1;
        if self.items.len() < self.capacity {
            self.items.push(make());
            return;
        }
        if self.capacity == 0 {
            return;
        }
        let j = self.rng.random_range(0..self.seen);
        if let Ok(j) = usize::try_from(j)
            && j < self.capacity
        {
            self.items[j] = make();
        }
    }

    /// `true` when fewer items are kept than were offered.
    pub fn is_partial(&self) -> bool {
        (self.items.len() as u64) < self.seen
    }

    /// The kept items, in no particular order.
    pub fn into_items(self) -> Vec<T> {
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::Reservoir;

    #[test]
    fn keeps_everything_below_capacity() {
        let mut r = Reservoir::new(10, 1);
        (0..7).for_each(|i| r.offer_with(|| i));
        assert!(!r.is_partial());
        assert_eq!(r.into_items(), (0..7).collect::<Vec<_>>());
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut r = Reservoir::new(0, 1);
        (0..5).for_each(|i| r.offer_with(|| i));
        assert!(r.is_partial());
        assert!(r.into_items().is_empty());
    }

    /// Every item of a stream of 100 should land in a sample of 10 about 10 % of the time.
    #[test]
    fn sample_is_uniform() {
        let mut hits = [0u32; 100];
        for seed in 0..2000 {
            let mut r = Reservoir::new(10, seed);
            (0..100).for_each(|i| r.offer_with(|| i));
            assert!(r.is_partial());
            for i in r.into_items() {
                hits[i] += 1;
            }
        }
        // Expected 200 per item; binomial std ≈ 13.4, so ±70 is over 5 std.
        for (i, h) in hits.iter().enumerate() {
            assert!(
                (130..=270).contains(h),
                "item {i} kept {h} times out of 2000"
            );
        }
    }

    #[test]
    fn same_seed_same_sample() {
        let run = |seed| {
            let mut r = Reservoir::new(5, seed);
            (0..1000).for_each(|i| r.offer_with(|| i));
            r.into_items()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }
}
