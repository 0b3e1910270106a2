//! Per-thread scratch memory for the convolution layers' rearranged operands.
//!
//! A convolution multiplies through `[K, block·P]` patch matrices that can be megabytes. Layers
//! take `&self` (a trained model is shared between threads), so they cannot own these buffers;
//! allocating them on every call would cost a page fault per 4 KiB touched. Each thread keeps
//! one set instead, grown on demand and reused by every layer the thread runs.

use std::cell::RefCell;

/// Floats of patch matrix one block may use (8 MiB): samples are processed in blocks so that
/// inference over thousands of rows does not build one enormous matrix.
pub(crate) const BLOCK_BUDGET: usize = 1 << 18;

/// Three reusable buffers; their contents on entry are unspecified.
#[derive(Default)]
pub(crate) struct Scratch {
    pub(crate) a: Vec<f32>,
    pub(crate) b: Vec<f32>,
    pub(crate) c: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch buffers (fresh ones if they are already in use further
/// up the stack).
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        Err(_) => f(&mut Scratch::default()),
    })
}

/// The first `len` floats of `v`, growing it when needed (new floats are 0, old ones kept).
pub(crate) fn take(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if v.len() < len {
        v.resize(len, 0.0);
    }
    &mut v[..len]
}

/// Samples per block for a patch matrix of `per_sample` floats per sample.
pub(crate) fn block_rows(per_sample: usize, rows: usize) -> usize {
    (BLOCK_BUDGET / per_sample.max(1)).clamp(1, rows.max(1))
}
