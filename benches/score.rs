//! Scoring speed alone: `Autoencoder::reconstruction_error` on the models of the reference
//! bench, without their long training.
//!
//! - the reference model 784-128-64-32-64-128-784 (relu, sigmoid output, no scaler) at batch
//!   4096 (and 256, 1024);
//! - the small tabular model 32-16-4-16-32 (relu, linear output, standard scaler) at batches
//!   256, 1024 and 4096.
//!
//! Each model is trained for one epoch on a few thousand rows (the weights' values do not change
//! the speed), then every (model, batch) case is timed once per round, rounds interleaved, and
//! the median rows/s over rounds is printed with each round's figure. The rows scored are 16 384
//! (reference) or 65 536 (small) per pass, called in batches of the given size, as a stream of
//! batches arrives.
//!
//! `cargo bench --bench score` (`AEFLOW_BENCH_ROUNDS`, default 7; `AEFLOW_BENCH_CASES=small_256,…`
//! keeps only those cases, for a profiler). The last line is one JSON object with the medians.

use std::hint::black_box;
use std::time::Instant;

use aeflow::model::{ActivationKind, Autoencoder, ScalerKind, Silent, TrainConfig};
use ndarray::{Array2, ArrayView2, s};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn train(
    x: ArrayView2<f32>,
    hidden: &[usize],
    out: ActivationKind,
    scaler: ScalerKind,
) -> Autoencoder {
    let names: Vec<String> = (0..x.ncols()).map(|j| format!("f{j}")).collect();
    let config = TrainConfig {
        hidden: Some(hidden.to_vec()),
        activation: ActivationKind::Relu,
        output_activation: out,
        batch_size: 256,
        epochs: 1,
        validation_split: 0.0,
        early_stopping: false,
        scaler,
        ..TrainConfig::default()
    };
    Autoencoder::fit(x, &names, &config, &mut Silent).expect("training")
}

/// Rows/s of one pass over `x` in calls of `batch` rows.
fn pass(model: &Autoencoder, x: ArrayView2<f32>, batch: usize) -> f64 {
    let start = Instant::now();
    let mut checksum = 0.0;
    for b in (0..x.nrows()).step_by(batch) {
        let end = (b + batch).min(x.nrows());
        let e = model
            .reconstruction_error(black_box(x.slice(s![b..end, ..])))
            .expect("scoring");
        checksum += e[0];
    }
    assert!(checksum.is_finite());
    x.nrows() as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let rounds: usize = std::env::var("AEFLOW_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let images = Array2::from_shape_fn((16_384, 784), |_| rng.random::<f32>());
    let tabular = Array2::from_shape_fn((65_536, 32), |_| rng.random_range(-2.0f32..2.0) + 1.0);
    let reference = train(
        images.slice(s![..4096, ..]),
        &[128, 64, 32, 64, 128],
        ActivationKind::Sigmoid,
        ScalerKind::None,
    );
    let small = train(
        tabular.slice(s![..8192, ..]),
        &[16, 4, 16],
        ActivationKind::Linear,
        ScalerKind::Standard,
    );
    let cases: Vec<(&str, &Autoencoder, ArrayView2<f32>, usize)> = vec![
        ("reference", &reference, images.view(), 256),
        ("reference", &reference, images.view(), 1024),
        ("reference", &reference, images.view(), 4096),
        ("small", &small, tabular.view(), 256),
        ("small", &small, tabular.view(), 1024),
        ("small", &small, tabular.view(), 4096),
    ];
    let only = std::env::var("AEFLOW_BENCH_CASES").ok();
    let cases: Vec<_> = cases
        .into_iter()
        .filter(|(name, _, _, b)| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|c| c == format!("{name}_{b}")))
        })
        .collect();
    for (_, m, x, b) in &cases {
        pass(m, *x, *b);
    }
    let mut rates = vec![Vec::new(); cases.len()];
    for _ in 0..rounds {
        for (i, (_, m, x, b)) in cases.iter().enumerate() {
            rates[i].push(pass(m, *x, *b));
        }
    }
    let mut json = Vec::new();
    for ((name, _, _, batch), r) in cases.iter().zip(&rates) {
        let med = median(r.clone());
        println!(
            "{name:>9} batch {batch:>4}: {:>9.0} rows/s (median of {rounds}; rounds: {})",
            med,
            r.iter()
                .map(|v| format!("{:.0}k", v / 1e3))
                .collect::<Vec<_>>()
                .join(" ")
        );
        json.push(format!("\"{name}_{batch}\": {med:.0}"));
    }
    println!("{{{}}}", json.join(", "));
}
