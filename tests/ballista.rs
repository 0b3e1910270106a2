//! aeflow's SQL functions on an Apache Ballista cluster (feature `ballista`), all on loopback:
//! - in one process: a scheduler and two executors, each with its own model registry loaded
//!   from one model directory; `ae_reconstruction_error` over a Parquet table of several files
//!   runs on both executors (never on the client) and equals a local session's result;
//! - as processes: `aeflow cluster scheduler` and two `aeflow cluster executor`s, queried by a
//!   client context, give the local session's result too;
//! - the wiring pieces (registries, model loading, addresses) and the commands' errors.
//!
//! Run with `cargo test --features ballista --test ballista`.

use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aeflow::distributed::{
    ExecutorProcessConfig, SchedulerConfig, TaskDistributionPolicy, executor_config,
    function_registry, load_models, remote_context, run_executor, run_scheduler, scheduler_address,
    scheduler_config, session_builder,
};
use aeflow::model::{Autoencoder, Silent, TrainConfig};
use aeflow::sql::{ModelRegistry, register};
use arrow::array::{Array, AsArray, Float64Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use datafusion::common::Result as DFResult;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use ndarray::Array2;

const MODEL: &str = "sensors";
const FILES: usize = 4;
const ROWS_PER_FILE: usize = 150;
/// Row whose `b` is NULL: its error must be NULL on the cluster too.
const NULL_ID: i64 = 213;
const QUERY: &str = "SELECT id, ae_reconstruction_error('sensors', a, b, c) AS err \
                     FROM readings ORDER BY id";

/// Three related features, seeded by construction.
fn features(rows: usize, offset: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, 3), |(i, j)| {
        let t = (i + offset) as f32 * 0.07;
        match j {
            0 => t.sin(),
            1 => 2.0 * t.cos() + 5.0,
            _ => t.sin() * t.cos(),
        }
    })
}

/// A directory holding `sensors.aemodel`, trained with a fixed seed.
fn model_dir(root: &Path) -> PathBuf {
    let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let config = TrainConfig {
        hidden: Some(vec![6, 2, 6]),
        epochs: 5,
        seed: 11,
        ..TrainConfig::default()
    };
    let model = Autoencoder::fit(features(300, 0).view(), &names, &config, &mut Silent)
        .expect("model trains");
    let dir = root.join("models");
    std::fs::create_dir_all(&dir).expect("model dir");
    model
        .save(&dir.join(format!("{MODEL}.aemodel")))
        .expect("model saves");
    dir
}

/// A Parquet table of [`FILES`] files `part-k.parquet` with columns `id, a, b, c`.
fn parquet_table(root: &Path) -> PathBuf {
    let dir = root.join("readings");
    std::fs::create_dir_all(&dir).expect("table dir");
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("a", DataType::Float64, true),
        Field::new("b", DataType::Float64, true),
        Field::new("c", DataType::Float64, true),
    ]));
    for k in 0..FILES {
        let offset = k * ROWS_PER_FILE;
        let x = features(ROWS_PER_FILE, offset);
        let ids = (offset..offset + ROWS_PER_FILE).map(|i| i as i64);
        let col = |j: usize| {
            Arc::new(Float64Array::from_iter((0..ROWS_PER_FILE).map(|i| {
                let null = j == 1 && (offset + i) as i64 == NULL_ID;
                (!null).then(|| f64::from(x[[i, j]]) * 1.5) // a bit off the training data
            })))
        };
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(ids)),
                col(0),
                col(1),
                col(2),
            ],
        )
        .expect("batch");
        let file = std::fs::File::create(dir.join(format!("part-{k}.parquet"))).expect("file");
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
    }
    dir
}

/// `(id, err)` rows of [`QUERY`] in `ctx`, with the table registered.
async fn scores(ctx: &SessionContext, table: &Path) -> Vec<(i64, Option<f64>)> {
    let path = table.to_str().expect("UTF-8 temp path");
    ctx.register_parquet("readings", path, ParquetReadOptions::default())
        .await
        .expect("register table");
    let batches = ctx
        .sql(QUERY)
        .await
        .unwrap_or_else(|e| panic!("{QUERY}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{QUERY}: {e}"));
    let mut rows = Vec::new();
    for batch in batches {
        let ids = batch.column(0).as_primitive::<Int64Type>();
        let errs = batch.column(1).as_primitive::<Float64Type>();
        for i in 0..batch.num_rows() {
            rows.push((ids.value(i), errs.is_valid(i).then(|| errs.value(i))));
        }
    }
    rows
}

