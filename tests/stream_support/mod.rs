//! Helpers shared by the Kafka tests (tests/stream.rs on librdkafka's mock cluster,
//! tests/stream_tansu.rs on a Tansu broker): producing, reading back, committed offsets, models.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aeflow::model::{Autoencoder, Silent, TrainConfig};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// A record read back from a topic.
#[derive(Debug, Clone)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl Record {
    pub fn header(&self, key: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_ref())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(self.payload.as_deref().unwrap_or_default())
            .unwrap_or_else(|e| panic!("output is not JSON ({e}): {:?}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.payload.as_deref().unwrap_or_default()).into_owned()
    }
    pub fn key_str(&self) -> String {
        String::from_utf8_lossy(self.key.as_deref().unwrap_or_default()).into_owned()
    }
}

/// A message to produce.
#[derive(Debug, Clone)]
pub struct Input {
    pub partition: Option<i32>,
    pub key: Option<String>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl Input {
    pub fn new(payload: impl Into<Vec<u8>>) -> Self {
        Self {
            partition: None,
            key: None,
            payload: payload.into(),
            headers: vec![],
        }
    }
    pub fn key(mut self, k: impl Into<String>) -> Self {
        self.key = Some(k.into());
        self
    }
    pub fn partition(mut self, p: i32) -> Self {
        self.partition = Some(p);
        self
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
}

pub fn produce(brokers: &str, topic: &str, inputs: &[Input]) {
    produce_with(brokers, topic, inputs, true);
}

pub fn produce_with(brokers: &str, topic: &str, inputs: &[Input], idempotent: bool) {
    produce_config(brokers, topic, inputs, idempotent, false);
}

pub fn produce_batched(brokers: &str, topic: &str, inputs: &[Input], one_per_batch: bool) {
    produce_config(brokers, topic, inputs, true, one_per_batch);
}

fn produce_config(
    brokers: &str,
    topic: &str,
    inputs: &[Input],
    idempotent: bool,
    one_per_batch: bool,
) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", idempotent.to_string())
        .set("linger.ms", "5")
        .set(
            "batch.num.messages",
            if one_per_batch { "1" } else { "10000" },
        )
        .create()
        .expect("test producer");
    for input in inputs {
        let mut rec = BaseRecord::<String, Vec<u8>>::to(topic).payload(&input.payload);
        if let Some(k) = &input.key {
            rec = rec.key(k);
        }
        if let Some(p) = input.partition {
            rec = rec.partition(p);
        }
        if !input.headers.is_empty() {
            let mut h = OwnedHeaders::new();
            for (k, v) in &input.headers {
                h = h.insert(Header {
                    key: k,
                    value: Some(v),
                });
            }
            rec = rec.headers(h);
        }
        let mut rec = rec;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((e, back)) => {
                    assert!(Instant::now() < deadline, "cannot produce: {e}");
                    producer.poll(Duration::from_millis(10));
                    rec = back;
                }
            }
        }
    }
    producer
        .flush(Duration::from_secs(30))
        .expect("flush test producer");
}

/// Number of partitions of `topic`.
pub fn partitions(brokers: &str, topic: &str) -> i32 {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let md = c
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    md.topics()[0].partitions().len() as i32
}

/// Reads `topic` from the beginning (no consumer group) until `expected` records were read, or
/// until 1.5 s passed without a new record once `expected` is reached, or `timeout`.
pub fn read_topic(brokers: &str, topic: &str, expected: usize, timeout: Duration) -> Vec<Record> {
    read_topic_with(brokers, topic, expected, timeout, "read_uncommitted")
}

pub fn read_topic_with(
    brokers: &str,
    topic: &str,
    expected: usize,
    timeout: Duration,
    isolation: &str,
) -> Vec<Record> {
    read_topic_until(
        brokers,
        topic,
        timeout,
        isolation,
        Duration::from_millis(1500),
        |r| r.len() >= expected,
    )
}

