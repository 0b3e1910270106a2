//! Sparsity penalties on a layer's activations (the latent layer of sparse autoencoders).
//!
//! For activations `z`, `[batch, k]`, with `n = batch`:
//!
//! - L1 activity: `P₁ = λ · (1/(n·k)) Σ |z|`, `∂P₁/∂z = λ·sign(z)/(n·k)`;
//! - KL sparsity toward a target mean activation ρ (activations in (0, 1), e.g. sigmoid):
//!   `ρ̂ⱼ = (1/n) Σᵢ zᵢⱼ` (clamped to [1e-6, 1 − 1e-6]),
//!   `P_KL = w · Σⱼ [ρ ln(ρ/ρ̂ⱼ) + (1 − ρ) ln((1 − ρ)/(1 − ρ̂ⱼ))]`,
//!   `∂P_KL/∂zᵢⱼ = w · (−ρ/ρ̂ⱼ + (1 − ρ)/(1 − ρ̂ⱼ)) / n`.
//!
//! The penalty is added to the reconstruction loss; its gradient is added to the gradient that
//! flows back into the layer.

use ndarray::{ArrayView2, ArrayViewMut2, Axis, Zip};

/// Clamp of the mean activation ρ̂ inside the logarithms of the KL penalty.
const RHO_EPSILON: f32 = 1e-6;

/// L1 and/or KL penalties on activations.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ActivityPenalty {
    /// Weight λ of the L1 activity penalty (0 = off).
    pub l1: f32,
    /// `(ρ, w)`: target mean activation and weight of the KL penalty.
    pub kl: Option<(f32, f32)>,
}

impl ActivityPenalty {
    /// True when it adds nothing.
    pub fn is_zero(&self) -> bool {
        self.l1 == 0.0 && self.kl.is_none_or(|(_, w)| w == 0.0)
    }

    /// The penalty for activations `z` (`[batch, k]`).
    pub fn value(&self, z: ArrayView2<'_, f32>) -> f64 {
        let (n, k) = z.dim();
        if n == 0 || k == 0 {
            return 0.0;
        }
        let mut p = 0.0f64;
        if self.l1 != 0.0 {
            let s: f64 = z.iter().map(|v| v.abs() as f64).sum();
            p += self.l1 as f64 * s / (n * k) as f64;
        }
        if let Some((rho, w)) = self.kl {
            let rho = rho as f64;
            for col in z.axis_iter(Axis(1)) {
                let mean = col.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
                let r = mean.clamp(RHO_EPSILON as f64, 1.0 - RHO_EPSILON as f64);
                p += w as f64
                    * (rho * (rho / r).ln() + (1.0 - rho) * ((1.0 - rho) / (1.0 - r)).ln());
            }
        }
        p
    }

    /// Adds `∂P/∂z` to `grad` and returns `P`.
    ///
    /// # Shapes
    /// `z`, `grad`: `[batch, k]`.
    pub fn add_grad(&self, z: ArrayView2<'_, f32>, mut grad: ArrayViewMut2<'_, f32>) -> f64 {
        let (n, k) = z.dim();
        if n == 0 || k == 0 {
            return 0.0;
        }
        if self.l1 != 0.0 {
            let c = self.l1 / (n * k) as f32;
            Zip::from(grad.view_mut()).and(z).for_each(|g, &v| {
                if v > 0.0 {
                    *g += c;
                } else if v < 0.0 {
                    *g -= c;
                }
            });
        }
        if let Some((rho, w)) = self.kl {
            for (zc, mut gc) in z.axis_iter(Axis(1)).zip(grad.axis_iter_mut(Axis(1))) {
                let mean = (zc.iter().map(|&v| v as f64).sum::<f64>() / n as f64) as f32;
                let r = mean.clamp(RHO_EPSILON, 1.0 - RHO_EPSILON);
                let d = w * (-rho / r + (1.0 - rho) / (1.0 - r)) / n as f32;
                gc.mapv_inplace(|g| g + d);
            }
        }
        self.value(z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::gradcheck::{assert_close, numeric_grad};
    use ndarray::Array2;

    #[test]
    fn gradients_match_finite_differences() {
        let z = Array2::from_shape_fn((6, 3), |(i, j)| {
            0.15 + 0.7 * (((i * 3 + j) as f32 * 0.61).sin() * 0.5 + 0.5)
        });
        for penalty in [
            ActivityPenalty { l1: 0.3, kl: None },
            ActivityPenalty {
                l1: 0.0,
                kl: Some((0.05, 0.8)),
            },
            ActivityPenalty {
                l1: 0.2,
                kl: Some((0.3, 0.5)),
            },
        ] {
            let mut g = Array2::zeros(z.raw_dim());
            let p = penalty.add_grad(z.view(), g.view_mut());
            assert!((p - penalty.value(z.view())).abs() < 1e-12);
            let num = numeric_grad(&z, |z| penalty.value(z.view()));
            assert_close(&g, &num, &format!("{penalty:?}"));
        }
    }

    #[test]
    fn kl_is_zero_at_the_target() {
        let z = Array2::from_elem((4, 2), 0.2f32);
        let p = ActivityPenalty {
            l1: 0.0,
            kl: Some((0.2, 1.0)),
        };
        assert!(p.value(z.view()).abs() < 1e-9);
    }
}
