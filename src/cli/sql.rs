//! `aeflow sql`: run SQL with aeflow's functions over Parquet, CSV and NDJSON files.
//!
//! ```text
//! aeflow sql [--model NAME=PATH]… [--model-dir DIR] [--table NAME=PATH]… (QUERY | -f FILE.sql)
//!            [--output FILE] [--output-format parquet|csv|ndjson]
//! ```
//! Statements run in order, in one session. Each result prints as a table, except that with
//! `--output` the last statement's result goes to that file instead.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::dataframe::DataFrame;
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionContext};
use futures::StreamExt;

use crate::batch::{BatchWriter, FileFormat};
use crate::error::{Error, Result};
use crate::sql::{ModelRegistry, execute, register, split_statements};

/// Arguments of `aeflow sql`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Register a model file under a name (repeatable), e.g. `--model sensors=models/s.aemodel`.
    #[arg(long = "model", value_name = "NAME=PATH")]
    models: Vec<String>,
    /// Register every model file of DIR under its file stem; CREATE MODEL saves there and
    /// DROP MODEL deletes there.
    #[arg(long, value_name = "DIR")]
    model_dir: Option<PathBuf>,
    /// Register a table (repeatable): a Parquet, CSV or NDJSON file, or a directory of them.
    #[arg(long = "table", value_name = "NAME=PATH")]
    tables: Vec<String>,
    /// The SQL to run (several statements separated by `;`).
    #[arg(
        value_name = "QUERY",
        required_unless_present = "file",
        conflicts_with = "file"
    )]
    query: Option<String>,
    /// Read the SQL from a file instead.
    #[arg(short = 'f', long = "file", value_name = "FILE.sql")]
    file: Option<PathBuf>,
    /// Write the last statement's result to FILE (format from its extension) instead of printing.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Format of --output when its extension does not say.
    #[arg(long, value_name = "parquet|csv|ndjson", requires = "output")]
    output_format: Option<FileFormat>,
}

/// Run `aeflow sql`.
pub fn run(args: Args) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: Args) -> Result<()> {
    let script = Script::read(&args)?;
    let ctx = session(&args).await?;
    let last = script.statements.len() - 1;
    let mut stdout = std::io::stdout().lock();
    for (i, statement) in script.statements.iter().enumerate() {
        let df = execute(&ctx, statement)
            .await
            .map_err(|e| script.in_statement(i, e))?;
        if i == last
            && let Some(path) = &args.output
        {
            let rows = write_output(df, path, args.output_format).await?;
            let s = if rows == 1 { "" } else { "s" };
            eprintln!("wrote {rows} row{s} to {}", path.display());
            continue;
        }
        let batches = df
            .collect()
            .await
            .map_err(|e| script.in_statement(i, e.into()))?;
        if !print(&mut stdout, &batches)? {
            break; // Broken pipe: the reader has gone, which is a normal end.
        }
    }
    Ok(())
}

/// The statements to run, and the file they were read from.
struct Script {
    statements: Vec<String>,
    file: Option<PathBuf>,
}

impl Script {
    /// The statements of the query argument or of `-f FILE` (at least one).
    fn read(args: &Args) -> Result<Self> {
        let (text, file) = match (&args.query, &args.file) {
            (Some(q), _) => (q.clone(), None),
            (None, Some(f)) => (
                std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?,
                Some(f.clone()),
            ),
            (None, None) => return Err(Error::config("QUERY", "give a query or -f FILE.sql")),
        };
        let statements = split_statements(&text)?;
        if statements.is_empty() {
            return Err(Error::config("QUERY", "no SQL statement given"));
        }
        Ok(Script { statements, file })
    }

    /// `e` with the statement it came from as context (`q.sql, statement 2 (SELECT …)`), kept
    /// as its cause so that it still shows the SQL names the statement used. A lone statement
    /// given on the command line needs no naming.
    fn in_statement(&self, i: usize, e: Error) -> Error {
        let first_line = self.statements[i].lines().next().unwrap_or_default();
        let statement = format!("statement {} ({first_line})", i + 1);
        match &self.file {
            Some(f) => e.context(format!("{}, {statement}", f.display())),
            None if self.statements.len() > 1 => e.context(statement),
            None => e,
        }
    }
}

/// A session with aeflow registered, the models and the tables of `args`.
async fn session(args: &Args) -> Result<SessionContext> {
    let registry = match &args.model_dir {
        Some(dir) => ModelRegistry::with_model_dir(dir)?,
        None => ModelRegistry::new(),
    };
    for spec in &args.models {
        let (name, path) = name_and_path("--model", spec)?;
        registry.register_file(name, path)?;
    }
    let ctx = SessionContext::new();
    register(&ctx, registry);
    for spec in &args.tables {
        let (name, path) = name_and_path("--table", spec)?;
        register_table(&ctx, name, Path::new(path)).await?;
    }
    Ok(ctx)
}

