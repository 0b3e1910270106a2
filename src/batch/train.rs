//! Reading a training set from a file: only the feature columns, as f32, at most `max_rows` rows.

use std::path::Path;

use ndarray::Array2;

use super::format::FileFormat;
use super::in_file;
use super::read::{DEFAULT_BATCH_SIZE, FileSource};
use crate::arrow::Reservoir;
use crate::arrow::{FeatureLayout, FeatureSelection, batch_to_matrix};
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
    let (mut batches, mut layout) = match FeatureLayout::select(&schema, &options.selection) {
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

    let mut reservoir: Option<Reservoir> = None;
    let mut names = Vec::new();
    let mut row0: u64 = 0;
    for batch in batches.by_ref() {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        if layout.is_none() {
            layout = Some(
                FeatureLayout::select_in_batch(&batch, &options.selection)
                    .map_err(|e| in_file(e, path))?,
            );
        }
        let Some((l, n)) = &layout else { continue };
        let x = batch_to_matrix(&batch, l).map_err(|e| in_file(e, path))?;
        check_values(&x, n, options.missing, &name, row0)?;
        let r = reservoir.get_or_insert_with(|| {
            names = n.clone();
            Reservoir::new(options.max_rows, l.width(), options.seed)
        });
        r.offer_rows(x.view());
        row0 += batch.num_rows() as u64;
    }
    let Some(reservoir) = reservoir else {
        return Err(Error::data(name, "has no rows to train on"));
    };
    let rows_read = reservoir.seen();
    let sampled = reservoir.is_sampled();
    Ok(TrainingData {
        x: reservoir.into_matrix(),
        feature_names: names,
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

/// Infinite values are always an error; NULL / NaN too under the reject policy.
fn check_values(
    x: &Array2<f32>,
    names: &[String],
    missing: MissingPolicy,
    file: &str,
    row0: u64,
) -> Result<()> {
    for (i, row) in x.rows().into_iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            let problem = if v.is_infinite() {
                "is infinite; only finite values can be learned"
            } else if v.is_nan() && missing == MissingPolicy::Reject {
                "is NULL or NaN; clean the data or train with --missing impute"
            } else {
                continue;
            };
            return Err(Error::data(
                format!("{file}, row {}", row0 + i as u64 + 1),
                format!("feature '{}' {problem}", names[j]),
            ));
        }
    }
    Ok(())
}
