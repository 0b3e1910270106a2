//! An ensemble of `N` autoencoders (`ensemble = N`) folded into one network, so that the model
//! file, scoring and every surface stay those of a single autoencoder.
//!
//! The members share the architecture and the preprocessing and differ in their seed
//! ([`member_seed`]: initialisation, split, shuffling, noise). Member `m` has encoder
//! layers `Eₘ⁽ˡ⁾` and decoder layers `Dₘ⁽ˡ⁾` (weights `[out, in]`); the folded network is
//! - first encoder layer: the members' weights stacked, `[N·out, d]` (they all read `x`);
//! - every later encoder layer and every decoder layer but the last: block-diagonal,
//!   `[N·out, N·in]`, so member `m`'s units only see member `m`'s units;
//! - last decoder layer: `[W₁ … W_N] / N`, `[d, N·in]`, bias `(1/N) Σ bₘ`.
//!
//! Activations act element by element, so each block computes exactly its member's activations,
//! and the output is the members' mean pre-activation: for the default linear output,
//! `x̂ = (1/N) Σₘ x̂ₘ`, the average reconstruction. The latent is the `N·k` concatenation of the
//! members' latents. Training costs `N` trainings; scoring costs `N` times a member's work in
//! the first and last layers and `N²` times in the block-diagonal ones (their zeros included).
//!
//! Applies to dense kinds (vanilla, denoising, sparse); [`applies`] says whether a configuration
//! qualifies (a variational latent is a distribution, a convolutional network has no dense
//! first layer).

use ndarray::{Array1, Array2, s};

use super::config::TrainConfig;
use super::kind::Kind;
use super::parts::Networks;
use crate::error::{Error, Result};
use crate::nn::{Dense, Layer, Sequential};

/// Seed of member `m`: `seed + m·2³²`, so that the members of two ensembles with nearby seeds
/// (0, 1, …) never share a seed.
pub(crate) fn member_seed(seed: u64, m: usize) -> u64 {
    seed.wrapping_add((m as u64) << 32)
}

/// Whether `config` trains a kind whose members can be folded.
pub(crate) fn applies(config: &TrainConfig) -> bool {
    config.kind.variational().is_none() && !matches!(config.kind, Kind::Convolutional(_))
}

/// The members' dense layers `at` of `net`, checked to be dense.
fn dense_layers(
    members: &[Networks],
    net: fn(&Networks) -> &Sequential,
    at: usize,
) -> Result<Vec<&Dense>> {
    members
        .iter()
        .map(|m| match net(m).layers().get(at) {
            Some(Layer::Dense(d)) => Ok(d),
            _ => Err(Error::Internal(format!(
                "ensemble members need dense layers, layer {at} is not"
            ))),
        })
        .collect()
}

/// How one layer of the folded network is built from the members' layers.
#[derive(Clone, Copy)]
enum Fold {
    /// Rows stacked: every member reads the same input.
    Stack,
    /// Block-diagonal: member `m` reads block `m` of the input.
    Diagonal,
    /// Columns side by side, divided by `N`: the mean of the members' outputs.
    Average,
}

fn fold_layer(layers: &[&Dense], how: Fold) -> Result<Dense> {
    let n = layers.len();
    let (out, inp) = layers[0].weight().dim();
    let (rows, cols) = match how {
        Fold::Stack => (n * out, inp),
        Fold::Diagonal => (n * out, n * inp),
        Fold::Average => (out, n * inp),
    };
    let mut weight = Array2::zeros((rows, cols));
    let mut bias = Array1::zeros(if matches!(how, Fold::Average) {
        out
    } else {
        n * out
    });
    for (m, layer) in layers.iter().enumerate() {
        let (r, c) = match how {
            Fold::Stack => (m * out..(m + 1) * out, 0..inp),
            Fold::Diagonal => (m * out..(m + 1) * out, m * inp..(m + 1) * inp),
            Fold::Average => (0..out, m * inp..(m + 1) * inp),
        };
        match how {
            Fold::Average => {
                weight
                    .slice_mut(s![r, c])
                    .assign(&(layer.weight() / n as f32));
                bias += &(layer.bias() / n as f32);
            }
            _ => {
                weight.slice_mut(s![r.clone(), c]).assign(layer.weight());
                bias.slice_mut(s![r]).assign(layer.bias());
            }
        }
    }
    Dense::from_parts(weight, bias, layers[0].activation())
}

/// The members folded into one network as the module docs say; `dropout` is the training
/// dropout the folded networks keep. One member is returned as it is.
pub(crate) fn fold(mut members: Vec<Networks>, dropout: f32) -> Result<Networks> {
    if members.len() == 1 {
        return Ok(members.remove(0));
    }
    let encoder_len = members[0].encoder.layers().len();
    let decoder_len = members[0].decoder.layers().len();
    let mut encoder = Vec::with_capacity(encoder_len);
    for at in 0..encoder_len {
        let how = if at == 0 { Fold::Stack } else { Fold::Diagonal };
        encoder.push(fold_layer(
            &dense_layers(&members, |m| &m.encoder, at)?,
            how,
        )?);
    }
    let mut decoder = Vec::with_capacity(decoder_len);
    for at in 0..decoder_len {
        let how = if at + 1 == decoder_len {
            Fold::Average
        } else {
            Fold::Diagonal
        };
        decoder.push(fold_layer(
            &dense_layers(&members, |m| &m.decoder, at)?,
            how,
        )?);
    }
    Ok(Networks {
        encoder: Sequential::from_layers(encoder, dropout)?,
        decoder: Sequential::from_layers(decoder, dropout)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testdata::{manifold, names};
    use crate::model::{Autoencoder, Silent};

    fn config(seed: u64, ensemble: usize) -> TrainConfig {
        TrainConfig {
            epochs: 20,
            batch_size: 32,
            seed,
            ensemble,
            ..Default::default()
        }
    }

    /// The folded model of three members (seed 7) reconstructs the mean of the three models
    /// trained alone with the members' seeds, and its latent is their three latents side by side.
    #[test]
    fn folded_model_is_the_mean_of_its_members() {
        let x = manifold(200, 5);
        let members: Vec<Autoencoder> = (0..3)
            .map(|m| {
                let seed = member_seed(7, m);
                Autoencoder::fit(x.view(), &names(8), &config(seed, 1), &mut Silent)
            })
            .collect::<Result<_>>()
            .unwrap();
        let folded = Autoencoder::fit(x.view(), &names(8), &config(7, 3), &mut Silent).unwrap();
        let mut mean = Array2::<f32>::zeros(x.raw_dim());
        for m in &members {
            mean += &(m.reconstruct(x.view()).unwrap() / 3.0);
        }
        let got = folded.reconstruct(x.view()).unwrap();
        let worst = (&got - &mean).iter().fold(0.0f32, |w, v| w.max(v.abs()));
        assert!(worst < 1e-3, "folded reconstruction differs by {worst}");
        assert_eq!(folded.latent_dim(), 3 * members[0].latent_dim());
        let z = folded.encode(x.view()).unwrap();
        let k = members[0].latent_dim();
        let z1 = members[1].encode(x.view()).unwrap();
        let worst = (&z.slice(s![.., k..2 * k]) - &z1)
            .iter()
            .fold(0.0f32, |w, v| w.max(v.abs()));
        assert!(worst < 1e-4, "member 1's latent differs by {worst}");
    }
}
