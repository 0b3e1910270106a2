//! Scoring an input for the report, batch by batch, in bounded memory.
//!
//! Memory is `O(batch + sample·features + top·features + error_sample)`, whatever the size
//! of the input: errors and latent rows are reservoir samples, the anomalies a top-N heap.
//! Rows are numbered from 0 in the order they are added.

use ndarray::{Array2, ArrayView2, Axis};

use super::findings::{Anomaly, InputFindings, LatentSample};
use super::options::ReportOptions;
use super::top_n::TopN;
use crate::arrow::Reservoir;
use crate::error::{Error, Result};
use crate::model::{Autoencoder, MissingPolicy, ScoreOptions};

/// A sampled row: row number, feature values, reconstruction error.
type SampledRow = (u64, Vec<f32>, f64);
/// A top-N candidate: row number, feature values, per-feature errors.
type Candidate = (u64, Vec<f32>, Vec<f32>);

/// Scores rows with a model and keeps what the report draws.
pub struct InputProfiler<'m> {
    model: &'m Autoencoder,
    source: String,
    threshold: Option<f64>,
    rows_seen: u64,
    rows_skipped_missing: u64,
    rows_non_finite: u64,
    rows_above_threshold: u64,
    errors: Reservoir<f64>,
    latent: Reservoir<SampledRow>,
    top: TopN<Candidate>,
}

impl<'m> InputProfiler<'m> {
    /// Start profiling rows from `source` (named in errors and on the page).
    pub fn new(model: &'m Autoencoder, source: &str, options: &ReportOptions) -> Self {
        InputProfiler {
            model,
            source: source.to_string(),
            threshold: model.threshold(),
            rows_seen: 0,
            rows_skipped_missing: 0,
            rows_non_finite: 0,
            rows_above_threshold: 0,
            errors: Reservoir::new(options.error_sample, 1, options.seed),
            latent: Reservoir::new(options.sample, 1, options.seed.wrapping_add(1)),
            top: TopN::new(options.top),
        }
    }

    /// Score the next rows, `[rows, features]` in the model's feature order, original units,
    /// NaN = missing. Under the reject policy rows with a missing or infinite value (which the
    /// model would refuse) are skipped and counted; under impute-mean the model fills them in.
    pub fn add(&mut self, x: ArrayView2<f32>) -> Result<()> {
        let expected = self.model.n_features();
        if x.ncols() != expected {
            return Err(Error::data(
                &self.source,
                format!(
                    "expected {expected} features ({}), got {} columns",
                    self.model.feature_names().join(", "),
                    x.ncols()
                ),
            ));
        }
        let first_row = self.rows_seen;
        self.rows_seen += x.nrows() as u64;

        // Batch-local indices of the rows that get scored.
        let kept: Vec<usize> = match self.model.missing_policy() {
            MissingPolicy::Reject => x
                .outer_iter()
                .enumerate()
                .filter(|(_, row)| row.iter().all(|v| v.is_finite()))
                .map(|(i, _)| i)
                .collect(),
            MissingPolicy::ImputeMean => (0..x.nrows()).collect(),
        };
        self.rows_skipped_missing += (x.nrows() - kept.len()) as u64;
        if kept.is_empty() {
            return Ok(());
        }
        let selected;
        let scored = if kept.len() == x.nrows() {
            x
        } else {
            selected = x.select(Axis(0), &kept);
            selected.view()
        };

        let options = ScoreOptions {
            per_feature: true,
            threshold: None,
        };
        let scores = self.model.score(scored, &options)?;
        let feature_errors = scores.feature_errors.ok_or_else(|| {
            Error::Internal("score with per_feature returned no feature errors".into())
        })?;
        for (i, &error) in scores.reconstruction_error.iter().enumerate() {
            let row = first_row + kept[i] as u64;
            if !error.is_finite() {
                self.rows_non_finite += 1;
                continue;
            }
            if self.threshold.is_some_and(|t| error > t) {
                self.rows_above_threshold += 1;
            }
            self.errors.offer_with(|| [error]);
            self.latent
                .offer_with(|| [(row, scored.row(i).to_vec(), error)]);
            self.top.offer_with(error, || {
                (row, scored.row(i).to_vec(), feature_errors.row(i).to_vec())
            });
        }
        Ok(())
    }

    /// Encode the latent sample, reconstruct the top rows, and hand over the findings.
    pub fn finish(self) -> Result<InputFindings> {
        let n_features = self.model.n_features();
        let errors_sampled = self.errors.is_sampled();
        let mut errors = self.errors.into_items();
        errors.sort_by(f64::total_cmp);

        let mut sampled = self.latent.into_items();
        sampled.sort_by_key(|(row, _, _)| *row);
        let latent = if sampled.is_empty() {
            None
        } else {
            let x = rows_to_matrix(sampled.iter().map(|(_, v, _)| v.as_slice()), n_features)?;
            Some(LatentSample {
                latent: self.model.encode(x.view())?,
                rows: sampled.iter().map(|(r, _, _)| *r).collect(),
                errors: sampled.iter().map(|(_, _, e)| *e).collect(),
            })
        };

        let top = self.top.into_sorted();
        let mut anomalies = Vec::with_capacity(top.len());
        if !top.is_empty() {
            let x = rows_to_matrix(top.iter().map(|(_, (_, v, _))| v.as_slice()), n_features)?;
            let reconstruction = self.model.reconstruct(x.view())?;
            for ((error, (row, values, feature_errors)), rec) in
                top.into_iter().zip(reconstruction.outer_iter())
            {
                anomalies.push(Anomaly {
                    row,
                    error,
                    values,
                    reconstruction: rec.to_vec(),
                    feature_errors,
                });
            }
        }

        Ok(InputFindings {
            source: self.source,
            rows_seen: self.rows_seen,
            rows_skipped_missing: self.rows_skipped_missing,
            rows_non_finite: self.rows_non_finite,
            rows_above_threshold: self.threshold.map(|_| self.rows_above_threshold),
            errors,
            errors_sampled,
            latent,
            top: anomalies,
        })
    }
}

/// Stack equally long rows into `[rows, width]`.
fn rows_to_matrix<'a>(rows: impl Iterator<Item = &'a [f32]>, width: usize) -> Result<Array2<f32>> {
    let mut data = Vec::new();
    let mut n = 0;
    for r in rows {
        data.extend_from_slice(r);
        n += 1;
    }
    Array2::from_shape_vec((n, width), data)
        .map_err(|e| Error::Internal(format!("report rows do not stack into [{n}, {width}]: {e}")))
}
