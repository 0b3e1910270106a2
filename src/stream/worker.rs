//! The scoring worker: a dedicated thread that turns a batch of consumed messages into the records to
//! produce (outputs and dead letters, in message order), away from the IO loop. With
//! `score_threads > 1` it shares each batch with helper threads ([`Helpers`]).
//!
//! Text messages of a batch are decoded into one record batch and scored with one call to
//! [`crate::arrow::score_batch`] (or [`crate::arrow::encode_batch`]); IPC messages with the same
//! schema are scored together. If scoring a whole batch fails, its rows are scored one by one so
//! that only the rows the model refuses are dead-lettered. Decoding and scoring run under
//! `catch_unwind`: should a bug panic on some input, the batch is redone message by message and the
//! message that panics is dead-lettered (`scoring_failed`) instead of taking the stage down.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use rdkafka::consumer::ConsumerGroupMetadata;
use tokio::sync::mpsc;

use super::dead_letter::{RejectReason, Rejection, dead_letter, headers};
use super::decode::{Format, decode_ipc, decode_text, read_ipc_features};
use super::encode::{Mode, RowValues, csv_output, ipc_output, json_output};
use super::epoch::Epoch;
use super::message::{InputMessage, OutputRecord};
use super::metrics::Metrics;
use super::offsets::BatchOffsets;
use super::reload::ActiveModel;
use crate::arrow::{
    FeatureLayout, FeatureRows, encode_batch, encode_rows, score_batch, score_rows,
};
use crate::error::{Error, Result};
use crate::model::ScoreOptions;

/// A batch cut by the run loop.
pub struct Work {
    /// Batch id (increasing).
    pub id: u64,
    /// Epoch it was cut in.
    pub epoch: u64,
    /// The messages, in consumption order.
    pub messages: Vec<InputMessage>,
    /// The model to score them with (`None`: pass-through).
    pub model: Option<Arc<ActiveModel>>,
    /// Consumer group metadata for `send_offsets_to_transaction` (exactly-once only).
    pub group: Option<ConsumerGroupMetadata>,
    /// Offsets of the batch.
    pub offsets: BatchOffsets,
}

/// A processed batch, ready to produce.
pub struct Processed {
    /// Batch id.
    pub id: u64,
    /// Epoch it was cut in.
    pub epoch: u64,
    /// Outputs and dead letters, in message order.
    pub records: Vec<OutputRecord>,
    /// For each record, `true` when it is a dead letter.
    pub is_dead_letter: Vec<bool>,
    /// Offsets of the batch.
    pub offsets: BatchOffsets,
    /// Consumer group metadata (exactly-once only).
    pub group: Option<ConsumerGroupMetadata>,
}

/// What the worker needs besides the batch.
#[derive(Debug)]
pub struct WorkerSettings {
    /// Score or encode.
    pub mode: Mode,
    /// Payload format.
    pub format: Format,
    /// Output topic.
    pub output_topic: Arc<str>,
    /// Dead-letter topic; without one, refused messages are counted, logged and dropped.
    pub dlq_topic: Option<Arc<str>>,
    /// Warnings about dropped messages still allowed in this log interval.
    pub log_budget: AtomicU64,
}

/// What happens to one message.
pub enum Outcome {
    Output(Vec<u8>),
    PassThrough,
    Rejected(Rejection),
}

