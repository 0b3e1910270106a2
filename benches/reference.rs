//! The reference model of the README's benchmark table, on synthetic data of the usual shape.
//!
//! 784 → 128 → 64 → 32 → 64 → 128 → 784, relu, sigmoid output, Adam (lr 1e-3), MSE, batch 256,
//! 60 000 rows of 784 floats in [0, 1] (smooth low-rank "images": a sigmoid of 8 random factors).
//! Prints seconds per training epoch (median over the epochs) and inference rows/s at batch 4096
//! (`reconstruction_error`, the full network plus the per-row error), with the GFLOP/s they imply.
//!
//! Next to wall-clock time it prints the process CPU time (all threads, from `/proc/self/stat`),
//! which other load on the machine inflates much less: on a busy machine, CPU seconds with
//! `MATMUL_NUM_THREADS=1` are the single-core cost, and half of them what two free cores could
//! reach at best.
//!
//! `cargo bench --bench reference` (set `AEFLOW_BENCH_EPOCHS` to change the default 7 epochs).
//! matrixmultiply picks its thread count once from `MATMUL_NUM_THREADS` (default: physical cores).

use std::time::Instant;

use aeflow::model::{
    ActivationKind, Autoencoder, EpochRecord, ScalerKind, TrainConfig, TrainObserver,
};
use ndarray::{Array2, s};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ROWS: usize = 60_000;
const D: usize = 784;
const HIDDEN: [usize; 5] = [128, 64, 32, 64, 128];
const INFER_BATCH: usize = 4096;

fn data() -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let u = Array2::from_shape_fn((ROWS, 8), |_| rng.random_range(-1.0f32..1.0));
    let v = Array2::from_shape_fn((8, D), |_| rng.random_range(-1.5f32..1.5));
    u.dot(&v).mapv(|t| 1.0 / (1.0 + (-t).exp()))
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
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn main() {
    // Ignore criterion-style arguments such as `--bench`.
    let epochs: usize = std::env::var("AEFLOW_BENCH_EPOCHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let x = data();
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
    let model = Autoencoder::fit(x.view(), &names, &config, &mut cpu)
        .expect("training the reference model");
    let secs: Vec<f64> = model.history().iter().map(|r| r.seconds).collect();
    let epoch = median(secs.clone());
    let threads =
        std::env::var("MATMUL_NUM_THREADS").unwrap_or_else(|_| "unset: physical cores".into());
    println!(
        "reference model 784-128-64-32-64-128-784, relu/sigmoid, adam, mse, batch 256, {ROWS} rows \
         (MATMUL_NUM_THREADS {threads})"
    );
    println!(
        "train: {epoch:.3} s/epoch (median of {} epochs: {:?}), {:.0} samples/s, {:.1} GFLOP/s; final loss {:.5}",
        secs.len(),
        secs.iter().map(|s| format!("{s:.3}")).collect::<Vec<_>>(),
        ROWS as f64 / epoch,
        ROWS as f64 * flop_train / epoch / 1e9,
        model
            .history()
            .last()
            .map(|r| r.train_loss)
            .unwrap_or(f64::NAN),
    );
    if !cpu.epochs.is_empty() {
        println!(
            "train: {:.3} CPU s/epoch (median, all threads)",
            median(cpu.epochs.clone())
        );
    }

    // Inference: batches of 4096 rows, several passes; median of passes.
    let mut passes = Vec::new();
    let mut cpu_passes = Vec::new();
    let mut checksum = 0.0;
    for _ in 0..5 {
        let start = Instant::now();
        let cpu_start = cpu_seconds();
        for b in (0..ROWS).step_by(INFER_BATCH) {
            let end = (b + INFER_BATCH).min(ROWS);
            let e = model
                .reconstruction_error(x.slice(s![b..end, ..]))
                .expect("scoring");
            checksum += e[0];
        }
        passes.push(start.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (cpu_start, cpu_seconds()) {
            cpu_passes.push(b - a);
        }
    }
    let pass = median(passes);
    println!(
        "inference: {:.0} rows/s at batch {INFER_BATCH} ({:.1} GFLOP/s) [checksum {checksum:.4}]",
        ROWS as f64 / pass,
        ROWS as f64 * flop_forward / pass / 1e9
    );
    if !cpu_passes.is_empty() {
        let cpu_pass = median(cpu_passes);
        println!(
            "inference: {:.0} rows per CPU second (all threads)",
            ROWS as f64 / cpu_pass
        );
    }
}
