//! The stage: a builder, and the run loop.
//!
//! ```text
//!  consumer ──► batcher ──(bounded 2)──► scoring thread ──(bounded 2)──► producer side ──► done ──► commit
//!  (IO loop)   size or linger             decode·score·encode           at-least-once: enqueue + ack tasks
//!                                                                        exactly-once: transaction thread
//! ```
//!
//! The IO loop is one `tokio::select!`: receive a message, cut a batch when it is full or its
//! linger has passed (and the worker has room), handle a delivered or failed batch, check the model
//! file and log a summary on a timer, and stop on the shutdown signal. It never decodes or scores.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rdkafka::Offset;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::producer::{FutureProducer, Producer};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::batcher::Batcher;
use super::config::{StageConfig, ThresholdMode};
use super::context::StageContext;
use super::decode::Format;
use super::encode::Mode;
use super::epoch::Epoch;
use super::features::FeatureShape;
use super::live::{LiveSettings, Reset};
use super::message::InputMessage;
use super::metrics::{Metrics, MetricsSnapshot};
use super::offsets::{InFlight, InFlightBatch};
use super::reload::{ActiveModel, ModelWatcher};
use super::sink::{self, Done};
use super::worker::{self, Work, WorkerSettings};
use super::{http, transaction};
use crate::error::{Error, Result};
use crate::model::{Autoencoder, ModelSource, ThresholdCheckpoint};

/// Dropped-message warnings logged per summary interval (the rest are counted).
const LOG_BUDGET: u64 = 20;
const TICK: Duration = Duration::from_millis(100);
/// How often an at-least-once stage checks that the broker acknowledged its delivered offsets.
const RECOMMIT_INTERVAL: Duration = Duration::from_secs(1);

/// The model a stage is built with.
#[derive(Debug)]
enum StageModel {
    /// Loaded at build from where it comes from (a [`ModelSource::File`], watched for changes
    /// and hot-reloaded).
    Load(ModelSource),
    /// Given in memory, with its name in outputs; no hot reload.
    Given(String, Box<Autoencoder>),
    /// No model: outputs are the inputs (to measure the Kafka path alone).
    PassThrough,
}

/// Builds a [`StreamStage`].
///
/// ```no_run
/// # async fn f() -> aeflow::Result<()> {
/// use aeflow::stream::{Format, Mode, StreamStage};
/// StreamStage::builder()
///     .brokers("localhost:9092")
///     .group_id("scoring")
///     .input_topic("events")
///     .output_topic("events-scored")
///     .dlq_topic("events-dlq")
///     .model_path("model.safetensors")
///     .mode(Mode::Score)
///     .format(Format::Json)
///     .build()?
///     .run() // until SIGINT or SIGTERM
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct StreamStageBuilder {
    config: StageConfig,
    model: Option<StageModel>,
}

