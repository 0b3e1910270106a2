//! Owned copies of Kafka messages as they move through the stage: what was consumed
//! ([`InputMessage`]) and what will be produced ([`OutputRecord`]).
//!
//! The consumer's borrowed messages live only until the next poll, and scoring happens on another
//! thread, so each message is copied once on arrival. Payloads are never copied again: outputs
//! are built from them, dead letters move them.

use std::sync::Arc;
use std::time::Instant;

use rdkafka::Message;
use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};

/// A consumed message, owned.
#[derive(Debug, Clone)]
pub struct InputMessage {
    /// Source topic.
    pub topic: Arc<str>,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
    /// Message key, if any.
    pub key: Option<Vec<u8>>,
    /// Message payload; `None` for a tombstone.
    pub payload: Option<Vec<u8>>,
    /// Headers in their original order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Message timestamp in ms since the Unix epoch, when the broker gave one.
    pub timestamp_ms: Option<i64>,
    /// When the stage received it (for batch latency).
    pub received_at: Instant,
}

impl InputMessage {
    /// Copies a consumed message. `topic` is reused when it names the message's topic, so that
    /// a stage reading one topic does not allocate a topic string per message.
    pub fn from_borrowed(m: &BorrowedMessage<'_>, topic: &Arc<str>, now: Instant) -> Self {
        let topic = if &**topic == m.topic() {
            topic.clone()
        } else {
            Arc::from(m.topic())
        };
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            topic,
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec),
            headers,
            timestamp_ms: m.timestamp().to_millis(),
            received_at: now,
        }
    }

    /// `topic/partition@offset`, for logs and error messages.
    pub fn describe(&self) -> String {
        format!("{}/{}@{}", self.topic, self.partition, self.offset)
    }
}

/// A record to produce: an output, or a dead letter.
#[derive(Debug, Clone)]
pub struct OutputRecord {
    /// Destination topic.
    pub topic: Arc<str>,
    /// Key (the input's key, unchanged).
    pub key: Option<Vec<u8>>,
    /// Payload.
    pub payload: Option<Vec<u8>>,
    /// Headers: the input's, then the stage's own.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Timestamp to carry over (ms since the Unix epoch).
    pub timestamp_ms: Option<i64>,
}

impl OutputRecord {
    /// The headers in librdkafka's form.
    pub fn owned_headers(&self) -> Option<OwnedHeaders> {
        if self.headers.is_empty() {
            return None;
        }
        let mut out = OwnedHeaders::new_with_capacity(self.headers.len());
        for (key, value) in &self.headers {
            out = out.insert(Header {
                key,
                value: value.as_deref(),
            });
        }
        Some(out)
    }
}
