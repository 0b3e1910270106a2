//! A batch in, the same batch plus the model's outputs out ([`score_batch`], [`encode_batch`]).
//!
//! Rows the model may not see (see [`FeatureRows`] for the rule: a NULL or NaN feature under the
//! reject policy, an infinite one under any) are left out of the matrix handed to the model and get
//! NULL outputs; every other column is carried through as is.

use std::sync::Arc;

use ::arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, RecordBatch};
use ::arrow::buffer::NullBuffer;
use ::arrow::datatypes::{DataType, Field, FieldRef, Schema};
use ndarray::Array2;

use super::columns::{FEATURE_ERRORS, IS_ANOMALY, LATENT, RECONSTRUCTION_ERROR, THRESHOLD};
use super::from_matrix::{fixed_size_list_type, matrix_to_fixed_size_list_masked};
use super::select::FeatureLayout;
use super::validity::FeatureRows;
use crate::error::{Error, Result};
use crate::model::{Autoencoder, ScoreOptions};

/// The fields [`score_batch`] appends, in order (all nullable).
pub fn score_fields(model: &Autoencoder, options: &ScoreOptions) -> Vec<FieldRef> {
    let mut fields = vec![
        Arc::new(Field::new(RECONSTRUCTION_ERROR, DataType::Float64, true)),
        Arc::new(Field::new(IS_ANOMALY, DataType::Boolean, true)),
    ];
    if options.per_feature {
        fields.push(Arc::new(Field::new(
            FEATURE_ERRORS,
            fixed_size_list_type(model.n_features()),
            true,
        )));
    }
    fields
}

/// The field [`encode_batch`] appends (nullable).
pub fn encode_fields(model: &Autoencoder) -> Vec<FieldRef> {
    vec![Arc::new(Field::new(
        LATENT,
        fixed_size_list_type(model.latent_dim()),
        true,
    ))]
}

/// The input batch plus `reconstruction_error` (Float64), `is_anomaly` (Boolean) and, with
/// `options.per_feature`, `feature_errors` (`FixedSizeList<Float32>`). Rows with NULL features under
/// the reject policy get NULL outputs.
///
/// `is_anomaly` is NULL throughout when the model has no threshold and `options` gives none.
/// A vector row of the wrong length is an error.
pub fn score_batch(
    model: &Autoencoder,
    batch: &RecordBatch,
    layout: &FeatureLayout,
    options: &ScoreOptions,
) -> Result<RecordBatch> {
    score_rows(model, batch, read(model, batch, layout)?, options)
}

/// [`score_batch`] with the features already read from `batch` (by [`FeatureRows::read`] under
/// the model's missing policy): every row with a fault gets NULL outputs.
pub fn score_rows(
    model: &Autoencoder,
    batch: &RecordBatch,
    rows: FeatureRows,
    options: &ScoreOptions,
) -> Result<RecordBatch> {
    let fields = score_fields(model, options);
    let rows = Rows::prepare(model, batch, rows)?;
    let scores = match &rows.x {
        Some(x) => Some(model.score(x.view(), options)?),
        None => None,
    };
    let n = batch.num_rows();
    let mut error = vec![0.0f64; n];
    let mut anomaly = vec![false; n];
    let mut have_flags = false;
    let mut per_feature = Array2::<f32>::zeros((n, model.n_features()));
    if let Some(s) = &scores {
        for (k, &i) in rows.kept.iter().enumerate() {
            error[i] = s.reconstruction_error[k];
        }
        if let Some(flags) = &s.is_anomaly {
            have_flags = true;
            for (k, &i) in rows.kept.iter().enumerate() {
                anomaly[i] = flags[k];
            }
        }
        if let Some(fe) = &s.feature_errors {
            for (k, &i) in rows.kept.iter().enumerate() {
                per_feature.row_mut(i).assign(&fe.row(k));
            }
        }
    }
    let nulls = rows.nulls();
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(Float64Array::new(error.into(), nulls.clone())),
        Arc::new(if have_flags {
            BooleanArray::new(anomaly.into(), nulls.clone())
        } else {
            BooleanArray::new_null(n)
        }),
    ];
    if options.per_feature {
        columns.push(Arc::new(matrix_to_fixed_size_list_masked(
            per_feature.view(),
            nulls,
        )));
    }
    append(batch, fields, columns)
}

