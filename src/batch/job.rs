//! `score` and `encode` over a whole file, one batch at a time: read → model → write.
//!
//! Reading, the model and writing run on three threads joined by bounded queues, so decoding,
//! scoring and encoding overlap. Memory: a few batches in flight plus the writer's open row
//! group, whatever the file size. The output appears only when complete (see [`BatchWriter`]).

use std::path::Path;
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use ::arrow::array::{Array, AsArray, RecordBatch};

use super::format::FileFormat;
use super::in_file;
use super::read::{DEFAULT_BATCH_SIZE, FileSource};
use super::write::BatchWriter;
use crate::arrow::{FeatureLayout, IS_ANOMALY, RECONSTRUCTION_ERROR, encode_batch, score_batch};
use crate::error::{Error, Result};
use crate::model::{Autoencoder, ScoreOptions};

/// Batches waiting between two stages of a job (reader → model → writer).
const QUEUE: usize = 2;

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
    let batches = source.batches(None, options.batch_size)?;
    let name = input.display().to_string();
    std::thread::scope(|scope| {
        // Reader → (this thread: the model) → writer, each stage on its own thread with at most
        // QUEUE batches waiting between stages, so memory stays a handful of batches.
        let (in_tx, in_rx) = sync_channel::<Result<RecordBatch>>(QUEUE);
        let reader = scope.spawn(move || {
            for batch in batches {
                let failed = batch.is_err();
                if in_tx.send(batch).is_err() || failed {
                    break;
                }
            }
        });
        let (out_tx, out_rx) = sync_channel::<RecordBatch>(QUEUE);
        let writer = scope.spawn(move || -> Result<Option<BatchWriter>> {
            let mut writer: Option<BatchWriter> = None;
            for out in out_rx {
                let w = match writer.as_mut() {
                    Some(w) => w,
                    None => {
                        writer.insert(BatchWriter::create(output, output_format, out.schema())?)
                    }
                };
                w.write(&out)?;
            }
            Ok(writer)
        });

        let mut report = JobReport::default();
        let mut failure = None;
        for batch in in_rx {
            let out = batch.and_then(|b| {
                if b.num_rows() == 0 {
                    return Ok(None);
                }
                apply(&b, &layout).map(Some).map_err(|e| in_file(e, input))
            });
            match out {
                Ok(None) => {}
                Ok(Some(out)) => {
                    count(&out, &mut report);
                    if out_tx.send(out).is_err() {
                        break; // the writer failed; its error is collected below
                    }
                    report.seconds = start.elapsed().as_secs_f64();
                    progress(&report);
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        drop(out_tx);
        let written = writer
            .join()
            .map_err(|_| Error::Internal("the output writer panicked".into()))?;
        reader
            .join()
            .map_err(|_| Error::data(&name, "the reader failed on this file (corrupt data?)"))?;
        // On any failure the unfinished writer is dropped here, which removes its temporary file.
        if let Some(e) = failure {
            return Err(e);
        }
        let Some(writer) = written? else {
            return Err(Error::data(&name, "has no rows"));
        };
        writer.finish()?;
        report.seconds = start.elapsed().as_secs_f64();
        Ok(report)
    })
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
