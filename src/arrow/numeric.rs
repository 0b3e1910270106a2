//! Which Arrow types count as numbers, and how one numeric array becomes f32 values.

use ::arrow::array::{Array, AsArray};
use ::arrow::compute::cast;
use ::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Float16Type, Float32Type, Float64Type, Int8Type, Int16Type,
    Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};

use crate::error::{Error, Result};

/// Integer, float and decimal types: one feature per value.
pub(crate) fn is_numeric(data_type: &DataType) -> bool {
    use DataType::*;
    matches!(
        data_type,
        Int8 | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | UInt64
            | Float16
            | Float32
            | Float64
            | Decimal32(..)
            | Decimal64(..)
            | Decimal128(..)
            | Decimal256(..)
    )
}

/// For a vector column (`FixedSizeList` / `List` / `LargeList` of numbers): its width when the
/// type fixes it (`Some(Some(n))`), or `Some(None)` for variable-length lists. `None` otherwise.
pub(crate) fn vector_width(data_type: &DataType) -> Option<Option<usize>> {
    match data_type {
        DataType::FixedSizeList(field, n) if is_numeric(field.data_type()) => {
            Some(Some(usize::try_from(*n).unwrap_or(0)))
        }
        DataType::List(field) | DataType::LargeList(field) if is_numeric(field.data_type()) => {
            Some(None)
        }
        _ => None,
    }
}

/// Short human description of the accepted types, for error messages.
pub(crate) const EXPECTED_NUMERIC: &str = "an integer, float or decimal column";

/// Write `array`'s values as f32 into `out` (which has exactly `array.len()` slots), NULL → NaN.
///
/// Integers above 2²⁴ and f64 lose precision in f32, as they do in every f32 network.
/// `Null`-typed arrays (a column that is NULL everywhere) give NaN everywhere.
pub(crate) fn write_f32<'a>(
    array: &dyn Array,
    out: impl ExactSizeIterator<Item = &'a mut f32>,
    input: &str,
) -> Result<()> {
    if out.len() != array.len() {
        return Err(Error::shape(
            "write_f32",
            format!("{} values", out.len()),
            format!("{} values in {input}", array.len()),
        ));
    }
    macro_rules! copy_as {
        ($t:ty, $conv:expr) => {{
            let values = array.as_primitive::<$t>().values();
            for (o, v) in out.zip(values.iter()) {
                *o = $conv(*v);
            }
        }};
    }
    match array.data_type() {
        DataType::Null => {
            for o in out {
                *o = f32::NAN;
            }
            return Ok(());
        }
        DataType::Int8 => copy_as!(Int8Type, |v: i8| v as f32),
        DataType::Int16 => copy_as!(Int16Type, |v: i16| v as f32),
        DataType::Int32 => copy_as!(Int32Type, |v: i32| v as f32),
        DataType::Int64 => copy_as!(Int64Type, |v: i64| v as f32),
        DataType::UInt8 => copy_as!(UInt8Type, |v: u8| v as f32),
        DataType::UInt16 => copy_as!(UInt16Type, |v: u16| v as f32),
        DataType::UInt32 => copy_as!(UInt32Type, |v: u32| v as f32),
        DataType::UInt64 => copy_as!(UInt64Type, |v: u64| v as f32),
        DataType::Float16 => copy_as!(
            Float16Type,
            |v: <Float16Type as ArrowPrimitiveType>::Native| v.to_f32()
        ),
        DataType::Float32 => copy_as!(Float32Type, |v: f32| v),
        DataType::Float64 => copy_as!(Float64Type, |v: f64| v as f32),
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => {
            // Decimals carry a scale; arrow's cast divides by 10^scale for us.
            let as_f64 = cast(array, &DataType::Float64)
                .map_err(|e| Error::data(input, format!("cannot convert decimal to float: {e}")))?;
            let values = as_f64.as_primitive::<Float64Type>().values();
            for (o, v) in out.zip(values.iter()) {
                *o = *v as f32;
            }
        }
        other => {
            return Err(Error::data(
                input,
                format!("has type {other}; expected {EXPECTED_NUMERIC}"),
            ));
        }
    }
    Ok(())
}

/// Overwrite with NaN the slots whose row is NULL in `array`. `slots` yields one slot per row.
pub(crate) fn mask_nulls<'a>(array: &dyn Array, slots: impl Iterator<Item = &'a mut f32>) {
    if let Some(nulls) = array.logical_nulls()
        && nulls.null_count() > 0
    {
        for (o, valid) in slots.zip(nulls.iter()) {
            if !valid {
                *o = f32::NAN;
            }
        }
    }
}

/// All of `array` as f32, NULL → NaN.
pub(crate) fn to_f32_vec(array: &dyn Array, input: &str) -> Result<Vec<f32>> {
    let mut out = vec![0.0f32; array.len()];
    write_f32(array, out.iter_mut(), input)?;
    mask_nulls(array, out.iter_mut());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ::arrow::array::{
        ArrayRef, Decimal128Array, Float32Array, Int32Array, StringArray, UInt64Array,
    };

    use super::*;

    #[test]
    fn integers_floats_and_decimals_become_f32_with_nan_for_null() {
        let ints: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), None, Some(-3)]));
        let v = to_f32_vec(&ints, "a").unwrap();
        assert_eq!(v[0], 1.0);
        assert!(v[1].is_nan());
        assert_eq!(v[2], -3.0);

        let dec = Decimal128Array::from(vec![Some(12345), None])
            .with_precision_and_scale(10, 2)
            .unwrap();
        let v = to_f32_vec(&dec, "d").unwrap();
        assert!((v[0] - 123.45).abs() < 1e-4);
        assert!(v[1].is_nan());

        let u = UInt64Array::from(vec![7u64]);
        assert_eq!(to_f32_vec(&u, "u").unwrap(), vec![7.0]);

        let h = cast(&Float32Array::from(vec![0.5f32]), &DataType::Float16).unwrap();
        assert_eq!(to_f32_vec(&h, "h").unwrap(), vec![0.5]);
    }

    #[test]
    fn strings_are_rejected_with_the_input_named() {
        let s = StringArray::from(vec!["x"]);
        let err = to_f32_vec(&s, "column 'name'").unwrap_err().to_string();
        assert!(
            err.contains("column 'name'") && err.contains("Utf8"),
            "{err}"
        );
    }

    #[test]
    fn sliced_arrays_keep_their_offset() {
        let a = Int32Array::from(vec![Some(1), None, Some(3), Some(4)]);
        let s = a.slice(1, 3);
        let v = to_f32_vec(&s, "a").unwrap();
        assert!(v[0].is_nan());
        assert_eq!(&v[1..], &[3.0, 4.0]);
    }
}
