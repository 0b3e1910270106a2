//! Autoencoders in SQL: DataFusion functions, a model registry and `CREATE MODEL`.
//!
//! One call, [`register`], wires aeflow into a DataFusion [`SessionContext`]. Then SQL can
//! compress, reconstruct and score rows in place:
//!
//! | function | result |
//! |---|---|
//! | `ae_encode(model, x1, …, xn)` | `FixedSizeList<Float32>[latent]` |
//! | `ae_decode(model, latent)` | `FixedSizeList<Float32>[n]`, original units |
//! | `ae_reconstruct(model, x1, …, xn)` | `FixedSizeList<Float32>[n]`, original units |
//! | `ae_reconstruction_error(model, x1, …, xn)` | `Float64` |
//! | `ae_feature_errors(model, x1, …, xn)` | `FixedSizeList<Float32>[n]` |
//! | `ae_is_anomaly(model, x1, …, xn [, threshold])` | `Boolean` |
//! | `ae_model_info('model')` | table: one row describing the model |
//! | `ae_training_history('model')` | table: one row per epoch |
//!
//! `model` is a string literal naming a model of the session's [`ModelRegistry`]. The features
//! are `n` numeric columns or one vector column; NULL features give NULL. [`execute`] also runs
//! `CREATE [OR REPLACE] MODEL … OPTIONS (…) AS SELECT …`, `DROP MODEL` and `SHOW MODELS`.
//!
//! ```
//! use datafusion::prelude::SessionContext;
//! use aeflow::sql::{ModelRegistry, execute, register};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> aeflow::Result<()> {
//! let ctx = SessionContext::new();
//! register(&ctx, ModelRegistry::new());
//! execute(&ctx, "CREATE TABLE t AS SELECT value AS id, sin(value / 10.0) AS a, \
//!                cos(value / 10.0) AS b, sin(value / 5.0) AS c FROM generate_series(1, 200)").await?;
//! execute(&ctx, "CREATE MODEL m OPTIONS (hidden_units = [6, 2, 6], epochs = 5, seed = 7) \
//!                AS SELECT a, b, c FROM t").await?;
//! let top = execute(&ctx, "SELECT id, ae_reconstruction_error('m', a, b, c) AS err \
//!                          FROM t ORDER BY err DESC LIMIT 3").await?;
//! let batches = top.collect().await?;
//! assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
//! # Ok(())
//! # }
//! ```

mod args;
mod create_model;
mod decode;
mod encode;
mod feature_errors;
mod is_anomaly;
mod model_info;
mod reconstruct;
mod reconstruction_error;
mod registry;
mod session;
mod show_models;
pub mod statement;
mod table_args;
mod train_options;
mod training_history;

pub use decode::AeDecode;
pub use encode::AeEncode;
pub use feature_errors::AeFeatureErrors;
pub use is_anomaly::AeIsAnomaly;
pub use model_info::AeModelInfo;
pub use reconstruct::AeReconstruct;
pub use reconstruction_error::AeReconstructionError;
pub use registry::{MODEL_EXTENSIONS, ModelRegistry, ModelSource, RegisteredModel};
pub use session::{execute, register, registry, scalar_functions, table_functions};
pub use statement::split_statements;
pub use train_options::{TrainOptions, VALID_OPTIONS};
pub use training_history::AeTrainingHistory;

pub(crate) use show_models::show_models;

#[cfg(doc)]
use datafusion::prelude::SessionContext;