impl StreamStageBuilder {
    /// Bootstrap servers, `host:port[,host:port…]`.
    pub fn brokers(mut self, brokers: impl Into<String>) -> Self {
        self.config.brokers = brokers.into();
        self
    }
    /// Consumer group id; instances with the same id share the input's partitions.
    pub fn group_id(mut self, group_id: impl Into<String>) -> Self {
        self.config.group_id = group_id.into();
        self
    }
    /// Topic to read.
    pub fn input_topic(mut self, topic: impl Into<String>) -> Self {
        self.config.input_topic = topic.into();
        self
    }
    /// Topic to write outputs to.
    pub fn output_topic(mut self, topic: impl Into<String>) -> Self {
        self.config.output_topic = topic.into();
        self
    }
    /// Topic for messages that cannot be decoded or scored.
    pub fn dlq_topic(mut self, topic: impl Into<String>) -> Self {
        self.config.dlq_topic = Some(topic.into());
        self
    }
    /// The model file; it is watched and hot-reloaded.
    pub fn model_path(mut self, path: impl AsRef<Path>) -> Self {
        self.model = Some(StageModel::Load(ModelSource::File(
            path.as_ref().to_path_buf(),
        )));
        self
    }
    /// A model in memory, named `name` in outputs (no hot reload).
    pub fn model(mut self, name: impl Into<String>, model: Autoencoder) -> Self {
        self.model = Some(StageModel::Given(name.into(), Box::new(model)));
        self
    }
    /// No model: every message is forwarded unchanged through the same consume → batch →
    /// produce → commit path. For measuring what the Kafka path alone costs.
    pub fn pass_through(mut self) -> Self {
        self.model = Some(StageModel::PassThrough);
        self
    }
    /// Score (default) or encode.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.config.mode = mode;
        self
    }
    /// Payload format (default JSON).
    pub fn format(mut self, format: Format) -> Self {
        self.config.format = format;
        self
    }
    /// Messages per batch at most (default 1000).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.config.batch_size = n;
        self
    }
    /// Threads that decode, score and encode each batch together (default: the number of
    /// cores, at most 4).
    pub fn score_threads(mut self, n: usize) -> Self {
        self.config.score_threads = n;
        self
    }
    /// Longest wait after a batch's first message (default 10 ms).
    pub fn linger(mut self, linger: Duration) -> Self {
        self.config.linger = linger;
        self
    }
    /// One Kafka transaction per batch (default: at-least-once).
    pub fn exactly_once(mut self, on: bool) -> Self {
        self.config.exactly_once = on;
        self
    }
    /// Transactional id for exactly-once (default `aeflow-<group>-<input topic>`). Instances
    /// sharing a group need distinct ids; a restarted instance must reuse its id to fence its
    /// previous incarnation.
    pub fn transactional_id(mut self, id: impl Into<String>) -> Self {
        self.config.transactional_id = Some(id.into());
        self
    }
    /// A librdkafka setting for both clients, or one with a `consumer.` / `producer.` prefix.
    pub fn kafka_option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.kafka_options.push((key.into(), value.into()));
        self
    }
    /// Serve Prometheus metrics at `http://addr/metrics`.
    pub fn metrics_addr(mut self, addr: SocketAddr) -> Self {
        self.config.metrics_addr = Some(addr);
        self
    }
    /// How often the model file is checked for changes (default 1 s).
    pub fn reload_interval(mut self, every: Duration) -> Self {
        self.config.reload_interval = every;
        self
    }
    /// How often a summary line is logged (default 5 s).
    pub fn summary_interval(mut self, every: Duration) -> Self {
        self.config.summary_interval = every;
        self
    }
    /// How long a shutdown waits for batches in flight (default 30 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.shutdown_timeout = timeout;
        self
    }
    /// Judge rows against `Q(quantile)` of the last `window` errors instead of the model's
    /// threshold (`quantile` `None`: `1 −` the model's contamination); outputs carry the
    /// `threshold`. See [`crate::model::AdaptiveThreshold`].
    pub fn adaptive_threshold(mut self, window: usize, quantile: Option<f64>) -> Self {
        self.config.threshold = ThresholdMode::Adaptive;
        self.config.threshold_window = window;
        self.config.threshold_quantile = quantile;
        self
    }
    /// Rows of live errors the drift alarm (and an adaptive threshold) reads (default 10 000).
    pub fn threshold_window(mut self, window: usize) -> Self {
        self.config.threshold_window = window;
        self
    }
    /// Keep the adaptive threshold's checkpoints on `topic` (compacted), so that a restart
    /// resumes with the same threshold.
    pub fn state_topic(mut self, topic: impl Into<String>) -> Self {
        self.config.state_topic = Some(topic.into());
        self
    }
    /// The PSI above which score drift is logged and sent to the drift topic (default 0.2).
    pub fn drift_alert(mut self, psi: f64) -> Self {
        self.config.drift_alert = psi;
        self
    }
    /// Send a JSON event to `topic` each time the score drift crosses the alert level.
    pub fn drift_topic(mut self, topic: impl Into<String>) -> Self {
        self.config.drift_topic = Some(topic.into());
        self
    }
    /// All settings at once.
    pub fn config(mut self, config: StageConfig) -> Self {
        self.config = config;
        self
    }

    /// Validates the settings and loads the model. Errors name the settings as this builder
    /// does (`model`, `format`, `batch_size`), not as CLI flags.
    pub fn build(self) -> Result<StreamStage> {
        self.config.validate()?;
        let (model, watcher) = match self.model {
            None => {
                return Err(Error::config(
                    "model",
                    "is required (a model file, a model in memory, or pass-through)",
                ));
            }
            Some(StageModel::Load(source)) => {
                let path = source.path().ok_or_else(|| {
                    Error::Internal(format!("a stage loads its model from a file, not {source}"))
                })?;
                let m = ActiveModel::load(path)?;
                (Some(Arc::new(m)), Some(ModelWatcher::new(path)))
            }
            Some(StageModel::Given(name, m)) => {
                (Some(Arc::new(ActiveModel::new(&name, *m)?)), None)
            }
            Some(StageModel::PassThrough) => (None, None),
        };
        if let Some(m) = &model
            && self.config.format == Format::Csv
            && matches!(m.shape, FeatureShape::Vector { .. })
        {
            return Err(Error::config(
                "format",
                format!(
                    "csv needs a model trained on scalar columns; model {} reads one vector column",
                    m.tag.name
                ),
            ));
        }
        if self.config.threshold == ThresholdMode::Adaptive {
            if self.config.mode != Mode::Score {
                return Err(Error::config(
                    "threshold",
                    "an adaptive threshold judges scores; it needs the score mode",
                ));
            }
            if let Some(m) = &model {
                LiveSettings::of(&self.config).threshold_config(m)?;
            }
        }
        let metrics = Arc::new(Metrics::new());
        match &model {
            Some(m) => metrics.set_model(&m.tag.name, &m.tag.version),
            None => metrics.set_model("pass-through", "-"),
        }
        Ok(StreamStage {
            config: self.config,
            model,
            watcher,
            metrics,
        })
    }
}

