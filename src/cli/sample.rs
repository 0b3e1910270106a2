//! `aeflow sample`: new rows from a variational model, in original units.
//!
//! Draws `n` latent vectors from the prior `N(0, I)` (seeded) and decodes them
//! ([`Autoencoder::sampler`]: the rows equal `Autoencoder::sample(n, seed)`, generated in chunks,
//! so memory does not grow with `-n`). The rows go to a Parquet / CSV / NDJSON file shaped like
//! the model's input (one column per feature, or the one vector column it was trained on), or as CSV to
//! standard output without `--output`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use super::console::{Verbosity, say};
use crate::arrow::feature_columns;
use crate::batch::{BatchWriter, FileFormat};
use crate::error::{Error, Result};
use crate::model::{Autoencoder, Sampler};

/// Rows generated and written per batch, so memory does not grow with `-n`.
const CHUNK: usize = 8192;

/// Arguments of `aeflow sample`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A variational model file.
    #[arg(long, short = 'm', value_name = "MODEL")]
    pub model: PathBuf,
    /// Number of rows to generate.
    #[arg(short = 'n', long = "rows", value_name = "N")]
    pub n: usize,
    /// Random seed (the same seed gives the same rows).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Where to write the rows (Parquet, CSV or NDJSON); default: CSV on standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output format, when the extension does not tell.
    #[arg(long, value_name = "parquet|csv|ndjson")]
    pub output_format: Option<FileFormat>,
    /// Print nothing but errors (and the rows, without --output).
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Run `aeflow sample`.
pub fn run(args: Args) -> Result<()> {
    let verbosity = Verbosity::detect(args.quiet);
    let model = Autoencoder::load(&args.model)?;
    if model.kind().variational().is_none() {
        return Err(Error::config(
            "--model",
            format!(
                "{} is a {} autoencoder; aeflow sample needs a variational one (aeflow train --kind variational)",
                args.model.display(),
                model.kind().name()
            ),
        ));
    }
    let names = model.feature_names();
    let mut sampler = model.sampler(args.seed)?;
    let Some(path) = &args.output else {
        return write_csv_to_stdout(&mut sampler, args.n, names);
    };
    let format = FileFormat::resolve(args.output_format, path)?;
    let mut writer =
        BatchWriter::create(path, format, crate::arrow::feature_columns_schema(names))?;
    for start in (0..args.n).step_by(CHUNK) {
        let rows = sampler.next_rows(CHUNK.min(args.n - start))?;
        writer.write(&feature_columns(rows.view(), names)?)?;
    }
    let written = writer.finish()?;
    say(
        verbosity,
        &format!(
            "sampled {written} rows from {} (seed {}) → {}",
            args.model.display(),
            args.seed,
            path.display()
        ),
    )
}

/// Writes `n` generated rows as CSV to standard output, chunk by chunk (memory does not grow with
/// `n`); a closed pipe (`aeflow sample … | head`) ends the output quietly.
fn write_csv_to_stdout(
    sampler: &mut Sampler<&Autoencoder>,
    n: usize,
    names: &[String],
) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let mut text = csv_header(names);
    let mut start = 0;
    loop {
        let written = out.write_all(text.as_bytes());
        match written {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(Error::io("standard output", e)),
            Ok(()) => {}
        }
        if start >= n {
            break;
        }
        let rows = sampler.next_rows(CHUNK.min(n - start))?;
        start += rows.nrows();
        text.clear();
        for row in rows.rows() {
            let line: Vec<String> = row.iter().map(|v| v.to_string()).collect();
            let _ = writeln!(text, "{}", line.join(","));
        }
    }
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::io("standard output", e))
        }
        _ => Ok(()),
    }
}

/// CSV header: the feature names, a vector `v[i]` written `v_i` as the file writers do.
fn csv_header(names: &[String]) -> String {
    let cols: Vec<String> = names
        .iter()
        .map(
            |n| match n.strip_suffix(']').and_then(|s| s.rsplit_once('[')) {
                Some((base, i)) if i.parse::<usize>().is_ok() => format!("{base}_{i}"),
                _ => n.clone(),
            },
        )
        .collect();
    format!("{}\n", cols.join(","))
}
