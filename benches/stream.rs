//! Throughput and latency of the Kafka stage on librdkafka's mock cluster (in-process broker), or
//! on a separate-process broker given by `AEFLOW_BENCH_BROKERS=HOST:PORT` (e.g. Tansu, started by
//! `scripts/tansu.sh start 19093`; topics are created with the admin API, named with the bench's
//! process id so that runs do not meet).
//!
//! Measured in one run, side by side:
//! - **throughput**: messages/s through the stage for a 32-feature JSON scoring model, next to a
//!   pass-through (the same consume → batch → produce → commit path, without decoding or a model),
//!   over `AEFLOW_BENCH_MESSAGES` (default 40 000, spread over 8 partitions: the mock cluster keeps 5 MB per partition) pre-produced messages, alternating the two
//!   `AEFLOW_BENCH_RUNS` (default 5) times; the timer runs from the first message consumed to the
//!   last output acknowledged. Medians are reported, and their ratio (bar: ≥ 80 %).
//! - **latency under light load**: 500 messages/s for 4 s with `--linger-ms 10`; for each
//!   message, the time from its produce call to its output being read back (p50, p99), for the
//!   scoring stage and for the pass-through (bar: the stage's p99 < 50 ms).
//!
//! Run: `cargo bench --bench stream`. For profiling, `AEFLOW_BENCH_ONLY=score` (or
//! `pass-through`) runs one side only, and `AEFLOW_BENCH_WORKER_ONLY=1` stops after the
//! broker-free measurement of the scoring worker.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aeflow::model::{Autoencoder, Silent, TrainConfig};
use aeflow::stream::bench::{
    ActiveModel, BatchOffsets, InputMessage, LiveSettings, Work, WorkerSettings, process,
};
use aeflow::stream::{Format, Metrics, Mode, StageConfig, StreamStage, StreamStageBuilder};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::sync::atomic::AtomicU64;

const FEATURES: usize = 32;
const PARTITIONS: i32 = 8;
/// What librdkafka's mock cluster keeps per partition before it drops the oldest records.
const MOCK_PARTITION_BYTES: usize = 5 * 1024 * 1024;

/// The broker the bench runs against.
enum Broker {
    /// librdkafka's in-process mock cluster.
    Mock(MockCluster<'static, rdkafka::producer::DefaultProducerContext>),
    /// A broker in another process.
    External(String),
}

impl Broker {
    fn brokers(&self) -> String {
        match self {
            Broker::Mock(c) => c.bootstrap_servers(),
            Broker::External(b) => b.clone(),
        }
    }

    fn name(&self) -> String {
        match self {
            Broker::Mock(_) => "mock cluster (in process)".into(),
            Broker::External(b) => format!("external broker {b} (separate process)"),
        }
    }

