//! Arrow columns ⇄ f32 matrices, in one place. The NULL policy of the surfaces lives here.
//!
//! Data flows one way: a [`RecordBatch`](::arrow::array::RecordBatch) → the feature columns as an
//! f32 matrix `[rows, features]` with the rows the model cannot take ([`FeatureRows`]; without
//! the check, [`batch_to_matrix`]) → the model → new Arrow columns appended to the untouched input
//! ([`score_batch`], [`encode_batch`]).
//!
//! # Feature columns
//! - numeric scalar columns of any integer, float or decimal type (one feature each), or
//! - exactly one vector column: `FixedSizeList` or `List`/`LargeList` of numbers (one feature per
//!   element; the features are named `v[0]`, `v[1]`, … after the column `v`).
//!
//! # NULL policy
//! A NULL (or NaN) feature becomes NaN in the matrix. Under [`MissingPolicy::Reject`] such a row
//! is not shown to the model and its outputs are NULL; under [`MissingPolicy::ImputeMean`] the
//! model replaces the NaN by the training mean. A ±inf feature is never shown to the model. The
//! rule is written once, in [`FeatureRows`], which reads the columns and finds the rows the model
//! cannot take in one pass; the batch jobs, SQL and the Kafka stage all use it.
//!
//! # Output columns
//! Named once ([`LATENT`], [`RECONSTRUCTION_ERROR`], [`IS_ANOMALY`], [`FEATURE_ERRORS`],
//! [`THRESHOLD`]):
//!
//! | column | type | from |
//! |---|---|---|
//! | `latent` | `FixedSizeList<Float32>[latent_dim]` | [`encode_batch`] |
//! | `reconstruction_error` | `Float64` | [`score_batch`] |
//! | `is_anomaly` | `Boolean` (all NULL when there is no threshold) | [`score_batch`] |
//! | `feature_errors` | `FixedSizeList<Float32>[features]` | [`score_batch`] with `per_feature` |
//! | `threshold` | `Float64` (NULL where the error is) | [`append_threshold`] |
//!
//! [`MissingPolicy::Reject`]: crate::model::MissingPolicy::Reject
//! [`MissingPolicy::ImputeMean`]: crate::model::MissingPolicy::ImputeMean

mod columns;
mod feature_columns;
mod fit;
mod from_matrix;
mod numeric;
mod reservoir;
mod score;
mod select;
mod to_matrix;
mod validity;

pub use columns::{FEATURE_ERRORS, IS_ANOMALY, LATENT, RECONSTRUCTION_ERROR, THRESHOLD};
pub use feature_columns::{feature_columns, feature_columns_schema};
pub use fit::{TrainingSample, fit_batches};
pub use from_matrix::{
    fixed_size_list_type, matrix_to_fixed_size_list, matrix_to_fixed_size_list_masked,
};
pub use reservoir::Reservoir;
pub use score::{
    append_threshold, encode_batch, encode_fields, encode_rows, score_batch, score_fields,
    score_rows,
};
pub(crate) use select::vector_base;
pub use select::{FeatureLayout, FeatureSelection};
pub use to_matrix::{arrays_to_matrix, batch_to_matrix, rows_with_missing, vector_to_matrix};
pub use validity::{Fault, FeatureRows, RowFault};
