//! What scoring a batch returns.

use ndarray::{Array1, Array2};

/// Options for [`super::Autoencoder::score`].
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
