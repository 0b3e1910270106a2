//! Encode, score and train on Polars frames (cargo feature `polars`).
//!
//! [`AutoencoderFrame`] adds `ae_score`, `ae_encode` and `ae_train` to Polars'
//! [`DataFrame`](::polars::prelude::DataFrame) and [`LazyFrame`](::polars::prelude::LazyFrame).
//! They take the same road as every other surface, and give the same numbers as
//! [`crate::arrow`] on the same values:
//!
//! Polars columns → Arrow arrays (sharing the memory: no copy for numeric columns, see
//! [`to_record_batches`]) → f32 matrix `[rows, features]` → model → Arrow columns → Polars columns.
//!
//! Feature columns are named explicitly, in the model's feature order, and may be any Polars
//! integer or float type (Int8 … UInt64, Float32, Float64). A NULL feature gives NULL outputs,
//! unless the model was trained to impute missing values. Other columns are carried through.
//!
//! ```
//! use aeflow::model::{Silent, TrainConfig};
//! use aeflow::polars::AutoencoderFrame;
//! use polars::prelude::*;
//!
//! let t: Vec<f64> = (0..200).map(|i| (f64::from(i) * 0.1).sin()).collect();
//! let df = df!(
//!     "x" => &t,
//!     "y" => t.iter().map(|v| 2.0 * v).collect::<Vec<_>>(),
//!     "z" => t.iter().map(|v| 3.0 * v).collect::<Vec<_>>(),
//! )?;
//! let config = TrainConfig { epochs: 5, seed: 1, ..TrainConfig::default() };
//! let model = df.ae_train(&["x", "y", "z"], &config, &mut Silent)?;
//! let scored = df.ae_score(&model, &["x", "y", "z"])?;
//! assert_eq!(scored.width(), 5); // x, y, z, reconstruction_error, is_anomaly
//! let encoded = df.lazy().ae_encode(&model, &["x", "y", "z"])?;
//! assert!(encoded.column("latent").is_ok());
//! # Ok::<(), aeflow::Error>(())
//! ```

mod frame;
mod from_arrow;
mod to_arrow;

pub use frame::AutoencoderFrame;
pub use to_arrow::to_record_batches;
