//! `ae_model_info('name')`: one row describing a registered model.
//!
//! Columns: `name`, `kind`, `kind_options` (JSON of the kind's parameters), `features`
//! (List<Utf8>, in model order), `n_features`, `dims` (layer widths, input to output),
//! `latent_dim`, `scaler`, `missing`, `threshold` (NULL without one), `contamination`,
//! `dead_latent_units`, `epochs`, `training_seconds`, `created` (UTC), `version`, `source`.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int64Array, Int64Builder, ListBuilder, RecordBatch, StringArray,
    StringBuilder, TimestampSecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{DataFusionError, Result as DFResult};
use datafusion::datasource::MemTable;

use crate::sql::registry::{ModelRegistry, RegisteredModel};
use crate::sql::table_args::model_name_argument;

const NAME: &str = "ae_model_info";

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let list = |t: DataType| DataType::List(Arc::new(Field::new_list_field(t, true)));
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("kind_options", DataType::Utf8, false),
        Field::new("features", list(DataType::Utf8), false),
        Field::new("n_features", DataType::Int64, false),
        Field::new("dims", list(DataType::Int64), false),
        Field::new("latent_dim", DataType::Int64, false),
        Field::new("scaler", DataType::Utf8, false),
        Field::new("missing", DataType::Utf8, false),
        Field::new("threshold", DataType::Float64, true),
        Field::new("contamination", DataType::Float64, false),
        Field::new("dead_latent_units", list(DataType::Int64), false),
        Field::new("epochs", DataType::Int64, false),
        Field::new("training_seconds", DataType::Float64, false),
        Field::new(
            "created",
            DataType::Timestamp(TimeUnit::Second, Some("UTC".into())),
            false,
        ),
        Field::new("version", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
    ]))
});

/// The `ae_model_info` table function.
#[derive(Debug)]
pub struct AeModelInfo {
    registry: ModelRegistry,
}

impl AeModelInfo {
    /// `ae_model_info` over the models of `registry`.
    pub fn new(registry: ModelRegistry) -> Self {
        Self { registry }
    }
}

impl TableFunctionImpl for AeModelInfo {
    fn call_with_args(&self, args: TableFunctionArgs) -> DFResult<Arc<dyn TableProvider>> {
        let name = model_name_argument(NAME, &self.registry, args.exprs())?;
        let entry = self
            .registry
            .get_entry(&name)
            .map_err(|e| DataFusionError::Plan(format!("{NAME}: {e}")))?;
        let batch = info_batch(&name, &entry)?;
        Ok(Arc::new(MemTable::try_new(
            SCHEMA.clone(),
            vec![vec![batch]],
        )?))
    }
}

/// `(kind name, JSON of the kind's parameters)`, the parameters as the model file stores them.
pub(crate) fn kind_parts(kind: &crate::model::Kind) -> (String, String) {
    let mut value = serde_json::to_value(kind).unwrap_or(serde_json::Value::Null);
    if let Some(fields) = value.as_object_mut() {
        fields.remove("kind");
    }
    (kind.name().to_string(), value.to_string())
}

/// The snake_case name serde gives a unit enum variant (`standard`, `impute_mean`).
pub(crate) fn enum_name(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(e) => format!("<{e}>"),
    }
}

fn info_batch(name: &str, entry: &RegisteredModel) -> DFResult<RecordBatch> {
    let s = entry.model.summary();
    let (kind, kind_options) = kind_parts(&s.kind);
    let mut features = ListBuilder::new(StringBuilder::new());
    features.append_value(s.features.iter().map(Some));
    let ints = |v: &[usize]| {
        let mut b = ListBuilder::new(Int64Builder::new());
        b.append_value(v.iter().map(|&d| Some(d as i64)));
        b.finish()
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![name])),
        Arc::new(StringArray::from(vec![kind])),
        Arc::new(StringArray::from(vec![kind_options])),
        Arc::new(features.finish()),
        Arc::new(Int64Array::from(vec![s.features.len() as i64])),
        Arc::new(ints(&s.dims)),
        Arc::new(Int64Array::from(vec![s.latent_dim as i64])),
        Arc::new(StringArray::from(vec![enum_name(&s.scaler)])),
        Arc::new(StringArray::from(vec![enum_name(&s.missing)])),
        Arc::new(Float64Array::from(vec![s.threshold])),
        Arc::new(Float64Array::from(vec![s.contamination])),
        Arc::new(ints(&s.dead_latent_units)),
        Arc::new(Int64Array::from(vec![s.history.len() as i64])),
        Arc::new(Float64Array::from(vec![s.training_seconds])),
        Arc::new(
            TimestampSecondArray::from(vec![i64::try_from(s.created_unix).unwrap_or(i64::MAX)])
                .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from(vec![s.version])),
        Arc::new(StringArray::from(vec![entry.source.describe()])),
    ];
    Ok(RecordBatch::try_new(SCHEMA.clone(), columns)?)
}
