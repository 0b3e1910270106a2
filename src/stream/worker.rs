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
//!
//! The worker also keeps the window of live errors ([`LiveState`]): each batch is judged against
//! the threshold in force before it, then its errors enter the window.

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
use super::live::{LiveSettings, LiveState, Reset};
use super::message::{InputMessage, OutputRecord};
use super::metrics::Metrics;
use super::offsets::BatchOffsets;
use super::reload::ActiveModel;
use crate::arrow::{
    FeatureLayout, FeatureRows, append_threshold, encode_batch, encode_rows, score_batch,
    score_rows,
};
use crate::error::{Error, Result};
use crate::model::{ScoreOptions, ThresholdCheckpoint};

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
    /// Reset the window of live errors to this before the batch (after a rewind or rebalance).
    pub reset: Option<Reset>,
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
    /// Records produced with the batch but not counted as outputs: the threshold checkpoint, a
    /// drift event.
    pub extra: Vec<OutputRecord>,
    /// The window's checkpoint after this batch (adaptive threshold).
    pub checkpoint: Option<Arc<ThresholdCheckpoint>>,
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
    /// Adaptive threshold, drift alarm and their records.
    pub live: LiveSettings,
}

/// What happens to one message.
pub enum Outcome {
    /// The payload, and its scored rows (score mode).
    Output(Vec<u8>, ScoredRows),
    PassThrough,
    Rejected(Rejection),
}

/// What the window of live errors needs from a message's rows that were scored: their errors and
/// features (original units, row-major).
#[derive(Debug, Default)]
pub struct ScoredRows {
    /// Reconstruction error per scored row.
    pub errors: Vec<f64>,
    /// The features of the same rows, `errors.len() × features`.
    pub features: Vec<f32>,
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
            let mut live = LiveState::new();
            while let Some(work) = rx.blocking_recv() {
                if !epoch.is_current(work.epoch) {
                    continue;
                }
                let processed = process_with(work, &settings, &metrics, &helpers, &mut live);
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
    judge: Option<f64>,
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
                        let out =
                            guarded_outcomes(&share.messages, &share.model, &settings, share.judge);
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
        judge: Option<f64>,
    ) -> Vec<Outcome> {
        let parts = self.links.len() + 1;
        if parts == 1 || messages.len() < SHARE_MIN_MESSAGES {
            return guarded_outcomes(messages, model, settings, judge);
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
                    judge,
                };
                (chunk, tx.send(share).is_ok())
            })
            .collect();
        let mut out = guarded_outcomes(own, model, settings, judge);
        for ((chunk, ok), (_, rx)) in sent.into_iter().zip(&self.links) {
            match ok.then(|| rx.recv().ok()).flatten() {
                Some(o) if o.len() == chunk.len() => out.extend(o),
                _ => out.extend(guarded_outcomes(chunk, model, settings, judge)),
            }
        }
        out
    }
}

/// Processes one batch on the calling thread alone: decode, score, encode, and build the records
/// to produce.
pub fn process(work: Work, settings: &WorkerSettings, metrics: &Metrics) -> Processed {
    process_with(
        work,
        settings,
        metrics,
        &Helpers::none(),
        &mut LiveState::new(),
    )
}

