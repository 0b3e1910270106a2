//! `aeflow cluster scheduler|executor`: Apache Ballista processes that know aeflow's functions.
//!
//! ```text
//! aeflow cluster scheduler --model-dir DIR [--bind ADDR] [--port 50050] [--external-host HOST]
//! aeflow cluster executor  --model-dir DIR --scheduler HOST[:PORT] [--bind ADDR] [--port 50051]
//!                          [--grpc-port 50052] [--external-host HOST] [--concurrency N]
//!                          [--work-dir DIR] [--connect-timeout SECONDS]
//! ```
//! Every process loads the models of `--model-dir` at start (the same files on every machine)
//! and runs until Ctrl-C or SIGTERM. Logs go to stderr (`RUST_LOG` filters them; default
//! `info`). See docs/ballista.md.

use std::path::PathBuf;

use crate::distributed::{
    ExecutorProcessConfig, SchedulerConfig, executor_config, load_models, run_executor,
    run_scheduler, scheduler_address, scheduler_config,
};
use crate::error::{Error, Result};

/// Arguments of `aeflow cluster`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    role: Role,
}

#[derive(Debug, clap::Subcommand)]
enum Role {
    /// Run a Ballista scheduler: plans queries and hands their tasks to executors.
    Scheduler(SchedulerArgs),
    /// Run a Ballista executor: runs tasks, including aeflow's functions, on its rows.
    Executor(ExecutorArgs),
}

/// Arguments of `aeflow cluster scheduler`.
#[derive(Debug, clap::Args)]
struct SchedulerArgs {
    /// Directory of model files (file stem = model name): the same files as on the executors.
    #[arg(long, value_name = "DIR")]
    model_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0")]
    bind: String,
    /// gRPC port clients and executors connect to (0 picks a free port, printed at start).
    #[arg(long, default_value_t = 50050)]
    port: u16,
    /// Host name under which other machines reach this scheduler.
    #[arg(long, value_name = "HOST", default_value = "localhost")]
    external_host: String,
}

/// Arguments of `aeflow cluster executor`.
#[derive(Debug, clap::Args)]
struct ExecutorArgs {
    /// Directory of model files (file stem = model name): the same files as on the scheduler.
    #[arg(long, value_name = "DIR")]
    model_dir: PathBuf,
    /// The scheduler, `HOST:PORT` (port 50050 when left out).
    #[arg(long, value_name = "HOST[:PORT]")]
    scheduler: String,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0")]
    bind: String,
    /// Arrow Flight port: other executors and clients fetch results here.
    #[arg(long, default_value_t = 50051)]
    port: u16,
    /// gRPC port the scheduler pushes tasks to.
    #[arg(long, default_value_t = 50052)]
    grpc_port: u16,
    /// Host name under which other machines reach this executor (default: the address the
    /// scheduler sees it connect from).
    #[arg(long, value_name = "HOST")]
    external_host: Option<String>,
    /// Tasks run at once (default: the number of cores).
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
    /// Directory for shuffle files (default: a fresh temporary directory).
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Seconds to keep trying to reach the scheduler at start.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    connect_timeout: u16,
}

/// Run `aeflow cluster`.
pub fn run(args: Args) -> Result<()> {
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))?;
    match args.role {
        Role::Scheduler(a) => runtime.block_on(scheduler(a)),
        Role::Executor(a) => runtime.block_on(executor(a)),
    }
}

async fn scheduler(args: SchedulerArgs) -> Result<()> {
    let models = load_models(&args.model_dir)?;
    let addr = format!("{}:{}", args.bind, args.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| Error::config("--bind/--port", format!("cannot listen on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::Internal(format!("a bound listener has no address: {e}")))?;
    println!(
        "scheduler listening on {bound} with models: {}",
        names_or_none(&models.names())
    );
    let base = SchedulerConfig {
        external_host: args.external_host,
        ..SchedulerConfig::default()
    };
    tokio::select! {
        served = run_scheduler(listener, scheduler_config(&models, base)) => served,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

async fn executor(args: ExecutorArgs) -> Result<()> {
    let models = load_models(&args.model_dir)?;
    let (scheduler_host, scheduler_port) = scheduler_address(&args.scheduler)?;
    if args.concurrency == Some(0) {
        return Err(Error::config("--concurrency", "expected at least 1"));
    }
    let work_dir = match &args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            Some(dir.to_str().map(str::to_string).ok_or_else(|| {
                Error::config(
                    "--work-dir",
                    format!("{} is not valid UTF-8", dir.display()),
                )
            })?)
        }
        None => None,
    };
    let mut base = ExecutorProcessConfig {
        bind_host: args.bind,
        external_host: args.external_host,
        port: args.port,
        grpc_port: args.grpc_port,
        scheduler_host,
        scheduler_port,
        scheduler_connect_timeout_seconds: args.connect_timeout,
        work_dir,
        ..ExecutorProcessConfig::default()
    };
    if let Some(n) = args.concurrency {
        base.vcores = n;
    }
    println!(
        "executor {} (flight port {}, grpc port {}) for scheduler {}:{} with models: {}",
        base.executor_id,
        base.port,
        base.grpc_port,
        base.scheduler_host,
        base.scheduler_port,
        names_or_none(&models.names())
    );
    run_executor(executor_config(&models, base)?).await
}

fn names_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// Log to stderr at `info` unless `RUST_LOG` says otherwise. A second call (tests) is harmless.
fn init_logging() {
    let env = env_logger::Env::default().default_filter_or("info");
    let _ = env_logger::Builder::from_env(env).try_init();
}
