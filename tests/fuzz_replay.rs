//! Replays every committed fuzz input (`fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`)
//! through the same entry points the `cargo fuzz` targets run (`fuzz/src/lib.rs`, compiled here
//! as a module), on stable: no input may panic; errors are fine. This is what CI runs; fuzzing
//! itself needs nightly (`fuzz/Cargo.toml` says how).
//!
//! The seed corpora come from `seed_corpora_are_valid_inputs`, which builds them and replays them
//! on every run; with `AEFLOW_WRITE_FUZZ_SEEDS=1` it also writes them into `fuzz/corpus/`:
//! `AEFLOW_WRITE_FUZZ_SEEDS=1 cargo test --test fuzz_replay seed_corpora`.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod entries;

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Files of `fuzz/corpus/<target>` and `fuzz/regressions/<target>`, sorted.
fn inputs(target: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = fs::read_dir(fuzz_dir().join(dir).join(target)) else {
            continue;
        };
        for e in entries.flatten() {
            if e.path().is_file() {
                files.push(e.path());
            }
        }
    }
    files.sort();
    files
}

/// Runs `entry` on every input of `target`; fails naming each input that panicked.
fn replay(target: &str, entry: fn(&[u8])) {
    let files = inputs(target);
    assert!(
        !files.is_empty(),
        "no corpus for {target} under {}",
        fuzz_dir().display()
    );
    let mut panicked = Vec::new();
    for file in &files {
        let bytes = fs::read(file).expect("corpus file is readable");
        if catch_unwind(AssertUnwindSafe(|| entry(&bytes))).is_err() {
            panicked.push(file.display().to_string());
        }
    }
    assert!(
        panicked.is_empty(),
        "{} of {} {target} inputs panicked (replay one with `cargo +nightly fuzz run {target} <file>`):\n{}",
        panicked.len(),
        files.len(),
        panicked.join("\n")
    );
}

#[test]
fn model_file_inputs_do_not_panic() {
    replay("model_file", entries::model_file);
}

#[cfg(feature = "kafka")]
#[test]
fn stream_json_inputs_do_not_panic() {
    replay("stream_json", entries::stream_json);
}

#[cfg(feature = "kafka")]
#[test]
fn stream_csv_inputs_do_not_panic() {
    replay("stream_csv", entries::stream_csv);
}

#[cfg(feature = "kafka")]
#[test]
fn stream_ipc_inputs_do_not_panic() {
    replay("stream_ipc", entries::stream_ipc);
}

#[cfg(feature = "sql")]
#[test]
fn sql_statement_inputs_do_not_panic() {
    replay("sql_statement", entries::sql_statement);
}

/// The seed corpora: model files of every kind from tiny training runs, valid and invalid
/// JSON / CSV / IPC messages for the two fuzz models, and the aeflow statements of `sql/`. Each
/// seed goes through its entry point (no panic); the model files must load. With
/// `AEFLOW_WRITE_FUZZ_SEEDS=1` they are also written to `fuzz/corpus/<target>/seed-*`.
#[cfg(all(feature = "kafka", feature = "sql"))]
#[test]
fn seed_corpora_are_valid_inputs() {
    let write_out = std::env::var_os("AEFLOW_WRITE_FUZZ_SEEDS").is_some();
    let write = |target: &str, name: &str, bytes: &[u8]| {
        if write_out {
            let dir = fuzz_dir().join("corpus").join(target);
            fs::create_dir_all(&dir).expect("corpus directory");
            fs::write(dir.join(format!("seed-{name}")), bytes).expect("seed written");
        }
    };
    for (name, bytes) in seeds::model_files() {
        aeflow::Autoencoder::from_bytes(&bytes, &name).expect("a seed model file loads");
        entries::model_file(&bytes);
        write("model_file", &name, &bytes);
    }
    for (name, text) in seeds::json_messages() {
        entries::stream_json(&text);
        write("stream_json", name, &text);
    }
    for (name, text) in seeds::csv_messages() {
        entries::stream_csv(&text);
        write("stream_csv", name, &text);
    }
    for (name, bytes) in seeds::ipc_messages() {
        entries::stream_ipc(&bytes);
        write("stream_ipc", &name, &bytes);
    }
    for (i, statement) in seeds::sql_statements().iter().enumerate() {
        entries::sql_statement(statement.as_bytes());
        write("sql_statement", &format!("{i:03}"), statement.as_bytes());
    }
}

