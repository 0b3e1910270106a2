//! Adam (Kingma & Ba 2015, <https://arxiv.org/abs/1412.6980>).
//!
//! For step `t = 1, 2, …` and gradient `g`:
//! ```text
//! m ← β₁·m + (1 − β₁)·g
//! v ← β₂·v + (1 − β₂)·g²
//! θ ← θ − lr · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)
//! ```
//! Defaults from the paper: lr = 1e-3, β₁ = 0.9, β₂ = 0.999, ε = 1e-8.

use super::{Optimizer, SlotState, decayed, flush};
use crate::nn::parallel::join;
use crate::nn::simd::multiversion;

/// Tensors of at least this many elements are updated in two halves on two cores.
const PARALLEL_MIN_LEN: usize = 1 << 15;

/// Adam hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    /// Step size.
    pub learning_rate: f32,
    /// Decay of the first moment.
    pub beta1: f32,
    /// Decay of the second moment.
    pub beta2: f32,
    /// Added to the denominator.
    pub epsilon: f32,
    /// Coupled L2 weight decay λ.
    pub weight_decay: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            learning_rate: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// Adam with its state: the step count and, per slot, the moments `m` and `v`.
#[derive(Debug, Clone)]
pub struct Adam {
    config: AdamConfig,
    t: i32,
    m: SlotState,
    v: SlotState,
}

impl Adam {
    /// Fresh state (`t = 0`, zero moments).
    pub fn new(config: AdamConfig) -> Self {
        Adam {
            config,
            t: 0,
            m: SlotState::default(),
            v: SlotState::default(),
        }
    }
}

impl Optimizer for Adam {
    fn begin_step(&mut self) {
        self.t += 1;
    }

    fn update(&mut self, slot: usize, param: &mut [f32], grad: &[f32], decay: bool) {
        let AdamConfig {
            learning_rate: lr,
            beta1: b1,
            beta2: b2,
            epsilon: eps,
            weight_decay,
        } = self.config;
        let t = self.t.max(1);
        let bc1 = 1.0 - b1.powi(t);
        let bc2 = 1.0 - b2.powi(t);
        let lambda = if decay { weight_decay } else { 0.0 };
        let m = self.m.get(slot, param.len());
        let v = self.v.get(slot, param.len());
        let k = [lr, b1, b2, eps, bc1, bc2, lambda];
        if param.len() >= PARALLEL_MIN_LEN {
            // Element-wise, so two halves give the same bits as one pass; the two cores also
            // bring two L2 caches to a step that is bound by memory traffic.
            let cut = param.len() / 2;
            let (p1, p2) = param.split_at_mut(cut);
            let (m1, m2) = m.split_at_mut(cut);
            let (v1, v2) = v.split_at_mut(cut);
            let (g1, g2) = grad.split_at(cut);
            join(
                || adam_step(p1, g1, m1, v1, k),
                || adam_step(p2, g2, m2, v2, k),
            );
        } else {
            adam_step(param, grad, m, v, k);
        }
    }

    fn learning_rate(&self) -> f32 {
        self.config.learning_rate
    }
}

multiversion! {
    /// The update of every element; `k` = `[lr, β₁, β₂, ε, 1 − β₁ᵗ, 1 − β₂ᵗ, λ]`.
    fn adam_step(param: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32], k: [f32; 7]) {
        let [lr, b1, b2, eps, bc1, bc2, lambda] = k;
        for (((p, &g), m), v) in param
            .iter_mut()
            .zip(grad)
            .zip(m.iter_mut())
            .zip(v.iter_mut())
        {
            let g = decayed(g, *p, lambda);
            *m = flush(b1 * *m + (1.0 - b1) * g);
            *v = flush(b2 * *v + (1.0 - b2) * g * g);
            *p -= lr * (*m / bc1) / ((*v / bc2).sqrt() + eps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two steps by hand, θ₀ = 1, g₁ = 0.5, g₂ = −0.25, lr = 0.1:
    /// step 1: m = 0.05, v = 0.00025, m̂ = 0.5, v̂ = 0.25 → θ = 1 − 0.1·0.5/(0.5 + 1e-8) = 0.9000000002
    /// step 2: m = 0.045 − 0.025 = 0.02, v = 0.00024975 + 0.0000625 = 0.00031225,
    ///         m̂ = 0.02/0.19 = 0.105263158, v̂ = 0.00031225/0.001999 = 0.156203102, √v̂ = 0.395225382
    ///         → θ = 0.9 − 0.1·0.105263158/0.395225392 = 0.873366...
    #[test]
    fn two_known_steps() {
        let mut opt = Adam::new(AdamConfig {
            learning_rate: 0.1,
            ..AdamConfig::default()
        });
        let mut p = [1.0f32];
        opt.begin_step();
        opt.update(0, &mut p, &[0.5], true);
        assert!((p[0] - 0.9).abs() < 1e-6, "{}", p[0]);
        opt.begin_step();
        opt.update(0, &mut p, &[-0.25], true);
        assert!((p[0] - 0.873_366_1).abs() < 2e-6, "{}", p[0]);
    }

    /// With λ = 0.5 the first gradient is 0.5 + 0.5·1 = 1; Adam's first step is ±lr whatever the
    /// gradient's size, so decay shows in the second step: g₂ = −0.25 + 0.5·0.9 = 0.2,
    /// m = 0.09 + 0.02 = 0.11, v = 0.000999 + 0.00004 = 0.001039, m̂ = 0.578947, v̂ = 0.519760,
    /// √v̂ = 0.720944 → θ = 0.9 − 0.1·0.578947/0.720944 = 0.819696.
    /// Moments of a parameter whose gradient stops decay to exactly 0, never through the slow
    /// subnormal range.
    #[test]
    fn vanishing_moments_are_flushed_not_subnormal() {
        let mut opt = Adam::new(AdamConfig::default());
        let mut p = [1.0f32];
        opt.begin_step();
        opt.update(0, &mut p, &[1e-3], true);
        for _ in 0..2000 {
            opt.begin_step();
            opt.update(0, &mut p, &[0.0], true);
            let m = opt.m.get(0, 1)[0];
            assert!(m == 0.0 || m.is_normal(), "m = {m:e}");
        }
        assert_eq!(opt.m.get(0, 1)[0], 0.0);
    }

    /// The AVX-512 / AVX2 and baseline versions of the step give the same bits.
    #[test]
    fn vector_and_portable_steps_agree() {
        let grads: Vec<f32> = (0..1031).map(|i| (i as f32 * 0.37).sin() * 1e-2).collect();
        let run = || {
            let mut opt = Adam::new(AdamConfig {
                weight_decay: 1e-3,
                ..AdamConfig::default()
            });
            let mut p: Vec<f32> = (0..1031).map(|i| (i as f32 * 0.11).cos()).collect();
            for _ in 0..5 {
                opt.begin_step();
                opt.update(0, &mut p, &grads, true);
            }
            p
        };
        let fast = run();
        let slow = crate::nn::simd::portable(run);
        assert!(
            fast.iter()
                .zip(&slow)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
    }

    #[test]
    fn weight_decay_is_coupled_l2() {
        let mut opt = Adam::new(AdamConfig {
            learning_rate: 0.1,
            weight_decay: 0.5,
            ..AdamConfig::default()
        });
        let mut p = [1.0f32];
        opt.begin_step();
        opt.update(0, &mut p, &[0.5], true);
        opt.begin_step();
        opt.update(0, &mut p, &[-0.25], true);
        assert!((p[0] - 0.819_696).abs() < 2e-6, "{}", p[0]);
    }
}