/// A scored batch (from [`score_batch`], scored against `threshold`) plus a `threshold` column
/// (`Float64`): `threshold` on every row with a `reconstruction_error`, NULL on the others. For
/// outputs judged against a threshold other than the model's, so that each row says which.
pub fn append_threshold(scored: &RecordBatch, threshold: f64) -> Result<RecordBatch> {
    let error = scored.column_by_name(RECONSTRUCTION_ERROR).ok_or_else(|| {
        Error::Internal(format!(
            "append_threshold: no '{RECONSTRUCTION_ERROR}' column"
        ))
    })?;
    let n = scored.num_rows();
    let column = Float64Array::new(vec![threshold; n].into(), error.logical_nulls());
    append(
        scored,
        vec![Arc::new(Field::new(THRESHOLD, DataType::Float64, true))],
        vec![Arc::new(column)],
    )
}

/// The input batch plus `latent` (`FixedSizeList<Float32>[latent]`). Rows with NULL features
/// under the reject policy get NULL outputs; a vector row of the wrong length is an error.
pub fn encode_batch(
    model: &Autoencoder,
    batch: &RecordBatch,
    layout: &FeatureLayout,
) -> Result<RecordBatch> {
    encode_rows(model, batch, read(model, batch, layout)?)
}

/// [`encode_batch`] with the features already read from `batch` (see [`score_rows`]).
pub fn encode_rows(
    model: &Autoencoder,
    batch: &RecordBatch,
    rows: FeatureRows,
) -> Result<RecordBatch> {
    let fields = encode_fields(model);
    let rows = Rows::prepare(model, batch, rows)?;
    let mut latent = Array2::<f32>::zeros((batch.num_rows(), model.latent_dim()));
    if let Some(x) = &rows.x {
        let z = model.encode(x.view())?;
        if z.ncols() != latent.ncols() || z.nrows() != rows.kept.len() {
            return Err(Error::Internal(format!(
                "encode returned {:?} for {} rows of latent {}",
                z.shape(),
                rows.kept.len(),
                latent.ncols()
            )));
        }
        for (k, &i) in rows.kept.iter().enumerate() {
            latent.row_mut(i).assign(&z.row(k));
        }
    }
    let column = matrix_to_fixed_size_list_masked(latent.view(), rows.nulls());
    append(batch, fields, vec![Arc::new(column)])
}

/// The rows of a batch the model will see.
struct Rows {
    /// Feature matrix of the kept rows; `None` when no row is kept.
    x: Option<Array2<f32>>,
    /// Batch row index of each row of `x`.
    kept: Vec<usize>,
    /// Number of rows in the batch.
    total: usize,
}

/// The features `layout` locates in `batch`, read under the model's missing policy; a vector
/// row of the wrong length refuses the batch.
fn read(model: &Autoencoder, batch: &RecordBatch, layout: &FeatureLayout) -> Result<FeatureRows> {
    if layout.width() != model.n_features() {
        return Err(Error::shape(
            "score/encode",
            format!("{} features", model.n_features()),
            format!("a layout of {} features", layout.width()),
        ));
    }
    let rows = FeatureRows::read(batch, layout, model.missing_policy())?;
    rows.refuse_wrong_lengths()?;
    Ok(rows)
}

impl Rows {
    fn prepare(model: &Autoencoder, batch: &RecordBatch, rows: FeatureRows) -> Result<Self> {
        let total = batch.num_rows();
        if rows.len() != total || rows.width() != model.n_features() {
            return Err(Error::shape(
                "score/encode",
                format!("{total} rows of {} features", model.n_features()),
                format!("{} rows of {} features", rows.len(), rows.width()),
            ));
        }
        let kept: Vec<usize> = match rows.valid() {
            None => (0..total).collect(),
            Some(valid) => valid.valid_indices().collect(),
        };
        let x = (!kept.is_empty()).then(|| rows.into_usable().into_matrix());
        Ok(Rows { x, kept, total })
    }

