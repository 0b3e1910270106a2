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

use std::ops::Deref;

use ndarray::{Array2, ArrayView2, ArrayViewMut2, s};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::autoencoder::Autoencoder;
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
#[cfg(test)]
pub(crate) fn prior_sample(n: usize, k: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    prior_draws(&mut rng, n, k)
}

/// The next `n` draws of `rng` from `N(0, I_k)`, row by row: drawing `a` then `b` rows gives the
/// same numbers as drawing `a + b` at once.
fn prior_draws(rng: &mut ChaCha8Rng, n: usize, k: usize) -> Array2<f32> {
    Array2::from_shape_simple_fn((n, k), || rng.sample(StandardNormal))
}

/// Generates rows from a variational model in as many calls as wanted, from one seeded stream:
/// the rows are the same whether they are asked for at once or in chunks.
///
/// `M` is how the sampler holds the model: borrowed (`&Autoencoder`, from
/// [`Autoencoder::sampler`]) or shared (`Arc<Autoencoder>`, for a stream of rows that outlives
/// the caller's borrow, as `ae_sample`'s).
pub struct Sampler<M: Deref<Target = Autoencoder>> {
    model: M,
    rng: ChaCha8Rng,
}

impl<M: Deref<Target = Autoencoder>> Sampler<M> {
    /// A sampler for `model`, which must be variational (a config error naming the kind
    /// otherwise).
    pub fn new(model: M, seed: u64) -> Result<Self> {
        if model.kind().variational().is_none() {
            return Err(Error::config(
                "model",
                format!(
                    "sampling needs a variational autoencoder (trained with kind variational), this one is {}",
                    model.kind().name()
                ),
            ));
        }
        Ok(Sampler {
            model,
            rng: ChaCha8Rng::seed_from_u64(seed),
        })
    }

    /// The model the rows come from.
    pub fn model(&self) -> &Autoencoder {
        &self.model
    }

    /// The next `n` rows, `[n, features]` in original units.
    pub fn next_rows(&mut self, n: usize) -> Result<Array2<f32>> {
        let z = prior_draws(&mut self.rng, n, self.model.latent_dim());
        self.model.decode(z.view())
    }
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

#[cfg(test)]
mod training_tests {
    use super::*;
    use crate::model::testdata::{manifold, names};
    use crate::model::{Autoencoder, Kind, ScoreOptions, Silent, TrainConfig};

    fn config(v: VariationalConfig) -> TrainConfig {
        TrainConfig {
            kind: Kind::Variational(v),
            epochs: 60,
            batch_size: 32,
            ..Default::default()
        }
    }

    /// Per-feature mean and std of `x`.
    fn moments(x: &Array2<f32>) -> Vec<(f64, f64)> {
        x.columns()
            .into_iter()
            .map(|c| {
                let m = c.iter().map(|&v| v as f64).sum::<f64>() / c.len() as f64;
                let v = c.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / c.len() as f64;
                (m, v.sqrt())
            })
            .collect()
    }

    #[test]
    fn learns_the_manifold_and_samples_look_like_the_data() {
        let x = manifold(1500, 1);
        let m = Autoencoder::fit(
            x.view(),
            &names(8),
            &config(Default::default()),
            &mut Silent,
        )
        .unwrap();
        let err = m.reconstruction_error(x.view()).unwrap().mean().unwrap();
        // Predicting the mean gives 1.0 under standard scaling.
        assert!(err < 0.2, "mean reconstruction error {err}");
        assert_eq!(m.latent_dim(), 3);
        assert_eq!(m.dims(), vec![8, 6, 3, 6, 8]);
        assert_eq!(m.encode(x.view()).unwrap().dim(), (1500, 3));

        let samples = m.sample(4000, 11).unwrap();
        assert_eq!(samples.dim(), (4000, 8));
        for (j, ((dm, ds), (sm, ss))) in moments(&x).into_iter().zip(moments(&samples)).enumerate()
        {
            assert!(
                (sm - dm).abs() < 0.3 * ds && ss > 0.5 * ds && ss < 1.5 * ds,
                "feature {j}: data mean {dm} std {ds}, samples mean {sm} std {ss}"
            );
        }
        assert_eq!(m.sample(5, 11).unwrap(), samples.slice(s![..5, ..]));
        // In chunks from one sampler: the same rows.
        let mut sampler = m.sampler(11).unwrap();
        let first = sampler.next_rows(1500).unwrap();
        let rest = sampler.next_rows(2500).unwrap();
        assert_eq!(first, samples.slice(s![..1500, ..]));
        assert_eq!(rest, samples.slice(s![1500.., ..]));
        assert_ne!(m.sample(5, 12).unwrap(), samples.slice(s![..5, ..]));
    }

