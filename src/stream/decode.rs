//! Message payloads → Arrow record batches, with arrow's own decoders: the JSON `Decoder`, the CSV
//! `Decoder` and the IPC `StreamReader`. Every refusal is per message, with a reason
//! ([`Rejection`]); nothing in a payload can make these functions fail or panic.
//!
//! # Text formats (JSON, CSV): one record per message
//! Each message holds exactly one JSON object (or one CSV record with the model's columns, no
//! header). All messages of a batch go through one decoder, which is the fast path. A message
//! that breaks the syntax is identified at once (its `decode` call fails) and the decoder is
//! rebuilt with the good messages so far; a value that is syntactically fine but has the wrong type
//! (`"abc"` for a number) only shows when the decoder is flushed, which does not say which row, so
//! the group is bisected until the offending messages are isolated: k bad messages in a group of n
//! cost O(k·log n) extra decodes, and a clean batch costs one decode.
//!
//! # Arrow IPC: one stream per message
//! Each message is an IPC *stream* (schema, record batches, end marker) with any number of rows; its
//! batches are concatenated. A message is refused as a whole when any of its rows is.

use std::io::Cursor;

use arrow::array::RecordBatch;
use arrow::compute::{concat_batches, filter_record_batch};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::ipc::reader::StreamReader;

use super::dead_letter::{RejectReason, Rejection};
use super::features::{FeatureShape, rejection};
use crate::arrow::{FeatureLayout, FeatureRows};
use crate::model::MissingPolicy;

/// Payload format of input (and output) messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// One JSON object per message; output is the same object plus the model's fields.
    #[default]
    Json,
    /// One Arrow IPC stream per message; output is an IPC stream with the model's columns added.
    ArrowIpc,
    /// One CSV record per message, the model's features in order, no header; output is the same
    /// record with the model's values appended.
    Csv,
}

impl Format {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::ArrowIpc => "arrow-ipc",
            Format::Csv => "csv",
        }
    }
}

/// The rows decoded from a batch of text messages.
#[derive(Debug)]
pub struct DecodedRows {
    /// One row per accepted message, in message order: the feature columns as decoded (Float64
    /// scalars, or one `List<Float64>` vector; see [`FeatureShape::decode_schema`]) and the same
    /// rows read for the model, every one usable. `None` when no message was accepted.
    pub batch: Option<(RecordBatch, FeatureRows)>,
    /// For each row of `batch`, the index of its message in the input slice.
    pub accepted: Vec<usize>,
    /// Refused messages by index, in index order.
    pub rejected: Vec<(usize, Rejection)>,
}

/// Decodes text messages (JSON or CSV, one record each) for a model of this shape, refusing the
/// rows the model cannot take under `policy` (the rule of [`FeatureRows`]).
pub fn decode_text(
    format: Format,
    payloads: &[Option<&[u8]>],
    shape: &FeatureShape,
    policy: MissingPolicy,
) -> DecodedRows {
    let schema = shape.decode_schema();
    let capacity = payloads.len() + 1;
    let mut state = Bisect {
        payloads,
        parts: Vec::new(),
        rejected: Vec::new(),
    };
    match format {
        Format::Csv => state.run(|| CsvRows::new(schema.clone(), capacity)),
        _ => state.run(|| JsonRows::new(schema.clone(), capacity)),
    }
    let Bisect {
        parts,
        mut rejected,
        ..
    } = state;

    let mut accepted: Vec<usize> = Vec::with_capacity(payloads.len());
    let batches: Vec<RecordBatch> = parts
        .into_iter()
        .map(|(idx, b)| {
            accepted.extend(idx);
            b
        })
        .collect();
    let batch = match batches.len() {
        0 => None,
        1 => batches.into_iter().next(),
        _ => match concat_batches(&schema, &batches) {
            Ok(b) => Some(b),
            Err(e) => {
                // Every part was decoded with `schema`, so this cannot happen; refuse rather
                // than panic if it does.
                let r = Rejection::new(RejectReason::ScoringFailed, format!("internal: {e}"));
                rejected.extend(accepted.drain(..).map(|i| (i, r.clone())));
                None
            }
        },
    };

    let mut out = DecodedRows {
        batch: None,
        accepted,
        rejected,
    };
    if let Some(batch) = batch {
        out.batch = keep_usable_rows(batch, shape, policy, &mut out);
    }
    out.rejected.sort_by_key(|(i, _)| *i);
    out
}

