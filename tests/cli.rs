//! The `aeflow` binary end to end: train → encode → score → inspect on Parquet, CSV and NDJSON
//! files generated here, columns carried through, vector-column input, the NULL policy, and every
//! user error ending as one line `error: …` with exit code 1.
//!
//! The binary under test is cargo's build of `aeflow` (`AEFLOW_BIN` overrides it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aeflow::batch::{BatchWriter, FileFormat, FileSource};
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, FixedSizeListArray, Float32Array, Float64Array,
    Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Float32Type, Float64Type, Schema};

/// Longest any single command may take (debug build, shared machine).
const TIMEOUT: Duration = Duration::from_secs(180);

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn bin() -> PathBuf {
    std::env::var_os("AEFLOW_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_aeflow")))
}

/// Run `aeflow args…` with a deadline; stdout and stderr are collected.
fn aeflow(args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = Command::new(bin())
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("aeflow {args:?} did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(out).unwrap(),
        stderr: std::fs::read_to_string(err).unwrap(),
    }
}

fn ok(args: &[&str]) -> Run {
    let r = aeflow(args);
    assert_eq!(
        r.code, 0,
        "aeflow {args:?} failed:\n{}\n{}",
        r.stdout, r.stderr
    );
    r
}

/// The command fails with exactly one line on stderr, `error: …` containing every `want`.
fn fails(args: &[&str], want: &[&str]) -> String {
    let r = aeflow(args);
    assert_eq!(
        r.code, 1,
        "aeflow {args:?}: exit code\nstderr: {}",
        r.stderr
    );
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "aeflow {args:?}: one line expected, got:\n{}",
        r.stderr
    );
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    for w in want {
        assert!(
            lines[0].contains(w),
            "aeflow {args:?}: '{w}' not in: {}",
            lines[0]
        );
    }
    lines[0].to_string()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Sensor-like rows: `id` Int64, `site` Utf8, `ok` Boolean, and features `x0..x5` (Float64,
/// driven by two hidden factors); `x2` NULL on rows listed in `null_rows`.
fn sensors(rows: usize, seed: u64, null_rows: &[usize]) -> RecordBatch {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut noise = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 0.1
    };
    let mut cols: Vec<Vec<Option<f64>>> = (0..6).map(|_| Vec::with_capacity(rows)).collect();
    for i in 0..rows {
        let t = i as f64 * 0.05;
        let (u, v) = (t.sin(), (0.7 * t).cos());
        let vals = [u, v, u + v, u - 0.5 * v, 2.0 * u * v, 3.0 + u];
        for (j, x) in vals.iter().enumerate() {
            let null = j == 2 && null_rows.contains(&i);
            cols[j].push((!null).then(|| x + noise()));
        }
    }
    let mut fields = vec![
        Field::new("id", DataType::Int64, false),
        Field::new("site", DataType::Utf8, false),
        Field::new("ok", DataType::Boolean, false),
    ];
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from((0..rows as i64).collect::<Vec<_>>())),
        Arc::new(StringArray::from(
            (0..rows)
                .map(|i| format!("site-{}", i % 3))
                .collect::<Vec<_>>(),
        )),
        Arc::new(BooleanArray::from(
            (0..rows).map(|i| i % 2 == 0).collect::<Vec<_>>(),
        )),
    ];
    for (j, c) in cols.into_iter().enumerate() {
        fields.push(Field::new(format!("x{j}"), DataType::Float64, true));
        arrays.push(Arc::new(Float64Array::from(c)));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

fn write(path: &Path, batch: &RecordBatch) {
    let format = FileFormat::from_path(path).unwrap_or(FileFormat::Csv);
    let mut w = BatchWriter::create(path, format, batch.schema()).unwrap();
    for start in (0..batch.num_rows()).step_by(700) {
        w.write(&batch.slice(start, 700.min(batch.num_rows() - start)))
            .unwrap();
    }
    w.finish().unwrap();
}

fn read(path: &Path, format: Option<FileFormat>) -> RecordBatch {
    let s = FileSource::open(path, format).unwrap();
    let batches: Vec<_> = s
        .batches(None, 4096)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    arrow::compute::concat_batches(&s.schema(), &batches).unwrap()
}

/// Quick training options for tests.
const FAST: [&str; 6] = ["--epochs", "15", "--seed", "3", "--exclude", "id"];

fn train(data: &Path, model: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["train", "--input", p(data), "--out", p(model)];
    args.extend(FAST);
    args.extend(extra);
    ok(&args)
}

#[test]
fn parquet_round_trip_train_encode_score_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("sensors.parquet");
    let model = dir.path().join("m.aemodel");
    let input = sensors(3000, 1, &[]);
    write(&data, &input);

    let t = train(&data, &model, &[]);
    for want in [
        "3000 rows × 6 features",
        "threshold",
        "dead latent",
        "final loss",
    ] {
        assert!(
            t.stdout.contains(want),
            "train summary lacks '{want}':\n{}",
            t.stdout
        );
    }
    assert!(
        t.stderr.contains("epoch 1/"),
        "per-epoch log lines off a terminal:\n{}",
        t.stderr
    );

    // encode: every input column unchanged, plus latent FixedSizeList<Float32>.
    let enc = dir.path().join("enc.parquet");
    ok(&[
        "encode",
        "-m",
        p(&model),
        "-i",
        p(&data),
        "-o",
        p(&enc),
        "--quiet",
    ]);
    let e = read(&enc, None);
    assert_eq!(e.num_rows(), 3000);
    for (i, f) in input.schema().fields().iter().enumerate() {
        assert_eq!(e.schema().field(i).name(), f.name());
        assert_eq!(
            e.column(i).as_ref(),
            input.column(i).as_ref(),
            "column {}",
            f.name()
        );
    }
    let latent = e.column_by_name("latent").unwrap();
    let DataType::FixedSizeList(item, width) = latent.data_type() else {
        panic!("latent is {}", latent.data_type())
    };
    assert_eq!(item.data_type(), &DataType::Float32);
    assert!(*width >= 1 && *width < 6);
    assert_eq!(latent.null_count(), 0);

    // score: Float64 error, Boolean flag, per-feature errors of width 6.
    let scored = dir.path().join("scored.parquet");
    let s = ok(&[
        "score",
        "-m",
        p(&model),
        "-i",
        p(&data),
        "-o",
        p(&scored),
        "--per-feature",
    ]);
    assert!(s.stdout.contains("scored 3000 rows"), "{}", s.stdout);
    let sc = read(&scored, None);
    let err = sc.column_by_name("reconstruction_error").unwrap();
    assert_eq!(err.data_type(), &DataType::Float64);
    assert!(
        err.as_primitive::<Float64Type>()
            .values()
            .iter()
            .all(|v| v.is_finite() && *v >= 0.0)
    );
    let flags = sc.column_by_name("is_anomaly").unwrap().as_boolean();
    let flagged = flags.true_count();
    assert!(
        flagged > 0 && flagged < 300,
        "contamination default flags a few rows: {flagged}"
    );
    let fe = sc.column_by_name("feature_errors").unwrap();
    assert_eq!(
        fe.data_type(),
        &DataType::FixedSizeList(Arc::new(Field::new_list_field(DataType::Float32, true)), 6)
    );
    // The row error is the mean of the per-feature errors.
    let fe = fe.as_fixed_size_list();
    let row0 = fe.value(0);
    let mean: f64 = row0
        .as_primitive::<Float32Type>()
        .values()
        .iter()
        .map(|v| *v as f64)
        .sum::<f64>()
        / 6.0;
    let e0 = err.as_primitive::<Float64Type>().value(0);
    assert!((mean - e0).abs() <= 1e-4 * (1.0 + e0), "{mean} vs {e0}");

    // An explicit threshold overrides the calibrated one.
    let all = dir.path().join("all.parquet");
    ok(&[
        "score",
        "-m",
        p(&model),
        "-i",
        p(&data),
        "-o",
        p(&all),
        "--threshold",
        "0",
        "-q",
    ]);
    assert_eq!(
        read(&all, None)
            .column_by_name("is_anomaly")
            .unwrap()
            .as_boolean()
            .true_count(),
        3000
    );

    // inspect, for people and as JSON.
    let i = ok(&["inspect", p(&model)]);
    for want in ["vanilla", "x0, x1, x2, x3, x4, x5", "threshold", "standard"] {
        assert!(
            i.stdout.contains(want),
            "inspect lacks '{want}':\n{}",
            i.stdout
        );
    }
    let j = ok(&["inspect", p(&model), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v["features"].as_array().unwrap().len(), 6);
    assert!(v["threshold"].as_f64().unwrap() > 0.0);
}

#[test]
fn csv_and_ndjson_in_and_out_with_format_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.aemodel");
    let input = sensors(1500, 2, &[]);
    let csv = dir.path().join("s.csv");
    write(&csv, &input);
    train(&csv, &model, &[]);

    // CSV → CSV: the latent is spread over latent_0, latent_1, … columns.
    let enc = dir.path().join("enc.csv");
    ok(&[
        "encode",
        "-m",
        p(&model),
        "-i",
        p(&csv),
        "-o",
        p(&enc),
        "-q",
    ]);
    let e = read(&enc, None);
    assert_eq!(e.num_rows(), 1500);
    assert!(e.column_by_name("latent_0").is_some());
    assert_eq!(
        e.column_by_name("site")
            .unwrap()
            .as_string::<i32>()
            .value(4),
        "site-1"
    );

    // NDJSON in, NDJSON out; also from a file whose extension says nothing.
    let json = dir.path().join("s.ndjson");
    write(&json, &input);
    let out = dir.path().join("scored.jsonl");
    ok(&[
        "score",
        "-m",
        p(&model),
        "-i",
        p(&json),
        "-o",
        p(&out),
        "-q",
    ]);
    let s = read(&out, None);
    assert_eq!(s.num_rows(), 1500);
    assert!(s.column_by_name("reconstruction_error").is_some());
    assert_eq!(
        s.schema().field(0).name(),
        "id",
        "NDJSON keeps the column order"
    );

    let txt = dir.path().join("s.txt");
    std::fs::copy(&csv, &txt).unwrap();
    let out = dir.path().join("scored.dat");
    ok(&[
        "score",
        "-m",
        p(&model),
        "-i",
        p(&txt),
        "--format",
        "csv",
        "-o",
        p(&out),
        "--output-format",
        "parquet",
        "-q",
    ]);
    let s = read(&out, Some(FileFormat::Parquet));
    assert_eq!(s.num_rows(), 1500);

    // Scores agree across formats (same rows, same model).
    let a = dir.path().join("a.parquet");
    let b = dir.path().join("b.parquet");
    ok(&["score", "-m", p(&model), "-i", p(&csv), "-o", p(&a), "-q"]);
    ok(&["score", "-m", p(&model), "-i", p(&json), "-o", p(&b), "-q"]);
    let (a, b) = (read(&a, None), read(&b, None));
    let ea = a
        .column_by_name("reconstruction_error")
        .unwrap()
        .as_primitive::<Float64Type>();
    let eb = b
        .column_by_name("reconstruction_error")
        .unwrap()
        .as_primitive::<Float64Type>();
    for i in 0..1500 {
        assert!((ea.value(i) - eb.value(i)).abs() <= 1e-6 * (1.0 + ea.value(i)));
    }
}

