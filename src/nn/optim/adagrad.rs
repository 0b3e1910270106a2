//! Adagrad (Duchi, Hazan & Singer 2011).
//!
//! ```text
//! s ← s + g²
//! θ ← θ − lr·g / (√s + ε)
//! ```
//! Defaults: lr = 0.01, ε = 1e-8, accumulator starting at 0.

use super::{Optimizer, SlotState, decayed};

/// Adagrad hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdagradConfig {
    /// Step size.
    pub learning_rate: f32,
    /// Added to the denominator.
    pub epsilon: f32,
    /// Coupled L2 weight decay λ.
    pub weight_decay: f32,
}

impl Default for AdagradConfig {
    fn default() -> Self {
        AdagradConfig {
            learning_rate: 0.01,
            epsilon: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// Adagrad with its state: the sum of squared gradients `s` per slot.
#[derive(Debug, Clone)]
pub struct Adagrad {
    config: AdagradConfig,
    sum_squares: SlotState,
}

impl Adagrad {
    /// Fresh state (zero accumulators).
    pub fn new(config: AdagradConfig) -> Self {
        Adagrad {
            config,
            sum_squares: SlotState::default(),
        }
    }
}

impl Optimizer for Adagrad {
    fn begin_step(&mut self) {}

    fn update(&mut self, slot: usize, param: &mut [f32], grad: &[f32], decay: bool) {
        let AdagradConfig {
            learning_rate: lr,
            epsilon: eps,
            weight_decay,
        } = self.config;
        let lambda = if decay { weight_decay } else { 0.0 };
        let s = self.sum_squares.get(slot, param.len());
        for ((p, &g), s) in param.iter_mut().zip(grad).zip(s.iter_mut()) {
            let g = decayed(g, *p, lambda);
            *s += g * g;
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

    /// θ₀ = 1, lr = 0.1, g₁ = 0.5, g₂ = −0.25:
    /// s = 0.25 → θ = 1 − 0.1·0.5/0.5 = 0.9; s = 0.3125, √s = 0.559016994 → θ = 0.9 + 0.025/0.559016994 = 0.944721...
    #[test]
    fn two_known_steps() {
        let mut opt = Adagrad::new(AdagradConfig {
            learning_rate: 0.1,
            ..AdagradConfig::default()
        });
        let mut p = [1.0f32];
        opt.begin_step();
        opt.update(0, &mut p, &[0.5], false);
        assert!((p[0] - 0.9).abs() < 1e-6, "{}", p[0]);
        opt.begin_step();
        opt.update(0, &mut p, &[-0.25], false);
        assert!((p[0] - 0.944_721_4).abs() < 2e-6, "{}", p[0]);
    }
}
