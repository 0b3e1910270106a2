//! The Kafka stage on a stream that changes, on librdkafka's mock cluster (in-process brokers on
//! localhost; needs nothing installed): the adaptive threshold against the fixed one, the drift
//! alarm, and the threshold surviving a SIGKILL of the `aeflow stream` binary (a child process
//! talking to the test's mock cluster over TCP).
//!
//! The synthetic stream: rows of the training distribution (`stream_support::rows`), then the same
//! rows with every feature shifted by +2 (about two and a half standard deviations) from row
//! `SHIFT_AT` on.

mod stream_support;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aeflow::stream::{Metrics, MetricsSnapshot, StreamStage, StreamStageBuilder};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use stream_support::*;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(120);
/// Rows before the shift.
const SHIFT_AT: usize = 3000;
/// Rows in all.
const ROWS: usize = 6000;
/// The threshold window.
const WINDOW: usize = 1000;
const BATCH: usize = 100;

type Cluster = MockCluster<'static, DefaultProducerContext>;

fn cluster(topics: &[&str]) -> (Cluster, String) {
    let _ = env_logger::builder().is_test(true).try_init();
    let c = MockCluster::new(1).expect("mock cluster");
    for t in topics {
        c.create_topic(t, 1, 1).expect("create topic");
    }
    let brokers = c.bootstrap_servers();
    (c, brokers)
}

/// The stream: `n` rows, shifted by +2 from row `shift_at` on, as JSON with `id` and `seq`.
fn shifted_inputs(n: usize, shift_at: usize, seed: u64) -> Vec<Input> {
    let mut x = rows(n, 4, seed);
    for i in shift_at..n {
        x.row_mut(i).mapv_inplace(|v| v + 2.0);
    }
    (0..n)
        .map(|i| Input::new(json_row(&x, i, &format!("id-{i}"))).key(format!("k{}", i % 7)))
        .collect()
}

fn stage(brokers: &str, group: &str, output: &str, model: &std::path::Path) -> StreamStageBuilder {
    StreamStage::builder()
        .brokers(brokers)
        .group_id(group)
        .input_topic("in")
        .output_topic(output)
        .model_path(model)
        .batch_size(BATCH)
        .linger(Duration::from_millis(10))
        .summary_interval(Duration::from_secs(3600))
        .kafka_option("session.timeout.ms", "6000")
}

/// A stage running in the background.
struct Running {
    metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<aeflow::Result<MetricsSnapshot>>,
}

impl Running {
    fn start(builder: StreamStageBuilder) -> Self {
        let stage = builder.build().expect("build stage");
        let metrics = stage.metrics();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(stage.run_until(async {
            let _ = rx.await;
        }));
        Self {
            metrics,
            stop: Some(tx),
            handle,
        }
    }

    async fn run_to_end(mut self, n: u64) -> MetricsSnapshot {
        let m = self.metrics.clone();
        wait_for(&format!("{n} messages out"), WAIT, move || {
            m.snapshot().messages_out >= n
        })
        .await;
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(WAIT, self.handle)
            .await
            .expect("stage stops in time")
            .expect("stage task")
            .expect("stage run")
    }
}

/// One output: `(is_anomaly, threshold if any, model version)`.
type Output = (bool, Option<f64>, String);