/// A configured stage: run it with [`StreamStage::run`] or [`StreamStage::run_until`].
#[derive(Debug)]
pub struct StreamStage {
    config: StageConfig,
    model: Option<Arc<ActiveModel>>,
    watcher: Option<ModelWatcher>,
    metrics: Arc<Metrics>,
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

impl StreamStage {
    /// A builder with the defaults.
    pub fn builder() -> StreamStageBuilder {
        StreamStageBuilder {
            config: StageConfig::default(),
            model: None,
        }
    }

    /// The stage's metrics (live while it runs).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// The settings.
    pub fn config(&self) -> &StageConfig {
        &self.config
    }

    /// Runs until SIGINT or SIGTERM, then shuts down cleanly.
    pub async fn run(self) -> Result<MetricsSnapshot> {
        self.run_until(shutdown_signal()).await
    }

    /// Runs until `shutdown` resolves, then stops consuming, finishes the batches in flight
    /// (bounded by the shutdown timeout), commits what was delivered and returns the final
    /// metrics. Returns an error when the stage cannot go on (a fatal producer error, a failed
    /// rewind); a restart then resumes from the last commit.
    ///
    /// Phases: connect the clients (`Clients::connect`), start the threads behind the IO loop
    /// (`Pipeline::start`), run the IO loop (`RunState::main_loop`), drain it
    /// (`RunState::shut_down`) and stop the threads (`Pipeline::stop`).
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<MetricsSnapshot> {
        let StreamStage {
            config,
            model,
            watcher,
            metrics,
        } = self;
        let epoch = Arc::new(Epoch::new());
        let clients = Clients::connect(&config, &metrics, &epoch).await?;
        let (pipeline, work_tx, mut done_rx) =
            Pipeline::start(&config, &clients.producer, &metrics, &epoch).await?;
        log_start(&config, model.as_deref());
        let restored = restore_checkpoint(&config).await?;

        let mut state = RunState::new(
            &clients.consumer,
            &config,
            &metrics,
            &pipeline.settings,
            &epoch,
            model,
            watcher,
        );
        state.pending_reset = Some(restored.clone());
        state.last_checkpoint = restored;
        let result = match state.main_loop(&work_tx, &mut done_rx, shutdown).await {
            Ok(()) => state.shut_down(work_tx, &mut done_rx).await,
            Err(e) => {
                drop(work_tx);
                Err(e)
            }
        };
        drop(state);
        pipeline.stop(config.shutdown_timeout).await;
        clients.close(config.exactly_once);
        log::info!("{}", metrics.summary_line(&MetricsSnapshot::default()));
        result.map(|()| metrics.snapshot())
    }
}

/// The two Kafka clients of a stage.
struct Clients {
    producer: FutureProducer,
    consumer: StreamConsumer<StageContext>,
}

impl Clients {
    /// Creates the producer (initialising its transactions under exactly-once) and the
    /// consumer, subscribed to the input topic.
    async fn connect(
        config: &StageConfig,
        metrics: &Arc<Metrics>,
        epoch: &Arc<Epoch>,
    ) -> Result<Self> {
        let eos = config.exactly_once;
        let producer: FutureProducer = config.producer_config().create()?;
        if eos {
            let p = producer.clone();
            tokio::task::spawn_blocking(move || p.init_transactions(transaction::TXN_TIMEOUT))
                .await
                .map_err(|e| Error::Internal(e.to_string()))??;
        }
        let consumer: StreamConsumer<StageContext> = config
            .consumer_config()
            .create_with_context(StageContext::new(metrics.clone(), epoch.clone(), eos))?;
        consumer.subscribe(&[&config.input_topic])?;
        Ok(Clients { producer, consumer })
    }

