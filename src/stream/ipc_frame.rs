//! The sizes an Arrow IPC stream message declares, checked against the bytes it has, before
//! arrow's `StreamReader` reads it.
//!
//! An IPC stream is a sequence of encapsulated messages, each
//! `[0xFFFFFFFF] <metadata length: i32 LE> <metadata: flatbuffer Message> <body: bodyLength bytes>`,
//! ended by a zero length or by the end of the bytes. arrow-ipc 59's `MessageReader` allocates the
//! metadata length and then the body length *before* reading them (`buf.resize(meta_len)`,
//! `MutableBuffer::from_len_zeroed(bodyLength as usize)`), so a Kafka message of a few hundred
//! bytes declaring an 8 GiB body (found by the `stream_ipc` fuzz target; input in
//! `fuzz/regressions/stream_ipc/`) makes the stage allocate 8 GiB, and a larger or negative one
//! aborts the process on allocation failure, which no `catch_unwind` can stop. Here each declared
//! size must fit in what follows it in the message; a message that passes cannot make the reader
//! allocate more than its own length per message.

use arrow::ipc::root_as_message;

/// The continuation marker before each message's metadata length (absent in pre-1.0 streams).
const CONTINUATION: [u8; 4] = [0xFF; 4];

/// `Err(why)` when a message of the IPC stream in `payload` declares metadata or a body longer
/// than the bytes after it. Anything else that is malformed (a short length, a metadata block
/// that is not a flatbuffer) passes: the reader that follows refuses it with its own error
/// without allocating more than it reads.
pub(super) fn check_declared_sizes(payload: &[u8]) -> Result<(), String> {
    let mut at = 0usize;
    for message in 1.. {
        let Some(mut len) = read_u32(payload, at) else {
            return Ok(()); // end of the bytes: the reader's end of stream
        };
        at += 4;
        if len == CONTINUATION {
            let Some(next) = read_u32(payload, at) else {
                return Ok(());
            };
            len = next;
            at += 4;
        }
        let Ok(meta_len) = usize::try_from(i32::from_le_bytes(len)) else {
            return Ok(()); // negative: the reader refuses it
        };
        if meta_len == 0 {
            return Ok(()); // end-of-stream marker
        }
        let left = payload.len() - at;
        if meta_len > left {
            return Err(format!(
                "message {message} declares {meta_len} bytes of metadata but only {left} follow"
            ));
        }
        let Ok(meta) = root_as_message(&payload[at..at + meta_len]) else {
            return Ok(());
        };
        at += meta_len;
        let body = meta.bodyLength();
        let left = payload.len() - at;
        match usize::try_from(body) {
            Ok(body) if body <= left => at += body,
            _ => {
                return Err(format!(
                    "message {message} declares a body of {body} bytes but only {left} follow"
                ));
            }
        }
    }
    Ok(())
}

/// The four bytes at `at`, if there are four.
fn read_u32(payload: &[u8], at: usize) -> Option<[u8; 4]> {
    payload.get(at..at.checked_add(4)?)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float32Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::ipc::writer::StreamWriter;

    use super::*;

    /// A valid IPC stream: schema, one batch of three rows, end marker.
    fn stream() -> Vec<u8> {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Float32, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Float32Array::from(vec![1.0, 2.0, 3.0]))],
        )
        .unwrap();
        let mut w = StreamWriter::try_new(Vec::new(), &schema).unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();
        w.into_inner().unwrap()
    }

    /// The body length the second message (the batch) of [`stream`] declares, and the offset of
    /// that `bodyLength` field (i64 LE) in the bytes.
    fn batch_body_length(bytes: &[u8]) -> (i64, usize) {
        let meta_len = |at: usize| {
            usize::try_from(i32::from_le_bytes(
                bytes[at + 4..at + 8].try_into().unwrap(),
            ))
            .unwrap()
        };
        let schema_len = meta_len(0); // the schema message has no body
        let at = 8 + schema_len;
        let meta = &bytes[at + 8..at + 8 + meta_len(at)];
        let body = root_as_message(meta).unwrap().bodyLength();
        let field = meta
            .windows(8)
            .position(|w| w == body.to_le_bytes())
            .expect("the batch's body length is in its metadata");
        (body, at + 8 + field)
    }

    #[test]
    fn a_valid_stream_and_its_truncations_pass_or_fail_by_their_sizes() {
        let bytes = stream();
        assert_eq!(check_declared_sizes(&bytes), Ok(()));
        assert_eq!(check_declared_sizes(&[]), Ok(()));
        // Cut inside the second message's body: it declares more than follows.
        let cut = &bytes[..bytes.len() - 12];
        let err = check_declared_sizes(cut).unwrap_err();
        assert!(err.starts_with("message 2 declares a body of"), "{err}");
    }

    #[test]
    fn a_body_larger_than_the_message_is_refused_before_any_allocation() {
        let mut bytes = stream();
        let (body, at) = batch_body_length(&bytes);
        assert!(body > 0);
        bytes[at..at + 8].copy_from_slice(&(8i64 << 30).to_le_bytes());
        let err = check_declared_sizes(&bytes).unwrap_err();
        assert!(
            err.contains("declares a body of 8589934592 bytes but only"),
            "{err}"
        );
        bytes[at..at + 8].copy_from_slice(&(-1i64).to_le_bytes());
        let err = check_declared_sizes(&bytes).unwrap_err();
        assert!(err.contains("declares a body of -1 bytes"), "{err}");
    }

    #[test]
    fn the_fuzz_input_that_declared_an_8_gib_body_is_refused() {
        let bytes = include_bytes!("../../fuzz/regressions/stream_ipc/declared-body-8gib");
        let err = check_declared_sizes(bytes).unwrap_err();
        assert!(
            err.contains("declares a body of 8589934720 bytes but only"),
            "{err}"
        );
    }

    #[test]
    fn metadata_longer_than_the_message_is_refused() {
        let mut bytes = stream();
        bytes[4..8].copy_from_slice(&i32::MAX.to_le_bytes());
        let err = check_declared_sizes(&bytes).unwrap_err();
        assert!(
            err.starts_with("message 1 declares 2147483647 bytes of metadata"),
            "{err}"
        );
    }
}