#[test]
fn vector_column_input() {
    let dir = tempfile::tempdir().unwrap();
    let rows = 2000;
    let src = sensors(rows, 4, &[]);
    let mut values = Vec::with_capacity(rows * 6);
    for i in 0..rows {
        for j in 0..6 {
            values.push(src.column(3 + j).as_primitive::<Float64Type>().value(i) as f32);
        }
    }
    let item = Arc::new(Field::new_list_field(DataType::Float32, true));
    let v = FixedSizeListArray::new(item, 6, Arc::new(Float32Array::from(values)), None);
    let schema = Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("v", v.data_type().clone(), true),
    ]));
    let keys: Vec<String> = (0..rows).map(|i| format!("k{i}")).collect();
    let batch =
        RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(keys)), Arc::new(v)]).unwrap();
    let data = dir.path().join("vec.parquet");
    write(&data, &batch);
    let model = dir.path().join("v.aemodel");
    ok(&[
        "train",
        "-i",
        p(&data),
        "-o",
        p(&model),
        "--epochs",
        "10",
        "-q",
    ]);
    let i = ok(&["inspect", p(&model)]);
    assert!(
        i.stdout.contains("features (6)     v[0..5]"),
        "{}",
        i.stdout
    );

    let out = dir.path().join("out.parquet");
    ok(&[
        "score",
        "-m",
        p(&model),
        "-i",
        p(&data),
        "-o",
        p(&out),
        "-q",
    ]);
    let s = read(&out, None);
    assert_eq!(
        s.column(1).as_ref(),
        batch.column(1).as_ref(),
        "the vector column is carried through"
    );
    assert_eq!(
        s.column_by_name("reconstruction_error")
            .unwrap()
            .null_count(),
        0
    );

    // The same vectors as NDJSON arrays (read as a List column) score the same.
    let json = dir.path().join("vec.ndjson");
    write(&json, &batch);
    let out2 = dir.path().join("out2.parquet");
    ok(&[
        "score",
        "-m",
        p(&model),
        "-i",
        p(&json),
        "-o",
        p(&out2),
        "-q",
    ]);
    let a = s
        .column_by_name("reconstruction_error")
        .unwrap()
        .as_primitive::<Float64Type>()
        .clone();
    let b = read(&out2, None);
    let b = b
        .column_by_name("reconstruction_error")
        .unwrap()
        .as_primitive::<Float64Type>();
    for i in 0..rows {
        assert!(
            (a.value(i) - b.value(i)).abs() <= 1e-5 * (1.0 + a.value(i)),
            "row {i}"
        );
    }
}

