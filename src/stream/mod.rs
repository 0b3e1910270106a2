//! The Kafka stage: read a topic, score (or encode) each message with an autoencoder, write the
//! results to another topic, with stated delivery guarantees.
//!
//! Data flows one way: Kafka message → Arrow record batch (`decode.rs`) → the model through
//! [`crate::arrow::score_batch`] / [`crate::arrow::encode_batch`] (`worker.rs`) → output payload
//! in the input's format (`encode.rs`) → Kafka (`sink.rs`, `transaction.rs`) → offset commit
//! (`offsets.rs`). `stage.rs` holds the run loop and [`StreamStageBuilder`]. The submodules are
//! private; what a caller needs is re-exported here.
//!
//! # Delivery guarantees
//!
//! **At-least-once (default).** A batch's offsets (`last + 1` per partition) are committed only
//! after every output and dead letter of the batch has been acknowledged by the broker, and
//! batches commit in order. After a crash at any moment (SIGKILL included) the stage restarts
//! from the last commit: nothing is lost; the batches in flight at the crash are produced again
//! (duplicates). A batch whose delivery fails (after librdkafka's own retries) is re-read
//! from its first offset. The producer is idempotent, so librdkafka's retries add no duplicates
//! and keep the order.
//!
//! **Exactly-once (`exactly_once(true)`, `--exactly-once`).** Each batch is one Kafka transaction
//! holding its outputs, its dead letters and its offsets (`send_offsets_to_transaction`). A
//! failed transaction is aborted and the batch re-read. A `read_committed` consumer of the output
//! sees each input's result exactly once, across crashes and restarts; a restarted instance
//! (same transactional id) fences the previous one.
//!
//! **Limits.** Exactly-once holds on a broker that implements transactions as Kafka does:
//! aborted records hidden from `read_committed` readers, and transactional offset commits fenced by
//! consumer-group generation (KIP-447, Kafka ≥ 2.5). aeflow's tests show on librdkafka's mock
//! cluster that offsets move only with committed transactions, that a restart resumes from the
//! last committed one and that no output is written outside a transaction; the mock cluster does
//! not hide aborted records, so "no duplicate visible to read_committed consumers" is what only a
//! real Kafka shows. The Tansu broker has no transactions, so only at-least-once runs there.
//! Several exactly-once instances in one group need distinct transactional ids. Per-partition order
//! of outputs follows input order within each output partition (outputs keep the input key, so
//! the producer's partitioner places them). A rebalance drops the batches in flight and the new
//! assignment re-reads them from the committed offsets: duplicates under at-least-once, aborted
//! transactions under exactly-once.
//!
//! # Streams that change
//! In score mode the scoring thread keeps a window of the last `threshold_window` errors
//! (`live.rs`): with an adaptive threshold each batch is judged against its quantile and outputs
//! carry `threshold`; the PSI of the window against the model's training errors and each feature's
//! mean shift are exported as gauges, and crossing `drift_alert` is logged (and sent to
//! `drift_topic`). The adaptive window's checkpoint is produced with each batch to `state_topic`
//! (in its transaction under exactly-once) and read back at start (`state.rs`).
//!
//! # Dead letters
//! A message that cannot be decoded or scored is sent, unchanged, to the DLQ topic with headers
//! giving the reason and its source topic, partition and offset ([`dlq_headers`]). Without a DLQ
//! topic it is counted (`aeflow_stream_messages_rejected_total{reason}`), logged and skipped.
//! Nothing a message contains can stop the stage.

mod batcher;
mod config;
mod context;
mod dead_letter;
mod decode;
mod encode;
mod epoch;
mod features;
mod http;
mod ipc_frame;
mod live;
mod message;
mod metrics;
mod offsets;
mod reload;
mod sink;
mod stage;
mod state;
mod transaction;
mod worker;

pub use batcher::Batcher;
pub use config::{StageConfig, ThresholdMode, parse_kafka_option};
pub use dead_letter::{RejectReason, Rejection, headers as dlq_headers};
pub use decode::Format;
pub use encode::{Mode, ModelTag};
pub use metrics::{Histogram, Metrics, MetricsSnapshot};
pub use stage::{StreamStage, StreamStageBuilder, shutdown_signal};

/// The stage's insides that `benches/stream.rs` measures without a broker (the scoring worker
/// on a batch of messages) and that the fuzz targets (`fuzz/`) feed untrusted bytes: the message
/// decoders and output encoders. Not part of the API: hidden from the docs and free to change.
///
/// A `#[doc(hidden)]` re-export rather than a `bench` cargo feature: the bench then builds, and
/// `cargo clippy --all-targets` checks it, with the default features, and no item of the stage
/// has to be `pub` for any other reason.
#[doc(hidden)]
pub mod bench {
    pub use super::decode::{DecodedRows, decode_ipc, decode_text, read_ipc_features};
    pub use super::encode::{RowValues, csv_output, ipc_output, json_output};
    pub use super::features::FeatureShape;
    pub use super::live::LiveSettings;
    pub use super::message::InputMessage;
    pub use super::offsets::BatchOffsets;
    pub use super::reload::ActiveModel;
    pub use super::worker::{Work, WorkerSettings, process};
}