/// Starts the worker thread, and `threads − 1` helper threads that each take a share of every
/// batch (see [`Helpers`]). It ends when `rx` is closed or `tx`'s receiver is dropped.
pub fn spawn(
    mut rx: mpsc::Receiver<Work>,
    tx: mpsc::Sender<Processed>,
    settings: Arc<WorkerSettings>,
    epoch: Arc<Epoch>,
    metrics: Arc<Metrics>,
    threads: usize,
) -> Result<JoinHandle<()>> {
    let helpers = Helpers::start(threads.saturating_sub(1), &settings)?;
    std::thread::Builder::new()
        .name("aeflow-score".into())
        .spawn(move || {
            while let Some(work) = rx.blocking_recv() {
                if !epoch.is_current(work.epoch) {
                    continue;
                }
                let processed = process_with(work, &settings, &metrics, &helpers);
                if tx.blocking_send(processed).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| Error::Internal(format!("cannot start the scoring thread: {e}")))
}

/// Batches smaller than this are not shared out: the hand-over would cost more than it saves.
const SHARE_MIN_MESSAGES: usize = 64;

/// A share of a batch sent to a helper: copies of its messages and the model.
struct Share {
    messages: Vec<InputMessage>,
    model: Arc<ActiveModel>,
}

/// Helper threads for the scoring worker. Each batch of at least [`SHARE_MIN_MESSAGES`]
/// messages is cut into `helpers + 1` contiguous shares; the worker decodes, scores and encodes
/// the first itself and each helper one of the others, at the same time; the outcomes are put
/// back in message order, so outputs are exactly those of one thread. Decoding JSON costs more
/// than the network for tabular models, and one thread holds the stage to that thread's rate.
///
/// Helpers get copies of their messages (the originals stay with the worker until the batch is
/// produced), so a helper that is gone costs time (its share is done by the worker), never a
/// message.
pub struct Helpers {
    links: Vec<(
        std::sync::mpsc::Sender<Share>,
        std::sync::mpsc::Receiver<Vec<Outcome>>,
    )>,
}

impl Helpers {
    /// No helpers: everything on the worker thread.
    pub fn none() -> Self {
        Self { links: Vec::new() }
    }

    fn start(n: usize, settings: &Arc<WorkerSettings>) -> Result<Self> {
        let mut links = Vec::with_capacity(n);
        for i in 0..n {
            let (share_tx, share_rx) = std::sync::mpsc::channel::<Share>();
            let (out_tx, out_rx) = std::sync::mpsc::channel::<Vec<Outcome>>();
            let settings = settings.clone();
            std::thread::Builder::new()
                .name(format!("aeflow-score-{}", i + 1))
                .spawn(move || {
                    while let Ok(share) = share_rx.recv() {
                        let out = guarded_outcomes(&share.messages, &share.model, &settings);
                        if out_tx.send(out).is_err() {
                            break;
                        }
                    }
                })
                .map_err(|e| Error::Internal(format!("cannot start a scoring thread: {e}")))?;
            links.push((share_tx, out_rx));
        }
        Ok(Self { links })
    }

    /// Outcomes for `messages`, in order, shared out between the worker and the helpers.
    fn outcomes(
        &self,
        messages: &[InputMessage],
        model: &Arc<ActiveModel>,
        settings: &WorkerSettings,
    ) -> Vec<Outcome> {
        let parts = self.links.len() + 1;
        if parts == 1 || messages.len() < SHARE_MIN_MESSAGES {
            return guarded_outcomes(messages, model, settings);
        }
        let size = messages.len().div_ceil(parts);
        let mut chunks = messages.chunks(size);
        let own = chunks.next().unwrap_or_default();
        // Send every share first, so that all threads work at once.
        let sent: Vec<(&[InputMessage], bool)> = chunks
            .zip(&self.links)
            .map(|(chunk, (tx, _))| {
                let share = Share {
                    messages: chunk.to_vec(),
                    model: model.clone(),
                };
                (chunk, tx.send(share).is_ok())
            })
            .collect();
        let mut out = guarded_outcomes(own, model, settings);
        for ((chunk, ok), (_, rx)) in sent.into_iter().zip(&self.links) {
            match ok.then(|| rx.recv().ok()).flatten() {
                Some(o) if o.len() == chunk.len() => out.extend(o),
                _ => out.extend(guarded_outcomes(chunk, model, settings)),
            }
        }
        out
    }
}

/// Processes one batch on the calling thread alone: decode, score, encode, and build the records
/// to produce.
pub fn process(work: Work, settings: &WorkerSettings, metrics: &Metrics) -> Processed {
    process_with(work, settings, metrics, &Helpers::none())
}

/// [`process`], sharing the batch out with `helpers`.
pub fn process_with(
    work: Work,
    settings: &WorkerSettings,
    metrics: &Metrics,
    helpers: &Helpers,
) -> Processed {
    let outcomes = match &work.model {
        None => work.messages.iter().map(|_| Outcome::PassThrough).collect(),
        Some(model) => helpers.outcomes(&work.messages, model, settings),
    };
    let tag = work.model.as_ref().map_or_else(
        || "pass-through".to_string(),
        |m| m.tag.header().to_string(),
    );
    let mut records = Vec::with_capacity(work.messages.len());
    let mut is_dead_letter = Vec::with_capacity(work.messages.len());
    for (m, outcome) in work.messages.into_iter().zip(outcomes) {
        match outcome {
            Outcome::Output(payload) => {
                records.push(output_record(m, Some(payload), settings, &tag));
                is_dead_letter.push(false);
            }
            Outcome::PassThrough => {
                let mut m = m;
                let payload = m.payload.take();
                records.push(output_record(m, payload, settings, &tag));
                is_dead_letter.push(false);
            }
            Outcome::Rejected(r) => {
                metrics.reject(r.reason);
                match &settings.dlq_topic {
                    Some(dlq) => {
                        log::debug!("dead-lettering {}: {r}", m.describe());
                        records.push(dead_letter(m, &r, dlq, &tag));
                        is_dead_letter.push(true);
                    }
                    None => {
                        let budget = settings.log_budget.load(Ordering::Relaxed);
                        if budget > 0 {
                            settings.log_budget.store(budget - 1, Ordering::Relaxed);
                            log::warn!("dropping {} (no --dlq-topic): {r}", m.describe());
                        }
                    }
                }
            }
        }
    }
    Processed {
        id: work.id,
        epoch: work.epoch,
        records,
        is_dead_letter,
        offsets: work.offsets,
        group: work.group,
    }
}

fn output_record(
    m: InputMessage,
    payload: Option<Vec<u8>>,
    settings: &WorkerSettings,
    tag: &str,
) -> OutputRecord {
    let mut headers_out = m.headers;
    headers_out.push((headers::MODEL.to_string(), Some(tag.as_bytes().to_vec())));
    OutputRecord {
        topic: settings.output_topic.clone(),
        key: m.key,
        payload,
        headers: headers_out,
        timestamp_ms: m.timestamp_ms,
    }
}

/// Outcomes for a batch; on a panic, message by message.
fn guarded_outcomes(
    messages: &[InputMessage],
    model: &ActiveModel,
    settings: &WorkerSettings,
) -> Vec<Outcome> {
    match catch_unwind(AssertUnwindSafe(|| outcomes(messages, model, settings))) {
        Ok(o) => o,
        Err(_) => messages
            .iter()
            .map(|m| {
                catch_unwind(AssertUnwindSafe(|| {
                    outcomes(std::slice::from_ref(m), model, settings)
                }))
                .ok()
                .and_then(|mut v| v.pop())
                .unwrap_or_else(|| {
                    Outcome::Rejected(Rejection::new(
                        RejectReason::ScoringFailed,
                        "internal error while scoring this message (a bug in aeflow)",
                    ))
                })
            })
            .collect(),
    }
}

fn outcomes(
    messages: &[InputMessage],
    model: &ActiveModel,
    settings: &WorkerSettings,
) -> Vec<Outcome> {
    match settings.format {
        Format::ArrowIpc => ipc_outcomes(messages, model, settings.mode),
        Format::Json | Format::Csv => text_outcomes(messages, model, settings),
    }
}

fn text_outcomes(
    messages: &[InputMessage],
    model: &ActiveModel,
    settings: &WorkerSettings,
) -> Vec<Outcome> {
    let payloads: Vec<Option<&[u8]>> = messages.iter().map(|m| m.payload.as_deref()).collect();
    let decoded = decode_text(
        settings.format,
        &payloads,
        &model.shape,
        model.model.missing_policy(),
    );
    let mut out: Vec<Option<Outcome>> = (0..messages.len()).map(|_| None).collect();
    for (i, r) in decoded.rejected {
        out[i] = Some(Outcome::Rejected(r));
    }
    if let Some((batch, rows)) = decoded.batch {
        let write = |values: &RowValues<'_>, row: usize, payload: &[u8]| match settings.format {
            Format::Csv => csv_output(payload, values, row),
            _ => json_output(payload, values, row, &model.tag),
        };
        let emit = |scored: &RecordBatch, rows: &[usize]| -> Result<Vec<Vec<u8>>> {
            let values = RowValues::new(settings.mode, scored)?;
            Ok(rows
                .iter()
                .enumerate()
                .map(|(row, &i)| write(&values, row, payloads[i].unwrap_or_default()))
                .collect())
        };
        let together = score_read(model, settings.mode, &batch, rows)
            .and_then(|s| emit(&s, &decoded.accepted));
        match together {
            Ok(payloads) => {
                for (&i, p) in decoded.accepted.iter().zip(payloads) {
                    out[i] = Some(Outcome::Output(p));
                }
            }
            Err(_) => {
                // Row by row, so that only the rows the model refuses are refused.
                for (row, &i) in decoded.accepted.iter().enumerate() {
                    let one = batch.slice(row, 1);
                    out[i] = Some(
                        match score(model, settings.mode, &one).and_then(|s| emit(&s, &[i])) {
                            Ok(mut p) => Outcome::Output(p.pop().unwrap_or_default()),
                            Err(e) => Outcome::Rejected(Rejection::new(
                                RejectReason::ScoringFailed,
                                e.to_string(),
                            )),
                        },
                    );
                }
            }
        }
    }
    settle(out)
}

/// Every message's outcome; one left without any (a bug) is refused rather than lost.
fn settle(out: Vec<Option<Outcome>>) -> Vec<Outcome> {
    out.into_iter()
        .map(|o| {
            o.unwrap_or_else(|| {
                Outcome::Rejected(Rejection::new(
                    RejectReason::ScoringFailed,
                    "internal: message neither scored nor refused",
                ))
            })
        })
        .collect()
}

fn ipc_outcomes(messages: &[InputMessage], model: &ActiveModel, mode: Mode) -> Vec<Outcome> {
    let mut out: Vec<Option<Outcome>> = (0..messages.len()).map(|_| None).collect();
    // Accepted messages: index, decoded rows and their features (read once, for the check and
    // for the model).
    let mut accepted: Vec<(usize, RecordBatch, FeatureRows)> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let checked = decode_ipc(m.payload.as_deref()).and_then(|batch| {
            let layout = FeatureLayout::for_model(&batch.schema(), &model.model)
                .map_err(|e| Rejection::new(RejectReason::SchemaMismatch, e.to_string()))?;
            let rows = read_ipc_features(&batch, &layout, model.model.missing_policy())?;
            Ok((i, batch, rows))
        });
        match checked {
            Ok(a) => accepted.push(a),
            Err(r) => out[i] = Some(Outcome::Rejected(r)),
        }
    }
    // Score runs of consecutive messages with the same schema together.
    let mut start = 0;
    while start < accepted.len() {
        let schema = accepted[start].1.schema();
        let mut end = start + 1;
        while end < accepted.len() && accepted[end].1.schema() == schema {
            end += 1;
        }
        let group = &accepted[start..end];
        let together = concat_batches(&schema, group.iter().map(|(_, b, _)| b))
            .map_err(Error::from)
            .and_then(|all| {
                let rows = FeatureRows::concat(group.iter().map(|(_, _, r)| r))?;
                score_read(model, mode, &all, rows)
            })
            .and_then(|scored| {
                let mut offset = 0;
                let mut payloads = Vec::with_capacity(group.len());
                for (_, b, _) in group {
                    payloads.push(ipc_output(&scored.slice(offset, b.num_rows()), &model.tag)?);
                    offset += b.num_rows();
                }
                Ok(payloads)
            });
        match together {
            Ok(payloads) => {
                for ((i, _, _), p) in group.iter().zip(payloads) {
                    out[*i] = Some(Outcome::Output(p));
                }
            }
            Err(_) => {
                for (i, b, rows) in group {
                    let scored = score_read(model, mode, b, rows.clone());
                    out[*i] = Some(match scored.and_then(|s| ipc_output(&s, &model.tag)) {
                        Ok(p) => Outcome::Output(p),
                        Err(e) => Outcome::Rejected(Rejection::new(
                            RejectReason::ScoringFailed,
                            e.to_string(),
                        )),
                    });
                }
            }
        }
        start = end;
    }
    settle(out)
}