#[cfg(all(feature = "kafka", feature = "sql"))]
mod seeds {
    use std::sync::Arc;

    use aeflow::model::{ConvolutionalConfig, Kind, Silent, VariationalConfig};
    use aeflow::{Autoencoder, TrainConfig};
    use arrow::array::{
        ArrayRef, FixedSizeListArray, Float32Array, Float64Array, Int32Array, ListArray,
        RecordBatch, StringArray,
    };
    use arrow::datatypes::{DataType, Field, Float64Type};
    use arrow::ipc::writer::StreamWriter;

    use super::entries::{MESSAGE_SEPARATOR, models, training_rows};

    /// One tiny model file per kind, and the two stream models.
    pub fn model_files() -> Vec<(String, Vec<u8>)> {
        let quick = TrainConfig {
            epochs: 1,
            batch_size: 16,
            validation_split: 0.0,
            hidden: Some(vec![3, 2, 3]),
            ..TrainConfig::default()
        };
        let names: Vec<String> = (0..4).map(|j| format!("f{j}")).collect();
        let kinds = [
            Kind::Vanilla,
            Kind::Denoising {
                noise_std: 0.1,
                mask_ratio: 0.2,
            },
            Kind::Sparse {
                l1_activity: 0.01,
                sparsity_target: None,
                sparsity_weight: 0.0,
            },
            Kind::Variational(VariationalConfig::default()),
        ];
        let mut out = Vec::new();
        for kind in kinds {
            let config = TrainConfig {
                kind: kind.clone(),
                ..quick.clone()
            };
            let m = Autoencoder::fit(training_rows(32, 4).view(), &names, &config, &mut Silent)
                .expect("trains");
            out.push((kind.name().to_string(), m.to_bytes().expect("saves")));
        }
        let conv = TrainConfig {
            kind: Kind::Convolutional(ConvolutionalConfig {
                filters: vec![2],
                ..ConvolutionalConfig::new(vec![1, 2, 4])
            }),
            hidden: None,
            latent: Some(2),
            ..quick
        };
        let names: Vec<String> = (0..8).map(|j| format!("p[{j}]")).collect();
        let m = Autoencoder::fit(training_rows(32, 8).view(), &names, &conv, &mut Silent)
            .expect("trains");
        out.push(("convolutional-2d".into(), m.to_bytes().expect("saves")));
        out.push((
            "stream-scalar".into(),
            models().scalar.to_bytes().expect("saves"),
        ));
        out.push((
            "stream-vector".into(),
            models().vector.to_bytes().expect("saves"),
        ));
        out
    }

    fn batch(messages: &[&str]) -> Vec<u8> {
        messages
            .join(&(MESSAGE_SEPARATOR as char).to_string())
            .into_bytes()
    }

