//! f32 matrices → Arrow `FixedSizeList<Float32>` columns (one list per matrix row).

use std::sync::Arc;

use ::arrow::array::{FixedSizeListArray, Float32Array};
use ::arrow::buffer::NullBuffer;
use ::arrow::datatypes::{DataType, Field};
use ndarray::ArrayView2;

/// The type of every vector aeflow produces: `FixedSizeList<Float32>[width]`, list items named
/// `item` and nullable (arrow's conventional list field).
pub fn fixed_size_list_type(width: usize) -> DataType {
    DataType::FixedSizeList(
        Arc::new(Field::new_list_field(DataType::Float32, true)),
        i32::try_from(width).unwrap_or(i32::MAX),
    )
}

/// `FixedSizeList<Float32>[cols]` with one list per matrix row.
pub fn matrix_to_fixed_size_list(m: ArrayView2<f32>) -> FixedSizeListArray {
    matrix_to_fixed_size_list_masked(m, None)
}

/// Like [`matrix_to_fixed_size_list`], with row `i` NULL where `nulls` says so (the row's values
/// are kept as placeholders).
pub fn matrix_to_fixed_size_list_masked(
    m: ArrayView2<f32>,
    nulls: Option<NullBuffer>,
) -> FixedSizeListArray {
    let width = m.ncols();
    let values: Float32Array = match m.as_slice() {
        Some(s) => Float32Array::from(s.to_vec()),
        None => m.iter().copied().collect(),
    };
    let DataType::FixedSizeList(field, size) = fixed_size_list_type(width) else {
        unreachable!("fixed_size_list_type returns a FixedSizeList")
    };
    // `try_new_with_length` keeps the row count when width is 0.
    FixedSizeListArray::try_new_with_length(field, size, Arc::new(values), nulls, m.nrows())
        .unwrap_or_else(|e| unreachable!("values are rows × width by construction: {e}"))
}

#[cfg(test)]
mod tests {
    use ::arrow::array::{Array, AsArray};
    use ::arrow::datatypes::Float32Type;
    use ndarray::array;

    use super::*;

    #[test]
    fn rows_become_lists_and_round_trip() {
        let m = array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]];
        let l = matrix_to_fixed_size_list(m.view());
        assert_eq!(l.len(), 2);
        assert_eq!(l.data_type(), &fixed_size_list_type(3));
        let row1 = l.value(1);
        assert_eq!(
            row1.as_primitive::<Float32Type>().values().to_vec(),
            vec![4.0, 5.0, 6.0]
        );
        let back = crate::arrow::vector_to_matrix(&l, 3, "l").unwrap();
        assert_eq!(back, m);

        // A transposed (non-contiguous) view is read in logical order.
        let t = matrix_to_fixed_size_list(m.t());
        assert_eq!(
            t.value(0).as_primitive::<Float32Type>().values().to_vec(),
            vec![1.0, 4.0]
        );
    }

    #[test]
    fn masked_rows_are_null() {
        let m = array![[1.0f32], [2.0]];
        let l = matrix_to_fixed_size_list_masked(m.view(), Some(vec![false, true].into()));
        assert!(l.is_null(0));
        assert!(l.is_valid(1));
        let empty = matrix_to_fixed_size_list(ndarray::Array2::<f32>::zeros((4, 0)).view());
        assert_eq!(empty.len(), 4);
    }
}
