//! `aeflow demo`: the main job end to end on generated data, with nothing installed.
//!
//! The demo is a sequence of steps sharing a [`DemoContext`]. Each step prints what it did and
//! records the files it wrote. Surfaces add their step by writing
//! `pub(crate) fn demo_step(ctx: &mut DemoContext) -> Result<()>` in their own CLI file and
//! appending `("title", super::<surface>::demo_step)` to [`steps`].

use std::path::{Path, PathBuf};
use std::time::Instant;

use ::arrow::array::{Array, AsArray, RecordBatch};
use ::arrow::datatypes::Float64Type;
use ::arrow::util::display::array_value_to_string;

use super::console::{TrainProgress, Verbosity, duration, say};
use super::demo_data::{self, FEATURES};
use crate::arrow::{FeatureSelection, IS_ANOMALY, RECONSTRUCTION_ERROR};
use crate::batch::{
    BatchWriter, FileFormat, FileSource, JobOptions, TrainingOptions, read_training_data,
    score_file,
};
use crate::error::{Error, Result};
use crate::model::{Autoencoder, TrainConfig};

/// Rows of generated sensor readings.
const ROWS: usize = 6_000;
/// Faults injected among them.
const FAULTS: usize = 12;
/// Seed of the data and of training.
const SEED: u64 = 7;

/// Arguments of `aeflow demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Directory for the demo's files (created if needed).
    #[arg(long, value_name = "DIR", default_value = "aeflow-demo")]
    pub out_dir: PathBuf,
    /// Print nothing but errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// What every demo step receives: where things are, and how much to say.
#[derive(Debug)]
pub struct DemoContext {
    /// Directory holding every file the demo writes.
    pub out_dir: PathBuf,
    /// The generated sensor table (Parquet).
    pub data: PathBuf,
    /// The trained model file.
    pub model: PathBuf,
    /// The scored table (Parquet): the data plus `reconstruction_error`, `is_anomaly`.
    pub scored: PathBuf,
    /// The model's feature columns in the data.
    pub features: Vec<String>,
    /// Row numbers (0-based) of the injected faults.
    pub injected: Vec<usize>,
    /// How much to print.
    pub verbosity: Verbosity,
    /// Files written so far, with a description, for the closing list.
    pub files: Vec<(PathBuf, String)>,
}

impl DemoContext {
    /// Print a line of the demo's story (nothing with `--quiet`).
    pub fn say(&self, text: &str) -> Result<()> {
        say(self.verbosity, text)
    }

    /// A path inside the output directory.
    pub fn path(&self, file_name: &str) -> PathBuf {
        self.out_dir.join(file_name)
    }

    /// Record a file for the closing list.
    pub fn wrote(&mut self, path: &Path, what: &str) {
        self.files.push((path.to_path_buf(), what.to_string()));
    }
}