/// Outputs in input order (by `seq`).
fn by_seq(records: &[Record]) -> Vec<Output> {
    let mut rows: Vec<(u64, Output)> = records
        .iter()
        .map(|r| {
            let v = r.json();
            (
                v["seq"].as_u64().expect("seq"),
                (
                    v["is_anomaly"].as_bool().expect("is_anomaly"),
                    v["threshold"].as_f64(),
                    v["model"]["version"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                ),
            )
        })
        .collect();
    rows.sort_by_key(|(s, _)| *s);
    rows.dedup_by_key(|(s, _)| *s);
    rows.into_iter().map(|(_, r)| r).collect()
}

fn flagged(rows: &[Output]) -> f64 {
    rows.iter().filter(|r| r.0).count() as f64 / rows.len() as f64
}

/// The fixed threshold flags most of the stream after the shift; the adaptive one returns to about
/// the contamination within one window; the drift alarm fires once, within one window after the
/// shift and not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_shift_the_adaptive_threshold_recovers_and_the_drift_alarm_fires_once() {
    let dir = tempfile::tempdir().unwrap();
    let (path, model) = train_model(dir.path(), "sensors", 4, 7);
    let contamination = model.train_config().contamination;
    let (_c, brokers) = cluster(&["in", "out-fixed", "out-adaptive", "drift", "state"]);
    produce(&brokers, "in", &shifted_inputs(ROWS, SHIFT_AT, 21));

    let fixed =
        Running::start(stage(&brokers, "g-fixed", "out-fixed", &path).threshold_window(WINDOW))
            .run_to_end(ROWS as u64)
            .await;
    let adaptive = Running::start(
        stage(&brokers, "g-adaptive", "out-adaptive", &path)
            .adaptive_threshold(WINDOW, None)
            .state_topic("state")
            .drift_topic("drift"),
    )
    .run_to_end(ROWS as u64)
    .await;

    let fixed_rows = by_seq(&read_topic(&brokers, "out-fixed", ROWS, WAIT));
    let adaptive_out = read_topic(&brokers, "out-adaptive", ROWS, WAIT);
    let adaptive_rows = by_seq(&adaptive_out);
    assert_eq!((fixed_rows.len(), adaptive_rows.len()), (ROWS, ROWS));

    let after_fixed = flagged(&fixed_rows[SHIFT_AT..]);
    assert!(
        after_fixed > 0.5,
        "fixed threshold after the shift flags {after_fixed}"
    );
    assert!(
        fixed_rows.iter().all(|r| r.1.is_none()),
        "a fixed threshold adds no field"
    );

    // One window (plus the batch being judged) after the shift, the window holds shifted rows only.
    let settled = &adaptive_rows[SHIFT_AT + WINDOW + BATCH..];
    let after_adaptive = flagged(settled);
    assert!(
        after_adaptive <= 2.0 * contamination,
        "adaptive threshold one window after the shift flags {after_adaptive} (contamination {contamination})"
    );
    let before = flagged(&adaptive_rows[WINDOW + BATCH..SHIFT_AT]);
    assert!(before <= 2.0 * contamination, "before the shift: {before}");
    // Every output carries the threshold it was judged against; the model's until the window fills.
    let model_threshold = model.threshold().unwrap();
    assert!(
        adaptive_rows[..WINDOW]
            .iter()
            .all(|r| r.1 == Some(model_threshold))
    );
    let t_before = adaptive_rows[SHIFT_AT - 1].1.unwrap();
    let t_after = adaptive_rows[ROWS - 1].1.unwrap();
    assert!(t_after > 5.0 * t_before, "threshold {t_before} → {t_after}");
    assert!(
        adaptive_rows
            .iter()
            .all(|r| r.2 == adaptive_rows[0].2 && !r.2.is_empty())
    );

    // The drift alarm: one event, crossing upwards within one window after the shift.
    let events: Vec<serde_json::Value> = read_topic(&brokers, "drift", 1, Duration::from_secs(10))
        .iter()
        .map(Record::json)
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    let at = e["rows_seen"].as_u64().unwrap() as usize;
    assert_eq!(e["state"], "above");
    assert!(
        at > SHIFT_AT && at <= SHIFT_AT + WINDOW,
        "the alarm fired at row {at}; the shift is at {SHIFT_AT}, the window {WINDOW}"
    );
    assert!(e["psi"].as_f64().unwrap() > 0.2);
    eprintln!(
        "shift test: flagged after the shift: fixed {after_fixed:.3}, adaptive (one window on) \
         {after_adaptive:.3}, adaptive before the shift {before:.3}; threshold {t_before:.4} → \
         {t_after:.4}; drift alarm at row {at} (PSI {:.3}), final PSI {:.3}, feature drift {:?}",
        e["psi"].as_f64().unwrap(),
        adaptive.score_drift,
        adaptive.feature_drift
    );
    for snap in [&fixed, &adaptive] {
        assert_eq!(snap.drift_alerts, 1, "{snap:?}");
        assert!(snap.score_drift > 0.2, "{snap:?}");
        // Every feature moved by +2, about two and a half training standard deviations.
        let names: Vec<&str> = snap.feature_drift.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(names, ["f0", "f1", "f2", "f3"]);
        assert!(
            snap.feature_drift.iter().all(|(_, d)| *d > 1.5 && *d < 4.0),
            "{snap:?}"
        );
    }
    // The gauge shows the threshold of the last batch judged (the last output written).
    let last_written = adaptive_out.iter().max_by_key(|r| r.offset).unwrap();
    let t_last = last_written.json()["threshold"].as_f64().unwrap();
    assert_eq!(adaptive.threshold, t_last);
    // One checkpoint per delivered batch on the state topic.
    let state = read_topic(&brokers, "state", 1, Duration::from_secs(10));
    assert!(state.len() >= ROWS / BATCH, "{} checkpoints", state.len());
}

