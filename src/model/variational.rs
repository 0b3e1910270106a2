//! The variational kind (VAE): a Gaussian latent head, the reparameterisation trick, the KL term,
//! and sampling from the prior.
//!
//! The encoder's last layer is linear and `2k` wide: row `r` holds `[μ_r | log σ²_r]`, the mean
//! and log-variance of the approximate posterior `q(z | x) = N(μ, diag σ²)`. The decoder reads
//! `z` (`k` wide).
//!
//! # Training (per mini-batch of `B` rows, `d` features)
//! ```text
//! ε ~ N(0, I)                                    [B, k], from the seed's latent stream
//! z = μ + exp(½·log σ²) ⊙ ε                      the reparameterisation trick
//! KL_r = −½ Σⱼ (1 + log σ²_rj − μ_rj² − σ²_rj)   KL(q(z | x_r) ‖ N(0, I)), nats
//! L = ℓ(x̂, x) + β_e · (1/(B·d)) Σ_r KL_r
//! ```
//! `ℓ` is the configured reconstruction loss, a mean over all `B·d` elements, so both terms are
//! per feature: with mean squared error and `β = 1`, `d·L` is the negative ELBO of a Gaussian
//! decoder of variance ½ (up to a constant); with binary cross-entropy, of a Bernoulli decoder.
//! The gradients reaching the encoder's head are, with `w = β_e/(B·d)`:
//! ```text
//! ∂L/∂μ      = ∂ℓ/∂z + w·μ
//! ∂L/∂log σ² = ∂ℓ/∂z ⊙ ε ⊙ ½σ + w·½(σ² − 1)
//! ```
//! `β_e` is `β` itself, or with a KL warm-up of `N` epochs `β·min(1, (e − 1)/N)` in epoch `e`
//! (the first epoch trains a plain autoencoder; the full β applies from epoch `N + 1`). Early
//! stopping only considers epochs after the warm-up, so the weights it keeps were trained with the
//! full β. The history's training loss is `L` as minimised (with `β_e`); its validation loss is
//! `ℓ(decoder(μ), x) + β·mean_r KL_r / d` with the full β, comparable across epochs.
//!
//! # Inference
//! `encode` returns `μ`, and reconstructions decode `μ` (no sampling: scores are deterministic).
//! The anomaly score is chosen at training time ([`VariationalScore`]), because the threshold is
//! calibrated on it: the reconstruction error of `decoder(μ)` (the default), or the negative ELBO
//! per feature, `error + β·KL_r/d`, whose reconstruction term is evaluated at `z = μ` (a
//! deterministic one-point estimate).
//!
//! # Generation
//! [`super::Autoencoder::sample`]: `z ~ N(0, I)` from a seed, decoded and mapped back to
//! original units.

use ndarray::{Array2, ArrayView2, ArrayViewMut2, s};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Default weight of the KL term.
pub const DEFAULT_BETA: f32 = 1.0;

/// What a variational model's `score` (and so its threshold) measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum VariationalScore {
    /// Mean squared error of `decoder(μ)` over features, in scaled units (as every other kind).
    #[default]
    Reconstruction,
    /// Negative ELBO per feature: the reconstruction error of `decoder(μ)` plus `β·KL/d`.
    Elbo,
}

impl VariationalScore {
    /// `reconstruction` or `elbo`.
    pub fn name(self) -> &'static str {
        match self {
            VariationalScore::Reconstruction => "reconstruction",
            VariationalScore::Elbo => "elbo",
        }
    }
}

/// Parameters of the variational kind.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VariationalConfig {
    /// Weight β of the KL term (β-VAE; 1 = the ELBO). Default 1.
    pub beta: f32,
    /// Epochs over which β rises linearly from 0 (0 = the full β from the first epoch).
    /// Default 0.
    #[serde(default)]
    pub kl_warmup: usize,
    /// The anomaly score. Default: reconstruction error of the mean.
    #[serde(default)]
    pub score: VariationalScore,
}

