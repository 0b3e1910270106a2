//! Stochastic gradient descent with momentum (heavy ball, the PyTorch form).
//!
//! ```text
//! u ← μ·u + g
//! θ ← θ − lr·u
//! ```
//! Defaults: lr = 0.01, μ = 0.9. With μ = 0 this is plain SGD.

use super::{Optimizer, SlotState, decayed, flush};

/// SGD hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    /// Step size.
    pub learning_rate: f32,
    /// Momentum μ in [0, 1).
    pub momentum: f32,
    /// Coupled L2 weight decay λ.
    pub weight_decay: f32,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            learning_rate: 0.01,
            momentum: 0.9,
            weight_decay: 0.0,
        }
    }
}

/// SGD with its state: the velocity `u` per slot.
#[derive(Debug, Clone)]
pub struct Sgd {
    config: SgdConfig,
    velocity: SlotState,
}

impl Sgd {
    /// Fresh state (zero velocity).
    pub fn new(config: SgdConfig) -> Self {
        Sgd {
            config,
            velocity: SlotState::default(),
        }
    }
}

impl Optimizer for Sgd {
    fn begin_step(&mut self) {}

    fn update(&mut self, slot: usize, param: &mut [f32], grad: &[f32], decay: bool) {
        let SgdConfig {
            learning_rate: lr,
            momentum: mu,
            weight_decay,
        } = self.config;
        let lambda = if decay { weight_decay } else { 0.0 };
        let u = self.velocity.get(slot, param.len());
        for ((p, &g), u) in param.iter_mut().zip(grad).zip(u.iter_mut()) {
            *u = flush(mu * *u + decayed(g, *p, lambda));
            *p -= lr * *u;
        }
    }

    fn learning_rate(&self) -> f32 {
        self.config.learning_rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// θ₀ = 1, lr = 0.1, μ = 0.9, g₁ = 0.5, g₂ = −0.25:
    /// u = 0.5, θ = 0.95; u = 0.45 − 0.25 = 0.2, θ = 0.93.
    #[test]
    fn two_known_steps() {
        let mut opt = Sgd::new(SgdConfig {
            learning_rate: 0.1,
            momentum: 0.9,
            weight_decay: 0.0,
        });
        let mut p = [1.0f32];
        opt.begin_step();
        opt.update(0, &mut p, &[0.5], true);
        assert!((p[0] - 0.95).abs() < 1e-7);
        opt.begin_step();
        opt.update(0, &mut p, &[-0.25], true);
        assert!((p[0] - 0.93).abs() < 1e-7, "{}", p[0]);
    }

    /// Decay λ = 0.1 on a weight, none on a bias: g₁ = 0.5 + 0.1 = 0.6 → θ = 0.94 (bias 0.95);
    /// g₂ = −0.25 + 0.094 = −0.156, u = 0.54 − 0.156 = 0.384 → θ = 0.94 − 0.0384 = 0.9016.
    #[test]
    fn weight_decay_applies_only_to_decayed_slots() {
        let mut opt = Sgd::new(SgdConfig {
            learning_rate: 0.1,
            momentum: 0.9,
            weight_decay: 0.1,
        });
        let (mut w, mut b) = ([1.0f32], [1.0f32]);
        for g in [0.5f32, -0.25] {
            opt.begin_step();
            opt.update(0, &mut w, &[g], true);
            opt.update(1, &mut b, &[g], false);
        }
        assert!((w[0] - 0.9016).abs() < 1e-6, "{}", w[0]);
        assert!((b[0] - 0.93).abs() < 1e-6, "{}", b[0]);
    }
}
