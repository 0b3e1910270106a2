//! Reading a training set from a file: only the feature columns, as f32, at most `max_rows` rows.

use std::path::Path;

use ndarray::Array2;

use super::format::FileFormat;
use super::in_file;
use super::read::{DEFAULT_BATCH_SIZE, FileSource};
use crate::arrow::{FeatureLayout, FeatureSelection, TrainingSample};
use crate::error::{Error, Result};
use crate::model::{DEFAULT_MAX_ROWS, MissingPolicy, check_integer};

/// How to read a training file.
#[derive(Debug, Clone)]
pub struct TrainingOptions {
    /// Input format; `None`: from the extension.
    pub format: Option<FileFormat>,
    /// Which columns are features.
    pub selection: FeatureSelection,
    /// Keep at most this many rows (≥ 1): a uniform random sample of the file when it has more.
    /// Default [`DEFAULT_MAX_ROWS`].
    pub max_rows: usize,
    /// Seed of the sample.
    pub seed: u64,
    /// `Reject`: a NULL / NaN feature is an error naming the row; `ImputeMean`: kept as NaN.
    pub missing: MissingPolicy,
    /// Rows per batch read.
    pub batch_size: usize,
}

impl Default for TrainingOptions {
    fn default() -> Self {
        TrainingOptions {
            format: None,
            selection: FeatureSelection::All,
            max_rows: DEFAULT_MAX_ROWS,
            seed: 0,
            missing: MissingPolicy::Reject,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

/// The feature matrix of a file, ready for [`Autoencoder::fit`](crate::model::Autoencoder::fit).
#[derive(Debug, Clone)]
pub struct TrainingData {
    /// `[rows, features]`, original units, NaN = missing.
    pub x: Array2<f32>,
    /// Feature names in column order of `x`.
    pub feature_names: Vec<String>,
    /// Rows in the file.
    pub rows_read: u64,
    /// `true` when `x` is a sample of `max_rows` of the file's `rows_read` rows.
    pub sampled: bool,
}

/// Stream `path` and keep its feature columns (see [`TrainingOptions`]).
///
/// Only the feature columns are decoded where the format allows (Parquet, CSV). Errors name the
/// file, and the row and column of a NULL under the reject policy or of an infinite value.
pub fn read_training_data(path: &Path, options: &TrainingOptions) -> Result<TrainingData> {
    check_integer("max_rows", options.max_rows)?;
    let source = FileSource::open(path, options.format)?;
    let schema = source.schema();
    let name = path.display().to_string();

    // Decode only the feature columns when the schema alone says which they are.
    let (mut batches, layout) = match FeatureLayout::select(&schema, &options.selection) {
        Ok((layout, names)) => {
            // `project` keeps schema order: place each feature among the kept columns.
            let mut kept = layout.columns();
            kept.sort_unstable();
            let local = match &layout {
                FeatureLayout::Scalars(c) => FeatureLayout::Scalars(
                    c.iter()
                        .map(|c| kept.binary_search(c).unwrap_or_else(|i| i))
                        .collect(),
                ),
                FeatureLayout::Vector { width, .. } => FeatureLayout::Vector {
                    column: 0,
                    width: *width,
                },
            };
            let reader = source.batches(Some(&kept), options.batch_size)?;
            (reader, Some((local, names)))
        }
        // A variable-length list column: its width comes from the data.
        Err(_) if has_list_column(&schema) => (source.batches(None, options.batch_size)?, None),
        Err(e) => return Err(in_file(e, path)),
    };

    let mut sample = TrainingSample::new(
        options.selection.clone(),
        options.max_rows,
        options.seed,
        options.missing,
    );
    if let Some((layout, names)) = layout {
        sample = sample.with_layout(layout, names);
    }
    for batch in batches.by_ref() {
        sample.offer(&batch?).map_err(|e| in_file(e, path))?;
    }
    let rows_read = sample.rows_seen();
    let sampled = sample.is_sampled();
    let (x, feature_names) = sample
        .into_matrix()
        .map_err(|_| Error::data(name, "has no rows to train on"))?;
    Ok(TrainingData {
        x,
        feature_names,
        rows_read,
        sampled,
    })
}

fn has_list_column(schema: &::arrow::datatypes::Schema) -> bool {
    use ::arrow::datatypes::DataType;
    schema
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::List(_) | DataType::LargeList(_)))
}
