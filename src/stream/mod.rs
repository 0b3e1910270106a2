//! The Kafka stage: batcher, decode/encode, offsets, the run loop (owner: kafka work).
