//! `aeflow score`: add `reconstruction_error`, `is_anomaly` (and `feature_errors`, and with
//! `--threshold-quantile` the adaptive `threshold`) to every row of a file, streaming it batch by
//! batch.

use std::path::PathBuf;

use super::console::{JobProgress, Verbosity, duration, rate, say};
use crate::batch::{FileFormat, JobOptions, known_row_count, score_file};
use crate::error::{Error, Result};
use crate::model::{AdaptiveThresholdConfig, Autoencoder, ScoreOptions};

/// Arguments of `aeflow score`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The model file.
    #[arg(long, short = 'm', value_name = "MODEL")]
    pub model: PathBuf,
    /// Rows to score: a Parquet, CSV or NDJSON file.
    #[arg(long, short = 'i', value_name = "FILE")]
    pub input: PathBuf,
    /// Where to write the input rows plus their scores.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,
    /// Also add `feature_errors`, the squared error of every feature.
    #[arg(long)]
    pub per_feature: bool,
    /// Flag rows above this reconstruction error instead of the model's calibrated threshold.
    #[arg(long, value_name = "F")]
    pub threshold: Option<f64>,
    /// Judge each batch against this quantile of the errors of the last --threshold-window rows
    /// before it (an adaptive threshold, as `aeflow stream --threshold adaptive`); adds a
    /// `threshold` column.
    #[arg(long, value_name = "Q")]
    pub threshold_quantile: Option<f64>,
    /// Rows whose errors the adaptive threshold reads (with --threshold-quantile).
    #[arg(long, value_name = "N", default_value_t = crate::model::DEFAULT_WINDOW)]
    pub threshold_window: usize,
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

/// Run `aeflow score`.
pub fn run(args: Args) -> Result<()> {
    let verbosity = Verbosity::detect(args.quiet);
    if let Some(t) = args.threshold
        && !t.is_finite()
    {
        return Err(Error::config(
            "--threshold",
            format!("expected a finite number, got {t}"),
        ));
    }
    if args.batch_size == 0 {
        return Err(Error::config("--batch-size", "expected at least 1"));
    }
    let adaptive = args
        .threshold_quantile
        .map(|quantile| {
            let config = AdaptiveThresholdConfig {
                window: args.threshold_window,
                quantile,
            };
            config.validate().map(|()| config).map_err(|e| match e {
                Error::Config { option, message } => Error::config(
                    format!(
                        "--threshold-{}",
                        if option == "window" {
                            "window"
                        } else {
                            "quantile"
                        }
                    ),
                    message,
                ),
                other => other,
            })
        })
        .transpose()?;
    let model = Autoencoder::load(&args.model)?;
    let options = JobOptions {
        input_format: args.format,
        output_format: args.output_format,
        batch_size: args.batch_size,
        score: ScoreOptions {
            per_feature: args.per_feature,
            threshold: args.threshold,
        },
        adaptive,
    };
    let total = known_row_count(&args.input, args.format);
    let mut progress = JobProgress::new(verbosity, "scoring", total);
    let report = score_file(&model, &args.input, &args.output, &options, &mut |r| {
        progress.update(r);
    })?;
    drop(progress);
    let threshold = args.threshold.or(model.threshold());
    let flagged = match (threshold, args.threshold_quantile) {
        (_, Some(q)) => format!(
            "{} anomalies above the {q} quantile of the last {} errors (column `threshold`)",
            report.anomalies, args.threshold_window
        ),
        (Some(t), None) => format!("{} anomalies above threshold {t:.5}", report.anomalies),
        (None, None) => "no threshold, so no row flagged (give --threshold)".to_string(),
    };
    let nulls = if report.null_rows > 0 {
        format!(
            "; {} rows with NULL features got NULL scores",
            report.null_rows
        )
    } else {
        String::new()
    };
    say(
        verbosity,
        &format!(
            "scored {} rows of {} → {}: {flagged}{nulls} ({}, {})",
            report.rows,
            args.input.display(),
            args.output.display(),
            duration(report.seconds),
            rate(report.rows as f64 / report.seconds.max(1e-9), "rows")
        ),
    )
}