impl Default for VariationalConfig {
    fn default() -> Self {
        VariationalConfig {
            beta: DEFAULT_BETA,
            kl_warmup: 0,
            score: VariationalScore::Reconstruction,
        }
    }
}

impl VariationalConfig {
    /// Checks β.
    pub fn validate(&self) -> Result<()> {
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return Err(Error::config(
                "beta",
                format!("must be a finite number ≥ 0, got {}", self.beta),
            ));
        }
        Ok(())
    }

    /// `β_e`, the KL weight in (1-based) epoch `epoch`.
    pub fn beta_at(&self, epoch: usize) -> f32 {
        if self.kl_warmup == 0 {
            return self.beta;
        }
        let ramp = (epoch.saturating_sub(1) as f32 / self.kl_warmup as f32).min(1.0);
        self.beta * ramp
    }
}

/// `KL_r`, summed over the latent units of row `r` of encoder outputs `stats` (`[rows, 2k]`),
/// in f64.
fn kl_row(stats: ArrayView2<f32>, r: usize) -> f64 {
    let k = stats.ncols() / 2;
    (0..k)
        .map(|j| {
            let (m, lv) = (stats[[r, j]] as f64, stats[[r, k + j]] as f64);
            -0.5 * (1.0 + lv - m * m - lv.exp())
        })
        .sum()
}

/// `Σ_r KL_r` over encoder outputs `stats` (`[rows, 2k]`).
pub(crate) fn kl_sum(stats: ArrayView2<f32>) -> f64 {
    (0..stats.nrows()).map(|r| kl_row(stats, r)).sum()
}

/// `scores[r] += weight · KL_r` for encoder outputs `stats` (`[rows, 2k]`).
pub(crate) fn add_kl(stats: ArrayView2<f32>, weight: f64, scores: &mut [f64]) {
    for (r, score) in scores.iter_mut().enumerate().take(stats.nrows()) {
        *score += weight * kl_row(stats, r);
    }
}

/// `n` draws from the prior `N(0, I_k)`, seeded.
pub(crate) fn prior_sample(n: usize, k: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((n, k), || rng.sample(StandardNormal))
}

/// The training-time latent stage: buffers for `ε`, `z` and `∂L/∂z`, reused across batches.
#[derive(Debug, Default)]
pub(crate) struct GaussianHead {
    rows: usize,
    eps: Array2<f32>,
    z: Array2<f32>,
    dz: Array2<f32>,
}

