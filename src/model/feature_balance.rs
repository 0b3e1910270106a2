//! Per-feature error normalisation (`normalize_errors`): after training, every feature's squared
//! reconstruction error is divided by its mean over the training rows, so that one feature the
//! network reconstructs poorly on every row (noise, a heavy tail) does not dominate
//! `reconstruction_error`, and a feature it reconstructs well weighs as much as the others.
//!
//! # Formula
//! With scaled rows `s_ij = (x_ij − offset_j) / scale_j` and their reconstructions `ŝ_ij`, the
//! training mean squared error of feature `j` is `m_j = (1/n) Σᵢ (ŝ_ij − s_ij)²` and
//! `c_j = √m_j` (1 when `m_j` is 0 or not finite). The model is then re-expressed in units of
//! `c_j`, which leaves its reconstructions in original units unchanged:
//! - `scale_j ← scale_j · c_j` (so the new scaled value is `s_ij / c_j`);
//! - first encoder layer: `W[:, j] ← W[:, j] · c_j` (the same pre-activations);
//! - last decoder layer (linear output): `W[j, :] ← W[j, :] / c_j`, `b_j ← b_j / c_j`.
//!
//! The squared error of feature `j` becomes `(ŝ_ij − s_ij)² / m_j`, whose training mean is 1,
//! and `reconstruction_error` their mean over features. Nothing new is stored: the model file
//! holds the folded scale and weights, so every reader (and the numpy reproduction in
//! docs/model-format.md) scores the normalised error without knowing about it.
//!
//! Applies to dense networks with a linear output activation and the mean squared error loss
//! (vanilla, denoising and sparse kinds); [`applies`] says whether a configuration qualifies.

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, s};

use super::autoencoder::INFERENCE_CHUNK;
use super::config::{ActivationKind, LossKind, TrainConfig};
use super::parts::Networks;
use super::scaler::Preprocessing;
use crate::error::{Error, Result};
use crate::nn::{Buffers, Dense, Layer, Sequential};

/// Whether `config` trains a model the normalisation can be folded into: a dense kind (not
/// variational, whose latent layer is a distribution, nor convolutional), a linear output and
/// the mean squared error loss.
pub(crate) fn applies(config: &TrainConfig) -> bool {
    config.kind.variational().is_none()
        && !matches!(config.kind, super::kind::Kind::Convolutional(_))
        && config.output_activation == ActivationKind::Linear
        && config.loss == LossKind::Mse
}

/// `m_j`: the mean squared reconstruction error of each feature over scaled rows `xs`
/// (`[rows, d]`), in inference mode.
pub(crate) fn feature_mean_errors(nets: &Networks, xs: ArrayView2<f32>) -> Vec<f64> {
    let (rows, d) = xs.dim();
    let k = nets.decoder.in_features();
    let (mut enc, mut dec) = (Buffers::default(), Buffers::default());
    let mut sum = vec![0.0f64; d];
    for start in (0..rows).step_by(INFERENCE_CHUNK) {
        let end = (start + INFERENCE_CHUNK).min(rows);
        let chunk = xs.slice(s![start..end, ..]);
        let z = nets.encoder.forward(chunk, &mut enc);
        let x_hat = nets.decoder.forward(z.slice_move(s![.., ..k]), &mut dec);
        for (a, b) in chunk.rows().into_iter().zip(x_hat.rows()) {
            for ((m, &a), &b) in sum.iter_mut().zip(a).zip(b) {
                *m += ((a - b) as f64).powi(2);
            }
        }
    }
    sum.iter().map(|s| s / rows.max(1) as f64).collect()
}

