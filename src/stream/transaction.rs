//! Exactly-once producing: one Kafka transaction per batch.
//!
//! For each batch, on a dedicated thread (librdkafka's transaction calls block):
//! `begin_transaction` → enqueue every output and dead letter (and the batch's threshold
//! checkpoint and drift event, if any) → `send_offsets_to_transaction`
//! (the batch's `last + 1` per partition, with the consumer's group metadata) →
//! `commit_transaction`. Outputs and the offset commit become visible together or not at all:
//! a `read_committed` consumer of the output sees each input's result exactly once, and a restart
//! resumes from the last committed batch.
//!
//! Errors follow librdkafka's transaction contract: a retriable error is retried (bounded); an
//! error that requires an abort aborts the transaction, moves the epoch and makes the run loop
//! rewind to the batch's first offsets; a fatal error (the producer was fenced by a newer instance
//! with the same `transactional.id`) stops the stage. Before sending offsets and before committing,
//! the epoch is checked: a batch whose partitions were revoked in the meantime is aborted, and a
//! revocation waits for a commit in progress (see [`super::epoch`]).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, Producer};
use tokio::sync::mpsc;

use super::epoch::Epoch;
use super::metrics::Metrics;
use super::sink::{Done, QUEUE_FULL_BACKOFF, future_record, is_queue_full, is_record_error};
use super::worker::Processed;
use crate::error::{Error, Result};

/// Timeout of each blocking transaction call.
pub const TXN_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_RETRIES: usize = 10;

/// Starts the transactional producer thread (`init_transactions` must have succeeded).
pub fn spawn(
    mut rx: mpsc::Receiver<Processed>,
    done: mpsc::UnboundedSender<Done>,
    producer: FutureProducer,
    epoch: Arc<Epoch>,
    metrics: Arc<Metrics>,
) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("aeflow-txn".into())
        .spawn(move || {
            while let Some(batch) = rx.blocking_recv() {
                if !epoch.is_current(batch.epoch) {
                    continue;
                }
                let (id, batch_epoch) = (batch.id, batch.epoch);
                let checkpoint = batch.checkpoint.clone();
                let report = match run_one(&producer, batch, &epoch, &metrics) {
                    Ok(()) => {
                        Metrics::add(&metrics.transactions_committed, 1);
                        Done::Delivered {
                            id,
                            epoch: batch_epoch,
                            checkpoint,
                        }
                    }
                    Err(Failure::Abortable(error)) => {
                        Metrics::add(&metrics.transactions_aborted, 1);
                        log::warn!("transaction of batch {id} aborted: {error}");
                        let aborted = producer.abort_transaction(TXN_TIMEOUT);
                        epoch.fail(batch_epoch);
                        match aborted {
                            Ok(()) => Done::Failed {
                                id,
                                epoch: batch_epoch,
                                error,
                            },
                            Err(e) => Done::Fatal(Error::Kafka(e)),
                        }
                    }
                    Err(Failure::Stale) => continue,
                    Err(Failure::Fatal(e)) => {
                        epoch.fail(batch_epoch);
                        Done::Fatal(e)
                    }
                };
                let fatal = matches!(report, Done::Fatal(_));
                if done.send(report).is_err() || fatal {
                    break;
                }
            }
        })
        .map_err(|e| Error::Internal(format!("cannot start the transaction thread: {e}")))
}

enum Failure {
    /// The batch became stale before its transaction began: skip it.
    Stale,
    /// Abort the transaction, rewind, go on.
    Abortable(String),
    /// Stop the stage.
    Fatal(Error),
}

fn classify(what: &str, e: KafkaError) -> Failure {
    match &e {
        KafkaError::Transaction(t) if t.is_fatal() => Failure::Fatal(Error::config(
            "transactional.id",
            format!(
                "{what} failed fatally ({e}); another instance with the same transactional id \
                 may have taken over"
            ),
        )),
        _ => Failure::Abortable(format!("{what}: {e}")),
    }
}

fn retriable(e: &KafkaError) -> bool {
    matches!(e, KafkaError::Transaction(t) if t.is_retriable() && !t.txn_requires_abort())
}

/// Retries `call` while librdkafka says it is retriable.
fn with_retries(
    what: &str,
    mut call: impl FnMut() -> Result<(), KafkaError>,
) -> Result<(), Failure> {
    let mut attempt = 0;
    loop {
        match call() {
            Ok(()) => return Ok(()),
            Err(e) if retriable(&e) && attempt < MAX_RETRIES => {
                attempt += 1;
                log::debug!("{what}: retriable error, retrying: {e}");
                std::thread::sleep(Duration::from_millis(100 * attempt as u64));
            }
            Err(e) => return Err(classify(what, e)),
        }
    }
}

fn run_one(
    producer: &FutureProducer,
    batch: Processed,
    epoch: &Epoch,
    metrics: &Metrics,
) -> Result<(), Failure> {
    let _busy = epoch.transaction();
    if !epoch.is_current(batch.epoch) {
        // Revoked between being received and now: nothing was sent, nothing to abort.
        return Err(Failure::Stale);
    }
    producer
        .begin_transaction()
        .map_err(|e| match classify("begin_transaction", e) {
            Failure::Abortable(m) => Failure::Fatal(Error::Internal(m)),
            f => f,
        })?;
    let (mut out, mut dead) = (0u64, 0u64);
    // Outputs and dead letters are counted; the checkpoint and drift events (`None`) are not.
    let counted = batch.is_dead_letter.iter().map(|d| Some(*d));
    let records = batch.records.iter().zip(counted);
    for (r, is_dead) in records.chain(batch.extra.iter().map(|r| (r, None))) {
        let mut rec = future_record(r);
        loop {
            match producer.send_result(rec) {
                Ok(_delivery) => {
                    match is_dead {
                        Some(true) => dead += 1,
                        Some(false) => out += 1,
                        None => {}
                    }
                    break;
                }
                Err((e, back)) if is_queue_full(&e) => {
                    Metrics::add(&metrics.producer_queue_full, 1);
                    rec = back;
                    std::thread::sleep(QUEUE_FULL_BACKOFF);
                }
                Err((e, _)) if is_record_error(&e) => {
                    log::warn!("dropping a record for {} that Kafka refuses: {e}", r.topic);
                    metrics.reject(super::dead_letter::RejectReason::ScoringFailed);
                    break;
                }
                Err((e, _)) => return Err(classify("produce", e)),
            }
        }
    }
    let group = batch
        .group
        .as_ref()
        .ok_or_else(|| Failure::Fatal(Error::Internal("no consumer group metadata".into())))?;
    let offsets = batch
        .offsets
        .commit_list()
        .map_err(|e| Failure::Fatal(Error::Internal(e.to_string())))?;
    if !epoch.is_current(batch.epoch) {
        return Err(Failure::Abortable(
            "partitions revoked during the batch".into(),
        ));
    }
    with_retries("send_offsets_to_transaction", || {
        producer.send_offsets_to_transaction(&offsets, group, TXN_TIMEOUT)
    })?;
    if !epoch.is_current(batch.epoch) {
        return Err(Failure::Abortable(
            "partitions revoked during the batch".into(),
        ));
    }
    with_retries("commit_transaction", || {
        producer.commit_transaction(TXN_TIMEOUT)
    })?;
    Metrics::add(&metrics.messages_out, out);
    Metrics::add(&metrics.dead_lettered, dead);
    Ok(())
}
