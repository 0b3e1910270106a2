//! Training from record batches: the feature columns, copied once into one f32 matrix.

use ::arrow::array::RecordBatch;
use ndarray::{Array2, s};

use super::select::{FeatureLayout, FeatureSelection};
use super::to_matrix::batch_to_matrix;
use crate::error::{Error, Result};
use crate::model::{Autoencoder, TrainConfig, TrainObserver};

/// Train a model from record batches (the feature columns are copied into one f32 matrix).
///
/// The features are chosen on the first batch (see [`FeatureLayout::select_in_batch`]); every
/// batch must have the same columns.
pub fn fit_batches(
    batches: &[RecordBatch],
    selection: &FeatureSelection,
    config: &TrainConfig,
    observer: &mut dyn TrainObserver,
) -> Result<Autoencoder> {
    let Some(first) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Err(Error::data("training data", "has no rows"));
    };
    let (layout, names) = FeatureLayout::select_in_batch(first, selection)?;
    let schema = first.schema();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let mut x = Array2::<f32>::zeros((rows, layout.width()));
    let mut at = 0;
    for (k, b) in batches.iter().enumerate() {
        if b.num_rows() == 0 {
            continue;
        }
        if b.schema().fields() != schema.fields() {
            return Err(Error::data(
                format!("training batch {}", k + 1),
                "has other columns than the first batch",
            ));
        }
        let m = batch_to_matrix(b, &layout)?;
        x.slice_mut(s![at..at + m.nrows(), ..]).assign(&m);
        at += m.nrows();
    }
    Autoencoder::fit(x.view(), &names, config, observer)
}