#[test]
fn null_features_give_null_scores_unless_the_model_imputes() {
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean.parquet");
    write(&clean, &sensors(1500, 5, &[]));
    let holes = dir.path().join("holes.parquet");
    write(&holes, &sensors(1500, 6, &[3, 700, 1499]));

    // Training on NULLs under the default reject policy names the row and column.
    fails(
        &[
            "train",
            "-i",
            p(&holes),
            "-o",
            p(&dir.path().join("x.aemodel")),
            "--epochs",
            "2",
        ],
        &[
            "holes.parquet: row 4: feature 'x2' is missing",
            "--missing impute_mean",
        ],
    );

    let model = dir.path().join("m.aemodel");
    train(&clean, &model, &[]);
    let out = dir.path().join("out.parquet");
    let s = ok(&[
        "score",
        "-m",
        p(&model),
        "-i",
        p(&holes),
        "-o",
        p(&out),
        "--per-feature",
    ]);
    assert!(
        s.stdout.contains("3 rows with NULL features"),
        "{}",
        s.stdout
    );
    let r = read(&out, None);
    for name in ["reconstruction_error", "is_anomaly", "feature_errors"] {
        let c = r.column_by_name(name).unwrap();
        assert_eq!(c.null_count(), 3, "{name}");
        assert!(
            c.is_null(3) && c.is_null(700) && c.is_null(1499) && c.is_valid(4),
            "{name}"
        );
    }

    let imputing = dir.path().join("imp.aemodel");
    train(&holes, &imputing, &["--impute"]);
    ok(&[
        "score",
        "-m",
        p(&imputing),
        "-i",
        p(&holes),
        "-o",
        p(&out),
        "-q",
    ]);
    assert_eq!(
        read(&out, None)
            .column_by_name("reconstruction_error")
            .unwrap()
            .null_count(),
        0
    );
}

