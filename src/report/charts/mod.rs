//! The report's charts, one per file, each drawn with plotters' SVG backend into a string.

mod canvas;
mod error_distribution;
mod feature_errors;
mod latent;
mod loss;

pub use error_distribution::{InputErrors, error_distribution};
pub use feature_errors::anomaly_features;
pub use latent::latent_space;
pub use loss::loss_curves;
