//! Batch-job throughput: `score_file` / `encode_file` on Parquet, CSV and NDJSON files, next to
//! the same model applied with [`aeflow::arrow::score_batch`] to the same batches in memory, so
//! the cost of reading and writing files is seen apart from the model's.
//!
//! ```text
//! cargo bench --bench batch                          # 1 000 000 rows × 16 features, 5 runs each
//! AEFLOW_BENCH_ROWS=200000 AEFLOW_BENCH_RUNS=3 cargo bench --bench batch
//! ```
//! Prints rows/s (median of the runs) per path.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use aeflow::arrow::{FeatureLayout, score_batch};
use aeflow::batch::{BatchWriter, FileFormat, FileSource, JobOptions, encode_file, score_file};
use aeflow::model::{ScoreOptions, Silent, TrainConfig};
use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use rand::{Rng, SeedableRng};

const FEATURES: usize = 16;
const BATCH_ROWS: usize = 8192;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `rows` rows: an `id` and `FEATURES` correlated features (4 hidden factors plus noise), seeded.
fn table(rows: usize) -> Vec<RecordBatch> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mix: Vec<[f64; 4]> = (0..FEATURES)
        .map(|_| std::array::from_fn(|_| rng.random_range(-1.0..1.0)))
        .collect();
    let mut fields = vec![Field::new("id", DataType::Int64, false)];
    fields.extend((0..FEATURES).map(|j| Field::new(format!("f{j}"), DataType::Float64, false)));
    let schema = Arc::new(Schema::new(fields));
    let mut batches = Vec::new();
    let mut done = 0;
    while done < rows {
        let n = BATCH_ROWS.min(rows - done);
        let factors: Vec<[f64; 4]> = (0..n)
            .map(|_| std::array::from_fn(|_| rng.random_range(-1.0..1.0)))
            .collect();
        let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(
            done as i64..(done + n) as i64,
        ))];
        for w in &mix {
            let v: Vec<f64> = factors
                .iter()
                .map(|f| {
                    f.iter().zip(w).map(|(a, b)| a * b).sum::<f64>()
                        + 0.05 * rng.random_range(-1.0..1.0)
                })
                .collect();
            columns.push(Arc::new(Float64Array::from(v)));
        }
        batches.push(RecordBatch::try_new(schema.clone(), columns).unwrap());
        done += n;
    }
    batches
}

fn write(path: &Path, batches: &[RecordBatch]) {
    let format = FileFormat::from_path(path).unwrap();
    let mut w = BatchWriter::create(path, format, batches[0].schema()).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
}

/// Median rows/s of `runs` runs of `f` over `rows` rows.
fn measure(rows: usize, runs: usize, mut f: impl FnMut()) -> f64 {
    let mut rates: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            rows as f64 / t.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn main() {
    let rows = env_usize("AEFLOW_BENCH_ROWS", 1_000_000);
    let runs = env_usize("AEFLOW_BENCH_RUNS", 5).max(1);
    let batches = table(rows);
    let dir = tempfile::tempdir().unwrap();

    // The model: trained on the first 20 000 rows (feature columns only).
    let train: Vec<RecordBatch> = batches
        .iter()
        .take(20_000 / BATCH_ROWS + 1)
        .map(|b| b.project(&(1..=FEATURES).collect::<Vec<_>>()).unwrap())
        .collect();
    let config = TrainConfig {
        epochs: 5,
        ..TrainConfig::default()
    };
    let model = aeflow::arrow::fit_batches(
        &train,
        &aeflow::arrow::FeatureSelection::All,
        &config,
        &mut Silent,
    )
    .unwrap();
    let dims = model.summary().dims;
    println!(
        "batch jobs: {rows} rows × {FEATURES} features (+ id), model {dims:?}, median of {runs} runs"
    );

    let layout = FeatureLayout::for_model(&batches[0].schema(), &model).unwrap();
    let options = ScoreOptions::default();
    let direct = measure(rows, runs, || {
        for b in &batches {
            std::hint::black_box(score_batch(&model, b, &layout, &options).unwrap());
        }
    });
    println!(
        "  {:<44} {:>12.0} rows/s",
        "score_batch on in-memory batches", direct
    );

    for ext in ["parquet", "csv", "ndjson"] {
        let input = dir.path().join(format!("in.{ext}"));
        write(&input, &batches);
        let out = dir.path().join(format!("out.{ext}"));
        let job = JobOptions::default();
        let read = measure(rows, runs, || {
            let source = FileSource::open(&input, None).unwrap();
            for b in source.batches(None, BATCH_ROWS).unwrap() {
                std::hint::black_box(b.unwrap());
            }
        });
        let written = measure(rows, runs, || write(&out, &batches));
        println!(
            "  {:<44} {:>12.0} rows/s",
            format!("read {ext} (open + every batch)"),
            read
        );
        println!("  {:<44} {:>12.0} rows/s", format!("write {ext}"), written);
        let score = measure(rows, runs, || {
            score_file(&model, &input, &out, &job, &mut |_| {}).unwrap();
        });
        let encode = measure(rows, runs, || {
            encode_file(&model, &input, &out, &job, &mut |_| {}).unwrap();
        });
        println!(
            "  {:<44} {:>12.0} rows/s  ({:.0} % of in-memory)",
            format!("score_file {ext} → {ext}"),
            score,
            100.0 * score / direct
        );
        println!(
            "  {:<44} {:>12.0} rows/s",
            format!("encode_file {ext} → {ext}"),
            encode
        );
    }
}
