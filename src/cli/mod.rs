//! The `aeflow` command line: a thin layer that wires the surfaces together.
//!
//! One file per subcommand; each defines its `Args` (clap derive) and a `run`. Errors of the
//! library name options neutrally; [`run`] spells them as the subcommand's flags
//! ([`flag_names`]).

use clap::{CommandFactory, Parser, Subcommand};

use crate::error::Result;

#[cfg(feature = "ballista")]
mod cluster;
pub mod console;
mod demo;
mod demo_data;
mod encode;
mod flag_names;
mod inspect;
mod report;
mod sample;
mod score;
mod sql;
mod stream;
mod train;

/// Autoencoders in data pipelines.
#[derive(Debug, Parser)]
#[command(name = "aeflow", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process; size is irrelevant
enum Command {
    /// Train a model on a Parquet / CSV / NDJSON file.
    Train(train::Args),
    /// Add a `latent` column to every row of a file.
    Encode(encode::Args),
    /// Add `reconstruction_error` and `is_anomaly` to every row of a file.
    Score(score::Args),
    /// Show what a model file holds.
    Inspect(inspect::Args),
    /// Run SQL with aeflow's functions over files.
    Sql(sql::Args),
    /// Score or encode a Kafka topic into another topic.
    Stream(stream::Args),
    /// Generate new rows from a variational model.
    Sample(sample::Args),
    /// Write an HTML report of a model and its anomalies.
    Report(report::Args),
    /// The main job on embedded defaults: train, score, SQL, stream, report.
    Demo(demo::Args),
    /// Run a Ballista scheduler or executor that knows aeflow's functions.
    #[cfg(feature = "ballista")]
    Cluster(cluster::Args),
}

/// Run the parsed command line. Errors name the subcommand's flags (`--batch-size`) where the
/// library named an option neutrally (`batch_size`); `aeflow sql` keeps the SQL names of its
/// statements' errors and spells its own flags itself.
pub fn run(cli: Cli) -> Result<()> {
    let (name, result) = match cli.command {
        Command::Train(a) => ("train", train::run(a)),
        Command::Encode(a) => ("encode", encode::run(a)),
        Command::Score(a) => ("score", score::run(a)),
        Command::Inspect(a) => ("inspect", inspect::run(a)),
        Command::Sql(a) => return sql::run(a),
        Command::Stream(a) => ("stream", stream::run(a)),
        Command::Report(a) => ("report", report::run(a)),
        Command::Sample(a) => ("sample", sample::run(a)),
        Command::Demo(a) => ("demo", demo::run(a)),
        #[cfg(feature = "ballista")]
        Command::Cluster(a) => ("cluster", cluster::run(a)),
    };
    result.map_err(|e| {
        let cli = Cli::command();
        match cli.find_subcommand(name) {
            Some(command) => flag_names::with_flag_names(e, command),
            None => e,
        }
    })
}
