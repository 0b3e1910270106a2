//! The fuzzed entry points: each takes untrusted bytes the way aeflow receives them and drives
//! them through the public API as far as they go, like the surface that reads them does. Errors
//! are the expected outcome for most inputs; a panic (or a broken invariant asserted here) is a
//! finding.
//!
//! This file is the library of the `fuzz/` crate (one thin `fuzz_target!` per entry under
//! `fuzz_targets/`) and is also compiled as a module by `tests/fuzz_replay.rs`, which replays the
//! committed corpora on stable. It therefore names no crate of its own and uses only aeflow's
//! public items and the dependencies the two share (ndarray, safetensors, sha2, serde_json).
//!
//! | entry | bytes | public API driven |
//! |---|---|---|
//! | [`model_file`] | a model file | `Autoencoder::from_bytes`, then `to_bytes`, `score`, `encode` |
//! | [`stream_json`] | JSON messages separated by [`MESSAGE_SEPARATOR`] | `stream::bench::decode_text`, `arrow::score_batch`, `stream::encode::json_output` |
//! | [`stream_csv`] | CSV messages separated by [`MESSAGE_SEPARATOR`] | the same with `csv_output` |
//! | [`stream_ipc`] | one Arrow IPC stream message | `decode_ipc`, `read_ipc_features`, `score_batch`, `ipc_output` |
//! | [`sql_statement`] | SQL text | `sql::statement::parse`, `sql::TrainOptions::from_options`, `TrainConfig::validate` |

use std::sync::OnceLock;

use aeflow::model::{MissingPolicy, ScoreOptions, Silent};
use aeflow::{Autoencoder, TrainConfig};
use ndarray::Array2;

/// Splits one fuzz input into the payloads of several Kafka messages (ASCII record separator),
/// so that a single input exercises a batch: the decoders bisect a batch to find bad messages.
/// An empty part is a message without payload.
pub const MESSAGE_SEPARATOR: u8 = 0x1e;

/// The models the stream entries decode for, trained once per process (tiny, 2 epochs).
pub struct Models {
    /// Scalar features `a, b, c`; NULLs imputed with the training mean.
    pub scalar: Autoencoder,
    /// One vector feature `x` of width 8 (`x[0]` … `x[7]`), convolutional; NULLs refused.
    pub vector: Autoencoder,
}

/// Rows of `d` features that move together, deterministic.
pub fn training_rows(rows: usize, d: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, d), |(i, j)| {
        let t = (i as f32 * 0.37).sin();
        t * (j as f32 + 1.0) + 0.1 * ((i * 7 + j * 3) % 5) as f32
    })
}

/// The two models of [`Models`], trained on [`training_rows`].
pub fn models() -> &'static Models {
    static MODELS: OnceLock<Models> = OnceLock::new();
    MODELS.get_or_init(|| {
        let quick = TrainConfig {
            epochs: 2,
            batch_size: 16,
            validation_split: 0.0,
            early_stopping: false,
            contamination: 0.1,
            ..TrainConfig::default()
        };
        let names = ["a", "b", "c"].map(String::from);
        let scalar = Autoencoder::fit(
            training_rows(64, 3).view(),
            &names,
            &TrainConfig {
                hidden: Some(vec![4, 2, 4]),
                missing: MissingPolicy::ImputeMean,
                ..quick.clone()
            },
            &mut Silent,
        )
        .expect("the scalar fuzz model trains");
        let names: Vec<String> = (0..8).map(|i| format!("x[{i}]")).collect();
        let conv = aeflow::model::ConvolutionalConfig {
            filters: vec![2],
            ..aeflow::model::ConvolutionalConfig::new(vec![1, 8])
        };
        let vector = Autoencoder::fit(
            training_rows(64, 8).view(),
            &names,
            &TrainConfig {
                kind: aeflow::model::Kind::Convolutional(conv),
                latent: Some(2),
                ..quick
            },
            &mut Silent,
        )
        .expect("the vector fuzz model trains");
        Models { scalar, vector }
    })
}

