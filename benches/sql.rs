//! SQL throughput next to the direct Arrow path, measured in one run.
//!
//! `SELECT ae_reconstruction_error('m', f0, …, f15) FROM t` over a Parquet table, against the
//! same model applied with [`aeflow::arrow::score_batch`] to the same Arrow batches held in
//! memory. Also shown: the SQL query over those in-memory batches (no Parquet decoding) and the
//! direct path including reading the Parquet file, to tell the costs apart.
//!
//! ```text
//! cargo bench --bench sql                    # 1 000 000 rows × 16 features, 7 runs each
//! AEFLOW_BENCH_ROWS=200000 AEFLOW_BENCH_RUNS=5 cargo bench --bench sql
//! ```
//! Prints rows/s (median of the runs) per path and the ratio SQL / direct (bar: ≥ 0.90).

use std::sync::Arc;
use std::time::Instant;

use aeflow::arrow::{FeatureLayout, score_batch};
use aeflow::model::{Autoencoder, ScoreOptions, Silent, TrainConfig};
use aeflow::sql::{ModelRegistry, register};
use arrow::array::{ArrayRef, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures::StreamExt;
use rand::{Rng, SeedableRng};

const FEATURES: usize = 16;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `rows` rows of `FEATURES` correlated features (4 latent factors plus noise), seeded.
fn table(rows: usize, batch_rows: usize) -> Vec<RecordBatch> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let mix: Vec<[f64; 4]> = (0..FEATURES)
        .map(|_| std::array::from_fn(|_| rng.random_range(-1.0..1.0)))
        .collect();
    let schema = Arc::new(Schema::new(
        (0..FEATURES)
            .map(|j| Field::new(format!("f{j}"), DataType::Float64, false))
            .collect::<Vec<_>>(),
    ));
    let mut batches = Vec::new();
    let mut done = 0;
    while done < rows {
        let n = batch_rows.min(rows - done);
        let factors: Vec<[f64; 4]> = (0..n)
            .map(|_| std::array::from_fn(|_| rng.random_range(-1.0..1.0)))
            .collect();
        let columns: Vec<ArrayRef> = mix
            .iter()
            .map(|w| {
                let v = factors.iter().map(|f| {
                    f.iter().zip(w).map(|(a, b)| a * b).sum::<f64>()
                        + 0.05 * rng.random_range(-1.0..1.0)
                });
                Arc::new(Float64Array::from_iter_values(v.collect::<Vec<_>>())) as ArrayRef
            })
            .collect();
        batches.push(RecordBatch::try_new(schema.clone(), columns).expect("batch"));
        done += n;
    }
    batches
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let rows = env_usize("AEFLOW_BENCH_ROWS", 1_000_000);
    let runs = env_usize("AEFLOW_BENCH_RUNS", 7).max(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let parquet_path = dir.path().join("t.parquet");

    // The data, written once to Parquet (DataFusion's default batch size, 8192 rows).
    let batches = table(rows, 8192);
    let schema = batches[0].schema();
    {
        let file = std::fs::File::create(&parquet_path).expect("create parquet");
        let mut w =
            parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None).expect("writer");
        for b in &batches {
            w.write(b).expect("write");
        }
        w.close().expect("close");
    }

    // A small tabular model: 16 → 32 → 8 → 32 → 16.
    let names: Vec<String> = (0..FEATURES).map(|j| format!("f{j}")).collect();
    let train_rows = 20_000.min(rows);
    let train = aeflow::arrow::batch_to_matrix(
        &arrow::compute::concat_batches(&schema, &batches[..train_rows.div_ceil(8192)])
            .expect("concat"),
        &FeatureLayout::Scalars((0..FEATURES).collect()),
    )
    .expect("matrix");
    let config = TrainConfig {
        hidden: Some(vec![32, 8, 32]),
        epochs: 2,
        seed: 1,
        ..TrainConfig::default()
    };
    let model = Autoencoder::fit(train.view(), &names, &config, &mut Silent).expect("train");
    let layout = FeatureLayout::for_model(&schema, &model).expect("layout");

    // The same batches as DataFusion reads them from the Parquet file, held in memory.
    let file_batches: Vec<RecordBatch> = {
        let file = std::fs::File::open(&parquet_path).expect("open parquet");
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .expect("reader")
            .with_batch_size(8192)
            .build()
            .expect("reader")
            .map(|b| b.expect("batch"))
            .collect()
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let registry = ModelRegistry::new();
    registry.register("m", model.clone()).expect("register");
    let ctx = SessionContext::new();
    register(&ctx, registry);
    runtime
        .block_on(ctx.register_parquet(
            "t",
            parquet_path.to_str().expect("utf-8"),
            ParquetReadOptions::default(),
        ))
        .expect("register parquet");
    let mem = MemTable::try_new(schema.clone(), vec![file_batches.clone()]).expect("memtable");
    ctx.register_table("mem", Arc::new(mem))
        .expect("register memtable");
    let cols = names.join(", ");
    let sql_parquet = format!("SELECT ae_reconstruction_error('m', {cols}) FROM t");
    let sql_mem = format!("SELECT ae_reconstruction_error('m', {cols}) FROM mem");

    let options = ScoreOptions::default();
    let direct = || {
        let start = Instant::now();
        let mut n = 0;
        for b in &file_batches {
            n += score_batch(&model, b, &layout, &options)
                .expect("score")
                .num_rows();
        }
        assert_eq!(n, rows);
        rows as f64 / start.elapsed().as_secs_f64()
    };
    let direct_with_read = || {
        let start = Instant::now();
        let file = std::fs::File::open(&parquet_path).expect("open parquet");
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .expect("reader")
            .build()
            .expect("reader");
        let mut n = 0;
        for b in reader {
            n += score_batch(&model, &b.expect("batch"), &layout, &options)
                .expect("score")
                .num_rows();
        }
        assert_eq!(n, rows);
        rows as f64 / start.elapsed().as_secs_f64()
    };
    let sql = |query: &str| {
        runtime.block_on(async {
            let start = Instant::now();
            let mut stream = ctx
                .sql(query)
                .await
                .expect("plan")
                .execute_stream()
                .await
                .expect("execute");
            let mut n = 0;
            while let Some(b) = stream.next().await {
                n += b.expect("batch").num_rows();
            }
            assert_eq!(n, rows);
            rows as f64 / start.elapsed().as_secs_f64()
        })
    };

    // Warm up every path once, then interleave the runs so drift hits all paths alike.
    direct();
    sql(&sql_parquet);
    let mut results: [(&str, Vec<f64>); 4] = [
        ("direct: score_batch on in-memory batches", vec![]),
        ("direct: Parquet read + score_batch", vec![]),
        ("SQL over the Parquet table", vec![]),
        ("SQL over the in-memory batches (MemTable)", vec![]),
    ];
    for _ in 0..runs {
        results[0].1.push(direct());
        results[1].1.push(direct_with_read());
        results[2].1.push(sql(&sql_parquet));
        results[3].1.push(sql(&sql_mem));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "ae_reconstruction_error throughput: {rows} rows × {FEATURES} features, model 16→32→8→32→16, \
         median of {runs} runs, {cores} cores, DataFusion target_partitions = {}",
        ctx.state().config().target_partitions()
    );
    let medians: Vec<f64> = results.iter().map(|(_, v)| median(v.clone())).collect();
    for ((name, _), m) in results.iter().zip(&medians) {
        println!("  {name:<45} {:>12.0} rows/s", m);
    }
    println!(
        "  ratio SQL (Parquet table) / direct (in-memory batches): {:.3}  (bar: >= 0.90)",
        medians[2] / medians[0]
    );
    println!(
        "  ratio SQL (MemTable) / direct (in-memory batches):      {:.3}",
        medians[3] / medians[0]
    );
}