/// Folds the normalisation into `nets` and `preprocessing` and rescales the training rows `xs`
/// (`[rows, d]`, scaled) to the new units, as the module docs say. `dropout` is the networks'
/// training dropout, kept as it was.
pub(crate) fn normalize_errors(
    nets: &mut Networks,
    preprocessing: &mut Preprocessing,
    mut xs: ArrayViewMut2<f32>,
    dropout: f32,
) -> Result<()> {
    let c: Vec<f32> = feature_mean_errors(nets, xs.view())
        .iter()
        .map(|&m| {
            let c = m.sqrt() as f32;
            if c > 0.0 && c.is_finite() { c } else { 1.0 }
        })
        .collect();
    for (scale, &c) in preprocessing.scale.iter_mut().zip(&c) {
        *scale *= c;
    }
    for mut row in xs.rows_mut() {
        for (v, &c) in row.iter_mut().zip(&c) {
            *v /= c;
        }
    }
    nets.encoder = with_layer(&nets.encoder, 0, dropout, |w, _| {
        for (mut column, &c) in w.axis_iter_mut(Axis(1)).zip(&c) {
            column *= c;
        }
    })?;
    let last = nets.decoder.layers().len() - 1;
    nets.decoder = with_layer(&nets.decoder, last, dropout, |w, b| {
        for ((mut row, b), &c) in w.axis_iter_mut(Axis(0)).zip(b.iter_mut()).zip(&c) {
            row /= c;
            *b /= c;
        }
    })?;
    Ok(())
}

/// `net` with dense layer `at` changed by `edit(weight [out, in], bias [out])`.
fn with_layer(
    net: &Sequential,
    at: usize,
    dropout: f32,
    edit: impl FnOnce(&mut Array2<f32>, &mut [f32]),
) -> Result<Sequential> {
    let mut layers = net.layers().to_vec();
    let Some(Layer::Dense(dense)) = layers.get(at) else {
        return Err(Error::Internal(format!(
            "normalize_errors needs dense layers, layer {at} is not"
        )));
    };
    let mut weight = dense.weight().clone();
    let mut bias = dense.bias().to_vec();
    edit(&mut weight, &mut bias);
    layers[at] = Layer::Dense(Dense::from_parts(weight, bias.into(), dense.activation())?);
    Sequential::from_layers(layers, dropout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testdata::{manifold, names};
    use crate::model::{Autoencoder, ScoreOptions, Silent};

    fn config(normalize_errors: bool) -> TrainConfig {
        TrainConfig {
            epochs: 30,
            batch_size: 32,
            normalize_errors,
            ..Default::default()
        }
    }

    /// The same seed with and without the normalisation: the reconstructions in original units
    /// agree (only the units of the error change), and with it every feature's mean squared
    /// error over the training rows is 1, so `reconstruction_error` averages 1 there.
    #[test]
    fn keeps_reconstructions_and_gives_every_feature_unit_mean_error() {
        let mut x = manifold(300, 3);
        // One feature the network cannot follow: noise that would dominate the plain error.
        for (i, v) in x.column_mut(7).iter_mut().enumerate() {
            *v = ((i * 7919) % 101) as f32 / 10.0;
        }
        let plain = Autoencoder::fit(x.view(), &names(8), &config(false), &mut Silent).unwrap();
        let norm = Autoencoder::fit(x.view(), &names(8), &config(true), &mut Silent).unwrap();
        let (a, b) = (
            plain.reconstruct(x.view()).unwrap(),
            norm.reconstruct(x.view()).unwrap(),
        );
        let worst = (&a - &b).iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(worst < 1e-3, "reconstructions differ by {worst}");
        let per_feature = norm
            .score(
                x.view(),
                &ScoreOptions {
                    per_feature: true,
                    ..Default::default()
                },
            )
            .unwrap()
            .feature_errors
            .unwrap();
        for (j, m) in per_feature.mean_axis(Axis(0)).unwrap().iter().enumerate() {
            assert!((m - 1.0).abs() < 1e-3, "feature {j}: mean error {m}");
        }
        assert!(!applies(&TrainConfig {
            loss: LossKind::Bce,
            ..config(true)
        }));
    }
}