/// Reads the features of `batch` (one conversion to f32), moves the messages of the rows the model
/// cannot take to `rejected` with their reason, and keeps the other rows.
fn keep_usable_rows(
    batch: RecordBatch,
    shape: &FeatureShape,
    policy: MissingPolicy,
    out: &mut DecodedRows,
) -> Option<(RecordBatch, FeatureRows)> {
    let rows = match FeatureRows::read(&batch, &shape.layout(), policy) {
        Ok(rows) => rows,
        Err(e) => return reject_all(out, &e),
    };
    let Some(keep) = rows.usable_filter() else {
        return Some((batch, rows));
    };
    let mut faults = rows.faults().iter().peekable();
    let mut kept = Vec::with_capacity(out.accepted.len());
    for (row, &msg) in out.accepted.iter().enumerate() {
        match faults.next_if(|f| f.row == row) {
            None => kept.push(msg),
            Some(f) => out.rejected.push((msg, rejection(f))),
        }
    }
    out.accepted = kept;
    if out.accepted.is_empty() {
        return None;
    }
    match filter_record_batch(&batch, &keep) {
        Ok(b) => Some((b, rows.into_usable())),
        Err(e) => reject_all(out, &e),
    }
}

fn reject_all<T>(out: &mut DecodedRows, e: &dyn std::fmt::Display) -> Option<T> {
    let r = Rejection::new(RejectReason::ScoringFailed, format!("internal: {e}"));
    out.rejected
        .extend(out.accepted.drain(..).map(|i| (i, r.clone())));
    None
}

/// A decoder fed one message at a time, each of which must add exactly one row.
trait RowDecoder {
    /// Adds one message; on `Err` the decoder must be discarded.
    fn feed(&mut self, payload: &[u8]) -> Result<(), Rejection>;
    /// The rows fed so far; errors name a value of the wrong type, not its row. Called at most
    /// once: the decoder is done afterwards.
    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError>;
    /// Why a single message failed at flush time.
    fn classify(&self, payload: &[u8], e: &ArrowError) -> Rejection;
}

struct Bisect<'a> {
    payloads: &'a [Option<&'a [u8]>],
    /// Decoded groups: message indices and their rows, in message order.
    parts: Vec<(Vec<usize>, RecordBatch)>,
    rejected: Vec<(usize, Rejection)>,
}

