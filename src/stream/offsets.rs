//! Which offsets a batch covers, what to commit when it is delivered, and where to rewind when it is
//! not.
//!
//! Batches complete in the order they were cut (the producer side handles them one after another).
//! A delivered batch commits, per partition, `last + 1`: the offset of the next message to read.
//! Because every earlier batch has completed by then, that commit never skips an undelivered
//! message. When a batch fails, every partition it or any later in-flight batch touches is rewound
//! to the smallest offset among them, which is the first undelivered message of that partition.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use rdkafka::{Offset, TopicPartitionList};

use super::message::InputMessage;
use crate::error::{Error, Result};

/// A topic and partition.
pub type TopicPartition = (Arc<str>, i32);

/// The offsets one batch covers: per partition, its first and last message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOffsets {
    /// `(topic, partition) → (first, last)`.
    pub ranges: BTreeMap<TopicPartition, (i64, i64)>,
}

impl BatchOffsets {
    /// The ranges of `messages` (in any order).
    pub fn of(messages: &[InputMessage]) -> Self {
        let mut ranges: BTreeMap<TopicPartition, (i64, i64)> = BTreeMap::new();
        for m in messages {
            ranges
                .entry((m.topic.clone(), m.partition))
                .and_modify(|(first, last)| {
                    *first = (*first).min(m.offset);
                    *last = (*last).max(m.offset);
                })
                .or_insert((m.offset, m.offset));
        }
        Self { ranges }
    }

    /// The offsets to commit once the batch is delivered: `last + 1` per partition.
    pub fn commit_list(&self) -> Result<TopicPartitionList> {
        let mut tpl = TopicPartitionList::with_capacity(self.ranges.len());
        for ((topic, partition), (_, last)) in &self.ranges {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(last + 1))?;
        }
        Ok(tpl)
    }

    /// `true` when the batch holds no message.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// One batch between being cut and being delivered.
#[derive(Debug, Clone)]
pub struct InFlightBatch {
    /// Batch id (increasing).
    pub id: u64,
    /// Its offsets.
    pub offsets: BatchOffsets,
    /// When its first message was received.
    pub first_received: Instant,
    /// Number of messages.
    pub messages: usize,
}

/// The batches cut but not yet delivered, oldest first, and the offsets delivered so far.
#[derive(Debug, Default)]
pub struct InFlight {
    batches: VecDeque<InFlightBatch>,
    delivered: BTreeMap<TopicPartition, i64>,
}

impl InFlight {
    /// Nothing in flight.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a batch that was just cut.
    pub fn push(&mut self, batch: InFlightBatch) {
        self.batches.push_back(batch);
    }

    /// Number of batches in flight.
    pub fn len(&self) -> usize {
        self.batches.len()
    }

    /// `true` when nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Batch `id` was delivered; it must be the oldest in flight. Returns it.
    pub fn complete(&mut self, id: u64) -> Result<InFlightBatch> {
        match self.batches.front() {
            Some(b) if b.id == id => {}
            other => {
                return Err(Error::Internal(format!(
                    "batch {id} completed out of order (oldest in flight: {:?})",
                    other.map(|b| b.id)
                )));
            }
        }
        let b = self
            .batches
            .pop_front()
            .ok_or_else(|| Error::Internal("empty".into()))?;
        for (tp, (_, last)) in &b.offsets.ranges {
            let next = self.delivered.entry(tp.clone()).or_insert(last + 1);
            *next = (*next).max(last + 1);
        }
        Ok(b)
    }

    /// Per partition, the next offset after everything delivered so far (what the final commit
    /// of an at-least-once stage sends).
    pub fn delivered(&self) -> Result<TopicPartitionList> {
        let mut tpl = TopicPartitionList::with_capacity(self.delivered.len());
        for ((topic, partition), next) in &self.delivered {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
        }
        Ok(tpl)
    }

    /// Per partition, the next offset after everything delivered so far.
    pub fn delivered_positions(&self) -> impl Iterator<Item = (&TopicPartition, i64)> {
        self.delivered.iter().map(|(tp, next)| (tp, *next))
    }

    /// Where to rewind each partition touched by the batches in flight or by `pending` (messages
    /// not yet cut into a batch): the smallest offset among them.
    pub fn rewind_points(&self, pending: &[InputMessage]) -> BTreeMap<TopicPartition, i64> {
        let mut points: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        let mut note = |tp: &TopicPartition, first: i64| {
            points
                .entry(tp.clone())
                .and_modify(|o| *o = (*o).min(first))
                .or_insert(first);
        };
        for b in &self.batches {
            for (tp, (first, _)) in &b.offsets.ranges {
                note(tp, *first);
            }
        }
        for m in pending {
            note(&(m.topic.clone(), m.partition), m.offset);
        }
        points
    }

    /// Forgets the batches in flight (they are stale); delivered offsets are kept.
    pub fn clear(&mut self) {
        self.batches.clear();
    }

    /// Forgets delivered offsets of partitions (after they were committed or revoked).
    pub fn forget_delivered(&mut self) {
        self.delivered.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(p: i32, o: i64) -> InputMessage {
        InputMessage {
            topic: Arc::from("t"),
            partition: p,
            offset: o,
            key: None,
            payload: None,
            headers: vec![],
            timestamp_ms: None,
            received_at: Instant::now(),
        }
    }

    fn batch(id: u64, msgs: &[InputMessage]) -> InFlightBatch {
        InFlightBatch {
            id,
            offsets: BatchOffsets::of(msgs),
            first_received: Instant::now(),
            messages: msgs.len(),
        }
    }

    fn offsets(tpl: &TopicPartitionList) -> Vec<(i32, Offset)> {
        tpl.elements()
            .iter()
            .map(|e| (e.partition(), e.offset()))
            .collect()
    }

    #[test]
    fn commit_is_last_plus_one_per_partition() {
        let b = BatchOffsets::of(&[msg(0, 5), msg(1, 9), msg(0, 6), msg(0, 7)]);
        assert_eq!(
            offsets(&b.commit_list().unwrap()),
            vec![(0, Offset::Offset(8)), (1, Offset::Offset(10))]
        );
    }

    #[test]
    fn batches_complete_in_order_and_rewind_to_first_undelivered() {
        let mut f = InFlight::new();
        f.push(batch(1, &[msg(0, 0), msg(0, 1), msg(1, 0)]));
        f.push(batch(2, &[msg(0, 2), msg(1, 1)]));
        f.push(batch(3, &[msg(2, 40)]));
        assert!(f.complete(2).is_err(), "out-of-order completion is a bug");
        f.complete(1).unwrap();
        assert_eq!(
            offsets(&f.delivered().unwrap()),
            vec![(0, Offset::Offset(2)), (1, Offset::Offset(1))]
        );
        // Batch 2 fails: rewind partitions of 2, 3 and the pending messages.
        let points = f.rewind_points(&[msg(0, 3), msg(3, 7)]);
        let points: Vec<(i32, i64)> = points.into_iter().map(|((_, p), o)| (p, o)).collect();
        assert_eq!(points, vec![(0, 2), (1, 1), (2, 40), (3, 7)]);
        f.clear();
        assert!(f.is_empty());
    }
}
