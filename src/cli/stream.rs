//! `aeflow stream`: score or encode a Kafka topic into another topic (see [`crate::stream`] for the
//! delivery guarantees), and the streaming step of `aeflow demo` on an embedded mock cluster.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Message};

use crate::error::{Error, Result};
use crate::stream::{Format, MetricsSnapshot, Mode, StreamStage, dlq_headers, parse_kafka_option};

/// What each message gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ModeArg {
    /// `reconstruction_error` and `is_anomaly`.
    Score,
    /// `latent`.
    Encode,
}

/// Message payload format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FormatArg {
    /// One JSON object per message.
    Json,
    /// One Arrow IPC stream per message.
    #[value(name = "arrow-ipc")]
    ArrowIpc,
    /// One CSV record per message (the model's features in order, no header).
    Csv,
}

/// What each row's error is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ThresholdArg {
    /// The model's calibrated threshold.
    Fixed,
    /// A quantile of the last --threshold-window errors.
    Adaptive,
}

/// Arguments of `aeflow stream` (boxed: they are the largest of the subcommands).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    options: Box<Options>,
}

/// The options of `aeflow stream`.
#[derive(Debug, clap::Args)]
struct Options {
    /// Kafka bootstrap servers, HOST:PORT[,HOST:PORT…].
    #[arg(long, value_name = "HOST:PORT")]
    brokers: String,
    /// Consumer group id; instances with the same id share the partitions.
    #[arg(long, value_name = "G")]
    group_id: String,
    /// Topic to read.
    #[arg(long, value_name = "IN")]
    input_topic: String,
    /// Topic to write outputs to.
    #[arg(long, value_name = "OUT")]
    output_topic: String,
    /// Model file (safetensors); reloaded when it changes.
    #[arg(long, value_name = "MODEL")]
    model: PathBuf,
    /// Score (reconstruction_error, is_anomaly) or encode (latent).
    #[arg(long, value_enum, default_value_t = ModeArg::Score)]
    mode: ModeArg,
    /// Payload format of input and output messages.
    #[arg(long, value_enum, default_value_t = FormatArg::Json)]
    format: FormatArg,
    /// Messages per batch at most.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    batch_size: usize,
    /// Longest wait after a batch's first message before it is scored, in ms (at most an hour).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    linger_ms: u64,
    /// Threads that decode, score and encode each batch together [default: cores, at most 4].
    #[arg(long, value_name = "N")]
    score_threads: Option<usize>,
    /// Topic for messages that cannot be decoded or scored (unchanged, with reason headers).
    #[arg(long, value_name = "DLQ")]
    dlq_topic: Option<String>,
    /// One Kafka transaction per batch (outputs + offsets).
    #[arg(long)]
    exactly_once: bool,
    /// Transactional id for --exactly-once (default aeflow-<group>-<input topic>); distinct per
    /// instance, stable across restarts.
    #[arg(long, value_name = "ID")]
    transactional_id: Option<String>,
    /// A librdkafka setting for both clients (or `consumer.KEY=VALUE` / `producer.KEY=VALUE`).
    #[arg(long = "kafka-option", value_name = "KEY=VALUE")]
    kafka_options: Vec<String>,
    /// Serve Prometheus metrics at http://HOST:PORT/metrics.
    #[arg(long, value_name = "HOST:PORT")]
    metrics_addr: Option<SocketAddr>,
    /// What each row's error is judged against: the model's threshold, or a quantile of the
    /// last --threshold-window errors (outputs then carry `threshold`).
    #[arg(long, value_enum, default_value_t = ThresholdArg::Fixed)]
    threshold: ThresholdArg,
    /// Rows of live errors kept for the adaptive threshold and the drift alarm (at most
    /// 1000000; 16 bytes each).
    #[arg(long, value_name = "N", default_value_t = crate::model::DEFAULT_WINDOW)]
    threshold_window: usize,
    /// Quantile of the window that is the adaptive threshold [default: 1 − the model's
    /// contamination].
    #[arg(long, value_name = "Q")]
    threshold_quantile: Option<f64>,
    /// Compacted topic holding the adaptive threshold's checkpoint, so that a restart resumes
    /// with the same threshold.
    #[arg(long, value_name = "TOPIC")]
    state_topic: Option<String>,
    /// PSI of the live errors against the model's training errors above which drift is logged
    /// (and sent to --drift-topic).
    #[arg(long, value_name = "PSI", default_value_t = crate::model::DEFAULT_PSI_ALERT)]
    drift_alert: f64,
    /// Topic for JSON drift events, one each time the PSI crosses --drift-alert.
    #[arg(long, value_name = "TOPIC")]
    drift_topic: Option<String>,
    /// Seconds between the one-line summaries in the log (messages in/out/dead-lettered, batch
    /// latency, lag).
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    summary_secs: u64,
}