    /// Validity of the outputs: `None` when every row was scored.
    fn nulls(&self) -> Option<NullBuffer> {
        if self.kept.len() == self.total {
            return None;
        }
        let mut valid = vec![false; self.total];
        for &i in &self.kept {
            valid[i] = true;
        }
        Some(NullBuffer::from(valid))
    }
}

/// `batch` with `columns` appended; refuses to shadow an existing column.
fn append(
    batch: &RecordBatch,
    fields: Vec<FieldRef>,
    columns: Vec<ArrayRef>,
) -> Result<RecordBatch> {
    let schema = batch.schema();
    for f in &fields {
        if schema.index_of(f.name()).is_ok() {
            return Err(Error::data(
                format!("column '{}'", f.name()),
                "already exists in the input; rename or drop it before scoring or encoding",
            ));
        }
    }
    let mut all_fields: Vec<FieldRef> = schema.fields().iter().cloned().collect();
    all_fields.extend(fields);
    let mut all_columns = batch.columns().to_vec();
    all_columns.extend(columns);
    let schema = Arc::new(Schema::new_with_metadata(
        all_fields,
        schema.metadata().clone(),
    ));
    Ok(RecordBatch::try_new(schema, all_columns)?)
}

#[cfg(test)]
mod tests {
    use ::arrow::array::{Array, AsArray, Float32Array, Int32Array, StringArray};
    use ::arrow::datatypes::Float64Type;

    use super::*;
    use crate::arrow::fit_batches;
    use crate::arrow::select::FeatureSelection;
    use crate::model::{MissingPolicy, Silent, TrainConfig};

