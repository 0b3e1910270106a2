//! The shape a message must have for a model: the Arrow schema text formats (JSON, CSV) are decoded
//! into, derived from the model's feature names, and the per-row checks that decide between scoring
//! a row and dead-lettering its message.
//!
//! A model trained on scalar columns `a, b, c` reads JSON objects `{"a": 1, "b": 2.5, "c": -3}`
//! (other fields are ignored and carried through) and CSV records `1,2.5,-3`. A model trained on one
//! vector column `x` of width n (its features are named `x[0] … x[n-1]`) reads `{"x": [..n numbers]}`.
//! Numbers are decoded as Float64; the model's own conversion takes them to f32.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};

use super::dead_letter::{RejectReason, Rejection};

/// Where a model's features sit in a decoded message.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureShape {
    /// One numeric field per feature, in model order.
    Scalars(Vec<String>),
    /// One array field of `width` numbers.
    Vector {
        /// Field name.
        column: String,
        /// Number of elements.
        width: usize,
    },
}

impl FeatureShape {
    /// The shape for a model's feature names: a vector when the names are exactly
    /// `base[0] … base[n-1]`, scalars otherwise.
    pub fn from_feature_names(names: &[String]) -> Self {
        if let Some(base) = vector_base(names) {
            return FeatureShape::Vector {
                column: base,
                width: names.len(),
            };
        }
        FeatureShape::Scalars(names.to_vec())
    }

    /// Number of features.
    pub fn width(&self) -> usize {
        match self {
            FeatureShape::Scalars(names) => names.len(),
            FeatureShape::Vector { width, .. } => *width,
        }
    }

    /// The schema JSON is decoded into: nullable Float64 fields, or one nullable
    /// `List<Float64>` field (lengths are checked per row by [`FeatureShape::check_rows`]).
    pub fn decode_schema(&self) -> SchemaRef {
        let fields: Vec<Field> = match self {
            FeatureShape::Scalars(names) => names
                .iter()
                .map(|n| Field::new(n, DataType::Float64, true))
                .collect(),
            FeatureShape::Vector { column, .. } => vec![Field::new(
                column,
                DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true))),
                true,
            )],
        };
        Arc::new(Schema::new(fields))
    }

    /// For each row of a batch decoded with [`FeatureShape::decode_schema`], `None` when it can
    /// be scored, or why not. NULL / absent values are refused unless `impute_missing` (the
    /// model fills them with training means); NaN and ±inf are always refused.
    pub fn check_rows(&self, batch: &RecordBatch, impute_missing: bool) -> Vec<Option<Rejection>> {
        let mut out: Vec<Option<Rejection>> = vec![None; batch.num_rows()];
        match self {
            FeatureShape::Scalars(names) => {
                for (name, column) in names.iter().zip(batch.columns()) {
                    let Some(values) = column.as_primitive_opt::<Float64Type>() else {
                        continue;
                    };
                    for (row, slot) in out.iter_mut().enumerate() {
                        if slot.is_some() {
                            continue;
                        }
                        if values.is_null(row) {
                            if !impute_missing {
                                *slot = Some(missing(name));
                            }
                        } else if !values.value(row).is_finite() {
                            *slot = Some(non_finite(name, values.value(row)));
                        }
                    }
                }
            }
            FeatureShape::Vector { column, width } => {
                let Some(lists) = batch.column(0).as_list_opt::<i32>() else {
                    return out;
                };
                let values = lists.values().as_primitive::<Float64Type>();
                let offsets = lists.value_offsets();
                for (row, slot) in out.iter_mut().enumerate() {
                    if lists.is_null(row) {
                        if !impute_missing {
                            *slot = Some(missing(column));
                        }
                        continue;
                    }
                    let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
                    if end - start != *width {
                        *slot = Some(Rejection::new(
                            RejectReason::WrongVectorLength,
                            format!(
                                "feature '{column}' has {} elements, the model expects {width}",
                                end - start
                            ),
                        ));
                        continue;
                    }
                    for i in start..end {
                        let name = format!("{column}[{}]", i - start);
                        if values.is_null(i) {
                            if !impute_missing {
                                *slot = Some(missing(&name));
                                break;
                            }
                        } else if !values.value(i).is_finite() {
                            *slot = Some(non_finite(&name, values.value(i)));
                            break;
                        }
                    }
                }
            }
        }
        out
    }
}

