//! Arrow columns ⇄ f32 matrices, in one place. The NULL policy of the surfaces lives here.
//!
//! API CONTRACT (skeleton): `sql`, `stream`, `batch` and the CLI code against these signatures.
//! Bodies marked `todo!()` are being filled in. Keep every public signature; add freely.
#![allow(unused_variables, missing_docs)]

use arrow::array::{ArrayRef, FixedSizeListArray, RecordBatch};
use arrow::datatypes::Schema;
use ndarray::{Array2, ArrayView2};

use crate::error::Result;
use crate::model::{Autoencoder, ScoreOptions};

/// Which columns of a table are features (training time).
#[derive(Debug, Clone, Default)]
pub enum FeatureSelection {
    /// Every numeric scalar column, or the single float-vector column if that is all there is.
    #[default]
    All,
    /// Exactly these columns, in this order.
    Columns(Vec<String>),
    /// Every numeric column except these.
    Exclude(Vec<String>),
}

/// Where a model's features sit in a schema: n numeric scalar columns, or one vector column.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureLayout {
    /// Column indices, one per feature, in model order.
    Scalars(Vec<usize>),
    /// One FixedSizeList / List column of floats of this width.
    Vector { column: usize, width: usize },
}

impl FeatureLayout {
    /// Resolve a training-time selection; returns the layout and the feature names
    /// (`name[i]` for a vector column).
    pub fn select(schema: &Schema, selection: &FeatureSelection) -> Result<(Self, Vec<String>)> {
        todo!("io")
    }
    /// Find a trained model's features in `schema` by name (or one vector column of the right
    /// width). Errors name the missing column and list what the model expects.
    pub fn for_model(schema: &Schema, model: &Autoencoder) -> Result<Self> {
        todo!("io")
    }
    /// Number of features.
    pub fn width(&self) -> usize {
        todo!("io")
    }
}

/// `[rows, features]` from a batch; NULL → NaN. Any integer / float / decimal type is accepted.
pub fn batch_to_matrix(batch: &RecordBatch, layout: &FeatureLayout) -> Result<Array2<f32>> {
    todo!("io")
}

/// `[rows, features]` from n numeric scalar arrays, or from one FixedSizeList/List float array.
/// `input` names the arrays in errors (e.g. `ae_encode argument 2`). NULL → NaN; a NULL list row
/// gives a row of NaN.
pub fn arrays_to_matrix(arrays: &[ArrayRef], input: &str) -> Result<Array2<f32>> {
    todo!("io")
}

/// `FixedSizeList<Float32>[cols]` with one list per matrix row.
pub fn matrix_to_fixed_size_list(m: ArrayView2<f32>) -> FixedSizeListArray {
    todo!("io")
}

/// `true` for rows holding at least one NaN.
pub fn rows_with_missing(m: ArrayView2<f32>) -> Vec<bool> {
    todo!("io")
}

/// The input batch plus `reconstruction_error` (Float64), `is_anomaly` (Boolean) and, with
/// `options.per_feature`, `feature_errors` (FixedSizeList<Float32>). Rows with NULL features under
/// the reject policy get NULL outputs.
pub fn score_batch(
    model: &Autoencoder,
    batch: &RecordBatch,
    layout: &FeatureLayout,
    options: &ScoreOptions,
) -> Result<RecordBatch> {
    todo!("io")
}

/// The input batch plus `latent` (FixedSizeList<Float32>[latent]).
pub fn encode_batch(
    model: &Autoencoder,
    batch: &RecordBatch,
    layout: &FeatureLayout,
) -> Result<RecordBatch> {
    todo!("io")
}

/// Train a model from record batches (the feature columns are copied into one f32 matrix).
pub fn fit_batches(
    batches: &[RecordBatch],
    selection: &FeatureSelection,
    config: &crate::model::TrainConfig,
    observer: &mut dyn crate::model::TrainObserver,
) -> Result<Autoencoder> {
    todo!("io")
}

#[allow(dead_code)]
fn _unused(_: ArrayView2<f32>, _: &Schema) {}
