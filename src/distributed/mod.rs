//! aeflow's SQL functions on an Apache Ballista cluster (cargo feature `ballista`).
//!
//! A Ballista query plan names a function but does not carry it: the client, the scheduler
//! and every executor resolve `ae_reconstruction_error` (and the other aeflow functions) in
//! their own function registry, and those functions resolve the model by name in their own
//! [`ModelRegistry`]. So every participant loads the same models, from a model directory that
//! holds the same files on every machine ([`load_models`]):
//!
//! | participant | what it needs | here |
//! |---|---|---|
//! | client | the functions and models, to plan (return types, argument checks) | [`remote_context`] |
//! | scheduler | the same, to decode and re-plan the logical plan | [`run_scheduler`], [`session_builder`] |
//! | executor | the same, to run the physical plan's tasks | [`run_executor`], [`function_registry`] |
//!
//! `aeflow cluster scheduler` and `aeflow cluster executor` wrap the last two; docs/ballista.md
//! describes a deployment.
//!
//! ```no_run
//! # async fn demo() -> aeflow::Result<()> {
//! use aeflow::distributed::{load_models, remote_context};
//! use datafusion::prelude::ParquetReadOptions;
//!
//! let models = load_models("/srv/aeflow/models")?; // same files as on the executors
//! let ctx = remote_context("df://scheduler.internal:50050", models).await?;
//! // The path must be visible at the same place on every executor (shared FS or object store).
//! ctx.register_parquet("readings", "/data/readings/", ParquetReadOptions::default()).await?;
//! ctx.sql("SELECT id, ae_reconstruction_error('sensors', temperature, pressure) AS err \
//!          FROM readings ORDER BY err DESC LIMIT 10").await?.show().await?;
//! # Ok(()) }
//! ```
//!
//! # Limits
//! - Models are loaded when a participant starts; a model added later needs its file copied to
//!   every node and the nodes restarted. `CREATE MODEL` on a cluster context trains on the
//!   client and registers the model there only.
//! - Tables must be listing tables (Parquet, CSV, NDJSON files or directories): Ballista ships
//!   the table's definition, not its data, and each executor lists the files itself.
//!   In-memory tables, and so `ae_model_info`, `ae_training_history` and `SHOW MODELS`, run in
//!   a local session only.
//!
//! This module sits above [`crate::sql`] the way the CLI does: it only wires aeflow's functions
//! into Ballista's processes.

mod client;
mod executor;
mod functions;
mod scheduler;

pub use ballista_executor::executor_process::ExecutorProcessConfig;
pub use ballista_scheduler::config::{SchedulerConfig, TaskDistributionPolicy};
pub use client::remote_context;
pub use executor::{executor_config, run_executor, scheduler_address};
pub use functions::{function_registry, load_models, session_builder};
pub use scheduler::{run_scheduler, scheduler_config};

#[cfg(doc)]
use crate::sql::ModelRegistry;