/// Run `aeflow stream` until SIGINT or SIGTERM.
pub fn run(args: Args) -> Result<()> {
    let args = *args.options;
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .try_init();
    let mut builder = StreamStage::builder()
        .brokers(args.brokers)
        .group_id(args.group_id)
        .input_topic(args.input_topic)
        .output_topic(args.output_topic)
        .model_path(&args.model)
        .mode(match args.mode {
            ModeArg::Score => Mode::Score,
            ModeArg::Encode => Mode::Encode,
        })
        .format(match args.format {
            FormatArg::Json => Format::Json,
            FormatArg::ArrowIpc => Format::ArrowIpc,
            FormatArg::Csv => Format::Csv,
        })
        .batch_size(args.batch_size)
        .linger(Duration::from_millis(args.linger_ms))
        .exactly_once(args.exactly_once)
        .summary_interval(Duration::from_secs(args.summary_secs));
    builder = match args.threshold {
        ThresholdArg::Adaptive => {
            builder.adaptive_threshold(args.threshold_window, args.threshold_quantile)
        }
        ThresholdArg::Fixed if args.threshold_quantile.is_some() => {
            return Err(Error::config(
                "threshold_quantile",
                "applies to an adaptive threshold; add --threshold adaptive",
            ));
        }
        ThresholdArg::Fixed => builder.threshold_window(args.threshold_window),
    };
    builder = builder.drift_alert(args.drift_alert);
    if let Some(t) = args.state_topic {
        builder = builder.state_topic(t);
    }
    if let Some(t) = args.drift_topic {
        builder = builder.drift_topic(t);
    }
    if let Some(n) = args.score_threads {
        builder = builder.score_threads(n);
    }
    if let Some(dlq) = args.dlq_topic {
        builder = builder.dlq_topic(dlq);
    }
    if let Some(id) = args.transactional_id {
        builder = builder.transactional_id(id);
    }
    if let Some(addr) = args.metrics_addr {
        builder = builder.metrics_addr(addr);
    }
    for option in &args.kafka_options {
        let (k, v) = parse_kafka_option(option)?;
        builder = builder.kafka_option(k, v);
    }
    let stage = builder.build()?;
    runtime()?.block_on(stage.run())?;
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))
}

/// What the demo's streaming step did.
#[allow(dead_code)]
#[derive(Debug, Clone)]
pub struct DemoStreamReport {
    /// Messages produced to the input topic (rows plus malformed messages).
    pub messages: usize,
    /// Outputs on the output topic.
    pub outputs: u64,
    /// Dead letters on the DLQ topic.
    pub dead_letters: u64,
    /// Outputs flagged as anomalies.
    pub anomalies: usize,
    /// Seconds the stage ran.
    pub seconds: f64,
}

/// Step of `aeflow demo`: the generated readings, as JSON messages, through the stage on
/// librdkafka's in-process mock cluster, scored by the demo's model.
pub(crate) fn demo_step(ctx: &mut super::demo::DemoContext) -> Result<()> {
    let source = crate::batch::FileSource::open(&ctx.data, None)?;
    let batches: Vec<RecordBatch> = source.batches(None, 2000)?.take(1).collect::<Result<_>>()?;
    let mut out = Vec::new();
    stream_demo(&ctx.model, &batches, &mut out)?;
    ctx.say(String::from_utf8_lossy(&out).trim_end())
}

/// The streaming demo: starts librdkafka's mock cluster in-process, produces the
/// first (at most 2000) rows of `batches` as JSON messages plus three malformed ones, streams
/// them through the stage with the model at `model_path`, and prints what came out: counts, the
/// dead letters with their reason headers, and a sample output.
pub fn stream_demo(
    model_path: &Path,
    batches: &[RecordBatch],
    out: &mut dyn Write,
) -> Result<DemoStreamReport> {
    let cluster = MockCluster::new(1)?;
    let brokers = cluster.bootstrap_servers();
    for topic in ["demo-in", "demo-out", "demo-dlq"] {
        cluster.create_topic(topic, 2, 1)?;
    }
    let payloads = demo_payloads(batches)?;
    produce(&brokers, "demo-in", &payloads)?;

    let stage = StreamStage::builder()
        .brokers(&brokers)
        .group_id("aeflow-demo")
        .input_topic("demo-in")
        .output_topic("demo-out")
        .dlq_topic("demo-dlq")
        .model_path(model_path)
        .batch_size(500)
        .linger(Duration::from_millis(10))
        .build()?;
    let started = Instant::now();
    let snapshot = run_until_processed(stage, payloads.len() as u64, Duration::from_secs(60))?;
    let seconds = started.elapsed().as_secs_f64();
    let read = read_back(&brokers, snapshot.messages_out + snapshot.dead_lettered)?;

    let report = DemoStreamReport {
        messages: payloads.len(),
        outputs: snapshot.messages_out,
        dead_letters: snapshot.dead_lettered,
        anomalies: read.anomalies,
        seconds,
    };
    print_demo(out, &brokers, model_path, &report, &read).map_err(|e| Error::io("<stdout>", e))?;
    Ok(report)
}

