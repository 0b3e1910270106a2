//! The reference model of the README's benchmark table, on synthetic data of the usual shape.
//!
//! 784 → 128 → 64 → 32 → 64 → 128 → 784, relu, sigmoid output, Adam (lr 1e-3), MSE, batch 256,
//! 60 000 training rows of 784 floats in [0, 1] and 10 000 test rows (smooth low-rank "images": a
//! sigmoid of 8 random factors, plus a little pixel noise). Prints:
//! - seconds per training epoch (median over the epochs) and the GFLOP/s they imply;
//! - the test MSE after the last epoch (the quality the references are compared on);
//! - inference rows/s at batch 4096 (`reconstruction_error`: the network and the per-row error);
//! - the small tabular model 32 → 16 → 4 → 16 → 32 (relu, linear output, standard scaling):
//!   training rows/s at batch 256 and inference rows/s at batches 256 and 4096.
//!
//! Next to wall-clock time it prints the process CPU time (all threads, from `/proc/self/stat`).
//! The last line is one JSON object with every figure, read by `benches/reference/run.py`, which
//! runs Keras and onnxruntime on the same data right after and prints the ratios.
//!
//! `cargo bench --bench reference`. Environment: `AEFLOW_BENCH_EPOCHS` (default 5),
//! `AEFLOW_BENCH_DATA=DIR` writes the training and test rows to `DIR/train.f32` and
//! `DIR/test.f32` (raw little-endian f32, row-major, 784 columns) for the references,
//! `MATMUL_NUM_THREADS=1` keeps everything on one core.

use std::io::Write;
use std::time::Instant;

use aeflow::model::{
    ActivationKind, Autoencoder, EpochRecord, ScalerKind, TrainConfig, TrainObserver,
};
use ndarray::{Array2, ArrayView2, s};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TRAIN_ROWS: usize = 60_000;
const TEST_ROWS: usize = 10_000;
const D: usize = 784;
const HIDDEN: [usize; 5] = [128, 64, 32, 64, 128];
const INFER_BATCH: usize = 4096;

/// Rows of digit-like images: a sigmoid of 8 smooth random factors plus uniform pixel noise of
/// ±0.05, clipped to [0, 1].
fn images(rows: usize) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let u = Array2::from_shape_fn((rows, 8), |_| rng.random_range(-1.0f32..1.0));
    let v = Array2::from_shape_fn((8, D), |_| rng.random_range(-1.5f32..1.5));
    let mut x = u.dot(&v).mapv(|t| 1.0 / (1.0 + (-t).exp()));
    x.mapv_inplace(|p| (p + rng.random_range(-0.05f32..0.05)).clamp(0.0, 1.0));
    x
}

/// Tabular rows for the small model: 32 features driven by 4 factors, with noise.
fn tabular(rows: usize) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let u = Array2::from_shape_fn((rows, 4), |_| rng.random_range(-1.0f32..1.0));
    let v = Array2::from_shape_fn((4, 32), |_| rng.random_range(-1.0f32..1.0));
    let mut x = u.dot(&v);
    x.mapv_inplace(|p| p + 0.1 * rng.random_range(-1.0f32..1.0));
    x
}

fn write_f32(path: &std::path::Path, x: ArrayView2<f32>) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for &v in x {
        out.write_all(&v.to_le_bytes())?;
    }
    out.flush()
}

/// CPU seconds (user + system, all threads) of this process so far; `None` without `/proc`.
/// Linux reports them in clock ticks of 1/100 s.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Records CPU seconds per epoch.
#[derive(Default)]
struct CpuPerEpoch {
    start: Option<f64>,
    epochs: Vec<f64>,
}

