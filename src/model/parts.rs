//! What a model is made of, listed once: training fills it in, the model file writes and reads
//! it, and [`Autoencoder::assemble`](super::Autoencoder) turns it into a model.
//!
//! [`ModelParts`] is generic over how it holds the layers: as the two networks ([`Networks`]) in
//! a live model, as their description (latent size and one entry per layer) in the model file.
//! Its serde form *is* the model file's `model` JSON (see `docs/model-format.md`): the keys come
//! in field order, with the layer keys (`latent_dim`, `encoder`, `decoder`) in place of
//! `layers`, so this struct also fixes the key order of the file.

use serde::{Deserialize, Serialize};

use super::config::{LossKind, TrainConfig};
use super::kind::Kind;
use super::observer::EpochRecord;
use super::scaler::Preprocessing;
use super::summary::Diagnostics;
use crate::nn::Sequential;

/// Everything a model holds, with its layers as `L`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ModelParts<L> {
    /// The kind of autoencoder and its parameters.
    pub(crate) kind: Kind,
    /// Feature names, in the column order the networks expect.
    pub(crate) features: Vec<String>,
    /// The networks ([`Networks`]) or their description in the file.
    #[serde(flatten)]
    pub(crate) layers: L,
    /// The training loss (scores always use the squared error).
    pub(crate) loss: LossKind,
    /// Missing-value policy and scaler statistics, learned on the training rows.
    pub(crate) preprocessing: Preprocessing,
    /// Anomaly threshold on the reconstruction error; `None`: no flags.
    pub(crate) threshold: Option<f64>,
    /// The contamination fraction the threshold was calibrated for.
    pub(crate) contamination: f64,
    /// The configuration the model was trained with.
    #[serde(rename = "train_config")]
    pub(crate) config: TrainConfig,
    /// Per-epoch losses.
    pub(crate) history: Vec<EpochRecord>,
    /// Latent activity and the training error quantiles.
    pub(crate) diagnostics: Diagnostics,
    /// When training finished, Unix seconds (0 if the clock was unreadable).
    pub(crate) created_unix: u64,
    /// Wall-clock seconds of training.
    pub(crate) training_seconds: f64,
}

impl<L> ModelParts<L> {
    /// The same parts holding `layers` instead (the file's description → the built networks).
    pub(crate) fn with_layers<M>(self, layers: M) -> ModelParts<M> {
        let ModelParts {
            kind,
            features,
            layers: _,
            loss,
            preprocessing,
            threshold,
            contamination,
            config,
            history,
            diagnostics,
            created_unix,
            training_seconds,
        } = self;
        ModelParts {
            kind,
            features,
            layers,
            loss,
            preprocessing,
            threshold,
            contamination,
            config,
            history,
            diagnostics,
            created_unix,
            training_seconds,
        }
    }
}

/// A model's two networks, in scaled units: the encoder `[*, d] → [*, e]` (`e = k`, or `2k` for
/// a variational model: mean and log-variance) and the decoder `[*, k] → [*, d]`, which reads the
/// first `k` encoder outputs. Serialises as its description in the model file (`file.rs`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Networks {
    /// `[*, d] → [*, e]`.
    pub(crate) encoder: Sequential,
    /// `[*, k] → [*, d]`.
    pub(crate) decoder: Sequential,
}

impl Networks {
    /// The latent size `k` (the decoder's input width).
    pub(crate) fn latent_dim(&self) -> usize {
        self.decoder.in_features()
    }
}
