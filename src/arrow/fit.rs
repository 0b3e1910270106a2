//! Training from record batches: the feature columns, copied into one f32 matrix.
//!
//! [`TrainingSample`] takes the batches one at a time and keeps at most `max_rows` rows (a
//! uniform random [`Reservoir`] sample once more arrive), so training from a query, a file or a
//! stream holds the feature matrix, not the batches: `max_rows × features × 4` bytes at most.
//!
//! # The training rule
//! Every surface that trains (`aeflow train`, `CREATE MODEL`, [`fit_batches`], Polars) reads its
//! rows here, with the validity rule of scoring ([`FeatureRows`]): a row a model could not score
//! cannot be learned either. An infinite value (or one beyond the f32 range), a vector of the
//! wrong length, and under [`MissingPolicy::Reject`] a NULL / NaN, is an error naming its row
//! (1-based, counted over all batches) and the feature; under
//! [`MissingPolicy::ImputeMean`] a NULL / NaN is kept as NaN for the scaler to fill in.

use ::arrow::array::RecordBatch;
use ::arrow::datatypes::SchemaRef;
use ndarray::Array2;

use super::reservoir::Reservoir;
use super::select::{FeatureLayout, FeatureSelection};
use super::validity::{Fault, FeatureRows};
use crate::error::{Error, Result};
use crate::model::{Autoencoder, MissingPolicy, TrainConfig, TrainObserver, mention_value};

/// Train a model from record batches (the feature columns are copied into one f32 matrix).
///
/// The features are chosen on the first batch (see [`FeatureLayout::select_in_batch`]); every
/// batch must have the same columns. Every row is kept; see [`TrainingSample`] for a bounded
/// sample. Rows follow [the training rule](self#the-training-rule) under `config.missing`.
pub fn fit_batches(
    batches: &[RecordBatch],
    selection: &FeatureSelection,
    config: &TrainConfig,
    observer: &mut dyn TrainObserver,
) -> Result<Autoencoder> {
    let mut sample =
        TrainingSample::new(selection.clone(), usize::MAX, config.seed, config.missing);
    for b in batches {
        sample.offer(b)?;
    }
    sample.fit(config, observer)
}

/// The training rows of a stream of record batches: feature columns only, as f32, at most
/// `max_rows` of them.
///
/// The first `max_rows` rows are kept in order; after that each row replaces a kept one with
/// probability `max_rows / rows_seen` (seeded), so the sample is uniform over all rows seen.
/// A row that breaks [the training rule](self#the-training-rule) is an error.
#[derive(Debug)]
pub struct TrainingSample {
    selection: FeatureSelection,
    max_rows: usize,
    seed: u64,
    missing: MissingPolicy,
    /// Chosen on the first non-empty batch, or given by [`with_layout`](Self::with_layout).
    layout: Option<(FeatureLayout, Vec<String>)>,
    /// The first non-empty batch's schema: every later batch must have the same columns.
    schema: Option<SchemaRef>,
    reservoir: Option<Reservoir>,
    batches: usize,
    rows: u64,
}

impl TrainingSample {
    /// An empty sample of at most `max_rows` rows of the features `selection` picks, read under
    /// the `missing` policy.
    pub fn new(
        selection: FeatureSelection,
        max_rows: usize,
        seed: u64,
        missing: MissingPolicy,
    ) -> Self {
        TrainingSample {
            selection,
            max_rows,
            seed,
            missing,
            layout: None,
            schema: None,
            reservoir: None,
            batches: 0,
            rows: 0,
        }
    }

    /// Reads the features at `layout` (named `names`) instead of choosing them on the first
    /// batch: for batches already projected to the feature columns.
    #[must_use]
    pub fn with_layout(mut self, layout: FeatureLayout, names: Vec<String>) -> Self {
        self.layout = Some((layout, names));
        self
    }

