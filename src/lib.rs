//! aeflow: autoencoders in data pipelines.
//!
//! Train an autoencoder on Arrow data (or a plain f32 matrix), then compress and score rows where
//! they live: Arrow record batches, Parquet / CSV / NDJSON batch jobs, SQL (DataFusion functions)
//! and Kafka streams. Data flows one way: input → Arrow → f32 matrix `[rows, features]` → network
//! → Arrow columns (`latent`, `reconstruction_error`, `is_anomaly`, `feature_errors`) → output.
//!
//! # Example: train from a matrix, score a record batch
//!
//! ```
//! use std::sync::Arc;
//!
//! use aeflow::arrow::{FeatureLayout, encode_batch, score_batch};
//! use aeflow::model::{ScoreOptions, Silent};
//! use aeflow::{Autoencoder, TrainConfig};
//! use arrow::array::{Array, AsArray, Float64Array, RecordBatch, StringArray};
//! use arrow::datatypes::Float64Type;
//! use ndarray::Array2;
//!
//! // 400 rows of three features that move together: y = 2x, z = x + y.
//! let x = Array2::from_shape_fn((400, 3), |(i, j)| {
//!     let t = (i as f32 * 0.05).sin();
//!     [t, 2.0 * t, 3.0 * t][j]
//! });
//! let names = ["x", "y", "z"].map(String::from);
//! let config = TrainConfig { epochs: 20, ..TrainConfig::default() };
//! let model = Autoencoder::fit(x.view(), &names, &config, &mut Silent)?;
//!
//! // Any record batch holding the feature columns (by name, any numeric type) can be scored;
//! // other columns are carried through. The last row breaks the pattern.
//! let batch = RecordBatch::try_from_iter([
//!     ("id", Arc::new(StringArray::from(vec!["a", "b", "c"])) as _),
//!     ("x", Arc::new(Float64Array::from(vec![0.5, -0.2, 0.5])) as _),
//!     ("y", Arc::new(Float64Array::from(vec![1.0, -0.4, -1.0])) as _),
//!     ("z", Arc::new(Float64Array::from(vec![1.5, -0.6, 1.5])) as _),
//! ])?;
//! let layout = FeatureLayout::for_model(&batch.schema(), &model)?;
//! let scored = score_batch(&model, &batch, &layout, &ScoreOptions::default())?;
//! let error = scored["reconstruction_error"].as_primitive::<Float64Type>();
//! assert!(error.value(2) > error.value(0));
//! assert_eq!(scored["id"].as_ref(), batch["id"].as_ref());
//!
//! // The latent vector of each row, as a FixedSizeList<Float32> column.
//! let encoded = encode_batch(&model, &batch, &layout)?;
//! assert_eq!(encoded["latent"].len(), 3);
//! # Ok::<(), aeflow::Error>(())
//! ```
//!
//! Training straight from record batches is [`fit_batches`](crate::arrow::fit_batches); files are
//! handled by [`batch`] (`read_training_data`, `score_file`, `encode_file`), which
//! the `aeflow` binary wraps.
//!
//! # Feature flags
//! - `io`: Arrow conversion and Parquet / CSV / NDJSON jobs (`arrow`, `batch`).
//! - `sql`: DataFusion functions and `CREATE MODEL` (`sql`).
//! - `kafka`: the Kafka stage (`stream`).
//! - `report`: the HTML report (`report`).
//! - `cli`: the `aeflow` binary.
//!
//! All are on by default; without them the crate is the network and the model alone.
//! Off by default: `ballista` (aeflow's SQL on a Ballista cluster: `distributed`, `aeflow cluster`)
//! and `polars` (encode, score and train on Polars frames: `polars`).

// No library function over 120 lines (threshold in clippy.toml): split long ones along the phases
// their docs name. Tests' tables are exempt.
#![cfg_attr(not(test), warn(clippy::too_many_lines))]

pub mod error;
pub mod model;
pub mod nn;

#[cfg(feature = "io")]
pub mod arrow;
#[cfg(feature = "io")]
pub mod batch;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "ballista")]
pub mod distributed;
#[cfg(feature = "polars")]
pub mod polars;
#[cfg(feature = "report")]
pub mod report;
#[cfg(feature = "sql")]
pub mod sql;
#[cfg(feature = "kafka")]
pub mod stream;

pub use error::{Error, Result};
pub use model::{Autoencoder, TrainConfig};
