//! `aeflow report`: a self-contained HTML page about a model and, optionally, an input file
//! scored with it.
//!
//! ```text
//! aeflow report --model MODEL [--input FILE [--format parquet|csv|ndjson]]
//!               [--top N] [--sample N] [--seed N] --out report.html
//! ```
//!
//! The input is streamed batch by batch (memory does not grow with the file); the page keeps a
//! uniform sample of rows for the latent view and the `--top` worst rows.

use std::path::{Path, PathBuf};

use super::demo::DemoContext;
use crate::arrow::{FeatureLayout, batch_to_matrix};
use crate::batch::{DEFAULT_BATCH_SIZE, FileFormat, FileSource, in_file};
use crate::error::Result;
use crate::model::Autoencoder;
use crate::report::{InputFindings, InputProfiler, ReportOptions, render, write_html};

/// Arguments of `aeflow report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model file.
    #[arg(long, value_name = "MODEL")]
    model: PathBuf,
    /// A Parquet, CSV or NDJSON file to score and show (top anomalies, latent view, its error
    /// distribution). Without it the page shows the model alone.
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Format of --input when its extension does not say: parquet, csv or ndjson.
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
    /// How many of the worst reconstructed rows to show with their per-feature errors.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    /// How many rows (a uniform sample of the input) to draw in the latent view.
    #[arg(long, value_name = "N", default_value_t = 2000)]
    sample: usize,
    /// Seed of the row sample.
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// Where to write the HTML page.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Run `aeflow report`.
pub fn run(args: Args) -> Result<()> {
    let format = args
        .format
        .as_deref()
        .map(str::parse::<FileFormat>)
        .transpose()?;
    let model = Autoencoder::load(&args.model)?;
    let options = ReportOptions {
        top: args.top,
        sample: args.sample,
        seed: args.seed,
        ..ReportOptions::default()
    };
    let findings = match &args.input {
        Some(path) => Some(profile_file(&model, path, format, &options)?),
        None => None,
    };
    let title = args.model.display().to_string();
    write_report(&model, &title, findings.as_ref(), &options, &args.out)?;
    println!("wrote {}", args.out.display());
    Ok(())
}

/// Score every row of `path` with `model`, batch by batch, keeping what the report shows.
pub fn profile_file(
    model: &Autoencoder,
    path: &Path,
    format: Option<FileFormat>,
    options: &ReportOptions,
) -> Result<InputFindings> {
    let source = FileSource::open(path, format)?;
    let layout = FeatureLayout::for_model(&source.schema(), model).map_err(|e| in_file(e, path))?;
    let mut profiler = InputProfiler::new(model, &path.display().to_string(), options);
    for batch in source.batches(None, DEFAULT_BATCH_SIZE)? {
        let x = batch_to_matrix(&batch?, &layout).map_err(|e| in_file(e, path))?;
        profiler.add(x.view())?;
    }
    profiler.finish()
}

/// The report step of `aeflow demo`: score the demo table again for the page and write
/// `report.html` next to the other files.
pub(crate) fn demo_step(ctx: &mut DemoContext) -> Result<()> {
    let model = Autoencoder::load(&ctx.model)?;
    let options = ReportOptions::default();
    let findings = profile_file(&model, &ctx.data, None, &options)?;
    let out = ctx.path("report.html");
    let title = ctx.model.display().to_string();
    write_report(&model, &title, Some(&findings), &options, &out)?;
    ctx.say(&format!(
        "wrote {}: loss curves, error distribution, latent space and the {} worst rows with \
         their per-feature errors; open it in a browser (it needs no network)",
        out.display(),
        findings.top.len()
    ))?;
    ctx.wrote(&out, "HTML report of the model and its anomalies");
    Ok(())
}

fn write_report(
    model: &Autoencoder,
    title: &str,
    findings: Option<&InputFindings>,
    options: &ReportOptions,
    out: &Path,
) -> Result<()> {
    let html = render(title, &model.summary(), findings, options)?;
    write_html(out, &html)
}