/// The same query in a plain, local DataFusion session.
async fn local_scores(models: &Path, table: &Path) -> Vec<(i64, Option<f64>)> {
    let ctx = SessionContext::new();
    register(&ctx, load_models(models).expect("models"));
    scores(&ctx, table).await
}

fn assert_same_scores(cluster: &[(i64, Option<f64>)], local: &[(i64, Option<f64>)]) {
    assert_eq!(cluster.len(), FILES * ROWS_PER_FILE, "every row comes back");
    assert_eq!(cluster.len(), local.len());
    for (c, l) in cluster.iter().zip(local) {
        // Bit-equal: the same model code runs on the same rows, only elsewhere.
        assert_eq!(c, l, "row {}: cluster {:?}, local {:?}", l.0, c.1, l.1);
    }
    let null_row = cluster
        .iter()
        .find(|(id, _)| *id == NULL_ID)
        .expect("NULL row");
    assert_eq!(null_row.1, None, "a NULL feature gives a NULL error");
    assert!(
        cluster
            .iter()
            .filter_map(|r| r.1)
            .all(|e| e.is_finite() && e >= 0.0),
        "errors are finite and non-negative"
    );
}

/// A function that counts the rows it is called on and delegates everything to the real
/// aeflow function, so the test can see where `ae_reconstruction_error` ran.
#[derive(Debug)]
struct Counted {
    inner: Arc<ScalarUDF>,
    rows: Arc<AtomicUsize>,
}

impl PartialEq for Counted {
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner && Arc::ptr_eq(&self.rows, &other.rows)
    }
}

impl Eq for Counted {}

impl Hash for Counted {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.inner.hash(state);
        std::ptr::hash(Arc::as_ptr(&self.rows), state);
    }
}

impl ScalarUDFImpl for Counted {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> DFResult<DataType> {
        self.inner.inner().return_type(arg_types)
    }

