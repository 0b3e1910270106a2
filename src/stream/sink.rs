//! At-least-once producing: enqueue every record of a batch, then wait for every acknowledgement,
//! then report the batch delivered (and only then does the run loop commit its offsets).
//!
//! Two tasks, so that batch n+1 is being enqueued while batch n's acknowledgements are awaited:
//! the *producer* task enqueues, the *acker* task awaits in batch order. A full librdkafka queue
//! makes the producer task wait and retry (backpressure reaches the consumer through the bounded
//! channels). A batch whose delivery fails (librdkafka gave up after its own retries, i.e. after
//! `message.timeout.ms`) moves the epoch: later batches are skipped and the run loop rewinds. The
//! records of a failed batch that did get through are sent again: duplicates, never loss.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use tokio::sync::mpsc;

use super::epoch::Epoch;
use super::message::OutputRecord;
use super::metrics::Metrics;
use super::worker::Processed;
use crate::error::Error;
use crate::model::ThresholdCheckpoint;

/// How a batch ended, reported to the run loop in batch order.
#[derive(Debug)]
pub enum Done {
    /// Every record acknowledged (at-least-once) or the transaction committed (exactly-once).
    Delivered {
        /// Batch id.
        id: u64,
        /// Its epoch.
        epoch: u64,
        /// The live-error window's checkpoint after it (adaptive threshold).
        checkpoint: Option<Arc<ThresholdCheckpoint>>,
    },
    /// The batch did not go through; the epoch has moved on.
    Failed {
        /// Batch id.
        id: u64,
        /// Its epoch.
        epoch: u64,
        /// Why.
        error: String,
    },
    /// The producer cannot go on (fenced, fatal idempotence error): the stage stops.
    Fatal(Error),
}

/// How long to wait before retrying a full producer queue.
pub const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(1);

/// The librdkafka record for `r`.
pub fn future_record(r: &OutputRecord) -> FutureRecord<'_, [u8], [u8]> {
    let mut rec = FutureRecord::<[u8], [u8]>::to(&r.topic);
    if let Some(k) = &r.key {
        rec = rec.key(k.as_slice());
    }
    if let Some(p) = &r.payload {
        rec = rec.payload(p.as_slice());
    }
    if let Some(h) = r.owned_headers() {
        rec = rec.headers(h);
    }
    if let Some(ts) = r.timestamp_ms {
        rec = rec.timestamp(ts);
    }
    rec
}

/// `true` for the error of a full producer queue.
pub fn is_queue_full(e: &KafkaError) -> bool {
    matches!(
        e,
        KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
    )
}

/// `true` for errors about this one record (too large for the broker), which no retry fixes.
pub fn is_record_error(e: &KafkaError) -> bool {
    matches!(
        e,
        KafkaError::MessageProduction(
            RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize
        )
    )
}

/// Enqueues one record, waiting while the queue is full. `Ok(None)`: the record itself is
/// unacceptable to Kafka (logged and counted; it cannot be delivered by retrying).
async fn enqueue(
    producer: &FutureProducer,
    r: &OutputRecord,
    metrics: &Metrics,
) -> Result<Option<DeliveryFuture>, KafkaError> {
    let mut rec = future_record(r);
    loop {
        match producer.send_result(rec) {
            Ok(f) => return Ok(Some(f)),
            Err((e, back)) if is_queue_full(&e) => {
                Metrics::add(&metrics.producer_queue_full, 1);
                rec = back;
                tokio::time::sleep(QUEUE_FULL_BACKOFF).await;
            }
            Err((e, _)) if is_record_error(&e) => {
                log::warn!(
                    "dropping a record for {} that Kafka refuses ({} bytes): {e}",
                    r.topic,
                    r.payload.as_ref().map_or(0, Vec::len)
                );
                metrics.reject(super::dead_letter::RejectReason::ScoringFailed);
                return Ok(None);
            }
            Err((e, _)) => return Err(e),
        }
    }
}

/// A batch whose records are enqueued, awaiting acknowledgements.
pub struct Pending {
    id: u64,
    epoch: u64,
    /// Each record's delivery, and `Some(true)` for a dead letter, `Some(false)` for an output,
    /// `None` for a record that is neither (a checkpoint, a drift event).
    deliveries: Vec<(DeliveryFuture, Option<bool>)>,
    error: Option<String>,
    checkpoint: Option<Arc<ThresholdCheckpoint>>,
}

/// The producer task: enqueues each fresh batch, hands it to the acker.
pub async fn produce(
    mut rx: mpsc::Receiver<Processed>,
    acks: mpsc::Sender<Pending>,
    producer: FutureProducer,
    epoch: Arc<Epoch>,
    metrics: Arc<Metrics>,
) {
    while let Some(batch) = rx.recv().await {
        if !epoch.is_current(batch.epoch) {
            continue;
        }
        let mut pending = Pending {
            id: batch.id,
            epoch: batch.epoch,
            deliveries: Vec::with_capacity(batch.records.len() + batch.extra.len()),
            error: None,
            checkpoint: batch.checkpoint.clone(),
        };
        let counted = batch.is_dead_letter.iter().map(|d| Some(*d));
        let records = batch.records.iter().zip(counted);
        let extra = batch.extra.iter().map(|r| (r, None));
        for (r, dead) in records.chain(extra) {
            match enqueue(&producer, r, &metrics).await {
                Ok(Some(f)) => pending.deliveries.push((f, dead)),
                Ok(None) => {}
                Err(e) => {
                    pending.error = Some(format!("cannot enqueue a record for {}: {e}", r.topic));
                    break;
                }
            }
        }
        if acks.send(pending).await.is_err() {
            break;
        }
    }
}

/// The acker task: awaits each batch's acknowledgements in order and reports the outcome.
pub async fn ack(
    mut rx: mpsc::Receiver<Pending>,
    done: mpsc::UnboundedSender<Done>,
    producer: FutureProducer,
    epoch: Arc<Epoch>,
    metrics: Arc<Metrics>,
) {
    while let Some(p) = rx.recv().await {
        let mut error = p.error;
        let (mut out, mut dead) = (0u64, 0u64);
        for (f, is_dead) in p.deliveries {
            match f.await {
                Ok(Ok(_)) if is_dead == Some(true) => dead += 1,
                Ok(Ok(_)) if is_dead == Some(false) => out += 1,
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => {
                    error.get_or_insert_with(|| format!("delivery failed: {e}"));
                }
                Err(_) => {
                    error.get_or_insert_with(|| "the producer was closed".to_string());
                }
            }
        }
        Metrics::add(&metrics.messages_out, out);
        Metrics::add(&metrics.dead_lettered, dead);
        if let Some((code, reason)) = producer.client().fatal_error() {
            let _ = done.send(Done::Fatal(Error::Kafka(KafkaError::MessageProduction(
                code,
            ))));
            log::error!("the producer hit a fatal error: {reason}");
            break;
        }
        let report = match error {
            None => Done::Delivered {
                id: p.id,
                epoch: p.epoch,
                checkpoint: p.checkpoint,
            },
            Some(error) => {
                epoch.fail(p.epoch);
                Done::Failed {
                    id: p.id,
                    epoch: p.epoch,
                    error,
                }
            }
        };
        if done.send(report).is_err() {
            break;
        }
    }
}