#[test]
fn large_inputs_are_sampled_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("big.csv");
    write(&data, &sensors(5000, 7, &[]));
    let t = train(&data, &dir.path().join("m.aemodel"), &["--max-rows", "800"]);
    assert!(
        t.stderr
            .contains("5000 rows; training on a uniform random sample of 800"),
        "{}",
        t.stderr
    );
    assert!(t.stdout.contains("800 rows × 6 features"), "{}", t.stdout);
    let q = train(
        &data,
        &dir.path().join("q.aemodel"),
        &["--max-rows", "800", "--quiet"],
    );
    assert!(
        q.stdout.is_empty() && q.stderr.is_empty(),
        "--quiet:\n{}{}",
        q.stdout,
        q.stderr
    );
}

/// Issue 13: `--scaler minmax` (the spelling `--help` lists) trains a min-max model, as
/// `--scaler min_max` does; `--threshold` and `--impute` are table options like the others; a bad
/// value names the flag (`--learning-rate`), never the neutral or SQL name.
#[test]
fn train_takes_every_spelling_the_option_table_lists() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("small.csv");
    write(&data, &sensors(300, 5, &[]));
    for scaler in ["minmax", "min_max"] {
        let model = dir.path().join(format!("{scaler}.aemodel"));
        train(
            &data,
            &model,
            &["--scaler", scaler, "--threshold", "0.25", "-q"],
        );
        let m = aeflow::model::Autoencoder::load(&model).unwrap();
        assert_eq!(
            m.preprocessing().scaler,
            aeflow::model::ScalerKind::MinMax,
            "{scaler}"
        );
        assert_eq!(m.threshold(), Some(0.25));
    }
    let model = dir.path().join("m.aemodel");
    let e = fails(
        &[
            "train",
            "-i",
            p(&data),
            "-o",
            p(&model),
            "--learning-rate",
            "-1",
        ],
        &["invalid value for --learning-rate: expected a number > 0, got -1"],
    );
    assert!(!e.contains("learning_rate"), "{e}");
    fails(
        &[
            "train",
            "-i",
            p(&data),
            "-o",
            p(&model),
            "--loss",
            "bce",
            "--output-activation",
            "sigmoid",
        ],
        &["--loss", "use --scaler min_max"],
    );
}