impl Bisect<'_> {
    fn payload(&self, i: usize) -> &[u8] {
        self.payloads[i].unwrap_or_default()
    }

    fn run<D: RowDecoder>(&mut self, new: impl Fn() -> D + Copy) {
        let mut decoder = new();
        let mut pending: Vec<usize> = Vec::with_capacity(self.payloads.len());
        for i in 0..self.payloads.len() {
            let payload = match self.payloads[i] {
                Some(p) if !p.iter().all(u8::is_ascii_whitespace) => p,
                _ => {
                    self.rejected.push((
                        i,
                        Rejection::new(RejectReason::EmptyPayload, "message has no payload"),
                    ));
                    continue;
                }
            };
            match decoder.feed(payload) {
                Ok(()) => pending.push(i),
                Err(r) => {
                    self.rejected.push((i, r));
                    decoder = new();
                    let group = std::mem::take(&mut pending);
                    self.refeed_and_flush(new, group);
                }
            }
        }
        self.flush_group(new, decoder, pending);
    }

    /// Feeds `group` (messages that decoded fine before) into a fresh decoder and flushes it.
    fn refeed_and_flush<D: RowDecoder>(&mut self, new: impl Fn() -> D + Copy, group: Vec<usize>) {
        if group.is_empty() {
            return;
        }
        let mut decoder = new();
        for &i in &group {
            if let Err(r) = decoder.feed(self.payload(i)) {
                // A message that fed fine after others may fail alone (the CSV reader carries
                // state, such as an open quote, from one message into the next): refuse it.
                // Recursing on a group of one would never end (a stack overflow found by the
                // `stream_csv` fuzz target; input in fuzz/regressions/stream_csv/).
                if group.len() == 1 {
                    self.rejected.push((i, r));
                    return;
                }
                // Otherwise isolate it by decoding each of the group alone.
                for &j in &group {
                    self.refeed_and_flush(new, vec![j]);
                }
                return;
            }
        }
        self.flush_group(new, decoder, group);
    }

    fn flush_group<D: RowDecoder>(
        &mut self,
        new: impl Fn() -> D + Copy,
        mut decoder: D,
        group: Vec<usize>,
    ) {
        if group.is_empty() {
            return;
        }
        match decoder.flush() {
            Ok(Some(batch)) if batch.num_rows() == group.len() => self.parts.push((group, batch)),
            Ok(other) => {
                let got = other.map_or(0, |b| b.num_rows());
                let r = Rejection::new(
                    RejectReason::ScoringFailed,
                    format!(
                        "internal: decoder gave {got} rows for {} messages",
                        group.len()
                    ),
                );
                self.rejected
                    .extend(group.into_iter().map(|i| (i, r.clone())));
            }
            Err(e) if group.len() == 1 => {
                let r = decoder.classify(self.payload(group[0]), &e);
                self.rejected.push((group[0], r));
            }
            Err(_) => {
                let mut lo = group;
                let hi = lo.split_off(lo.len() / 2);
                self.refeed_and_flush(new, lo);
                self.refeed_and_flush(new, hi);
            }
        }
    }
}

/// arrow's JSON decoder, one object per message.
struct JsonRows {
    decoder: Option<arrow::json::reader::Decoder>,
    /// What the decoder was built for, to hand it back to [`IDLE_JSON_DECODER`] after a clean
    /// flush.
    built_for: (SchemaRef, usize),
    /// Payload bytes fed since the decoder was last empty (its tape holds about that much).
    fed_bytes: usize,
    error: Option<String>,
}

/// A decoder that has held more payload bytes than this is not kept for reuse, so that one
/// batch of huge messages does not pin its buffers for the life of the thread.
const KEEP_DECODER_MAX_BYTES: usize = 16 << 20;

/// A JSON decoder whose last flush succeeded (so its tape is empty), kept per thread with the
/// schema and batch size it was built for. Reusing it keeps its tape buffers (about the size of a
/// batch of payloads) instead of allocating and page-faulting them in again for every batch: with
/// 1000-message batches of 32-feature objects that was a quarter of the decoding time
/// (`cargo bench --bench stream`, worker alone).
type IdleJsonDecoder = (SchemaRef, usize, arrow::json::reader::Decoder);

thread_local! {
    static IDLE_JSON_DECODER: std::cell::RefCell<Option<IdleJsonDecoder>> =
        const { std::cell::RefCell::new(None) };
}

impl JsonRows {
    fn new(schema: SchemaRef, capacity: usize) -> Self {
        let idle = IDLE_JSON_DECODER.with(|cell| {
            let mut cell = cell.borrow_mut();
            match cell.take() {
                Some((s, c, d)) if c >= capacity && s == schema => Some((s, c, d)),
                other => {
                    *cell = other;
                    None
                }
            }
        });
        if let Some((schema, capacity, d)) = idle {
            return Self {
                decoder: Some(d),
                built_for: (schema, capacity),
                fed_bytes: 0,
                error: None,
            };
        }
        match arrow::json::ReaderBuilder::new(schema.clone())
            .with_batch_size(capacity)
            .build_decoder()
        {
            Ok(d) => Self {
                decoder: Some(d),
                built_for: (schema, capacity),
                fed_bytes: 0,
                error: None,
            },
            Err(e) => Self {
                decoder: None,
                built_for: (schema, capacity),
                fed_bytes: 0,
                error: Some(e.to_string()),
            },
        }
    }
}

