//! Counters, histograms and gauges of a running stage, rendered in the Prometheus text format
//! (served by [`super::http`]) and as a one-line log summary.
//!
//! | metric                                          | type      | meaning                                  |
//! |-------------------------------------------------|-----------|------------------------------------------|
//! | `aeflow_stream_messages_in_total`               | counter   | messages consumed                        |
//! | `aeflow_stream_messages_out_total`              | counter   | outputs acknowledged by the broker       |
//! | `aeflow_stream_messages_dead_lettered_total`    | counter   | dead letters acknowledged by the broker  |
//! | `aeflow_stream_messages_rejected_total{reason}` | counter   | messages refused, by reason (with or without a DLQ) |
//! | `aeflow_stream_batches_total`                   | counter   | batches delivered (and committed)        |
//! | `aeflow_stream_batch_size`                      | histogram | messages per delivered batch             |
//! | `aeflow_stream_batch_latency_seconds`           | histogram | first message received → batch committed |
//! | `aeflow_stream_consumer_lag{topic,partition}`   | gauge     | high watermark − committed offset (librdkafka statistics) |
//! | `aeflow_stream_transactions_total{outcome}`     | counter   | exactly-once transactions committed / aborted |
//! | `aeflow_stream_rewinds_total`                   | counter   | failed batches re-read                   |
//! | `aeflow_stream_producer_queue_full_total`       | counter   | waits on a full producer queue (backpressure) |
//! | `aeflow_stream_model_reloads_total{outcome}`    | counter   | model files taken / refused              |
//! | `aeflow_stream_model_info{name,version}`        | gauge     | 1 for the model in use                   |
//! | `aeflow_stream_threshold`                       | gauge     | threshold the last batch was judged against (fixed or adaptive) |
//! | `aeflow_stream_score_drift`                     | gauge     | PSI of the last `threshold_window` errors vs the training errors (NaN until the window is full) |
//! | `aeflow_stream_feature_drift{feature}`          | gauge     | \|window mean − training mean\| / training spread (scaler's `fill`, `scale`) |
//! | `aeflow_stream_drift_alerts_total`              | counter   | times that PSI crossed `drift_alert` upwards |

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::dead_letter::RejectReason;