fn start_binary(brokers: &str, model: &std::path::Path, log: &std::path::Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_aeflow"))
        .args(["stream", "--brokers", brokers, "--group-id", "g-kill"])
        .args(["--input-topic", "in", "--output-topic", "out"])
        .arg("--model")
        .arg(model)
        .args(["--batch-size", "100", "--linger-ms", "10"])
        .args(["--threshold", "adaptive", "--threshold-window", "1000"])
        .args(["--state-topic", "state"])
        .args(["--kafka-option", "session.timeout.ms=6000"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start aeflow stream")
}

/// SIGKILL mid-stream, then a restart: the first threshold of the restarted stage is within 5 % of
/// the last one before the kill (it resumes from the checkpoint on the state topic), although the
/// stream's threshold lies far from the model's.
#[test]
fn a_stage_killed_mid_stream_resumes_with_the_same_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let (path, model) = train_model(dir.path(), "sensors", 4, 7);
    let (_c, brokers) = cluster(&["in", "out", "state"]);
    let n = 8000;
    // Shifted from the first row: the adaptive threshold moves far from the model's. The second
    // half is produced only after the kill, so the restarted stage has rows to judge however fast
    // the first one was.
    let inputs = shifted_inputs(n, 0, 5);
    produce(&brokers, "in", &inputs[..n / 2]);

    let log1 = dir.path().join("first.log");
    let mut first = start_binary(&brokers, &path, &log1);
    let deadline = Instant::now() + WAIT;
    while committed(&brokers, "g-kill", "in")[0] < 3000 {
        assert!(
            Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(&log1).unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    first.kill().expect("SIGKILL");
    first.wait().unwrap();
    produce(&brokers, "in", &inputs[n / 2..]);
    let before = read_topic(&brokers, "out", 3000, WAIT);
    let last = before.iter().max_by_key(|r| r.offset).unwrap();
    let t_kill = last.json()["threshold"].as_f64().unwrap();
    let model_threshold = model.threshold().unwrap();
    assert!(
        t_kill > 2.0 * model_threshold,
        "the stream's threshold {t_kill} should lie far from the model's {model_threshold}"
    );

    let log2 = dir.path().join("second.log");
    let mut second = start_binary(&brokers, &path, &log2);
    let all = read_topic_until(
        &brokers,
        "out",
        WAIT,
        "read_uncommitted",
        Duration::from_millis(500),
        |r| by_seq(r).len() >= n,
    );
    second.kill().unwrap();
    second.wait().unwrap();
    let log = std::fs::read_to_string(&log2).unwrap();
    assert!(log.contains("resumes from a checkpoint"), "{log}");
    let after: Vec<&Record> = all.iter().filter(|r| r.offset > last.offset).collect();
    let first_after = after
        .iter()
        .min_by_key(|r| r.offset)
        .expect("outputs after the restart");
    let t_restart = first_after.json()["threshold"].as_f64().unwrap();
    assert!(
        (t_restart - t_kill).abs() / t_kill < 0.05,
        "threshold before the kill {t_kill}, after the restart {t_restart}"
    );
    assert_eq!(by_seq(&all).len(), n);
    eprintln!(
        "restart test: threshold at the kill {t_kill:.4}, first after the restart {t_restart:.4} \
         (model's {model_threshold:.4})"
    );
}
