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
use crate::arrow::{
    FeatureLayout, IS_ANOMALY, RECONSTRUCTION_ERROR, append_threshold, encode_batch, score_batch,
};
use crate::error::{Error, Result};
use crate::model::{AdaptiveThreshold, AdaptiveThresholdConfig, Autoencoder, ScoreOptions};

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
    /// Judge each batch against `Q(q)` of the last `window` errors before it instead of a fixed
    /// threshold (`score` only; the Kafka stage's adaptive threshold, over the file in order).
    pub adaptive: Option<AdaptiveThresholdConfig>,
}

impl Default for JobOptions {
    fn default() -> Self {
        JobOptions {
            input_format: None,
            output_format: None,
            batch_size: DEFAULT_BATCH_SIZE,
            score: ScoreOptions::default(),
            adaptive: None,
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
/// `is_anomaly` and, with `options.score.per_feature`, `feature_errors`. With
/// `options.adaptive`, also `threshold`: each batch is judged against the quantile of the last
/// `window` errors of the rows before it (the given or model's threshold until `window` rows were
/// scored), as the Kafka stage's adaptive threshold does.
/// `progress` is called after each batch with the totals so far.
pub fn score_file(
    model: &Autoencoder,
    input: &Path,
    output: &Path,
    options: &JobOptions,
    progress: &mut dyn FnMut(&JobReport),
) -> Result<JobReport> {
    let Some(config) = options.adaptive else {
        return run(input, output, options, model, progress, |batch, layout| {
            score_batch(model, batch, layout, &options.score)
        });
    };
    // Batches reach `apply` one at a time, in file order, on one thread.
    let window = std::sync::Mutex::new(AdaptiveThreshold::new(config)?);
    run(input, output, options, model, progress, |batch, layout| {
        let mut window = window.lock().unwrap_or_else(|p| p.into_inner());
        let judge = window
            .threshold()
            .or(options.score.threshold)
            .or(model.threshold());
        let score = ScoreOptions {
            threshold: judge,
            ..options.score.clone()
        };
        let scored = score_batch(model, batch, layout, &score)?;
        if let Some(errors) = scored
            .column_by_name(RECONSTRUCTION_ERROR)
            .and_then(|c| c.as_primitive_opt::<::arrow::datatypes::Float64Type>())
        {
            let finite: Vec<f64> = errors.iter().flatten().collect();
            window.observe(&finite);
        }
        match judge {
            Some(t) => append_threshold(&scored, t),
            None => Ok(scored),
        }
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

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use ::arrow::datatypes::Float64Type;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::model::{Silent, TrainConfig};

    /// `n` rows of three correlated features, `+shift` on every feature from row `from` on.
    fn rows(n: usize, from: usize, shift: f32, seed: u64) -> ndarray::Array2<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        ndarray::Array2::from_shape_fn((n, 3), |(i, j)| {
            let t = (i as f32 * 0.37).sin();
            let v = t * (1.0 + j as f32) + rng.random_range(-0.05f32..0.05);
            if i >= from { v + shift } else { v }
        })
    }

    /// A file whose rows shift halfway: the model's fixed threshold flags most rows after the
    /// shift; `--threshold-quantile` (the adaptive threshold) flags about `1 − q` of them once its
    /// window holds shifted rows only, and writes the threshold each row was judged against.
    #[test]
    fn an_adaptive_threshold_over_a_file_follows_a_shift() {
        let names: Vec<String> = (0..3).map(|j| format!("f{j}")).collect();
        let config = TrainConfig {
            epochs: 10,
            seed: 3,
            ..TrainConfig::default()
        };
        let model = Autoencoder::fit(
            rows(2000, 2000, 0.0, 1).view(),
            &names,
            &config,
            &mut Silent,
        )
        .unwrap();
        let (n, shift_at, window) = (8000, 4000, 1000);
        let x = rows(n, shift_at, 3.0, 2);
        let mut csv = String::from("f0,f1,f2\n");
        for r in x.rows() {
            let _ = writeln!(csv, "{},{},{}", r[0], r[1], r[2]);
        }
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.csv");
        std::fs::write(&input, csv).unwrap();
        let flags = |adaptive: Option<AdaptiveThresholdConfig>, name: &str| {
            let output = dir.path().join(name);
            let options = JobOptions {
                batch_size: 100,
                adaptive,
                ..JobOptions::default()
            };
            score_file(&model, &input, &output, &options, &mut |_| {}).unwrap();
            let source = super::super::FileSource::open(&output, None).unwrap();
            let mut flags = Vec::new();
            let mut thresholds = Vec::new();
            for b in source.batches(None, 1000).unwrap() {
                let b = b.unwrap();
                flags.extend(b.column_by_name(IS_ANOMALY).unwrap().as_boolean().iter());
                if let Some(t) = b.column_by_name("threshold") {
                    thresholds.extend(t.as_primitive::<Float64Type>().iter().flatten());
                }
            }
            (flags, thresholds)
        };
        let fraction = |f: &[Option<bool>]| {
            f.iter().filter(|v| **v == Some(true)).count() as f64 / f.len() as f64
        };
        let (fixed, none) = flags(None, "fixed.csv");
        assert!(none.is_empty(), "a fixed threshold adds no column");
        assert!(fraction(&fixed[shift_at..]) > 0.5);
        let q = 0.99;
        let (adaptive, thresholds) = flags(
            Some(AdaptiveThresholdConfig {
                window,
                quantile: q,
            }),
            "adaptive.csv",
        );
        assert_eq!(thresholds.len(), n);
        assert_eq!(
            thresholds[0],
            model.threshold().unwrap(),
            "the model's until the window fills"
        );
        let settled = fraction(&adaptive[shift_at + window + 100..]);
        assert!(settled <= 2.0 * (1.0 - q), "{settled}");
        assert!(thresholds[n - 1] > 5.0 * thresholds[shift_at - 1]);
    }
}
