//! Settings of a stage, and the librdkafka configurations derived from them.
//!
//! The stage sets what its guarantees depend on and refuses options that would break them:
//! offsets are committed by the stage after delivery (`enable.auto.commit` and
//! `enable.auto.offset.store` are off and cannot be turned on), partitions are assigned with an
//! eager protocol (a rebalance restarts every assigned partition from its committed offset, which
//! is what makes dropping in-flight batches on a rebalance safe), and the producer is idempotent.
//! `--kafka-option key=value` applies to both clients; `consumer.key=value` or `producer.key=value`
//! to one of them. Defaults the stage picks and you may override: `auto.offset.reset=earliest`,
//! `fetch.wait.max.ms=10`, `statistics.interval.ms=5000` (consumer lag), `isolation.level=read_committed`.

use std::net::SocketAddr;
use std::time::Duration;

use rdkafka::ClientConfig;

use super::decode::Format;
use super::encode::Mode;
use crate::error::{Error, Result};
use crate::model::{DEFAULT_PSI_ALERT, DEFAULT_WINDOW, MAX_WINDOW};

/// What each row's error is judged against (score mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ThresholdMode {
    /// The model's calibrated threshold (the model file's; today's behaviour).
    #[default]
    Fixed,
    /// `Q(q)` of the last `threshold_window` errors ([`crate::model::AdaptiveThreshold`]);
    /// outputs carry the `threshold` they were judged against.
    Adaptive,
}

/// Everything a stage is configured with, except the model.
#[derive(Debug, Clone)]
pub struct StageConfig {
    /// `host:port[,host:port…]`.
    pub brokers: String,
    /// Consumer group id.
    pub group_id: String,
    /// Topic to read.
    pub input_topic: String,
    /// Topic to write outputs to.
    pub output_topic: String,
    /// Topic for dead letters; `None`: refused messages are counted, logged and dropped.
    pub dlq_topic: Option<String>,
    /// Score or encode.
    pub mode: Mode,
    /// Payload format.
    pub format: Format,
    /// Messages per batch at most.
    pub batch_size: usize,
    /// Threads that decode, score and encode each batch together, each taking a share of its
    /// rows (default: the number of cores, at most 4).
    pub score_threads: usize,
    /// Longest wait after a batch's first message before it is cut.
    pub linger: Duration,
    /// One transaction per batch.
    pub exactly_once: bool,
    /// Transactional id (exactly-once); default `aeflow-<group>-<input topic>`.
    pub transactional_id: Option<String>,
    /// Extra librdkafka settings, `(key, value)`, keys optionally prefixed `consumer.` / `producer.`.
    pub kafka_options: Vec<(String, String)>,
    /// Where to serve Prometheus metrics.
    pub metrics_addr: Option<SocketAddr>,
    /// How often the model file is checked for changes.
    pub reload_interval: Duration,
    /// How often a summary line is logged.
    pub summary_interval: Duration,
    /// How long a shutdown waits for in-flight batches.
    pub shutdown_timeout: Duration,
    /// Fixed (default) or adaptive threshold.
    pub threshold: ThresholdMode,
    /// Rows of live errors kept for the adaptive threshold and the drift alarm
    /// (`1..=MAX_WINDOW`, default 10 000).
    pub threshold_window: usize,
    /// Quantile of the window that is the adaptive threshold; default `1 −` the model's
    /// contamination.
    pub threshold_quantile: Option<f64>,
    /// Topic holding the adaptive threshold's checkpoint (a compacted topic; one record per
    /// batch, keyed `aeflow.threshold/<group>/<input topic>`); without it the window starts empty
    /// on every start.
    pub state_topic: Option<String>,
    /// PSI of the live errors against the model's training errors above which drift is reported.
    pub drift_alert: f64,
    /// Topic for drift events (JSON), one each time the PSI crosses `drift_alert` either way.
    pub drift_topic: Option<String>,
}

/// The number of cores, at most 4 (the IO loop and librdkafka's threads need some too).
fn default_score_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

