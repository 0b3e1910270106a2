//! `score` and `encode` over a whole file, one batch at a time: read → model → write.
//!
//! Memory: one input batch, its output batch and the writer's open row group, whatever the
//! file size. The output appears only when complete (see [`BatchWriter`]).

use std::path::Path;
use std::time::Instant;

use ::arrow::array::{Array, AsArray, RecordBatch};

use super::format::FileFormat;
use super::in_file;
use super::read::{DEFAULT_BATCH_SIZE, FileSource};
use super::write::BatchWriter;
use crate::arrow::{FeatureLayout, IS_ANOMALY, RECONSTRUCTION_ERROR, encode_batch, score_batch};
use crate::error::{Error, Result};
use crate::model::{Autoencoder, ScoreOptions};

/// How to run a batch job.
#[derive(Debug, Clone)]
pub struct JobOptions {
    /// Input format; `None`: from the input's extension.
    pub input_format: Option<FileFormat>,
    /// Output format; `None`: from the output's extension.
    pub output_format: Option<FileFormat>,
    /// Rows per batch.
    pub batch_size: usize,
    /// Scoring options (`score` only).
    pub score: ScoreOptions,
}

impl Default for JobOptions {
    fn default() -> Self {
        JobOptions {
            input_format: None,
            output_format: None,
            batch_size: DEFAULT_BATCH_SIZE,
            score: ScoreOptions::default(),
        }
    }
}

/// What a job did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobReport {
    /// Rows read and written.
    pub rows: u64,
    /// Batches processed.
    pub batches: u64,
    /// Rows flagged `is_anomaly` (`score` only).
    pub anomalies: u64,
    /// Rows with NULL outputs (a NULL feature under the reject policy).
    pub null_rows: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Score every row of `input` into `output`: the input columns plus `reconstruction_error`,
/// `is_anomaly` and, with `options.score.per_feature`, `feature_errors`.
/// `progress` is called after each batch with the totals so far.
pub fn score_file(
    model: &Autoencoder,
    input: &Path,
    output: &Path,
    options: &JobOptions,
    progress: &mut dyn FnMut(&JobReport),
) -> Result<JobReport> {
    run(input, output, options, model, progress, |batch, layout| {
        score_batch(model, batch, layout, &options.score)
    })
}

/// Encode every row of `input` into `output`: the input columns plus `latent`.
pub fn encode_file(
    model: &Autoencoder,
    input: &Path,
    output: &Path,
    options: &JobOptions,
    progress: &mut dyn FnMut(&JobReport),
) -> Result<JobReport> {
    run(input, output, options, model, progress, |batch, layout| {
        encode_batch(model, batch, layout)
    })
}

fn run(
    input: &Path,
    output: &Path,
    options: &JobOptions,
    model: &Autoencoder,
    progress: &mut dyn FnMut(&JobReport),
    apply: impl Fn(&RecordBatch, &FeatureLayout) -> Result<RecordBatch>,
) -> Result<JobReport> {
    let start = Instant::now();
    // Both formats are settled before any work, so a bad output name fails fast.
    let output_format = FileFormat::resolve(options.output_format, output)?;
    let source = FileSource::open(input, options.input_format)?;
    let layout =
        FeatureLayout::for_model(&source.schema(), model).map_err(|e| in_file(e, input))?;
    let mut writer: Option<BatchWriter> = None;
    let mut report = JobReport::default();
    for batch in source.batches(None, options.batch_size)? {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        let out = apply(&batch, &layout).map_err(|e| in_file(e, input))?;
        let w = match writer.as_mut() {
            Some(w) => w,
            None => writer.insert(BatchWriter::create(output, output_format, out.schema())?),
        };
        w.write(&out)?;
        count(&out, &mut report);
        report.seconds = start.elapsed().as_secs_f64();
        progress(&report);
    }
    let Some(writer) = writer else {
        return Err(Error::data(input.display().to_string(), "has no rows"));
    };
    writer.finish()?;
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

fn count(out: &RecordBatch, report: &mut JobReport) {
    report.rows += out.num_rows() as u64;
    report.batches += 1;
    if let Some(flags) = out.column_by_name(IS_ANOMALY) {
        report.anomalies += flags.as_boolean().true_count() as u64;
    }
    let outputs = out
        .column_by_name(RECONSTRUCTION_ERROR)
        .or_else(|| out.column_by_name(crate::arrow::LATENT));
    if let Some(c) = outputs {
        report.null_rows += c.null_count() as u64;
    }
}
