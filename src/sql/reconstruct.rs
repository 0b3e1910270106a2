//! `ae_reconstruct(model, x1, …, xn)`: the autoencoder's reconstruction of each row.
//!
//! `x̂ = s⁻¹(decoder(encoder(s(x))))` where `s` is the model's scaler: `n` features in
//! original units → `FixedSizeList<Float32>[n]`, in the same (original) units and order.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result as DFResult, internal_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    Volatility,
};
use ndarray::Array2;

use crate::sql::args::{self, Batch, DOC_SECTION, Values};
use crate::sql::registry::ModelRegistry;

const NAME: &str = "ae_reconstruct";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Returns the autoencoder's reconstruction of each row, in the original units and order of \
         the features, as a vector of n Float32 values. A row with a NULL feature gives NULL, \
         unless the model was trained to impute missing values.",
        "ae_reconstruct(model, x1, ..., xn)",
    )
    .with_argument("model", "String literal naming a registered model.")
    .with_argument(
        "x1, ..., xn",
        "The model's n features, in its order: numeric columns or expressions (integer, float \
         or decimal), or one vector column (FixedSizeList or List of Float32/Float64) of n values.",
    )
    .with_sql_example(
        r#"```sql
> SELECT ae_reconstruct('sensors', 21.5, 1013.0, 0.02) AS restored;
+----------------------------+
| restored                   |
+----------------------------+
| [21.38, 1012.6, 0.0213]    |
+----------------------------+
```"#,
    )
    .with_related_udf("ae_encode")
    .with_related_udf("ae_decode")
    .build()
});

/// The `ae_reconstruct` SQL function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AeReconstruct {
    signature: Signature,
    registry: ModelRegistry,
}

impl AeReconstruct {
    /// `ae_reconstruct` over the models of `registry`.
    pub fn new(registry: ModelRegistry) -> Self {
        Self {
            // Stable, not Immutable: the result depends on the registry, not only the arguments.
            signature: Signature::user_defined(Volatility::Stable),
            registry,
        }
    }
}

impl ScalarUDFImpl for AeReconstruct {
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
        let x_hat = batch.apply(
            NAME,
            || Array2::zeros((0, n)),
            |model, x| model.reconstruct(x),
        )?;
        let out = batch.rows.vectors(x_hat.view(), n)?;
        args::finish(out, batch.scalar)
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
