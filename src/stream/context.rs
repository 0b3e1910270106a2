//! The consumer's librdkafka callbacks: statistics → consumer-lag gauge, rebalances → a new epoch,
//! commit results → a failure counter and the offsets the broker confirmed (so the run loop can
//! re-send a commit that was lost; see `stage`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::statistics::Statistics;
use rdkafka::{Offset, TopicPartitionList};

use super::epoch::Epoch;
use super::metrics::Metrics;

/// How long a revocation waits for a transaction in progress.
const REVOKE_WAIT: Duration = Duration::from_secs(60);

/// Context of the stage's consumer.
pub struct StageContext {
    metrics: Arc<Metrics>,
    epoch: Arc<Epoch>,
    exactly_once: bool,
    /// `(topic, partition) → offset` of the last commit the broker acknowledged.
    confirmed: Mutex<BTreeMap<(String, i32), i64>>,
}

impl StageContext {
    /// A context reporting into `metrics` and moving `epoch` on rebalances.
    pub fn new(metrics: Arc<Metrics>, epoch: Arc<Epoch>, exactly_once: bool) -> Self {
        Self {
            metrics,
            epoch,
            exactly_once,
            confirmed: Mutex::new(BTreeMap::new()),
        }
    }

    /// The offset of the last commit the broker acknowledged for `topic`/`partition`, if any.
    pub fn confirmed(&self, topic: &str, partition: i32) -> Option<i64> {
        self.confirmed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(topic.to_string(), partition))
            .copied()
    }
}

impl ClientContext for StageContext {
    fn stats(&self, statistics: Statistics) {
        let lags = statistics.topics.iter().flat_map(|(topic, t)| {
            t.partitions
                .iter()
                .filter(|(p, part)| **p >= 0 && part.consumer_lag >= 0)
                .map(move |(p, part)| ((topic.clone(), *p), part.consumer_lag))
        });
        self.metrics.set_lag(lags.collect::<Vec<_>>());
    }
}

impl ConsumerContext for StageContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let (what, tpl) = match rebalance {
            Rebalance::Assign(tpl) => ("assigned", Some(*tpl)),
            Rebalance::Revoke(tpl) => ("revoked", Some(*tpl)),
            Rebalance::Error(e) => {
                log::warn!("rebalance error: {e}");
                ("error", None)
            }
        };
        if let Some(tpl) = tpl {
            log::info!("partitions {what}: {}", describe(tpl));
        }
        self.epoch.rebalance();
        // Positions acknowledged under the old assignment say nothing about the new one.
        self.confirmed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        if self.exactly_once && !self.epoch.wait_idle(REVOKE_WAIT) {
            log::warn!("a transaction was still running {REVOKE_WAIT:?} after the rebalance began");
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        if let Err(e) = result {
            Metrics::add(&self.metrics.commit_failures, 1);
            log::debug!("offset commit failed (re-sent by the run loop): {e}");
            return;
        }
        let mut confirmed = self.confirmed.lock().unwrap_or_else(|p| p.into_inner());
        for e in offsets.elements() {
            if let (Ok(()), Offset::Offset(o)) = (e.error(), e.offset()) {
                let entry = confirmed
                    .entry((e.topic().to_string(), e.partition()))
                    .or_insert(o);
                *entry = (*entry).max(o);
            } else if let Err(err) = e.error() {
                Metrics::add(&self.metrics.commit_failures, 1);
                log::debug!(
                    "offset commit of {}/{} failed (re-sent by the run loop): {err}",
                    e.topic(),
                    e.partition()
                );
            }
        }
    }
}

fn describe(tpl: &TopicPartitionList) -> String {
    let parts: Vec<String> = tpl
        .elements()
        .iter()
        .map(|e| format!("{}/{}", e.topic(), e.partition()))
        .collect();
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(", ")
    }
}
