//! The rows a model can take, found in the same pass that reads the feature columns into its
//! matrix ([`FeatureRows`]): the one NULL / NaN / infinity rule of every surface.
//!
//! # The rule
//! A row is *usable* unless one of its features is
//! - **NULL** (a NULL value, an absent JSON field, a NULL vector or a NULL vector element) or
//!   **NaN**: a missing value. A model trained with [`MissingPolicy::ImputeMean`] fills it in with
//!   the training mean, so the row is usable; under [`MissingPolicy::Reject`] it is not.
//! - **±inf**, or a finite number beyond the f32 range (|v| > 3.4·10³⁸, which is ±inf in f32):
//!   never usable.
//! - in a vector column, a row holding another number of values than the model has features:
//!   never usable.
//!
//! The first fault of a row, in feature order, is the one reported. What a surface does with an
//! unusable row: [`score_batch`](super::score_batch) and the SQL functions give it NULL outputs
//! (a vector of the wrong length is an error there: [`FeatureRows::refuse_wrong_lengths`]); the
//! Kafka stage dead-letters its message with the fault as the reason.

use std::fmt;

use ::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use ::arrow::buffer::NullBuffer;
use ::arrow::datatypes::Float64Type;
use ndarray::{Array2, ArrayView1, ArrayView2, Axis};

use super::select::FeatureLayout;
use super::to_matrix::{read_batch, read_values, refuse_wrong_length};
use crate::error::{Error, Result};
use crate::model::MissingPolicy;

/// Why a row cannot be given to the model.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The value is NULL (or absent, or the whole vector is NULL).
    Null,
    /// The value is NaN.
    NaN,
    /// The value is ±inf, or a finite number too large for f32; `value` is the input's value.
    Infinite {
        /// The value as given (f64 inputs keep their value; other types their f32 value).
        value: f64,
    },
    /// The vector holds `got` values; the model expects `expected`.
    WrongLength {
        /// Number of values in the row.
        got: usize,
        /// Number of values the model expects (its number of features).
        expected: usize,
    },
}

/// One unusable row: which row, which feature, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct RowFault {
    /// Row index in the batch (0-based).
    pub row: usize,
    /// The feature at fault: a column (`a`), a vector element (`v[3]`), or the vector column
    /// (`v`) when the whole vector is (NULL, or of the wrong length).
    pub feature: String,
    /// What is wrong with it.
    pub fault: Fault,
}

impl fmt::Display for RowFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.feature;
        match &self.fault {
            Fault::Null => write!(
                f,
                "feature '{name}' is missing or null; the model expects a number"
            ),
            Fault::NaN => write!(
                f,
                "feature '{name}' is NaN; the model expects a finite number"
            ),
            Fault::Infinite { value } if value.is_infinite() => write!(
                f,
                "feature '{name}' is {value}; the model expects a finite number"
            ),
            Fault::Infinite { value } => write!(
                f,
                "feature '{name}' is {value:e}, beyond the f32 range; the model expects a finite \
                 number"
            ),
            Fault::WrongLength { got, expected } => write!(
                f,
                "feature '{name}' has {got} elements, the model expects {expected}"
            ),
        }
    }
}

/// A batch's features as the model reads them (`[rows, features]` f32, NULL → NaN), and the rows
/// it cannot take under a [`MissingPolicy`] (see the module docs for the rule).
///
/// Each column is converted to f32 once; the faults are found in that same pass.
#[derive(Debug, Clone)]
pub struct FeatureRows {
    x: Array2<f32>,
    /// At most one per row, in row order.
    faults: Vec<RowFault>,
    /// How errors name the vector column (`column 'v'`), when the features are one.
    vector_input: Option<String>,
}

impl FeatureRows {
    /// Reads the features `layout` locates in `batch`. Errors are whole-batch problems (a column
    /// that is not numeric, a `FixedSizeList` of the wrong width); bad values are row faults.
    pub fn read(
        batch: &RecordBatch,
        layout: &FeatureLayout,
        policy: MissingPolicy,
    ) -> Result<Self> {
        let mut scan = Scan::new(batch.num_rows(), Some(policy));
        let (x, vector_input) = read_batch(batch, layout, &mut scan)?;
        Ok(Self {
            x,
            faults: scan.finish(),
            vector_input,
        })
    }