impl RowDecoder for JsonRows {
    fn feed(&mut self, payload: &[u8]) -> Result<(), Rejection> {
        let Some(decoder) = self.decoder.as_mut() else {
            let e = self.error.clone().unwrap_or_default();
            return Err(Rejection::new(
                RejectReason::ScoringFailed,
                format!("internal: {e}"),
            ));
        };
        let trimmed = payload.trim_ascii();
        if trimmed.first() != Some(&b'{') || trimmed.last() != Some(&b'}') {
            return Err(classify_json(payload, "expected one JSON object"));
        }
        let before = decoder.len();
        self.fed_bytes += payload.len();
        let mut rest = payload;
        // The decoder stops early only at its batch size, which is larger than the batch.
        while !rest.is_empty() {
            match decoder.decode(rest) {
                Ok(0) => break,
                Ok(n) => rest = &rest[n..],
                Err(e) => return Err(classify_json(payload, &e.to_string())),
            }
        }
        // A separator, so that a truncated number cannot run into the next message.
        if let Err(e) = decoder.decode(b"\n") {
            return Err(classify_json(payload, &e.to_string()));
        }
        if decoder.has_partial_record() {
            return Err(Rejection::new(
                RejectReason::BadJson,
                "truncated JSON: the object is not closed",
            ));
        }
        let added = decoder.len() - before;
        if added != 1 {
            return Err(Rejection::new(
                RejectReason::BadJson,
                format!("expected one JSON object per message, found {added} values"),
            ));
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        let Some(mut d) = self.decoder.take() else {
            return Err(ArrowError::JsonError(
                self.error.clone().unwrap_or_default(),
            ));
        };
        let out = d.flush();
        // A failed flush leaves rows on the tape: that decoder is dropped, not reused.
        if out.is_ok() && !d.has_partial_record() && self.fed_bytes <= KEEP_DECODER_MAX_BYTES {
            let (schema, capacity) = self.built_for.clone();
            IDLE_JSON_DECODER.with(|cell| *cell.borrow_mut() = Some((schema, capacity, d)));
        }
        out
    }

    fn classify(&self, payload: &[u8], e: &ArrowError) -> Rejection {
        match serde_json::from_slice::<serde_json::Value>(payload) {
            Ok(serde_json::Value::Object(_)) => Rejection::new(
                RejectReason::NonNumericFeature,
                format!("a feature is not a number: {}", strip_prefix(e)),
            ),
            Ok(_) => Rejection::new(RejectReason::NotAnObject, "expected one JSON object"),
            Err(_) => Rejection::new(RejectReason::BadJson, strip_prefix(e)),
        }
    }
}

/// `bad_json` when `payload` is not JSON at all, `not_an_object` when it is JSON but not an object.
fn classify_json(payload: &[u8], detail: &str) -> Rejection {
    match serde_json::from_slice::<serde_json::Value>(payload) {
        Ok(serde_json::Value::Object(_)) => Rejection::new(RejectReason::BadJson, detail),
        Ok(_) => Rejection::new(RejectReason::NotAnObject, "expected one JSON object"),
        Err(e) => Rejection::new(RejectReason::BadJson, format!("invalid JSON: {e}")),
    }
}

fn strip_prefix(e: &ArrowError) -> String {
    let s = e.to_string();
    for p in ["Json error: ", "Parser error: ", "Csv error: "] {
        if let Some(rest) = s.strip_prefix(p) {
            return rest.to_string();
        }
    }
    s
}

/// arrow's CSV decoder, one record per message.
struct CsvRows {
    decoder: arrow::csv::reader::Decoder,
    capacity: usize,
}

impl CsvRows {
    fn new(schema: SchemaRef, capacity: usize) -> Self {
        Self {
            decoder: arrow::csv::ReaderBuilder::new(schema)
                .with_header(false)
                .with_batch_size(capacity)
                .build_decoder(),
            capacity,
        }
    }

