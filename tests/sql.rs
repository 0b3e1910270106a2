//! The SQL surface end to end: the model registry and its model directory, functions that see
//! models registered later, SQL results equal to the model API and to the batch CLI (`aeflow
//! score` / `aeflow encode`) on the same Parquet file, and the `aeflow sql` command.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aeflow::model::{Autoencoder, Silent, TrainConfig};
use aeflow::sql::{ModelRegistry, execute, register};
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, FixedSizeListArray, Float64Array, Int64Array,
    RecordBatch,
};
use arrow::datatypes::{DataType, Field, Float32Type, Float64Type, Int64Type, Schema};
use datafusion::prelude::SessionContext;
use ndarray::Array2;

/// `rows` rows of three related features `a, b, c` (with an `id`), seeded, no NULLs.
fn features(rows: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, 3), |(i, j)| {
        let t = i as f32 * 0.07;
        match j {
            0 => t.sin(),
            1 => 2.0 * t.cos() + 5.0,
            _ => t.sin() * t.cos(),
        }
    })
}

fn names() -> Vec<String> {
    ["a", "b", "c"].iter().map(|s| s.to_string()).collect()
}

fn small_config(latent: usize, seed: u64) -> TrainConfig {
    TrainConfig {
        hidden: Some(vec![6, latent, 6]),
        epochs: 5,
        seed,
        contamination: 0.05,
        ..TrainConfig::default()
    }
}

fn trained(latent: usize, seed: u64) -> Autoencoder {
    Autoencoder::fit(
        features(200).view(),
        &names(),
        &small_config(latent, seed),
        &mut Silent,
    )
    .expect("trains")
}

/// A batch `id, a, b, c` from [`features`], with row `null_row` (if any) NULL in `b`.
fn batch(rows: usize, null_row: Option<usize>) -> RecordBatch {
    let x = features(rows);
    let col = |j: usize| -> ArrayRef {
        Arc::new(Float64Array::from_iter((0..rows).map(|i| {
            if j == 1 && Some(i) == null_row {
                None
            } else {
                Some(f64::from(x[[i, j]]))
            }
        })))
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("a", DataType::Float64, true),
        Field::new("b", DataType::Float64, true),
        Field::new("c", DataType::Float64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(0..rows as i64)),
            col(0),
            col(1),
            col(2),
        ],
    )
    .expect("valid batch")
}

fn write_parquet(path: &Path, batch: &RecordBatch) {
    let file = std::fs::File::create(path).expect("create parquet file");
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
    w.write(batch).expect("write batch");
    w.close().expect("close parquet");
}

fn read_parquet(path: &Path) -> RecordBatch {
    let file = std::fs::File::open(path).expect("open parquet output");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet reader")
        .build()
        .expect("parquet reader");
    let batches: Vec<RecordBatch> = reader.map(|b| b.expect("batch")).collect();
    let schema = batches.first().expect("at least one batch").schema();
    arrow::compute::concat_batches(&schema, &batches).expect("concat")
}