    /// Add the rows of `batch`. Its feature columns are copied; the batch can be dropped.
    pub fn offer(&mut self, batch: &RecordBatch) -> Result<()> {
        self.batches += 1;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        match &self.schema {
            None => self.schema = Some(batch.schema()),
            Some(schema) if batch.schema().fields() != schema.fields() => {
                return Err(Error::data(
                    format!("training batch {}", self.batches),
                    "has other columns than the first batch",
                ));
            }
            Some(_) => {}
        }
        if self.layout.is_none() {
            self.layout = Some(FeatureLayout::select_in_batch(batch, &self.selection)?);
        }
        let Some((layout, _)) = &self.layout else {
            return Ok(());
        };
        let rows = FeatureRows::read(batch, layout, self.missing)?;
        if let Some(fault) = rows.faults().first() {
            let hint = match fault.fault {
                Fault::Null | Fault::NaN => format!(
                    "; clean the data, or train with {} to fill it in with the training mean",
                    mention_value("missing", "impute_mean")
                ),
                Fault::Infinite { .. } => "; only finite values can be learned".to_owned(),
                Fault::WrongLength { .. } => {
                    "; every row must hold as many values as the first".to_owned()
                }
            };
            return Err(Error::data(
                format!("row {}", self.rows + fault.row as u64 + 1),
                format!("{fault}{hint}"),
            ));
        }
        self.rows += batch.num_rows() as u64;
        let width = layout.width();
        let (max_rows, seed) = (self.max_rows, self.seed);
        self.reservoir
            .get_or_insert_with(|| Reservoir::new(max_rows, width, seed))
            .offer_rows(rows.matrix());
        Ok(())
    }

    /// Rows offered so far.
    pub fn rows_seen(&self) -> u64 {
        self.reservoir.as_ref().map_or(0, Reservoir::seen)
    }

    /// `true` when more rows were offered than kept.
    pub fn is_sampled(&self) -> bool {
        self.reservoir.as_ref().is_some_and(Reservoir::is_sampled)
    }

    /// The kept rows `[rows, features]` (original units, NaN = missing) and the feature names.
    pub fn into_matrix(self) -> Result<(Array2<f32>, Vec<String>)> {
        match (self.reservoir, self.layout) {
            (Some(r), Some((_, names))) if !r.is_empty() => Ok((r.into_matrix(), names)),
            _ => Err(Error::data("training data", "has no rows")),
        }
    }

