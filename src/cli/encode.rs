//! `aeflow encode`: add the `latent` vector to every row of a file, streaming it batch by batch.

use std::path::PathBuf;

use super::console::{JobProgress, Verbosity, duration, rate, say};
use crate::batch::{FileFormat, JobOptions, encode_file, known_row_count};
use crate::error::{Error, Result};
use crate::model::Autoencoder;

/// Arguments of `aeflow encode`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The model file.
    #[arg(long, short = 'm', value_name = "MODEL")]
    pub model: PathBuf,
    /// Rows to encode: a Parquet, CSV or NDJSON file.
    #[arg(long, short = 'i', value_name = "FILE")]
    pub input: PathBuf,
    /// Where to write the input rows plus `latent` (CSV gets `latent_0`, `latent_1`, …).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,
    /// Input format, when the extension does not tell.
    #[arg(long, value_name = "parquet|csv|ndjson")]
    pub format: Option<FileFormat>,
    /// Output format, when the extension does not tell.
    #[arg(long, value_name = "parquet|csv|ndjson")]
    pub output_format: Option<FileFormat>,
    /// Rows per batch (memory use grows with it, not with the file).
    #[arg(long, value_name = "N", default_value_t = crate::batch::DEFAULT_BATCH_SIZE)]
    pub batch_size: usize,
    /// Print nothing but errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Run `aeflow encode`.
pub fn run(args: Args) -> Result<()> {
    let verbosity = Verbosity::detect(args.quiet);
    if args.batch_size == 0 {
        return Err(Error::config("--batch-size", "expected at least 1"));
    }
    let model = Autoencoder::load(&args.model)?;
    let options = JobOptions {
        input_format: args.format,
        output_format: args.output_format,
        batch_size: args.batch_size,
        ..JobOptions::default()
    };
    let total = known_row_count(&args.input, args.format);
    let mut progress = JobProgress::new(verbosity, "encoding", total);
    let report = encode_file(&model, &args.input, &args.output, &options, &mut |r| {
        progress.update(r);
    })?;
    drop(progress);
    let nulls = if report.null_rows > 0 {
        format!(
            "; {} rows with NULL features got a NULL latent",
            report.null_rows
        )
    } else {
        String::new()
    };
    say(
        verbosity,
        &format!(
            "encoded {} rows of {} → {} ({} latent values per row){nulls} ({}, {})",
            report.rows,
            args.input.display(),
            args.output.display(),
            model.latent_dim(),
            duration(report.seconds),
            rate(report.rows as f64 / report.seconds.max(1e-9), "rows")
        ),
    )
}
