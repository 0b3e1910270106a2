//! The human-facing summary of a trained model and the diagnostics kept with it.

use serde::{Deserialize, Serialize};

use super::kind::Kind;
use super::observer::EpochRecord;
use super::scaler::{MissingPolicy, ScalerKind};

/// Activity of one latent unit over the training rows (inference mode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatentActivity {
    /// Mean activation.
    pub mean: f64,
    /// Population standard deviation of the activation.
    pub std: f64,
}

/// A latent unit counts as dead when the std of its activation over the training rows is at most
/// this (a relu unit that never fires has std exactly 0).
pub const DEAD_UNIT_STD: f64 = 1e-6;

/// Diagnostics computed after training and saved with the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Diagnostics {
    /// Per latent unit.
    pub latent_activity: Vec<LatentActivity>,
    /// Indices of latent units whose activation never varies (std ≤ [`DEAD_UNIT_STD`]).
    pub dead_latent_units: Vec<usize>,
    /// (q, error) pairs of the training error distribution, q in [0, 1].
    pub error_quantiles: Vec<(f64, f64)>,
}

/// Human-facing summary of a trained model (what `aeflow inspect` and `ae_model_info` show).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelSummary {
    /// Kind and its parameters.
    pub kind: Kind,
    /// Feature names, in model order.
    pub features: Vec<String>,
    /// Layer widths, input to output, e.g. `[9, 6, 3, 6, 9]`.
    pub dims: Vec<usize>,
    /// Width of the latent layer.
    pub latent_dim: usize,
    /// Scaler learned at training time.
    pub scaler: ScalerKind,
    /// Missing-value policy.
    pub missing: MissingPolicy,
    /// Anomaly threshold on the reconstruction error.
    pub threshold: Option<f64>,
    /// Contamination fraction the threshold was calibrated for.
    pub contamination: f64,
    /// Unix seconds.
    pub created_unix: u64,
    /// Wall-clock seconds of training.
    pub training_seconds: f64,
    /// Per-epoch history.
    pub history: Vec<EpochRecord>,
    /// Latent units whose activation never varies on the training data.
    pub dead_latent_units: Vec<usize>,
    /// (q, error) pairs of the training error distribution, q in [0, 1].
    pub error_quantiles: Vec<(f64, f64)>,
    /// Short hex id of the weights (changes whenever the weights change).
    pub version: String,
}
