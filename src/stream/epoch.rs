//! The pipeline epoch: which in-flight batches may still commit.
//!
//! Every batch is stamped with the epoch current when it was cut. The epoch moves on when a batch
//! fails (its delivery or transaction did not go through) or when the consumer group rebalances.
//! From then on, batches of older epochs are *stale*: the worker and the producer skip them, and
//! nothing of theirs is committed. The run loop notices the new epoch, drops what it was gathering
//! and rewinds its partitions (after a failure) or lets the new assignment restart them from their
//! committed offsets (after a rebalance), so every stale message is read again.
//!
//! With exactly-once delivery a transaction must never commit after its partitions were revoked:
//! the producer marks itself busy for the length of each transaction and re-checks the epoch before
//! sending offsets and before committing, and a revocation waits (bounded) until it is idle.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Shared epoch counter, plus the transaction-in-progress flag.
#[derive(Debug, Default)]
pub struct Epoch {
    current: AtomicU64,
    rebalances: AtomicU64,
    busy: Mutex<bool>,
    idle: Condvar,
}

impl Epoch {
    /// A fresh epoch 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current epoch.
    pub fn current(&self) -> u64 {
        self.current.load(Ordering::SeqCst)
    }

    /// How many rebalances have moved the epoch.
    pub fn rebalances(&self) -> u64 {
        self.rebalances.load(Ordering::SeqCst)
    }

    /// `true` when a batch of epoch `e` may still commit.
    pub fn is_current(&self, e: u64) -> bool {
        self.current() == e
    }

    /// A batch of epoch `failed` did not go through: everything after it is stale. Only the
    /// first report for an epoch moves it (later batches of the same epoch fail as a consequence).
    pub fn fail(&self, failed: u64) {
        let _ =
            self.current
                .compare_exchange(failed, failed + 1, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// The consumer group is rebalancing: everything in flight is stale.
    pub fn rebalance(&self) {
        self.rebalances.fetch_add(1, Ordering::SeqCst);
        self.current.fetch_add(1, Ordering::SeqCst);
    }

    /// Marks a transaction as in progress until the guard is dropped.
    pub fn transaction(&self) -> TransactionGuard<'_> {
        *self.busy.lock().unwrap_or_else(|p| p.into_inner()) = true;
        TransactionGuard { epoch: self }
    }

    /// Waits until no transaction is in progress, at most `timeout`. `true` when idle.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        while *busy {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            busy = match self.idle.wait_timeout(busy, deadline - now) {
                Ok((b, _)) => b,
                Err(p) => p.into_inner().0,
            };
        }
        true
    }
}

/// Clears the busy flag on drop (see [`Epoch::transaction`]).
pub struct TransactionGuard<'a> {
    epoch: &'a Epoch,
}

impl Drop for TransactionGuard<'_> {
    fn drop(&mut self) {
        *self.epoch.busy.lock().unwrap_or_else(|p| p.into_inner()) = false;
        self.epoch.idle.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, mpsc};
    use std::thread;

    #[test]
    fn a_failure_moves_the_epoch_once() {
        let e = Epoch::new();
        assert!(e.is_current(0));
        e.fail(0);
        e.fail(0);
        assert_eq!(e.current(), 1);
        // A late failure of an already stale epoch changes nothing.
        e.fail(0);
        assert_eq!(e.current(), 1);
        e.rebalance();
        assert_eq!((e.current(), e.rebalances()), (2, 1));
    }

    #[test]
    fn wait_idle_waits_for_the_transaction() {
        let e = Arc::new(Epoch::new());
        assert!(e.wait_idle(Duration::ZERO));
        // The transaction lasts until the test ends it, not for a fixed time, so however slowly
        // this thread runs, the short wait below happens while it is still in progress.
        let (held_tx, held) = mpsc::channel();
        let (end, end_rx) = mpsc::channel::<()>();
        let holder = {
            let e = e.clone();
            thread::spawn(move || {
                let _g = e.transaction();
                held_tx.send(()).unwrap();
                let _ = end_rx.recv();
            })
        };
        held.recv().unwrap();
        assert!(!e.wait_idle(Duration::from_millis(1)));
        let (idle_tx, idle) = mpsc::channel();
        let waiter = {
            let e = e.clone();
            thread::spawn(move || idle_tx.send(e.wait_idle(Duration::from_secs(60))).unwrap())
        };
        // Nothing can wake the waiter while the transaction runs.
        assert_eq!(
            idle.recv_timeout(Duration::from_millis(20)),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        end.send(()).unwrap();
        assert_eq!(idle.recv_timeout(Duration::from_secs(60)), Ok(true));
        holder.join().unwrap();
        waiter.join().unwrap();
    }
}
