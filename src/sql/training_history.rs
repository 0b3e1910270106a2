//! `ae_training_history('name')`: one row per training epoch of a registered model.
//!
//! Columns: `epoch` (1-based), `train_loss`, `val_loss` (NULL without a validation split) and
//! `seconds` (wall time of the epoch).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{DataFusionError, Result as DFResult};
use datafusion::datasource::MemTable;

use crate::sql::registry::ModelRegistry;
use crate::sql::table_args::model_name_argument;

const NAME: &str = "ae_training_history";

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("epoch", DataType::Int64, false),
        Field::new("train_loss", DataType::Float64, false),
        Field::new("val_loss", DataType::Float64, true),
        Field::new("seconds", DataType::Float64, false),
    ]))
});

/// The `ae_training_history` table function.
#[derive(Debug)]
pub struct AeTrainingHistory {
    registry: ModelRegistry,
}

impl AeTrainingHistory {
    /// `ae_training_history` over the models of `registry`.
    pub fn new(registry: ModelRegistry) -> Self {
        Self { registry }
    }
}

impl TableFunctionImpl for AeTrainingHistory {
    fn call_with_args(&self, args: TableFunctionArgs) -> DFResult<Arc<dyn TableProvider>> {
        let name = model_name_argument(NAME, &self.registry, args.exprs())?;
        let model = self
            .registry
            .get(&name)
            .map_err(|e| DataFusionError::Plan(format!("{NAME}: {e}")))?;
        let history = model.summary().history;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(
                history.iter().map(|r| r.epoch as i64),
            )),
            Arc::new(Float64Array::from_iter_values(
                history.iter().map(|r| r.train_loss),
            )),
            Arc::new(Float64Array::from_iter(history.iter().map(|r| r.val_loss))),
            Arc::new(Float64Array::from_iter_values(
                history.iter().map(|r| r.seconds),
            )),
        ];
        let batch = RecordBatch::try_new(SCHEMA.clone(), columns)?;
        Ok(Arc::new(MemTable::try_new(
            SCHEMA.clone(),
            vec![vec![batch]],
        )?))
    }
}
