//! The `n` rows with the largest reconstruction error, kept while streaming.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// Keeps the `n` items with the largest keys seen so far. On equal keys the earlier item
/// stays. Non-finite keys are refused, so a NaN error never ranks as the worst row.
#[derive(Debug)]
pub struct TopN<T> {
    n: usize,
    heap: BinaryHeap<Reverse<Entry<T>>>,
    order: u64,
}

#[derive(Debug)]
struct Entry<T> {
    key: f64,
    order: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    /// Larger key is greater; on a tie the earlier item is greater (it wins).
    fn cmp(&self, other: &Self) -> Ordering {
        self.key
            .total_cmp(&other.key)
            .then_with(|| other.order.cmp(&self.order))
    }
}

impl<T> TopN<T> {
    /// Keep at most `n` items.
    pub fn new(n: usize) -> Self {
        TopN {
            n,
            heap: BinaryHeap::with_capacity(n.min(1024) + 1),
            order: 0,
        }
    }

    /// Would an item with this key be kept right now?
    pub fn admits(&self, key: f64) -> bool {
        if !key.is_finite() || self.n == 0 {
            return false;
        }
        if self.heap.len() < self.n {
            return true;
        }
        self.heap
            .peek()
            .is_some_and(|Reverse(min)| key.total_cmp(&min.key) == Ordering::Greater)
    }

    /// Offer an item; `make` runs only when it is kept.
    pub fn offer_with(&mut self, key: f64, make: impl FnOnce() -> T) {
        let order = self.order;
        self.order += 1;
        if !self.admits(key) {
            return;
        }
        if self.heap.len() == self.n {
            self.heap.pop();
        }
        self.heap.push(Reverse(Entry {
            key,
            order,
            item: make(),
        }));
    }

    /// The kept items, largest key first (earlier first on ties).
    pub fn into_sorted(self) -> Vec<(f64, T)> {
        let mut entries: Vec<Entry<T>> = self.heap.into_iter().map(|Reverse(e)| e).collect();
        entries.sort_by(|a, b| b.cmp(a));
        entries.into_iter().map(|e| (e.key, e.item)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::TopN;

    #[test]
    fn keeps_the_largest_in_order() {
        let mut t = TopN::new(3);
        for (i, k) in [0.5, 3.0, f64::NAN, 1.0, 7.0, 2.0, f64::INFINITY, 3.0]
            .iter()
            .enumerate()
        {
            t.offer_with(*k, || i);
        }
        // 3.0 appears twice: the earlier one (index 1) wins the tie.
        assert_eq!(t.into_sorted(), vec![(7.0, 4), (3.0, 1), (3.0, 7)]);
    }

    #[test]
    fn ties_keep_the_earliest() {
        let mut t = TopN::new(2);
        (0..5).for_each(|i| t.offer_with(1.0, || i));
        assert_eq!(t.into_sorted(), vec![(1.0, 0), (1.0, 1)]);
    }

    #[test]
    fn zero_and_fewer_items_than_n() {
        let mut t = TopN::new(0);
        t.offer_with(1.0, || ());
        assert!(t.into_sorted().is_empty());
        let mut t = TopN::new(5);
        t.offer_with(1.0, || 'a');
        assert_eq!(t.into_sorted(), vec![(1.0, 'a')]);
    }
}