/// The model's outputs appended to `batch`, whose features `rows` holds already.
fn score_read(
    model: &ActiveModel,
    mode: Mode,
    batch: &RecordBatch,
    rows: FeatureRows,
) -> Result<RecordBatch> {
    match mode {
        Mode::Score => score_rows(&model.model, batch, rows, &ScoreOptions::default()),
        Mode::Encode => encode_rows(&model.model, batch, rows),
    }
}

/// The model's outputs appended to `batch`, its features read anew (the row-by-row retry).
fn score(model: &ActiveModel, mode: Mode, batch: &RecordBatch) -> Result<RecordBatch> {
    let layout = FeatureLayout::for_model(&batch.schema(), &model.model)?;
    match mode {
        Mode::Score => score_batch(&model.model, batch, &layout, &ScoreOptions::default()),
        Mode::Encode => encode_batch(&model.model, batch, &layout),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::model::{Autoencoder, Silent, TrainConfig};

    fn settings(dlq: bool) -> Arc<WorkerSettings> {
        Arc::new(WorkerSettings {
            mode: Mode::Score,
            format: Format::Json,
            output_topic: Arc::from("out"),
            dlq_topic: dlq.then(|| Arc::from("dlq")),
            log_budget: AtomicU64::new(0),
        })
    }

    fn work(model: &Arc<ActiveModel>, payloads: &[String]) -> Work {
        let topic: Arc<str> = Arc::from("in");
        let messages: Vec<InputMessage> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| InputMessage {
                topic: topic.clone(),
                partition: (i % 3) as i32,
                offset: i as i64,
                key: Some(format!("k{i}").into_bytes()),
                payload: Some(p.clone().into_bytes()),
                headers: vec![("h".into(), Some(vec![i as u8]))],
                timestamp_ms: Some(1000 + i as i64),
                received_at: Instant::now(),
            })
            .collect();
        Work {
            id: 1,
            epoch: 0,
            offsets: BatchOffsets::of(&messages),
            messages,
            model: Some(model.clone()),
            group: None,
        }
    }

    /// A batch shared out between the worker and helper threads gives the records one thread
    /// gives, in the same order, bad messages (in every share) included.
    #[test]
    fn shared_batches_give_the_records_of_one_thread() {
        let x = ndarray::Array2::from_shape_fn((300, 4), |(i, j)| {
            ((i as f32) * 0.1 + j as f32).sin() * (1.0 + j as f32)
        });
        let names: Vec<String> = (0..4).map(|j| format!("f{j}")).collect();
        let config = TrainConfig {
            epochs: 2,
            ..TrainConfig::default()
        };
        let model = Autoencoder::fit(x.view(), &names, &config, &mut Silent).unwrap();
        let model = Arc::new(ActiveModel::new("m", model).unwrap());
        let payloads: Vec<String> = (0..300)
            .map(|i| match i {
                5 | 140 | 299 => "{not json".to_string(),
                77 | 260 => format!("{{\"f0\":1,\"f1\":\"x\",\"f2\":3,\"f3\":{i}}}"),
                210 => "[1,2,3,4]".to_string(),
                _ => format!(
                    "{{\"id\":{i},\"f0\":{},\"f1\":{},\"f2\":{},\"f3\":{}}}",
                    x[[i, 0]],
                    x[[i, 1]],
                    x[[i, 2]],
                    x[[i, 3]]
                ),
            })
            .collect();
        let metrics = Metrics::new();
        for dlq in [true, false] {
            let settings = settings(dlq);
            let one = process(work(&model, &payloads), &settings, &metrics);
            for n in [2, 3, 4] {
                let helpers = Helpers::start(n - 1, &settings).unwrap();
                let shared = process_with(work(&model, &payloads), &settings, &metrics, &helpers);
                assert_eq!(shared.records.len(), one.records.len());
                assert_eq!(shared.is_dead_letter, one.is_dead_letter);
                for (a, b) in shared.records.iter().zip(&one.records) {
                    assert_eq!(a.topic, b.topic);
                    assert_eq!(a.key, b.key);
                    assert_eq!(a.payload, b.payload);
                    assert_eq!(a.headers, b.headers);
                }
            }
            // A helper that is gone: its share is done by the worker, nothing is lost.
            let (share_tx, share_rx) = std::sync::mpsc::channel::<Share>();
            let (out_tx, out_rx) = std::sync::mpsc::channel::<Vec<Outcome>>();
            drop((share_rx, out_tx));
            let gone = Helpers {
                links: vec![(share_tx, out_rx)],
            };
            let shared = process_with(work(&model, &payloads), &settings, &metrics, &gone);
            assert_eq!(shared.is_dead_letter, one.is_dead_letter);
            assert!(
                shared
                    .records
                    .iter()
                    .zip(&one.records)
                    .all(|(a, b)| a.payload == b.payload)
            );
            let dead = one.is_dead_letter.iter().filter(|&&d| d).count();
            if dlq {
                assert_eq!(one.records.len(), 300);
                assert_eq!(dead, 6);
            } else {
                assert_eq!(one.records.len(), 294);
                assert_eq!(dead, 0);
            }
        }
    }
}
