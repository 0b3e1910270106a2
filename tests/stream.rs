//! The Kafka stage on librdkafka's mock cluster (in-process brokers on localhost; needs nothing
//! installed): delivery guarantees, dead letters, order, faults, transactions, scale-out, hot reload,
//! formats and metrics. The separate-process end-to-end test of the `aeflow stream` binary on a
//! Tansu broker is tests/stream_tansu.rs.
//!
//! What the mock cluster cannot show (see `aeflow::stream`): it stores no transactional offset
//! commits (TxnOffsetCommit is accepted and dropped) and does not hide aborted records from
//! `read_committed` readers. The exactly-once tests therefore show what it can: every output is
//! written inside a transaction, a transaction that cannot carry its offsets is aborted and its
//! batch re-read, a batch whose outputs cannot join a transaction writes nothing, and the stage never
//! commits offsets outside a transaction. Its InitProducerId also hands a new producer id to every
//! instance, so fencing a previous instance by transactional id is another thing only a real Kafka
//! shows.

mod stream_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aeflow::stream::{
    Format, Metrics, MetricsSnapshot, Mode, StreamStage, StreamStageBuilder, dlq_headers as headers,
};
use rdkafka::mocking::{MockCluster, MockCoordinator};
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use stream_support::*;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(90);

type Cluster = MockCluster<'static, DefaultProducerContext>;

fn cluster(topics: &[(&str, i32)]) -> (Cluster, String) {
    let _ = env_logger::builder().is_test(true).try_init();
    let c = MockCluster::new(1).expect("mock cluster");
    for (t, p) in topics {
        c.create_topic(t, *p, 1).expect("create topic");
    }
    let brokers = c.bootstrap_servers();
    (c, brokers)
}