#[test]
fn user_errors_are_one_line_and_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n);
    let data = d("s.parquet");
    write(&data, &sensors(600, 8, &[]));
    let model = d("m.aemodel");
    train(&data, &model, &[]);
    let out = d("out.parquet");

    // Bad options.
    fails(
        &["train", "-i", p(&data), "-o", p(&model), "--epochs", "abc"],
        &["--epochs"],
    );
    fails(
        &[
            "train",
            "-i",
            p(&data),
            "-o",
            p(&model),
            "--contamination",
            "2",
        ],
        &["--contamination", "2"],
    );
    fails(
        &[
            "train",
            "-i",
            p(&data),
            "-o",
            p(&model),
            "--hidden",
            "8,0,8",
        ],
        &["--hidden"],
    );
    fails(
        &["train", "-i", p(&data), "-o", p(&model), "--kind", "magic"],
        &["magic"],
    );
    fails(
        &[
            "train",
            "-i",
            p(&data),
            "-o",
            p(&model),
            "--noise-std",
            "0.1",
        ],
        &["--kind denoising"],
    );
    fails(
        &[
            "score",
            "-m",
            p(&model),
            "-i",
            p(&data),
            "-o",
            p(&out),
            "--bogus",
        ],
        &["--bogus"],
    );
    fails(&["score", "-m", p(&model), "-i", p(&data)], &["--output"]);
    fails(
        &[
            "train",
            "-i",
            p(&data),
            "-o",
            p(&model),
            "--columns",
            "x0,nope",
        ],
        &["'nope'", "--columns"],
    );

    // Unreadable, empty, missing inputs.
    let garbage = d("garbage.parquet");
    std::fs::write(&garbage, b"PAR1 but not really").unwrap();
    fails(
        &["score", "-m", p(&model), "-i", p(&garbage), "-o", p(&out)],
        &["garbage.parquet", "Parquet"],
    );
    let empty = d("empty.csv");
    std::fs::write(&empty, b"").unwrap();
    fails(
        &["train", "-i", p(&empty), "-o", p(&model)],
        &["empty.csv", "empty"],
    );
    let header = d("header.csv");
    std::fs::write(&header, b"x0,x1\n").unwrap();
    fails(
        &["train", "-i", p(&header), "-o", p(&d("h.aemodel"))],
        &["header.csv"],
    );
    fails(
        &[
            "encode",
            "-m",
            p(&model),
            "-i",
            p(&d("nowhere.csv")),
            "-o",
            p(&out),
        ],
        &["nowhere.csv"],
    );
    fails(
        &[
            "score",
            "-m",
            p(&model),
            "-i",
            p(&d("data.xlsx")),
            "-o",
            p(&out),
        ],
        &["data.xlsx", "--format"],
    );

    // Missing column, wrong type, a model trained on other columns.
    let mut cols: Vec<_> = (0..sensors(1, 0, &[]).num_columns()).collect();
    cols.retain(|&c| c != 5); // drop x2
    let missing = d("missing.csv");
    write(&missing, &sensors(50, 9, &[]).project(&cols).unwrap());
    fails(
        &["score", "-m", p(&model), "-i", p(&missing), "-o", p(&out)],
        &["missing.csv", "'x2'", "x0, x1, x2"],
    );
    let typed = d("typed.csv");
    std::fs::write(&typed, "x0,x1,x2,x3,x4,x5\n1,2,three,4,5,6\n").unwrap();
    fails(
        &["score", "-m", p(&model), "-i", p(&typed), "-o", p(&out)],
        &["'x2'", "Utf8"],
    );
    let other = d("other.csv");
    std::fs::write(&other, "a,b,c\n1,2,3\n4,5,6\n").unwrap();
    fails(
        &["encode", "-m", p(&model), "-i", p(&other), "-o", p(&out)],
        &["other.csv", "model expects"],
    );

    // A broken or missing model file.
    let bad_model = d("bad.aemodel");
    std::fs::write(&bad_model, b"not a model").unwrap();
    fails(
        &["score", "-m", p(&bad_model), "-i", p(&data), "-o", p(&out)],
        &["bad.aemodel"],
    );
    fails(&["inspect", p(&d("none.aemodel"))], &["none.aemodel"]);

    // An output directory that does not exist.
    fails(
        &[
            "score",
            "-m",
            p(&model),
            "-i",
            p(&data),
            "-o",
            p(&d("no/dir/out.parquet")),
        ],
        &["does not exist"],
    );
    assert!(!out.exists(), "no failed command left an output");
}