    #[test]
    fn elbo_score_adds_the_kl_term_and_its_threshold_flags_outliers() {
        let mut x = manifold(1000, 4);
        for i in 0..10 {
            x[[i, i % 8]] += 25.0 * (1.0 + (i % 8) as f32);
        }
        let v = VariationalConfig {
            score: VariationalScore::Elbo,
            beta: 0.5,
            ..Default::default()
        };
        let m = Autoencoder::fit(x.view(), &names(8), &config(v), &mut Silent).unwrap();
        let s = m.score(x.view(), &ScoreOptions::default()).unwrap();
        let mut recon = m.clone();
        recon.parts.kind = Kind::Variational(VariationalConfig {
            score: VariationalScore::Reconstruction,
            ..v
        });
        let r = recon.score(x.view(), &ScoreOptions::default()).unwrap();
        assert!(
            s.reconstruction_error
                .iter()
                .zip(&r.reconstruction_error)
                .all(|(e, r)| e > r),
            "the ELBO adds a positive KL term to every row"
        );
        let flags = s.is_anomaly.unwrap();
        let flagged: Vec<usize> = (0..1000).filter(|&i| flags[i]).collect();
        assert!((0..10).all(|i| flags[i]), "flagged {flagged:?}");
        assert!(flagged.len() <= 13, "too many flagged: {flagged:?}");
    }

    #[test]
    fn early_stopping_waits_for_the_end_of_the_warm_up() {
        let x = manifold(400, 5);
        let v = VariationalConfig {
            kl_warmup: 8,
            ..Default::default()
        };
        let c = TrainConfig {
            patience: 2,
            min_rel_delta: 0.9,
            ..config(v)
        };
        let m = Autoencoder::fit(x.view(), &names(8), &c, &mut Silent).unwrap();
        // No epoch improves by 90 %, so it stops `patience` epochs after the first counted one.
        assert_eq!(m.history().len(), 8 + 1 + 2);
    }

    #[test]
    fn same_seed_same_model_and_the_file_round_trips() {
        let x = manifold(400, 6);
        let c = TrainConfig {
            epochs: 4,
            ..config(VariationalConfig {
                kl_warmup: 2,
                score: VariationalScore::Elbo,
                ..Default::default()
            })
        };
        let a = Autoencoder::fit(x.view(), &names(8), &c, &mut Silent).unwrap();
        let b = Autoencoder::fit(x.view(), &names(8), &c, &mut Silent).unwrap();
        assert_eq!(a.encoder(), b.encoder());
        assert_eq!(a.decoder(), b.decoder());
        assert_eq!(a.sample(10, 1).unwrap(), b.sample(10, 1).unwrap());
        let other = Autoencoder::fit(
            x.view(),
            &names(8),
            &TrainConfig {
                seed: 9,
                ..c.clone()
            },
            &mut Silent,
        )
        .unwrap();
        assert_ne!(a.encoder(), other.encoder());

        let bytes = a.to_bytes().unwrap();
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        assert_eq!(meta.metadata().as_ref().unwrap()["format_version"], "2");
        let back = Autoencoder::from_bytes(&bytes, "vae.aemodel").unwrap();
        assert_eq!(back.kind(), a.kind());
        assert_eq!(back.encoder(), a.encoder());
        assert_eq!(back.decoder(), a.decoder());
        assert_eq!(back.threshold(), a.threshold());
        let opts = ScoreOptions::default();
        assert_eq!(
            back.score(x.view(), &opts).unwrap().reconstruction_error,
            a.score(x.view(), &opts).unwrap().reconstruction_error
        );
        assert_eq!(back.sample(7, 3).unwrap(), a.sample(7, 3).unwrap());

        // Models of the older kinds are still written as version 1.
        let vanilla = Autoencoder::fit(
            x.view(),
            &names(8),
            &TrainConfig {
                epochs: 1,
                ..Default::default()
            },
            &mut Silent,
        )
        .unwrap();
        let bytes = vanilla.to_bytes().unwrap();
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        assert_eq!(meta.metadata().as_ref().unwrap()["format_version"], "1");
    }

    #[test]
    fn bad_beta_is_a_config_error() {
        let x = manifold(50, 7);
        let c = config(VariationalConfig {
            beta: -1.0,
            ..Default::default()
        });
        let e = Autoencoder::fit(x.view(), &names(8), &c, &mut Silent).unwrap_err();
        assert!(
            matches!(e, Error::Config { ref option, .. } if option == "beta"),
            "{e}"
        );
    }
}
