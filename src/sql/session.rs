//! Wiring aeflow into a DataFusion [`SessionContext`], and running SQL that may hold aeflow's
//! own statements.

use std::sync::Arc;

use datafusion::catalog::TableFunctionImpl;
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::sql::create_model::{CreateModel, create_model};
use crate::sql::registry::ModelRegistry;
use crate::sql::statement::{AeStatement, parse};
use crate::sql::{
    AeDecode, AeEncode, AeFeatureErrors, AeIsAnomaly, AeModelInfo, AeReconstruct,
    AeReconstructionError, AeSample, AeTrainingHistory, show_models,
};

/// The scalar functions over `registry`: `ae_encode`, `ae_decode`, `ae_reconstruct`,
/// `ae_reconstruction_error`, `ae_feature_errors`, `ae_is_anomaly`.
pub fn scalar_functions(registry: &ModelRegistry) -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(AeEncode::new(registry.clone())),
        ScalarUDF::new_from_impl(AeDecode::new(registry.clone())),
        ScalarUDF::new_from_impl(AeReconstruct::new(registry.clone())),
        ScalarUDF::new_from_impl(AeReconstructionError::new(registry.clone())),
        ScalarUDF::new_from_impl(AeFeatureErrors::new(registry.clone())),
        ScalarUDF::new_from_impl(AeIsAnomaly::new(registry.clone())),
    ]
}

/// The table functions over `registry`, with their SQL names: `ae_model_info`,
/// `ae_training_history`, `ae_sample`.
pub fn table_functions(
    registry: &ModelRegistry,
) -> Vec<(&'static str, Arc<dyn TableFunctionImpl>)> {
    vec![
        (
            "ae_model_info",
            Arc::new(AeModelInfo::new(registry.clone())),
        ),
        (
            "ae_training_history",
            Arc::new(AeTrainingHistory::new(registry.clone())),
        ),
        ("ae_sample", Arc::new(AeSample::new(registry.clone()))),
    ]
}

/// Register aeflow's functions over `registry` in `ctx`, and remember the registry so that
/// [`execute`] can run `CREATE MODEL`, `DROP MODEL` and `SHOW MODELS` in this session.
/// Models added to `registry` later (by any handle) are seen by later queries.
pub fn register(ctx: &SessionContext, registry: ModelRegistry) {
    for udf in scalar_functions(&registry) {
        ctx.register_udf(udf);
    }
    for (name, udtf) in table_functions(&registry) {
        ctx.register_udtf(name, udtf);
    }
    ctx.state_ref()
        .write()
        .config_mut()
        .set_extension(Arc::new(registry));
}

/// The registry [`register`] wired into `ctx`, if any.
pub fn registry(ctx: &SessionContext) -> Option<ModelRegistry> {
    ctx.state_ref()
        .read()
        .config()
        .get_extension::<ModelRegistry>()
        .map(|r| r.as_ref().clone())
}

/// Run one SQL statement: aeflow's statements (see [`crate::sql::statement`]) here, anything
/// else through DataFusion's `ctx.sql`. Statements that return nothing give an empty
/// [`DataFrame`] (no columns).
pub async fn execute(ctx: &SessionContext, sql: &str) -> Result<DataFrame> {
    let Some(statement) = parse(sql)? else {
        return Ok(ctx.sql(sql).await?);
    };
    let registry = registry(ctx).ok_or_else(|| {
        Error::config(
            "SQL session",
            "aeflow is not registered in this SessionContext; call aeflow::sql::register first",
        )
    })?;
    match statement {
        AeStatement::CreateModel {
            name,
            or_replace,
            if_not_exists,
            options,
            query,
        } => {
            let stmt = CreateModel {
                name: &name,
                or_replace,
                if_not_exists,
                options: &options,
                query: &query,
            };
            match create_model(ctx, &registry, stmt).await? {
                Some(summary) => Ok(ctx.read_batch(summary)?),
                None => Ok(ctx.read_empty()?),
            }
        }
        AeStatement::DropModel { name, if_exists } => {
            match registry.deregister(&name) {
                Ok(_) => {}
                Err(Error::UnknownModel { .. }) if if_exists => {}
                Err(e) => return Err(e),
            }
            Ok(ctx.read_empty()?)
        }
        AeStatement::ShowModels => Ok(ctx.read_batch(show_models(&registry)?)?),
    }
}