    pub fn json_messages() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("scalar", batch(&[r#"{"a": 1.5, "b": -2, "c": 3e-1}"#])),
            (
                "scalar-batch",
                batch(&[
                    r#"{"id": "k1", "a": 1, "b": 2, "c": 3}"#,
                    r#"{"a": null, "b": 2, "c": 3, "extra": {"nested": [1, 2]}}"#,
                    r#"{"a": 1, "c": 3}"#,
                    r#"{"a": "abc", "b": 2, "c": 3}"#,
                    r#"{"a": 1, "b": 2"#,
                    r#"[1, 2, 3]"#,
                    "",
                    r#"{"a": 1e400, "b": 2, "c": 3}"#,
                    r#"{"a": 1, "b": 2, "c": 3} {"a": 4, "b": 5, "c": 6}"#,
                ]),
            ),
            ("vector", batch(&[r#"{"x": [0, 1, 2, 3, 4, 5, 6, 7]}"#])),
            (
                "vector-batch",
                batch(&[
                    r#"{"x": [0.5, 1, 2, 3, 4, 5, 6, 7], "key": "v"}"#,
                    r#"{"x": [0, 1, 2]}"#,
                    r#"{"x": [0, 1, 2, 3, 4, 5, null, 7]}"#,
                    r#"{"x": null}"#,
                    r#"{"x": "01234567"}"#,
                    r#"{"x": [[0], 1, 2, 3, 4, 5, 6, 7]}"#,
                ]),
            ),
        ]
    }

    pub fn csv_messages() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("one", batch(&["1.5,-2,0.3"])),
            (
                "batch",
                batch(&[
                    "1,2,3",
                    "1,,3\n",
                    "1,2",
                    "1,2,3,4",
                    "a,b,c",
                    "\"1\",\"2\",\"3\"",
                    "1,2,3\n4,5,6",
                    "",
                    "NaN,inf,-inf",
                    "1e400,2,3",
                ]),
            ),
        ]
    }

    fn ipc(columns: Vec<(&str, ArrayRef)>) -> Vec<u8> {
        let batch = RecordBatch::try_from_iter(columns).expect("batch");
        let mut out = Vec::new();
        let mut w = StreamWriter::try_new(&mut out, &batch.schema()).expect("writer");
        w.write(&batch).expect("write");
        w.write(&batch.slice(0, 1)).expect("write");
        w.finish().expect("finish");
        drop(w);
        out
    }

    pub fn ipc_messages() -> Vec<(String, Vec<u8>)> {
        let f64s = |v: Vec<Option<f64>>| Arc::new(Float64Array::from(v)) as ArrayRef;
        let item = Arc::new(Field::new_list_field(DataType::Float32, true));
        let fixed = FixedSizeListArray::try_new(
            item,
            8,
            Arc::new(Float32Array::from_iter_values(
                (0..16).map(|i| i as f32 * 0.25),
            )),
            None,
        )
        .expect("fixed size list");
        let list = ListArray::from_iter_primitive::<Float64Type, _, _>(vec![
            Some((0..8).map(|i| Some(i as f64)).collect::<Vec<_>>()),
            Some(vec![Some(1.0), None]),
        ]);
        vec![
            (
                "scalar".into(),
                ipc(vec![
                    (
                        "id",
                        Arc::new(StringArray::from(vec!["r1", "r2"])) as ArrayRef,
                    ),
                    ("a", f64s(vec![Some(1.0), None])),
                    ("b", f64s(vec![Some(2.0), Some(-1.0)])),
                    ("c", Arc::new(Int32Array::from(vec![3, 4])) as ArrayRef),
                ]),
            ),
            (
                "scalar-nonfinite".into(),
                ipc(vec![
                    ("c", f64s(vec![Some(f64::NAN), Some(1.0)])),
                    ("b", f64s(vec![Some(f64::INFINITY), Some(1.0)])),
                    ("a", f64s(vec![Some(1.0), Some(1.0)])),
                ]),
            ),
            (
                "vector-fixed".into(),
                ipc(vec![("x", Arc::new(fixed) as ArrayRef)]),
            ),
            (
                "vector-list".into(),
                ipc(vec![("x", Arc::new(list) as ArrayRef)]),
            ),
        ]
    }

    /// Every aeflow statement in `sql/` (blocks of the `.slt` files and statements of the `.sql`
    /// files that mention MODEL), and a few of the grammar's corners.
    pub fn sql_statements() -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
        let mut out: Vec<String> = Vec::new();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("sql/")
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path).expect("sql file");
            let parts: Vec<String> = if path.extension().is_some_and(|e| e == "slt") {
                text.split("\n\n")
                    .filter_map(|block| {
                        let mut lines = block.lines().skip_while(|l| l.starts_with('#'));
                        let head = lines.next()?;
                        if !(head.starts_with("statement") || head.starts_with("query")) {
                            return None;
                        }
                        Some(
                            lines
                                .take_while(|l| *l != "----")
                                .collect::<Vec<_>>()
                                .join("\n"),
                        )
                    })
                    .collect()
            } else {
                aeflow::sql::split_statements(&text).expect("splits")
            };
            out.extend(
                parts
                    .into_iter()
                    .filter(|s| s.to_uppercase().contains("MODEL")),
            );
        }
        out.extend(
            [
                "SHOW MODELS",
                "DROP MODEL IF EXISTS \"m\"",
                "CREATE OR REPLACE MODEL 'm' OPTIONS (hidden = '8,2,8', columns = ('a', \"b\"), early_stop = false, learning_rate = 1e-3) AS SELECT * FROM t -- comment",
                "CREATE MODEL m OPTIONS (kind = denoising, noise_std = 0.1, mask_ratio = 0.5, dropout = 0.2, scaler = min_max, missing = impute_mean) AS SELECT a FROM t; SELECT 1",
                "CREATE MODEL m OPTIONS (kind = 'sparse', l1_activity = 0.01, sparsity_target = 0.05, sparsity_weight = 1, activation = sigmoid) AS /* q */ SELECT a FROM t",
            ]
            .map(String::from),
        );
        let mut seen = std::collections::HashSet::new();
        out.retain(|s| seen.insert(s.clone()));
        out
    }
}
