//! Two closures run at once, one on the calling thread and one on a persistent helper thread.
//!
//! The network's products and its optimizer step are split in two halves that do not depend on
//! each other (rows or columns of a product, halves of a parameter tensor), so both cores of a
//! small machine work on one training step. A training step at batch 256 of the reference model
//! is about 20 such splits in 1–2 ms, so the hand-over has to cost microseconds: the helper
//! spins briefly on an atomic flag before it parks, and the caller spins while it waits.
//!
//! # Threads
//! One helper thread, started on first use, when the machine has at least two cores and
//! `MATMUL_NUM_THREADS` (matrixmultiply's variable, read once) is not `1`. Otherwise, and while
//! another thread is using the helper (say, two SQL partitions scoring at once), [`join`] runs
//! both closures on the calling thread, one after the other.
//!
//! # Same bits
//! Each half computes its own elements exactly as the whole would (products are split along rows
//! or columns of the result, never along the summed dimension), so results do not depend on
//! whether the helper ran.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

const IDLE: u8 = 0;
const POSTED: u8 = 1;
const DONE: u8 = 2;
const PANICKED: u8 = 3;

/// How long the helper spins for new work after finishing a job before it parks: long enough to
/// cover the gap between two products of one training step, short enough not to burn a core
/// between batches of a stream.
const HELPER_SPIN: Duration = Duration::from_micros(200);

/// A job posted to the helper: a type-erased pointer to the caller's closure and the function
/// that runs it.
struct Job {
    data: *mut (),
    run: unsafe fn(*mut ()),
    caller: Thread,
}

struct Helper {
    /// `IDLE` → `POSTED` (caller) → `DONE` / `PANICKED` (helper) → `IDLE` (caller).
    state: AtomicU8,
    job: AtomicPtr<Job>,
    thread: Thread,
    /// Held by the one caller using the helper.
    busy: Mutex<()>,
}

static HELPER: OnceLock<Option<&'static Helper>> = OnceLock::new();

fn helper() -> Option<&'static Helper> {
    *HELPER.get_or_init(|| {
        let wanted = std::env::var("MATMUL_NUM_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok());
        let cores = thread::available_parallelism().map_or(1, |n| n.get());
        if wanted == Some(1) || (wanted.is_none() && cores < 2) || wanted == Some(0) {
            return None;
        }
        let (tx, rx) = std::sync::mpsc::channel::<&'static Helper>();
        let spawned = thread::Builder::new()
            .name("aeflow-nn".into())
            .spawn(move || {
                if let Ok(h) = rx.recv() {
                    serve(h);
                }
            })
            .ok()?;
        let h: &'static Helper = Box::leak(Box::new(Helper {
            state: AtomicU8::new(IDLE),
            job: AtomicPtr::new(std::ptr::null_mut()),
            thread: spawned.thread().clone(),
            busy: Mutex::new(()),
        }));
        tx.send(h).ok()?;
        Some(h)
    })
}

/// The helper's loop: spin a little, then park, until a job is posted; run it; report.
fn serve(h: &'static Helper) {
    let mut last = Instant::now();
    let mut spins = 0u32;
    loop {
        if h.state.load(Ordering::Acquire) != POSTED {
            spins = spins.wrapping_add(1);
            if last.elapsed() >= HELPER_SPIN {
                thread::park();
            } else {
                relax(spins);
            }
            continue;
        }
        let job = h.job.load(Ordering::Acquire);
        // SAFETY: the caller stored a valid `Job` before setting POSTED (Release/Acquire pair)
        // and keeps it, and the closure it points to, alive until it sees DONE or PANICKED.
        let (data, run, caller) = unsafe { ((*job).data, (*job).run, (*job).caller.clone()) };
        // SAFETY: `run` is the function made for `data`'s type by `join`.
        let outcome = catch_unwind(AssertUnwindSafe(|| unsafe { run(data) }));
        h.state.store(
            if outcome.is_ok() { DONE } else { PANICKED },
            Ordering::Release,
        );
        caller.unpark();
        last = Instant::now();
    }
}

/// One step of a busy wait: a pause instruction, and every 64th time a yield, so that on a
/// machine busier than its cores the thread being waited for gets to run.
#[inline]
fn relax(spins: u32) {
    if spins.is_multiple_of(64) {
        thread::yield_now();
    } else {
        std::hint::spin_loop();
    }
}

/// Runs `a` and `b`, `b` on the helper thread when it is free; returns when both are done.
///
/// Panics in either closure propagate to the caller (after both have finished).
pub(crate) fn join<A, B>(a: A, b: B)
where
    A: FnOnce() + Send,
    B: FnOnce() + Send,
{
    let Some(h) = helper() else {
        a();
        b();
        return;
    };
    let Ok(_guard) = h.busy.try_lock() else {
        a();
        b();
        return;
    };

    unsafe fn run<B: FnOnce()>(data: *mut ()) {
        // SAFETY: `data` points to the `Option<B>` in `join`'s frame, alive until `join` sees
        // the helper finish; only the helper touches it meanwhile.
        let slot = unsafe { &mut *(data as *mut Option<B>) };
        if let Some(f) = slot.take() {
            f();
        }
    }
    let mut b = Some(b);
    let mut job = Job {
        data: &mut b as *mut Option<B> as *mut (),
        run: run::<B>,
        caller: thread::current(),
    };
    h.job.store(&mut job, Ordering::Release);
    h.state.store(POSTED, Ordering::Release);
    h.thread.unpark();

    let mine = catch_unwind(AssertUnwindSafe(a));

    // Wait for the helper: spin (the other half usually ends within microseconds of ours), then
    // park until it unparks us.
    let start = Instant::now();
    let mut spins = 0u32;
    let state = loop {
        let s = h.state.load(Ordering::Acquire);
        if s == DONE || s == PANICKED {
            break s;
        }
        spins = spins.wrapping_add(1);
        if start.elapsed() >= HELPER_SPIN {
            thread::park_timeout(Duration::from_millis(1));
        } else {
            relax(spins);
        }
    };
    h.state.store(IDLE, Ordering::Release);
    drop(job);
    if let Err(p) = mine {
        resume_unwind(p);
    }
    assert!(
        state != PANICKED,
        "a parallel half of a network computation panicked"
    );
}

/// Whether [`join`] can use a second thread at all (the helper exists).
pub(crate) fn two_threads() -> bool {
    helper().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_halves_run_and_write_their_own_data() {
        for round in 0..200 {
            let mut left = vec![0u32; 1000];
            let mut right = vec![0u32; 1000];
            join(
                || left.iter_mut().for_each(|v| *v = round),
                || right.iter_mut().for_each(|v| *v = round + 1),
            );
            assert!(left.iter().all(|&v| v == round));
            assert!(right.iter().all(|&v| v == round + 1));
        }
    }

    #[test]
    fn concurrent_callers_fall_back_to_one_thread() {
        std::thread::scope(|s| {
            for t in 0..4u64 {
                s.spawn(move || {
                    for _ in 0..100 {
                        let (mut x, mut y) = (0u64, 0u64);
                        join(|| x = t, || y = t * 2);
                        assert_eq!((x, y), (t, t * 2));
                    }
                });
            }
        });
    }

    #[test]
    fn a_panic_in_the_helper_reaches_the_caller_and_the_helper_survives() {
        let r = std::panic::catch_unwind(|| join(|| {}, || panic!("boom")));
        assert!(r.is_err());
        let mut ok = false;
        join(|| {}, || ok = true);
        assert!(ok);
    }
}