    fn rows(&self) -> usize {
        self.capacity - self.decoder.capacity()
    }
}

impl RowDecoder for CsvRows {
    fn feed(&mut self, payload: &[u8]) -> Result<(), Rejection> {
        let before = self.rows();
        let bad = |detail: String| Rejection::new(RejectReason::BadCsv, detail);
        let mut rest = payload;
        while !rest.is_empty() {
            match self.decoder.decode(rest) {
                Ok(0) => break,
                Ok(n) => rest = &rest[n..],
                Err(e) => return Err(bad(strip_prefix(&e))),
            }
        }
        if payload.last() != Some(&b'\n')
            && let Err(e) = self.decoder.decode(b"\n")
        {
            return Err(bad(strip_prefix(&e)));
        }
        let added = self.rows() - before;
        if added != 1 {
            return Err(bad(format!(
                "expected one CSV record per message, found {added} complete records"
            )));
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        self.decoder.flush()
    }

    fn classify(&self, _payload: &[u8], e: &ArrowError) -> Rejection {
        Rejection::new(
            RejectReason::NonNumericFeature,
            format!("a feature is not a number: {}", strip_prefix(e)),
        )
    }
}

/// Reads one message holding an Arrow IPC stream into one record batch (its batches
/// concatenated).
pub fn decode_ipc(payload: Option<&[u8]>) -> Result<RecordBatch, Rejection> {
    let payload = match payload {
        Some(p) if !p.is_empty() => p,
        _ => {
            return Err(Rejection::new(
                RejectReason::EmptyPayload,
                "message has no payload",
            ));
        }
    };
    let bad = |e: ArrowError| {
        Rejection::new(
            RejectReason::BadIpc,
            format!("not an Arrow IPC stream: {}", strip_prefix(&e)),
        )
    };
    // The sizes the message declares must fit in it, or the reader allocates them first.
    super::ipc_frame::check_declared_sizes(payload).map_err(|why| {
        Rejection::new(
            RejectReason::BadIpc,
            format!("not an Arrow IPC stream: {why}"),
        )
    })?;
    // arrow-ipc 59 panics on some malformed messages instead of returning an error (a buffer
    // offset past the body: `Buffer::slice_with_length` in `read_buffer`; a type id it does not
    // know: "Type NONE not supported"), and so does arrow-array building the empty batch of a
    // schema-only message whose schema is malformed (a map without a struct child), all found by
    // the `stream_ipc` fuzz target; inputs in fuzz/regressions/stream_ipc/. A message is untrusted
    // input, so such a panic is caught here and the message dead-lettered like any bad stream.
    // The closure only reads `payload`; nothing it touches outlives it, so unwinding out of it
    // leaves no broken state behind.
    let read = std::panic::catch_unwind(|| -> Result<_, ArrowError> {
        let reader = StreamReader::try_new(Cursor::new(payload), None)?;
        let schema = reader.schema();
        let mut batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>()?;
        match batches.len() {
            0 => Ok(RecordBatch::new_empty(schema)),
            1 => Ok(batches.remove(0)),
            _ => concat_batches(&schema, &batches),
        }
    });
    match read {
        Ok(read) => read.map_err(bad),
        Err(_) => Err(Rejection::new(
            RejectReason::BadIpc,
            "not an Arrow IPC stream: the IPC reader failed on a malformed message",
        )),
    }
}

/// Reads the features of an IPC batch for the model (one conversion to f32), refusing the message
/// when any of its rows is one the model cannot take (the first such row is named).
pub fn read_ipc_features(
    batch: &RecordBatch,
    layout: &FeatureLayout,
    policy: MissingPolicy,
) -> Result<FeatureRows, Rejection> {
    let rows = FeatureRows::read(batch, layout, policy).map_err(|e| {
        Rejection::new(
            RejectReason::NonNumericFeature,
            format!("feature column cannot be read as numbers: {e}"),
        )
    })?;
    match rows.faults().first() {
        None => Ok(rows),
        Some(f) => {
            let r = rejection(f);
            Err(Rejection::new(
                r.reason,
                format!("row {}: {}", f.row, r.detail),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use arrow::array::{AsArray, Float64Array};
    use arrow::datatypes::{DataType, Field, Float64Type, Schema};

    fn shape_ab() -> FeatureShape {
        FeatureShape::Scalars(vec!["a".into(), "b".into()])
    }

    fn decode(format: Format, msgs: &[&str], shape: &FeatureShape) -> DecodedRows {
        let payloads: Vec<Option<&[u8]>> = msgs.iter().map(|m| Some(m.as_bytes())).collect();
        decode_text(format, &payloads, shape, MissingPolicy::Reject)
    }

    fn reasons(d: &DecodedRows) -> Vec<(usize, RejectReason)> {
        d.rejected.iter().map(|(i, r)| (*i, r.reason)).collect()
    }

    fn column_a(d: &DecodedRows) -> Vec<f64> {
        d.batch
            .as_ref()
            .unwrap()
            .0
            .column(0)
            .as_primitive::<Float64Type>()
            .values()
            .to_vec()
    }

    #[test]
    fn clean_json_batch_is_one_row_per_message_in_order() {
        let d = decode(
            Format::Json,
            &[
                r#"{"a":1,"b":2,"id":"x"}"#,
                r#" {"b":4, "a":3} "#,
                r#"{"a":5,"b":6.5}"#,
            ],
            &shape_ab(),
        );
        assert!(d.rejected.is_empty(), "{:?}", d.rejected);
        assert_eq!(d.accepted, vec![0, 1, 2]);
        assert_eq!(column_a(&d), vec![1.0, 3.0, 5.0]);
    }

    #[test]
    fn every_kind_of_bad_json_is_isolated_and_named() {
        let msgs = [
            r#"{"a":1,"b":2}"#,       // 0 ok
            r#"{"a":1,"b":"#,         // 1 truncated
            r#"{"a":"x","b":2}"#,     // 2 non-numeric
            r#"{"a":3,"b":4}"#,       // 3 ok
            r#"[1,2]"#,               // 4 not an object
            r#"{"b":2}"#,             // 5 missing a
            r#"{"a":1}{"a":2}"#,      // 6 two objects
            r#"{"a":{"z":1},"b":1}"#, // 7 object for a number
            r#"not json"#,            // 8
            "",                       // 9 empty
            r#"{"a":5,"b":6}"#,       // 10 ok
            r#"{"a":1e999,"b":1}"#,   // 11 inf
        ];
        let d = decode(Format::Json, &msgs, &shape_ab());
        assert_eq!(d.accepted, vec![0, 3, 10]);
        assert_eq!(column_a(&d), vec![1.0, 3.0, 5.0]);
        assert_eq!(
            reasons(&d),
            vec![
                (1, RejectReason::BadJson),
                (2, RejectReason::NonNumericFeature),
                (4, RejectReason::NotAnObject),
                (5, RejectReason::MissingFeature),
                (6, RejectReason::BadJson),
                (7, RejectReason::NonNumericFeature),
                (8, RejectReason::BadJson),
                (9, RejectReason::EmptyPayload),
                (11, RejectReason::NonFiniteFeature),
            ]
        );
    }

    #[test]
    fn a_tombstone_is_refused() {
        let d = decode_text(Format::Json, &[None], &shape_ab(), MissingPolicy::Reject);
        assert_eq!(reasons(&d), vec![(0, RejectReason::EmptyPayload)]);
        assert!(d.batch.is_none());
    }

    #[test]
    fn vector_features_become_fixed_size_lists() {
        let shape = FeatureShape::Vector {
            column: "x".into(),
            width: 3,
        };
        let d = decode(
            Format::Json,
            &[
                r#"{"x":[1,2,3]}"#,
                r#"{"x":[1,2]}"#,
                r#"{"x":[1,2,3,4]}"#,
                r#"{"x":[7,8,9],"k":1}"#,
            ],
            &shape,
        );
        assert_eq!(
            reasons(&d),
            vec![
                (1, RejectReason::WrongVectorLength),
                (2, RejectReason::WrongVectorLength)
            ]
        );
        let (b, rows) = d.batch.unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(
            rows.matrix().to_owned(),
            ndarray::array![[1.0f32, 2.0, 3.0], [7.0, 8.0, 9.0]]
        );
    }

    #[test]
    fn csv_records_decode_and_refuse_like_json() {
        let d = decode(
            Format::Csv,
            &["1,2", "3,x", "1,2,3", "5,6\n", "7", "1,2\n3,4", "9,10"],
            &shape_ab(),
        );
        assert_eq!(d.accepted, vec![0, 3, 6]);
        assert_eq!(column_a(&d), vec![1.0, 5.0, 9.0]);
        assert_eq!(
            reasons(&d),
            vec![
                (1, RejectReason::NonNumericFeature),
                (2, RejectReason::BadCsv),
                (4, RejectReason::BadCsv),
                (5, RejectReason::BadCsv),
            ]
        );
    }

    #[test]
    fn many_bad_values_in_a_large_batch_are_all_found() {
        let msgs: Vec<String> = (0..500)
            .map(|i| {
                if i % 7 == 3 {
                    format!(r#"{{"a":"v{i}","b":1}}"#)
                } else {
                    format!(r#"{{"a":{i},"b":1}}"#)
                }
            })
            .collect();
        let refs: Vec<&str> = msgs.iter().map(String::as_str).collect();
        let d = decode(Format::Json, &refs, &shape_ab());
        let bad: Vec<usize> = d.rejected.iter().map(|(i, _)| *i).collect();
        let expected: Vec<usize> = (0..500).filter(|i| i % 7 == 3).collect();
        assert_eq!(bad, expected);
        let good: Vec<f64> = (0..500).filter(|i| i % 7 != 3).map(|i| i as f64).collect();
        assert_eq!(column_a(&d), good);
    }

    #[test]
    fn ipc_round_trip_and_garbage() {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Float64, true)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Float64Array::from(vec![1.0, 2.0]))],
        )
        .unwrap();
        let mut buf = Vec::new();
        {
            let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut buf, &schema).unwrap();
            w.write(&batch).unwrap();
            w.write(&batch).unwrap();
            w.finish().unwrap();
        }
        let got = decode_ipc(Some(&buf)).unwrap();
        assert_eq!(got.num_rows(), 4);
        assert_eq!(
            decode_ipc(Some(b"garbage")).unwrap_err().reason,
            RejectReason::BadIpc
        );
        assert_eq!(
            decode_ipc(Some(&buf[..buf.len() / 2])).unwrap_err().reason,
            RejectReason::BadIpc
        );
        assert_eq!(
            decode_ipc(None).unwrap_err().reason,
            RejectReason::EmptyPayload
        );
        // A message on which arrow-ipc's reader panics (found by fuzzing) is refused, not fatal.
        let panics_arrow =
            include_bytes!("../../fuzz/regressions/stream_ipc/arrow-ipc-buffer-offset-panic");
        assert_eq!(
            decode_ipc(Some(panics_arrow)).unwrap_err().reason,
            RejectReason::BadIpc
        );
        let layout = FeatureLayout::Scalars(vec![0]);
        assert!(read_ipc_features(&got, &layout, MissingPolicy::Reject).is_ok());
        let with_nan = RecordBatch::try_new(
            schema,
            vec![Arc::new(Float64Array::from(vec![
                Some(1.0),
                Some(f64::NAN),
            ]))],
        )
        .unwrap();
        let r = read_ipc_features(&with_nan, &layout, MissingPolicy::Reject).unwrap_err();
        assert_eq!(r.reason, RejectReason::NonFiniteFeature);
        assert!(r.detail.starts_with("row 1"));
    }
}
