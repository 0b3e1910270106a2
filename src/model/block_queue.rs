//! Blocks of rows handed out one at a time to one or two threads.
//!
//! Inference cuts its input into blocks of a few hundred rows. With a fixed split (first half of
//! the rows to one core, second half to the other) a call lasts as long as its slower half, and on
//! a shared machine one core is often slower. Here each thread takes the next block when it is done
//! with its last one, so a slowed core simply takes fewer blocks (measured against the fixed split
//! on a loaded machine: the README's benchmark section).
//!
//! # Same bits, same error
//! Each block is computed by the same code whichever thread takes it, and rows are independent, so
//! the outputs do not depend on who computed what. Blocks are handed out in increasing order and a
//! thread always finishes the block it took, so when blocks fail, the error returned is the one of
//! the lowest failing block, as a sequential pass would report.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::Result;
use crate::nn::parallel;

/// Runs `f(state, block, item)` for each `item` of `items` (item `i` belongs to block `i`), on the
/// calling thread with `first`, and also on the helper thread with `second` when given and the
/// helper is free. Returns the error of the lowest failing block; blocks after it may be skipped.
pub(crate) fn run_blocks<S, T, F>(
    first: &mut S,
    second: Option<&mut S>,
    items: Vec<T>,
    f: F,
) -> Result<()>
where
    S: Send,
    T: Send,
    F: Fn(&mut S, usize, T) -> Result<()> + Sync,
{
    let queue = Mutex::new(items.into_iter().enumerate());
    // The lowest block that failed so far (usize::MAX: none), and its error.
    let lowest_failed = AtomicUsize::new(usize::MAX);
    let failure = Mutex::new(None);
    let work = |state: &mut S| {
        loop {
            // A poisoned lock means the other thread panicked; its panic reaches the caller
            // through `parallel::join`, so this thread just stops.
            let next = match queue.lock() {
                Ok(mut q) => q.next(),
                Err(_) => None,
            };
            let Some((block, item)) = next else { break };
            if block > lowest_failed.load(Ordering::Acquire) {
                break;
            }
            if let Err(e) = f(state, block, item) {
                lowest_failed.fetch_min(block, Ordering::AcqRel);
                if let Ok(mut slot) = failure.lock() {
                    match &*slot {
                        Some((b, _)) if *b < block => {}
                        _ => *slot = Some((block, e)),
                    }
                }
                break;
            }
        }
    };
    match second {
        Some(second) => parallel::join(|| work(first), || work(second)),
        None => work(first),
    }
    match failure.into_inner() {
        Ok(Some((_, e))) => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn every_block_runs_once_and_writes_its_own_output() {
        for two in [false, true] {
            let mut out = vec![0u32; 1000];
            let items: Vec<(usize, &mut [u32])> = out.chunks_mut(7).enumerate().collect();
            let (mut a, mut b) = (0usize, 0usize);
            run_blocks(
                &mut a,
                two.then_some(&mut b),
                items,
                |count, block, (i, chunk)| {
                    assert_eq!(block, i);
                    *count += 1;
                    for (j, v) in chunk.iter_mut().enumerate() {
                        *v += (i * 7 + j) as u32;
                    }
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(a + b, 1000usize.div_ceil(7));
            assert!(out.iter().enumerate().all(|(j, &v)| v == j as u32));
        }
    }

    #[test]
    fn the_lowest_failing_block_is_reported() {
        for two in [false, true] {
            for _ in 0..50 {
                let (mut a, mut b) = ((), ());
                let err = run_blocks(
                    &mut a,
                    two.then_some(&mut b),
                    (0..64).collect(),
                    |(), block, _| {
                        if block == 17 || block == 40 || block == 41 {
                            Err(Error::data("row", format!("block {block}")))
                        } else {
                            Ok(())
                        }
                    },
                )
                .unwrap_err();
                assert!(err.to_string().contains("block 17"), "{err}");
            }
        }
    }
}
