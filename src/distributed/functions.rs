//! The function registries of a Ballista scheduler and executor, with aeflow's functions in
//! them, and the models those functions read.

use std::path::Path;
use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::utils::default_session_builder;
use ballista_scheduler::scheduler_server::SessionBuilder;
use datafusion::execution::SessionState;
use datafusion::execution::registry::FunctionRegistry;
use datafusion::prelude::SessionConfig;

use crate::error::{Error, Result};
use crate::sql::{ModelRegistry, scalar_functions};

/// A registry of the models in `dir` (every model file, registered under its file stem), for a
/// cluster participant. Unlike [`ModelRegistry::with_model_dir`], the directory is only read:
/// it must exist, and nothing is ever written to it. A directory without models gives an empty
/// registry (queries naming a model then fail with the list of registered ones).
pub fn load_models(dir: impl AsRef<Path>) -> Result<ModelRegistry> {
    let dir = dir.as_ref();
    if !dir.is_dir() {
        return Err(Error::config(
            "model_dir",
            format!(
                "{} is not a directory; expected a directory of model files (*.aemodel, *.aefm, *.safetensors)",
                dir.display()
            ),
        ));
    }
    let models = ModelRegistry::new();
    let names = models.register_dir(dir)?;
    if names.is_empty() {
        log::warn!("no model files in {}", dir.display());
    } else {
        log::info!("models from {}: {}", dir.display(), names.join(", "));
    }
    Ok(models)
}

/// The functions a Ballista executor resolves plan functions in: DataFusion's and Ballista's
/// defaults (those of a Ballista session state) plus aeflow's scalar functions over `models`.
pub fn function_registry(models: &ModelRegistry) -> Result<BallistaFunctionRegistry> {
    let state = default_session_builder(SessionConfig::default())?;
    let mut registry = BallistaFunctionRegistry::from(&state);
    for udf in scalar_functions(models) {
        registry
            .scalar_functions
            .insert(udf.name().to_string(), Arc::new(udf));
    }
    Ok(registry)
}

/// The session builder of a Ballista scheduler: Ballista's default session with aeflow's
/// scalar functions over `models` registered in it. The scheduler builds one session per
/// client session and decodes the client's plans in it.
pub fn session_builder(models: ModelRegistry) -> SessionBuilder {
    Arc::new(
        move |config: SessionConfig| -> datafusion::common::Result<SessionState> {
            let mut state = default_session_builder(config)?;
            for udf in scalar_functions(&models) {
                state.register_udf(Arc::new(udf))?;
            }
            Ok(state)
        },
    )
}