async fn query(ctx: &SessionContext, sql: &str) -> RecordBatch {
    let df = execute(ctx, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    arrow::compute::concat_batches(&schema, &batches).expect("concat")
}

/// Run the `aeflow` binary, killed after 120 s.
fn aeflow(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aeflow"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start aeflow");
    let start = Instant::now();
    while child.try_wait().expect("wait for aeflow").is_none() {
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("aeflow {args:?} did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("aeflow output")
}

fn ok(args: &[&str]) -> String {
    let out = aeflow(args);
    assert!(
        out.status.success(),
        "aeflow {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a ArrayRef {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", batch.schema()))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[test]
fn sql_results_equal_the_model_api_row_for_row() {
    rt().block_on(async {
        let model = trained(2, 1);
        let x = features(50);
        let latent = model.encode(x.view()).expect("encode");
        let errors = model.reconstruction_error(x.view()).expect("errors");
        let threshold = model.threshold().expect("calibrated threshold");

        let registry = ModelRegistry::new();
        registry.register("m", model).expect("register");
        let ctx = SessionContext::new();
        register(&ctx, registry);
        ctx.register_batch("t", batch(50, Some(7))).expect("table");

        let out = query(
            &ctx,
            "SELECT id, ae_encode('m', a, b, c) AS z, ae_reconstruction_error('m', a, b, c) AS e, \
             ae_is_anomaly('m', a, b, c) AS flag FROM t ORDER BY id",
        )
        .await;
        let z = column(&out, "z").as_fixed_size_list();
        let e = column(&out, "e").as_primitive::<Float64Type>();
        let flag = column(&out, "flag").as_boolean();
        for i in 0..50 {
            if i == 7 {
                assert!(
                    z.is_null(i) && e.is_null(i) && flag.is_null(i),
                    "NULL row {i}"
                );
                continue;
            }
            let zi = z.value(i);
            assert_eq!(
                zi.as_primitive::<Float32Type>().values().to_vec(),
                latent.row(i).to_vec(),
                "latent of row {i}"
            );
            assert_eq!(e.value(i), errors[i], "error of row {i}");
            assert_eq!(flag.value(i), errors[i] > threshold, "flag of row {i}");
        }
    });
}

#[test]
fn functions_see_models_registered_and_replaced_after_wiring() {
    rt().block_on(async {
        let registry = ModelRegistry::new();
        let ctx = SessionContext::new();
        register(&ctx, registry.clone());
        ctx.register_batch("t", batch(20, None)).expect("table");

        let sql = "SELECT arrow_typeof(ae_encode('late', a, b, c)) AS t FROM t LIMIT 1";
        let err = execute(&ctx, sql)
            .await
            .expect_err("no model yet")
            .to_string();
        assert!(
            err.contains("unknown model 'late'; registered models: none"),
            "{err}"
        );

        registry.register("late", trained(2, 2)).expect("register");
        let out = query(&ctx, sql).await;
        assert_eq!(
            column(&out, "t").as_string::<i32>().value(0),
            "FixedSizeList(2 x Float32)"
        );

        registry.register("late", trained(3, 2)).expect("replace");
        let out = query(&ctx, sql).await;
        assert_eq!(
            column(&out, "t").as_string::<i32>().value(0),
            "FixedSizeList(3 x Float32)"
        );

        // The registry found through the session is the same one.
        let found = aeflow::sql::registry(&ctx).expect("registered");
        assert_eq!(found, registry);
    });
}

/// `CREATE MODEL` streams the query's result into a bounded training sample: `max_rows` caps the
/// rows trained on, and the statement still reports every row the query returned.
#[test]
fn create_model_trains_on_a_bounded_sample_of_a_large_result() {
    rt().block_on(async {
        let ctx = SessionContext::new();
        register(&ctx, ModelRegistry::new());
        query(
            &ctx,
            "CREATE TABLE big AS SELECT value AS id, sin(value * 0.01) AS a, \
             2 * sin(value * 0.01) AS b FROM generate_series(1, 60000)",
        )
        .await;
        let out = query(
            &ctx,
            "CREATE MODEL capped OPTIONS (max_rows = 500, latent = 1, epochs = 2, seed = 3) \
             AS SELECT a, b FROM big",
        )
        .await;
        assert_eq!(
            column(&out, "rows").as_primitive::<Int64Type>().value(0),
            60_000
        );
        let scored = query(
            &ctx,
            "SELECT count(ae_reconstruction_error('capped', a, b)) AS n FROM big",
        )
        .await;
        assert_eq!(
            column(&scored, "n").as_primitive::<Int64Type>().value(0),
            60_000
        );

        let err = execute(
            &ctx,
            "CREATE MODEL zero OPTIONS (max_rows = 0) AS SELECT a, b FROM big",
        )
        .await
        .expect_err("max_rows = 0")
        .to_string();
        assert!(err.contains("max_rows"), "{err}");
    });
}

#[test]
fn registry_loads_files_directories_and_keeps_its_model_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = dir.path().join("files");
    std::fs::create_dir(&files).expect("mkdir");
    trained(2, 3)
        .save(&files.join("alpha.aemodel"))
        .expect("save");
    trained(1, 4)
        .save(&files.join("beta.aemodel"))
        .expect("save");
    std::fs::write(files.join("notes.txt"), "not a model").expect("write");

    // From a file, and from a directory (file stem = name; other files ignored).
    let registry = ModelRegistry::new();
    registry
        .register_file("a", files.join("alpha.aemodel"))
        .expect("register file");
    assert_eq!(
        registry.register_dir(&files).expect("register dir"),
        vec!["alpha", "beta"]
    );
    assert_eq!(registry.names(), vec!["a", "alpha", "beta"]);
    assert_eq!(registry.get("beta").expect("beta").latent_dim(), 1);

    // A corrupt model file is refused, naming it, and registers nothing.
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).expect("mkdir");
    std::fs::copy(files.join("alpha.aemodel"), bad.join("good.aemodel")).expect("copy");
    std::fs::write(bad.join("broken.aemodel"), b"definitely not safetensors").expect("write");
    let fresh = ModelRegistry::new();
    let err = fresh
        .register_dir(&bad)
        .expect_err("corrupt file")
        .to_string();
    assert!(err.contains("broken.aemodel"), "{err}");
    assert!(fresh.names().is_empty());

    // A model directory: CREATE MODEL saves there, a new session sees it, DROP MODEL deletes it.
    let models = dir.path().join("models");
    rt().block_on(async {
        let registry = ModelRegistry::with_model_dir(&models).expect("model dir");
        let ctx = SessionContext::new();
        register(&ctx, registry);
        ctx.register_batch("t", batch(100, None)).expect("table");
        let out = query(
            &ctx,
            "CREATE MODEL saved OPTIONS (hidden_units = [5, 2, 5], epochs = 3, seed = 9) AS SELECT a, b, c FROM t",
        )
        .await;
        let saved_to = column(&out, "saved_to").as_string::<i32>().value(0).to_string();
        assert_eq!(PathBuf::from(&saved_to), models.join("saved.aemodel"));
        assert!(models.join("saved.aemodel").is_file());
    });
    // A model of the directory saved under another extension is replaced by one file, not two.
    trained(1, 6).save(&models.join("old.aefm")).expect("save");
    rt().block_on(async {
        let registry = ModelRegistry::with_model_dir(&models).expect("model dir");
        assert_eq!(registry.names(), vec!["old", "saved"]);
        let ctx = SessionContext::new();
        register(&ctx, registry);
        ctx.register_batch("t", batch(100, None)).expect("table");
        execute(
            &ctx,
            "CREATE OR REPLACE MODEL old OPTIONS (latent = 2, epochs = 2) AS SELECT a, b, c FROM t",
        )
        .await
        .expect("replace");
    });
    assert!(models.join("old.aemodel").is_file());
    assert!(!models.join("old.aefm").exists());
    let again = ModelRegistry::with_model_dir(&models).expect("reopen");
    assert_eq!(again.names(), vec!["old", "saved"]);
    assert_eq!(again.get("old").expect("old").latent_dim(), 2);
    again.deregister("old").expect("drop old");
    assert_eq!(again.get("saved").expect("saved").n_features(), 3);
    rt().block_on(async {
        let ctx = SessionContext::new();
        register(&ctx, again.clone());
        execute(&ctx, "DROP MODEL saved").await.expect("drop");
    });
    assert!(!models.join("saved.aemodel").exists());
    assert!(again.names().is_empty());
}

