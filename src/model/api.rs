#![allow(unused_variables, missing_docs)]
//! Skeleton of the public model API. To be split into one-idea files by the core work.

use std::path::Path;

use ndarray::{Array1, Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// What kind of autoencoder. Variational and convolutional kinds come later and must fit here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Kind {
    /// Plain encoder → latent → decoder.
    Vanilla,
    /// Corrupts inputs during training only; learns to reconstruct the clean row.
    Denoising {
        /// Std of additive gaussian noise, in scaled units (0 = off).
        noise_std: f32,
        /// Fraction of features set to 0 (scaled units) per row (0 = off).
        mask_ratio: f32,
    },
    /// Penalises latent activity: `l1 · mean|z|` and/or `weight · KL(target ‖ mean activation)`.
    Sparse {
        /// L1 activity penalty weight (0 = off).
        l1_activity: f32,
        /// Target mean activation ρ for the KL penalty (needs activations in (0,1)).
        sparsity_target: Option<f32>,
        /// Weight of the KL penalty.
        sparsity_weight: f32,
    },
}

/// Feature scaling learned at training time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScalerKind {
    /// (x − mean) / std.
    #[default]
    Standard,
    /// (x − min) / (max − min), into [0, 1].
    MinMax,
    /// Identity.
    None,
}

/// What to do with NULL / NaN features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MissingPolicy {
    /// Error naming the row and feature (surfaces such as SQL map such rows to NULL instead).
    #[default]
    Reject,
    /// Replace with the training mean of the feature (original units).
    ImputeMean,
}

/// Activation function names as used in configs, the CLI and the model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivationKind {
    Relu,
    LeakyRelu,
    Elu,
    Selu,
    Tanh,
    Sigmoid,
    Linear,
}

/// Reconstruction loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    #[default]
    Mse,
    Bce,
}

/// Optimizer choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    #[default]
    Adam,
    Sgd,
    Rmsprop,
    Adagrad,
}

/// Everything `train` accepts. `Default` gives the defaults most users rely on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub kind: Kind,
    /// Hidden units, encoder and decoder, e.g. `[64, 16, 64]`; the middle one is the latent size.
    /// `None`: sized from the number of features (and `latent`).
    pub hidden: Option<Vec<usize>>,
    /// Latent size when `hidden` is not given. `None`: chosen from the number of features.
    pub latent: Option<usize>,
    pub activation: ActivationKind,
    pub output_activation: ActivationKind,
    pub loss: LossKind,
    pub optimizer: OptimizerKind,
    /// `None`: the optimizer's paper default (Adam 1e-3).
    pub learning_rate: Option<f32>,
    pub weight_decay: f32,
    pub dropout: f32,
    pub batch_size: usize,
    pub epochs: usize,
    /// Fraction of rows held out for validation (0 = none).
    pub validation_split: f32,
    pub early_stopping: bool,
    pub patience: usize,
    /// Minimum relative improvement of the validation loss that counts as progress.
    pub min_rel_delta: f32,
    pub scaler: ScalerKind,
    pub missing: MissingPolicy,
    /// Fraction of training rows expected to be anomalous; threshold = (1 − c) quantile of training errors.
    pub contamination: f64,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        todo!("core: defaults")
    }
}

/// One epoch of training history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: Option<f64>,
    pub seconds: f64,
}

/// Receives training progress (the CLI draws a progress bar from it).
pub trait TrainObserver {
    /// Before an epoch: 1-based epoch, total epochs, batches in the epoch.
    fn on_epoch_start(&mut self, epoch: usize, epochs: usize, batches: usize) {}
    /// After each mini-batch, with its loss.
    fn on_batch(&mut self, batch: usize, loss: f64, samples_per_second: f64) {}
    /// After an epoch.
    fn on_epoch_end(&mut self, record: &EpochRecord) {}
    /// Free-form notes (early stop, sampling, dead latent units).
    fn on_message(&mut self, message: &str) {}
}

/// A [`TrainObserver`] that ignores everything.
pub struct Silent;
impl TrainObserver for Silent {}

