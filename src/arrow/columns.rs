//! The names of the columns the model's outputs are appended as: one definition for every surface
//! (batch files, Polars frames, the Kafka stage's JSON fields and IPC columns, the CLI).

/// The latent vector, `FixedSizeList<Float32>[latent_dim]` ([`encode_batch`](super::encode_batch)).
pub const LATENT: &str = "latent";
/// The row's reconstruction error, `Float64` ([`score_batch`](super::score_batch)).
pub const RECONSTRUCTION_ERROR: &str = "reconstruction_error";
/// The anomaly flag, `Boolean` ([`score_batch`](super::score_batch)).
pub const IS_ANOMALY: &str = "is_anomaly";
/// The per-feature errors, `FixedSizeList<Float32>[features]` ([`score_batch`](super::score_batch)
/// with `per_feature`).
pub const FEATURE_ERRORS: &str = "feature_errors";
/// The threshold a row's `is_anomaly` was judged against, `Float64`, when it is not the model's
/// fixed one (an adaptive threshold in the Kafka stage, `aeflow score --threshold-quantile`):
/// [`append_threshold`](super::append_threshold).
pub const THRESHOLD: &str = "threshold";
