//! Optimizers: configuration, state and the update step are separate types (as in candle/burn).
//!
//! A training step calls [`Optimizer::begin_step`] once, then [`Optimizer::update`] for every
//! parameter tensor, identified by a stable `slot` number so the optimizer can keep per-tensor
//! state (moments, accumulators) across steps.
//!
//! L2 weight decay is *coupled*: the gradient becomes `g + λ·θ` before the update, for tensors
//! marked `decay` (weights; biases are not decayed).

mod adagrad;
mod adam;
mod rmsprop;
mod sgd;

pub use adagrad::{Adagrad, AdagradConfig};
pub use adam::{Adam, AdamConfig};
pub use rmsprop::{Rmsprop, RmspropConfig};
pub use sgd::{Sgd, SgdConfig};

/// Updates parameters in place from their gradients.
pub trait Optimizer: Send {
    /// Starts a new step (for Adam, `t ← t + 1`).
    fn begin_step(&mut self);
    /// Updates the tensor in `slot` from its gradient `grad` (same length as `param`). `decay`
    /// says whether L2 weight decay applies to it.
    fn update(&mut self, slot: usize, param: &mut [f32], grad: &[f32], decay: bool);
    /// The learning rate in use.
    fn learning_rate(&self) -> f32;
}

/// Any of the optimizers, by configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerConfig {
    /// Stochastic gradient descent with momentum.
    Sgd(SgdConfig),
    /// Adam.
    Adam(AdamConfig),
    /// RMSprop.
    Rmsprop(RmspropConfig),
    /// Adagrad.
    Adagrad(AdagradConfig),
}

impl OptimizerConfig {
    /// A fresh optimizer (empty state).
    pub fn build(self) -> Box<dyn Optimizer> {
        match self {
            OptimizerConfig::Sgd(c) => Box::new(Sgd::new(c)),
            OptimizerConfig::Adam(c) => Box::new(Adam::new(c)),
            OptimizerConfig::Rmsprop(c) => Box::new(Rmsprop::new(c)),
            OptimizerConfig::Adagrad(c) => Box::new(Adagrad::new(c)),
        }
    }
}

/// Per-slot state buffers, created zeroed the first time a slot is seen.
#[derive(Debug, Clone, Default)]
pub(crate) struct SlotState {
    buffers: Vec<Vec<f32>>,
}

impl SlotState {
    pub(crate) fn get(&mut self, slot: usize, len: usize) -> &mut [f32] {
        if self.buffers.len() <= slot {
            self.buffers.resize_with(slot + 1, Vec::new);
        }
        let b = &mut self.buffers[slot];
        if b.len() != len {
            *b = vec![0.0; len];
        }
        b
    }
}

/// Optimizer state below this magnitude is set to 0.
///
/// Moments of parameters whose gradient is 0 (say, behind a dead relu unit) decay geometrically
/// (by 0.9 per step for Adam's `m`) into the subnormal range, where every float operation on them
/// costs the CPU a slow microcode assist: unflushed, training the reference model slowed down by
/// half after about 700 steps. Values this small change no update that matters (Adam divides by
/// `√v + ε` with ε = 1e-8).
pub(crate) const FLUSH_BELOW: f32 = 1e-30;

/// `x`, or 0 when `|x| <` [`FLUSH_BELOW`]; branch-free so loops stay vectorised.
#[inline(always)]
pub(crate) fn flush(x: f32) -> f32 {
    if x.abs() < FLUSH_BELOW { 0.0 } else { x }
}

/// `g + λ·θ` when decay applies, else `g`.
#[inline(always)]
pub(crate) fn decayed(g: f32, theta: f32, lambda: f32) -> f32 {
    g + lambda * theta
}
