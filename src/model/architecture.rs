//! Layer widths and activations of an autoencoder, from the configuration and the number of
//! features.
//!
//! # Default sizing (no `hidden` given)
//! For `d` features:
//! - latent `k = clamp(⌈√d⌉, 1, 64)`, and at most `d − 1` so there is a bottleneck (when `d ≥ 2`);
//!   an explicit `latent` replaces this;
//! - one hidden layer of width `h = clamp(⌈2d/3⌉, k + 1, 256)` on each side of the latent;
//! - when `h > 4k`, a second one of width `⌈√(h·k)⌉` (the geometric mean) between `h` and `k`.
//!
//! | d | widths |
//! |---|---|
//! | 4 | 4 → 3 → 2 → 3 → 4 |
//! | 9 | 9 → 6 → 3 → 6 → 9 |
//! | 30 | 30 → 20 → 6 → 20 → 30 |
//! | 100 | 100 → 67 → 26 → 10 → 26 → 67 → 100 |
//! | 784 | 784 → 256 → 85 → 28 → 85 → 256 → 784 |
//!
//! These are the widths of one autoencoder. With `ensemble = N` (dense kinds) `N` of them are
//! trained and folded into one network `N` times as wide inside ([`super::ensemble`]):
//! `9 → 18 → 9 → 18 → 9` for 9 features and `ensemble = 3`.
//!
//! With `hidden = [h₁, …, hₘ]` (m odd) the encoder is `d → h₁ → … → h₍ₘ₊₁₎/₂` and the decoder
//! continues `→ … → hₘ → d`.
//!
//! # Activations
//! Every encoder layer, the latent one included, and every decoder layer but the last use
//! `activation`; the decoder's last layer uses `output_activation`. A sparse kind with a KL
//! target needs latent activations in (0, 1), so its latent layer is sigmoid. A variational
//! kind's latent layer is linear and `2k` wide (mean and log-variance).
//!
//! The convolutional kind builds its networks itself ([`super::convolutional`]); its dense part
//! follows the same `hidden` / `latent` options.

use super::config::TrainConfig;
use crate::error::{Error, Result};
use crate::nn::Activation;

/// Widths and activations of both halves.
#[derive(Debug, Clone, PartialEq)]
pub struct Architecture {
    /// Encoder widths, `[d, …, k]` (`[d, …, 2k]` for a variational kind).
    pub encoder_dims: Vec<usize>,
    /// Activation after each encoder layer (`encoder_dims.len() − 1` of them).
    pub encoder_activations: Vec<Activation>,
    /// Decoder widths, `[k, …, d]`.
    pub decoder_dims: Vec<usize>,
    /// Activation after each decoder layer.
    pub decoder_activations: Vec<Activation>,
}

/// Default latent size for `d` features.
pub fn default_latent(d: usize) -> usize {
    let k = ((d as f64).sqrt().ceil() as usize).clamp(1, 64);
    if d >= 2 { k.min(d - 1) } else { k }
}

/// Default hidden widths `[encoder…, latent, …decoder]` for `d` features and latent size `k`.
pub fn default_hidden(d: usize, k: usize) -> Vec<usize> {
    let h = (2 * d).div_ceil(3).clamp(k + 1, 256.max(k + 1));
    let mut encoder = vec![h];
    if h > 4 * k {
        encoder.push(((h * k) as f64).sqrt().ceil() as usize);
    }
    let mut widths = encoder.clone();
    widths.push(k);
    widths.extend(encoder.iter().rev());
    widths
}

