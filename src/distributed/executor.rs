//! A Ballista executor whose function registry holds aeflow's functions.

use std::sync::Arc;

use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};

use crate::distributed::functions::function_registry;
use crate::error::Result;
use crate::sql::ModelRegistry;

/// `base` with aeflow's functions over `models` in the executor's function registry (next to
/// DataFusion's and Ballista's). Without them the executor rejects every task that calls an
/// aeflow function ("PhysicalExtensionCodec is not provided …").
pub fn executor_config(
    models: &ModelRegistry,
    base: ExecutorProcessConfig,
) -> Result<ExecutorProcessConfig> {
    Ok(ExecutorProcessConfig {
        override_function_registry: Some(Arc::new(function_registry(models)?)),
        ..base
    })
}

/// Run an executor until it is stopped (Ctrl-C, SIGTERM, or the scheduler asks it to); `config`
/// should come from [`executor_config`]. The executor connects to the scheduler named in
/// `config`, serves Arrow Flight on `config.port` (and gRPC on `config.grpc_port` for
/// push-based scheduling) and runs tasks with `config.vcores` slots.
pub async fn run_executor(config: ExecutorProcessConfig) -> Result<()> {
    log::info!(
        "Ballista executor {} with aeflow functions: flight {}:{}, scheduler {}:{}",
        config.executor_id,
        config.bind_host,
        config.port,
        config.scheduler_host,
        config.scheduler_port
    );
    start_executor_process(Arc::new(config)).await?;
    Ok(())
}
