//! `ae_decode(model, latent)`: rows rebuilt from latent vectors.
//!
//! `x̂ = s⁻¹(decoder(z))`: a latent vector of the model's latent size (one vector column, or
//! that many numeric arguments) → `FixedSizeList<Float32>[n]` in the features' original units.
//! `ae_decode(m, ae_encode(m, x…))` equals `ae_reconstruct(m, x…)`.

use std::sync::LazyLock;

use crate::model::Autoencoder;
use crate::sql::args::{self, DOC_SECTION, Values};
use crate::sql::registry::ModelRegistry;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result as DFResult, internal_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    Volatility,
};

const NAME: &str = "ae_decode";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Returns the rows the autoencoder's decoder builds from latent vectors, in the original \
         units and order of the features, as a vector of n Float32 values. A NULL latent value \
         gives NULL.",
        "ae_decode(model, latent)",
    )
    .with_argument("model", "String literal naming a registered model.")
    .with_argument(
        "latent",
        "A vector column (FixedSizeList or List of Float32/Float64) holding the model's latent \
         size of values, e.g. the output of ae_encode; or that many numeric arguments.",
    )
    .with_sql_example(
        r#"```sql
> SELECT ae_decode('sensors', ae_encode('sensors', 21.5, 1013.0, 0.02)) AS restored;
+----------------------------+
| restored                   |
+----------------------------+
| [21.38, 1012.6, 0.0213]    |
+----------------------------+
```"#,
    )
    .with_related_udf("ae_encode")
    .with_related_udf("ae_reconstruct")
    .build()
});

/// The `ae_decode` SQL function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AeDecode {
    signature: Signature,
    registry: ModelRegistry,
}

impl AeDecode {
    /// `ae_decode` over the models of `registry`.
    pub fn new(registry: ModelRegistry) -> Self {
        Self {
            // Stable, not Immutable: the result depends on the registry, not only the arguments.
            signature: Signature::user_defined(Volatility::Stable),
            registry,
        }
    }
}

impl ScalarUDFImpl for AeDecode {
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
            Values::Latent,
            Autoencoder::n_features,
        )
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        args::invoke_vectors(
            NAME,
            &self.registry,
            &args,
            Values::Latent,
            Autoencoder::n_features,
            |model, z| model.decode(z),
        )
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
