//! Arrow arrays → `[rows, features]` f32 matrices. NULL → NaN.
//!
//! Each column is converted once; the rows a model cannot take are noted in the same pass
//! ([`Scan`], used by [`FeatureRows`](super::FeatureRows)). The plain conversions here judge no
//! values.

use ::arrow::array::{Array, ArrayRef, AsArray, OffsetSizeTrait, RecordBatch};
use ::arrow::datatypes::DataType;
use ndarray::{Array2, ArrayView2};

use super::numeric::{EXPECTED_NUMERIC, mask_nulls, to_f32_vec, vector_width, write_f32};
use super::select::FeatureLayout;
use super::validity::{Fault, RowFault, Scan};
use crate::error::{Error, Result};

/// `[rows, features]` from a batch; NULL → NaN. Any integer / float / decimal type is accepted.
///
/// With [`FeatureLayout::Scalars`] feature `j` is column `columns[j]`; with
/// [`FeatureLayout::Vector`] it is element `j` of every row of the vector column.
pub fn batch_to_matrix(batch: &RecordBatch, layout: &FeatureLayout) -> Result<Array2<f32>> {
    let mut scan = Scan::new(batch.num_rows(), None);
    let (x, input) = read_batch(batch, layout, &mut scan)?;
    refuse_wrong_length(&scan.finish(), input.as_deref())?;
    Ok(x)
}

/// `[rows, features]` from n numeric scalar arrays, or from one FixedSizeList/List float array.
/// `input` names the arrays in errors (e.g. `ae_encode argument 2`). NULL → NaN; a NULL list row
/// gives a row of NaN.
///
/// The width of a `List` array is the length of its first non-NULL row; an all-NULL `List` array
/// has no width and is an error (use [`vector_to_matrix`] with the width you expect).
pub fn arrays_to_matrix(arrays: &[ArrayRef], input: &str) -> Result<Array2<f32>> {
    let Some(first) = arrays.first() else {
        return Err(Error::data(input, "no feature values given"));
    };
    let width = match (arrays.len(), vector_width(first.data_type())) {
        (1, Some(Some(w))) => w,
        (1, Some(None)) => list_lengths(first.as_ref())
            .and_then(|mut l| l.find_map(|(_, len)| len))
            .ok_or_else(|| Error::data(input, "a list column with only NULL rows has no width"))?,
        (n, _) => n,
    };
    let mut scan = Scan::new(first.len(), None);
    let (x, vector) = read_values(arrays, width, input, &mut scan)?;
    refuse_wrong_length(&scan.finish(), vector.as_deref())?;
    Ok(x)
}

/// `[rows, width]` from one `FixedSizeList` / `List` / `LargeList` array of numbers.
///
/// Every non-NULL row must hold exactly `width` values; a NULL row, or a NULL element, gives NaN.
pub fn vector_to_matrix(array: &dyn Array, width: usize, input: &str) -> Result<Array2<f32>> {
    let mut scan = Scan::new(array.len(), None);
    let x = read_vector(array, width, input, input, &mut scan)?;
    refuse_wrong_length(&scan.finish(), Some(input))?;
    Ok(x)
}

/// `true` for rows holding at least one NaN.
pub fn rows_with_missing(m: ArrayView2<f32>) -> Vec<bool> {
    m.rows()
        .into_iter()
        .map(|r| r.iter().any(|v| v.is_nan()))
        .collect()
}

/// The features `layout` locates in `batch`, and (for a vector) how errors name its column.
pub(super) fn read_batch(
    batch: &RecordBatch,
    layout: &FeatureLayout,
    scan: &mut Scan,
) -> Result<(Array2<f32>, Option<String>)> {
    let schema = batch.schema();
    for i in layout.columns() {
        if i >= batch.num_columns() {
            return Err(Error::shape(
                "batch_to_matrix",
                format!("a column index below {}", batch.num_columns()),
                format!("column index {i}"),
            ));
        }
    }
    match layout {
        FeatureLayout::Scalars(columns) => {
            let mut m = Array2::<f32>::zeros((batch.num_rows(), columns.len()));
            for (j, &c) in columns.iter().enumerate() {
                let name = schema.field(c).name();
                let input = format!("column '{name}'");
                read_scalar(batch.column(c).as_ref(), &mut m, j, &input, name, scan)?;
            }
            Ok((m, None))
        }
        FeatureLayout::Vector { column, width } => {
            let name = schema.field(*column).name();
            let input = format!("column '{name}'");
            let m = read_vector(batch.column(*column).as_ref(), *width, &input, name, scan)?;
            Ok((m, Some(input)))
        }
    }
}

