//! `ae_feature_errors(model, x1, …, xn)`: which features a row is reconstructed badly on.
//!
//! `eᵢ = (s(x)ᵢ − s(x̂)ᵢ)²` for each feature `i`, in the scaled space the network sees, as
//! `FixedSizeList<Float32>[n]`. Their mean is `ae_reconstruction_error`.

use std::sync::LazyLock;

use crate::model::{Autoencoder, ScoreOptions};
use crate::sql::args::{self, DOC_SECTION, Values};
use crate::sql::registry::ModelRegistry;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result as DFResult, internal_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    Volatility,
};

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
        args::plan_vector_field(
            NAME,
            &self.registry,
            &args,
            Values::Features,
            Autoencoder::n_features,
        )
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        args::invoke_vectors(
            NAME,
            &self.registry,
            &args,
            Values::Features,
            Autoencoder::n_features,
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
        )
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