    /// Leaves the group, and under at-least-once flushes what the producer still holds.
    fn close(self, exactly_once: bool) {
        drop(self.consumer);
        if !exactly_once {
            let _ = self.producer.flush(Duration::from_secs(5));
        }
    }
}

/// The threads and tasks behind the IO loop: the scoring thread, the producer side (the
/// transaction thread, or the enqueue and ack tasks) and the metrics server.
struct Pipeline {
    settings: Arc<WorkerSettings>,
    worker: std::thread::JoinHandle<()>,
    txn_thread: Option<std::thread::JoinHandle<()>>,
    tasks: Vec<JoinHandle<()>>,
    server: Option<JoinHandle<()>>,
}

impl Pipeline {
    /// Starts everything and returns the IO loop's ends of it: where batches go in, and where
    /// delivered or failed batches come back.
    async fn start(
        config: &StageConfig,
        producer: &FutureProducer,
        metrics: &Arc<Metrics>,
        epoch: &Arc<Epoch>,
    ) -> Result<(Self, mpsc::Sender<Work>, mpsc::UnboundedReceiver<Done>)> {
        let settings = Arc::new(WorkerSettings {
            mode: config.mode,
            format: config.format,
            output_topic: Arc::from(config.output_topic.as_str()),
            dlq_topic: config.dlq_topic.as_deref().map(Arc::from),
            log_budget: AtomicU64::new(LOG_BUDGET),
            live: LiveSettings::of(config),
        });
        let (work_tx, work_rx) = mpsc::channel::<Work>(2);
        let (sink_tx, sink_rx) = mpsc::channel(2);
        let (done_tx, done_rx) = mpsc::unbounded_channel::<Done>();
        let worker = worker::spawn(
            work_rx,
            sink_tx,
            settings.clone(),
            epoch.clone(),
            metrics.clone(),
            config.score_threads,
        )?;
        let mut tasks: Vec<JoinHandle<()>> = Vec::new();
        let txn_thread = if config.exactly_once {
            let (p, e, m) = (producer.clone(), epoch.clone(), metrics.clone());
            Some(transaction::spawn(sink_rx, done_tx, p, e, m)?)
        } else {
            let (ack_tx, ack_rx) = mpsc::channel(4);
            let (p, e, m) = (producer.clone(), epoch.clone(), metrics.clone());
            tasks.push(tokio::spawn(sink::produce(sink_rx, ack_tx, p, e, m)));
            let (p, e, m) = (producer.clone(), epoch.clone(), metrics.clone());
            tasks.push(tokio::spawn(sink::ack(ack_rx, done_tx, p, e, m)));
            None
        };
        let server = match config.metrics_addr {
            Some(addr) => {
                let (listener, local) = http::bind(addr).await?;
                log::info!("metrics at http://{local}/metrics");
                Some(tokio::spawn(http::serve(listener, metrics.clone())))
            }
            None => None,
        };
        let pipeline = Pipeline {
            settings,
            worker,
            txn_thread,
            tasks,
            server,
        };
        Ok((pipeline, work_tx, done_rx))
    }