/// `width` features from `width` scalar arrays or one vector array (see
/// [`super::FeatureRows::read_arrays`]), and (for a vector) how errors name it.
pub(super) fn read_values(
    arrays: &[ArrayRef],
    width: usize,
    input: &str,
    scan: &mut Scan,
) -> Result<(Array2<f32>, Option<String>)> {
    if let [vector] = arrays
        && vector_width(vector.data_type()).is_some()
    {
        let m = read_vector(vector.as_ref(), width, input, input, scan)?;
        return Ok((m, Some(input.to_string())));
    }
    if arrays.len() != width {
        return Err(Error::data(
            input,
            format!("{} values given; expected {width}", arrays.len()),
        ));
    }
    let rows = arrays.first().map_or(0, |a| a.len());
    let mut m = Array2::<f32>::zeros((rows, width));
    for (j, a) in arrays.iter().enumerate() {
        let name = if arrays.len() == 1 {
            input.to_string()
        } else {
            format!("{input}, value {}", j + 1)
        };
        if a.len() != rows {
            return Err(Error::shape(
                "arrays_to_matrix",
                format!("{rows} rows"),
                format!("{} rows in {name}", a.len()),
            ));
        }
        if vector_width(a.data_type()).is_some() {
            return Err(Error::data(
                name,
                format!(
                    "is a vector ({}); a vector must be the only feature argument",
                    a.data_type()
                ),
            ));
        }
        read_scalar(a.as_ref(), &mut m, j, &name, &name, scan)?;
    }
    Ok((m, None))
}

/// The first vector of the wrong length as an error naming `input` and the row (1-based).
pub(super) fn refuse_wrong_length(faults: &[RowFault], input: Option<&str>) -> Result<()> {
    match faults.iter().find_map(|f| match f.fault {
        Fault::WrongLength { got, expected } => Some((f.row, got, expected)),
        _ => None,
    }) {
        None => Ok(()),
        Some((row, got, expected)) => Err(Error::data(
            format!("{}, row {}", input.unwrap_or("vector column"), row + 1),
            format!("holds {got} values; expected {expected}"),
        )),
    }
}

/// Feature `j` of `m` from one numeric scalar array. `input` names it in errors, `name` in
/// faults.
fn read_scalar(
    array: &dyn Array,
    m: &mut Array2<f32>,
    j: usize,
    input: &str,
    name: &str,
    scan: &mut Scan,
) -> Result<()> {
    if vector_width(array.data_type()).is_some() {
        return Err(Error::data(
            input,
            format!(
                "has type {}; expected {EXPECTED_NUMERIC}",
                array.data_type()
            ),
        ));
    }
    let mut out = m.column_mut(j);
    write_f32(array, out.iter_mut(), input)?;
    mask_nulls(array, out.iter_mut());
    scan.scalar(m.column(j), array, name);
    Ok(())
}

/// `[rows, width]` from one vector array. A NULL row is NaN throughout, and so is a row of the
/// wrong length (a fault in `scan`).
fn read_vector(
    array: &dyn Array,
    width: usize,
    input: &str,
    name: &str,
    scan: &mut Scan,
) -> Result<Array2<f32>> {
    let rows = array.len();
    let mut m = Array2::<f32>::zeros((rows, width));
    match array.data_type() {
        DataType::FixedSizeList(_, n) => {
            let got = usize::try_from(*n).unwrap_or(0);
            if got != width {
                return Err(Error::data(
                    input,
                    format!("holds vectors of {got} values; expected {width}"),
                ));
            }
            let list = array.as_fixed_size_list();
            let values = to_f32_vec(list.values().as_ref(), &format!("{input} values"))?;
            if let Some(dst) = m.as_slice_mut() {
                dst.copy_from_slice(&values[..rows * width]);
            }
            null_rows_to_nan(array, &mut m);
            scan.vector(m.view(), array, list.values().as_ref(), |r| r * width, name);
        }
        DataType::List(_) => read_list::<i32>(array, &mut m, input, name, scan)?,
        DataType::LargeList(_) => read_list::<i64>(array, &mut m, input, name, scan)?,
        other => {
            return Err(Error::data(
                input,
                format!("has type {other}; expected a list of numbers ({width} per row)"),
            ));
        }
    }
    Ok(m)
}

/// A NULL row is NaN throughout, whatever its placeholder values hold.
fn null_rows_to_nan(array: &dyn Array, m: &mut Array2<f32>) {
    if let Some(nulls) = array.logical_nulls()
        && nulls.null_count() > 0
    {
        for (mut row, valid) in m.rows_mut().into_iter().zip(nulls.iter()) {
            if !valid {
                row.fill(f32::NAN);
            }
        }
    }
}

/// `(row, Some(len))` for each row of a variable-length list array; `None` for NULL rows.
fn list_lengths(
    array: &dyn Array,
) -> Option<Box<dyn Iterator<Item = (usize, Option<usize>)> + '_>> {
    fn lens<O: OffsetSizeTrait>(
        array: &dyn Array,
    ) -> Box<dyn Iterator<Item = (usize, Option<usize>)> + '_> {
        let l = array.as_list::<O>();
        Box::new(l.offsets().windows(2).enumerate().map(move |(i, w)| {
            let len = (w[1] - w[0]).as_usize();
            (i, array.is_valid(i).then_some(len))
        }))
    }
    match array.data_type() {
        DataType::List(_) => Some(lens::<i32>(array)),
        DataType::LargeList(_) => Some(lens::<i64>(array)),
        _ => None,
    }
}