    fn return_field_from_args(
        &self,
        args: ReturnFieldArgs,
    ) -> DFResult<arrow::datatypes::FieldRef> {
        self.inner.inner().return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DFResult<Vec<DataType>> {
        self.inner.inner().coerce_types(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        self.rows.fetch_add(args.number_rows, Ordering::SeqCst);
        self.inner.inner().invoke_with_args(args)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.inner().documentation()
    }
}

fn counted(inner: Arc<ScalarUDF>) -> (Arc<ScalarUDF>, Arc<AtomicUsize>) {
    let rows = Arc::new(AtomicUsize::new(0));
    let udf = ScalarUDF::new_from_impl(Counted {
        inner,
        rows: rows.clone(),
    });
    (Arc::new(udf), rows)
}

/// A port that was free a moment ago (Ballista's executor takes ports, not listeners).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Wait until something accepts connections on `port` (an executor opens its Flight port after
/// it has registered with the scheduler).
fn wait_for_port(port: u16, what: &str) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} did not open port {port} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Four partitions, so the scan stage has tasks for both executors.
async fn four_partitions(ctx: &SessionContext) {
    ctx.sql("SET datafusion.execution.target_partitions = 4")
        .await
        .expect("SET target_partitions")
        .collect()
        .await
        .expect("SET target_partitions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_process_cluster_scores_on_both_executors_like_a_local_session() {
    tokio::time::timeout(Duration::from_secs(240), in_process_cluster())
        .await
        .expect("the in-process cluster test finishes within 240 s");
}

async fn in_process_cluster() {
    let root = tempfile::tempdir().expect("tempdir");
    let models = model_dir(root.path());
    let table = parquet_table(root.path());
    let local = local_scores(&models, &table).await;

    // Scheduler: its own registry from the model directory.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("scheduler port");
    let scheduler_port = listener.local_addr().expect("address").port();
    let base = SchedulerConfig {
        task_distribution: TaskDistributionPolicy::RoundRobin,
        ..SchedulerConfig::default()
    };
    let config = scheduler_config(&load_models(&models).expect("models"), base);
    tokio::spawn(run_scheduler(listener, config));

    // Two executors, one task slot each, each with its own registry from the same directory.
    // Their `ae_reconstruction_error` is wrapped to count the rows it scores.
    let mut executor_rows = Vec::new();
    let mut flight_ports = Vec::new();
    for i in 0..2 {
        let port = free_port();
        let base = ExecutorProcessConfig {
            executor_id: format!("executor-{i}"),
            bind_host: "127.0.0.1".into(),
            external_host: Some("127.0.0.1".into()),
            port,
            grpc_port: free_port(),
            scheduler_host: "127.0.0.1".into(),
            scheduler_port,
            scheduler_connect_timeout_seconds: 30,
            vcores: 1,
            ..ExecutorProcessConfig::default()
        };
        let mut config =
            executor_config(&load_models(&models).expect("models"), base).expect("executor config");
        let mut registry = Arc::try_unwrap(config.override_function_registry.take().expect("set"))
            .expect("sole owner of the new registry");
        let real = registry.scalar_functions["ae_reconstruction_error"].clone();
        let (udf, rows) = counted(real);
        registry
            .scalar_functions
            .insert("ae_reconstruction_error".into(), udf);
        config.override_function_registry = Some(Arc::new(registry));
        executor_rows.push(rows);
        flight_ports.push(port);
        tokio::spawn(run_executor(config));
    }
    for (i, port) in flight_ports.iter().enumerate() {
        let port = *port;
        tokio::task::spawn_blocking(move || wait_for_port(port, &format!("executor-{i}")))
            .await
            .expect("wait for executor");
    }

    // Client: its own registry too; its function is counted to show it computes nothing.
    let url = format!("df://127.0.0.1:{scheduler_port}");
    let ctx = remote_context(&url, load_models(&models).expect("models"))
        .await
        .expect("client context");
    let real = ctx
        .state()
        .scalar_functions()
        .get("ae_reconstruction_error")
        .expect("client has aeflow's function")
        .clone();
    let (udf, client_rows) = counted(real);
    ctx.register_udf(udf.as_ref().clone());
    four_partitions(&ctx).await;

    let cluster = scores(&ctx, &table).await;
    assert_same_scores(&cluster, &local);

    let on_executors: Vec<usize> = executor_rows
        .iter()
        .map(|r| r.load(Ordering::SeqCst))
        .collect();
    eprintln!("rows scored per executor: {on_executors:?}");
    assert_eq!(
        client_rows.load(Ordering::SeqCst),
        0,
        "the client scored no row"
    );
    assert!(
        on_executors.iter().all(|&n| n > 0),
        "both executors scored rows: {on_executors:?}"
    );
    assert_eq!(
        on_executors.iter().sum::<usize>(),
        FILES * ROWS_PER_FILE,
        "every row was scored once on an executor: {on_executors:?}"
    );
}

/// A child process killed when the test ends, however it ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn aeflow_cluster(args: &[&str]) -> Process {
    let child = Command::new(env!("CARGO_BIN_EXE_aeflow"))
        .arg("cluster")
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start aeflow cluster");
    Process(child)
}

#[test]
fn cluster_commands_as_processes_score_like_a_local_session() {
    let root = tempfile::tempdir().expect("tempdir");
    let models = model_dir(root.path());
    let table = parquet_table(root.path());
    let model_arg = models.to_str().expect("UTF-8 temp path");

    // The scheduler picks a free port and prints it on its first line.
    let mut scheduler = aeflow_cluster(&[
        "scheduler",
        "--model-dir",
        model_arg,
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
    ]);
    let stdout = scheduler.0.stdout.take().expect("piped stdout");
    let (line_tx, line_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = line_tx.send(line);
    });
    let line = line_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the scheduler reports its address within 60 s");
    assert!(
        line.contains(MODEL),
        "the scheduler loaded the model: {line}"
    );
    let addr: SocketAddr = line
        .split_whitespace()
        .nth(3)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in the scheduler's first line: {line}"));

    let scheduler_arg = addr.to_string();
    let mut executors = Vec::new();
    for _ in 0..2 {
        let port = free_port();
        let (port_arg, grpc_arg) = (port.to_string(), free_port().to_string());
        executors.push(aeflow_cluster(&[
            "executor",
            "--model-dir",
            model_arg,
            "--scheduler",
            &scheduler_arg,
            "--bind",
            "127.0.0.1",
            "--external-host",
            "127.0.0.1",
            "--port",
            &port_arg,
            "--grpc-port",
            &grpc_arg,
            "--concurrency",
            "1",
        ]));
        wait_for_port(port, "an aeflow cluster executor");
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (cluster, local) = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(180), async {
            let url = format!("df://{addr}");
            let ctx = remote_context(&url, load_models(&models).expect("models"))
                .await
                .expect("client context");
            four_partitions(&ctx).await;
            let cluster = scores(&ctx, &table).await;
            (cluster, local_scores(&models, &table).await)
        })
        .await
        .expect("the cluster answers within 180 s")
    });
    assert_same_scores(&cluster, &local);
    drop(executors);
    drop(scheduler);
}

