//! A Ballista executor whose function registry holds aeflow's functions.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use tokio::time::Instant;

use crate::distributed::functions::function_registry;
use crate::error::{Error, Result};
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
///
/// With `config.scheduler_connect_timeout_seconds` > 0 the scheduler's port is tried for that
/// long before giving up, with an error naming the scheduler. (Ballista 55's own retry loop
/// for that setting never ends, so it is done here and Ballista is asked for one attempt.)
pub async fn run_executor(config: ExecutorProcessConfig) -> Result<()> {
    if config.port == 0 || config.grpc_port == 0 {
        return Err(Error::config(
            "executor ports",
            format!(
                "flight port {} and grpc port {}: expected fixed, non-zero ports, because the \
                 executor tells the scheduler where to reach it",
                config.port, config.grpc_port
            ),
        ));
    }
    let timeout = Duration::from_secs(u64::from(config.scheduler_connect_timeout_seconds));
    wait_for_scheduler(&config.scheduler_host, config.scheduler_port, timeout).await?;
    let config = ExecutorProcessConfig {
        scheduler_connect_timeout_seconds: 0,
        ..config
    };
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

/// Try to open a TCP connection to the scheduler every 250 ms until it succeeds or `timeout`
/// has passed (at least one attempt is made).
async fn wait_for_scheduler(host: &str, port: u16, timeout: Duration) -> Result<()> {
    // `[::1]` is how an IPv6 host is written in the scheduler URL; the resolver wants `::1`.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let deadline = Instant::now() + timeout;
    loop {
        match tokio::net::TcpStream::connect((bare, port)).await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(Error::config(
                    "scheduler",
                    format!(
                        "cannot reach the scheduler at {host}:{port} (tried for {} s): {e}",
                        timeout.as_secs()
                    ),
                ));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// The scheduler's host and port from `HOST:PORT`, `HOST` (port 50050), `[IPv6]:PORT` or any of
/// these after `df://` or `http://`, as [`ExecutorProcessConfig`] wants them (an IPv6 host
/// keeps its brackets, since the executor writes `http://{host}:{port}`).
pub fn scheduler_address(text: &str) -> Result<(String, u16)> {
    let invalid = || {
        Error::config(
            "scheduler address",
            format!("'{text}' is not HOST[:PORT], e.g. scheduler.internal:50050"),
        )
    };
    let text = text.trim();
    let text = text
        .strip_prefix("df://")
        .or_else(|| text.strip_prefix("http://"))
        .unwrap_or(text);
    if let Ok(addr) = text.parse::<SocketAddr>() {
        // The executor builds `http://{host}:{port}`: an IPv6 host keeps its brackets.
        let host = match addr {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        return Ok((host, addr.port()));
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().map_err(|_| invalid())?),
        None => (text, 50050),
    };
    if host.is_empty() || host.contains(['/', ' ']) {
        return Err(invalid());
    }
    Ok((host.to_string(), port))
}