fn stage(brokers: &str, group: &str) -> StreamStageBuilder {
    StreamStage::builder()
        .brokers(brokers)
        .group_id(group)
        .input_topic("in")
        .output_topic("out")
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

    async fn wait_processed(&self, n: u64) {
        let m = self.metrics.clone();
        wait_for(&format!("{n} messages processed"), WAIT, move || {
            let s = m.snapshot();
            s.messages_out + s.rejected >= n
        })
        .await;
    }

    async fn stop(mut self) -> MetricsSnapshot {
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

/// Polls a blocking condition (e.g. one that asks the broker) every 300 ms, at most `WAIT`.
async fn wait_for_blocking(what: &str, cond: impl Fn() -> bool + Send + Sync + 'static) {
    let cond = Arc::new(cond);
    let deadline = Instant::now() + WAIT;
    loop {
        let c = cond.clone();
        if tokio::task::spawn_blocking(move || c()).await.unwrap() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn model(dir: &Path) -> std::path::PathBuf {
    train_model(dir, "sensors", 4, 7).0
}

/// `reconstruction_error` of the model file at `path` on `x`, through the model API.
fn model_api_errors(path: &Path, x: ndarray::ArrayView2<'_, f32>) -> Vec<f64> {
    aeflow::Autoencoder::load(path)
        .unwrap()
        .score(x, &aeflow::model::ScoreOptions::default())
        .unwrap()
        .reconstruction_error
        .to_vec()
}

fn good_inputs(n: usize, keys: usize, partitions: i32) -> (Vec<Input>, ndarray::Array2<f32>) {
    let x = rows(n, 4, 11);
    let inputs = (0..n)
        .map(|i| {
            Input::new(json_row(&x, i, &format!("id-{i}")))
                .key(format!("key-{}", i % keys))
                .partition((i % partitions as usize) as i32)
                .header("trace", &format!("t-{i}"))
        })
        .collect();
    (inputs, x)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_once_scores_every_message_keeps_keys_headers_order_and_commits_last_plus_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = model(dir.path());
    let (_c, brokers) = cluster(&[("in", 3), ("out", 3)]);
    let n = 3000;
    let (inputs, x) = good_inputs(n, 10, 3);
    produce(&brokers, "in", &inputs);
    let expected = model_api_errors(&path, x.view());

    let s = Running::start(stage(&brokers, "g1").model_path(&path).batch_size(200));
    s.wait_processed(n as u64).await;
    let snap = s.stop().await;
    assert_eq!(snap.messages_out, n as u64);
    assert_eq!(snap.rejected, 0);

    let out = read_topic(&brokers, "out", n, WAIT);
    assert_eq!(out.len(), n, "no loss and, without faults, no duplicate");
    let mut ids = BTreeSet::new();
    for r in &out {
        let v = r.json();
        let id = v["id"].as_str().unwrap().to_string();
        let i: usize = id[3..].parse().unwrap();
        // Key, headers and the input object are kept; the model's fields are added.
        assert_eq!(r.key_str(), format!("key-{}", i % 10));
        assert_eq!(r.header("trace"), Some(format!("t-{i}")));
        assert!(r.header(headers::MODEL).unwrap().starts_with("sensors@"));
        assert_eq!(v["seq"], i);
        // Row for row the numbers of the model API on the same rows.
        let got = v["reconstruction_error"].as_f64().unwrap();
        assert!(
            (got - expected[i]).abs() <= 1e-9 * expected[i].abs().max(1.0),
            "row {i}: stage {got}, model API {}",
            expected[i]
        );
        assert!(v["is_anomaly"].is_boolean());
        assert_eq!(v["model"]["name"], "sensors");
        ids.insert(i);
    }
    assert_eq!(ids.len(), n);
    // Order: within each output partition, the messages of each input partition (input i was
    // produced to partition i % 3) keep their input order.
    for (_, recs) in by(&out, |r| {
        (r.partition, r.json()["seq"].as_u64().unwrap() % 3)
    }) {
        let seqs: Vec<u64> = recs
            .iter()
            .map(|r| r.json()["seq"].as_u64().unwrap())
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "order kept: {seqs:?}");
    }
    // Committed offset = last + 1 = high watermark on every input partition.
    assert_eq!(
        committed(&brokers, "g1", "in"),
        high_watermarks(&brokers, "in")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_go_to_the_dlq_unchanged_with_reason_and_source_headers() {
    let dir = tempfile::tempdir().unwrap();
    let path = model(dir.path());
    let (_c, brokers) = cluster(&[("in", 1), ("out", 1), ("dlq", 1)]);
    let x = rows(10, 4, 3);
    let bad: Vec<(&str, String)> = vec![
        ("bad_json", r#"{"f0": 1, "f1": "#.to_string()),
        ("bad_json", "not json at all".to_string()),
        ("not_an_object", "[1, 2, 3, 4]".to_string()),
        (
            "missing_feature",
            r#"{"f0": 1, "f1": 2, "f2": 3}"#.to_string(),
        ),
        (
            "missing_feature",
            r#"{"f0": 1, "f1": 2, "f2": 3, "f3": null}"#.to_string(),
        ),
        (
            "non_numeric_feature",
            r#"{"f0": 1, "f1": "two", "f2": 3, "f3": 4}"#.to_string(),
        ),
        (
            "non_numeric_feature",
            r#"{"f0": 1, "f1": {"x": 1}, "f2": 3, "f3": 4}"#.to_string(),
        ),
        (
            "non_finite_feature",
            r#"{"f0": 1e999, "f1": 2, "f2": 3, "f3": 4}"#.to_string(),
        ),
        (
            "non_finite_feature",
            r#"{"f0": "NaN", "f1": 2, "f2": 3, "f3": 4}"#.to_string(),
        ),
        ("empty_payload", String::new()),
    ];
    // Good and bad messages interleaved.
    let mut inputs = Vec::new();
    let mut expected_bad = BTreeMap::new();
    for (i, (_, payload)) in bad.iter().enumerate() {
        inputs.push(Input::new(json_row(&x, i, &format!("good-{i}"))).key(format!("g{i}")));
        expected_bad.insert(inputs.len() as i64, i);
        inputs.push(
            Input::new(payload.clone())
                .key(format!("b{i}"))
                .header("h", "v"),
        );
    }
    produce(&brokers, "in", &inputs);

    let s = Running::start(stage(&brokers, "g-dlq").model_path(&path).dlq_topic("dlq"));
    s.wait_processed(inputs.len() as u64).await;
    let snap = s.stop().await;
    assert_eq!(snap.messages_out, bad.len() as u64);
    assert_eq!(snap.dead_lettered, bad.len() as u64);

    let dead = read_topic(&brokers, "dlq", bad.len(), WAIT);
    assert_eq!(dead.len(), bad.len());
    for d in &dead {
        let offset: i64 = d.header(headers::SOURCE_OFFSET).unwrap().parse().unwrap();
        let i = expected_bad[&offset];
        let (reason, payload) = &bad[i];
        assert_eq!(d.text(), *payload, "payload unchanged");
        assert_eq!(d.key_str(), format!("b{i}"), "key unchanged");
        assert_eq!(d.header("h").as_deref(), Some("v"), "headers unchanged");
        assert_eq!(
            d.header(headers::REASON).as_deref(),
            Some(*reason),
            "{payload}"
        );
        assert!(!d.header(headers::DETAIL).unwrap().is_empty());
        assert_eq!(d.header(headers::SOURCE_TOPIC).as_deref(), Some("in"));
        assert_eq!(d.header(headers::SOURCE_PARTITION).as_deref(), Some("0"));
    }
    let out = read_topic(&brokers, "out", bad.len(), WAIT);
    let good: BTreeSet<String> = out
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        good.len(),
        bad.len(),
        "every good message between the bad ones was scored"
    );
    assert_eq!(
        committed(&brokers, "g-dlq", "in"),
        vec![inputs.len() as i64]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_vector_length_is_dead_lettered_for_a_vector_model() {
    use aeflow::arrow::{FeatureSelection, fit_batches};
    use arrow::array::{FixedSizeListArray, Float32Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};

    let dir = tempfile::tempdir().unwrap();
    let x = rows(1000, 3, 5);
    let item = Arc::new(Field::new_list_field(DataType::Float32, true));
    let values = Float32Array::from(x.iter().copied().collect::<Vec<f32>>());
    let list = FixedSizeListArray::try_new(item.clone(), 3, Arc::new(values), None).unwrap();
    let schema = Arc::new(Schema::new(vec![Field::new(
        "v",
        DataType::FixedSizeList(item, 3),
        false,
    )]));
    let batch = RecordBatch::try_new(schema, vec![Arc::new(list)]).unwrap();
    let config = aeflow::TrainConfig {
        epochs: 3,
        ..aeflow::TrainConfig::default()
    };
    let m = fit_batches(
        &[batch],
        &FeatureSelection::All,
        &config,
        &mut aeflow::model::Silent,
    )
    .unwrap();
    let path = dir.path().join("vec.safetensors");
    m.save(&path).unwrap();

    let (_c, brokers) = cluster(&[("in", 1), ("out", 1), ("dlq", 1)]);
    let inputs = vec![
        Input::new(r#"{"v": [0.1, 0.2, 0.3], "id": 1}"#),
        Input::new(r#"{"v": [0.1, 0.2], "id": 2}"#),
        Input::new(r#"{"v": [0.1, 0.2, 0.3, 0.4], "id": 3}"#),
        Input::new(r#"{"v": "0.1,0.2,0.3", "id": 4}"#),
        Input::new(r#"{"v": [0.4, 0.5, 0.6], "id": 5}"#),
    ];
    produce(&brokers, "in", &inputs);
    let s = Running::start(stage(&brokers, "g-vec").model_path(&path).dlq_topic("dlq"));
    s.wait_processed(5).await;
    s.stop().await;
    let dead = read_topic(&brokers, "dlq", 3, WAIT);
    let reasons: BTreeMap<String, String> = dead
        .iter()
        .map(|d| {
            (
                d.header(headers::SOURCE_OFFSET).unwrap(),
                d.header(headers::REASON).unwrap(),
            )
        })
        .collect();
    assert_eq!(reasons["1"], "wrong_vector_length");
    assert_eq!(reasons["2"], "wrong_vector_length");
    assert_eq!(reasons["3"], "non_numeric_feature");
    let out = read_topic(&brokers, "out", 2, WAIT);
    let ids: BTreeSet<i64> = out
        .iter()
        .map(|r| r.json()["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from([1, 5]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_dlq_bad_messages_are_counted_skipped_and_committed_past() {
    let dir = tempfile::tempdir().unwrap();
    let path = model(dir.path());
    let (_c, brokers) = cluster(&[("in", 1), ("out", 1)]);
    let x = rows(20, 4, 3);
    let mut inputs: Vec<Input> = (0..20)
        .map(|i| Input::new(json_row(&x, i, &format!("{i}"))))
        .collect();
    inputs.insert(5, Input::new("{{{"));
    inputs.insert(12, Input::new(r#"{"f0": "x"}"#));
    produce(&brokers, "in", &inputs);
    let s = Running::start(stage(&brokers, "g-nodlq").model_path(&path));
    s.wait_processed(22).await;
    let snap = s.stop().await;
    assert_eq!(snap.messages_out, 20);
    assert_eq!(snap.rejected, 2);
    assert_eq!(snap.dead_lettered, 0);
    assert_eq!(snap.rejected_by_reason["bad_json"], 1);
    assert_eq!(committed(&brokers, "g-nodlq", "in"), vec![22]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_and_request_errors_lose_nothing() {
    let _ = env_logger::builder().is_test(true).try_init();
    let dir = tempfile::tempdir().unwrap();
    let path = model(dir.path());
    // Two brokers: broker 1 leads the input and coordinates the group, broker 2 leads the output,
    // so the output can be cut off while the stage keeps reading input.
    let c = MockCluster::new(2).expect("mock cluster");
    c.create_topic("in", 2, 1).unwrap();
    c.create_topic("out", 2, 1).unwrap();
    for p in 0..2 {
        c.partition_leader("in", p, Some(1)).unwrap();
        c.partition_leader("out", p, Some(2)).unwrap();
    }
    c.coordinator(MockCoordinator::Group("g-faults".into()), 1)
        .unwrap();
    let brokers = c.bootstrap_servers();
    let n = 3000;
    let (inputs, _) = good_inputs(n, 5, 2);
    let chunk = n / 3;
    produce(&brokers, "in", &inputs[..chunk]);
    // Deliveries time out after 1.5 s, so a longer outage of the output makes batches fail.
    let s = Running::start(
        stage(&brokers, "g-faults")
            .model_path(&path)
            .batch_size(100)
            .kafka_option("producer.message.timeout.ms", "1500"),
    );
    s.wait_processed(chunk as u64).await;

    // 1. The output's broker goes down while input keeps coming: batches fail and are re-read.
    c.broker_down(2).unwrap();
    produce(&brokers, "in", &inputs[chunk..2 * chunk]);
    let m = s.metrics.clone();
    wait_for("a batch to fail and be re-read", WAIT, move || {
        m.snapshot().rewinds >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.broker_up(2).unwrap();

    // 2. The input's broker, which is also the group coordinator, goes down and comes back.
    s.wait_processed(2 * chunk as u64).await;
    c.broker_down(1).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.broker_up(1).unwrap();

    // 3. Transient produce and commit errors, retried by librdkafka or by re-reading.
    c.request_errors(
        RDKafkaApiKey::Produce,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__TRANSPORT,
        ],
    );
    c.request_errors(
        RDKafkaApiKey::OffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE],
    );
    produce(&brokers, "in", &inputs[2 * chunk..]);

    // Every input is delivered and, once the faults are over, committed (a commit lost to a fault
    // is sent again).
    let b = brokers.clone();
    wait_for_blocking("every input committed", move || {
        committed(&b, "g-faults", "in") == high_watermarks(&b, "in")
    })
    .await;
    let snap = s.stop().await;
    let out = read_topic(&brokers, "out", n, WAIT);
    let ids: BTreeSet<String> = out
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), n, "no input lost (duplicates allowed)");
    assert!(snap.rewinds >= 1, "{snap:?}");
    assert!(snap.messages_in >= n as u64, "{snap:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_stage_resumes_from_the_last_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = model(dir.path());
    let (_c, brokers) = cluster(&[("in", 2), ("out", 2)]);
    let (inputs, _) = good_inputs(1000, 5, 2);
    produce(&brokers, "in", &inputs[..500]);
    let first = Running::start(
        stage(&brokers, "g-restart")
            .model_path(&path)
            .batch_size(64),
    );
    first.wait_processed(500).await;
    first.stop().await;
    assert_eq!(committed(&brokers, "g-restart", "in"), vec![250, 250]);
    produce(&brokers, "in", &inputs[500..]);
    let second = Running::start(
        stage(&brokers, "g-restart")
            .model_path(&path)
            .batch_size(64),
    );
    second.wait_processed(500).await;
    let snap = second.stop().await;
    assert_eq!(
        snap.messages_in, 500,
        "the restart read only what was not committed"
    );
    let out = read_topic(&brokers, "out", 1000, WAIT);
    let ids: BTreeSet<String> = out
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!((out.len(), ids.len()), (1000, 1000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_in_one_group_share_the_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let path = model(dir.path());
    let (_c, brokers) = cluster(&[("in", 4), ("out", 4)]);
    let n = 4000;
    let (inputs, _) = good_inputs(n, 40, 4);
    let a = Running::start(stage(&brokers, "g-two").model_path(&path).batch_size(100));
    let b = Running::start(stage(&brokers, "g-two").model_path(&path).batch_size(100));
    // Both members hold partitions before the load comes. Whoever joins first takes all four until
    // the other's join splits them, so a probe goes to every partition each round until both have
    // scored one: from then on each member owns part of the input.
    let (ma, mb) = (a.metrics.clone(), b.metrics.clone());
    let probe_rows = rows(1, 4, 12);
    let deadline = Instant::now() + WAIT;
    let mut rounds = 0;
    while ma.snapshot().messages_out == 0 || mb.snapshot().messages_out == 0 {
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for both members to hold partitions ({rounds} probe rounds)"
        );
        let probes: Vec<Input> = (0..4)
            .map(|p| Input::new(json_row(&probe_rows, 0, &format!("probe-{rounds}"))).partition(p))
            .collect();
        produce(&brokers, "in", &probes);
        rounds += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (before_a, before_b) = (ma.snapshot().messages_out, mb.snapshot().messages_out);
    produce(&brokers, "in", &inputs);
    wait_for("all scored by the two", WAIT, || {
        ma.snapshot().messages_out + mb.snapshot().messages_out >= before_a + before_b + n as u64
    })
    .await;
    let (sa, sb) = (a.stop().await, b.stop().await);
    assert!(
        sa.messages_out > before_a && sb.messages_out > before_b,
        "both worked on the load: {} and {} of {n}",
        sa.messages_out - before_a,
        sb.messages_out - before_b
    );
    let out = read_topic(&brokers, "out", n, WAIT);
    let ids: BTreeSet<String> = out
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_string())
        .filter(|id| id.starts_with("id-"))
        .collect();
    assert_eq!(ids.len(), n);
    assert_eq!(
        committed(&brokers, "g-two", "in"),
        high_watermarks(&brokers, "in")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_writes_outputs_in_transactions_and_never_commits_outside_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = model(dir.path());
    let (_c, brokers) = cluster(&[("in", 2), ("out", 2), ("dlq", 1)]);
    let n = 1000;
    let (mut inputs, _) = good_inputs(n, 7, 2);
    inputs.push(Input::new("broken").partition(0));
    produce(&brokers, "in", &inputs);
    let s = Running::start(
        stage(&brokers, "g-eos")
            .model_path(&path)
            .dlq_topic("dlq")
            .batch_size(100)
            .exactly_once(true),
    );
    s.wait_processed(n as u64 + 1).await;
    let snap = s.stop().await;
    assert_eq!(snap.messages_out, n as u64);
    assert_eq!(snap.dead_lettered, 1);
    assert!(snap.transactions_committed >= (n as u64).div_ceil(100));
    assert_eq!(snap.transactions_aborted, 0);
    let out = read_topic_with(&brokers, "out", n, WAIT, "read_committed");
    assert_eq!(out.len(), n, "each input's result exactly once");
    // Offsets go only through the transaction (send_offsets_to_transaction): the consumer never
    // commits. (The mock cluster drops transactional offset commits, so the group stays empty.)
    assert_eq!(committed(&brokers, "g-eos", "in"), vec![-1, -1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_aborts_and_rereads_a_batch_whose_offsets_cannot_join_the_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = model(dir.path());
    let (c, brokers) = cluster(&[("in", 1), ("out", 1)]);
    let n = 600;
    let (inputs, _) = good_inputs(n, 3, 1);
    // The coordinator refuses the first transactional offset commit (a rebalance fenced the
    // generation): the transaction must be aborted and the batch read again.
    c.request_errors(
        RDKafkaApiKey::TxnOffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION],
    );
    produce(&brokers, "in", &inputs);
    let s = Running::start(
        stage(&brokers, "g-eos-abort")
            .model_path(&path)
            .batch_size(100)
            .exactly_once(true),
    );
    let m = s.metrics.clone();
    wait_for("all committed", WAIT, || {
        let s = m.snapshot();
        s.transactions_committed >= 6 && s.messages_out >= n as u64
    })
    .await;
    let snap = s.stop().await;
    assert_eq!(snap.transactions_aborted, 1, "{snap:?}");
    assert_eq!(snap.rewinds, 1);
    let out = read_topic(&brokers, "out", n, WAIT);
    let mut copies: BTreeMap<String, usize> = BTreeMap::new();
    for r in &out {
        *copies
            .entry(r.json()["id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(copies.len(), n, "every input has a committed result");
    // Records of the aborted transaction that reached the log before the abort stay visible on
    // the mock cluster (a real broker hides them from read_committed readers); they can only be
    // results of the first batch, the one that was aborted: inputs 0..100.
    let twice: BTreeSet<usize> = copies
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(id, _)| id[3..].parse().unwrap())
        .collect();
    assert!(twice.iter().all(|i| *i < 100), "{twice:?}");
    assert!(copies.values().all(|c| *c <= 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_writes_nothing_for_a_batch_whose_outputs_cannot_join_the_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = model(dir.path());
    let (c, brokers) = cluster(&[("in", 1), ("out", 1)]);
    let n = 500;
    let (inputs, _) = good_inputs(n, 3, 1);
    // Adding the output partition to the first transaction fails: its records are never written.
    c.request_errors(
        RDKafkaApiKey::AddPartitionsToTxn,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED],
    );
    produce(&brokers, "in", &inputs);
    let s = Running::start(
        stage(&brokers, "g-eos-apt")
            .model_path(&path)
            .batch_size(100)
            .exactly_once(true),
    );
    let m = s.metrics.clone();
    wait_for("all committed", WAIT, || {
        m.snapshot().messages_out >= n as u64
    })
    .await;
    let snap = s.stop().await;
    assert!(snap.transactions_aborted >= 1, "{snap:?}");
    let out = read_topic(&brokers, "out", n, WAIT);
    let ids: Vec<String> = out
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_string())
        .collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), n);
    assert_eq!(
        ids.len(),
        n,
        "the aborted batch wrote nothing: each result exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reload_swaps_between_batches_and_refuses_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let (path, first) = train_model(dir.path(), "live", 4, 1);
    let v1 = first.summary().version;
    let other_dir = tempfile::tempdir().unwrap();
    let (_, second) = train_model(other_dir.path(), "other", 4, 2);
    let v2 = second.summary().version;
    assert_ne!(v1, v2);
    let (_c, brokers) = cluster(&[("in", 1), ("out", 1)]);
    let x = rows(30, 4, 9);
    let s = Running::start(
        stage(&brokers, "g-reload")
            .model_path(&path)
            .reload_interval(Duration::from_millis(100)),
    );
    let send = |range: std::ops::Range<usize>| {
        let inputs: Vec<Input> = range
            .map(|i| Input::new(json_row(&x, i, &format!("{i}"))))
            .collect();
        produce(&brokers, "in", &inputs);
    };
    send(0..10);
    s.wait_processed(10).await;
    // A new model arrives (saved atomically): it takes over.
    second.save(&path).unwrap();
    let m = s.metrics.clone();
    wait_for("reload", WAIT, || m.snapshot().model_reloads == 1).await;
    send(10..20);
    s.wait_processed(20).await;
    // A corrupted file is refused; the model in use stays.
    std::fs::write(&path, b"this is not a model").unwrap();
    wait_for("refusal", WAIT, || m.snapshot().model_reload_failures == 1).await;
    send(20..30);
    s.wait_processed(30).await;
    let snap = s.stop().await;
    assert_eq!(snap.model, format!("live@{v2}"));
    let out = read_topic(&brokers, "out", 30, WAIT);
    for r in out {
        let v = r.json();
        let i: usize = v["id"].as_str().unwrap().parse().unwrap();
        let expected = if i < 10 { &v1 } else { &v2 };
        assert_eq!(
            v["model"]["version"].as_str().unwrap(),
            expected,
            "message {i}"
        );
        assert_eq!(
            r.header(headers::MODEL).unwrap(),
            format!("live@{expected}")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrow_ipc_in_gives_arrow_ipc_out_and_encode_mode_adds_latent() {
    use arrow::array::{Float64Array, Int32Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::ipc::writer::StreamWriter;

    let dir = tempfile::tempdir().unwrap();
    let (path, m) = train_model(dir.path(), "ipc", 4, 3);
    let (_c, brokers) = cluster(&[("in", 1), ("out", 1), ("dlq", 1)]);
    let x = rows(12, 4, 4);
    let schema = Arc::new(Schema::new(
        (0..4)
            .map(|j| Field::new(format!("f{j}"), DataType::Float64, true))
            .chain([Field::new("row", DataType::Int32, false)])
            .collect::<Vec<_>>(),
    ));
    let message = |rows: std::ops::Range<usize>| {
        let mut cols: Vec<arrow::array::ArrayRef> = (0..4)
            .map(|j| {
                Arc::new(Float64Array::from(
                    rows.clone().map(|i| x[[i, j]] as f64).collect::<Vec<_>>(),
                )) as arrow::array::ArrayRef
            })
            .collect();
        cols.push(Arc::new(Int32Array::from(
            rows.clone().map(|i| i as i32).collect::<Vec<_>>(),
        )));
        let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
        let mut buf = Vec::new();
        let mut w = StreamWriter::try_new(&mut buf, &schema).unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();
        drop(w);
        buf
    };
    let inputs = vec![
        Input::new(message(0..5)),
        Input::new(b"garbage".to_vec()),
        Input::new(message(5..12)),
    ];
    produce(&brokers, "in", &inputs);
    let s = Running::start(
        stage(&brokers, "g-ipc")
            .model_path(&path)
            .format(Format::ArrowIpc)
            .mode(Mode::Encode)
            .dlq_topic("dlq"),
    );
    s.wait_processed(3).await;
    s.stop().await;
    let out = read_topic(&brokers, "out", 2, WAIT);
    assert_eq!(out.len(), 2);
    let mut rows_seen = 0;
    for r in &out {
        let reader = arrow::ipc::reader::StreamReader::try_new(
            std::io::Cursor::new(r.payload.clone().unwrap()),
            None,
        )
        .unwrap();
        assert_eq!(
            reader.schema().metadata()["aeflow.model.version"],
            m.summary().version
        );
        for b in reader {
            let b = b.unwrap();
            let latent = b.column_by_name("latent").expect("latent column");
            assert_eq!(latent.len(), b.num_rows());
            assert!(
                b.column_by_name("row").is_some(),
                "input columns carried through"
            );
            rows_seen += b.num_rows();
        }
    }
    assert_eq!(rows_seen, 12);
    let dead = read_topic(&brokers, "dlq", 1, WAIT);
    assert_eq!(dead[0].header(headers::REASON).as_deref(), Some("bad_ipc"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_in_gives_csv_out_and_metrics_are_served_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let path = model(dir.path());
    let (_c, brokers) = cluster(&[("in", 1), ("out", 1)]);
    let inputs = vec![
        Input::new("0.1,0.2,0.3,0.4"),
        Input::new("0.1,zero,0.3,0.4"),
        Input::new("0.5,0.6,0.7,0.8\n"),
    ];
    produce(&brokers, "in", &inputs);
    // A port found free here may be taken by the time the stage binds it: the stage then stops
    // with a --metrics-addr error, and another port is tried (at most ten).
    let mut attempts = 0;
    let (s, addr) = loop {
        attempts += 1;
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let s = Running::start(
            stage(&brokers, "g-csv")
                .model_path(&path)
                .format(Format::Csv)
                .metrics_addr(addr),
        );
        let m = s.metrics.clone();
        // The stage binds the port before it reads: once it has scored, the endpoint is its own.
        wait_for("the stage to score the input or to stop", WAIT, || {
            let snap = m.snapshot();
            s.handle.is_finished() || snap.messages_out + snap.rejected >= 3
        })
        .await;
        if !s.handle.is_finished() {
            break (s, addr);
        }
        let e = s
            .handle
            .await
            .expect("stage task")
            .expect_err("a stage stops by itself only on an error");
        assert!(
            e.to_string().contains("--metrics-addr") && attempts < 10,
            "attempt {attempts}: {e}"
        );
    };
    let text = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        s
    })
    .await
    .unwrap();
    s.stop().await;
    assert!(text.contains("aeflow_stream_messages_in_total 3"), "{text}");
    assert!(
        text.contains("aeflow_stream_messages_rejected_total{reason=\"non_numeric_feature\"} 1")
    );
    assert!(text.contains("aeflow_stream_batch_latency_seconds_bucket"));
    let out = read_topic(&brokers, "out", 2, WAIT);
    let lines: Vec<String> = out.iter().map(Record::text).collect();
    let rows = ndarray::array![[0.1f32, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]];
    let expected = model_api_errors(&path, rows.view());
    for ((line, prefix), expected) in lines
        .iter()
        .zip(["0.1,0.2,0.3,0.4,", "0.5,0.6,0.7,0.8,"])
        .zip(expected)
    {
        assert!(line.starts_with(prefix), "{line}");
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 6, "{line}");
        let got = fields[4].parse::<f64>().unwrap();
        assert!(
            (got - expected).abs() <= 1e-9 * expected.abs().max(1.0),
            "{line}: model API gives {expected}"
        );
        assert!(fields[5] == "true" || fields[5] == "false");
    }
}

#[test]
fn bad_settings_are_refused_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let e = StreamStage::builder()
        .brokers("localhost:1")
        .group_id("g")
        .input_topic("t")
        .output_topic("t")
        .pass_through()
        .build()
        .unwrap_err();
    // A library caller sees the builder's names, not the CLI's flags.
    let text = e.to_string();
    assert!(
        text.contains("output_topic") && text.contains("`input_topic`") && !text.contains("--"),
        "{text}"
    );
    let e = StreamStage::builder()
        .brokers("localhost:1")
        .group_id("g")
        .input_topic("a")
        .output_topic("b")
        .build()
        .unwrap_err();
    assert!(
        matches!(&e, aeflow::Error::Config { option, .. } if option == "model"),
        "{e}"
    );
    assert!(!e.to_string().contains("--model"), "{e}");
    let e = StreamStage::builder()
        .brokers("localhost:1")
        .group_id("g")
        .input_topic("a")
        .output_topic("b")
        .model_path(dir.path().join("missing.safetensors"))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("missing.safetensors"), "{e}");
    let e = StreamStage::builder()
        .brokers("localhost:1")
        .group_id("g")
        .input_topic("a")
        .output_topic("b")
        .pass_through()
        .kafka_option("enable.auto.commit", "true")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("enable.auto.commit"), "{e}");
}

/// The stage uses the generic model API, so the variational and convolutional kinds stream like the
/// dense one: the same numbers as `Autoencoder::score` / `Autoencoder::encode` on the same rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variational_and_convolutional_models_stream_with_the_model_apis_numbers() {
    use aeflow::model::{
        Autoencoder, ConvolutionalConfig, Kind, ScalerKind, ScoreOptions, Silent, TrainConfig,
        VariationalConfig, VariationalScore,
    };
    let (_c, brokers) = cluster(&[("in", 1), ("out", 1), ("in2", 1), ("out2", 1)]);
    let n = 200;

    // Variational, scalar features f0…f3, scored by the negative ELBO.
    let x = rows(600, 4, 21);
    let vae = Autoencoder::fit(
        x.view(),
        &feature_names(4),
        &TrainConfig {
            kind: Kind::Variational(VariationalConfig {
                score: VariationalScore::Elbo,
                ..VariationalConfig::default()
            }),
            epochs: 5,
            seed: 3,
            ..TrainConfig::default()
        },
        &mut Silent,
    )
    .expect("train vae");
    let inputs: Vec<Input> = (0..n)
        .map(|i| Input::new(json_row(&x, i, &format!("id-{i}"))))
        .collect();
    produce(&brokers, "in", &inputs);
    let expected = vae
        .score(
            x.slice(ndarray::s![..n, ..]).view(),
            &ScoreOptions::default(),
        )
        .unwrap()
        .reconstruction_error;
    let s = Running::start(stage(&brokers, "g-vae").model("vae", vae));
    s.wait_processed(n as u64).await;
    s.stop().await;
    let out = read_topic(&brokers, "out", n, WAIT);
    assert_eq!(out.len(), n);
    for r in &out {
        let v = r.json();
        let i: usize = v["seq"].as_u64().unwrap() as usize;
        let got = v["reconstruction_error"].as_f64().unwrap();
        assert!(
            (got - expected[i]).abs() <= 1e-9 * expected[i].abs().max(1.0),
            "row {i}: stage {got}, model API {}",
            expected[i]
        );
        assert_eq!(v["model"]["name"], "vae");
    }

    // Convolutional over one vector column `px` of 16 values, encoded to a 3-wide latent.
    let px: Vec<String> = (0..16).map(|i| format!("px[{i}]")).collect();
    let seqs = rows(400, 16, 5);
    let cae = Autoencoder::fit(
        seqs.view(),
        &px,
        &TrainConfig {
            kind: Kind::Convolutional(ConvolutionalConfig {
                filters: vec![4, 8],
                ..ConvolutionalConfig::new(vec![1, 16])
            }),
            latent: Some(3),
            scaler: ScalerKind::None,
            epochs: 3,
            seed: 4,
            ..TrainConfig::default()
        },
        &mut Silent,
    )
    .expect("train cae");
    let latent = cae.encode(seqs.slice(ndarray::s![..n, ..]).view()).unwrap();
    let inputs: Vec<Input> = (0..n)
        .map(|i| {
            let row: Vec<f64> = seqs.row(i).iter().map(|v| f64::from(*v)).collect();
            Input::new(serde_json::json!({"seq": i, "px": row}).to_string())
        })
        .collect();
    produce(&brokers, "in2", &inputs);
    let s = Running::start(
        stage(&brokers, "g-cae")
            .input_topic("in2")
            .output_topic("out2")
            .mode(Mode::Encode)
            .model("cae", cae),
    );
    s.wait_processed(n as u64).await;
    s.stop().await;
    let out = read_topic(&brokers, "out2", n, WAIT);
    assert_eq!(out.len(), n);
    for r in &out {
        let v = r.json();
        let i: usize = v["seq"].as_u64().unwrap() as usize;
        let got: Vec<f64> = v["latent"]
            .as_array()
            .expect("latent array")
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(got.len(), 3);
        for (g, e) in got.iter().zip(latent.row(i)) {
            assert!(
                (g - f64::from(*e)).abs() <= 1e-6,
                "row {i}: {got:?} vs {:?}",
                latent.row(i)
            );
        }
    }
}

/// A producer queue far smaller than a batch: the stage waits on it (backpressure) instead of
/// failing or dropping, and every output still arrives, in input order per partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_producer_queue_makes_the_stage_wait_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = model(dir.path());
    let (_c, brokers) = cluster(&[("in", 2), ("out", 2)]);
    let n = 1000;
    let (inputs, _) = good_inputs(n, 4, 2);
    produce(&brokers, "in", &inputs);
    let s = Running::start(
        stage(&brokers, "g-backpressure")
            .model_path(&path)
            .batch_size(200)
            .kafka_option("producer.queue.buffering.max.messages", "5"),
    );
    s.wait_processed(n as u64).await;
    let waits = s
        .metrics
        .producer_queue_full
        .load(std::sync::atomic::Ordering::Relaxed);
    s.stop().await;
    assert!(
        waits > 0,
        "a 5-message queue filled up under 200-message batches"
    );
    let out = read_topic(&brokers, "out", n, WAIT);
    assert_eq!(out.len(), n);
    for (key, recs) in by(&out, |r| r.key_str()) {
        let seq: Vec<u64> = recs
            .iter()
            .map(|r| r.json()["seq"].as_u64().unwrap())
            .collect();
        assert!(
            seq.windows(2).all(|w| w[0] < w[1]),
            "order of {key}: {seq:?}"
        );
    }
}
