//! Where the time of a training step and an inference pass goes, per phase and per product.
//!
//! 1. Every matrix product of the reference model (784-128-64-32-64-128-784) alone, at batch 256
//!    (training) and 4096 (inference): GFLOP/s of `gemm` on the shapes the layers use, with the
//!    strides they use (`x·Wᵀ`, `dzᵀ·x`, `dz·W`).
//! 2. One training step split into phases: forward, loss, backward, optimizer, timed over many
//!    steps, with the share of time spent outside GEMM.
//! 3. The same for a small tabular model (32-16-4-16-32) at batch 256 and 4096.
//!
//! `cargo bench --bench breakdown` (set `MATMUL_NUM_THREADS=1` for the single-core cost).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use aeflow::nn::optim::{Adam, AdamConfig};
use aeflow::nn::{Activation, Buffers, Loss, Optimizer, Sequential, Tape, gemm};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The system allocator, counting allocations (to report allocations per training step).
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// CPU seconds of this process (all threads).
fn cpu_now() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Median seconds of `f` over `reps` calls after 3 warm-up calls; also records the mean CPU
/// seconds per call in `CPU` (read by the callers that print it).
fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let mut t = Vec::with_capacity(reps);
    let c0 = cpu_now();
    for _ in 0..reps {
        let s = Instant::now();
        f();
        t.push(s.elapsed().as_secs_f64());
    }
    LAST_CPU.with(|c| c.set((cpu_now() - c0) / reps as f64));
    median(t)
}

thread_local! {
    static LAST_CPU: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

fn last_cpu() -> f64 {
    LAST_CPU.with(|c| c.get())
}

fn random(rows: usize, cols: usize, rng: &mut ChaCha8Rng) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |_| rng.random::<f32>())
}

fn products(dims: &[usize], batch: usize, rng: &mut ChaCha8Rng) {
    println!(
        "gemm alone, batch {batch}: GFLOP/s (forward x·Wᵀ | weight grad dzᵀ·x | input grad dz·W)"
    );
    let mut total = [0.0f64; 3];
    let mut flops = 0.0;
    for w in dims.windows(2) {
        let (i, o) = (w[0], w[1]);
        let x = random(batch, i, rng);
        let wt = random(o, i, rng);
        let dz = random(batch, o, rng);
        let mut y = Array2::zeros((batch, o));
        let mut dw = Array2::zeros((o, i));
        let mut dx = Array2::zeros((batch, i));
        let f = 2.0 * (batch * i * o) as f64;
        let reps = (2e10 / f).clamp(20.0, 2000.0) as usize;
        let mut cpu = [0.0; 3];
        let mut t = [0.0; 3];
        t[0] = time(reps, || {
            gemm(1.0, black_box(x.view()), wt.t(), 0.0, y.view_mut());
        });
        cpu[0] = last_cpu();
        t[1] = time(reps, || {
            gemm(1.0, dz.t(), black_box(x.view()), 0.0, dw.view_mut());
        });
        cpu[1] = last_cpu();
        t[2] = time(reps, || {
            gemm(1.0, black_box(dz.view()), wt.view(), 0.0, dx.view_mut());
        });
        cpu[2] = last_cpu();
        for k in 0..3 {
            total[k] += t[k];
        }
        flops += f;
        println!(
            "  {i:>4}→{o:<4} {:>7.1} | {:>7.1} | {:>7.1}    per CPU-second {:>7.1} | {:>7.1} | {:>7.1}",
            f / t[0] / 1e9,
            f / t[1] / 1e9,
            f / t[2] / 1e9,
            f / cpu[0] / 1e9,
            f / cpu[1] / 1e9,
            f / cpu[2] / 1e9
        );
    }
    println!(
        "  all      {:>7.1} | {:>7.1} | {:>7.1}   (µs: {:.0} | {:.0} | {:.0})",
        flops / total[0] / 1e9,
        flops / total[1] / 1e9,
        flops / total[2] / 1e9,
        total[0] * 1e6,
        total[1] * 1e6,
        total[2] * 1e6
    );
}

