//! aeflow: autoencoders in data pipelines.

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
#[cfg(feature = "report")]
pub mod report;
#[cfg(feature = "sql")]
pub mod sql;
#[cfg(feature = "kafka")]
pub mod stream;

pub use error::{Error, Result};
pub use model::{Autoencoder, TrainConfig};
