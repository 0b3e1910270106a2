//! Bounded memory: `aeflow score` streams its input, so scoring a file ten times larger peaks at
//! about the same resident memory.
//!
//! Peak RSS of the child processes comes from `getrusage(RUSAGE_CHILDREN)`, whose `ru_maxrss` is
//! the largest peak of any waited-for child. This file holds one test so no other child process
//! of this test binary can blur it: the small file is scored first (its peak is read), then the
//! large one (the reading is then max(small, large)).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aeflow::arrow::FeatureSelection;
use aeflow::batch::{
    BatchWriter, FileFormat, TrainingOptions, known_row_count, read_training_data,
};
use aeflow::model::{Autoencoder, Silent, TrainConfig};
use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

const SMALL_ROWS: usize = 100_000;
const LARGE_ROWS: usize = 10 * SMALL_ROWS;
const FEATURES: usize = 8;
const TIMEOUT: Duration = Duration::from_secs(600);

/// Largest peak resident set size of any waited-for child, in bytes.
fn children_peak_rss() -> u64 {
    // SAFETY: getrusage only writes into the struct we pass; a zeroed rusage is a valid value.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage), 0);
        usage
    };
    // Linux reports ru_maxrss in KiB.
    usage.ru_maxrss as u64 * 1024
}

fn aeflow(args: &[&str]) {
    let bin = std::env::var_os("AEFLOW_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_aeflow").into());
    let mut child = Command::new(bin)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "aeflow {args:?} failed");
            return;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("aeflow {args:?} did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `rows` rows of `id`, `site` and `FEATURES` correlated float columns, written 10 000 at a time.
fn write_file(path: &Path, rows: usize) {
    let mut fields = vec![
        Field::new("id", DataType::Int64, false),
        Field::new("site", DataType::Utf8, false),
    ];
    for j in 0..FEATURES {
        fields.push(Field::new(format!("f{j}"), DataType::Float64, false));
    }
    let schema = Arc::new(Schema::new(fields));
    let mut w = BatchWriter::create(path, FileFormat::Parquet, schema.clone()).unwrap();
    let chunk = 10_000;
    for start in (0..rows).step_by(chunk) {
        let n = chunk.min(rows - start);
        let ids: Vec<i64> = (start as i64..(start + n) as i64).collect();
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(StringArray::from(
                ids.iter()
                    .map(|i| format!("site-{}", i % 97))
                    .collect::<Vec<_>>(),
            )),
        ];
        for j in 0..FEATURES {
            let v: Vec<f64> = ids
                .iter()
                .map(|&i| {
                    let t = i as f64 * 0.013;
                    t.sin() * (j as f64 + 1.0)
                        + (t * 0.7).cos()
                        + ((i * 7919 + j as i64) % 101) as f64 * 1e-3
                })
                .collect();
            cols.push(Arc::new(Float64Array::from(v)));
        }
        w.write(&RecordBatch::try_new(schema.clone(), cols).unwrap())
            .unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn scoring_ten_times_more_rows_takes_about_the_same_peak_memory() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.parquet");
    let large = dir.path().join("large.parquet");
    let model = dir.path().join("m.aemodel");
    write_file(&small, SMALL_ROWS);
    write_file(&large, LARGE_ROWS);
    let s = |p: &Path| p.to_str().unwrap().to_string();
    // Trained in this process, so the only children measured are the two `score` runs.
    let data = read_training_data(
        &small,
        &TrainingOptions {
            selection: FeatureSelection::Exclude(vec!["id".into()]),
            max_rows: 5000,
            ..TrainingOptions::default()
        },
    )
    .unwrap();
    let config = TrainConfig {
        epochs: 2,
        ..TrainConfig::default()
    };
    Autoencoder::fit(data.x.view(), &data.feature_names, &config, &mut Silent)
        .unwrap()
        .save(&model)
        .unwrap();

    assert_eq!(children_peak_rss(), 0, "no child process ran before");
    let small_out = dir.path().join("small_scored.parquet");
    aeflow(&[
        "score",
        "-m",
        &s(&model),
        "-i",
        &s(&small),
        "-o",
        &s(&small_out),
        "-q",
    ]);
    let small_peak = children_peak_rss();
    let large_out = dir.path().join("large_scored.parquet");
    aeflow(&[
        "score",
        "-m",
        &s(&model),
        "-i",
        &s(&large),
        "-o",
        &s(&large_out),
        "-q",
    ]);
    let large_peak = children_peak_rss(); // max(small, large)

    assert_eq!(known_row_count(&large_out, None), Some(LARGE_ROWS as u64));
    assert_eq!(known_row_count(&small_out, None), Some(SMALL_ROWS as u64));
    // The large input decoded at once would be ids + site strings + features.
    let large_decoded = LARGE_ROWS as u64 * (8 + 16 + 8 * FEATURES as u64);
    // 12.5 % plus 8 MiB of slack for allocator noise.
    let allowed = small_peak + small_peak / 8 + (8 << 20);
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    eprintln!(
        "peak RSS: score {SMALL_ROWS} rows {:.1} MiB, score {LARGE_ROWS} rows {:.1} MiB \
         (allowed {:.1} MiB; the large input decoded at once is {:.1} MiB)",
        mib(small_peak),
        mib(large_peak),
        mib(allowed),
        mib(large_decoded)
    );
    assert!(
        large_decoded > 2 * (allowed - small_peak),
        "the test must be able to tell streaming from loading the file"
    );
    assert!(
        large_peak <= allowed,
        "scoring 10x the rows raised peak RSS from {:.1} MiB to {:.1} MiB",
        mib(small_peak),
        mib(large_peak)
    );
}