#[test]
fn every_function_documents_itself() {
    let registry = ModelRegistry::new();
    for udf in aeflow::sql::scalar_functions(&registry) {
        let doc = udf
            .documentation()
            .unwrap_or_else(|| panic!("{} has no documentation", udf.name()));
        assert!(
            doc.syntax_example.starts_with(udf.name()),
            "{}",
            doc.syntax_example
        );
        assert!(!doc.description.is_empty());
        let example = doc.sql_example.as_deref().unwrap_or_default();
        assert!(
            example.contains(udf.name()),
            "{} example: {example}",
            udf.name()
        );
        assert!(doc.arguments.as_ref().is_some_and(|a| a.len() >= 2));
    }
}

/// The same Parquet file through `aeflow score` / `aeflow encode` and through `aeflow sql` gives
/// the same values, NULLs included.
#[test]
fn sql_equals_the_batch_cli_on_the_same_parquet_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data.parquet");
    let model = dir.path().join("m.aemodel");
    write_parquet(&data, &batch(300, Some(11)));
    trained(2, 5).save(&model).expect("save model");

    let scored = dir.path().join("scored.parquet");
    let encoded = dir.path().join("encoded.parquet");
    let via_sql = dir.path().join("sql.parquet");
    ok(&[
        "score",
        "--model",
        path_str(&model),
        "--input",
        path_str(&data),
        "--output",
        path_str(&scored),
    ]);
    ok(&[
        "encode",
        "--model",
        path_str(&model),
        "--input",
        path_str(&data),
        "--output",
        path_str(&encoded),
    ]);
    let model_arg = format!("m={}", path_str(&model));
    let table_arg = format!("t={}", path_str(&data));
    ok(&[
        "sql",
        "--model",
        &model_arg,
        "--table",
        &table_arg,
        "--output",
        path_str(&via_sql),
        "SELECT id, ae_reconstruction_error('m', a, b, c) AS reconstruction_error, \
         ae_is_anomaly('m', a, b, c) AS is_anomaly, ae_encode('m', a, b, c) AS latent \
         FROM t ORDER BY id",
    ]);

    let scored = read_parquet(&scored);
    let encoded = read_parquet(&encoded);
    let sql = read_parquet(&via_sql);
    assert_eq!(sql.num_rows(), 300);
    // The batch jobs keep the input order; the SQL result is ordered by id, which is the same.
    let ids = column(&scored, "id").as_primitive::<Int64Type>();
    assert!(
        ids.values()
            .iter()
            .enumerate()
            .all(|(i, &id)| id == i as i64)
    );

    let e_cli = column(&scored, "reconstruction_error").as_primitive::<Float64Type>();
    let e_sql = column(&sql, "reconstruction_error").as_primitive::<Float64Type>();
    assert_eq!(e_cli, e_sql);
    let f_cli: &BooleanArray = column(&scored, "is_anomaly").as_boolean();
    let f_sql: &BooleanArray = column(&sql, "is_anomaly").as_boolean();
    assert_eq!(f_cli, f_sql);
    assert!(e_sql.is_null(11) && f_sql.is_null(11));
    let z_cli: &FixedSizeListArray = column(&encoded, "latent").as_fixed_size_list();
    let z_sql: &FixedSizeListArray = column(&sql, "latent").as_fixed_size_list();
    assert_eq!(z_cli.len(), z_sql.len());
    for i in 0..z_cli.len() {
        assert_eq!(z_cli.is_null(i), z_sql.is_null(i), "NULL mask of row {i}");
        if z_cli.is_valid(i) {
            assert_eq!(
                z_cli.value(i).as_ref(),
                z_sql.value(i).as_ref(),
                "latent of row {i}"
            );
        }
    }
    assert!(z_sql.is_null(11));
}

