//! The Kafka stage on librdkafka's in-process mock cluster (`cargo run --example stream`).
//!
//! Nothing to install: the mock cluster lives in this process. The program trains a model on
//! sensor readings, produces the readings as JSON messages (plus two malformed ones) to an input
//! topic, runs the stage until every message is scored or dead-lettered, and reads the output and
//! dead-letter topics back. Against a real broker, give `brokers` its address (or run
//! `aeflow stream --brokers HOST:PORT …`).

use std::time::{Duration, Instant};

use aeflow::model::Silent;
use aeflow::stream::StreamStage;
use aeflow::{Autoencoder, TrainConfig};
use ndarray::Array2;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

const MESSAGES: usize = 2_000;

fn main() -> aeflow::Result<()> {
    // A model of three channels that move together.
    let names = ["rpm", "flow_m3h", "power_kw"].map(String::from);
    let x = Array2::from_shape_fn((MESSAGES, 3), |(i, j)| reading(i)[j] as f32);
    let config = TrainConfig {
        epochs: 20,
        ..TrainConfig::default()
    };
    let model = Autoencoder::fit(x.view(), &names, &config, &mut Silent)?;

    let cluster = MockCluster::new(1)?;
    let brokers = cluster.bootstrap_servers();
    for topic in ["readings", "scored", "dead-letters"] {
        cluster.create_topic(topic, 2, 1)?;
    }

    // The input: one JSON object per message, keyed by pump; then two malformed messages.
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()?;
    let mut payloads: Vec<String> = (0..MESSAGES)
        .map(|i| {
            let [rpm, flow, power] = reading(i);
            format!(
                r#"{{"pump":"p{}","rpm":{rpm},"flow_m3h":{flow},"power_kw":{power}}}"#,
                i % 4
            )
        })
        .collect();
    payloads.push(r#"{"pump":"p1","rpm":"fast"}"#.into());
    payloads.push("not json".into());
    for (i, p) in payloads.iter().enumerate() {
        let key = format!("p{}", i % 4);
        producer
            .send(BaseRecord::to("readings").key(&key).payload(p))
            .map_err(|(e, _)| e)?;
    }
    producer.flush(Duration::from_secs(10))?;

    // The stage: consume, score in batches, produce, commit after delivery.
    let stage = StreamStage::builder()
        .brokers(&brokers)
        .group_id("pumps")
        .input_topic("readings")
        .output_topic("scored")
        .dlq_topic("dead-letters")
        .model("pumps", model)
        .batch_size(500)
        .build()?;
    let metrics = stage.metrics();
    let total = payloads.len() as u64;
    let all_handled = async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let s = metrics.snapshot();
            if s.messages_out + s.dead_lettered >= total {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let runtime =
        tokio::runtime::Runtime::new().map_err(|e| aeflow::Error::io("tokio runtime", e))?;
    let done = runtime.block_on(stage.run_until(all_handled))?;
    println!(
        "{} messages in, {} scored, {} dead-lettered",
        done.messages_in, done.messages_out, done.dead_lettered
    );

    // Read both topics back.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "reader")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&["scored", "dead-letters"])?;
    let (mut scored, mut dead) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while scored + dead < payloads.len() && Instant::now() < deadline {
        let Some(m) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = m?;
        let payload = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
        if m.topic() == "dead-letters" {
            let reason = m
                .headers()
                .and_then(|h| h.iter().find(|h| h.key == "aeflow.dlq.reason"))
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            println!("dead letter ({reason}): {payload}");
            dead += 1;
        } else {
            if scored == 0 {
                println!("first output: {payload}");
            }
            scored += 1;
        }
    }
    assert_eq!(
        (scored, dead),
        (MESSAGES, 2),
        "every message is accounted for"
    );
    Ok(())
}

/// Reading `i`: speed, flow and power all follow one load signal.
fn reading(i: usize) -> [f64; 3] {
    let load = (i as f64 * 0.01).sin();
    [1450.0 + 300.0 * load, 14.0 + 4.0 * load, 7.5 + 2.5 * load]
}
