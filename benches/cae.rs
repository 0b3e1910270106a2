//! Forward and backward throughput of a 28×28 convolutional autoencoder, in GFLOP/s.
//!
//! The network is the default `--kind convolutional --input-shape 1,28,28` one
//! (`--filters 16,32 --kernel-size 3`, stride-2 convolutions, transposed convolutions back,
//! latent 28), with the default hidden activation elu and then with relu (elu's `exp` is
//! element-wise work the FLOP count leaves out):
//!
//! ```text
//! encoder  conv 1→16 3×3/2   28×28 → 14×14     conv 16→32 3×3/2  14×14 → 7×7     dense 1568 → 28
//! decoder  dense 28 → 1568   convᵀ 32→16 3×3/2  7×7 → 14×14     convᵀ 16→1 3×3/2  14×14 → 28×28
//! ```
//!
//! FLOPs are counted as 2 per multiply-add of the layers' products: forward `2·MACs`; backward
//! `2·MACs` for the weight gradient plus `2·MACs` for the input gradient (every layer but the
//! first, whose input gradient is not needed). Element-wise work (bias, activation, im2col,
//! col2im) is not counted but is timed. Printed per batch size: rows/s and GFLOP/s of the
//! forward pass (inference buffers), of the backward pass alone, and of a training step's
//! forward + backward; then the forward GFLOP/s of each layer at batch 256.
//!
//! `cargo bench --bench cae` (set `MATMUL_NUM_THREADS` to change the GEMM threads).

use std::hint::black_box;
use std::time::{Duration, Instant};

use aeflow::nn::{
    Activation, Buffers, Conv, ConvGeometry, ConvTranspose, Dense, GradAt, Layer, Sequential, Tape,
};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const LATENT: usize = 28;

fn geometry(channels: usize, size: usize) -> ConvGeometry {
    ConvGeometry {
        channels,
        size: [size, size],
        kernel: [3, 3],
        stride: [2, 2],
        padding: [1, 1],
    }
}

fn network(act: Activation, rng: &mut ChaCha8Rng) -> (Sequential, Sequential) {
    let encoder: Vec<Layer> = vec![
        Conv::new(geometry(1, 28), 16, act, rng).unwrap().into(),
        Conv::new(geometry(16, 14), 32, act, rng).unwrap().into(),
        Dense::new(32 * 7 * 7, LATENT, act, rng).into(),
    ];
    let decoder: Vec<Layer> = vec![
        Dense::new(LATENT, 32 * 7 * 7, act, rng).into(),
        ConvTranspose::new(geometry(16, 14), 32, act, rng)
            .unwrap()
            .into(),
        ConvTranspose::new(geometry(1, 28), 16, Activation::Sigmoid, rng)
            .unwrap()
            .into(),
    ];
    (
        Sequential::from_layers(encoder, 0.0).unwrap(),
        Sequential::from_layers(decoder, 0.0).unwrap(),
    )
}

/// Median seconds per call of `f` over about `budget` of calls (after two warm-up calls).
fn time(budget: Duration, mut f: impl FnMut()) -> f64 {
    f();
    f();
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < budget || samples.len() < 5 {
        let t = Instant::now();
        f();
        samples.push(t.elapsed().as_secs_f64());
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    for act in [Activation::Elu, Activation::Relu] {
        run(act);
    }
}

fn run(act: Activation) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (encoder, decoder) = network(act, &mut rng);
    let layers: Vec<&Layer> = encoder.layers().iter().chain(decoder.layers()).collect();
    let macs: usize = layers.iter().map(|l| l.macs_per_row()).sum();
    let fwd_flops = 2.0 * macs as f64;
    let bwd_flops = 2.0 * (2 * macs - layers[0].macs_per_row()) as f64;
    println!(
        "\n28×28 CAE, filters 16,32, 3×3, latent {LATENT}, {act:?} (sigmoid output): {:.2} MFLOP forward, {:.2} MFLOP backward per row",
        fwd_flops / 1e6,
        bwd_flops / 1e6
    );
    println!(
        "{:>6} {:>12} {:>10} {:>12} {:>10} {:>14} {:>10}",
        "batch", "fwd rows/s", "fwd GF/s", "bwd rows/s", "bwd GF/s", "train rows/s", "train GF/s"
    );
    for batch in [32usize, 256, 1024] {
        let x = Array2::from_shape_fn((batch, 784), |_| rng.random::<f32>());
        let (mut eb, mut db) = (Buffers::default(), Buffers::default());
        let fwd = time(Duration::from_secs(2), || {
            let z = encoder.forward(black_box(x.view()), &mut eb);
            black_box(decoder.forward(z, &mut db));
        });

        let (mut et, mut dt) = (Tape::new(), Tape::new());
        let (mut eg, mut dg) = (encoder.zero_grads(), decoder.zero_grads());
        let mut noise = ChaCha8Rng::seed_from_u64(0);
        let mut forward_train = |et: &mut Tape, dt: &mut Tape| {
            encoder.forward_train(x.view(), et, &mut noise);
            decoder.forward_train(et.output(), dt, &mut noise);
        };
        forward_train(&mut et, &mut dt);
        let backward = |et: &mut Tape, dt: &mut Tape, eg: &mut _, dg: &mut _| {
            // ∂L/∂y of a squared error (up to its 2/N scale).
            let (y, g) = dt.output_and_grad();
            ndarray::Zip::from(g)
                .and(y)
                .and(x.view())
                .for_each(|g, &y, &t| *g = y - t);
            let (z, dz) = et.output_and_grad();
            decoder.backward(z, dt, GradAt::Output, dg, Some(dz));
            encoder.backward(x.view(), et, GradAt::Output, eg, None);
        };
        let bwd = time(Duration::from_secs(2), || {
            backward(&mut et, &mut dt, &mut eg, &mut dg);
            black_box((&eg, &dg));
        });
        let step = time(Duration::from_secs(2), || {
            forward_train(&mut et, &mut dt);
            backward(&mut et, &mut dt, &mut eg, &mut dg);
            black_box((&eg, &dg));
        });
        let b = batch as f64;
        println!(
            "{batch:>6} {:>12.0} {:>10.1} {:>12.0} {:>10.1} {:>14.0} {:>10.1}",
            b / fwd,
            b * fwd_flops / fwd / 1e9,
            b / bwd,
            b * bwd_flops / bwd / 1e9,
            b / step,
            b * (fwd_flops + bwd_flops) / step / 1e9
        );
    }

    println!("\nforward per layer, batch 256:");
    let batch = 256;
    let mut input = Array2::from_shape_fn((batch, 784), |_| rng.random::<f32>());
    for (i, layer) in layers.iter().enumerate() {
        let mut y = Array2::zeros((batch, layer.out_features()));
        let t = time(Duration::from_secs(1), || {
            layer.forward(black_box(input.view()), y.view_mut());
        });
        let kind = match layer {
            Layer::Dense(_) => "dense",
            Layer::Conv(_) => "conv",
            Layer::ConvTranspose(_) => "conv_transpose",
            Layer::MaxPool(_) => "max_pool",
            Layer::Upsample(_) => "upsample",
        };
        println!(
            "  {i} {kind:<15} {:>5} → {:>5}  {:>8.1} µs  {:>6.1} GFLOP/s",
            layer.in_features(),
            layer.out_features(),
            t * 1e6,
            2.0 * (batch * layer.macs_per_row()) as f64 / t / 1e9
        );
        input = y;
    }
}