#[tokio::test]
async fn client_context_knows_aeflow_functions_before_any_query() {
    // No cluster is contacted to plan: an unknown model fails at planning, naming the models.
    let models = ModelRegistry::new();
    let ctx = remote_context("df://127.0.0.1:1", models)
        .await
        .expect("client context");
    let err = ctx
        .sql("SELECT ae_reconstruction_error('nope', 1.0, 2.0)")
        .await
        .expect_err("unknown model");
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn executor_registry_keeps_the_defaults_and_adds_aeflow() {
    let registry = function_registry(&ModelRegistry::new()).expect("registry");
    for name in [
        "abs",
        "array_length",
        "ae_encode",
        "ae_decode",
        "ae_reconstruct",
        "ae_reconstruction_error",
        "ae_feature_errors",
        "ae_is_anomaly",
    ] {
        assert!(
            registry.scalar_functions.contains_key(name),
            "missing {name}"
        );
    }
}

#[test]
fn scheduler_sessions_know_aeflow() {
    let builder = session_builder(ModelRegistry::new());
    let state = builder(SessionConfig::default()).expect("state");
    assert!(
        state
            .scalar_functions()
            .contains_key("ae_reconstruction_error")
    );
    assert!(state.scalar_functions().contains_key("abs"));
}

#[test]
fn load_models_reads_a_directory_and_never_creates_one() {
    let root = tempfile::tempdir().expect("tempdir");
    let models = load_models(model_dir(root.path())).expect("models");
    assert_eq!(models.names(), vec![MODEL.to_string()]);
    let missing = root.path().join("nope");
    let err = load_models(&missing).expect_err("missing dir");
    assert!(err.to_string().contains("nope"), "{err}");
    assert!(
        !missing.exists(),
        "a cluster node must not create its model directory"
    );
}

#[test]
fn scheduler_addresses() {
    let ok = |s: &str| scheduler_address(s).expect(s);
    assert_eq!(ok("sched:7000"), ("sched".to_string(), 7000));
    assert_eq!(ok("sched"), ("sched".to_string(), 50050));
    assert_eq!(ok("df://sched:7000"), ("sched".to_string(), 7000));
    assert_eq!(ok("127.0.0.1:9"), ("127.0.0.1".to_string(), 9));
    assert_eq!(ok("[::1]:9"), ("[::1]".to_string(), 9));
    for bad in ["sched:port", "sched:70000", ":50", "a b:1"] {
        let err = scheduler_address(bad).expect_err(bad);
        assert!(err.to_string().contains(bad), "{err}");
    }
}

#[tokio::test]
async fn an_unreachable_scheduler_is_an_error_after_the_timeout() {
    let port = free_port(); // nothing listens there
    let config = ExecutorProcessConfig {
        scheduler_host: "127.0.0.1".into(),
        scheduler_port: port,
        scheduler_connect_timeout_seconds: 1,
        ..ExecutorProcessConfig::default()
    };
    let started = Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(30), run_executor(config))
        .await
        .expect("gives up within 30 s")
        .expect_err("no scheduler");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

#[tokio::test]
async fn executor_port_zero_is_rejected() {
    let config = ExecutorProcessConfig {
        port: 0,
        ..ExecutorProcessConfig::default()
    };
    let err = run_executor(config).await.expect_err("port 0");
    assert!(err.to_string().contains("non-zero"), "{err}");
}

#[test]
fn cluster_commands_reject_bad_arguments_in_one_line() {
    let root = tempfile::tempdir().expect("tempdir");
    let models = model_dir(root.path());
    let model_arg = models.to_str().expect("UTF-8 temp path");
    let missing = root.path().join("missing");
    let missing_arg = missing.to_str().expect("UTF-8 temp path");
    let cases: [(&[&str], &str); 4] = [
        (&["scheduler", "--model-dir", missing_arg], "missing"),
        (
            &["executor", "--model-dir", model_arg, "--scheduler", "x:y"],
            "'x:y' is not HOST[:PORT]",
        ),
        (
            &[
                "executor",
                "--model-dir",
                model_arg,
                "--scheduler",
                "127.0.0.1:1",
                "--concurrency",
                "0",
            ],
            "--concurrency",
        ),
        // main.rs keeps clap's first line only, which does not name the missing option.
        (
            &["executor", "--model-dir", model_arg],
            "required arguments",
        ),
    ];
    for (args, expected) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_aeflow"))
            .arg("cluster")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run aeflow cluster");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("error: ") && last.contains(expected),
            "{args:?}: expected one error line naming {expected:?}, got {stderr}"
        );
    }
}