    /// Reads `width` features from `arrays`: `width` numeric scalar arrays (feature `j` is
    /// array `j`), or one vector array (`FixedSizeList` / `List` of numbers) of `width` values
    /// per row. `input` names the arrays in errors and faults (e.g. `ae_encode arguments`).
    pub fn read_arrays(
        arrays: &[ArrayRef],
        width: usize,
        input: &str,
        policy: MissingPolicy,
    ) -> Result<Self> {
        let rows = arrays.first().map_or(0, |a| a.len());
        let mut scan = Scan::new(rows, Some(policy));
        let (x, vector_input) = read_values(arrays, width, input, &mut scan)?;
        Ok(Self {
            x,
            faults: scan.finish(),
            vector_input,
        })
    }

    /// Several readings as one, rows in order (e.g. the messages of a batch). Every part must
    /// have the same number of features.
    pub fn concat<'a>(parts: impl IntoIterator<Item = &'a FeatureRows>) -> Result<Self> {
        let parts: Vec<&FeatureRows> = parts.into_iter().collect();
        let Some(first) = parts.first() else {
            return Err(Error::Internal("no feature rows to concatenate".into()));
        };
        let views: Vec<ArrayView2<f32>> = parts.iter().map(|p| p.x.view()).collect();
        let x = ndarray::concatenate(Axis(0), &views).map_err(|e| {
            Error::shape(
                "FeatureRows::concat",
                format!("{} features in every part", first.width()),
                e.to_string(),
            )
        })?;
        let mut faults = Vec::new();
        let mut offset = 0;
        for p in &parts {
            faults.extend(p.faults.iter().map(|f| RowFault {
                row: f.row + offset,
                ..f.clone()
            }));
            offset += p.len();
        }
        Ok(Self {
            x,
            faults,
            vector_input: first.vector_input.clone(),
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.x.nrows()
    }

    /// `true` when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of features.
    pub fn width(&self) -> usize {
        self.x.ncols()
    }

    /// Every row, usable or not, `[rows, features]`; NULL → NaN. Rows with a vector of the
    /// wrong length are NaN throughout.
    pub fn matrix(&self) -> ArrayView2<'_, f32> {
        self.x.view()
    }

    /// The unusable rows, at most one fault each, in row order.
    pub fn faults(&self) -> &[RowFault] {
        &self.faults
    }

    /// `Err` naming the first row whose vector has the wrong length: the batch jobs and SQL
    /// refuse such a batch (its rows do not fit the model's shape) rather than give NULLs.
    pub fn refuse_wrong_lengths(&self) -> Result<()> {
        refuse_wrong_length(&self.faults, self.vector_input.as_deref())
    }

    /// Which rows are usable (valid = usable); `None` when all are.
    pub fn valid(&self) -> Option<NullBuffer> {
        if self.faults.is_empty() {
            return None;
        }
        let mut valid = vec![true; self.len()];
        for f in &self.faults {
            valid[f.row] = false;
        }
        Some(NullBuffer::from(valid))
    }

    /// [`FeatureRows::valid`] as a filter for the batch the rows were read from.
    pub fn usable_filter(&self) -> Option<BooleanArray> {
        self.valid()
            .map(|v| BooleanArray::new(v.into_inner(), None))
    }

    /// The usable rows alone, in order (no faults left).
    pub fn into_usable(self) -> Self {
        if self.faults.is_empty() {
            return self;
        }
        let kept: Vec<usize> = match self.valid() {
            Some(v) => v.valid_indices().collect(),
            None => (0..self.len()).collect(),
        };
        Self {
            x: self.x.select(Axis(0), &kept),
            faults: Vec::new(),
            vector_input: self.vector_input,
        }
    }

    /// The matrix ([`FeatureRows::matrix`]), by value.
    pub fn into_matrix(self) -> Array2<f32> {
        self.x
    }
}

