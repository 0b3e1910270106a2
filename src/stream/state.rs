//! Reading the adaptive threshold's last checkpoint back from the state topic at start.
//!
//! The state topic holds one record per delivered batch, keyed `aeflow.threshold/<group>/<input
//! topic>` ([`StageConfig::state_key`]), produced with the batch's outputs (in its transaction
//! under exactly-once). Create it compacted (`cleanup.policy=compact`) so that it keeps about one
//! record per key. At start the stage reads every partition of it from the beginning to its high
//! watermark (`read_committed`: an aborted transaction's checkpoint is not seen on a broker that
//! hides aborted records) and resumes from the last record with its key.
//!
//! Why a topic and not the offset commit's metadata string, which would tie the checkpoint to the
//! offsets atomically: a Kafka broker caps that string at `offset.metadata.max.bytes` (4096 by
//! default), librdkafka's mock cluster drops it from transactional commits (its TxnOffsetCommit
//! handler stores nothing), and Tansu 0.6 stores it but answers every OffsetFetch with an empty
//! one. A record on a topic behaves the same on all three.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::config::StageConfig;
use crate::error::{Error, Result};
use crate::model::ThresholdCheckpoint;

/// How long reading the state topic may take.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for more records once the high watermarks are reached.
const QUIET: Duration = Duration::from_millis(500);

/// The last checkpoint on `topic` under this stage's key, if any. Blocking.
pub fn read_checkpoint(config: &StageConfig, topic: &str) -> Result<Option<ThresholdCheckpoint>> {
    let key = config.state_key();
    let mut c = config.consumer_config();
    c.set("group.id", format!("{}.state-reader", config.group_id))
        .set("enable.partition.eof", "false")
        .remove("statistics.interval.ms");
    let consumer: BaseConsumer = c.create()?;
    let metadata = consumer
        .fetch_metadata(Some(topic), READ_TIMEOUT)
        .map_err(|e| Error::from(e).context(format!("reading the state topic '{topic}'")))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(Error::config(
            "state_topic",
            format!("topic '{topic}' does not exist (create it, compacted, before the stage)"),
        ));
    }
    let mut tpl = TopicPartitionList::new();
    let mut ends = Vec::new();
    for p in &partitions {
        let (low, high) = consumer.fetch_watermarks(topic, *p, READ_TIMEOUT)?;
        if high > low {
            tpl.add_partition_offset(topic, *p, Offset::Beginning)?;
            ends.push((*p, high));
        }
    }
    if ends.is_empty() {
        return Ok(None);
    }
    consumer.assign(&tpl)?;
    let deadline = Instant::now() + READ_TIMEOUT;
    let mut last: Option<(i64, i32, Vec<u8>)> = None;
    let mut done = vec![false; ends.len()];
    // Past the high watermarks, read on until nothing came for QUIET: Tansu 0.6 answers
    // ListOffsets(latest) with the base offset of its newest stored batch + 1, short of the end
    // when that batch holds several records.
    let mut quiet_since: Option<Instant> = None;
    while quiet_since.is_none_or(|q| q.elapsed() < QUIET) {
        if quiet_since.is_none() && done.iter().all(|d| *d) {
            quiet_since = Some(Instant::now());
        }
        if Instant::now() > deadline {
            return Err(Error::config(
                "state_topic",
                format!("could not read '{topic}' to its end within {READ_TIMEOUT:?}"),
            ));
        }
        let Some(m) = consumer.poll(Duration::from_millis(100)) else {
            // Aborted or control records at the end may never arrive as messages.
            for (i, (p, high)) in ends.iter().enumerate() {
                let position = consumer
                    .position()?
                    .find_partition(topic, *p)
                    .and_then(|e| e.offset().to_raw());
                if position.is_some_and(|o| o >= *high) {
                    done[i] = true;
                }
            }
            continue;
        };
        let m = m?;
        if quiet_since.is_some() {
            quiet_since = Some(Instant::now());
        }
        if let Some(i) = ends.iter().position(|(p, _)| *p == m.partition())
            && m.offset() + 1 >= ends[i].1
        {
            done[i] = true;
        }
        if m.key() == Some(key.as_bytes())
            && let Some(payload) = m.payload()
        {
            // Across partitions, the newest record (by broker timestamp) wins; the key hashes to
            // one partition anyway.
            let ts = m.timestamp().to_millis().unwrap_or(0);
            if last.as_ref().is_none_or(|(t, _, _)| ts >= *t) {
                last = Some((ts, m.partition(), payload.to_vec()));
            }
        }
    }
    last.map(|(_, p, bytes)| ThresholdCheckpoint::from_bytes(&bytes, &format!("{topic}/{p}")))
        .transpose()
}