/// Model file bytes → `Autoencoder::from_bytes`. The bytes are tried as given (which reaches the
/// structure and checksum checks) and resealed: parsed as safetensors with both checksums
/// recomputed (which reaches the consistency checks of the metadata against the tensors, where
/// a random mutation would otherwise always fail the checksum first).
///
/// A model that loads must then save, load again to the same bytes, and score and encode a few
/// rows without panicking.
pub fn model_file(data: &[u8]) {
    check_model_bytes(data);
    if let Some(resealed) = reseal(data) {
        check_model_bytes(&resealed);
    }
}

fn check_model_bytes(bytes: &[u8]) {
    let Ok(model) = Autoencoder::from_bytes(bytes, "fuzz input") else {
        return;
    };
    let saved = model.to_bytes().expect("a model that loaded can be saved");
    let again = Autoencoder::from_bytes(&saved, "fuzz input, saved again")
        .expect("a saved model loads again");
    assert_eq!(again.feature_names(), model.feature_names());
    assert_eq!(again.version(), model.version());
    let d = model.n_features();
    // The file bounds the weights, not the width of a zero row; keep the work small.
    if d <= 1 << 14 {
        let x = Array2::<f32>::zeros((3, d));
        let scored = model.score(x.view(), &ScoreOptions::default());
        let rescored = again.score(x.view(), &ScoreOptions::default());
        if let (Ok(a), Ok(b)) = (&scored, &rescored) {
            let bits = |s: &aeflow::model::Scores| -> Vec<u64> {
                s.reconstruction_error.iter().map(|e| e.to_bits()).collect()
            };
            assert_eq!(
                bits(a),
                bits(b),
                "a saved and reloaded model scores differently"
            );
        }
        let _ = model.encode(x.view());
    }
}

/// The same file with `model_sha256` and `tensors_sha256` recomputed as `docs/model-format.md`
/// specifies; `None` when the bytes are not safetensors with metadata.
pub fn reseal(bytes: &[u8]) -> Option<Vec<u8>> {
    use sha2::{Digest, Sha256};
    let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).ok()?;
    let mut metadata = header.metadata().clone()?;
    let tensors = safetensors::SafeTensors::deserialize(bytes).ok()?.tensors();
    let model = metadata.get("model")?;
    let model_sha = hex(&Sha256::digest(model.as_bytes()));
    let mut sorted: Vec<&(String, safetensors::tensor::TensorView<'_>)> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = Sha256::new();
    for (name, view) in sorted {
        let shape: Vec<String> = view.shape().iter().map(usize::to_string).collect();
        h.update(name.as_bytes());
        h.update([0]);
        h.update(b"F32");
        h.update([0]);
        h.update(shape.join(",").as_bytes());
        h.update([0]);
        h.update(view.data());
    }
    metadata.insert("model_sha256".into(), model_sha);
    metadata.insert("tensors_sha256".into(), hex(&h.finalize()));
    safetensors::serialize(tensors, Some(metadata)).ok()
}

/// Splits an input into message payloads at [`MESSAGE_SEPARATOR`].
#[cfg(feature = "kafka")]
pub fn split_messages(data: &[u8]) -> Vec<Option<&[u8]>> {
    data.split(|&b| b == MESSAGE_SEPARATOR)
        .map(|m| (!m.is_empty()).then_some(m))
        .collect()
}

/// JSON messages (one object each) decoded, scored and written back as the stream stage does.
#[cfg(feature = "kafka")]
pub fn stream_json(data: &[u8]) {
    stream_text(aeflow::stream::Format::Json, data);
}

/// CSV messages (one record each) decoded, scored and written back as the stream stage does.
#[cfg(feature = "kafka")]
pub fn stream_csv(data: &[u8]) {
    stream_text(aeflow::stream::Format::Csv, data);
}