fn missing(name: &str) -> Rejection {
    Rejection::new(
        RejectReason::MissingFeature,
        format!("feature '{name}' is missing or null; the model expects a number"),
    )
}

fn non_finite(name: &str, v: f64) -> Rejection {
    Rejection::new(
        RejectReason::NonFiniteFeature,
        format!("feature '{name}' is {v}; the model expects a finite number"),
    )
}

/// `Some("x")` when `names` is exactly `x[0], x[1], …, x[n-1]` (n ≥ 1).
fn vector_base(names: &[String]) -> Option<String> {
    let first = names.first()?;
    let base = first.strip_suffix("[0]")?;
    if base.is_empty() {
        return None;
    }
    let all = names.iter().enumerate().all(|(i, n)| {
        n.len() > base.len() && n.starts_with(base) && n[base.len()..] == format!("[{i}]")
    });
    all.then(|| base.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, ListArray};
    use arrow::datatypes::Float64Type;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn vector_names_give_a_vector_shape() {
        assert_eq!(
            FeatureShape::from_feature_names(&names(&["x[0]", "x[1]", "x[2]"])),
            FeatureShape::Vector {
                column: "x".into(),
                width: 3
            }
        );
        // Out of order, or mixed bases, stay scalars.
        for n in [
            names(&["x[1]", "x[0]"]),
            names(&["x[0]", "y[1]"]),
            names(&["a", "b"]),
            names(&["[0]"]),
        ] {
            assert!(matches!(
                FeatureShape::from_feature_names(&n),
                FeatureShape::Scalars(_)
            ));
        }
    }

    #[test]
    fn scalar_checks_name_the_feature() {
        let shape = FeatureShape::Scalars(names(&["a", "b"]));
        let batch = RecordBatch::try_new(
            shape.decode_schema(),
            vec![
                Arc::new(Float64Array::from(vec![
                    Some(1.0),
                    None,
                    Some(f64::NAN),
                    Some(2.0),
                ])),
                Arc::new(Float64Array::from(vec![
                    Some(1.0),
                    Some(1.0),
                    Some(1.0),
                    Some(f64::INFINITY),
                ])),
            ],
        )
        .unwrap();
        let checks = shape.check_rows(&batch, false);
        assert_eq!(checks[0], None);
        let r1 = checks[1].as_ref().unwrap();
        assert_eq!(r1.reason, RejectReason::MissingFeature);
        assert!(r1.detail.contains("'a'"));
        assert_eq!(
            checks[2].as_ref().unwrap().reason,
            RejectReason::NonFiniteFeature
        );
        let r3 = checks[3].as_ref().unwrap();
        assert_eq!(r3.reason, RejectReason::NonFiniteFeature);
        assert!(r3.detail.contains("'b'") && r3.detail.contains("inf"));
        // Imputing models accept NULL but never NaN.
        let checks = shape.check_rows(&batch, true);
        assert_eq!(checks[1], None);
        assert!(checks[2].is_some());
    }

    #[test]
    fn vector_checks_length_nulls_and_finiteness() {
        let shape = FeatureShape::Vector {
            column: "x".into(),
            width: 2,
        };
        let lists = ListArray::from_iter_primitive::<Float64Type, _, _>(vec![
            Some(vec![Some(1.0), Some(2.0)]),
            Some(vec![Some(1.0)]),
            None,
            Some(vec![Some(1.0), None]),
            Some(vec![Some(f64::NEG_INFINITY), Some(0.0)]),
        ]);
        let batch = RecordBatch::try_new(shape.decode_schema(), vec![Arc::new(lists)]).unwrap();
        let checks = shape.check_rows(&batch, false);
        let reasons: Vec<_> = checks
            .iter()
            .map(|c| c.as_ref().map(|r| r.reason))
            .collect();
        assert_eq!(
            reasons,
            vec![
                None,
                Some(RejectReason::WrongVectorLength),
                Some(RejectReason::MissingFeature),
                Some(RejectReason::MissingFeature),
                Some(RejectReason::NonFiniteFeature),
            ]
        );
        assert!(checks[3].as_ref().unwrap().detail.contains("x[1]"));
    }
}
