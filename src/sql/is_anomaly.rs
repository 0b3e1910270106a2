//! `ae_is_anomaly(model, x1, …, xn [, threshold])`: is each row an anomaly?
//!
//! `e > t`, where `e` is `ae_reconstruction_error` and `t` the given threshold, or else the
//! threshold the model calibrated at training time (the `1 − contamination` quantile of its
//! training errors). Boolean; NULL when the row or the given threshold is NULL.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{AsArray, BooleanArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result as DFResult, ScalarValue, internal_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    Volatility,
};
use ndarray::Array1;

use crate::sql::args::{self, Batch, DOC_SECTION, Values};
use crate::sql::registry::ModelRegistry;

const NAME: &str = "ae_is_anomaly";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Returns true for rows whose reconstruction error is above the threshold: the one given \
         as the last argument, or else the threshold the model calibrated at training time from \
         its contamination fraction. A row with a NULL feature (unless the model imputes) or a \
         NULL threshold gives NULL.",
        "ae_is_anomaly(model, x1, ..., xn [, threshold])",
    )
    .with_argument("model", "String literal naming a registered model.")
    .with_argument(
        "x1, ..., xn",
        "The model's n features, in its order: numeric columns or expressions (integer, float \
         or decimal), or one vector column (FixedSizeList or List of Float32/Float64) of n values.",
    )
    .with_argument(
        "threshold",
        "Optional numeric expression: the reconstruction error above which a row is an anomaly. \
         Defaults to the model's calibrated threshold.",
    )
    .with_sql_example(
        r#"```sql
> SELECT count(*) FROM readings WHERE ae_is_anomaly('sensors', temperature, pressure, vibration);
+----------+
| count(*) |
+----------+
| 12       |
+----------+
> SELECT count(*) FROM readings WHERE ae_is_anomaly('sensors', temperature, pressure, vibration, 5.0);
```"#,
    )
    .with_related_udf("ae_reconstruction_error")
    .build()
});

/// The `ae_is_anomaly` SQL function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AeIsAnomaly {
    signature: Signature,
    registry: ModelRegistry,
}

impl AeIsAnomaly {
    /// `ae_is_anomaly` over the models of `registry`.
    pub fn new(registry: ModelRegistry) -> Self {
        Self {
            // Stable, not Immutable: the result depends on the registry, not only the arguments.
            signature: Signature::user_defined(Volatility::Stable),
            registry,
        }
    }
}

/// Index (in all arguments) of the explicit threshold, if the call has one: the call has one
/// value argument more than the model needs (`n + 1` numbers, or a vector and a number).
fn threshold_index(arg_types: &[&DataType], n_features: usize) -> Option<usize> {
    let values = arg_types.len().checked_sub(1)?;
    let first_is_vector = arg_types
        .get(1)
        .is_some_and(|t| args::vector_shape(t).is_some());
    let needed = if first_is_vector { 1 } else { n_features };
    (values == needed + 1).then_some(arg_types.len() - 1)
}

impl ScalarUDFImpl for AeIsAnomaly {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DFResult<Vec<DataType>> {
        args::coerce(NAME, arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DFResult<DataType> {
        internal_err!("{NAME}: the return type depends on the model; use return_field_from_args")
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DFResult<FieldRef> {
        let types: Vec<&DataType> = args.arg_fields.iter().map(|f| f.data_type()).collect();
        // The model decides whether the last argument is a threshold; plan_call checks it again.
        let n = match args
            .scalar_arguments
            .first()
            .copied()
            .flatten()
            .and_then(ScalarValue::try_as_str)
            .flatten()
            .and_then(|name| self.registry.get(name).ok())
        {
            Some(model) => model.n_features(),
            None => 0,
        };
        let threshold = threshold_index(&types, n);
        let end = threshold.unwrap_or(args.arg_fields.len());
        let value_fields = args.arg_fields.get(1..end).unwrap_or_default();
        let (name, model) =
            args::plan_call(NAME, &self.registry, &args, value_fields, Values::Features)?;
        match threshold {
            Some(i) => {
                let t = args.arg_fields[i].data_type();
                if !(t.is_numeric() || t.is_null()) {
                    return plan_err!(
                        "{NAME}: model '{name}': the threshold (last argument) has type {t}, expected a number"
                    );
                }
            }
            None if model.threshold().is_none() => {
                return plan_err!(
                    "{NAME}: model '{name}' has no calibrated threshold (it was trained without \
                     contamination); give one as the last argument, e.g. {NAME}('{name}', …, 2.5)"
                );
            }
            None => {}
        }
        Ok(Arc::new(Field::new(NAME, DataType::Boolean, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        let types: Vec<&DataType> = args.arg_fields.iter().map(|f| f.data_type()).collect();
        let (name, model) = args::exec_model(NAME, &self.registry, &args)?;
        let threshold_at = threshold_index(&types, model.n_features());
        let end = threshold_at.unwrap_or(args.args.len());
        let batch = Batch::prepare_with(
            NAME,
            name.clone(),
            Arc::clone(&model),
            &args,
            1..end,
            Values::Features,
        )?;
        let threshold = match threshold_at {
            Some(i) => args.args[i].cast_to(&DataType::Float64, None)?,
            None => match model.threshold() {
                Some(t) => ColumnarValue::Scalar(ScalarValue::Float64(Some(t))),
                None => {
                    return datafusion::common::exec_err!(
                        "{NAME}: model '{name}' was replaced after the query was planned by one \
                         without a calibrated threshold; give one as the last argument"
                    );
                }
            },
        };
        let errors = batch.apply(
            NAME,
            || Array1::zeros(0),
            |model, x| model.reconstruction_error(x),
        )?;
        let errors = batch.rows.floats(errors.view())?;
        let errors = errors.as_primitive::<Float64Type>();
        // `e > t` as the model's scores define it (a NaN error is above no threshold), NULL
        // where the error or the threshold is NULL.
        match threshold {
            ColumnarValue::Scalar(t) => {
                let flags = match t {
                    ScalarValue::Float64(Some(t)) => BooleanArray::from_unary(errors, |e| e > t),
                    ScalarValue::Float64(None) => BooleanArray::new_null(errors.len()),
                    other => {
                        return internal_err!("{NAME}: threshold cast to Float64 gave {other:?}");
                    }
                };
                args::finish(Arc::new(flags), batch.scalar)
            }
            ColumnarValue::Array(t) => {
                let t = t.as_primitive::<Float64Type>();
                let errors = if batch.scalar {
                    // One error for every row of the threshold column.
                    let e = ScalarValue::try_from_array(errors, 0)?;
                    e.to_array_of_size(t.len())?
                } else {
                    Arc::new(errors.clone())
                };
                let flags =
                    BooleanArray::from_binary(errors.as_primitive::<Float64Type>(), t, |e, t| {
                        e > t
                    });
                Ok(ColumnarValue::Array(Arc::new(flags)))
            }
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
