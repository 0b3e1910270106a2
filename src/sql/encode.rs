//! `ae_encode(model, x1, …, xn)`: the latent vector of each row.
//!
//! `z = encoder(scale(x))`: `n` features in original units → `FixedSizeList<Float32>[latent]`,
//! whose width is the model's latent size, known when the query is planned.

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

const NAME: &str = "ae_encode";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Returns the latent vector of each row: the autoencoder's encoder applied to the \
         (scaled) features. The width of the result is the model's latent size. A row with a \
         NULL feature gives NULL, unless the model was trained to impute missing values.",
        "ae_encode(model, x1, ..., xn)",
    )
    .with_argument("model", "String literal naming a registered model.")
    .with_argument(
        "x1, ..., xn",
        "The model's n features, in its order: numeric columns or expressions (integer, float \
         or decimal), or one vector column (FixedSizeList or List of Float32/Float64) of n values.",
    )
    .with_sql_example(
        r#"```sql
> SELECT id, ae_encode('sensors', temperature, pressure, vibration) AS latent FROM readings LIMIT 1;
+----+-----------------------+
| id | latent                |
+----+-----------------------+
| 1  | [0.41, -1.20, 0.07]   |
+----+-----------------------+
```"#,
    )
    .with_related_udf("ae_decode")
    .with_related_udf("ae_reconstruct")
    .build()
});

/// The `ae_encode` SQL function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AeEncode {
    signature: Signature,
    registry: ModelRegistry,
}

impl AeEncode {
    /// `ae_encode` over the models of `registry`.
    pub fn new(registry: ModelRegistry) -> Self {
        Self {
            // Stable, not Immutable: the result depends on the registry, not only the arguments.
            signature: Signature::user_defined(Volatility::Stable),
            registry,
        }
    }
}

impl ScalarUDFImpl for AeEncode {
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
        let data_type = args::vector_type(model.latent_dim());
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
        let latent = batch.model.latent_dim();
        batch.check_width(NAME, args.return_type(), latent)?;
        let z = batch.apply(
            NAME,
            || Array2::zeros((0, latent)),
            |model, x| model.encode(x),
        )?;
        let out = batch.rows.vectors(z.view(), latent)?;
        args::finish(out, batch.scalar)
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
