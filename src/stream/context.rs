//! The consumer's librdkafka callbacks: statistics → consumer-lag gauge, rebalances → a new epoch,
//! commit results → a failure counter.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::TopicPartitionList;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::statistics::Statistics;

use super::epoch::Epoch;
use super::metrics::Metrics;

/// How long a revocation waits for a transaction in progress.
const REVOKE_WAIT: Duration = Duration::from_secs(60);

/// Context of the stage's consumer.
pub struct StageContext {
    metrics: Arc<Metrics>,
    epoch: Arc<Epoch>,
    exactly_once: bool,
}

impl StageContext {
    /// A context reporting into `metrics` and moving `epoch` on rebalances.
    pub fn new(metrics: Arc<Metrics>, epoch: Arc<Epoch>, exactly_once: bool) -> Self {
        Self {
            metrics,
            epoch,
            exactly_once,
        }
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
        if self.exactly_once && !self.epoch.wait_idle(REVOKE_WAIT) {
            log::warn!("a transaction was still running {REVOKE_WAIT:?} after the rebalance began");
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            Metrics::add(&self.metrics.commit_failures, 1);
            log::debug!("offset commit failed (the next commit covers it): {e}");
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
