//! `SHOW MODELS`: one row per registered model, sorted by name.
//!
//! Columns: `name`, `kind`, `n_features`, `latent_dim`, `threshold` (NULL without one),
//! `source` (where the model came from).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::error::Result;
use crate::sql::registry::ModelRegistry;

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("n_features", DataType::Int64, false),
        Field::new("latent_dim", DataType::Int64, false),
        Field::new("threshold", DataType::Float64, true),
        Field::new("source", DataType::Utf8, false),
    ]))
});

/// The `SHOW MODELS` table of `registry`.
pub(crate) fn show_models(registry: &ModelRegistry) -> Result<RecordBatch> {
    let entries = registry.entries();
    let kinds = entries.iter().map(|(_, e)| {
        let summary = e.model.summary();
        crate::sql::model_info::kind_parts(&summary.kind).0
    });
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            entries.iter().map(|(n, _)| n),
        )),
        Arc::new(StringArray::from_iter_values(kinds)),
        Arc::new(Int64Array::from_iter_values(
            entries.iter().map(|(_, e)| e.model.n_features() as i64),
        )),
        Arc::new(Int64Array::from_iter_values(
            entries.iter().map(|(_, e)| e.model.latent_dim() as i64),
        )),
        Arc::new(Float64Array::from_iter(
            entries.iter().map(|(_, e)| e.model.threshold()),
        )),
        Arc::new(StringArray::from_iter_values(
            entries.iter().map(|(_, e)| e.source.describe()),
        )),
    ];
    Ok(RecordBatch::try_new(SCHEMA.clone(), columns)?)
}
