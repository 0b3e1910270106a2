//! Size-or-deadline batching, without clocks or IO of its own (the caller passes `now`).
//!
//! A batch is due when it holds `max_size` items, or when `linger` has passed since its *first*
//! item arrived, whichever comes first. An empty batcher is never due and has no deadline, so an
//! idle stage does not wake up.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use aeflow::stream::Batcher;
//!
//! let t0 = Instant::now();
//! let mut b = Batcher::new(3, Duration::from_millis(10));
//! b.push("a", t0);
//! assert!(!b.is_due(t0));
//! assert_eq!(b.deadline(), Some(t0 + Duration::from_millis(10)));
//! assert!(b.is_due(t0 + Duration::from_millis(10)));
//! assert_eq!(b.take(), vec!["a"]);
//! assert_eq!(b.deadline(), None);
//! ```

use std::time::{Duration, Instant};

/// Gathers items until `max_size` of them are present or `linger` has passed since the first.
#[derive(Debug)]
pub struct Batcher<T> {
    items: Vec<T>,
    max_size: usize,
    linger: Duration,
    first_at: Option<Instant>,
}

impl<T> Batcher<T> {
    /// A batcher flushing at `max_size` items (at least 1) or `linger` after the first item.
    pub fn new(max_size: usize, linger: Duration) -> Self {
        let max_size = max_size.max(1);
        Self {
            items: Vec::with_capacity(max_size),
            max_size,
            linger,
            first_at: None,
        }
    }

    /// Adds an item that arrived at `now`.
    pub fn push(&mut self, item: T, now: Instant) {
        if self.items.is_empty() {
            self.first_at = Some(now);
        }
        self.items.push(item);
    }

    /// Number of items waiting.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// `true` when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `true` when the batch has reached its size limit (no more items should be pushed).
    pub fn is_full(&self) -> bool {
        self.items.len() >= self.max_size
    }

    /// When the current batch must be flushed at the latest; `None` when empty.
    pub fn deadline(&self) -> Option<Instant> {
        self.first_at.map(|t| t + self.linger)
    }

    /// `true` when the batch is full or its deadline has passed at `now`.
    pub fn is_due(&self, now: Instant) -> bool {
        self.is_full() || self.deadline().is_some_and(|d| now >= d)
    }

    /// The waiting items, oldest first; the batcher is empty afterwards.
    pub fn take(&mut self) -> Vec<T> {
        self.first_at = None;
        std::mem::replace(&mut self.items, Vec::with_capacity(self.max_size))
    }

    /// Items waiting, oldest first.
    pub fn items(&self) -> &[T] {
        &self.items
    }

    /// Drops everything waiting (used when the stage rewinds).
    pub fn clear(&mut self) {
        self.first_at = None;
        self.items.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn flushes_on_size_before_deadline() {
        let t0 = Instant::now();
        let mut b = Batcher::new(2, 100 * MS);
        b.push(1, t0);
        assert!(!b.is_due(t0));
        b.push(2, t0 + MS);
        assert!(b.is_full());
        assert!(b.is_due(t0 + MS));
        assert_eq!(b.take(), vec![1, 2]);
        assert!(b.is_empty());
    }

    #[test]
    fn deadline_counts_from_first_item() {
        let t0 = Instant::now();
        let mut b = Batcher::new(10, 10 * MS);
        b.push(1, t0);
        b.push(2, t0 + 9 * MS);
        assert!(!b.is_due(t0 + 9 * MS));
        assert!(b.is_due(t0 + 10 * MS));
        assert_eq!(b.take().len(), 2);
        // The next batch's deadline starts with its own first item.
        b.push(3, t0 + 50 * MS);
        assert_eq!(b.deadline(), Some(t0 + 60 * MS));
    }

    #[test]
    fn empty_batcher_is_never_due() {
        let b: Batcher<u8> = Batcher::new(1, Duration::ZERO);
        assert!(!b.is_due(Instant::now() + Duration::from_secs(3600)));
        assert_eq!(b.deadline(), None);
    }

    #[test]
    fn zero_linger_is_due_at_once_and_size_zero_means_one() {
        let t0 = Instant::now();
        let mut b = Batcher::new(0, Duration::ZERO);
        b.push('x', t0);
        assert!(b.is_full());
        assert!(b.is_due(t0));
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.deadline(), None);
    }
}