/// Collects the faults while the columns are read. With no policy it judges no values (a plain
/// conversion) and only records vectors of the wrong length.
pub(super) struct Scan {
    policy: Option<MissingPolicy>,
    rows: usize,
    /// One flag per row once the first fault is recorded; empty before.
    faulty: Vec<bool>,
    faults: Vec<RowFault>,
}

impl Scan {
    pub(super) fn new(rows: usize, policy: Option<MissingPolicy>) -> Self {
        Self {
            policy,
            rows,
            faulty: Vec::new(),
            faults: Vec::new(),
        }
    }

    /// Judges one scalar feature: `values` (one per row, NULL already NaN) read from `array`.
    pub(super) fn scalar(&mut self, values: ArrayView1<f32>, array: &dyn Array, name: &str) {
        if self.policy.is_none() {
            return;
        }
        let nulls = array.logical_nulls();
        for (row, &v) in values.iter().enumerate() {
            if v.is_finite() || self.is_faulty(row) {
                continue;
            }
            let null = nulls.as_ref().is_some_and(|n| n.is_null(row));
            if let Some(fault) = self.judge(v, null, || source_value(array, row, v)) {
                self.record(row, name.to_string(), fault);
            }
        }
    }

    /// Judges the rows of one vector feature: `m` (NULL rows already NaN) read from `list`,
    /// whose values for row `r` are `child[start(r)..start(r) + width]`.
    pub(super) fn vector(
        &mut self,
        m: ArrayView2<f32>,
        list: &dyn Array,
        child: &dyn Array,
        start: impl Fn(usize) -> usize,
        name: &str,
    ) {
        let Some(policy) = self.policy else {
            return;
        };
        let row_nulls = list.logical_nulls();
        let child_nulls = child.logical_nulls();
        for (row, values) in m.rows().into_iter().enumerate() {
            if values.iter().all(|v| v.is_finite()) || self.is_faulty(row) {
                continue;
            }
            if row_nulls.as_ref().is_some_and(|n| n.is_null(row)) {
                if policy == MissingPolicy::Reject {
                    self.record(row, name.to_string(), Fault::Null);
                }
                continue;
            }
            for (j, &v) in values.iter().enumerate() {
                let i = start(row) + j;
                let null = child_nulls.as_ref().is_some_and(|n| n.is_null(i));
                if let Some(fault) = self.judge(v, null, || source_value(child, i, v)) {
                    self.record(row, format!("{name}[{j}]"), fault);
                    break;
                }
            }
        }
    }

    /// Row `row` of vector `name` holds `got` values instead of `expected`.
    pub(super) fn wrong_length(&mut self, row: usize, name: &str, got: usize, expected: usize) {
        if !self.is_faulty(row) {
            self.record(row, name.to_string(), Fault::WrongLength { got, expected });
        }
    }

    /// The fault of a non-finite value, if the policy makes it one.
    fn judge(&self, v: f32, null: bool, source: impl FnOnce() -> f64) -> Option<Fault> {
        let reject_missing = self.policy == Some(MissingPolicy::Reject);
        if v.is_finite() {
            None
        } else if null {
            reject_missing.then_some(Fault::Null)
        } else if v.is_nan() {
            reject_missing.then_some(Fault::NaN)
        } else {
            Some(Fault::Infinite { value: source() })
        }
    }

    fn is_faulty(&self, row: usize) -> bool {
        self.faulty.get(row).copied().unwrap_or(false)
    }

    fn record(&mut self, row: usize, feature: String, fault: Fault) {
        if self.faulty.is_empty() {
            self.faulty = vec![false; self.rows];
        }
        if let Some(slot) = self.faulty.get_mut(row) {
            *slot = true;
            self.faults.push(RowFault {
                row,
                feature,
                fault,
            });
        }
    }

    /// The faults in row order (features are read one after the other, so rows come unordered).
    pub(super) fn finish(mut self) -> Vec<RowFault> {
        self.faults.sort_by_key(|f| f.row);
        self.faults
    }
}

