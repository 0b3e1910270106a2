//! `ae_encode(model, x1, …, xn)`: the latent vector of each row.
//!
//! `z = encoder(scale(x))`: `n` features in original units → `FixedSizeList<Float32>[latent]`,
//! whose width is the model's latent size, known when the query is planned.

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
        args::plan_vector_field(
            NAME,
            &self.registry,
            &args,
            Values::Features,
            Autoencoder::latent_dim,
        )
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        args::invoke_vectors(
            NAME,
            &self.registry,
            &args,
            Values::Features,
            Autoencoder::latent_dim,
            |model, x| model.encode(x),
        )
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, AsArray, Float64Array};
    use datafusion::arrow::datatypes::Field;
    use datafusion::arrow::datatypes::Float32Type;
    use datafusion::common::ScalarValue;
    use datafusion::common::config::ConfigOptions;

    use super::*;
    use crate::model::{Autoencoder, Silent, TrainConfig};

    fn registry() -> (ModelRegistry, Autoencoder) {
        let x =
            ndarray::Array2::from_shape_fn((64, 3), |(i, j)| ((i * (j + 1)) as f32 * 0.1).sin());
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let config = TrainConfig {
            hidden: Some(vec![4, 2, 4]),
            epochs: 2,
            ..TrainConfig::default()
        };
        let model = Autoencoder::fit(x.view(), &names, &config, &mut Silent).expect("fit");
        let registry = ModelRegistry::new();
        registry.register("m", model.clone()).expect("register");
        (registry, model)
    }

    fn call(f: &AeEncode, args: Vec<ColumnarValue>, rows: usize) -> DFResult<ColumnarValue> {
        let arg_fields = args
            .iter()
            .enumerate()
            .map(|(i, a)| Arc::new(Field::new(format!("a{i}"), a.data_type(), true)))
            .collect();
        f.invoke_with_args(ScalarFunctionArgs {
            args,
            arg_fields,
            number_rows: rows,
            return_field: Arc::new(Field::new(NAME, args::vector_type(2), true)),
            config_options: Arc::new(ConfigOptions::default()),
        })
    }

    fn model_arg() -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Utf8(Some("m".into())))
    }

    #[test]
    fn scalar_array_and_null_arguments() {
        let (registry, model) = registry();
        let f = AeEncode::new(registry);
        let expected = model
            .encode(ndarray::array![[0.1f32, 0.2, 0.3]].view())
            .expect("encode");

        // All scalars: a scalar result.
        let s = |v: f64| ColumnarValue::Scalar(ScalarValue::Float64(Some(v)));
        let out = call(&f, vec![model_arg(), s(0.1), s(0.2), s(0.3)], 5).expect("scalar call");
        let ColumnarValue::Scalar(ScalarValue::FixedSizeList(z)) = out else {
            panic!("expected a FixedSizeList scalar, got {out:?}")
        };
        assert_eq!(
            z.value(0).as_primitive::<Float32Type>().values().to_vec(),
            expected.row(0).to_vec()
        );

        // A NULL scalar: a NULL scalar of the return type.
        let null = ColumnarValue::Scalar(ScalarValue::Float64(None));
        let out = call(&f, vec![model_arg(), s(0.1), null, s(0.3)], 1).expect("null call");
        let ColumnarValue::Scalar(v) = out else {
            panic!("expected a scalar")
        };
        assert!(v.is_null());
        assert_eq!(v.data_type(), args::vector_type(2));

        // Arrays mixed with a scalar: one result per row, NULL where a value is NULL.
        let a = ColumnarValue::Array(Arc::new(Float64Array::from(vec![
            Some(0.1),
            None,
            Some(0.1),
        ])));
        let out = call(&f, vec![model_arg(), a, s(0.2), s(0.3)], 3).expect("array call");
        let ColumnarValue::Array(z) = out else {
            panic!("expected an array")
        };
        let z = z.as_fixed_size_list();
        assert_eq!(z.len(), 3);
        assert!(z.is_valid(0) && z.is_null(1) && z.is_valid(2));
        assert_eq!(
            z.value(2).as_primitive::<Float32Type>().values().to_vec(),
            expected.row(0).to_vec()
        );
    }

    #[test]
    fn a_model_dropped_after_planning_is_an_execution_error() {
        let (registry, _) = registry();
        let f = AeEncode::new(registry.clone());
        registry.deregister("m").expect("drop");
        let s = ColumnarValue::Scalar(ScalarValue::Float64(Some(1.0)));
        let err = call(&f, vec![model_arg(), s.clone(), s.clone(), s], 1).expect_err("dropped");
        assert!(
            matches!(err, datafusion::common::DataFusionError::Execution(_)),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("model 'm' was dropped after the query was planned")
        );
    }
}