/// [`process`], sharing the batch out with `helpers`, with the window of live errors `live`.
pub fn process_with(
    mut work: Work,
    settings: &WorkerSettings,
    metrics: &Metrics,
    helpers: &Helpers,
    live: &mut LiveState,
) -> Processed {
    let scoring = settings.mode == Mode::Score && work.model.is_some();
    let mut judge = None;
    if scoring && let Some(model) = &work.model {
        match live.prepare(&settings.live, model, work.reset.take()) {
            Ok(()) => judge = live.threshold(&settings.live, model),
            Err(e) => log::warn!("live error window unavailable for this batch: {e}"),
        }
    }
    let outcomes: Vec<Outcome> = match &work.model {
        None => work.messages.iter().map(|_| Outcome::PassThrough).collect(),
        Some(model) => helpers.outcomes(&work.messages, model, settings, judge),
    };
    let (mut extra, mut checkpoint) = (Vec::new(), None);
    if scoring && let Some(model) = &work.model {
        let (mut errors, mut features) = (Vec::new(), Vec::new());
        for o in &outcomes {
            if let Outcome::Output(_, rows) = o {
                errors.extend_from_slice(&rows.errors);
                features.extend_from_slice(&rows.features);
            }
        }
        let observed = live.observe(&errors, &features, &settings.live, model, metrics);
        extra = observed.records;
        checkpoint = observed.checkpoint;
    }
    let tag = work.model.as_ref().map_or_else(
        || "pass-through".to_string(),
        |m| m.tag.header().to_string(),
    );
    let mut records = Vec::with_capacity(work.messages.len());
    let mut is_dead_letter = Vec::with_capacity(work.messages.len());
    for (m, outcome) in work.messages.into_iter().zip(outcomes) {
        match outcome {
            Outcome::Output(payload, _) => {
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
        extra,
        checkpoint,
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
    judge: Option<f64>,
) -> Vec<Outcome> {
    match catch_unwind(AssertUnwindSafe(|| {
        outcomes(messages, model, settings, judge)
    })) {
        Ok(o) => o,
        Err(_) => messages
            .iter()
            .map(|m| {
                catch_unwind(AssertUnwindSafe(|| {
                    outcomes(std::slice::from_ref(m), model, settings, judge)
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

/// Outcomes of `messages`, judged against `judge` when it is given (else the model's threshold).
fn outcomes(
    messages: &[InputMessage],
    model: &ActiveModel,
    settings: &WorkerSettings,
    judge: Option<f64>,
) -> Vec<Outcome> {
    match settings.format {
        Format::ArrowIpc => ipc_outcomes(messages, model, settings.mode, judge),
        Format::Json | Format::Csv => text_outcomes(messages, model, settings, judge),
    }
}

fn text_outcomes(
    messages: &[InputMessage],
    model: &ActiveModel,
    settings: &WorkerSettings,
    judge: Option<f64>,
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
        // The features, for the drift alarm (score mode): row `k` of `x` is accepted row `k`.
        let x = (settings.mode == Mode::Score).then(|| rows.matrix().to_owned());
        // `rows` are accepted rows `first..`, scored as rows `0..` of `scored`.
        let emit = |scored: &RecordBatch, rows: &[usize], first: usize| -> Result<Vec<Outcome>> {
            let values = RowValues::new(settings.mode, scored)?;
            Ok(rows
                .iter()
                .enumerate()
                .map(|(row, &i)| {
                    let mut scored_rows = ScoredRows::default();
                    if let Some(e) = values.error(row) {
                        scored_rows.errors.push(e);
                        if let Some(x) = &x {
                            scored_rows.features.extend(x.row(first + row).iter());
                        }
                    }
                    Outcome::Output(
                        write(&values, row, payloads[i].unwrap_or_default()),
                        scored_rows,
                    )
                })
                .collect())
        };
        let together = score_read(model, settings.mode, &batch, rows, judge)
            .and_then(|s| emit(&s, &decoded.accepted, 0));
        match together {
            Ok(outputs) => {
                for (&i, o) in decoded.accepted.iter().zip(outputs) {
                    out[i] = Some(o);
                }
            }
            Err(_) => {
                // Row by row, so that only the rows the model refuses are refused.
                for (row, &i) in decoded.accepted.iter().enumerate() {
                    let one = batch.slice(row, 1);
                    out[i] = Some(
                        match score(model, settings.mode, &one, judge)
                            .and_then(|s| emit(&s, &[i], row))
                        {
                            Ok(mut o) => o.pop().unwrap_or_else(|| {
                                Outcome::Rejected(Rejection::new(
                                    RejectReason::ScoringFailed,
                                    "internal: a scored row gave no output",
                                ))
                            }),
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

fn ipc_outcomes(
    messages: &[InputMessage],
    model: &ActiveModel,
    mode: Mode,
    judge: Option<f64>,
) -> Vec<Outcome> {
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
                score_read(model, mode, &all, rows, judge)
            })
            .and_then(|scored| {
                let mut offset = 0;
                let mut outputs = Vec::with_capacity(group.len());
                for (_, b, rows) in group {
                    let part = scored.slice(offset, b.num_rows());
                    outputs.push(ipc_outcome(&part, rows, mode, &model.tag)?);
                    offset += b.num_rows();
                }
                Ok(outputs)
            });
        match together {
            Ok(outputs) => {
                for ((i, _, _), o) in group.iter().zip(outputs) {
                    out[*i] = Some(o);
                }
            }
            Err(_) => {
                for (i, b, rows) in group {
                    let scored = score_read(model, mode, b, rows.clone(), judge);
                    let outcome = scored.and_then(|s| ipc_outcome(&s, rows, mode, &model.tag));
                    out[*i] = Some(match outcome {
                        Ok(o) => o,
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

/// One IPC message's outcome: its scored rows as an IPC stream, and their errors and features.
fn ipc_outcome(
    scored: &RecordBatch,
    rows: &FeatureRows,
    mode: Mode,
    tag: &super::encode::ModelTag,
) -> Result<Outcome> {
    let mut scored_rows = ScoredRows::default();
    if mode == Mode::Score {
        let values = RowValues::new(mode, scored)?;
        let x = rows.matrix();
        for r in 0..scored.num_rows() {
            if let Some(e) = values.error(r) {
                scored_rows.errors.push(e);
                scored_rows.features.extend(x.row(r).iter());
            }
        }
    }
    Ok(Outcome::Output(ipc_output(scored, tag)?, scored_rows))
}

/// Scoring options judging against `judge` (else the model's threshold).
fn options(judge: Option<f64>) -> ScoreOptions {
    ScoreOptions {
        threshold: judge,
        ..ScoreOptions::default()
    }
}

/// The model's outputs appended to `batch`, whose features `rows` holds already; with `judge`,
/// judged against it and carrying it as a `threshold` column.
fn score_read(
    model: &ActiveModel,
    mode: Mode,
    batch: &RecordBatch,
    rows: FeatureRows,
    judge: Option<f64>,
) -> Result<RecordBatch> {
    match mode {
        Mode::Score => {
            let scored = score_rows(&model.model, batch, rows, &options(judge))?;
            with_judge(scored, judge)
        }
        Mode::Encode => encode_rows(&model.model, batch, rows),
    }
}

/// The model's outputs appended to `batch`, its features read anew (the row-by-row retry).
fn score(
    model: &ActiveModel,
    mode: Mode,
    batch: &RecordBatch,
    judge: Option<f64>,
) -> Result<RecordBatch> {
    let layout = FeatureLayout::for_model(&batch.schema(), &model.model)?;
    match mode {
        Mode::Score => {
            let scored = score_batch(&model.model, batch, &layout, &options(judge))?;
            with_judge(scored, judge)
        }
        Mode::Encode => encode_batch(&model.model, batch, &layout),
    }
}

fn with_judge(scored: RecordBatch, judge: Option<f64>) -> Result<RecordBatch> {
    match judge {
        Some(t) => append_threshold(&scored, t),
        None => Ok(scored),
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
            live: LiveSettings::of(&crate::stream::StageConfig::default()),
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
            reset: None,
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
                let shared = process_with(
                    work(&model, &payloads),
                    &settings,
                    &metrics,
                    &helpers,
                    &mut LiveState::new(),
                );
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
            let shared = process_with(
                work(&model, &payloads),
                &settings,
                &metrics,
                &gone,
                &mut LiveState::new(),
            );
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