/// The library names options neutrally (`output_topic`, `` `format` ``); on the command line they
/// read as the subcommand's flags, and the file or setting stays named around the cause.
#[test]
fn library_errors_name_the_flags_of_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.aemodel");
    let stream = |extra: &[&str]| {
        let mut args = vec![
            "stream",
            "--brokers",
            "localhost:1",
            "--group-id",
            "g",
            "--input-topic",
            "in",
            "--model",
            p(&model),
        ];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>, want: &[&str]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let line = fails(&args, want);
        assert!(!line.contains('`'), "a neutral name left in: {line}");
    };
    run(
        stream(&["--output-topic", "in"]),
        &["invalid value for --output-topic: must differ from --input-topic"],
    );
    run(
        stream(&["--output-topic", "out", "--batch-size", "0"]),
        &["invalid value for --batch-size"],
    );
    run(
        stream(&[
            "--output-topic",
            "out",
            "--kafka-option",
            "bootstrap.servers=x",
        ]),
        &["invalid value for --kafka-option bootstrap.servers: use --brokers"],
    );

    let text = dir.path().join("data.txt");
    std::fs::write(&text, "a,b\n1,2\n").unwrap();
    run(
        vec![
            "train".into(),
            "-i".into(),
            p(&text).into(),
            "-o".into(),
            p(&model).into(),
        ],
        &["data.txt", "name it with --format"],
    );
}

#[test]
fn a_failure_midway_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.aemodel");
    let data = dir.path().join("s.ndjson");
    write(&data, &sensors(1000, 10, &[]));
    train(&data, &model, &[]);
    // 20 000 good rows, then one whose x3 is a list: the file is read past several batches
    // (and outputs written) before the error.
    let mut text = std::fs::read_to_string(&data).unwrap().repeat(20);
    text.push_str("{\"id\": 1, \"site\": \"s\", \"ok\": true, \"x0\": 1, \"x1\": 1, \"x2\": 1, \"x3\": [1], \"x4\": 1, \"x5\": 1}\n");
    let bad = dir.path().join("bad.ndjson");
    std::fs::write(&bad, text).unwrap();
    let out = dir.path().join("out.parquet");
    fails(
        &[
            "score",
            "-m",
            p(&model),
            "-i",
            p(&bad),
            "-o",
            p(&out),
            "--batch-size",
            "1000",
        ],
        &["bad.ndjson"],
    );
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn demo_finds_the_injected_faults() {
    let dir = tempfile::tempdir().unwrap();
    let r = ok(&["demo", "--out-dir", p(dir.path())]);
    for want in [
        "injected faults are among",
        "sensors.parquet",
        "sensors.aemodel",
        "sensors_scored.parquet",
        "2003 messages on demo-in → 2000 scored on demo-out",
        "3 dead letters on demo-dlq",
    ] {
        assert!(
            r.stdout.contains(want),
            "demo output lacks '{want}':\n{}",
            r.stdout
        );
    }
    for f in [
        "sensors.parquet",
        "sensors.aemodel",
        "sensors_scored.parquet",
    ] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
    // Most injected faults rank among the highest errors.
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("injected faults are among"))
        .unwrap();
    let found: usize = line.split_whitespace().next().unwrap().parse().unwrap();
    assert!(found >= 9, "{line}");
    let q = ok(&["demo", "--out-dir", p(dir.path()), "--quiet"]);
    assert!(q.stdout.is_empty() && q.stderr.is_empty());
}