    /// Train on the kept rows.
    pub fn fit(
        self,
        config: &TrainConfig,
        observer: &mut dyn TrainObserver,
    ) -> Result<Autoencoder> {
        let (x, names) = self.into_matrix()?;
        Autoencoder::fit(x.view(), &names, config, observer)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ::arrow::array::{Float64Array, Int32Array};
    use ::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    /// Rows `start..start + n` of columns a = i, b = 2i.
    fn batch(start: usize, n: usize) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Float64, false),
            Field::new("b", DataType::Float64, false),
        ]));
        let a: Vec<f64> = (start..start + n).map(|i| i as f64).collect();
        let b: Vec<f64> = a.iter().map(|v| 2.0 * v).collect();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Float64Array::from(a)),
                Arc::new(Float64Array::from(b)),
            ],
        )
        .expect("batch")
    }

    #[test]
    fn keeps_every_row_in_order_below_the_cap() {
        let mut s = TrainingSample::new(FeatureSelection::All, 1_000, 1, MissingPolicy::Reject);
        for k in 0..3 {
            s.offer(&batch(k * 10, 10)).expect("offer");
        }
        assert_eq!(s.rows_seen(), 30);
        assert!(!s.is_sampled());
        let (x, names) = s.into_matrix().expect("matrix");
        assert_eq!(names, ["a", "b"]);
        assert_eq!(x.dim(), (30, 2));
        for (i, r) in x.rows().into_iter().enumerate() {
            assert_eq!((r[0], r[1]), (i as f32, 2.0 * i as f32));
        }
    }

    #[test]
    fn keeps_a_uniform_sample_of_at_most_max_rows() {
        let mut s = TrainingSample::new(FeatureSelection::All, 500, 7, MissingPolicy::Reject);
        for k in 0..20 {
            s.offer(&batch(k * 1_000, 1_000)).expect("offer");
        }
        assert_eq!(s.rows_seen(), 20_000);
        assert!(s.is_sampled());
        let (x, _) = s.into_matrix().expect("matrix");
        assert_eq!(x.nrows(), 500);
        // Whole rows are kept (b = 2a), and they come from the whole stream: about a quarter
        // of a uniform sample lies in each quarter of it.
        assert!(x.rows().into_iter().all(|r| r[1] == 2.0 * r[0]));
        for q in 0..4 {
            let lo = (q * 5_000) as f32;
            let n = x
                .column(0)
                .iter()
                .filter(|&&v| v >= lo && v < lo + 5_000.0)
                .count();
            assert!((80..=170).contains(&n), "quarter {q}: {n} of 500 rows");
        }
    }

    /// Column `a` holding `values`, column `b` = 1.
    fn with_a(values: Vec<f64>) -> RecordBatch {
        let n = values.len();
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Float64, true),
            Field::new("b", DataType::Float64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Float64Array::from(values)),
                Arc::new(Float64Array::from(vec![1.0; n])),
            ],
        )
        .expect("batch")
    }

    #[test]
    fn rows_follow_the_training_rule_and_errors_count_rows_over_batches() {
        // An infinite value is refused under either policy, at its row over all batches.
        for policy in [MissingPolicy::Reject, MissingPolicy::ImputeMean] {
            let mut s = TrainingSample::new(FeatureSelection::All, 100, 1, policy);
            s.offer(&with_a(vec![1.0, 2.0, 3.0])).expect("finite rows");
            let e = s.offer(&with_a(vec![4.0, f64::INFINITY])).expect_err("inf");
            let text = e.to_string();
            assert!(text.starts_with("row 5: feature 'a' is inf"), "{text}");
            assert!(text.contains("only finite values can be learned"), "{text}");
        }
        // NaN and NULL: an error under reject, naming the option that would accept them ...
        let mut s = TrainingSample::new(FeatureSelection::All, 100, 1, MissingPolicy::Reject);
        let e = s.offer(&with_a(vec![1.0, f64::NAN])).expect_err("NaN");
        assert!(
            e.to_string().starts_with("row 2: feature 'a' is NaN"),
            "{e}"
        );
        assert!(e.to_string().contains("`missing = impute_mean`"), "{e}");
        let nulls = RecordBatch::try_new(
            with_a(vec![0.0]).schema(),
            vec![
                Arc::new(Float64Array::from(vec![None, Some(1.0)])),
                Arc::new(Float64Array::from(vec![1.0, 1.0])),
            ],
        )
        .expect("batch");
        let mut s = TrainingSample::new(FeatureSelection::All, 100, 1, MissingPolicy::Reject);
        let e = s.offer(&nulls).expect_err("NULL");
        assert!(
            e.to_string().starts_with("row 1: feature 'a' is missing"),
            "{e}"
        );
        // ... kept as NaN for the scaler to fill in under impute_mean.
        let mut s = TrainingSample::new(FeatureSelection::All, 100, 1, MissingPolicy::ImputeMean);
        s.offer(&with_a(vec![1.0, f64::NAN])).expect("NaN imputed");
        s.offer(&nulls).expect("NULL imputed");
        let (x, _) = s.into_matrix().expect("matrix");
        let a: Vec<bool> = x.column(0).iter().map(|v| v.is_nan()).collect();
        assert_eq!(a, [false, true, true, false]);
    }

    #[test]
    fn batches_with_other_columns_and_empty_input_are_errors() {
        let mut s = TrainingSample::new(FeatureSelection::All, 100, 1, MissingPolicy::Reject);
        assert!(s.rows_seen() == 0);
        s.offer(&batch(0, 5)).expect("offer");
        let other = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, false)])),
            vec![Arc::new(Int32Array::from(vec![1, 2]))],
        )
        .expect("batch");
        let e = s.offer(&other).expect_err("other columns");
        assert!(e.to_string().contains("training batch 2"), "{e}");

        let empty = TrainingSample::new(FeatureSelection::All, 100, 1, MissingPolicy::Reject);
        let e = empty.into_matrix().expect_err("no rows");
        assert!(e.to_string().contains("no rows"), "{e}");
    }
}