    /// Waits (each wait bounded by `timeout`) for the threads and tasks to end: they do once
    /// their channels are closed and their last batch is done. Then stops the metrics server.
    async fn stop(self, timeout: Duration) {
        let Pipeline {
            worker,
            txn_thread,
            tasks,
            server,
            ..
        } = self;
        let joiner = tokio::task::spawn_blocking(move || {
            let _ = worker.join();
            if let Some(t) = txn_thread {
                let _ = t.join();
            }
        });
        let _ = tokio::time::timeout(timeout, joiner).await;
        for t in tasks {
            let _ = tokio::time::timeout(timeout, t).await;
        }
        if let Some(s) = server {
            s.abort();
        }
    }
}

/// The adaptive threshold's checkpoint from the state topic, read on a blocking thread (see
/// `state.rs`); `None` without an adaptive threshold or a state topic, or when the topic holds
/// none yet. An unreadable checkpoint is logged and the window starts empty.
async fn restore_checkpoint(config: &StageConfig) -> Result<Option<Arc<ThresholdCheckpoint>>> {
    let Some(topic) = config.state_topic.clone() else {
        if config.threshold == ThresholdMode::Adaptive {
            log::warn!(
                "adaptive threshold without a state topic: its window starts empty on every start"
            );
        }
        return Ok(None);
    };
    if config.threshold != ThresholdMode::Adaptive {
        return Ok(None);
    }
    let c = config.clone();
    let read = tokio::task::spawn_blocking(move || super::state::read_checkpoint(&c, &topic))
        .await
        .map_err(|e| Error::Internal(format!("reading the state topic: {e}")))?;
    match read {
        Ok(Some(checkpoint)) => {
            log::info!(
                "adaptive threshold resumes from a checkpoint of {} rows ({} seen in all)",
                checkpoint.len,
                checkpoint.rows_seen
            );
            Ok(Some(Arc::new(checkpoint)))
        }
        Ok(None) => Ok(None),
        Err(e @ Error::Config { .. }) => Err(e),
        Err(e) => {
            log::warn!("the threshold checkpoint cannot be used ({e}); the window starts empty");
            Ok(None)
        }
    }
}

/// Logs what the stage is about to do: topics, format, mode, guarantee, batching and model.
fn log_start(config: &StageConfig, model: Option<&ActiveModel>) {
    log::info!(
        "streaming {} → {} ({} {}, {}, batches of ≤{} / {:?}, model {})",
        config.input_topic,
        config.output_topic,
        config.format.name(),
        match config.mode {
            Mode::Score => "score",
            Mode::Encode => "encode",
        },
        if config.exactly_once {
            "exactly-once"
        } else {
            "at-least-once"
        },
        config.batch_size,
        config.linger,
        model.map_or("pass-through".to_string(), |m| m.tag.header().to_string()),
    );
}

/// A failed seek back to `offset` of `topic`/`partition`: the Kafka error, with what was being
/// done as context.
fn rewind_failed(e: rdkafka::error::KafkaError, topic: &str, partition: i32, offset: i64) -> Error {
    Error::from(e).context(format!(
        "rewinding {topic}/{partition} to offset {offset} after a failed batch"
    ))
}

/// The IO loop's state.
struct RunState<'a> {
    consumer: &'a StreamConsumer<StageContext>,
    config: &'a StageConfig,
    metrics: &'a Arc<Metrics>,
    settings: &'a WorkerSettings,
    epoch: &'a Epoch,
    seen_epoch: u64,
    seen_rebalances: u64,
    batcher: Batcher<InputMessage>,
    inflight: InFlight,
    next_id: u64,
    model: Option<Arc<ActiveModel>>,
    watcher: Option<ModelWatcher>,
    reload: Option<JoinHandle<Result<ActiveModel>>>,
    topic: Arc<str>,
    last_reload_check: Instant,
    last_summary: Instant,
    last_commit_check: Instant,
    previous: MetricsSnapshot,
    /// The live-error window's checkpoint after the last delivered batch.
    last_checkpoint: Option<Arc<ThresholdCheckpoint>>,
    /// A reset for the next batch cut (after a start, a rewind or a rebalance).
    pending_reset: Option<Reset>,
}