/// The first (at most 2000) rows of `batches` as JSON lines, then three malformed messages.
fn demo_payloads(batches: &[RecordBatch]) -> Result<Vec<Vec<u8>>> {
    const MAX_ROWS: usize = 2000;
    let mut payloads: Vec<Vec<u8>> = Vec::new();
    for batch in batches {
        let take = batch.num_rows().min(MAX_ROWS - payloads.len());
        let mut w = arrow::json::LineDelimitedWriter::new(Vec::new());
        w.write(&batch.slice(0, take))?;
        w.finish()?;
        let lines = w.into_inner();
        payloads.extend(
            lines
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
        if payloads.len() >= MAX_ROWS {
            break;
        }
    }
    payloads.push(b"{\"this is not\": json".to_vec());
    payloads.push(b"[1, 2, 3]".to_vec());
    payloads.push(b"{\"unrelated\": \"fields only\"}".to_vec());
    Ok(payloads)
}

/// Produces `payloads` to `topic`, keyed `row-0`, `row-1`, …, and waits for them to be sent.
fn produce(brokers: &str, topic: &str, payloads: &[Vec<u8>]) -> Result<()> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    for (i, p) in payloads.iter().enumerate() {
        let key = format!("row-{i}");
        producer
            .send(BaseRecord::to(topic).key(&key).payload(p))
            .map_err(|(e, _)| e)?;
    }
    producer.flush(Duration::from_secs(10))?;
    Ok(())
}

/// Runs `stage` until `total` messages came out as outputs or dead letters, or `limit` passed.
fn run_until_processed(stage: StreamStage, total: u64, limit: Duration) -> Result<MetricsSnapshot> {
    let metrics = stage.metrics();
    let done = async move {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let s = metrics.snapshot();
            if s.messages_out + s.dead_lettered >= total {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    runtime()?.block_on(stage.run_until(done))
}

/// What the demo read back from its output and DLQ topics.
struct DemoReadBack {
    /// The first output.
    sample: Option<String>,
    /// Outputs flagged as anomalies.
    anomalies: usize,
    /// Each dead letter: its reason header, then its payload.
    dead: Vec<String>,
}

/// Reads `expected` messages (or what comes within 30 s) from `demo-out` and `demo-dlq`.
fn read_back(brokers: &str, expected: u64) -> Result<DemoReadBack> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "aeflow-demo-reader")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&["demo-out", "demo-dlq"])?;
    let mut read = DemoReadBack {
        sample: None,
        anomalies: 0,
        dead: Vec::new(),
    };
    let mut seen = 0u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen < expected && Instant::now() < deadline {
        let Some(m) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = m?;
        seen += 1;
        let payload = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
        if m.topic() == "demo-dlq" {
            let reason = m
                .headers()
                .and_then(|h| h.iter().find(|h| h.key == dlq_headers::REASON))
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            read.dead.push(format!("{reason:<20} {payload}"));
        } else {
            if payload.contains(&format!("\"{}\":true", crate::arrow::IS_ANOMALY)) {
                read.anomalies += 1;
            }
            read.sample.get_or_insert(payload);
        }
    }
    Ok(read)
}

/// Prints what the demo did: the cluster, the counts, the dead letters, a sample output and the
/// command for a real broker.
fn print_demo(
    out: &mut dyn Write,
    brokers: &str,
    model_path: &Path,
    report: &DemoStreamReport,
    read: &DemoReadBack,
) -> std::io::Result<()> {
    writeln!(
        out,
        "stream: librdkafka mock cluster at {brokers} (in-process)"
    )?;
    writeln!(
        out,
        "stream: {} messages on demo-in → {} scored on demo-out ({} anomalies), {} dead letters on demo-dlq, in {:.1} s",
        report.messages, report.outputs, read.anomalies, report.dead_letters, report.seconds
    )?;
    for d in &read.dead {
        writeln!(out, "stream: dead letter  {d}")?;
    }
    if let Some(s) = &read.sample {
        writeln!(out, "stream: sample output {s}")?;
    }
    writeln!(
        out,
        "stream: against a real broker: aeflow stream --brokers HOST:PORT --group-id G --input-topic IN \
         --output-topic OUT --dlq-topic DLQ --model {}",
        model_path.display()
    )
}