impl Default for StageConfig {
    fn default() -> Self {
        Self {
            brokers: String::new(),
            group_id: String::new(),
            input_topic: String::new(),
            output_topic: String::new(),
            dlq_topic: None,
            mode: Mode::Score,
            format: Format::Json,
            batch_size: 1000,
            score_threads: default_score_threads(),
            linger: Duration::from_millis(10),
            exactly_once: false,
            transactional_id: None,
            kafka_options: Vec::new(),
            metrics_addr: None,
            reload_interval: Duration::from_secs(1),
            summary_interval: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(30),
            threshold: ThresholdMode::Fixed,
            threshold_window: DEFAULT_WINDOW,
            threshold_quantile: None,
            state_topic: None,
            drift_alert: DEFAULT_PSI_ALERT,
            drift_topic: None,
        }
    }
}

/// Parses `key=value` (the `--kafka-option` syntax).
pub fn parse_kafka_option(s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(Error::config(
            "kafka_option",
            format!("expected key=value (e.g. session.timeout.ms=6000), got '{s}'"),
        )),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Client {
    Consumer,
    Producer,
}

impl StageConfig {
    /// Checks the settings; errors name the option by its field name (`batch_size`), which the
    /// CLI spells as its flag (`--batch-size`).
    pub fn validate(&self) -> Result<()> {
        let required = [
            ("brokers", &self.brokers),
            ("group_id", &self.group_id),
            ("input_topic", &self.input_topic),
            ("output_topic", &self.output_topic),
        ];
        for (option, value) in required {
            if value.trim().is_empty() {
                return Err(Error::config(option, "is required"));
            }
        }
        if self.batch_size == 0 || self.batch_size > 1_000_000 {
            return Err(Error::config(
                "batch_size",
                format!("expected 1 to 1000000 messages, got {}", self.batch_size),
            ));
        }
        if self.score_threads == 0 || self.score_threads > 64 {
            return Err(Error::config(
                "score_threads",
                format!("expected 1 to 64 threads, got {}", self.score_threads),
            ));
        }
        if self.linger > Duration::from_secs(3600) {
            return Err(Error::config("linger", "expected at most one hour"));
        }
        if self.output_topic == self.input_topic {
            return Err(Error::config(
                "output_topic",
                "must differ from `input_topic` (the stage would read its own outputs)",
            ));
        }
        if self.dlq_topic.as_deref() == Some(self.input_topic.as_str()) {
            return Err(Error::config("dlq_topic", "must differ from `input_topic`"));
        }
        self.validate_live()?;
        for (key, value) in &self.kafka_options {
            self.check_option(key, value)?;
        }
        Ok(())
    }

    /// The adaptive threshold's and the drift alarm's settings.
    fn validate_live(&self) -> Result<()> {
        if self.threshold_window == 0 || self.threshold_window > MAX_WINDOW {
            return Err(Error::config(
                "threshold_window",
                format!(
                    "expected 1 to {MAX_WINDOW} rows (16 bytes of state each), got {}",
                    self.threshold_window
                ),
            ));
        }
        if let Some(q) = self.threshold_quantile
            && !(q > 0.0 && q < 1.0)
        {
            return Err(Error::config(
                "threshold_quantile",
                format!("expected a quantile strictly between 0 and 1, got {q}"),
            ));
        }
        if !(self.drift_alert.is_finite() && self.drift_alert > 0.0) {
            return Err(Error::config(
                "drift_alert",
                format!(
                    "expected a PSI above 0 (0.2 by convention), got {}",
                    self.drift_alert
                ),
            ));
        }
        for (option, topic) in [
            ("state_topic", &self.state_topic),
            ("drift_topic", &self.drift_topic),
        ] {
            if let Some(t) = topic
                && (t == &self.input_topic || t == &self.output_topic)
            {
                return Err(Error::config(
                    option,
                    "must differ from `input_topic` and `output_topic`",
                ));
            }
        }
        Ok(())
    }

    /// The key of this stage's threshold checkpoints on the state topic.
    pub fn state_key(&self) -> String {
        format!("aeflow.threshold/{}/{}", self.group_id, self.input_topic)
    }

    fn check_option(&self, key: &str, value: &str) -> Result<()> {
        let bare = key
            .strip_prefix("consumer.")
            .or_else(|| key.strip_prefix("producer."))
            .unwrap_or(key);
        let refuse = |why: &str| {
            Err(Error::config(
                format!("kafka_option {key}"),
                why.to_string(),
            ))
        };
        match bare {
            "bootstrap.servers" => refuse("use `brokers`"),
            "group.id" => refuse("use `group_id`"),
            "enable.auto.commit" | "enable.auto.offset.store" if value != "false" => refuse(
                "the stage commits offsets itself, after every output of a batch is acknowledged",
            ),
            "partition.assignment.strategy" if value.contains("cooperative") => refuse(
                "cooperative rebalancing is not supported: the stage relies on an eager protocol \
                 restarting every assigned partition from its committed offset",
            ),
            "group.protocol" if value != "classic" => refuse(
                "only the classic group protocol is supported (see partition.assignment.strategy)",
            ),
            "enable.idempotence" if value != "true" => refuse(
                "the stage's producer must be idempotent (ordering and no duplicates on retry)",
            ),
            "transactional.id" if !self.exactly_once => refuse("only with `exactly_once`"),
            _ => Ok(()),
        }
    }

    /// The transactional id used with exactly-once delivery.
    pub fn transactional_id(&self) -> String {
        if let Some(id) = &self.transactional_id {
            return id.clone();
        }
        for (k, v) in &self.kafka_options {
            if k == "transactional.id" || k == "producer.transactional.id" {
                return v.clone();
            }
        }
        format!("aeflow-{}-{}", self.group_id, self.input_topic)
    }

    /// The consumer's configuration.
    pub fn consumer_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            .set("partition.assignment.strategy", "range,roundrobin")
            .set("fetch.wait.max.ms", "10")
            .set("statistics.interval.ms", "5000");
        self.apply_options(&mut c, Client::Consumer);
        c
    }

    /// The producer's configuration.
    pub fn producer_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("enable.idempotence", "true");
        self.apply_options(&mut c, Client::Producer);
        if self.exactly_once {
            c.set("transactional.id", self.transactional_id());
        }
        c
    }

    fn apply_options(&self, c: &mut ClientConfig, client: Client) {
        for (key, value) in &self.kafka_options {
            let (target, bare) = if let Some(k) = key.strip_prefix("consumer.") {
                (Some(Client::Consumer), k)
            } else if let Some(k) = key.strip_prefix("producer.") {
                (Some(Client::Producer), k)
            } else {
                (None, key.as_str())
            };
            if target.is_none_or(|t| t == client) && !is_client_specific_elsewhere(bare, client) {
                c.set(bare, value);
            }
        }
    }
}

