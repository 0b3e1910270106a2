//! The shape a message must have for a model: the Arrow schema text formats (JSON, CSV) are decoded
//! into, derived from the model's feature names, and the dead-letter reason for a row the model
//! cannot take (the rule itself is [`FeatureRows`]'s, in `arrow/`).
//!
//! A model trained on scalar columns `a, b, c` reads JSON objects `{"a": 1, "b": 2.5, "c": -3}`
//! (other fields are ignored and carried through) and CSV records `1,2.5,-3`. A model trained on one
//! vector column `x` of width n (its features are named `x[0] … x[n-1]`) reads `{"x": [..n numbers]}`.
//! Numbers are decoded as Float64; the model's own conversion takes them to f32.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::dead_letter::{RejectReason, Rejection};
use crate::arrow::{Fault, FeatureLayout, RowFault};

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
        if let Some(base) = crate::arrow::vector_base(names) {
            return FeatureShape::Vector {
                column: base.to_string(),
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
    /// `List<Float64>` field (lengths are checked per row by [`crate::arrow::FeatureRows`]).
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

    /// Where the features sit in a batch of [`FeatureShape::decode_schema`].
    pub fn layout(&self) -> FeatureLayout {
        match self {
            FeatureShape::Scalars(names) => FeatureLayout::Scalars((0..names.len()).collect()),
            FeatureShape::Vector { width, .. } => FeatureLayout::Vector {
                column: 0,
                width: *width,
            },
        }
    }
}

/// The dead letter for a row the model cannot take: the reason by kind of fault, the fault's
/// message (which names the feature) as the detail.
pub fn rejection(fault: &RowFault) -> Rejection {
    let reason = match fault.fault {
        Fault::Null => RejectReason::MissingFeature,
        Fault::NaN | Fault::Infinite { .. } => RejectReason::NonFiniteFeature,
        Fault::WrongLength { .. } => RejectReason::WrongVectorLength,
    };
    Rejection::new(reason, fault.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrow::FeatureRows;
    use crate::model::MissingPolicy;
    use arrow::array::{Float64Array, ListArray, RecordBatch};
    use arrow::datatypes::Float64Type;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn checks(
        shape: &FeatureShape,
        batch: &RecordBatch,
        policy: MissingPolicy,
    ) -> Vec<Option<Rejection>> {
        let rows = FeatureRows::read(batch, &shape.layout(), policy).unwrap();
        let mut out = vec![None; batch.num_rows()];
        for f in rows.faults() {
            out[f.row] = Some(rejection(f));
        }
        out
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
        let checks = checks(&shape, &batch, MissingPolicy::Reject);
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
    }

    #[test]
    fn imputing_models_take_null_and_nan_never_infinities() {
        let shape = FeatureShape::Scalars(names(&["a"]));
        let batch = RecordBatch::try_new(
            shape.decode_schema(),
            vec![Arc::new(Float64Array::from(vec![
                None,
                Some(f64::NAN),
                Some(f64::INFINITY),
            ]))],
        )
        .unwrap();
        let checks = checks(&shape, &batch, MissingPolicy::ImputeMean);
        assert_eq!(checks[0], None);
        assert_eq!(checks[1], None);
        assert_eq!(
            checks[2].as_ref().unwrap().reason,
            RejectReason::NonFiniteFeature
        );
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
        let checks = checks(&shape, &batch, MissingPolicy::Reject);
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
        assert_eq!(
            checks[1].as_ref().unwrap().detail,
            "feature 'x' has 1 elements, the model expects 2"
        );
    }
}