/// Register `path` (a file, or a directory of files of one format) as table `name`.
pub async fn register_table(ctx: &SessionContext, name: &str, path: &Path) -> Result<()> {
    let (format, ext) = table_format(path)?;
    let location = path
        .to_str()
        .ok_or_else(|| Error::data(path.display().to_string(), "the path is not valid UTF-8"))?;
    let dotted = format!(".{ext}");
    match format {
        FileFormat::Parquet => {
            let options = ParquetReadOptions::default().file_extension(&dotted);
            ctx.register_parquet(name, location, options).await?;
        }
        FileFormat::Csv => {
            let options = CsvReadOptions::new().file_extension(&dotted);
            ctx.register_csv(name, location, options).await?;
        }
        FileFormat::Ndjson => {
            let options = JsonReadOptions::default().file_extension(&dotted);
            ctx.register_json(name, location, options).await?;
        }
    }
    Ok(())
}

/// The format of a table file, or of the files in a table directory, and their extension.
fn table_format(path: &Path) -> Result<(FileFormat, String)> {
    let input = path.display().to_string();
    let ext_of = |p: &Path| {
        let ext = p.extension()?.to_str()?.to_string();
        FileFormat::from_path(p).ok().map(|f| (f, ext))
    };
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_dir() {
        return ext_of(path).ok_or_else(|| {
            Error::data(
                input,
                "cannot tell the file format from the extension (expected .parquet, .csv, \
                 .ndjson, .jsonl or .json)",
            )
        });
    }
    let mut found: Option<(FileFormat, String)> = None;
    for entry in std::fs::read_dir(path).map_err(|e| Error::io(path, e))? {
        let p = entry.map_err(|e| Error::io(path, e))?.path();
        if let Some(f) = ext_of(&p) {
            match &found {
                Some(prev) if prev.0 != f.0 => {
                    return Err(Error::data(
                        input,
                        format!(
                            "the directory mixes .{} and .{} files; expected one format",
                            prev.1, f.1
                        ),
                    ));
                }
                Some(_) => {}
                None => found = Some(f),
            }
        }
    }
    found.ok_or_else(|| {
        Error::data(
            input,
            "the directory holds no .parquet, .csv, .ndjson, .jsonl or .json file",
        )
    })
}

fn name_and_path<'a>(flag: &str, spec: &'a str) -> Result<(&'a str, &'a str)> {
    match spec.split_once('=') {
        Some((name, path)) if !name.trim().is_empty() && !path.is_empty() => {
            Ok((name.trim(), path))
        }
        _ => Err(Error::config(
            flag,
            format!("expected NAME=PATH, got '{spec}'"),
        )),
    }
}

/// Print batches as a table; `false` when stdout is closed (broken pipe).
fn print(out: &mut impl Write, batches: &[RecordBatch]) -> Result<bool> {
    let Some(first) = batches.first() else {
        return Ok(true);
    };
    if first.num_columns() == 0 {
        return Ok(true); // a statement without a result (CREATE TABLE, DROP MODEL, …)
    }
    let table = pretty_format_batches(batches)?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let written = writeln!(out, "{table}")
        .and_then(|()| writeln!(out, "{rows} row{}", if rows == 1 { "" } else { "s" }))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Error::io("<stdout>", e)),
    }
}

/// Write a result to one file, batch by batch and atomically (see [`BatchWriter`]); returns the
/// number of rows.
async fn write_output(df: DataFrame, path: &Path, format: Option<FileFormat>) -> Result<u64> {
    let format = FileFormat::resolve(format, path).map_err(|_| {
        Error::config(
            "--output",
            format!(
                "cannot tell the format of {} from its extension (.parquet, .csv, .ndjson, .jsonl \
                 or .json); name it with --output-format parquet|csv|ndjson",
                path.display()
            ),
        )
    })?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let mut stream = df.execute_stream().await?;
    let mut writer = BatchWriter::create(path, format, schema)?;
    while let Some(batch) = stream.next().await {
        writer.write(&batch?)?;
    }
    writer.finish()
}