    /// Three correlated features `a`, `b`, `c` (Int32, Float32, Float64) plus a text column.
    fn batch(rows: usize, null_at: Option<usize>) -> RecordBatch {
        let t: Vec<f64> = (0..rows).map(|i| (i as f64 * 0.1).sin()).collect();
        RecordBatch::try_from_iter([
            (
                "name",
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("r{i}")),
                )) as ArrayRef,
            ),
            (
                "a",
                Arc::new(Int32Array::from_iter_values(
                    t.iter().map(|v| (v * 100.0) as i32),
                )) as _,
            ),
            (
                "b",
                Arc::new(Float32Array::from_iter(
                    (0..rows).map(|i| (Some(i) != null_at).then_some(t[i] as f32 * 2.0)),
                )) as _,
            ),
            (
                "c",
                Arc::new(Float64Array::from_iter_values(t.iter().map(|v| 1.0 - v))),
            ),
        ])
        .unwrap()
    }

    fn model(missing: MissingPolicy) -> Autoencoder {
        let config = TrainConfig {
            epochs: 5,
            missing,
            ..TrainConfig::default()
        };
        let train = if missing == MissingPolicy::ImputeMean {
            batch(300, Some(10))
        } else {
            batch(300, None)
        };
        fit_batches(
            &[train.slice(0, 100), train.slice(100, 200)],
            &FeatureSelection::All,
            &config,
            &mut Silent,
        )
        .unwrap()
    }

    #[test]
    fn outputs_have_the_documented_types_and_carry_the_input() {
        let m = model(MissingPolicy::Reject);
        assert_eq!(m.feature_names(), ["a", "b", "c"]);
        let input = batch(50, None);
        let layout = FeatureLayout::for_model(&input.schema(), &m).unwrap();
        let options = ScoreOptions {
            per_feature: true,
            threshold: None,
        };
        let out = score_batch(&m, &input, &layout, &options).unwrap();
        assert_eq!(out.num_columns(), 4 + 3);
        for i in 0..4 {
            assert_eq!(out.column(i).as_ref(), input.column(i).as_ref());
        }
        let appended: Vec<FieldRef> = out.schema().fields()[4..].to_vec();
        assert_eq!(appended, score_fields(&m, &options));
        // The batch path gives exactly what the model gives on the matrix.
        let x = crate::arrow::batch_to_matrix(&input, &layout).unwrap();
        let direct = m.score(x.view(), &options).unwrap();
        let e = out.column(4).as_primitive::<Float64Type>();
        for i in 0..50 {
            assert_eq!(e.value(i), direct.reconstruction_error[i]);
        }
        let enc = encode_batch(&m, &input, &layout).unwrap();
        assert_eq!(enc.schema().fields()[4..].to_vec(), encode_fields(&m));
        let z = m.encode(x.view()).unwrap();
        let got = crate::arrow::vector_to_matrix(enc.column(4).as_ref(), m.latent_dim(), "latent")
            .unwrap();
        assert_eq!(got, z);
    }

    #[test]
    fn rows_with_null_features_get_null_outputs_under_reject() {
        let m = model(MissingPolicy::Reject);
        let input = batch(20, Some(7));
        let layout = FeatureLayout::for_model(&input.schema(), &m).unwrap();
        let opts = ScoreOptions {
            per_feature: true,
            threshold: Some(0.0),
        };
        let out = score_batch(&m, &input, &layout, &opts).unwrap();
        for name in [RECONSTRUCTION_ERROR, IS_ANOMALY, FEATURE_ERRORS] {
            let c = out.column_by_name(name).unwrap();
            assert_eq!(c.null_count(), 1, "{name}");
            assert!(c.is_null(7), "{name}");
        }
        // The other rows score as they do without the NULL row.
        let clean = batch(20, None);
        let reference = score_batch(&m, &clean, &layout, &opts).unwrap();
        let (a, b) = (
            out.column(4).as_primitive::<Float64Type>(),
            reference.column(4).as_primitive::<Float64Type>(),
        );
        for i in (0..20).filter(|&i| i != 7) {
            assert_eq!(a.value(i), b.value(i));
        }
        let enc = encode_batch(&m, &input, &layout).unwrap();
        assert!(enc.column(4).is_null(7));
        assert_eq!(enc.column(4).null_count(), 1);

        // Every row NULL, and no rows at all.
        let all_null = batch(1, Some(0));
        let out = score_batch(&m, &all_null, &layout, &opts).unwrap();
        assert!(out.column(4).is_null(0));
        let empty = batch(0, None);
        assert_eq!(
            score_batch(&m, &empty, &layout, &opts).unwrap().num_rows(),
            0
        );
        assert_eq!(encode_batch(&m, &empty, &layout).unwrap().num_rows(), 0);
    }

    #[test]
    fn an_imputing_model_scores_rows_with_nulls() {
        let m = model(MissingPolicy::ImputeMean);
        let input = batch(20, Some(7));
        let layout = FeatureLayout::for_model(&input.schema(), &m).unwrap();
        let out = score_batch(&m, &input, &layout, &ScoreOptions::default()).unwrap();
        assert_eq!(out.column(4).null_count(), 0);
        // is_anomaly follows the calibrated threshold.
        assert!(m.threshold().is_some());
        assert_eq!(out.column(5).null_count(), 0);
    }

    #[test]
    fn existing_output_columns_are_not_overwritten() {
        let m = model(MissingPolicy::Reject);
        let input = batch(5, None);
        let layout = FeatureLayout::for_model(&input.schema(), &m).unwrap();
        let once = score_batch(&m, &input, &layout, &ScoreOptions::default()).unwrap();
        let e = score_batch(&m, &once, &layout, &ScoreOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'reconstruction_error'") && e.contains("already exists"),
            "{e}"
        );
        // A layout of the wrong width is a wiring error, not a panic.
        let narrow = FeatureLayout::Scalars(vec![1, 2]);
        assert!(encode_batch(&m, &input, &narrow).is_err());
    }
}
