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
    use crate::nn::gradcheck::{assert_gradient, assert_rejected, numeric_grad};
    use ndarray::{Array2, array};

    /// Activations in [0.15, 0.85] (the range of a sigmoid layer, where KL applies).
    fn unit_activations() -> Array2<f32> {
        Array2::from_shape_fn((6, 3), |(i, j)| {
            0.15 + 0.7 * (((i * 3 + j) as f32 * 0.61).sin() * 0.5 + 0.5)
        })
    }

    /// [`unit_activations`] with two entries of each column negated: both signs in every
    /// column, all `|z| ≥ 0.15` (so the finite-difference step, 1 % of `|z|`, never crosses the
    /// kink of `|z|`) and column means (0.30, 0.36, 0.09) still inside (0, 1).
    fn mixed_activations() -> Array2<f32> {
        let mut z = unit_activations();
        z.indexed_iter_mut()
            .filter(|((i, j), _)| (i + j) % 3 == 0)
            .for_each(|(_, v)| *v = -*v);
        z
    }

    /// `P` written out from the module's formulas, one loop per sum, independent of
    /// [`ActivityPenalty::value`].
    fn penalty_by_hand(p: &ActivityPenalty, z: &Array2<f32>) -> f64 {
        let (n, k) = z.dim();
        let mut l1 = 0.0f64;
        for i in 0..n {
            for j in 0..k {
                l1 += (z[[i, j]] as f64).abs();
            }
        }
        let mut total = p.l1 as f64 * l1 / (n * k) as f64;
        if let Some((rho, w)) = p.kl {
            let (rho, w) = (rho as f64, w as f64);
            for j in 0..k {
                let mut mean = 0.0f64;
                for i in 0..n {
                    mean += z[[i, j]] as f64 / n as f64;
                }
                total +=
                    w * (rho * (rho / mean).ln() + (1.0 - rho) * ((1.0 - rho) / (1.0 - mean)).ln());
            }
        }
        total
    }

    #[test]
    fn values_and_gradients_known_by_hand() {
        // Σ|z| = 2.5 over 4 entries: 0.4 · 0.625.
        let z = array![[0.5f32, -0.25], [-1.0, 0.75]];
        let p = ActivityPenalty { l1: 0.4, kl: None };
        let mut g = Array2::zeros((2, 2));
        let v = p.add_grad(z.view(), g.view_mut());
        assert!((v - 0.25).abs() < 1e-7, "L1 penalty {v}, want 0.25");
        assert!((p.value(z.view()) - 0.25).abs() < 1e-7);
        // λ·sign(z)/(n·k) = ±0.1.
        assert_eq!(g, array![[0.1f32, -0.1], [-0.1, 0.1]]);
        // Column means 0.3 and 0.4 against ρ = 0.1, weight 2.
        let z = array![[0.2f32, 0.6], [0.4, 0.2]];
        let p = ActivityPenalty {
            l1: 0.0,
            kl: Some((0.1, 2.0)),
        };
        let want = 2.0
            * (0.1 * (1.0f64 / 3.0).ln()
                + 0.9 * (0.9f64 / 0.7).ln()
                + 0.1 * 0.25f64.ln()
                + 0.9 * 1.5f64.ln());
        let mut g = Array2::zeros((2, 2));
        let v = p.add_grad(z.view(), g.view_mut());
        assert!((v - want).abs() < 1e-6, "KL penalty {v}, want {want}");
        assert!((p.value(z.view()) - want).abs() < 1e-6);
        // w·(−ρ/ρ̂ + (1 − ρ)/(1 − ρ̂))/n: (−1/3 + 9/7) and (−1/4 + 3/2) in every row.
        let d = [-1.0f32 / 3.0 + 9.0 / 7.0, -0.25 + 1.5];
        for row in g.rows() {
            assert!(
                (row[0] - d[0]).abs() < 1e-5 && (row[1] - d[1]).abs() < 1e-5,
                "{g}"
            );
        }
    }

    /// L1 on activations of both signs, KL on (0, 1) activations, and both together; the value
    /// against [`penalty_by_hand`], the gradient against finite differences of the value. The
    /// gradient without its L1 term (or without its KL term) must fail the same check.
    #[test]
    fn gradients_match_finite_differences() {
        let (unit, mixed) = (unit_activations(), mixed_activations());
        assert!(mixed.iter().any(|&v| v < 0.0) && mixed.iter().any(|&v| v > 0.0));
        assert!(mixed.iter().all(|&v| v.abs() >= 0.15));
        let kl = Some((0.3, 0.5));
        for (penalty, z) in [
            (ActivityPenalty { l1: 0.3, kl: None }, &mixed),
            (
                ActivityPenalty {
                    l1: 0.0,
                    kl: Some((0.05, 0.8)),
                },
                &unit,
            ),
            (ActivityPenalty { l1: 0.2, kl }, &mixed),
        ] {
            let what = format!("{penalty:?}");
            let mut g = Array2::zeros(z.raw_dim());
            let p = penalty.add_grad(z.view(), g.view_mut());
            let want = penalty_by_hand(&penalty, z);
            assert!(
                (p - want).abs() < 1e-9 * want.abs().max(1.0),
                "{what}: {p} vs {want}"
            );
            let num = numeric_grad(z, |z| penalty.value(z.view()));
            assert_gradient(&g, &num, &what);
            if penalty.l1 != 0.0 && penalty.kl.is_some() {
                for (dropped, part) in [
                    ("L1", ActivityPenalty { l1: 0.0, kl }),
                    (
                        "KL",
                        ActivityPenalty {
                            l1: penalty.l1,
                            kl: None,
                        },
                    ),
                ] {
                    let mut partial = Array2::zeros(z.raw_dim());
                    part.add_grad(z.view(), partial.view_mut());
                    assert_rejected(
                        &partial,
                        &num,
                        &format!("{what} without its {dropped} term"),
                    );
                }
            }
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
