//! Training from record batches: the feature columns, copied into one f32 matrix.
//!
//! [`TrainingSample`] takes the batches one at a time and keeps at most `max_rows` rows (a
//! uniform random [`Reservoir`] sample once more arrive), so training from a query or a stream
//! holds the feature matrix, not the batches: `max_rows × features × 4` bytes at most.

use ::arrow::array::RecordBatch;
use ::arrow::datatypes::SchemaRef;
use ndarray::Array2;

use super::reservoir::Reservoir;
use super::select::{FeatureLayout, FeatureSelection};
use super::to_matrix::batch_to_matrix;
use crate::error::{Error, Result};
use crate::model::{Autoencoder, TrainConfig, TrainObserver};

/// Train a model from record batches (the feature columns are copied into one f32 matrix).
///
/// The features are chosen on the first batch (see [`FeatureLayout::select_in_batch`]); every
/// batch must have the same columns. Every row is kept; see [`TrainingSample`] for a bounded
/// sample.
pub fn fit_batches(
    batches: &[RecordBatch],
    selection: &FeatureSelection,
    config: &TrainConfig,
    observer: &mut dyn TrainObserver,
) -> Result<Autoencoder> {
    let mut sample = TrainingSample::new(selection.clone(), usize::MAX, config.seed);
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
#[derive(Debug)]
pub struct TrainingSample {
    selection: FeatureSelection,
    max_rows: usize,
    seed: u64,
    /// Chosen on the first non-empty batch.
    layout: Option<(FeatureLayout, Vec<String>, SchemaRef)>,
    reservoir: Option<Reservoir>,
    batches: usize,
}

impl TrainingSample {
    /// An empty sample of at most `max_rows` rows of the features `selection` picks.
    pub fn new(selection: FeatureSelection, max_rows: usize, seed: u64) -> Self {
        TrainingSample {
            selection,
            max_rows,
            seed,
            layout: None,
            reservoir: None,
            batches: 0,
        }
    }

    /// Add the rows of `batch`. Its feature columns are copied; the batch can be dropped.
    pub fn offer(&mut self, batch: &RecordBatch) -> Result<()> {
        self.batches += 1;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.layout.is_none() {
            let (layout, names) = FeatureLayout::select_in_batch(batch, &self.selection)?;
            self.layout = Some((layout, names, batch.schema()));
        }
        let Some((layout, _, schema)) = &self.layout else {
            return Ok(());
        };
        if batch.schema().fields() != schema.fields() {
            return Err(Error::data(
                format!("training batch {}", self.batches),
                "has other columns than the first batch",
            ));
        }
        let m = batch_to_matrix(batch, layout)?;
        let (max_rows, seed) = (self.max_rows, self.seed);
        self.reservoir
            .get_or_insert_with(|| Reservoir::new(max_rows, layout.width(), seed))
            .offer_rows(m.view());
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
            (Some(r), Some((_, names, _))) if !r.is_empty() => Ok((r.into_matrix(), names)),
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
        let mut s = TrainingSample::new(FeatureSelection::All, 1_000, 1);
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
        let mut s = TrainingSample::new(FeatureSelection::All, 500, 7);
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

    #[test]
    fn batches_with_other_columns_and_empty_input_are_errors() {
        let mut s = TrainingSample::new(FeatureSelection::All, 100, 1);
        assert!(s.rows_seen() == 0);
        s.offer(&batch(0, 5)).expect("offer");
        let other = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, false)])),
            vec![Arc::new(Int32Array::from(vec![1, 2]))],
        )
        .expect("batch");
        let e = s.offer(&other).expect_err("other columns");
        assert!(e.to_string().contains("training batch 2"), "{e}");

        let empty = TrainingSample::new(FeatureSelection::All, 100, 1);
        let e = empty.into_matrix().expect_err("no rows");
        assert!(e.to_string().contains("no rows"), "{e}");
    }
}