/// The input's own value at `i` for messages: f64 inputs keep the value that overflowed f32.
fn source_value(array: &dyn Array, i: usize, v: f32) -> f64 {
    array
        .as_primitive_opt::<Float64Type>()
        .map_or(f64::from(v), |a| a.value(i))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ::arrow::array::{
        Decimal128Array, FixedSizeListArray, Float32Array, Float64Array, Int8Array, Int16Array,
        Int32Array, Int64Array, LargeListArray, ListArray, NullArray, UInt8Array, UInt16Array,
        UInt32Array, UInt64Array,
    };
    use ::arrow::datatypes::{DataType, Field};

    use super::*;

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).unwrap()
    }

    fn scalars(b: &RecordBatch) -> FeatureLayout {
        FeatureLayout::Scalars((0..b.num_columns()).collect())
    }

    fn kinds(rows: &FeatureRows) -> Vec<(usize, String, Fault)> {
        rows.faults()
            .iter()
            .map(|f| (f.row, f.feature.clone(), f.fault.clone()))
            .collect()
    }

    #[test]
    fn null_nan_and_infinities_are_faults_named_by_row_and_column() {
        let b = batch(vec![
            (
                "a",
                Arc::new(Float64Array::from(vec![
                    Some(1.0),
                    None,
                    Some(f64::NAN),
                    Some(2.0),
                    Some(1e300),
                    Some(3.0),
                ])),
            ),
            (
                "b",
                Arc::new(Float32Array::from(vec![
                    Some(1.0),
                    Some(f32::NAN),
                    Some(1.0),
                    Some(f32::NEG_INFINITY),
                    Some(1.0),
                    Some(4.0),
                ])),
            ),
        ]);
        let rows = FeatureRows::read(&b, &scalars(&b), MissingPolicy::Reject).unwrap();
        assert_eq!(
            kinds(&rows),
            vec![
                // Row 1: `a` is NULL and `b` NaN; the first feature's fault is reported.
                (1, "a".into(), Fault::Null),
                (2, "a".into(), Fault::NaN),
                (
                    3,
                    "b".into(),
                    Fault::Infinite {
                        value: f64::NEG_INFINITY
                    }
                ),
                // Finite in f64, infinite in f32: the message keeps the input's value.
                (4, "a".into(), Fault::Infinite { value: 1e300 }),
            ]
        );
        assert_eq!(
            rows.faults()[0].to_string(),
            "feature 'a' is missing or null; the model expects a number"
        );
        assert!(rows.faults()[2].to_string().contains("'b' is -inf"));
        assert!(
            rows.faults()[3]
                .to_string()
                .contains("1e300, beyond the f32 range")
        );
        // The matrix is every row, NULL → NaN, values converted once.
        let x = rows.matrix();
        assert_eq!(x.shape(), &[6, 2]);
        assert_eq!(x[[5, 1]], 4.0);
        assert!(x[[1, 0]].is_nan());
        assert_eq!(
            rows.usable_filter().unwrap(),
            BooleanArray::from(vec![true, false, false, false, false, true])
        );
        let usable = rows.into_usable();
        assert!(usable.faults().is_empty());
        assert_eq!(
            usable.matrix().to_owned(),
            ndarray::array![[1.0f32, 1.0], [3.0, 4.0]]
        );
    }

    #[test]
    fn an_imputing_model_takes_null_and_nan_but_never_infinities() {
        let b = batch(vec![
            (
                "a",
                Arc::new(Float64Array::from(vec![
                    None,
                    Some(f64::NAN),
                    Some(f64::INFINITY),
                    Some(1.0),
                ])),
            ),
            ("n", Arc::new(NullArray::new(4))),
        ]);
        let rows = FeatureRows::read(&b, &scalars(&b), MissingPolicy::ImputeMean).unwrap();
        assert_eq!(
            kinds(&rows),
            vec![(
                2,
                "a".into(),
                Fault::Infinite {
                    value: f64::INFINITY
                }
            )]
        );
        assert!(rows.matrix().column(1).iter().all(|v| v.is_nan()));
        // Under reject the all-NULL column refuses every row, after `a`'s own faults.
        let rows = FeatureRows::read(&b, &scalars(&b), MissingPolicy::Reject).unwrap();
        let got: Vec<(usize, String)> = rows
            .faults()
            .iter()
            .map(|f| (f.row, f.feature.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, "a".into()),
                (1, "a".into()),
                (2, "a".into()),
                (3, "n".into())
            ]
        );
    }

    #[test]
    fn every_numeric_type_is_read_and_judged() {
        let h = ::arrow::compute::cast(
            &Float32Array::from(vec![Some(0.5), None]),
            &DataType::Float16,
        )
        .unwrap();
        let dec = Decimal128Array::from(vec![Some(150), None])
            .with_precision_and_scale(10, 2)
            .unwrap();
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("i8", Arc::new(Int8Array::from(vec![Some(1), None]))),
            ("i16", Arc::new(Int16Array::from(vec![Some(2), None]))),
            ("i32", Arc::new(Int32Array::from(vec![Some(3), None]))),
            ("i64", Arc::new(Int64Array::from(vec![Some(4), None]))),
            ("u8", Arc::new(UInt8Array::from(vec![Some(5), None]))),
            ("u16", Arc::new(UInt16Array::from(vec![Some(6), None]))),
            ("u32", Arc::new(UInt32Array::from(vec![Some(7), None]))),
            ("u64", Arc::new(UInt64Array::from(vec![Some(8), None]))),
            ("f16", h),
            ("f32", Arc::new(Float32Array::from(vec![Some(9.0), None]))),
            ("f64", Arc::new(Float64Array::from(vec![Some(10.0), None]))),
            ("dec", Arc::new(dec)),
        ];
        for (name, column) in columns {
            let b = batch(vec![(name, column)]);
            let rows = FeatureRows::read(&b, &scalars(&b), MissingPolicy::Reject).unwrap();
            assert!(rows.matrix()[[0, 0]].is_finite(), "{name}");
            assert!(rows.matrix()[[1, 0]].is_nan(), "{name}");
            assert_eq!(
                kinds(&rows),
                vec![(1, name.to_string(), Fault::Null)],
                "{name}"
            );
            let rows = FeatureRows::read(&b, &scalars(&b), MissingPolicy::ImputeMean).unwrap();
            assert!(rows.faults().is_empty(), "{name}");
        }
        let b = batch(vec![(
            "d",
            Arc::new(
                Decimal128Array::from(vec![150])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
        )]);
        let rows = FeatureRows::read(&b, &scalars(&b), MissingPolicy::Reject).unwrap();
        assert_eq!(rows.matrix()[[0, 0]], 1.5);
        let text = batch(vec![(
            "s",
            Arc::new(::arrow::array::StringArray::from(vec!["x"])) as ArrayRef,
        )]);
        let e = FeatureRows::read(&text, &scalars(&text), MissingPolicy::Reject)
            .unwrap_err()
            .to_string();
        assert!(e.contains("column 's'") && e.contains("Utf8"), "{e}");
    }

    #[test]
    fn vector_rows_name_the_element_and_the_wrong_lengths() {
        let list = ListArray::from_iter_primitive::<Float64Type, _, _>(vec![
            Some(vec![Some(1.0), Some(2.0)]),
            Some(vec![Some(1.0)]),
            None,
            Some(vec![Some(1.0), None]),
            Some(vec![Some(f64::NEG_INFINITY), Some(0.0)]),
            Some(vec![Some(3.0), Some(f64::NAN)]),
            Some(vec![Some(5.0), Some(6.0)]),
        ]);
        let b = batch(vec![("x", Arc::new(list.clone()))]);
        let layout = FeatureLayout::Vector {
            column: 0,
            width: 2,
        };
        let rows = FeatureRows::read(&b, &layout, MissingPolicy::Reject).unwrap();
        assert_eq!(
            kinds(&rows),
            vec![
                (
                    1,
                    "x".into(),
                    Fault::WrongLength {
                        got: 1,
                        expected: 2
                    }
                ),
                (2, "x".into(), Fault::Null),
                (3, "x[1]".into(), Fault::Null),
                (
                    4,
                    "x[0]".into(),
                    Fault::Infinite {
                        value: f64::NEG_INFINITY
                    }
                ),
                (5, "x[1]".into(), Fault::NaN),
            ]
        );
        assert_eq!(rows.matrix().row(6).to_vec(), vec![5.0, 6.0]);
        assert!(rows.matrix().row(1).iter().all(|v| v.is_nan()));
        let e = rows.refuse_wrong_lengths().unwrap_err().to_string();
        assert!(
            e.contains("column 'x', row 2") && e.contains("holds 1 values; expected 2"),
            "{e}"
        );
        // Imputing: NULL vectors and elements and NaN are taken; lengths and infinities are not.
        let rows = FeatureRows::read(&b, &layout, MissingPolicy::ImputeMean).unwrap();
        let faulty: Vec<usize> = rows.faults().iter().map(|f| f.row).collect();
        assert_eq!(faulty, vec![1, 4]);

        // A sliced list keeps its offsets; LargeList and FixedSizeList read the same way.
        let sliced = list.slice(3, 4);
        let b = batch(vec![("x", Arc::new(sliced))]);
        let rows = FeatureRows::read(&b, &layout, MissingPolicy::Reject).unwrap();
        let faulty: Vec<(usize, String)> = rows
            .faults()
            .iter()
            .map(|f| (f.row, f.feature.clone()))
            .collect();
        assert_eq!(
            faulty,
            vec![(0, "x[1]".into()), (1, "x[0]".into()), (2, "x[1]".into())]
        );
        let large = LargeListArray::from_iter_primitive::<Float64Type, _, _>(vec![Some(vec![
            Some(1.0),
            Some(f64::INFINITY),
        ])]);
        let b = batch(vec![("x", Arc::new(large))]);
        let rows = FeatureRows::read(&b, &layout, MissingPolicy::Reject).unwrap();
        assert_eq!(rows.faults()[0].feature, "x[1]");
        let fixed = FixedSizeListArray::new(
            Arc::new(Field::new_list_field(DataType::Int32, true)),
            2,
            Arc::new(Int32Array::from(vec![
                Some(1),
                Some(2),
                Some(3),
                None,
                Some(5),
                Some(6),
            ])),
            Some(vec![true, true, false].into()),
        );
        let b = batch(vec![("x", Arc::new(fixed))]);
        let rows = FeatureRows::read(&b, &layout, MissingPolicy::Reject).unwrap();
        assert_eq!(
            kinds(&rows),
            vec![
                (1, "x[1]".into(), Fault::Null),
                (2, "x".into(), Fault::Null)
            ]
        );
        assert_eq!(rows.matrix().row(0).to_vec(), vec![1.0, 2.0]);
    }

    #[test]
    fn arrays_and_concatenation_keep_rows_in_order() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None]));
        let b: ArrayRef = Arc::new(Float64Array::from(vec![2.0, 3.0]));
        let one = FeatureRows::read_arrays(&[a, b], 2, "f", MissingPolicy::Reject).unwrap();
        assert_eq!(kinds(&one), vec![(1, "f, value 1".into(), Fault::Null)]);
        let both = FeatureRows::concat([&one, &one]).unwrap();
        assert_eq!(both.len(), 4);
        let faulty: Vec<usize> = both.faults().iter().map(|f| f.row).collect();
        assert_eq!(faulty, vec![1, 3]);
        assert_eq!(both.matrix()[[2, 1]], 2.0);
        let v: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Float64Type, _, _>(vec![
            Some(vec![Some(1.0), Some(2.0), Some(3.0)]),
        ]));
        let e = FeatureRows::read_arrays(&[v], 2, "ae_encode arguments", MissingPolicy::Reject)
            .unwrap()
            .refuse_wrong_lengths()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ae_encode arguments, row 1") && e.contains("holds 3 values; expected 2"),
            "{e}"
        );
    }
}
