//! The reference model of the README's benchmark table, on synthetic data of the usual shape.
//!
//! 784 → 128 → 64 → 32 → 64 → 128 → 784, relu, sigmoid output, Adam (lr 1e-3), MSE, batch 256,
//! 60 000 rows of 784 floats in [0, 1] (smooth low-rank "images": a sigmoid of 8 random factors).
//! Prints seconds per training epoch (median over the epochs) and inference rows/s at batch 4096
//! (`reconstruction_error`, the full network plus the per-row error), with the GFLOP/s they imply.
//!
//! `cargo bench --bench reference` (set `AEFLOW_BENCH_EPOCHS` to change the default 7 epochs).
//! matrixmultiply picks its thread count once from `MATMUL_NUM_THREADS` (default: physical cores).

use std::time::Instant;

use aeflow::model::{ActivationKind, Autoencoder, ScalerKind, Silent, TrainConfig};
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

    let model = Autoencoder::fit(x.view(), &names, &config, &mut Silent)
        .expect("training the reference model");
    let secs: Vec<f64> = model.history().iter().map(|r| r.seconds).collect();
    let epoch = median(secs.clone());
    println!(
        "reference model 784-128-64-32-64-128-784, relu/sigmoid, adam, mse, batch 256, {ROWS} rows"
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

    // Inference: batches of 4096 rows, several passes; median of passes.
    let mut passes = Vec::new();
    let mut checksum = 0.0;
    for _ in 0..5 {
        let start = Instant::now();
        for b in (0..ROWS).step_by(INFER_BATCH) {
            let end = (b + INFER_BATCH).min(ROWS);
            let e = model
                .reconstruction_error(x.slice(s![b..end, ..]))
                .expect("scoring");
            checksum += e[0];
        }
        passes.push(start.elapsed().as_secs_f64());
    }
    let pass = median(passes);
    println!(
        "inference: {:.0} rows/s at batch {INFER_BATCH} ({:.1} GFLOP/s) [checksum {checksum:.4}]",
        ROWS as f64 / pass,
        ROWS as f64 * flop_forward / pass / 1e9
    );
}
