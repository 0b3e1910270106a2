//! aeflow's Arrow output columns → Polars columns.
//!
//! | Arrow (from [`crate::arrow`]) | Polars |
//! |---|---|
//! | `Float64` | `Float64` |
//! | `Boolean` | `Boolean` |
//! | `FixedSizeList<Float32>[k]` | `Array(Float32, k)` |
//!
//! These columns are new data, produced batch by batch; each becomes one Polars chunk per batch.

use ::arrow::array::{Array, ArrayRef, AsArray};
use ::arrow::datatypes::{DataType, Float32Type, Float64Type};
use polars::prelude::{
    BooleanChunked, Column, Float64Chunked, IntoColumn, NewChunkedArray, PlSmallStr, Series,
};
use polars_arrow::array::{FixedSizeListArray, PrimitiveArray};
use polars_arrow::bitmap::Bitmap;
use polars_arrow::datatypes::{ArrowDataType, Field};

use crate::error::{Error, Result};

/// The arrays `parts` (one per batch, all of one type) as one Polars column called `name`.
pub(crate) fn to_column(name: &str, parts: &[ArrayRef]) -> Result<Column> {
    let name = PlSmallStr::from_str(name);
    let Some(first) = parts.first() else {
        return Err(Error::Internal(format!(
            "no batches for output column {name}"
        )));
    };
    match first.data_type().clone() {
        DataType::Float64 => {
            let values = parts
                .iter()
                .flat_map(|a| a.as_primitive::<Float64Type>().iter());
            Ok(Float64Chunked::from_iter_options(name, values).into_column())
        }
        DataType::Boolean => {
            let values = parts.iter().flat_map(|a| a.as_boolean().iter());
            Ok(BooleanChunked::from_iter_options(name, values).into_column())
        }
        DataType::FixedSizeList(_, width) => {
            let width = usize::try_from(width)
                .map_err(|_| Error::Internal(format!("negative list width in {name}")))?;
            let mut series: Option<Series> = None;
            for part in parts {
                let chunk = Series::from_arrow(name.clone(), Box::new(vectors(part, width)?))?;
                match &mut series {
                    None => series = Some(chunk),
                    Some(s) => {
                        s.append(&chunk)?;
                    }
                }
            }
            let series = series.ok_or_else(|| Error::Internal(format!("no rows for {name}")))?;
            Ok(series.into_column())
        }
        other => Err(Error::Internal(format!(
            "output column {name} has type {other}, which has no Polars conversion"
        ))),
    }
}

/// A `FixedSizeList<Float32>[width]` array as a Polars-Arrow one (values copied once).
fn vectors(array: &ArrayRef, width: usize) -> Result<FixedSizeListArray> {
    let list = array.as_fixed_size_list();
    let inner = list
        .values()
        .as_primitive_opt::<Float32Type>()
        .ok_or_else(|| {
            Error::Internal(format!(
                "vector output has {} elements, expected Float32",
                list.value_type()
            ))
        })?;
    // The list's own offset is in rows; its values start at offset · width.
    let start = list.offset() * width;
    let values = inner.values()[start..start + list.len() * width].to_vec();
    let validity = list.nulls().map(|n| Bitmap::from_iter(n.iter()));
    let item = Field::new(
        PlSmallStr::from_static("item"),
        ArrowDataType::Float32,
        true,
    );
    let dtype = ArrowDataType::FixedSizeList(Box::new(item), width);
    FixedSizeListArray::try_new(
        dtype,
        list.len(),
        Box::new(PrimitiveArray::from_vec(values)),
        validity,
    )
    .map_err(Error::from)
}