/// A demo step: a title and what it does.
pub type Step = (&'static str, fn(&mut DemoContext) -> Result<()>);

/// The demo, in order.
pub fn steps() -> Vec<Step> {
    vec![
        ("generate sensor data", data_step),
        ("train an autoencoder", train_step),
        ("score every reading", score_step),
        ("find the top anomalies in SQL", super::sql::demo_step),
        ("write an HTML report", super::report::demo_step),
        (
            "stream readings through Kafka (in-process mock cluster)",
            super::stream::demo_step,
        ),
        // Surfaces append their steps here, e.g. ("SQL", super::sql::demo_step).
    ]
}

/// Run `aeflow demo`.
pub fn run(args: Args) -> Result<()> {
    let start = Instant::now();
    std::fs::create_dir_all(&args.out_dir).map_err(|e| Error::io(&args.out_dir, e))?;
    let mut ctx = DemoContext {
        data: PathBuf::new(),
        model: PathBuf::new(),
        scored: PathBuf::new(),
        out_dir: args.out_dir,
        features: FEATURES.iter().map(|s| s.to_string()).collect(),
        injected: Vec::new(),
        verbosity: Verbosity::detect(args.quiet),
        files: Vec::new(),
    };
    ctx.data = ctx.path("sensors.parquet");
    ctx.model = ctx.path("sensors.aemodel");
    ctx.scored = ctx.path("sensors_scored.parquet");
    let steps = steps();
    for (i, (title, step)) in steps.iter().enumerate() {
        ctx.say(&format!("\n[{}/{}] {title}", i + 1, steps.len()))?;
        step(&mut ctx)?;
    }
    let mut end = vec![format!(
        "\ndemo finished in {}; files in {}:",
        duration(start.elapsed().as_secs_f64()),
        ctx.out_dir.display()
    )];
    for (path, what) in &ctx.files {
        end.push(format!("  {:<40} {what}", path.display()));
    }
    ctx.say(&end.join("\n"))
}

/// Step 1: generate the table and write it as Parquet.
fn data_step(ctx: &mut DemoContext) -> Result<()> {
    let data = demo_data::generate(ROWS, FAULTS, SEED)?;
    let mut w = BatchWriter::create(&ctx.data, FileFormat::Parquet, data.batch.schema())?;
    w.write(&data.batch)?;
    w.finish()?;
    ctx.injected = data.injected;
    ctx.say(&format!(
        "{} readings of {} pump sensors ({}), one a minute across five pumps, with {} injected \
         faults ({}) that break how the sensors move together",
        ROWS,
        FEATURES.len(),
        FEATURES.join(", "),
        ctx.injected.len(),
        demo_data::FAULTS.join(", ")
    ))?;
    let data = ctx.data.clone();
    ctx.wrote(&data, "generated sensor readings (Parquet)");
    Ok(())
}

/// Step 2: train on the feature columns with the library's defaults, and save the model.
fn train_step(ctx: &mut DemoContext) -> Result<()> {
    let start = Instant::now();
    let config = TrainConfig {
        seed: SEED,
        ..TrainConfig::default()
    };
    let options = TrainingOptions {
        selection: FeatureSelection::Columns(ctx.features.clone()),
        seed: SEED,
        ..TrainingOptions::default()
    };
    let data = read_training_data(&ctx.data, &options)?;
    let mut progress = TrainProgress::new(ctx.verbosity);
    let model = Autoencoder::fit(data.x.view(), &data.feature_names, &config, &mut progress)?;
    drop(progress);
    model.save(&ctx.model)?;
    let text = super::train::summary(&model.summary(), &data, &ctx.data, &ctx.model, start);
    ctx.say(&text)?;
    let model_path = ctx.model.clone();
    ctx.wrote(&model_path, "the trained model (safetensors)");
    Ok(())
}

/// Step 3: score the table, then show the highest errors and whether the faults are among them.
fn score_step(ctx: &mut DemoContext) -> Result<()> {
    let model = Autoencoder::load(&ctx.model)?;
    let report = score_file(
        &model,
        &ctx.data,
        &ctx.scored,
        &JobOptions::default(),
        &mut |_| {},
    )?;
    let scored = read_all(&ctx.scored)?;
    let errors = scored
        .column_by_name(RECONSTRUCTION_ERROR)
        .ok_or_else(|| Error::Internal("scored table has no reconstruction_error".into()))?
        .as_primitive::<Float64Type>()
        .clone();
    let flags = scored
        .column_by_name(IS_ANOMALY)
        .ok_or_else(|| Error::Internal("scored table has no is_anomaly".into()))?
        .as_boolean()
        .clone();
    let mut order: Vec<usize> = (0..scored.num_rows())
        .filter(|&i| errors.is_valid(i))
        .collect();
    order.sort_by(|&a, &b| errors.value(b).total_cmp(&errors.value(a)));

    let n_faults = ctx.injected.len();
    let top = n_faults.max(10).min(order.len());
    let show = |name: &str, i: usize| -> String {
        scored
            .column_by_name(name)
            .and_then(|c| array_value_to_string(c.as_ref(), i).ok())
            .unwrap_or_default()
    };
    let mut lines = vec![format!(
        "scored {} rows in {}: {} flagged as anomalies (threshold {})",
        report.rows,
        duration(report.seconds),
        report.anomalies,
        model
            .threshold()
            .map(|t| format!("{t:.4}"))
            .unwrap_or_else(|| "none".into())
    )];
    lines.push(format!("\ntop {top} readings by reconstruction error:"));
    lines.push(format!(
        "  {:>4}  {:<19}  {:<7}  {:>9}  {:<7}  {}",
        "rank", "timestamp", "machine", "error", "flagged", "injected fault"
    ));
    for (rank, &i) in order.iter().take(top).enumerate() {
        let fault = show("injected_fault", i);
        lines.push(format!(
            "  {:>4}  {:<19}  {:<7}  {:>9.4}  {:<7}  {}",
            rank + 1,
            show("timestamp", i).replace('T', " "),
            show("machine", i),
            errors.value(i),
            if flags.is_valid(i) && flags.value(i) {
                "yes"
            } else {
                "no"
            },
            if fault.is_empty() {
                "-".to_string()
            } else {
                fault
            }
        ));
    }
    let in_top = order
        .iter()
        .take(n_faults)
        .filter(|i| ctx.injected.contains(i))
        .count();
    let flagged = ctx
        .injected
        .iter()
        .filter(|&&i| flags.is_valid(i) && flags.value(i))
        .count();
    lines.push(format!(
        "\n{in_top} of the {n_faults} injected faults are among the {n_faults} highest errors; \
         {flagged} of {n_faults} are flagged is_anomaly"
    ));
    ctx.say(&lines.join("\n"))?;
    let scored_path = ctx.scored.clone();
    ctx.wrote(
        &scored_path,
        "the readings plus reconstruction_error, is_anomaly (Parquet)",
    );
    Ok(())
}

/// A small file in one batch.
fn read_all(path: &Path) -> Result<RecordBatch> {
    let source = FileSource::open(path, None)?;
    let schema = source.schema();
    let batches: Vec<RecordBatch> = source.batches(None, 8192)?.collect::<Result<_>>()?;
    Ok(::arrow::compute::concat_batches(&schema, &batches)?)
}
