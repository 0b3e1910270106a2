//! RMSprop (Hinton, Neural Networks for Machine Learning, lecture 6e).
//!
//! ```text
//! s ← ρ·s + (1 − ρ)·g²
//! θ ← θ − lr·g / (√s + ε)
//! ```
//! Defaults: lr = 1e-3, ρ = 0.9, ε = 1e-8.

use super::{Optimizer, SlotState, decayed, flush};

/// RMSprop hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RmspropConfig {
    /// Step size.
    pub learning_rate: f32,
    /// Decay ρ of the mean square.
    pub rho: f32,
    /// Added to the denominator.
    pub epsilon: f32,
    /// Coupled L2 weight decay λ.
    pub weight_decay: f32,
}

impl Default for RmspropConfig {
    fn default() -> Self {
        RmspropConfig {
            learning_rate: 1e-3,
            rho: 0.9,
            epsilon: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// RMSprop with its state: the running mean square `s` per slot.
#[derive(Debug, Clone)]
pub struct Rmsprop {
    config: RmspropConfig,
    mean_square: SlotState,
}

impl Rmsprop {
    /// Fresh state (zero mean square).
    pub fn new(config: RmspropConfig) -> Self {
        Rmsprop {
            config,
            mean_square: SlotState::default(),
        }
    }
}

impl Optimizer for Rmsprop {
    fn begin_step(&mut self) {}

    fn update(&mut self, slot: usize, param: &mut [f32], grad: &[f32], decay: bool) {
        let RmspropConfig {
            learning_rate: lr,
            rho,
            epsilon: eps,
            weight_decay,
        } = self.config;
        let lambda = if decay { weight_decay } else { 0.0 };
        let s = self.mean_square.get(slot, param.len());
        for ((p, &g), s) in param.iter_mut().zip(grad).zip(s.iter_mut()) {
            let g = decayed(g, *p, lambda);
            *s = flush(rho * *s + (1.0 - rho) * g * g);
            *p -= lr * g / (s.sqrt() + eps);
        }
    }

    fn learning_rate(&self) -> f32 {
        self.config.learning_rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// θ₀ = 1, lr = 0.1, ρ = 0.9, g₁ = 0.5, g₂ = −0.25:
    /// s = 0.025, √s = 0.158113883 → θ = 1 − 0.05/0.158113883 = 0.683772234;
    /// s = 0.0225 + 0.00625 = 0.02875, √s = 0.169558249 → θ = 0.683772234 + 0.025/0.169558249 = 0.831214...
    #[test]
    fn two_known_steps() {
        let mut opt = Rmsprop::new(RmspropConfig {
            learning_rate: 0.1,
            ..RmspropConfig::default()
        });
        let mut p = [1.0f32];
        opt.begin_step();
        opt.update(0, &mut p, &[0.5], false);
        assert!((p[0] - 0.683_772_2).abs() < 1e-6, "{}", p[0]);
        opt.begin_step();
        opt.update(0, &mut p, &[-0.25], false);
        assert!((p[0] - 0.831_214_2).abs() < 2e-6, "{}", p[0]);
    }
}