fn read_list<O: OffsetSizeTrait>(
    array: &dyn Array,
    m: &mut Array2<f32>,
    input: &str,
    name: &str,
    scan: &mut Scan,
) -> Result<()> {
    let list = array.as_list::<O>();
    let width = m.ncols();
    let offsets = list.offsets();
    let start = offsets[0].as_usize();
    let end = offsets[offsets.len() - 1].as_usize();
    // Only the part of the child array this (possibly sliced) list points into.
    let child = list.values().slice(start, end - start);
    let values = to_f32_vec(child.as_ref(), &format!("{input} values"))?;
    for (i, w) in offsets.windows(2).enumerate() {
        if list.is_null(i) {
            continue;
        }
        let (a, b) = (w[0].as_usize() - start, w[1].as_usize() - start);
        if b - a != width {
            scan.wrong_length(i, name, b - a, width);
            m.row_mut(i).fill(f32::NAN);
            continue;
        }
        m.row_mut(i)
            .iter_mut()
            .zip(&values[a..b])
            .for_each(|(o, v)| *o = *v);
    }
    null_rows_to_nan(array, m);
    scan.vector(
        m.view(),
        array,
        child.as_ref(),
        |r| offsets[r].as_usize() - start,
        name,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ::arrow::array::{
        FixedSizeListArray, Float32Array, Float64Array, Int64Array, ListArray, StringArray,
    };
    use ::arrow::datatypes::{Field, Float64Type, Schema};

    use super::*;

    #[test]
    fn scalar_columns_fill_the_matrix_column_by_column() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["x", "y", "z"])),
                Arc::new(Int64Array::from(vec![Some(1), Some(2), None])),
                Arc::new(Float64Array::from(vec![0.5, 1.5, 2.5])),
            ],
        )
        .unwrap();
        let m = batch_to_matrix(&batch, &FeatureLayout::Scalars(vec![2, 1])).unwrap();
        assert_eq!(m.shape(), &[3, 2]);
        assert_eq!(m[[0, 0]], 0.5);
        assert_eq!(m[[1, 1]], 2.0);
        assert!(m[[2, 1]].is_nan());
        assert_eq!(rows_with_missing(m.view()), vec![false, false, true]);

        let e = batch_to_matrix(&batch, &FeatureLayout::Scalars(vec![0])).unwrap_err();
        assert!(e.to_string().contains("column 'id'"), "{e}");
    }

    #[test]
    fn fixed_size_list_rows_become_matrix_rows_and_null_rows_nan() {
        let values = Float32Array::from(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let field = Arc::new(Field::new_list_field(DataType::Float32, true));
        let list = FixedSizeListArray::new(
            field,
            2,
            Arc::new(values),
            Some(vec![true, false, true].into()),
        );
        let m = arrays_to_matrix(&[Arc::new(list.clone())], "v").unwrap();
        assert_eq!(m.row(0).to_vec(), vec![1.0, 2.0]);
        assert!(m.row(1).iter().all(|v| v.is_nan()));
        assert_eq!(m.row(2).to_vec(), vec![5.0, 6.0]);

        let sliced = list.slice(2, 1);
        let m = vector_to_matrix(&sliced, 2, "v").unwrap();
        assert_eq!(m.row(0).to_vec(), vec![5.0, 6.0]);
        assert!(vector_to_matrix(&list, 3, "v").is_err());
    }

    #[test]
    fn list_rows_must_have_the_same_width() {
        let list = ListArray::from_iter_primitive::<Float64Type, _, _>(vec![
            Some(vec![Some(1.0), Some(2.0)]),
            None,
            Some(vec![Some(3.0), None]),
        ]);
        let m = arrays_to_matrix(&[Arc::new(list.clone())], "v").unwrap();
        assert_eq!(m.shape(), &[3, 2]);
        assert_eq!(m[[0, 1]], 2.0);
        assert!(m[[1, 0]].is_nan());
        assert_eq!(m[[2, 0]], 3.0);
        assert!(m[[2, 1]].is_nan());

        let sliced = list.slice(1, 2);
        let m = vector_to_matrix(&sliced, 2, "v").unwrap();
        assert_eq!(m[[1, 0]], 3.0);

        let ragged = ListArray::from_iter_primitive::<Float64Type, _, _>(vec![
            Some(vec![Some(1.0), Some(2.0)]),
            Some(vec![Some(3.0)]),
        ]);
        let e = arrays_to_matrix(&[Arc::new(ragged)], "v")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("row 2") && e.contains("1 values; expected 2"),
            "{e}"
        );
    }

    #[test]
    fn several_arrays_are_several_features() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
        let b: ArrayRef = Arc::new(Float64Array::from(vec![Some(3.0), None]));
        let m = arrays_to_matrix(&[a.clone(), b], "f").unwrap();
        assert_eq!(m[[1, 0]], 2.0);
        assert!(m[[1, 1]].is_nan());
        let s: ArrayRef = Arc::new(StringArray::from(vec!["x", "y"]));
        let e = arrays_to_matrix(&[a, s], "ae_encode")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ae_encode, value 2") && e.contains("Utf8"),
            "{e}"
        );
    }
}