impl TrainObserver for CpuPerEpoch {
    fn on_epoch_start(&mut self, _epoch: usize, _epochs: usize, _batches: usize) {
        self.start = cpu_seconds();
    }
    fn on_epoch_end(&mut self, _record: &EpochRecord) {
        if let (Some(a), Some(b)) = (self.start, cpu_seconds()) {
            self.epochs.push(b - a);
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Median rows/s of `reconstruction_error` over `x` in batches of `batch` (at least `min_s`
/// seconds of passes), and rows per CPU second.
fn inference_rate(
    model: &Autoencoder,
    x: ArrayView2<f32>,
    batch: usize,
    passes: usize,
) -> (f64, f64) {
    let mut rates = Vec::new();
    let mut cpu_rates = Vec::new();
    let mut checksum = 0.0;
    for _ in 0..passes {
        let start = Instant::now();
        let cpu_start = cpu_seconds();
        for b in (0..x.nrows()).step_by(batch) {
            let end = (b + batch).min(x.nrows());
            let e = model
                .reconstruction_error(x.slice(s![b..end, ..]))
                .expect("scoring");
            checksum += e[0];
        }
        rates.push(x.nrows() as f64 / start.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (cpu_start, cpu_seconds())
            && b > a
        {
            cpu_rates.push(x.nrows() as f64 / (b - a));
        }
    }
    assert!(checksum.is_finite());
    (median(rates), median(cpu_rates))
}

fn main() {
    // Ignore criterion-style arguments such as `--bench`.
    let epochs: usize = std::env::var("AEFLOW_BENCH_EPOCHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let all = images(TRAIN_ROWS + TEST_ROWS);
    let (x, x_test) = all.view().split_at(ndarray::Axis(0), TRAIN_ROWS);
    if let Some(dir) = std::env::var_os("AEFLOW_BENCH_DATA") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("creating AEFLOW_BENCH_DATA");
        write_f32(&dir.join("train.f32"), x).expect("writing train.f32");
        write_f32(&dir.join("test.f32"), x_test).expect("writing test.f32");
    }
    let names: Vec<String> = (0..D).map(|j| format!("p{j}")).collect();
    let config = TrainConfig {
        hidden: Some(HIDDEN.to_vec()),
        activation: ActivationKind::Relu,
        output_activation: ActivationKind::Sigmoid,
        batch_size: 256,
        epochs,
        validation_split: 0.0,
        early_stopping: false,
        scaler: ScalerKind::None,
        ..TrainConfig::default()
    };
    let params: usize = [D, 128, 64, 32, 64, 128, D]
        .windows(2)
        .map(|w| w[0] * w[1])
        .sum();
    let flop_forward = 2.0 * params as f64;
    // Backward: weight gradients for every layer, input gradients for all but the first.
    let flop_train = flop_forward + 2.0 * params as f64 + 2.0 * (params - D * 128) as f64;

    let mut cpu = CpuPerEpoch::default();
    let model =
        Autoencoder::fit(x, &names, &config, &mut cpu).expect("training the reference model");
    let secs: Vec<f64> = model.history().iter().map(|r| r.seconds).collect();
    let epoch = median(secs.clone());
    let threads = std::env::var("MATMUL_NUM_THREADS").unwrap_or_else(|_| "unset: all cores".into());
    println!(
        "reference model 784-128-64-32-64-128-784, relu/sigmoid, adam, mse, batch 256, {TRAIN_ROWS} rows \
         (MATMUL_NUM_THREADS {threads})"
    );
    let test_mse = model
        .reconstruction_error(x_test)
        .expect("scoring the test rows")
        .mean()
        .unwrap_or(f64::NAN);
    println!(
        "train: {epoch:.3} s/epoch (median of {} epochs: {:?}), {:.0} samples/s, {:.1} GFLOP/s; test MSE after {epochs} epochs {test_mse:.5}",
        secs.len(),
        secs.iter().map(|s| format!("{s:.3}")).collect::<Vec<_>>(),
        TRAIN_ROWS as f64 / epoch,
        TRAIN_ROWS as f64 * flop_train / epoch / 1e9,
    );
    let cpu_epoch = median(cpu.epochs.clone());
    println!("train: {cpu_epoch:.3} CPU s/epoch (median, all threads)");

    let (infer, infer_cpu) = inference_rate(&model, x, INFER_BATCH, 7);
    println!(
        "inference: {infer:.0} rows/s at batch {INFER_BATCH} ({:.1} GFLOP/s), {infer_cpu:.0} rows per CPU second",
        infer * flop_forward / 1e9
    );

    // The small tabular model.
    let t = tabular(100_000);
    let small_names: Vec<String> = (0..32).map(|j| format!("f{j}")).collect();
    let small_config = TrainConfig {
        hidden: Some(vec![16, 4, 16]),
        activation: ActivationKind::Relu,
        output_activation: ActivationKind::Linear,
        batch_size: 256,
        epochs: 3,
        validation_split: 0.0,
        early_stopping: false,
        scaler: ScalerKind::Standard,
        ..TrainConfig::default()
    };
    let small = Autoencoder::fit(
        t.view(),
        &small_names,
        &small_config,
        &mut CpuPerEpoch::default(),
    )
    .expect("training the small model");
    let small_train =
        t.nrows() as f64 / median(small.history().iter().map(|r| r.seconds).collect());
    let (small_256, _) = inference_rate(&small, t.view(), 256, 7);
    let (small_4096, _) = inference_rate(&small, t.view(), 4096, 7);
    println!(
        "small model 32-16-4-16-32: train {small_train:.0} rows/s at batch 256; inference {small_256:.0} rows/s at batch 256, {small_4096:.0} rows/s at batch 4096"
    );
    println!(
        "{{\"framework\": \"aeflow\", \"threads\": \"{threads}\", \"epochs\": {epochs}, \"epoch_s_median\": {epoch:.4}, \"epoch_cpu_s_median\": {cpu_epoch:.4}, \"test_mse\": {test_mse:.6}, \"infer_rows_per_s_4096\": {infer:.0}, \"small_train_rows_per_s_256\": {small_train:.0}, \"small_infer_rows_per_s_256\": {small_256:.0}, \"small_infer_rows_per_s_4096\": {small_4096:.0}}}"
    );
}