/// Options that only make sense for the other client are not passed to this one (librdkafka
/// would warn about them on every start).
fn is_client_specific_elsewhere(key: &str, client: Client) -> bool {
    const CONSUMER_ONLY: &[&str] = &[
        "session.timeout.ms",
        "heartbeat.interval.ms",
        "max.poll.interval.ms",
        "auto.offset.reset",
        "isolation.level",
        "fetch.wait.max.ms",
        "fetch.min.bytes",
        "fetch.max.bytes",
        "max.partition.fetch.bytes",
        "queued.min.messages",
        "queued.max.messages.kbytes",
        "partition.assignment.strategy",
        "group.instance.id",
        "group.protocol",
        "check.crcs",
    ];
    const PRODUCER_ONLY: &[&str] = &[
        "linger.ms",
        "queue.buffering.max.ms",
        "queue.buffering.max.messages",
        "queue.buffering.max.kbytes",
        "batch.num.messages",
        "batch.size",
        "compression.type",
        "compression.codec",
        "acks",
        "request.required.acks",
        "message.timeout.ms",
        "delivery.timeout.ms",
        "transaction.timeout.ms",
        "transactional.id",
        "enable.idempotence",
        "retries",
        "retry.backoff.ms",
        "max.in.flight",
        "max.in.flight.requests.per.connection",
    ];
    match client {
        Client::Consumer => PRODUCER_ONLY.contains(&key),
        Client::Producer => CONSUMER_ONLY.contains(&key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> StageConfig {
        StageConfig {
            brokers: "localhost:9092".into(),
            group_id: "g".into(),
            input_topic: "in".into(),
            output_topic: "out".into(),
            ..StageConfig::default()
        }
    }

    #[test]
    fn options_are_parsed_and_routed() {
        assert_eq!(
            parse_kafka_option(" session.timeout.ms = 6000").unwrap(),
            ("session.timeout.ms".into(), "6000".into())
        );
        assert!(parse_kafka_option("novalue").is_err());
        assert!(parse_kafka_option("=x").is_err());
        let mut c = config();
        c.kafka_options = vec![
            ("session.timeout.ms".into(), "6000".into()),
            ("linger.ms".into(), "20".into()),
            ("producer.client.id".into(), "p".into()),
            ("client.id".into(), "both".into()),
        ];
        c.validate().unwrap();
        let consumer = c.consumer_config();
        let producer = c.producer_config();
        assert_eq!(consumer.get("session.timeout.ms"), Some("6000"));
        assert_eq!(consumer.get("linger.ms"), None);
        assert_eq!(producer.get("linger.ms"), Some("20"));
        assert_eq!(producer.get("session.timeout.ms"), None);
        assert_eq!(producer.get("client.id"), Some("both"));
        assert_eq!(consumer.get("enable.auto.commit"), Some("false"));
        assert_eq!(producer.get("enable.idempotence"), Some("true"));
        assert_eq!(producer.get("transactional.id"), None);
    }

    #[test]
    fn options_that_break_guarantees_are_refused() {
        for (k, v) in [
            ("enable.auto.commit", "true"),
            ("consumer.enable.auto.offset.store", "true"),
            ("partition.assignment.strategy", "cooperative-sticky"),
            ("enable.idempotence", "false"),
            ("group.id", "x"),
            ("transactional.id", "t"),
        ] {
            let mut c = config();
            c.kafka_options = vec![(k.into(), v.into())];
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(k), "{e}");
        }
    }

    #[test]
    fn live_error_settings_are_checked_by_name() {
        let refused = |c: StageConfig, option: &str| {
            let e = c.validate().unwrap_err();
            assert!(
                matches!(&e, Error::Config { option: o, .. } if o == option),
                "{e}"
            );
        };
        for window in [0, MAX_WINDOW + 1] {
            let mut c = config();
            c.threshold_window = window;
            refused(c, "threshold_window");
        }
        for q in [0.0, 1.0, f64::NAN] {
            let mut c = config();
            c.threshold_quantile = Some(q);
            refused(c, "threshold_quantile");
        }
        let mut c = config();
        c.drift_alert = -1.0;
        refused(c, "drift_alert");
        let mut c = config();
        c.state_topic = Some("in".into());
        refused(c, "state_topic");
        let mut c = config();
        c.drift_topic = Some(c.output_topic.clone());
        refused(c, "drift_topic");
        assert_eq!(config().state_key(), "aeflow.threshold/g/in");
    }

    #[test]
    fn required_settings_and_topics() {
        // Errors name the settings as a library caller knows them, not as CLI flags.
        let refused = |c: StageConfig, option: &str| {
            let e = c.validate().unwrap_err();
            let text = e.to_string();
            assert!(
                matches!(&e, Error::Config { option: o, .. } if o == option)
                    && !text.contains("--"),
                "{text}"
            );
        };
        let mut c = config();
        c.output_topic = "in".into();
        refused(c, "output_topic");
        let mut c = config();
        c.brokers.clear();
        refused(c, "brokers");
        let mut c = config();
        c.batch_size = 0;
        refused(c, "batch_size");
        let mut c = config();
        c.score_threads = 0;
        refused(c, "score_threads");
        let mut c = config();
        c.linger = Duration::from_secs(7200);
        refused(c, "linger");
        let mut c = config();
        c.exactly_once = true;
        assert_eq!(c.transactional_id(), "aeflow-g-in");
        assert_eq!(
            c.producer_config().get("transactional.id"),
            Some("aeflow-g-in")
        );
    }
}
