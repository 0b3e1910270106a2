//! Dense-layer throughput, forward and backward, sweeping the batch size.
//!
//! The layer is the reference model's widest, 784 → 128 with relu; backward includes the input
//! gradient. Throughput is in rows; GFLOP/s = rows/s · 2·784·128 (forward) or · 4·784·128
//! (backward: weight and input gradients) / 1e9.
//!
//! `cargo bench --bench nn`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use aeflow::nn::{Activation, Dense, GradAt};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const IN: usize = 784;
const OUT: usize = 128;

fn dense(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let layer = Dense::new(IN, OUT, Activation::Relu, &mut rng);
    let mut group = c.benchmark_group("dense_784x128");
    for batch in [32usize, 256, 1024, 4096] {
        let x = Array2::from_shape_fn((batch, IN), |_| rng.random::<f32>());
        let mut y = Array2::zeros((batch, OUT));
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::new("forward", batch), &batch, |b, _| {
            b.iter(|| layer.forward(black_box(x.view()), y.view_mut()));
        });
        layer.forward(x.view(), y.view_mut());
        let dy0 = Array2::from_shape_fn((batch, OUT), |_| rng.random::<f32>() - 0.5);
        let mut dy = dy0.clone();
        let mut grad = layer.zero_grad();
        let mut dx = Array2::zeros((batch, IN));
        group.bench_with_input(BenchmarkId::new("backward", batch), &batch, |b, _| {
            b.iter(|| {
                dy.assign(&dy0);
                layer.backward(
                    x.view(),
                    y.view(),
                    dy.view_mut(),
                    GradAt::Output,
                    &mut grad,
                    Some(dx.view_mut()),
                );
                black_box(&grad);
            });
        });
    }
    group.finish();
}

/// One Adam update of the reference model's 221 184 weights (one tensor).
fn adam(c: &mut Criterion) {
    use aeflow::nn::Optimizer;
    use aeflow::nn::optim::{Adam, AdamConfig};
    let n = 221_184;
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut p: Vec<f32> = (0..n).map(|_| rng.random::<f32>() - 0.5).collect();
    let g: Vec<f32> = (0..n).map(|_| rng.random::<f32>() - 0.5).collect();
    let mut opt = Adam::new(AdamConfig::default());
    let mut group = c.benchmark_group("adam");
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("update_221184", |b| {
        b.iter(|| {
            opt.begin_step();
            opt.update(0, black_box(&mut p), black_box(&g), true);
        });
    });
    group.finish();
}

criterion_group!(benches, dense, adam);
criterion_main!(benches);