const SIZE_BUCKETS: &[f64] = &[
    1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A Prometheus histogram with fixed bucket bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One count per bound, then +Inf (not cumulative).
    counts: Vec<AtomicU64>,
    sum_bits: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_bits: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// Records one observation.
    pub fn observe(&self, v: f64) {
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + v).to_bits())
            });
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// Sum of observations.
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.sum_bits.load(Ordering::Relaxed))
    }

    /// The upper bound of the bucket holding quantile `q` (an over-estimate; `None` when empty
    /// or beyond the last bound).
    pub fn quantile_bound(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let target = (q * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c.load(Ordering::Relaxed);
            if seen >= target {
                return self.bounds.get(i).copied();
            }
        }
        None
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, b) in self.bounds.iter().enumerate() {
            cumulative += self.counts[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
        }
        cumulative += self.counts[self.bounds.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(out, "{name}_sum {}", self.sum());
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

/// All metrics of one stage. Shared (`Arc`) between the run loop, the worker, the producer side
/// and the HTTP endpoint.
#[derive(Debug)]
pub struct Metrics {
    /// Messages consumed.
    pub messages_in: AtomicU64,
    /// Outputs acknowledged.
    pub messages_out: AtomicU64,
    /// Dead letters acknowledged.
    pub dead_lettered: AtomicU64,
    rejected: [AtomicU64; RejectReason::ALL.len()],
    /// Batches delivered.
    pub batches: AtomicU64,
    /// Messages per delivered batch.
    pub batch_size: Histogram,
    /// Seconds from a batch's first message to its commit.
    pub batch_latency: Histogram,
    /// Transactions committed.
    pub transactions_committed: AtomicU64,
    /// Transactions aborted.
    pub transactions_aborted: AtomicU64,
    /// Failed batches re-read.
    pub rewinds: AtomicU64,
    /// Waits on a full producer queue.
    pub producer_queue_full: AtomicU64,
    /// Model files taken.
    pub model_reloads: AtomicU64,
    /// Model files refused.
    pub model_reload_failures: AtomicU64,
    /// Offset commits that failed (at-least-once; the next commit covers them).
    pub commit_failures: AtomicU64,
    /// The threshold the last batch was judged against (`f64` bits; NaN: none).
    pub threshold: AtomicU64,
    /// PSI of the window of live errors against the training errors (`f64` bits; NaN until the
    /// window is full).
    pub score_drift: AtomicU64,
    /// Times the PSI crossed the alert level upwards.
    pub drift_alerts: AtomicU64,
    feature_drift: Mutex<Vec<(String, f64)>>,
    model: Mutex<(String, String)>,
    lag: Mutex<BTreeMap<(String, i32), i64>>,
    started: Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Plain numbers of a moment, for tests, benches and the log line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// Messages consumed.
    pub messages_in: u64,
    /// Outputs acknowledged.
    pub messages_out: u64,
    /// Dead letters acknowledged.
    pub dead_lettered: u64,
    /// Messages refused (dead-lettered or dropped).
    pub rejected: u64,
    /// Refusals by reason code.
    pub rejected_by_reason: BTreeMap<&'static str, u64>,
    /// Batches delivered.
    pub batches: u64,
    /// Transactions committed.
    pub transactions_committed: u64,
    /// Transactions aborted.
    pub transactions_aborted: u64,
    /// Failed batches re-read.
    pub rewinds: u64,
    /// Model files taken.
    pub model_reloads: u64,
    /// Model files refused.
    pub model_reload_failures: u64,
    /// `name@version` of the model in use.
    pub model: String,
    /// The threshold the last batch was judged against (NaN: none yet).
    pub threshold: f64,
    /// PSI of the live errors against the training errors (NaN until the window is full).
    pub score_drift: f64,
    /// Times the PSI crossed the alert level upwards.
    pub drift_alerts: u64,
    /// Per feature, `|window mean − training mean| / training spread` (empty until the window
    /// is full).
    pub feature_drift: Vec<(String, f64)>,
    /// Total consumer lag over partitions (messages).
    pub lag: i64,
    /// Seconds since the stage was created.
    pub uptime: Duration,
}

impl Metrics {
    /// All zero.
    pub fn new() -> Self {
        Self {
            messages_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            rejected: std::array::from_fn(|_| AtomicU64::new(0)),
            batches: AtomicU64::new(0),
            batch_size: Histogram::new(SIZE_BUCKETS),
            batch_latency: Histogram::new(LATENCY_BUCKETS),
            transactions_committed: AtomicU64::new(0),
            transactions_aborted: AtomicU64::new(0),
            rewinds: AtomicU64::new(0),
            producer_queue_full: AtomicU64::new(0),
            model_reloads: AtomicU64::new(0),
            model_reload_failures: AtomicU64::new(0),
            commit_failures: AtomicU64::new(0),
            threshold: AtomicU64::new(f64::NAN.to_bits()),
            score_drift: AtomicU64::new(f64::NAN.to_bits()),
            drift_alerts: AtomicU64::new(0),
            feature_drift: Mutex::new(Vec::new()),
            model: Mutex::new((String::new(), String::new())),
            lag: Mutex::new(BTreeMap::new()),
            started: Instant::now(),
        }
    }

    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets a gauge held as `f64` bits.
    pub fn set_gauge(gauge: &AtomicU64, v: f64) {
        gauge.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Reads a gauge held as `f64` bits.
    pub fn gauge(gauge: &AtomicU64) -> f64 {
        f64::from_bits(gauge.load(Ordering::Relaxed))
    }

    /// Sets the per-feature drift gauges.
    pub fn set_feature_drift(&self, names: &[String], values: &[f64]) {
        let mut d = self.feature_drift.lock().unwrap_or_else(|p| p.into_inner());
        d.clear();
        d.extend(names.iter().cloned().zip(values.iter().copied()));
    }

    /// Counts a refused message.
    pub fn reject(&self, reason: RejectReason) {
        self.rejected[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the model in use.
    pub fn set_model(&self, name: &str, version: &str) {
        *self.model.lock().unwrap_or_else(|p| p.into_inner()) = (name.into(), version.into());
    }

    /// Replaces the consumer lag of the partitions in `lags`.
    pub fn set_lag(&self, lags: impl IntoIterator<Item = ((String, i32), i64)>) {
        let mut lag = self.lag.lock().unwrap_or_else(|p| p.into_inner());
        lag.clear();
        lag.extend(lags);
    }

    /// The numbers now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let rejected_by_reason: BTreeMap<&'static str, u64> = RejectReason::ALL
            .iter()
            .map(|r| (r.code(), get(&self.rejected[r.index()])))
            .filter(|(_, n)| *n > 0)
            .collect();
        let (name, version) = self.model.lock().unwrap_or_else(|p| p.into_inner()).clone();
        MetricsSnapshot {
            messages_in: get(&self.messages_in),
            messages_out: get(&self.messages_out),
            dead_lettered: get(&self.dead_lettered),
            rejected: rejected_by_reason.values().sum(),
            rejected_by_reason,
            batches: get(&self.batches),
            transactions_committed: get(&self.transactions_committed),
            transactions_aborted: get(&self.transactions_aborted),
            rewinds: get(&self.rewinds),
            model_reloads: get(&self.model_reloads),
            model_reload_failures: get(&self.model_reload_failures),
            model: format!("{name}@{version}"),
            threshold: Self::gauge(&self.threshold),
            score_drift: Self::gauge(&self.score_drift),
            drift_alerts: get(&self.drift_alerts),
            feature_drift: self
                .feature_drift
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            lag: self
                .lag
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .filter(|l| **l > 0)
                .sum(),
            uptime: self.started.elapsed(),
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render_prometheus(&self) -> String {
        let mut out = String::with_capacity(4096);
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        counter(
            &mut out,
            "aeflow_stream_messages_in_total",
            "Messages consumed.",
            get(&self.messages_in),
        );
        counter(
            &mut out,
            "aeflow_stream_messages_out_total",
            "Outputs acknowledged by the broker.",
            get(&self.messages_out),
        );
        counter(
            &mut out,
            "aeflow_stream_messages_dead_lettered_total",
            "Dead letters acknowledged by the broker.",
            get(&self.dead_lettered),
        );
        let name = "aeflow_stream_messages_rejected_total";
        let _ = writeln!(
            out,
            "# HELP {name} Messages refused (dead-lettered or dropped), by reason.\n# TYPE {name} counter"
        );
        for r in RejectReason::ALL {
            let _ = writeln!(
                out,
                "{name}{{reason=\"{}\"}} {}",
                r.code(),
                get(&self.rejected[r.index()])
            );
        }
        counter(
            &mut out,
            "aeflow_stream_batches_total",
            "Batches delivered.",
            get(&self.batches),
        );
        self.batch_size.render(
            &mut out,
            "aeflow_stream_batch_size",
            "Messages per delivered batch.",
        );
        self.batch_latency.render(
            &mut out,
            "aeflow_stream_batch_latency_seconds",
            "Seconds from a batch's first message received to its commit.",
        );
        let name = "aeflow_stream_consumer_lag";
        let _ = writeln!(
            out,
            "# HELP {name} High watermark minus committed offset.\n# TYPE {name} gauge"
        );
        for ((topic, partition), lag) in self.lag.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(
                out,
                "{name}{{topic=\"{}\",partition=\"{partition}\"}} {lag}",
                escape_label(topic)
            );
        }
        let name = "aeflow_stream_transactions_total";
        let _ = writeln!(
            out,
            "# HELP {name} Exactly-once transactions by outcome.\n# TYPE {name} counter\n\
             {name}{{outcome=\"committed\"}} {}\n{name}{{outcome=\"aborted\"}} {}",
            get(&self.transactions_committed),
            get(&self.transactions_aborted)
        );
        counter(
            &mut out,
            "aeflow_stream_rewinds_total",
            "Failed batches re-read.",
            get(&self.rewinds),
        );
        counter(
            &mut out,
            "aeflow_stream_producer_queue_full_total",
            "Waits on a full producer queue.",
            get(&self.producer_queue_full),
        );
        let name = "aeflow_stream_model_reloads_total";
        let _ = writeln!(
            out,
            "# HELP {name} Model files taken or refused.\n# TYPE {name} counter\n\
             {name}{{outcome=\"taken\"}} {}\n{name}{{outcome=\"refused\"}} {}",
            get(&self.model_reloads),
            get(&self.model_reload_failures)
        );
        self.render_live(&mut out);
        let (model, version) = self.model.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let name = "aeflow_stream_model_info";
        let _ = writeln!(
            out,
            "# HELP {name} The model in use.\n# TYPE {name} gauge\n{name}{{name=\"{}\",version=\"{}\"}} 1",
            escape_label(&model),
            escape_label(&version)
        );
        out
    }

    /// The threshold and drift gauges and the drift alert counter.
    fn render_live(&self, out: &mut String) {
        for (name, help, gauge) in [
            (
                "aeflow_stream_threshold",
                "The threshold the last batch was judged against.",
                &self.threshold,
            ),
            (
                "aeflow_stream_score_drift",
                "PSI of the window of live reconstruction errors against the training errors.",
                &self.score_drift,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}",
                prometheus_f64(Self::gauge(gauge))
            );
        }
        let name = "aeflow_stream_feature_drift";
        let _ = writeln!(
            out,
            "# HELP {name} |window mean - training mean| / training spread, per feature.\n\
             # TYPE {name} gauge"
        );
        for (feature, v) in self
            .feature_drift
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "{name}{{feature=\"{}\"}} {}",
                escape_label(feature),
                prometheus_f64(*v)
            );
        }
        let name = "aeflow_stream_drift_alerts_total";
        let _ = writeln!(
            out,
            "# HELP {name} Times the score drift crossed the alert level upwards.\n\
             # TYPE {name} counter\n{name} {}",
            self.drift_alerts.load(Ordering::Relaxed)
        );
    }

    /// One log line: totals, rates since `previous`, batch size and latency, lag, model.
    pub fn summary_line(&self, previous: &MetricsSnapshot) -> String {
        let now = self.snapshot();
        let secs = (now.uptime - previous.uptime).as_secs_f64().max(1e-9);
        let rate = (now.messages_in - previous.messages_in) as f64 / secs;
        let batches = self.batch_size.count();
        let avg = if batches > 0 {
            self.batch_size.sum() / batches as f64
        } else {
            0.0
        };
        let ms = |q: f64| {
            self.batch_latency
                .quantile_bound(q)
                .map_or("-".to_string(), |s| format!("≤{}ms", s * 1000.0))
        };
        format!(
            "stream: in {} ({rate:.0}/s) out {} dlq {} rejected {} | batches {} avg {avg:.1} \
             latency p50 {} p99 {} | lag {} | txn {}/{} aborted | rewinds {} | model {}",
            now.messages_in,
            now.messages_out,
            now.dead_lettered,
            now.rejected,
            now.batches,
            ms(0.5),
            ms(0.99),
            now.lag,
            now.transactions_aborted,
            now.transactions_committed + now.transactions_aborted,
            now.rewinds,
            now.model
        )
    }
}

/// A gauge value in the exposition format (`NaN`, `+Inf`, `-Inf` spelled as Prometheus reads them).
fn prometheus_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_in_the_text() {
        let m = Metrics::new();
        m.batch_size.observe(1.0);
        m.batch_size.observe(70.0);
        m.batch_size.observe(1e9);
        let text = m.render_prometheus();
        assert!(text.contains("aeflow_stream_batch_size_bucket{le=\"1\"} 1"));
        assert!(text.contains("aeflow_stream_batch_size_bucket{le=\"100\"} 2"));
        assert!(text.contains("aeflow_stream_batch_size_bucket{le=\"+Inf\"} 3"));
        assert!(text.contains("aeflow_stream_batch_size_count 3"));
        assert_eq!(m.batch_size.quantile_bound(0.5), Some(100.0));
        assert_eq!(m.batch_size.quantile_bound(1.0), None);
    }

    #[test]
    fn snapshot_and_text_agree() {
        let m = Metrics::new();
        Metrics::add(&m.messages_in, 5);
        m.reject(RejectReason::BadJson);
        m.reject(RejectReason::BadJson);
        m.set_model("m\"x", "v1");
        m.set_lag([(("t".to_string(), 0), 7), (("t".to_string(), 1), -1)]);
        let s = m.snapshot();
        assert_eq!(s.messages_in, 5);
        assert_eq!(s.rejected, 2);
        assert_eq!(s.rejected_by_reason["bad_json"], 2);
        assert_eq!(s.lag, 7);
        let text = m.render_prometheus();
        assert!(text.contains("aeflow_stream_messages_rejected_total{reason=\"bad_json\"} 2"));
        assert!(text.contains("aeflow_stream_consumer_lag{topic=\"t\",partition=\"0\"} 7"));
        assert!(text.contains("aeflow_stream_model_info{name=\"m\\\"x\",version=\"v1\"} 1"));
        assert!(m.summary_line(&MetricsSnapshot::default()).contains("in 5"));
    }

    #[test]
    fn drift_gauges_are_nan_until_set_and_rendered_per_feature() {
        let m = Metrics::new();
        let text = m.render_prometheus();
        assert!(text.contains("\naeflow_stream_score_drift NaN\n"), "{text}");
        assert!(text.contains("\naeflow_stream_threshold NaN\n"), "{text}");
        Metrics::set_gauge(&m.score_drift, 0.25);
        Metrics::set_gauge(&m.threshold, 1.5);
        Metrics::add(&m.drift_alerts, 1);
        m.set_feature_drift(&["a".to_string(), "b".to_string()], &[0.5, f64::INFINITY]);
        let text = m.render_prometheus();
        for line in [
            "aeflow_stream_score_drift 0.25",
            "aeflow_stream_threshold 1.5",
            "aeflow_stream_drift_alerts_total 1",
            "aeflow_stream_feature_drift{feature=\"a\"} 0.5",
            "aeflow_stream_feature_drift{feature=\"b\"} +Inf",
        ] {
            assert!(text.contains(&format!("\n{line}\n")), "{line} in {text}");
        }
        let s = m.snapshot();
        assert_eq!((s.score_drift, s.threshold, s.drift_alerts), (0.25, 1.5, 1));
        assert_eq!(s.feature_drift[0], ("a".to_string(), 0.5));
    }
}
