//! `ae_reconstruction_error(model, x1, …, xn)`: how badly the autoencoder reconstructs each row.
//!
//! `e = (1/n) · Σᵢ (s(x)ᵢ − s(x̂)ᵢ)²` where `s` is the model's scaler and `x̂` the reconstruction:
//! the mean squared error over the `n` features, in the scaled space the network sees, as
//! Float64. It is the anomaly score compared with the model's threshold.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result as DFResult, internal_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    Volatility,
};
use ndarray::Array1;

use crate::sql::args::{self, Batch, DOC_SECTION, Values};
use crate::sql::registry::ModelRegistry;

const NAME: &str = "ae_reconstruction_error";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Returns the reconstruction error of each row: the mean squared error over the features \
         between the row and the autoencoder's reconstruction of it, in the scaled space the \
         network sees (Float64). High values mark rows unlike the training data. A row with a \
         NULL feature gives NULL, unless the model was trained to impute missing values.",
        "ae_reconstruction_error(model, x1, ..., xn)",
    )
    .with_argument("model", "String literal naming a registered model.")
    .with_argument(
        "x1, ..., xn",
        "The model's n features, in its order: numeric columns or expressions (integer, float \
         or decimal), or one vector column (FixedSizeList or List of Float32/Float64) of n values.",
    )
    .with_sql_example(
        r#"```sql
> SELECT id, ae_reconstruction_error('sensors', temperature, pressure, vibration) AS err
  FROM readings ORDER BY err DESC LIMIT 2;
+-----+--------+
| id  | err    |
+-----+--------+
| 917 | 14.021 |
| 33  | 3.870  |
+-----+--------+
```"#,
    )
    .with_related_udf("ae_is_anomaly")
    .with_related_udf("ae_feature_errors")
    .build()
});

/// The `ae_reconstruction_error` SQL function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AeReconstructionError {
    signature: Signature,
    registry: ModelRegistry,
}

impl AeReconstructionError {
    /// `ae_reconstruction_error` over the models of `registry`.
    pub fn new(registry: ModelRegistry) -> Self {
        Self {
            // Stable, not Immutable: the result depends on the registry, not only the arguments.
            signature: Signature::user_defined(Volatility::Stable),
            registry,
        }
    }
}

impl ScalarUDFImpl for AeReconstructionError {
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
        let value_fields = args.arg_fields.get(1..).unwrap_or_default();
        args::plan_call(NAME, &self.registry, &args, value_fields, Values::Features)?;
        Ok(Arc::new(Field::new(NAME, DataType::Float64, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        let batch = Batch::prepare(
            NAME,
            &self.registry,
            &args,
            1..args.args.len(),
            Values::Features,
        )?;
        let errors = batch.apply(
            NAME,
            || Array1::zeros(0),
            |model, x| model.reconstruction_error(x),
        )?;
        let out = batch.rows.floats(errors.view())?;
        args::finish(out, batch.scalar)
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