impl Architecture {
    /// The architecture `config` gives for `d` features.
    pub fn new(config: &TrainConfig, d: usize) -> Result<Self> {
        if d == 0 {
            return Err(Error::config(
                "features",
                "at least one feature column is needed",
            ));
        }
        let hidden = match &config.hidden {
            Some(h) => h.clone(),
            None => default_hidden(d, config.latent.unwrap_or_else(|| default_latent(d))),
        };
        let mid = hidden.len() / 2;
        let mut encoder_dims = vec![d];
        encoder_dims.extend_from_slice(&hidden[..=mid]);
        let mut decoder_dims = hidden[mid..].to_vec();
        decoder_dims.push(d);

        let act = Activation::from(config.activation);
        let mut encoder_activations = vec![act; encoder_dims.len() - 1];
        if config.kind.needs_unit_interval_latent() {
            *encoder_activations
                .last_mut()
                .expect("the encoder has a layer") = Activation::Sigmoid;
        }
        if config.kind.variational().is_some() {
            let k = decoder_dims[0];
            *encoder_dims.last_mut().expect("the encoder has widths") = 2 * k;
            *encoder_activations
                .last_mut()
                .expect("the encoder has a layer") = Activation::Linear;
        }
        let mut decoder_activations = vec![act; decoder_dims.len() - 1];
        *decoder_activations
            .last_mut()
            .expect("the decoder has a layer") = config.output_activation.into();
        Ok(Architecture {
            encoder_dims,
            encoder_activations,
            decoder_dims,
            decoder_activations,
        })
    }

    /// Latent size.
    pub fn latent_dim(&self) -> usize {
        self.decoder_dims[0]
    }

    /// All widths input to output, e.g. `[9, 6, 3, 6, 9]`.
    pub fn dims(&self) -> Vec<usize> {
        let mut dims = self.encoder_dims[..self.encoder_dims.len() - 1].to_vec();
        dims.extend_from_slice(&self.decoder_dims);
        dims
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;

    fn dims(d: usize) -> Vec<usize> {
        Architecture::new(&TrainConfig::default(), d)
            .unwrap()
            .dims()
    }

    #[test]
    fn default_sizes_follow_the_documented_table() {
        assert_eq!(dims(1), vec![1, 2, 1, 2, 1]);
        assert_eq!(dims(2), vec![2, 2, 1, 2, 2]);
        assert_eq!(dims(4), vec![4, 3, 2, 3, 4]);
        assert_eq!(dims(9), vec![9, 6, 3, 6, 9]);
        assert_eq!(dims(30), vec![30, 20, 6, 20, 30]);
        assert_eq!(dims(100), vec![100, 67, 26, 10, 26, 67, 100]);
        assert_eq!(dims(784), vec![784, 256, 85, 28, 85, 256, 784]);
    }

    #[test]
    fn explicit_hidden_and_latent() {
        let c = TrainConfig {
            hidden: Some(vec![128, 64, 32, 64, 128]),
            ..Default::default()
        };
        let a = Architecture::new(&c, 784).unwrap();
        assert_eq!(a.encoder_dims, vec![784, 128, 64, 32]);
        assert_eq!(a.decoder_dims, vec![32, 64, 128, 784]);
        assert_eq!(a.latent_dim(), 32);
        let c = TrainConfig {
            latent: Some(2),
            ..Default::default()
        };
        assert_eq!(
            Architecture::new(&c, 9).unwrap().dims(),
            vec![9, 6, 2, 6, 9]
        );
    }

    #[test]
    fn kl_sparse_latent_is_sigmoid_and_output_uses_output_activation() {
        let c = TrainConfig {
            kind: Kind::Sparse {
                l1_activity: 0.0,
                sparsity_target: Some(0.05),
                sparsity_weight: 0.1,
            },
            ..Default::default()
        };
        let a = Architecture::new(&c, 9).unwrap();
        assert_eq!(
            a.encoder_activations,
            vec![Activation::Elu, Activation::Sigmoid]
        );
        assert_eq!(
            a.decoder_activations,
            vec![Activation::Elu, Activation::Linear]
        );
    }

    #[test]
    fn variational_latent_layer_is_linear_and_twice_as_wide() {
        let c = TrainConfig {
            kind: Kind::Variational(Default::default()),
            ..Default::default()
        };
        let a = Architecture::new(&c, 9).unwrap();
        assert_eq!(a.encoder_dims, vec![9, 6, 6]);
        assert_eq!(
            a.encoder_activations,
            vec![Activation::Elu, Activation::Linear]
        );
        assert_eq!(a.latent_dim(), 3);
        assert_eq!(a.dims(), vec![9, 6, 3, 6, 9]);
    }
}
