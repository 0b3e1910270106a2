//! Polars columns → Arrow record batches, sharing the memory where the layouts allow.
//!
//! A numeric Polars column is a list of chunks, each a Polars-Arrow primitive array: a values
//! buffer and an optional validity bitmap, laid out as the Arrow format says. Each chunk becomes
//! an arrow-rs array over the *same* memory (the Arrow array holds a reference to the Polars
//! buffer, so nothing is copied and the memory lives as long as either side needs it). Copies
//! happen only when Polars must first line the columns' chunks up (`align_chunks`), or for a
//! buffer not aligned to its value type (never seen in practice; copied rather than rejected).

use std::panic::AssertUnwindSafe;
use std::ptr::NonNull;
use std::sync::Arc;

use ::arrow::array::{ArrayRef, ArrowPrimitiveType, PrimitiveArray, RecordBatch};
use ::arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, ScalarBuffer};
use ::arrow::datatypes::{
    ArrowNativeType, Field, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    Schema, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use polars::prelude::{DataFrame, DataType as PlDataType};
use polars_arrow::array::{Array as PlArray, PrimitiveArray as PlPrimitiveArray};
use polars_arrow::bitmap::Bitmap;
use polars_arrow::types::NativeType;

use crate::error::{Error, Result};

/// The polars dtypes a feature column may have.
const NUMERIC: &str =
    "Int8, Int16, Int32, Int64, UInt8, UInt16, UInt32, UInt64, Float32 or Float64";

/// `columns` of `df`, in that order, as Arrow record batches (one per chunk after aligning the
/// chunks of those columns; one empty batch for a frame without chunks). Field names are the
/// column names; every field is nullable. The arrays share the Polars columns' memory.
///
/// The columns must be numeric (Int8 … UInt64, Float32, Float64): anything else, or a name
/// that is not a column, is an error naming the column.
pub fn to_record_batches(df: &DataFrame, columns: &[&str]) -> Result<Vec<RecordBatch>> {
    if columns.is_empty() {
        return Err(Error::config(
            "columns",
            "expected at least one feature column",
        ));
    }
    for name in columns {
        let column = df.column(name).map_err(|_| {
            Error::data(
                format!("column '{name}'"),
                format!(
                    "not in the DataFrame; its columns are: {}",
                    df.get_column_names()
                        .iter()
                        .map(|n| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        if !column.dtype().is_primitive_numeric() {
            return Err(Error::data(
                format!("column '{name}'"),
                format!("has type {}; expected {NUMERIC}", column.dtype()),
            ));
        }
    }
    let mut features = df.select(columns.iter().copied())?;
    // Column i of every batch must come from chunk k of every column: line chunks up (a copy
    // only when their boundaries differ).
    features.align_chunks_par();
    let series: Vec<_> = features
        .columns()
        .iter()
        .map(|c| c.as_materialized_series().clone())
        .collect();
    let fields: Vec<Field> = series
        .iter()
        .map(|s| {
            let dtype = arrow_type(s.dtype()).ok_or_else(|| not_numeric(s.name(), s.dtype()))?;
            Ok(Field::new(s.name().as_str(), dtype, true))
        })
        .collect::<Result<_>>()?;
    let schema = Arc::new(Schema::new(fields));
    let n_chunks = series.first().map_or(0, |s| s.chunks().len());
    if n_chunks == 0 {
        // A frame without chunks has no rows: one empty batch keeps the output types.
        return Ok(vec![RecordBatch::new_empty(schema)]);
    }
    let mut batches = Vec::with_capacity(n_chunks);
    for k in 0..n_chunks {
        let arrays = series
            .iter()
            .map(|s| to_arrow(s.name(), s.chunks()[k].as_ref()))
            .collect::<Result<Vec<_>>>()?;
        batches.push(RecordBatch::try_new(schema.clone(), arrays)?);
    }
    Ok(batches)
}

fn not_numeric(name: &str, dtype: &PlDataType) -> Error {
    Error::data(
        format!("column '{name}'"),
        format!("has type {dtype}; expected {NUMERIC}"),
    )
}

fn arrow_type(dtype: &PlDataType) -> Option<::arrow::datatypes::DataType> {
    use ::arrow::datatypes::DataType as A;
    Some(match dtype {
        PlDataType::Int8 => A::Int8,
        PlDataType::Int16 => A::Int16,
        PlDataType::Int32 => A::Int32,
        PlDataType::Int64 => A::Int64,
        PlDataType::UInt8 => A::UInt8,
        PlDataType::UInt16 => A::UInt16,
        PlDataType::UInt32 => A::UInt32,
        PlDataType::UInt64 => A::UInt64,
        PlDataType::Float32 => A::Float32,
        PlDataType::Float64 => A::Float64,
        _ => return None,
    })
}

/// One Polars-Arrow chunk as an arrow-rs array over the same memory.
fn to_arrow(name: &str, chunk: &dyn PlArray) -> Result<ArrayRef> {
    let any = chunk.as_any();
    macro_rules! try_type {
        ($native:ty, $arrow:ty) => {
            if let Some(a) = any.downcast_ref::<PlPrimitiveArray<$native>>() {
                return Ok(Arc::new(primitive::<$native, $arrow>(a)));
            }
        };
    }
    try_type!(f32, Float32Type);
    try_type!(f64, Float64Type);
    try_type!(i8, Int8Type);
    try_type!(i16, Int16Type);
    try_type!(i32, Int32Type);
    try_type!(i64, Int64Type);
    try_type!(u8, UInt8Type);
    try_type!(u16, UInt16Type);
    try_type!(u32, UInt32Type);
    try_type!(u64, UInt64Type);
    Err(Error::data(
        format!("column '{name}'"),
        format!(
            "holds a {:?} chunk; expected a primitive array of {NUMERIC}",
            chunk.dtype()
        ),
    ))
}

fn primitive<T, A>(array: &PlPrimitiveArray<T>) -> PrimitiveArray<A>
where
    T: NativeType + ArrowNativeType,
    A: ArrowPrimitiveType<Native = T>,
{
    let values = array.values();
    let slice = values.as_slice();
    let buffer = if (slice.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>()) {
        share(slice, values.clone())
    } else {
        Buffer::from_slice_ref(slice)
    };
    let values = ScalarBuffer::<T>::new(buffer, 0, slice.len());
    let nulls = array.validity().map(validity);
    PrimitiveArray::<A>::new(values, nulls)
}

fn validity(bitmap: &Bitmap) -> NullBuffer {
    let (bytes, offset, len) = bitmap.as_slice();
    let buffer = share(bytes, bitmap.clone());
    NullBuffer::new(BooleanBuffer::new(buffer, offset, len))
}

/// An arrow-rs [`Buffer`] over the memory of `slice`, kept alive by `owner`.
///
/// `owner` must be a handle (a reference-counted Polars `Buffer` or `Bitmap`) to the memory
/// `slice` lies in: both callers pass a clone of the object the slice was borrowed from.
/// Polars buffers are immutable while shared (copy-on-write), so the memory neither moves
/// nor changes while the Arrow buffer exists. This saves one copy of every feature column
/// (8 bytes a value for Float64) on the way from Polars to the model.
fn share<T, O>(slice: &[T], owner: O) -> Buffer
where
    O: Send + Sync + 'static,
{
    let len = std::mem::size_of_val(slice);
    let ptr = NonNull::from(slice).cast::<u8>();
    // The owner is only ever dropped, so no panic can observe it half-updated.
    let owner: Arc<dyn ::arrow::alloc::Allocation> = Arc::new(AssertUnwindSafe(owner));
    // SAFETY: `ptr..ptr + len` is `slice`, which lives in memory owned by `owner` (see above);
    // `owner` is moved into the Buffer, so that memory outlives it and is never written.
    unsafe { Buffer::from_custom_allocation(ptr, len, owner) }
}
