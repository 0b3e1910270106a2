//! f32 rows in a model's feature order → Arrow columns shaped like the model's input: the inverse
//! of feature selection, for rows the model produces itself (generated samples).
//!
//! A model trained on numeric columns `a, b, c` gives `Float32` columns `a, b, c`; a model trained
//! on one vector column `v` (features `v[0]`, `v[1]`, …) gives one `FixedSizeList<Float32>[n]`
//! column `v`.

use std::sync::Arc;

use ::arrow::array::{ArrayRef, Float32Array, RecordBatch};
use ::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use ndarray::ArrayView2;

use super::from_matrix::{fixed_size_list_type, matrix_to_fixed_size_list};
use super::select::vector_base;
use crate::error::{Error, Result};

/// The schema of [`feature_columns`] for features `names`.
pub fn feature_columns_schema(names: &[String]) -> SchemaRef {
    let fields = match vector_base(names) {
        Some(base) => vec![Field::new(base, fixed_size_list_type(names.len()), false)],
        None => names
            .iter()
            .map(|n| Field::new(n, DataType::Float32, false))
            .collect(),
    };
    Arc::new(Schema::new(fields))
}

/// `rows` (`[n, features]`, in the order of `names`) as a batch of [`feature_columns_schema`].
pub fn feature_columns(rows: ArrayView2<f32>, names: &[String]) -> Result<RecordBatch> {
    if rows.ncols() != names.len() {
        return Err(Error::shape(
            "feature_columns",
            format!("{} columns (one per feature)", names.len()),
            format!("{}", rows.ncols()),
        ));
    }
    let schema = feature_columns_schema(names);
    let columns: Vec<ArrayRef> = match vector_base(names) {
        Some(_) => vec![Arc::new(matrix_to_fixed_size_list(rows))],
        None => rows
            .columns()
            .into_iter()
            .map(|c| Arc::new(c.iter().copied().collect::<Float32Array>()) as ArrayRef)
            .collect(),
    };
    Ok(RecordBatch::try_new(schema, columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::arrow::array::{Array, AsArray};
    use ::arrow::datatypes::Float32Type;
    use ndarray::array;

    #[test]
    fn scalar_features_become_columns_and_vectors_one_column() {
        let rows = array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
        let b = feature_columns(rows.view(), &["a".into(), "b".into()]).unwrap();
        assert_eq!(b.schema().field(1).name(), "b");
        let col = b.column(1).as_primitive::<Float32Type>();
        assert_eq!(col.values().to_vec(), vec![2.0, 4.0, 6.0]);

        let names: Vec<String> = (0..2).map(|i| format!("px[{i}]")).collect();
        let b = feature_columns(rows.view(), &names).unwrap();
        assert_eq!(b.num_columns(), 1);
        assert_eq!(b.schema().field(0).name(), "px");
        let list = b.column(0).as_fixed_size_list();
        assert_eq!(list.len(), 3);
        assert_eq!(
            list.value(2)
                .as_primitive::<Float32Type>()
                .values()
                .to_vec(),
            vec![5.0, 6.0]
        );
        assert!(feature_columns(rows.view(), &["a".into()]).is_err());
    }
}