/// For each model: `decode_text` must account for every message exactly once (accepted or
/// rejected, each index once, one row per accepted message); accepted rows are then scored and
/// each output payload written.
#[cfg(feature = "kafka")]
fn stream_text(format: aeflow::stream::Format, data: &[u8]) {
    use aeflow::arrow::{FeatureLayout, score_batch};
    use aeflow::stream::bench::{FeatureShape, RowValues, csv_output, decode_text, json_output};
    use aeflow::stream::{Format, Mode, ModelTag};

    let payloads = split_messages(data);
    let m = models();
    for model in [&m.scalar, &m.vector] {
        let shape = FeatureShape::from_feature_names(model.feature_names());
        let decoded = decode_text(format, &payloads, &shape, model.missing_policy());

        let mut seen = vec![0u32; payloads.len()];
        for &i in decoded
            .accepted
            .iter()
            .chain(decoded.rejected.iter().map(|(i, _)| i))
        {
            seen[i] += 1;
        }
        assert!(
            seen.iter().all(|&n| n == 1),
            "every message must be accepted or rejected exactly once: {seen:?}"
        );
        let Some((batch, _rows)) = decoded.batch else {
            assert!(decoded.accepted.is_empty(), "accepted messages but no rows");
            continue;
        };
        assert_eq!(
            batch.num_rows(),
            decoded.accepted.len(),
            "one row per message"
        );

        let Ok(layout) = FeatureLayout::for_model(&batch.schema(), model) else {
            continue;
        };
        let Ok(scored) = score_batch(model, &batch, &layout, &ScoreOptions::default()) else {
            continue;
        };
        let Ok(values) = RowValues::new(Mode::Score, &scored) else {
            continue;
        };
        let tag = ModelTag::new("fuzz", model.version());
        for (row, &i) in decoded.accepted.iter().enumerate() {
            let payload = payloads[i].unwrap_or_default();
            let _ = match format {
                Format::Csv => csv_output(payload, &values, row),
                _ => json_output(payload, &values, row, &tag),
            };
        }
    }
}

/// One Arrow IPC stream message, checked against each model's features, scored and written back
/// as the stream stage does.
#[cfg(feature = "kafka")]
pub fn stream_ipc(data: &[u8]) {
    use aeflow::arrow::{FeatureLayout, score_batch};
    use aeflow::stream::ModelTag;
    use aeflow::stream::bench::{decode_ipc, ipc_output, read_ipc_features};

    let Ok(batch) = decode_ipc(Some(data)) else {
        return;
    };
    let m = models();
    for model in [&m.scalar, &m.vector] {
        let Ok(layout) = FeatureLayout::for_model(&batch.schema(), model) else {
            continue;
        };
        if read_ipc_features(&batch, &layout, model.missing_policy()).is_err() {
            continue;
        }
        let Ok(scored) = score_batch(model, &batch, &layout, &ScoreOptions::default()) else {
            continue;
        };
        assert_eq!(scored.num_rows(), batch.num_rows(), "one score per row");
        let _ = ipc_output(&scored, &ModelTag::new("fuzz", model.version()));
    }
}

/// Replaces libfuzzer-sys's panic hook, which aborts on *every* panic, with one that prints each
/// panic's message and place once and returns. For targets whose code catches panics on purpose
/// (`decode_ipc` catches arrow-ipc's on malformed input and dead-letters the message): a caught
/// panic is then no finding, and one that escapes the entry still aborts the process, since
/// libfuzzer-sys aborts when the entry unwinds.
pub fn report_panics_without_aborting() {
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    static SEEN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    std::panic::set_hook(Box::new(|info| {
        let text = info.to_string();
        if SEEN.lock().is_ok_and(|mut seen| seen.insert(text.clone())) {
            eprintln!("panic (caught ones are fine; an escaping one aborts): {text}");
        }
    }));
}

/// SQL text → aeflow's statement parser; a `CREATE MODEL`'s options → `TrainOptions` → the
/// training configuration's own validation, as `CREATE MODEL` does before it trains.
#[cfg(feature = "sql")]
pub fn sql_statement(data: &[u8]) {
    use aeflow::sql::statement::{AeStatement, parse};
    use aeflow::sql::{TrainOptions, split_statements};

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = split_statements(text);
    if let Ok(Some(AeStatement::CreateModel { options, .. })) = parse(text)
        && let Ok(o) = TrainOptions::from_options(&options)
    {
        let _ = o.config.validate();
    }
}
