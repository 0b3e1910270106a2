//! A Ballista scheduler whose sessions know aeflow's functions.

use std::sync::Arc;

use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use tokio::net::TcpListener;

use crate::distributed::functions::session_builder;
use crate::error::{Error, Result};
use crate::sql::ModelRegistry;

/// `base` with aeflow's functions over `models` in every session the scheduler builds. Without
/// them the scheduler cannot decode a plan that calls an aeflow function ("LogicalExtensionCodec
/// is not provided for scalar function …").
pub fn scheduler_config(models: &ModelRegistry, base: SchedulerConfig) -> SchedulerConfig {
    SchedulerConfig {
        override_session_builder: Some(session_builder(models.clone())),
        ..base
    }
}

/// Serve a scheduler on `listener` until the server fails; `config` should come from
/// [`scheduler_config`]. The scheduler keeps its state in memory. Its bind address and port are
/// taken from the listener.
pub async fn run_scheduler(listener: TcpListener, config: SchedulerConfig) -> Result<()> {
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Internal(format!("a bound listener has no address: {e}")))?;
    let config = SchedulerConfig {
        bind_host: addr.ip().to_string(),
        bind_port: addr.port(),
        ..config
    };
    config.validate()?;
    log::info!("Ballista scheduler with aeflow functions listening on {addr}");
    let cluster = BallistaCluster::new_from_config(&config).await?;
    let scheduler =
        create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::new(config)).await?;
    start_grpc_service_with_listener(listener, scheduler).await?;
    Ok(())
}
