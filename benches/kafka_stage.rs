//! One Kafka stage in its own process, for `benches/reference/kafka_run.py`: the stage exactly as
//! `aeflow stream` builds it (batch 1000, linger 10 ms, the same two-thread async runtime, stops on
//! SIGTERM), either scoring with a model file or as a **pass-through** — the same consume → batch →
//! produce → commit path with every message forwarded unchanged, no decoding, no model
//! ([`StreamStageBuilder::pass_through`]), which `aeflow stream` does not expose. The driver pins it
//! to one core and reads its progress from the metrics endpoint (`aeflow_stream_messages_out_total`),
//! as it does for `aeflow stream --metrics-addr`.
//!
//! ```text
//! kafka_stage BROKERS GROUP INPUT OUTPUT json|arrow-ipc pass-through|MODEL SCORE_THREADS METRICS_ADDR
//! ```
//!
//! Built by `cargo bench --bench kafka_stage --no-run`; run by the driver, not by `cargo bench`
//! (given no arguments it prints its usage and exits 0).

use std::time::Duration;

use aeflow::stream::{Format, StreamStage, StreamStageBuilder};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let [
        brokers,
        group,
        input,
        output,
        format,
        model,
        threads,
        metrics,
    ] = args.as_slice()
    else {
        println!(
            "usage: kafka_stage BROKERS GROUP INPUT OUTPUT json|arrow-ipc pass-through|MODEL SCORE_THREADS METRICS_ADDR \
             (run by benches/reference/kafka_run.py)"
        );
        return;
    };
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .try_init();
    let format = match format.as_str() {
        "json" => Format::Json,
        "arrow-ipc" => Format::ArrowIpc,
        other => panic!("format: expected json or arrow-ipc, got {other}"),
    };
    let threads: usize = threads.parse().expect("SCORE_THREADS: a number");
    let builder: StreamStageBuilder = StreamStage::builder()
        .brokers(brokers)
        .group_id(group)
        .input_topic(input)
        .output_topic(output)
        .format(format)
        .batch_size(1000)
        .linger(Duration::from_millis(10))
        .score_threads(threads)
        .summary_interval(Duration::from_secs(5))
        .metrics_addr(metrics.parse().expect("METRICS_ADDR: HOST:PORT"));
    let builder = if model == "pass-through" {
        builder.pass_through()
    } else {
        builder.model_path(model)
    };
    let stage = builder.build().expect("stage settings");
    // The runtime of `aeflow stream` (src/cli/stream.rs).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(stage.run()).expect("stage run");
}