/// Training steps of one network (no encoder/decoder split: the phases are the same).
fn phases(dims: &[usize], batch: usize, rng: &mut ChaCha8Rng) {
    let n = dims.len() - 1;
    let mut acts = vec![Activation::Relu; n];
    acts[n - 1] = Activation::Sigmoid;
    let mut net = Sequential::new(dims, &acts, 0.0, rng).expect("network");
    let x = random(batch, dims[0], rng);
    let mut tape = Tape::new();
    let mut grads = net.zero_grads();
    let mut opt = Adam::new(AdamConfig::default());
    let mut noise = ChaCha8Rng::seed_from_u64(0);
    let params: usize = dims.windows(2).map(|w| w[0] * w[1]).sum();
    let gemm_flops = 2.0 * batch as f64 * (3 * params - dims[0] * dims[1]) as f64;
    let steps = (4e10 / gemm_flops).clamp(30.0, 3000.0) as usize;
    let mut t = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    let mut allocs = 0;
    for s in 0..steps + 3 {
        if s == 3 {
            allocs = ALLOCATIONS.load(Ordering::Relaxed);
        }
        let t0 = Instant::now();
        net.forward_train(x.view(), &mut tape, &mut noise);
        let t1 = Instant::now();
        let (y, g) = tape.output_and_grad();
        let (_, at) = Loss::Mse.value_and_grad(y, x.view(), Activation::Sigmoid, g);
        let t2 = Instant::now();
        net.backward(x.view(), &mut tape, at, &mut grads, None);
        let t3 = Instant::now();
        opt.begin_step();
        net.step(&grads, &mut opt, 0);
        let t4 = Instant::now();
        if s >= 3 {
            t[0].push((t1 - t0).as_secs_f64());
            t[1].push((t2 - t1).as_secs_f64());
            t[2].push((t3 - t2).as_secs_f64());
            t[3].push((t4 - t3).as_secs_f64());
        }
    }
    let allocs = (ALLOCATIONS.load(Ordering::Relaxed) - allocs) as f64 / steps as f64;
    let m: Vec<f64> = t.into_iter().map(median).collect();
    let step: f64 = m.iter().sum();
    println!(
        "train step {dims:?} batch {batch}: {:.1} µs = forward {:.1} + loss {:.1} + backward {:.1} + adam {:.1}; {:.0} rows/s, {:.1} GFLOP/s; {allocs:.1} allocations per step",
        step * 1e6,
        m[0] * 1e6,
        m[1] * 1e6,
        m[2] * 1e6,
        m[3] * 1e6,
        batch as f64 / step,
        gemm_flops / step / 1e9
    );

    let xi = random(4096.max(batch), dims[0], rng);
    let mut buffers = Buffers::default();
    let fwd = 2.0 * params as f64;
    for b in [batch, 4096] {
        let xb = xi.slice(ndarray::s![..b, ..]);
        let reps = (2e10 / (fwd * b as f64)).clamp(30.0, 5000.0) as usize;
        let t = time(reps, || {
            black_box(net.forward(xb, &mut buffers));
        });
        println!(
            "  inference batch {b}: {:.1} µs, {:.0} rows/s, {:.1} GFLOP/s",
            t * 1e6,
            b as f64 / t,
            fwd * b as f64 / t / 1e9
        );
    }
}

fn main() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let threads = std::env::var("MATMUL_NUM_THREADS").unwrap_or_else(|_| "unset".into());
    println!("MATMUL_NUM_THREADS {threads}");
    {
        let a = random(1024, 1024, &mut rng);
        let b = random(1024, 1024, &mut rng);
        let mut c = Array2::zeros((1024, 1024));
        let t = time(10, || gemm(1.0, a.view(), b.view(), 0.0, c.view_mut()));
        let f = 2.0 * 1024f64.powi(3);
        println!(
            "gemm 1024³: {:.1} GFLOP/s wall, {:.1} GFLOP per CPU-second",
            f / t / 1e9,
            f / last_cpu() / 1e9
        );
    }
    let reference = [784, 128, 64, 32, 64, 128, 784];
    products(&reference, 256, &mut rng);
    products(&reference, 4096, &mut rng);
    phases(&reference, 256, &mut rng);
    let small = [32, 16, 4, 16, 32];
    products(&small, 256, &mut rng);
    products(&small, 4096, &mut rng);
    phases(&small, 256, &mut rng);
    phases(&small, 4096, &mut rng);
}