/// Reads `topic` from offset 0 of every partition until `done(records so far)` holds and no
/// record came for `quiet`, or until `timeout`.
pub fn read_topic_until(
    brokers: &str,
    topic: &str,
    timeout: Duration,
    isolation: &str,
    quiet: Duration,
    done: impl Fn(&[Record]) -> bool,
) -> Vec<Record> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "aeflow-test-reader")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", isolation)
        .create()
        .unwrap();
    let n = partitions(brokers, topic);
    let mut tpl = TopicPartitionList::new();
    for p in 0..n {
        tpl.add_partition_offset(topic, p, Offset::Offset(0))
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut quiet_since = Instant::now();
    let mut finished = false;
    while Instant::now() < deadline {
        match c.poll(Duration::from_millis(50)) {
            Some(Ok(m)) => {
                quiet_since = Instant::now();
                out.push(Record {
                    topic: m.topic().to_string(),
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    payload: m.payload().map(<[u8]>::to_vec),
                    headers: m
                        .headers()
                        .map(|h| {
                            h.iter()
                                .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                                .collect()
                        })
                        .unwrap_or_default(),
                });
                finished = false;
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {
                finished = finished || done(&out);
                if finished && quiet_since.elapsed() > quiet {
                    break;
                }
            }
        }
    }
    out
}

/// High watermark of each partition of `topic`.
pub fn high_watermarks(brokers: &str, topic: &str) -> Vec<i64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    (0..partitions(brokers, topic))
        .map(|p| {
            c.fetch_watermarks(topic, p, Duration::from_secs(10))
                .expect("watermarks")
                .1
        })
        .collect()
}

/// Committed offset of `group` for each partition of `topic` (-1 when none).
pub fn committed(brokers: &str, group: &str, topic: &str) -> Vec<i64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions(brokers, topic) {
        tpl.add_partition(topic, p);
    }
    let got = c
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    got.elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => -1,
        })
        .collect()
}

/// Waits until `cond` holds, at most `timeout`; panics with `what` otherwise.
pub async fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn feature_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("f{i}")).collect()
}

/// Rows of correlated features: `f_j = sin(t + j) · (1 + j/10) + noise`, seeded.
pub fn rows(n_rows: usize, n_features: usize, seed: u64) -> Array2<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut m = Array2::<f32>::zeros((n_rows, n_features));
    for mut row in m.rows_mut() {
        let t: f32 = rng.random_range(0.0..std::f32::consts::TAU);
        for (j, v) in row.iter_mut().enumerate() {
            *v = (t + j as f32).sin() * (1.0 + j as f32 / 10.0) + rng.random_range(-0.05..0.05);
        }
    }
    m
}

/// A small trained model on `n_features` features named f0…, saved under `dir/name.safetensors`.
pub fn train_model(dir: &Path, name: &str, n_features: usize, seed: u64) -> (PathBuf, Autoencoder) {
    let x = rows(2000, n_features, seed);
    let config = TrainConfig {
        epochs: 5,
        seed,
        ..TrainConfig::default()
    };
    let model = Autoencoder::fit(x.view(), &feature_names(n_features), &config, &mut Silent)
        .expect("train test model");
    let path = dir.join(format!("{name}.safetensors"));
    model.save(&path).expect("save test model");
    (path, model)
}

/// A JSON object with features f0… from row `i` of `x`, plus `id` and `seq` fields.
pub fn json_row(x: &Array2<f32>, i: usize, id: &str) -> String {
    let mut obj = serde_json::Map::new();
    obj.insert("id".into(), serde_json::Value::from(id));
    for (j, v) in x.row(i).iter().enumerate() {
        obj.insert(format!("f{j}"), serde_json::Value::from(*v as f64));
    }
    obj.insert("seq".into(), serde_json::Value::from(i));
    serde_json::Value::Object(obj).to_string()
}

/// Group records by a string key.
pub fn by<K: Ord>(records: &[Record], key: impl Fn(&Record) -> K) -> BTreeMap<K, Vec<Record>> {
    let mut out: BTreeMap<K, Vec<Record>> = BTreeMap::new();
    for r in records {
        out.entry(key(r)).or_default().push(r.clone());
    }
    out
}
