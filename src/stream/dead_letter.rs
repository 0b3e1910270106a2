//! Dead letters: why a message was refused, and the record that carries it to the DLQ topic.
//!
//! A dead letter is the input message *unchanged* (key, payload, headers, timestamp), with these
//! headers appended:
//!
//! | header                    | value                                                        |
//! |---------------------------|--------------------------------------------------------------|
//! | `aeflow.dlq.reason`       | a stable code, see [`RejectReason::code`]                    |
//! | `aeflow.dlq.detail`       | one human-readable line naming the feature and the problem   |
//! | `aeflow.source.topic`     | topic the message was read from                              |
//! | `aeflow.source.partition` | its partition, decimal                                       |
//! | `aeflow.source.offset`    | its offset, decimal                                          |
//! | `aeflow.model`            | `name@version` of the model in use when it was refused       |

use std::fmt;
use std::sync::Arc;

use super::message::{InputMessage, OutputRecord};

/// Header names written on dead letters.
pub mod headers {
    /// Stable reason code.
    pub const REASON: &str = "aeflow.dlq.reason";
    /// Human-readable detail.
    pub const DETAIL: &str = "aeflow.dlq.detail";
    /// Source topic.
    pub const SOURCE_TOPIC: &str = "aeflow.source.topic";
    /// Source partition (decimal).
    pub const SOURCE_PARTITION: &str = "aeflow.source.partition";
    /// Source offset (decimal).
    pub const SOURCE_OFFSET: &str = "aeflow.source.offset";
    /// `name@version` of the model (also set on every output).
    pub const MODEL: &str = "aeflow.model";
}

/// Why a message could not be decoded or scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// No payload (a tombstone) or an empty one.
    EmptyPayload,
    /// Not valid JSON, or not exactly one JSON value.
    BadJson,
    /// Valid JSON, but not one object.
    NotAnObject,
    /// Not one CSV record with the model's columns.
    BadCsv,
    /// Not a readable Arrow IPC stream.
    BadIpc,
    /// A feature is absent or null and the model does not impute.
    MissingFeature,
    /// A feature holds something that is not a number (a string, an object, ...).
    NonNumericFeature,
    /// A vector feature has the wrong number of elements.
    WrongVectorLength,
    /// A feature is NaN or ±infinity.
    NonFiniteFeature,
    /// An Arrow IPC message whose columns do not match the model's features.
    SchemaMismatch,
    /// Decoded fine, but the model refused the row.
    ScoringFailed,
}

impl RejectReason {
    /// Every reason, in a fixed order (for metrics).
    pub const ALL: [RejectReason; 11] = [
        RejectReason::EmptyPayload,
        RejectReason::BadJson,
        RejectReason::NotAnObject,
        RejectReason::BadCsv,
        RejectReason::BadIpc,
        RejectReason::MissingFeature,
        RejectReason::NonNumericFeature,
        RejectReason::WrongVectorLength,
        RejectReason::NonFiniteFeature,
        RejectReason::SchemaMismatch,
        RejectReason::ScoringFailed,
    ];

    /// The stable code written to the `aeflow.dlq.reason` header and the metrics label.
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::EmptyPayload => "empty_payload",
            RejectReason::BadJson => "bad_json",
            RejectReason::NotAnObject => "not_an_object",
            RejectReason::BadCsv => "bad_csv",
            RejectReason::BadIpc => "bad_ipc",
            RejectReason::MissingFeature => "missing_feature",
            RejectReason::NonNumericFeature => "non_numeric_feature",
            RejectReason::WrongVectorLength => "wrong_vector_length",
            RejectReason::NonFiniteFeature => "non_finite_feature",
            RejectReason::SchemaMismatch => "schema_mismatch",
            RejectReason::ScoringFailed => "scoring_failed",
        }
    }

    /// Position in [`RejectReason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A refused message's reason and detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The reason code.
    pub reason: RejectReason,
    /// One line naming the feature and what was expected.
    pub detail: String,
}

impl Rejection {
    /// A rejection with this reason and detail.
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

/// The DLQ record for `message`: the message unchanged, plus the headers in the module docs.
/// Takes the message by value so that its payload moves instead of being copied.
pub fn dead_letter(
    message: InputMessage,
    rejection: &Rejection,
    dlq_topic: &Arc<str>,
    model_tag: &str,
) -> OutputRecord {
    let mut headers = message.headers;
    let source = [
        (headers::REASON, rejection.reason.code().to_string()),
        (headers::DETAIL, rejection.detail.clone()),
        (headers::SOURCE_TOPIC, message.topic.to_string()),
        (headers::SOURCE_PARTITION, message.partition.to_string()),
        (headers::SOURCE_OFFSET, message.offset.to_string()),
        (headers::MODEL, model_tag.to_string()),
    ];
    headers.extend(
        source
            .into_iter()
            .map(|(k, v)| (k.to_string(), Some(v.into_bytes()))),
    );
    OutputRecord {
        topic: dlq_topic.clone(),
        key: message.key,
        payload: message.payload,
        headers,
        timestamp_ms: message.timestamp_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn dead_letter_keeps_the_message_and_adds_source_headers() {
        let m = InputMessage {
            topic: Arc::from("in"),
            partition: 3,
            offset: 42,
            key: Some(b"k".to_vec()),
            payload: Some(b"{oops".to_vec()),
            headers: vec![("trace".into(), Some(b"t1".to_vec()))],
            timestamp_ms: Some(1234),
            received_at: Instant::now(),
        };
        let r = Rejection::new(RejectReason::BadJson, "expected an object");
        let d = dead_letter(m, &r, &Arc::from("dlq"), "m@abc");
        assert_eq!(&*d.topic, "dlq");
        assert_eq!(d.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(d.payload.as_deref(), Some(&b"{oops"[..]));
        assert_eq!(d.timestamp_ms, Some(1234));
        let h = |k: &str| {
            d.headers
                .iter()
                .find(|(name, _)| name == k)
                .and_then(|(_, v)| v.clone())
                .map(|v| String::from_utf8(v).unwrap())
        };
        assert_eq!(d.headers[0].0, "trace");
        assert_eq!(h(headers::REASON).as_deref(), Some("bad_json"));
        assert_eq!(h(headers::DETAIL).as_deref(), Some("expected an object"));
        assert_eq!(h(headers::SOURCE_TOPIC).as_deref(), Some("in"));
        assert_eq!(h(headers::SOURCE_PARTITION).as_deref(), Some("3"));
        assert_eq!(h(headers::SOURCE_OFFSET).as_deref(), Some("42"));
        assert_eq!(h(headers::MODEL).as_deref(), Some("m@abc"));
    }

    #[test]
    fn reason_indices_match_all() {
        for (i, r) in RejectReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }
}