/// The SQL step of `aeflow demo`: the top anomalies of the demo table, found by a SQL query that
/// is printed, run, and saved next to the demo's other files so it can be run again with
/// `aeflow sql -f`.
pub(crate) fn demo_step(ctx: &mut super::demo::DemoContext) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))?;
    let (query, table) = runtime.block_on(async {
        let registry = ModelRegistry::new();
        registry.register_file("sensors", &ctx.model)?;
        let features = registry.get("sensors")?.feature_names().to_vec();
        let session = SessionContext::new();
        register(&session, registry);
        register_table(&session, "readings", &ctx.data).await?;
        let schema = session.table("readings").await?.schema().as_arrow().clone();
        let args = feature_arguments(&schema, &features);
        let extra = ["timestamp", "machine", "injected_fault"]
            .iter()
            .filter(|c| schema.field_with_name(c).is_ok())
            .map(|c| format!("{c}, "))
            .collect::<String>()
            .trim_end()
            .to_string();
        let query = format!(
            "SELECT {extra}\n       round(ae_reconstruction_error('sensors', {args}), 4) AS error\n\
             FROM readings\n\
             WHERE ae_is_anomaly('sensors', {args})\n\
             ORDER BY error DESC\n\
             LIMIT 10"
        );
        let batches = execute(&session, &query).await?.collect().await?;
        let table = pretty_format_batches(&batches)?.to_string();
        Ok::<_, Error>((query, table))
    })?;
    let script = ctx.path("top_anomalies.sql");
    std::fs::write(&script, format!("{query};\n")).map_err(|e| Error::io(&script, e))?;
    ctx.say(&format!(
        "the same model in SQL: the top anomalies of the table, by this query\n\n{query};\n\n{table}\n\n\
         run it again with:\n  aeflow sql --model sensors={} --table readings={} -f {}",
        ctx.model.display(),
        ctx.data.display(),
        script.display()
    ))?;
    ctx.wrote(
        &script,
        "the SQL query of the top anomalies (aeflow sql -f)",
    );
    Ok(())
}

/// The SQL arguments that pass a model's features: the columns named like the features, or the
/// vector column `v` when the features are named `v[0]`, `v[1]`, ….
fn feature_arguments(schema: &datafusion::arrow::datatypes::Schema, features: &[String]) -> String {
    let all_columns = features.iter().all(|f| schema.field_with_name(f).is_ok());
    let vector = features
        .first()
        .and_then(|f| f.split_once('['))
        .map(|(base, _)| base.to_string())
        .filter(|base| schema.field_with_name(base).is_ok());
    match vector {
        Some(base) if !all_columns => quote_ident(&base),
        _ => features
            .iter()
            .map(|f| quote_ident(f))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// `name` as a SQL identifier: as is when it is a plain lower-case identifier and no keyword,
/// else in double quotes (doubled inside), since SQL folds unquoted names to lower case.
fn quote_ident(name: &str) -> String {
    let upper = name.to_ascii_uppercase();
    let keyword = datafusion::sql::sqlparser::keywords::ALL_KEYWORDS.contains(&upper.as_str());
    let plain = !keyword
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use datafusion::arrow::array::Float64Array;

    use super::*;

    fn script(statements: &[&str], file: Option<&str>) -> Script {
        Script {
            statements: statements.iter().map(|s| s.to_string()).collect(),
            file: file.map(PathBuf::from),
        }
    }

    async fn failure(ctx: &SessionContext, sql: &str) -> Error {
        match execute(ctx, sql).await {
            Err(e) => e,
            Ok(df) => Error::from(df.collect().await.expect_err(sql)),
        }
    }

    async fn session_with_table() -> SessionContext {
        let ctx = SessionContext::new();
        register(&ctx, ModelRegistry::new());
        let column = |v: f64| Arc::new(Float64Array::from(vec![v, v + 1.0, v + 2.0])) as _;
        let batch = RecordBatch::try_from_iter([("a", column(0.0)), ("b", column(5.0))]).unwrap();
        ctx.register_batch("t", batch).unwrap();
        ctx
    }

    #[tokio::test]
    async fn a_failed_statement_is_named_and_keeps_its_cause() {
        let ctx = session_with_table().await;
        let s = script(&["SELECT 1", "SELECT ae_encode('nope', a) FROM t"], None);
        let e = s.in_statement(1, failure(&ctx, &s.statements[1]).await);
        let text = e.to_string();
        assert!(
            text.starts_with("statement 2 (SELECT ae_encode('nope', a) FROM t): ")
                && text.contains("unknown model 'nope'"),
            "{text}"
        );
        // The DataFusion error is the cause, not a string inside a configuration error.
        let cause = e.source().and_then(|c| c.downcast_ref::<Error>());
        assert!(matches!(cause, Some(Error::DataFusion(_))), "{e:?}");

        // A lone statement on the command line is not renamed.
        let lone = script(&["SELECT ae_encode('nope', a) FROM t"], None);
        let e = lone.in_statement(0, failure(&ctx, &lone.statements[0]).await);
        assert!(matches!(e, Error::DataFusion(_)), "{e:?}");
    }

    #[tokio::test]
    async fn a_statement_of_a_file_is_named_with_the_file_and_keeps_sql_option_names() {
        let ctx = session_with_table().await;
        let sql = "CREATE MODEL m OPTIONS (columns = ['zz'], epochs = 1) AS SELECT a, b FROM t";
        let s = script(&[sql], Some("train.sql"));
        let e = s.in_statement(0, failure(&ctx, sql).await);
        let text = e.to_string();
        assert!(
            text.starts_with("train.sql, statement 1 (CREATE MODEL m")
                && text.contains("invalid value for columns: no column 'zz'")
                && !text.contains("--"),
            "{text}"
        );
        assert!(
            matches!(e.root(), Error::Config { option, .. } if option == "columns"),
            "{e:?}"
        );
    }
}