impl<'a> RunState<'a> {
    /// The state at the start: nothing gathered, nothing in flight.
    fn new(
        consumer: &'a StreamConsumer<StageContext>,
        config: &'a StageConfig,
        metrics: &'a Arc<Metrics>,
        settings: &'a WorkerSettings,
        epoch: &'a Epoch,
        model: Option<Arc<ActiveModel>>,
        watcher: Option<ModelWatcher>,
    ) -> Self {
        RunState {
            consumer,
            config,
            metrics,
            settings,
            epoch,
            seen_epoch: epoch.current(),
            seen_rebalances: epoch.rebalances(),
            batcher: Batcher::new(config.batch_size, config.linger),
            inflight: InFlight::new(),
            next_id: 0,
            model,
            watcher,
            reload: None,
            topic: Arc::from(config.input_topic.as_str()),
            last_reload_check: Instant::now(),
            last_summary: Instant::now(),
            last_commit_check: Instant::now(),
            previous: metrics.snapshot(),
            last_checkpoint: None,
            pending_reset: None,
        }
    }

    /// Receives messages, cuts and hands over batches, handles delivered and failed ones, and
    /// runs the timers, until `shutdown` resolves or the consumer's stream ends.
    async fn main_loop(
        &mut self,
        work_tx: &mpsc::Sender<Work>,
        done_rx: &mut mpsc::UnboundedReceiver<Done>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<()> {
        let consumer = self.consumer;
        let mut messages = consumer.stream();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        loop {
            self.check_rebalance();
            let now = Instant::now();
            let due = self.batcher.is_due(now);
            let deadline = self.batcher.deadline().unwrap_or(far);
            let reloading = self.reload.is_some();
            tokio::select! {
                biased;
                () = &mut shutdown => return Ok(()),
                Some(done) = done_rx.recv() => self.on_done(done, false)?,
                permit = work_tx.reserve(), if due => {
                    let permit = permit.map_err(|_| Error::Internal("the scoring thread stopped".into()))?;
                    if let Some(work) = self.cut_batch() {
                        permit.send(work);
                    }
                }
                received = messages.next(), if !self.batcher.is_full() => match received {
                    Some(Ok(m)) => self.on_message(&m),
                    Some(Err(e)) => log::warn!("consumer: {e}"),
                    None => return Ok(()),
                },
                () = tokio::time::sleep_until(deadline.into()), if !due && deadline < far => {}
                loaded = async {
                    match self.reload.as_mut() {
                        Some(h) => h.await,
                        None => std::future::pending().await,
                    }
                }, if reloading => {
                    self.reload = None;
                    self.on_reloaded(loaded);
                }
                _ = tick.tick() => self.on_tick()?,
            }
        }
    }

    fn on_message(&mut self, m: &BorrowedMessage<'_>) {
        self.check_rebalance();
        let now = Instant::now();
        Metrics::add(&self.metrics.messages_in, 1);
        self.batcher
            .push(InputMessage::from_borrowed(m, &self.topic, now), now);
    }

    /// After a rebalance, everything gathered or in flight is stale: the new assignment restarts
    /// every partition from its committed offset.
    fn check_rebalance(&mut self) {
        let rebalances = self.epoch.rebalances();
        if rebalances == self.seen_rebalances {
            return;
        }
        self.seen_rebalances = rebalances;
        self.seen_epoch = self.epoch.current();
        self.pending_reset = Some(self.last_checkpoint.clone());
        self.batcher.clear();
        self.inflight.clear();
        self.inflight.forget_delivered();
    }

    fn cut_batch(&mut self) -> Option<Work> {
        self.check_rebalance();
        if self.batcher.is_empty() {
            return None;
        }
        let messages = self.batcher.take();
        let offsets = super::offsets::BatchOffsets::of(&messages);
        let id = self.next_id;
        self.next_id += 1;
        self.inflight.push(InFlightBatch {
            id,
            offsets: offsets.clone(),
            first_received: messages[0].received_at,
            messages: messages.len(),
        });
        let group = if self.config.exactly_once {
            self.consumer.group_metadata()
        } else {
            None
        };
        Some(Work {
            id,
            epoch: self.seen_epoch,
            messages,
            model: self.model.clone(),
            group,
            offsets,
            reset: self.pending_reset.take(),
        })
    }

    fn on_done(&mut self, done: Done, shutting_down: bool) -> Result<()> {
        match done {
            Done::Delivered {
                id,
                epoch,
                checkpoint,
            } => {
                if epoch != self.seen_epoch {
                    return Ok(());
                }
                if checkpoint.is_some() {
                    self.last_checkpoint = checkpoint;
                }
                let batch = self.inflight.complete(id)?;
                if !self.config.exactly_once {
                    let tpl = batch.offsets.commit_list()?;
                    log::debug!(
                        "batch {id} delivered; committing {:?}",
                        batch.offsets.ranges
                    );
                    if let Err(e) = self.consumer.commit(&tpl, CommitMode::Async) {
                        Metrics::add(&self.metrics.commit_failures, 1);
                        log::debug!("offset commit failed (the next one covers it): {e}");
                    }
                }
                Metrics::add(&self.metrics.batches, 1);
                self.metrics.batch_size.observe(batch.messages as f64);
                self.metrics
                    .batch_latency
                    .observe(batch.first_received.elapsed().as_secs_f64());
            }
            Done::Failed { id, epoch, error } => {
                if epoch != self.seen_epoch {
                    return Ok(());
                }
                log::warn!("batch {id} was not delivered ({error}); re-reading it");
                log::debug!(
                    "rewinding to {:?}",
                    self.inflight.rewind_points(self.batcher.items())
                );
                Metrics::add(&self.metrics.rewinds, 1);
                if !shutting_down {
                    self.rewind()?;
                }
                self.seen_epoch = self.epoch.current();
                self.pending_reset = Some(self.last_checkpoint.clone());
                self.batcher.clear();
                self.inflight.clear();
            }
            Done::Fatal(e) => return Err(e),
        }
        Ok(())
    }

    /// Seeks every partition with undelivered messages back to its first one.
    fn rewind(&mut self) -> Result<()> {
        if self.epoch.rebalances() != self.seen_rebalances {
            // The new assignment restarts from committed offsets anyway.
            return Ok(());
        }
        for ((topic, partition), offset) in self.inflight.rewind_points(self.batcher.items()) {
            self.consumer
                .seek(
                    &topic,
                    partition,
                    Offset::Offset(offset),
                    Duration::from_secs(10),
                )
                .map_err(|e| rewind_failed(e, &topic, partition, offset))?;
        }
        Ok(())
    }

    fn on_tick(&mut self) -> Result<()> {
        let now = Instant::now();
        if self.reload.is_none()
            && now.duration_since(self.last_reload_check) >= self.config.reload_interval
        {
            self.last_reload_check = now;
            if let (Some(w), Some(current)) = (self.watcher.as_mut(), self.model.clone())
                && w.poll().is_some()
            {
                let path = w.path().to_path_buf();
                log::info!("model file {} changed; validating it", path.display());
                self.reload = Some(tokio::task::spawn_blocking(move || {
                    current.load_replacement(&path)
                }));
            }
        }
        if !self.config.exactly_once
            && now.duration_since(self.last_commit_check) >= RECOMMIT_INTERVAL
        {
            self.last_commit_check = now;
            self.recommit_unacknowledged()?;
        }
        if now.duration_since(self.last_summary) >= self.config.summary_interval {
            self.last_summary = now;
            log::info!("{}", self.metrics.summary_line(&self.previous));
            self.previous = self.metrics.snapshot();
            self.settings
                .log_budget
                .store(LOG_BUDGET, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Re-sends the delivered offsets the broker has not acknowledged. An async commit can be
    /// lost (a coordinator change, a request error) without a later one covering it when the
    /// input goes quiet; the committed offsets must still catch up with what was delivered.
    fn recommit_unacknowledged(&mut self) -> Result<()> {
        let context = self.consumer.context();
        let behind = self
            .inflight
            .delivered_positions()
            .any(|((topic, partition), next)| {
                context
                    .confirmed(topic, *partition)
                    .is_none_or(|acked| acked < next)
            });
        if !behind {
            return Ok(());
        }
        let tpl = self.inflight.delivered()?;
        log::debug!("re-sending the offset commit of delivered messages: {tpl:?}");
        if let Err(e) = self.consumer.commit(&tpl, CommitMode::Async) {
            Metrics::add(&self.metrics.commit_failures, 1);
            log::debug!("offset commit failed (tried again in {RECOMMIT_INTERVAL:?}): {e}");
        }
        Ok(())
    }

    fn on_reloaded(
        &mut self,
        loaded: std::result::Result<Result<ActiveModel>, tokio::task::JoinError>,
    ) {
        let path = self
            .watcher
            .as_ref()
            .map_or_else(String::new, |w| w.path().display().to_string());
        let current = self
            .model
            .as_ref()
            .map_or_else(String::new, |m| m.tag.header().to_string());
        match loaded {
            Ok(Ok(next)) => {
                Metrics::add(&self.metrics.model_reloads, 1);
                self.metrics.set_model(&next.tag.name, &next.tag.version);
                log::info!(
                    "model reloaded: {current} → {} (from {path})",
                    next.tag.header()
                );
                self.model = Some(Arc::new(next));
            }
            Ok(Err(e)) => {
                Metrics::add(&self.metrics.model_reload_failures, 1);
                log::warn!("refused the new model file {path}: {e}; keeping {current}");
            }
            Err(e) => {
                Metrics::add(&self.metrics.model_reload_failures, 1);
                log::warn!("validating the new model file {path} failed: {e}; keeping {current}");
            }
        }
    }

    /// Stops consuming, hands over what was gathered, waits for the batches in flight and commits
    /// what was delivered.
    async fn shut_down(
        &mut self,
        work_tx: mpsc::Sender<Work>,
        done_rx: &mut mpsc::UnboundedReceiver<Done>,
    ) -> Result<()> {
        let deadline = tokio::time::Instant::now() + self.config.shutdown_timeout;
        log::info!(
            "shutting down: finishing {} batch(es) in flight and {} gathered message(s)",
            self.inflight.len(),
            self.batcher.len()
        );
        self.check_rebalance();
        if !self.batcher.is_empty()
            && let Ok(Ok(permit)) = tokio::time::timeout_at(deadline, work_tx.reserve()).await
            && let Some(work) = self.cut_batch()
        {
            permit.send(work);
        }
        drop(work_tx);
        let mut result = Ok(());
        while !self.inflight.is_empty() {
            match tokio::time::timeout_at(deadline, done_rx.recv()).await {
                Ok(Some(Done::Fatal(e))) => {
                    result = Err(e);
                    break;
                }
                Ok(Some(done)) => {
                    let failed = matches!(done, Done::Failed { .. });
                    self.on_done(done, true)?;
                    if failed {
                        break;
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    log::warn!(
                        "{} batch(es) still in flight after {:?}; they will be read again on restart",
                        self.inflight.len(),
                        self.config.shutdown_timeout
                    );
                    break;
                }
            }
        }
        if !self.config.exactly_once {
            let delivered = self.inflight.delivered()?;
            if delivered.count() > 0
                && let Err(e) = self.consumer.commit(&delivered, CommitMode::Sync)
            {
                log::warn!("final offset commit failed: {e}; delivered messages may be read again");
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use rdkafka::error::KafkaError;

    use super::*;

    #[test]
    fn a_failed_rewind_is_the_kafka_error_with_what_was_being_done() {
        let e = rewind_failed(
            KafkaError::Seek("Local: Erroneous state".into()),
            "in",
            3,
            42,
        );
        let text = e.to_string();
        assert!(
            text.starts_with("rewinding in/3 to offset 42 after a failed batch: kafka: ")
                && text.contains("Erroneous state"),
            "{text}"
        );
        let cause = e.source().and_then(|c| c.downcast_ref::<Error>());
        assert!(
            matches!(cause, Some(Error::Kafka(KafkaError::Seek(_)))),
            "{e:?}"
        );
    }

    #[test]
    fn the_builder_names_its_settings_not_cli_flags() {
        let builder = || {
            StreamStage::builder()
                .brokers("localhost:1")
                .group_id("g")
                .input_topic("a")
                .output_topic("b")
        };
        let e = builder().build().unwrap_err();
        assert!(
            matches!(&e, Error::Config { option, .. } if option == "model"),
            "{e}"
        );
        let e = builder().pass_through().batch_size(0).build().unwrap_err();
        assert!(
            matches!(&e, Error::Config { option, .. } if option == "batch_size"),
            "{e}"
        );
        assert!(!e.to_string().contains("--"), "{e}");
    }
}