impl GaussianHead {
    /// Draws `ε` and returns `z = μ + exp(½·log σ²) ⊙ ε` for encoder outputs `stats`
    /// (`[rows, 2k]` → `[rows, k]`).
    pub(crate) fn sample(
        &mut self,
        stats: ArrayView2<f32>,
        rng: &mut impl Rng,
    ) -> ArrayView2<'_, f32> {
        let (rows, k) = (stats.nrows(), stats.ncols() / 2);
        self.rows = rows;
        for buf in [&mut self.eps, &mut self.z, &mut self.dz] {
            if buf.nrows() < rows || buf.ncols() != k {
                *buf = Array2::zeros((rows, k));
            }
        }
        for r in 0..rows {
            for j in 0..k {
                let e: f32 = rng.sample(StandardNormal);
                self.eps[[r, j]] = e;
                self.z[[r, j]] = stats[[r, j]] + (0.5 * stats[[r, k + j]]).exp() * e;
            }
        }
        self.z.slice(s![..rows, ..])
    }

    /// `z` of the current batch and the buffer for `∂L/∂z` (filled by the decoder's backward).
    pub(crate) fn z_and_grad(&mut self) -> (ArrayView2<'_, f32>, ArrayViewMut2<'_, f32>) {
        let rows = self.rows;
        (
            self.z.slice(s![..rows, ..]),
            self.dz.slice_mut(s![..rows, ..]),
        )
    }

    /// Writes `∂L/∂[μ | log σ²]` into `dstats` from `∂ℓ/∂z` and the KL term of weight
    /// `w = β_e/(B·d)` per row; returns `Σ_r KL_r`.
    pub(crate) fn backward(
        &self,
        stats: ArrayView2<f32>,
        kl_weight: f32,
        mut dstats: ArrayViewMut2<f32>,
    ) -> f64 {
        let (rows, k) = (self.rows, stats.ncols() / 2);
        let mut kl = 0.0f64;
        for r in 0..rows {
            for j in 0..k {
                let (mu, lv) = (stats[[r, j]], stats[[r, k + j]]);
                let var = lv.exp();
                let sigma = (0.5 * lv).exp();
                let dz = self.dz[[r, j]];
                dstats[[r, j]] = dz + kl_weight * mu;
                dstats[[r, k + j]] =
                    dz * self.eps[[r, j]] * 0.5 * sigma + kl_weight * 0.5 * (var - 1.0);
                kl += -0.5 * (1.0 + lv as f64 - (mu as f64) * (mu as f64) - var as f64);
            }
        }
        kl
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::gradcheck::{assert_close, numeric_grad};
    use crate::nn::{Activation, GradAt, Loss, Sequential, Tape};
    use ndarray::array;

    #[test]
    fn kl_known_values() {
        // N(0, 1) against itself: 0. N(1, e) : −½(1 + 1 − 1 − e) = (e − 1)/2.
        let stats = array![[0.0f32, 0.0], [1.0, 1.0]];
        assert!(kl_sum(stats.slice(s![..1, ..])).abs() < 1e-12);
        let e = std::f64::consts::E;
        assert!((kl_sum(stats.view()) - (e - 1.0) / 2.0).abs() < 1e-6);
        let mut scores = vec![1.0, 2.0];
        add_kl(stats.view(), 2.0, &mut scores);
        assert!((scores[1] - (2.0 + (e - 1.0))).abs() < 1e-6);
    }

    #[test]
    fn warm_up_ramps_beta_linearly() {
        let c = VariationalConfig {
            beta: 2.0,
            kl_warmup: 4,
            ..Default::default()
        };
        let betas: Vec<f32> = (1..=6).map(|e| c.beta_at(e)).collect();
        assert_eq!(betas, vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.0]);
        assert_eq!(VariationalConfig::default().beta_at(1), 1.0);
    }

    /// The whole variational path — encoder → sample → decoder → MSE + β·KL — against finite
    /// differences, with ε held fixed (the same seed on every evaluation).
    #[test]
    fn reparameterised_loss_gradients_match_finite_differences() {
        let (rows, d, k) = (5, 4, 2);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let encoder = Sequential::new(&[d, 2 * k], &[Activation::Linear], 0.0, &mut rng).unwrap();
        let decoder = Sequential::new(&[k, d], &[Activation::Tanh], 0.0, &mut rng).unwrap();
        let x = Array2::from_shape_fn((rows, d), |(i, j)| ((i * d + j) as f32 * 0.43).sin());
        // A fixed target (not x itself), so that ∂L/∂x runs through the encoder only.
        let t = x.mapv(|v| 0.8 * v + 0.1);
        let beta = 0.7f32;
        let w = beta / (rows * d) as f32;

        let eval = |enc: &Sequential, dec: &Sequential, x: &Array2<f32>| -> f64 {
            let mut et = Tape::new();
            enc.forward_train(x.view(), &mut et, &mut ChaCha8Rng::seed_from_u64(0));
            let mut head = GaussianHead::default();
            let z = head
                .sample(et.output(), &mut ChaCha8Rng::seed_from_u64(9))
                .to_owned();
            let mut dt = Tape::new();
            dec.forward_train(z.view(), &mut dt, &mut ChaCha8Rng::seed_from_u64(0));
            Loss::Mse.value(dt.output(), t.view()) + w as f64 * kl_sum(et.output())
        };

        let mut et = Tape::new();
        encoder.forward_train(x.view(), &mut et, &mut ChaCha8Rng::seed_from_u64(0));
        let mut head = GaussianHead::default();
        let z = head
            .sample(et.output(), &mut ChaCha8Rng::seed_from_u64(9))
            .to_owned();
        let mut dt = Tape::new();
        decoder.forward_train(z.view(), &mut dt, &mut ChaCha8Rng::seed_from_u64(0));
        let (x_hat, g) = dt.output_and_grad();
        let x_hat = x_hat.to_owned();
        let (recon, at) = Loss::Mse.value_and_grad(x_hat.view(), t.view(), Activation::Tanh, g);
        let mut dgrads = decoder.zero_grads();
        {
            let (z, dz) = head.z_and_grad();
            decoder.backward(z, &mut dt, at, &mut dgrads, Some(dz));
        }
        let kl = {
            let (stats, dstats) = et.output_and_grad();
            head.backward(stats, w, dstats)
        };
        assert!((recon + w as f64 * kl - eval(&encoder, &decoder, &x)).abs() < 1e-6);
        let mut egrads = encoder.zero_grads();
        let mut dx = Array2::zeros((rows, d));
        encoder.backward(
            x.view(),
            &mut et,
            GradAt::Output,
            &mut egrads,
            Some(dx.view_mut()),
        );

        assert_close(
            &dx,
            &numeric_grad(&x, |x| eval(&encoder, &decoder, x)),
            "dx",
        );
        let dense = |s: &Sequential| s.layers()[0].as_dense().unwrap().clone();
        let ew = dense(&encoder);
        let num = numeric_grad(ew.weight(), |wt| {
            let l = crate::nn::Dense::from_parts(wt.clone(), ew.bias().clone(), Activation::Linear)
                .unwrap();
            eval(
                &Sequential::from_layers(vec![l], 0.0).unwrap(),
                &decoder,
                &x,
            )
        });
        assert_close(
            &egrads.layers[0].weight,
            &num,
            "encoder dW (through μ and log σ²)",
        );
        let dw = dense(&decoder);
        let num = numeric_grad(dw.weight(), |wt| {
            let l = crate::nn::Dense::from_parts(wt.clone(), dw.bias().clone(), Activation::Tanh)
                .unwrap();
            eval(
                &encoder,
                &Sequential::from_layers(vec![l], 0.0).unwrap(),
                &x,
            )
        });
        assert_close(&dgrads.layers[0].weight, &num, "decoder dW");
    }

    /// The KL gradient alone (zero reconstruction gradient) against finite differences of
    /// `w·Σ KL` in μ and log σ².
    #[test]
    fn kl_gradient_matches_finite_differences() {
        let stats = Array2::from_shape_fn((3, 6), |(i, j)| ((i * 6 + j) as f32 * 0.7).sin());
        let mut head = GaussianHead::default();
        head.sample(stats.view(), &mut ChaCha8Rng::seed_from_u64(0));
        head.z_and_grad().1.fill(0.0);
        let mut dstats = Array2::zeros(stats.raw_dim());
        let w = 0.3f32;
        head.backward(stats.view(), w, dstats.view_mut());
        let num = numeric_grad(&stats, |s| w as f64 * kl_sum(s.view()));
        assert_close(&dstats, &num, "dKL");
    }

    #[test]
    fn prior_samples_are_seeded_standard_normals() {
        let a = prior_sample(2000, 3, 5);
        assert_eq!(a, prior_sample(2000, 3, 5));
        assert_ne!(a, prior_sample(2000, 3, 6));
        let mean = a.mean().unwrap();
        let var = a.mapv(|v| v * v).mean().unwrap() - mean * mean;
        assert!(mean.abs() < 0.05 && (var - 1.0).abs() < 0.1, "{mean} {var}");
    }
}