    /// Creates `topic` (prefixed with the process id on an external broker) and returns its name.
    fn create_topic(&self, topic: &str, partitions: i32) -> String {
        match self {
            Broker::Mock(c) => {
                c.create_topic(topic, partitions, 1).expect("create topic");
                topic.to_string()
            }
            Broker::External(b) => {
                let name = format!("bench-{}-{topic}", std::process::id());
                let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
                    .set("bootstrap.servers", b)
                    .create()
                    .expect("admin client");
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let new = NewTopic::new(&name, partitions, TopicReplication::Fixed(1));
                let results = rt
                    .block_on(admin.create_topics(
                        [&new],
                        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
                    ))
                    .expect("create topics");
                for r in results {
                    r.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
                }
                name
            }
        }
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn data(rows: usize, seed: u64) -> Array2<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut m = Array2::<f32>::zeros((rows, FEATURES));
    for mut row in m.rows_mut() {
        let t: f32 = rng.random_range(0.0..std::f32::consts::TAU);
        for (j, v) in row.iter_mut().enumerate() {
            *v = (t + j as f32 * 0.3).sin() * (1.0 + j as f32 / 16.0)
                + rng.random_range(-0.05..0.05);
        }
    }
    m
}

fn json(x: &Array2<f32>, i: usize, extra: &str) -> String {
    let mut s = String::with_capacity(40 + FEATURES * 24);
    s.push_str(&format!("{{\"id\":{i}{extra}"));
    for j in 0..FEATURES {
        s.push_str(&format!(",\"f{j}\":{}", x[[i % x.nrows(), j]]));
    }
    s.push('}');
    s
}

fn producer(brokers: &str, linger_ms: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", linger_ms)
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("producer")
}

fn stage(brokers: &str, group: &str, input: &str, output: &str) -> StreamStageBuilder {
    StreamStage::builder()
        .brokers(brokers)
        .group_id(group)
        .input_topic(input)
        .output_topic(output)
        .batch_size(1000)
        .linger(Duration::from_millis(10))
        .summary_interval(Duration::from_secs(3600))
}

/// Runs the stage until `n` outputs are acknowledged; returns messages/s from the first message
/// consumed to the last output acknowledged.
async fn throughput(builder: StreamStageBuilder, n: u64) -> f64 {
    let stage = builder.build().expect("stage");
    let metrics: Arc<Metrics> = stage.metrics();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(stage.run_until(async {
        let _ = rx.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut start = None;
    let rate = loop {
        let s = metrics.snapshot();
        if start.is_none() && s.messages_in > 0 {
            start = Some(Instant::now());
        }
        if s.messages_out >= n {
            let secs = start.map_or(f64::NAN, |t: Instant| t.elapsed().as_secs_f64());
            break n as f64 / secs;
        }
        assert!(
            Instant::now() < deadline,
            "throughput run did not finish: {s:?}"
        );
        tokio::time::sleep(Duration::from_micros(500)).await;
    };
    let _ = tx.send(());
    handle.await.expect("stage task").expect("stage run");
    rate
}

/// Light load: `rate` messages/s for `seconds`; returns sorted end-to-end latencies in ms.
async fn latency(
    builder: StreamStageBuilder,
    brokers: &str,
    input: &str,
    output: &str,
    x: &Array2<f32>,
) -> Vec<f64> {
    let stage = builder.build().expect("stage");
    let metrics = stage.metrics();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(stage.run_until(async {
        let _ = rx.await;
    }));
    // Warm up: wait until the stage has joined and delivered one message.
    let p = producer(brokers, "0");
    let send = |i: usize| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros();
        let payload = json(x, i, &format!(",\"t_us\":{now}"));
        let _ = p.send(BaseRecord::<(), String>::to(input).payload(&payload));
        p.poll(Duration::ZERO);
    };
    send(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while metrics.snapshot().messages_out == 0 {
        assert!(Instant::now() < deadline, "latency warm-up timed out");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let brokers_c = brokers.to_string();
    let output_c = output.to_string();
    let (n, rate, seconds) = (2000usize, 500u64, 4u64);
    let reader = std::thread::spawn(move || {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers_c)
            .set("group.id", "bench-latency-reader")
            .set("fetch.wait.max.ms", "1")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&output_c, 0, Offset::End).unwrap();
        c.assign(&tpl).unwrap();
        let mut lat = Vec::with_capacity(n);
        let deadline = Instant::now() + Duration::from_secs(seconds + 30);
        while lat.len() < n && Instant::now() < deadline {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(50)) {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_micros();
                let v: serde_json::Value =
                    serde_json::from_slice(m.payload().unwrap_or_default()).unwrap();
                if let Some(t) = v["t_us"].as_u64() {
                    lat.push((now - t as u128) as f64 / 1000.0);
                }
            }
        }
        lat
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let interval = Duration::from_micros(1_000_000 / rate);
    let t0 = Instant::now();
    for i in 0..n {
        let due = t0 + interval * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        send(i + 1);
    }
    p.flush(Duration::from_secs(10)).unwrap();
    let mut lat = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    let _ = tx.send(());
    handle.await.unwrap().unwrap();
    lat.sort_by(f64::total_cmp);
    lat
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The scoring worker alone, without a broker: decode + score + encode of `batch`-message batches.
/// Returns (messages/s, µs per message), median of `runs`.
fn worker_alone(model: &Autoencoder, x: &Array2<f32>, batch: usize, runs: usize) -> (f64, f64) {
    let active = Arc::new(ActiveModel::new("bench32", model.clone()).expect("model"));
    let settings = WorkerSettings {
        mode: Mode::Score,
        format: Format::Json,
        output_topic: Arc::from("out"),
        dlq_topic: None,
        log_budget: AtomicU64::new(10),
        live: LiveSettings::of(&StageConfig::default()),
    };
    let metrics = Metrics::new();
    let topic: Arc<str> = Arc::from("in");
    let messages: Vec<InputMessage> = (0..batch)
        .map(|i| InputMessage {
            topic: topic.clone(),
            partition: 0,
            offset: i as i64,
            key: None,
            payload: Some(json(x, i, "").into_bytes()),
            headers: Vec::new(),
            timestamp_ms: None,
            received_at: Instant::now(),
        })
        .collect();
    let mut rates = Vec::new();
    for _ in 0..runs {
        let work = Work {
            id: 0,
            epoch: 0,
            offsets: BatchOffsets::of(&messages),
            messages: messages.clone(),
            model: Some(active.clone()),
            group: None,
            reset: None,
        };
        let t = Instant::now();
        let out = process(work, &settings, &metrics);
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(out.records.len(), batch);
        rates.push(batch as f64 / secs);
    }
    let m = median(rates);
    (m, 1e6 / m)
}

fn main() {
    let _ = env_logger::try_init();
    // librdkafka's mock cluster keeps at most 5 MB per partition and drops older records, so the
    // input is spread over 8 partitions and kept under that (40 000 × ~534 B / 8 ≈ 2.7 MB, placed round-robin).
    let n = env("AEFLOW_BENCH_MESSAGES", 40_000);
    let runs = env("AEFLOW_BENCH_RUNS", 5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let x = data(5000, 1);
    let names: Vec<String> = (0..FEATURES).map(|j| format!("f{j}")).collect();
    let config = TrainConfig {
        epochs: 5,
        seed: 1,
        ..TrainConfig::default()
    };
    let model = Autoencoder::fit(x.view(), &names, &config, &mut Silent).expect("train");
    let path = dir.path().join("bench32.safetensors");
    model.save(&path).unwrap();
    let dims = model.summary().dims;
    let (rate, us) = worker_alone(&model, &x, 1000, 31);
    println!(
        "worker alone (no broker): decode + score + encode, batches of 1000 JSON messages: {rate:.0} msg/s ({us:.2} µs/message, median of 31)"
    );
    if std::env::var_os("AEFLOW_BENCH_WORKER_ONLY").is_some() {
        return;
    }

    let broker = match std::env::var("AEFLOW_BENCH_BROKERS") {
        Ok(b) if !b.is_empty() => Broker::External(b),
        _ => Broker::Mock(MockCluster::new(1).unwrap()),
    };
    let brokers = broker.brokers();
    let input = broker.create_topic("in", PARTITIONS);
    let p = producer(&brokers, "5");
    let mut bytes = 0;
    for i in 0..n {
        let payload = json(&x, i, "");
        bytes += payload.len();
        let mut rec = BaseRecord::<(), String>::to(&input)
            .payload(&payload)
            .partition((i % PARTITIONS as usize) as i32);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((_, back)) => {
                    p.poll(Duration::from_millis(1));
                    rec = back;
                }
            }
        }
    }
    p.flush(Duration::from_secs(60)).unwrap();
    assert!(
        !matches!(broker, Broker::Mock(_))
            || bytes / PARTITIONS as usize <= MOCK_PARTITION_BYTES * 6 / 10,
        "{n} messages ({bytes} B) overflow the mock cluster's {MOCK_PARTITION_BYTES} B per partition; lower AEFLOW_BENCH_MESSAGES"
    );
    println!(
        "stream bench: {}, {n} JSON messages of {FEATURES} features (avg {} B), model {:?}, batch 1000, linger 10 ms",
        broker.name(),
        bytes / n.max(1),
        dims
    );

    let labels = ["pass-through", "score", "score, 1 thread"];
    let mut rates: [Vec<f64>; 3] = Default::default();
    for run in 0..runs {
        // 0: pass-through, 1: score with the default threads, 2: score on one thread.
        for variant in 0..3usize {
            let scoring = variant > 0;
            match std::env::var("AEFLOW_BENCH_ONLY").as_deref() {
                Ok("score") if !scoring => continue,
                Ok("pass-through") if scoring => continue,
                _ => {}
            }
            let out = format!("out-{run}-{variant}");
            let out = broker.create_topic(&out, PARTITIONS);
            let group = format!("g-{}-{run}-{variant}", std::process::id());
            let b = stage(&brokers, &group, &input, &out);
            let b = match variant {
                0 => b.pass_through(),
                1 => b.model_path(&path),
                _ => b.model_path(&path).score_threads(1),
            };
            let rate = rt.block_on(throughput(b, n as u64));
            println!("  run {run} {:<22} {rate:>10.0} msg/s", labels[variant]);
            rates[variant].push(rate);
        }
    }
    if rates.iter().any(Vec::is_empty) {
        return;
    }
    let [mp, ms, m1] = rates.map(median);
    println!(
        "throughput (median of {runs}): pass-through {mp:.0} msg/s, score {ms:.0} msg/s ({} score threads), ratio {:.1} % (bar ≥ 80 %); score on 1 thread {m1:.0} msg/s, ratio {:.1} %",
        StageConfig::default().score_threads,
        100.0 * ms / mp,
        100.0 * m1 / mp,
    );

    for scoring in [false, true] {
        let (input, out) = (format!("lat-in-{scoring}"), format!("lat-out-{scoring}"));
        let input = broker.create_topic(&input, 1);
        let out = broker.create_topic(&out, 1);
        let group = format!("lat-{}-{scoring}", std::process::id());
        let b = stage(&brokers, &group, &input, &out);
        let b = if scoring {
            b.model_path(&path)
        } else {
            b.pass_through()
        };
        let lat = rt.block_on(latency(b, &brokers, &input, &out, &x));
        println!(
            "latency at 500 msg/s, linger 10 ms, {:<12}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} messages)",
            if scoring { "score" } else { "pass-through" },
            quantile(&lat, 0.5),
            quantile(&lat, 0.99),
            quantile(&lat, 1.0),
            lat.len()
        );
    }
}
