//! Dense-layer throughput, forward and backward, sweeping the batch size.
//!
//! The layer is the reference model's widest, 784 → 128 with relu; backward includes the input
//! gradient. Throughput is in rows; GFLOP/s = rows/s · 2·784·128 (forward) or · 4·784·128
//! (backward: weight and input gradients) / 1e9.
//!
//! `cargo bench --bench nn`

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
            b.iter(|| layer.forward(black_box(x.view()), y.view_mut()))
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
            })
        });
    }
    group.finish();
}

criterion_group!(benches, dense);
criterion_main!(benches);
