//! The [`AutoencoderFrame`] extension trait on Polars `DataFrame` and `LazyFrame`.

use ::arrow::array::{ArrayRef, RecordBatch};
use polars::prelude::{DataFrame, LazyFrame, col};

use crate::arrow::{
    FeatureLayout, FeatureSelection, IS_ANOMALY, LATENT, RECONSTRUCTION_ERROR, encode_batch,
    fit_batches, score_batch,
};
use crate::error::{Error, Result};
use crate::model::{Autoencoder, ScoreOptions, TrainConfig, TrainObserver};
use crate::polars::from_arrow::to_column;
use crate::polars::to_arrow::to_record_batches;

/// Autoencoders on Polars frames. `columns` are the feature columns, in the model's feature
/// order (their names need not match the names the model was trained with).
pub trait AutoencoderFrame {
    /// The frame with `reconstruction_error` (Float64: mean squared error over the features,
    /// in the scaled space the network sees) and `is_anomaly` (Boolean: error above the model's
    /// calibrated threshold; NULL when the model has none) appended.
    fn ae_score(&self, model: &Autoencoder, columns: &[&str]) -> Result<DataFrame> {
        self.ae_score_with(model, columns, &ScoreOptions::default())
    }

    /// [`AutoencoderFrame::ae_score`] with options: another threshold, and with
    /// `per_feature` a `feature_errors` column (`Array(Float32, n)`: squared error per
    /// feature, scaled units).
    fn ae_score_with(
        &self,
        model: &Autoencoder,
        columns: &[&str],
        options: &ScoreOptions,
    ) -> Result<DataFrame>;

    /// The frame with `latent` (`Array(Float32, latent_dim)`: each row's code) appended.
    fn ae_encode(&self, model: &Autoencoder, columns: &[&str]) -> Result<DataFrame>;

    /// Train a model on `columns` (which become its feature names). Rows are used as
    /// [`crate::arrow::fit_batches`] uses them.
    fn ae_train(
        &self,
        columns: &[&str],
        config: &TrainConfig,
        observer: &mut dyn TrainObserver,
    ) -> Result<Autoencoder>;
}

impl AutoencoderFrame for DataFrame {
    fn ae_score_with(
        &self,
        model: &Autoencoder,
        columns: &[&str],
        options: &ScoreOptions,
    ) -> Result<DataFrame> {
        let batches = model_batches(self, model, columns)?;
        let layout = FeatureLayout::Scalars((0..columns.len()).collect());
        let scored = batches
            .iter()
            .map(|b| score_batch(model, b, &layout, options))
            .collect::<Result<Vec<_>>>()?;
        let mut outputs = vec![RECONSTRUCTION_ERROR, IS_ANOMALY];
        if options.per_feature {
            outputs.push(crate::arrow::FEATURE_ERRORS);
        }
        append(self, &scored, &outputs)
    }

    fn ae_encode(&self, model: &Autoencoder, columns: &[&str]) -> Result<DataFrame> {
        let batches = model_batches(self, model, columns)?;
        let layout = FeatureLayout::Scalars((0..columns.len()).collect());
        let encoded = batches
            .iter()
            .map(|b| encode_batch(model, b, &layout))
            .collect::<Result<Vec<_>>>()?;
        append(self, &encoded, &[LATENT])
    }

    fn ae_train(
        &self,
        columns: &[&str],
        config: &TrainConfig,
        observer: &mut dyn TrainObserver,
    ) -> Result<Autoencoder> {
        let batches = to_record_batches(self, columns)?;
        let names = columns.iter().map(|c| c.to_string()).collect();
        fit_batches(
            &batches,
            &FeatureSelection::Columns(names),
            config,
            observer,
        )
    }
}

/// A `LazyFrame` is collected first; training collects only the feature columns.
impl AutoencoderFrame for LazyFrame {
    fn ae_score_with(
        &self,
        model: &Autoencoder,
        columns: &[&str],
        options: &ScoreOptions,
    ) -> Result<DataFrame> {
        self.clone()
            .collect()?
            .ae_score_with(model, columns, options)
    }

    fn ae_encode(&self, model: &Autoencoder, columns: &[&str]) -> Result<DataFrame> {
        self.clone().collect()?.ae_encode(model, columns)
    }

    fn ae_train(
        &self,
        columns: &[&str],
        config: &TrainConfig,
        observer: &mut dyn TrainObserver,
    ) -> Result<Autoencoder> {
        let selected = columns.iter().map(|c| col(*c)).collect::<Vec<_>>();
        let features = self.clone().select(selected).collect()?;
        features.ae_train(columns, config, observer)
    }
}

/// The feature batches of `df`, after checking that `columns` has one column per feature.
fn model_batches(
    df: &DataFrame,
    model: &Autoencoder,
    columns: &[&str],
) -> Result<Vec<RecordBatch>> {
    let expected = model.feature_names().len();
    if columns.len() != expected {
        return Err(Error::config(
            "columns",
            format!(
                "{} given ({}); the model has {expected} features: {}",
                columns.len(),
                columns.join(", "),
                model.feature_names().join(", ")
            ),
        ));
    }
    to_record_batches(df, columns)
}

/// `df` with the columns `names` of the per-batch results appended.
fn append(df: &DataFrame, results: &[RecordBatch], names: &[&str]) -> Result<DataFrame> {
    let mut columns = Vec::with_capacity(names.len());
    for name in names {
        let parts: Vec<ArrayRef> = results
            .iter()
            .map(|b| {
                b.column_by_name(name).cloned().ok_or_else(|| {
                    Error::Internal(format!("the Arrow path returned no {name} column"))
                })
            })
            .collect::<Result<_>>()?;
        columns.push(to_column(name, &parts)?);
    }
    Ok(df.hstack(&columns)?)
}