/// Options for [`Autoencoder::score`].
#[derive(Debug, Clone, Default)]
pub struct ScoreOptions {
    /// Also return per-feature squared errors.
    pub per_feature: bool,
    /// Override the calibrated threshold.
    pub threshold: Option<f64>,
}

/// Scores for a batch of rows.
#[derive(Debug, Clone)]
pub struct Scores {
    /// Mean squared error over features, in scaled units, per row. Shape `[rows]`.
    pub reconstruction_error: Array1<f64>,
    /// `error > threshold`; `None` when the model has no threshold and none was given.
    pub is_anomaly: Option<Vec<bool>>,
    /// Squared error per feature, scaled units. Shape `[rows, features]`.
    pub feature_errors: Option<Array2<f32>>,
}

/// Human-facing summary of a trained model (what `aeflow inspect` and `ae_model_info` show).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelSummary {
    pub kind: Kind,
    pub features: Vec<String>,
    /// Layer widths, input to output, e.g. `[9, 6, 3, 6, 9]`.
    pub dims: Vec<usize>,
    pub latent_dim: usize,
    pub scaler: ScalerKind,
    pub missing: MissingPolicy,
    pub threshold: Option<f64>,
    pub contamination: f64,
    /// Unix seconds.
    pub created_unix: u64,
    pub training_seconds: f64,
    pub history: Vec<EpochRecord>,
    /// Latent units whose activation never varies on the training data.
    pub dead_latent_units: Vec<usize>,
    /// (q, error) pairs of the training error distribution, q in [0, 1].
    pub error_quantiles: Vec<(f64, f64)>,
    /// Short hex id of the weights (changes whenever the weights change).
    pub version: String,
}

/// A trained autoencoder with its scaler, threshold and metadata.
#[derive(Debug, Clone)]
pub struct Autoencoder {
    _private: (),
}

impl Autoencoder {
    /// Train on `x` (`[rows, features]`, original units, NaN = missing).
    pub fn fit(
        x: ArrayView2<f32>,
        feature_names: &[String],
        config: &TrainConfig,
        observer: &mut dyn TrainObserver,
    ) -> Result<Self> {
        todo!("core")
    }
    /// Feature names in the order the model expects them.
    pub fn feature_names(&self) -> &[String] {
        todo!("core")
    }
    pub fn n_features(&self) -> usize {
        todo!("core")
    }
    pub fn latent_dim(&self) -> usize {
        todo!("core")
    }
    pub fn missing_policy(&self) -> MissingPolicy {
        todo!("core")
    }
    /// Calibrated anomaly threshold (reconstruction error units).
    pub fn threshold(&self) -> Option<f64> {
        todo!("core")
    }
    pub fn set_threshold(&mut self, threshold: Option<f64>) {
        todo!("core")
    }
    pub fn summary(&self) -> ModelSummary {
        todo!("core")
    }
    /// Latent vectors `[rows, latent]` for raw rows `[rows, features]`.
    pub fn encode(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        todo!("core")
    }
    /// Rows in original units `[rows, features]` from latents `[rows, latent]`.
    pub fn decode(&self, z: ArrayView2<f32>) -> Result<Array2<f32>> {
        todo!("core")
    }
    /// Reconstruction in original units.
    pub fn reconstruct(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        todo!("core")
    }
    /// Reconstruction error per row (see [`Scores::reconstruction_error`]).
    pub fn reconstruction_error(&self, x: ArrayView2<f32>) -> Result<Array1<f64>> {
        todo!("core")
    }
    /// Errors, anomaly flags and optionally per-feature errors.
    pub fn score(&self, x: ArrayView2<f32>, options: &ScoreOptions) -> Result<Scores> {
        todo!("core")
    }
    /// Atomic save (temporary file, then rename) in the safetensors format.
    pub fn save(&self, path: &Path) -> Result<()> {
        todo!("core")
    }
    /// Load and fully validate a model file.
    pub fn load(path: &Path) -> Result<Self> {
        todo!("core")
    }
    /// The model file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        todo!("core")
    }
    /// Parse and validate model bytes; `source` names them in errors.
    pub fn from_bytes(bytes: &[u8], source: &str) -> Result<Self> {
        todo!("core")
    }
}
