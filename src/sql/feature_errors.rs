//! `ae_feature_errors(model, x1, …, xn)`: which features a row is reconstructed badly on.
//!
//! `eᵢ = (s(x)ᵢ − s(x̂)ᵢ)²` for each feature `i`, in the scaled space the network sees, as
//! `FixedSizeList<Float32>[n]`. Their mean is `ae_reconstruction_error`.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result as DFResult, internal_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    Volatility,
};
use ndarray::Array2;

use crate::model::ScoreOptions;
use crate::sql::args::{self, Batch, DOC_SECTION, Values};
use crate::sql::registry::ModelRegistry;

const NAME: &str = "ae_feature_errors";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Returns the squared reconstruction error of each feature, in the scaled space the network \
         sees, as a vector of n Float32 values in the model's feature order. Their mean is \
         ae_reconstruction_error; the largest ones explain an anomaly. A row with a NULL feature \
         gives NULL, unless the model was trained to impute missing values.",
        "ae_feature_errors(model, x1, ..., xn)",
    )
    .with_argument("model", "String literal naming a registered model.")
    .with_argument(
        "x1, ..., xn",
        "The model's n features, in its order: numeric columns or expressions (integer, float \
         or decimal), or one vector column (FixedSizeList or List of Float32/Float64) of n values.",
    )
    .with_sql_example(
        r#"```sql
> SELECT ae_feature_errors('sensors', temperature, pressure, vibration) AS errs
  FROM readings WHERE id = 917;
+----------------------+
| errs                 |
+----------------------+
| [0.02, 0.11, 41.93]  |
+----------------------+
```"#,
    )
    .with_related_udf("ae_reconstruction_error")
    .build()
});

/// The `ae_feature_errors` SQL function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AeFeatureErrors {
    signature: Signature,
    registry: ModelRegistry,
}

impl AeFeatureErrors {
    /// `ae_feature_errors` over the models of `registry`.
    pub fn new(registry: ModelRegistry) -> Self {
        Self {
            // Stable, not Immutable: the result depends on the registry, not only the arguments.
            signature: Signature::user_defined(Volatility::Stable),
            registry,
        }
    }
}

impl ScalarUDFImpl for AeFeatureErrors {
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
        let (_, model) =
            args::plan_call(NAME, &self.registry, &args, value_fields, Values::Features)?;
        let data_type = args::vector_type(model.n_features());
        Ok(Arc::new(Field::new(NAME, data_type, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        let batch = Batch::prepare(
            NAME,
            &self.registry,
            &args,
            1..args.args.len(),
            Values::Features,
        )?;
        let n = batch.model.n_features();
        batch.check_width(NAME, args.return_type(), n)?;
        let errors = batch.apply(
            NAME,
            || Array2::zeros((0, n)),
            |model, x| {
                let options = ScoreOptions {
                    per_feature: true,
                    threshold: None,
                };
                let scores = model.score(x, &options)?;
                scores.feature_errors.ok_or_else(|| {
                    crate::Error::Internal("score with per_feature gave no feature errors".into())
                })
            },
        )?;
        let out = batch.rows.vectors(errors.view(), n)?;
        args::finish(out, batch.scalar)
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