#[test]
fn aeflow_sql_runs_scripts_in_order_and_reports_errors_in_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("readings.parquet");
    write_parquet(&data, &batch(120, None));
    let models = dir.path().join("models");
    let script = dir.path().join("train.sql");
    std::fs::write(
        &script,
        "-- train a model; it is saved into --model-dir\n\
         CREATE MODEL r OPTIONS (hidden_units = [5, 2, 5], epochs = 3, seed = 1)\n\
           AS SELECT a, b, c FROM readings;\n\
         SHOW MODELS;\n\
         SELECT id, ae_reconstruction_error('r', a, b, c) AS err FROM readings ORDER BY err DESC LIMIT 3;\n",
    )
    .expect("write script");
    let table_arg = format!("readings={}", path_str(&data));
    let out = ok(&[
        "sql",
        "--table",
        &table_arg,
        "--model-dir",
        path_str(&models),
        "-f",
        path_str(&script),
    ]);
    assert!(out.contains("| r "), "SHOW MODELS output:\n{out}");
    assert!(out.contains("3 rows"), "query output:\n{out}");
    assert!(models.join("r.aemodel").is_file());

    // The saved model serves the next invocation; the result goes to a CSV file.
    let csv = dir.path().join("top.csv");
    ok(&[
        "sql",
        "--table",
        &table_arg,
        "--model-dir",
        path_str(&models),
        "--output",
        path_str(&csv),
        "SELECT id, ae_is_anomaly('r', a, b, c, 0) AS flagged FROM readings ORDER BY id LIMIT 5",
    ]);
    let text = std::fs::read_to_string(&csv).expect("csv output");
    assert_eq!(text.lines().next(), Some("id,flagged"));
    assert_eq!(text.lines().count(), 6);

    // A user error: non-zero exit, one line naming the statement and what went wrong.
    let bad = aeflow(&[
        "sql",
        "--table",
        &table_arg,
        "SELECT 1; SELECT ae_encode('nope', a) FROM readings",
    ]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("statement 2") && stderr.contains("unknown model 'nope'"),
        "{stderr}"
    );

    // A SQL user reads the statement's error in SQL's words: the OPTIONS key, not a CLI flag.
    let bad = aeflow(&[
        "sql",
        "--table",
        &table_arg,
        "SELECT 1; CREATE MODEL z OPTIONS (columns = ['zz'], epochs = 1) AS SELECT a, b FROM readings",
    ]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("statement 2 (CREATE MODEL z")
            && stderr.contains("invalid value for columns: no column 'zz'")
            && !stderr.contains("--columns"),
        "{stderr}"
    );

    let missing = aeflow(&["sql", "--table", "x=/no/such/file.parquet", "SELECT 1"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/no/such/file.parquet"));
}

/// `aeflow demo` ends with a SQL step: it prints the query of the top anomalies and its result,
/// and saves the query so that `aeflow sql -f` gives the same rows again.
#[test]
fn demo_finds_the_top_anomalies_in_sql() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = ok(&["demo", "--out-dir", path_str(dir.path())]);
    let step = out
        .split("find the top anomalies in SQL")
        .nth(1)
        .unwrap_or_else(|| panic!("no SQL step in the demo output:\n{out}"));
    assert!(step.contains("WHERE ae_is_anomaly('sensors', "), "{step}");
    let script = dir.path().join("top_anomalies.sql");
    assert!(script.is_file());

    // The printed result table is what `aeflow sql -f` prints for the saved query.
    let table_start = step.find("+-").expect("a result table");
    let printed: Vec<&str> = step[table_start..]
        .lines()
        .take_while(|l| l.starts_with('+') || l.starts_with('|'))
        .collect();
    assert!(printed.len() > 4, "{step}");
    let model_arg = format!("sensors={}", path_str(&dir.path().join("sensors.aemodel")));
    let table_arg = format!("readings={}", path_str(&dir.path().join("sensors.parquet")));
    let again = ok(&[
        "sql",
        "--model",
        &model_arg,
        "--table",
        &table_arg,
        "-f",
        path_str(&script),
    ]);
    let rerun: Vec<&str> = again.lines().take(printed.len()).collect();
    assert_eq!(printed, rerun);
}

/// Every example script in `sql/` runs as it is, statement after statement, in one session.
#[test]
fn example_scripts_run_as_they_are() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("sql/ directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 3, "{scripts:?}");
    rt().block_on(async {
        for script in &scripts {
            let text = std::fs::read_to_string(script).expect("read script");
            let ctx = SessionContext::new();
            register(&ctx, ModelRegistry::new());
            let statements = aeflow::sql::split_statements(&text).expect("split");
            assert!(statements.len() >= 3, "{}", script.display());
            for statement in statements {
                let result = async {
                    execute(&ctx, &statement)
                        .await?
                        .collect()
                        .await
                        .map_err(aeflow::Error::from)
                };
                let batches = tokio::time::timeout(Duration::from_secs(120), result)
                    .await
                    .unwrap_or_else(|_| panic!("{}: timed out on {statement}", script.display()))
                    .unwrap_or_else(|e| panic!("{}: {statement}\n{e}", script.display()));
                drop(batches);
            }
        }
    });
}
