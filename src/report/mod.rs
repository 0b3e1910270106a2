//! A self-contained HTML report of a model and, optionally, of an input scored with it.
//!
//! The page shows the model summary (kind, layers, features, scaler, threshold, dead latent
//! units, training time), the training and validation loss per epoch, the distribution of
//! reconstruction errors (training quantiles and the input's errors) with the threshold, a
//! 2-D view of the latent space coloured by error, and the per-feature errors of the top
//! anomalies. Charts are drawn with plotters' SVG backend and inlined, so the one file opens
//! from disk with no network access.
//!
//! ```no_run
//! use aeflow::report::{InputProfiler, ReportOptions, render, write_html};
//! # fn main() -> aeflow::Result<()> {
//! # let model: aeflow::Autoencoder = todo!();
//! # let rows = ndarray::Array2::<f32>::zeros((0, 0));
//! let options = ReportOptions::default();
//! let mut profiler = InputProfiler::new(&model, "data.parquet", &options);
//! profiler.add(rows.view())?; // once per batch, in file order
//! let findings = profiler.finish()?;
//! let html = render("model.safetensors", &model.summary(), Some(&findings), &options)?;
//! write_html(std::path::Path::new("report.html"), &html)?;
//! # Ok(()) }
//! ```

mod charts;
mod colors;
mod findings;
mod format;
mod html;
mod options;
mod output;
mod page;
mod pca;
mod profile;
mod quantile;
mod scale;
mod summary;
mod top_n;

pub use findings::{Anomaly, InputFindings, LatentSample};
pub use options::ReportOptions;
pub use output::write_html;
pub use page::render;
pub use pca::Pca;
pub use profile::InputProfiler;
