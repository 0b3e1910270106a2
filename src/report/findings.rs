//! What the report shows about an input: the result of scoring it with the model.
//!
//! These are plain data, filled by [`super::InputProfiler`] and drawn by the charts, so the
//! drawing code can be tested on hand-made findings without training a model.

use ndarray::Array2;

/// Scores of an input file (or matrix) under the model.
#[derive(Debug, Clone, Default)]
pub struct InputFindings {
    /// Where the rows came from, e.g. a file path.
    pub source: String,
    /// Rows read.
    pub rows_seen: u64,
    /// Rows skipped because a feature was NULL, NaN or infinite and the model rejects missing
    /// values.
    pub rows_skipped_missing: u64,
    /// Rows whose reconstruction error was NaN or infinite (e.g. values so large that their
    /// squared error overflows); they are counted but left out of every chart.
    pub rows_non_finite: u64,
    /// Rows with a finite error above the model's threshold; `None` when the model has none.
    pub rows_above_threshold: Option<u64>,
    /// Finite reconstruction errors, ascending: all of them, or a uniform sample when
    /// `errors_sampled` (scaled units, mean squared error over features).
    pub errors: Vec<f64>,
    /// `true` when `errors` is a sample of the finite errors rather than all of them.
    pub errors_sampled: bool,
    /// Latent vectors of a uniform sample of rows; `None` when no row was scored.
    pub latent: Option<LatentSample>,
    /// The rows with the largest errors, largest first.
    pub top: Vec<Anomaly>,
}

impl InputFindings {
    /// Rows with a finite reconstruction error.
    pub fn rows_scored(&self) -> u64 {
        self.rows_seen - self.rows_skipped_missing - self.rows_non_finite
    }
}

/// Latent vectors of sampled rows with their reconstruction errors.
#[derive(Debug, Clone)]
pub struct LatentSample {
    /// 0-based row numbers in the input, `[s]`.
    pub rows: Vec<u64>,
    /// Latent vectors, `[s, latent]`.
    pub latent: Array2<f32>,
    /// Reconstruction error of each sampled row, `[s]`.
    pub errors: Vec<f64>,
}

/// One badly reconstructed row and what made it so.
#[derive(Debug, Clone)]
pub struct Anomaly {
    /// 0-based row number in the input.
    pub row: u64,
    /// Reconstruction error (mean of `feature_errors`).
    pub error: f64,
    /// The row's feature values, original units (NaN = missing), `[features]`.
    pub values: Vec<f32>,
    /// What the model reconstructed, original units, `[features]`.
    pub reconstruction: Vec<f32>,
    /// Squared error per feature in scaled units, `[features]`.
    pub feature_errors: Vec<f32>,
}
