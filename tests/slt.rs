//! Runs every `sql/*.slt` sqllogictest file against a real DataFusion session with aeflow
//! registered (its functions, `CREATE / DROP / SHOW MODEL`, the table functions).
//!
//! Each file gets a fresh session with an empty model registry and no model directory. Values
//! print as DataFusion prints them, NULL as `NULL`, the empty string as `(empty)`.
//! Set `AEFLOW_SLT_COMPLETE=1` to rewrite the files' expected results from the actual ones
//! (then review the diff: results that depend on trained weights must not be pinned).

use std::path::{Path, PathBuf};
use std::time::Duration;

use aeflow::sql::{ModelRegistry, execute, register};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};

/// One slt "connection": a session with aeflow registered.
struct AeflowDb {
    ctx: SessionContext,
}

impl AeflowDb {
    fn new() -> Self {
        let ctx = SessionContext::new();
        register(&ctx, ModelRegistry::new());
        Self { ctx }
    }
}

#[async_trait::async_trait]
impl AsyncDB for AeflowDb {
    type Error = aeflow::Error;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, aeflow::Error> {
        let df = execute(&self.ctx, sql).await?;
        let schema = df.schema().as_arrow().clone();
        let batches = df.collect().await?;
        if schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        let types = schema
            .fields()
            .iter()
            .map(|f| column_type(f.data_type()))
            .collect();
        Ok(DBOutput::Rows {
            types,
            rows: rows(&batches)?,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "aeflow"
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await;
    }
}

fn column_type(t: &DataType) -> DefaultColumnType {
    if t.is_integer() {
        DefaultColumnType::Integer
    } else if t.is_floating() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

fn rows(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, aeflow::Error> {
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            out.push(
                formatters
                    .iter()
                    .map(|f| {
                        let s = f.value(row).to_string();
                        if s.is_empty() {
                            "(empty)".to_string()
                        } else {
                            s
                        }
                    })
                    .collect(),
            );
        }
    }
    Ok(out)
}

fn slt_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the sql/ directory exists")
        .map(|e| e.expect("readable sql/ directory").path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

async fn run_file(path: &Path) -> Result<(), String> {
    let mut runner = Runner::new(|| async { Ok(AeflowDb::new()) });
    if std::env::var_os("AEFLOW_SLT_COMPLETE").is_some() {
        runner
            .update_test_file(
                path,
                " ",
                sqllogictest::default_validator,
                sqllogictest::default_normalizer,
                sqllogictest::default_column_validator,
            )
            .await
            .map_err(|e| e.to_string())
    } else {
        runner
            .run_file_async(path)
            .await
            .map_err(|e| e.display(true).to_string())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictest_files() {
    let files = slt_files();
    assert!(!files.is_empty(), "no .slt files in sql/");
    let mut failures = Vec::new();
    for path in &files {
        let outcome = tokio::time::timeout(Duration::from_secs(300), run_file(path)).await;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match outcome {
            Ok(Ok(())) => eprintln!("ok   {name}"),
            Ok(Err(e)) => failures.push(format!("{name}:\n{e}")),
            Err(_) => failures.push(format!("{name}: did not finish within 300 s")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
