//! Format version 2 is documented well enough to reimplement `encode` and `score` elsewhere:
//! `tests/python/reproduce_kinds.py` follows docs/model-format.md ("Version 2") with numpy and the
//! `safetensors` package, and must agree with aeflow on variational models (both scores) and on
//! convolutional models with every layer type, in 1-D and 2-D.
//!
//! Needs a Python interpreter with numpy and safetensors: `AEFLOW_PYTHON` (default `python3`),
//! as `tests/model_format.rs`; the test fails, saying so, without it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aeflow::model::{
    Autoencoder, ConvolutionalConfig, Downsample, Kind, ScalerKind, ScoreOptions, Silent,
    TrainConfig, Upsampling, VariationalConfig, VariationalScore,
};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const PYTHON_TIMEOUT: Duration = Duration::from_secs(120);

fn python() -> String {
    std::env::var("AEFLOW_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

fn run_python(args: &[&str]) {
    let py = python();
    let mut child = Command::new(&py)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start Python interpreter '{py}' (set AEFLOW_PYTHON): {e}")
        });
    let start = Instant::now();
    while child.try_wait().expect("waiting for python").is_none() {
        if start.elapsed() > PYTHON_TIMEOUT {
            let _ = child.kill();
            panic!("{py} {args:?} did not finish within {PYTHON_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("python output");
    assert!(
        out.status.success(),
        "{py} {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn require_numpy_and_safetensors() {
    let py = python();
    let ok = Command::new(&py)
        .args(["-c", "import numpy, safetensors"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "tests/model_format_kinds.rs needs a Python interpreter with numpy and safetensors, and '{py}' has not got them. \
         Set AEFLOW_PYTHON to one that has, e.g.: python3 -m venv /tmp/aeflow-venv && \
         /tmp/aeflow-venv/bin/pip install numpy safetensors && export AEFLOW_PYTHON=/tmp/aeflow-venv/bin/python"
    );
}

/// Rows of `d` values: a bump of random centre and height (so images and sequences alike),
/// plus noise.
fn bumps(rows: usize, d: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array2::zeros((rows, d));
    for mut row in x.rows_mut() {
        let c: f32 = rng.random_range(0.0..d as f32);
        let h: f32 = rng.random_range(0.5..2.0);
        for (t, v) in row.iter_mut().enumerate() {
            *v = h * (-(t as f32 - c).powi(2) / 8.0).exp() + rng.random_range(-0.05..0.05);
        }
    }
    x
}

fn write_f32(path: &Path, x: &Array2<f32>) {
    let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn read<const N: usize, T>(path: PathBuf, parse: fn([u8; N]) -> T) -> Vec<T> {
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .chunks_exact(N)
        .map(|c| parse(c.try_into().unwrap()))
        .collect()
}

fn conv(shape: Vec<usize>, down: Downsample, up: Upsampling) -> Kind {
    Kind::Convolutional(ConvolutionalConfig {
        filters: vec![3, 4],
        downsample: down,
        upsample: up,
        ..ConvolutionalConfig::new(shape)
    })
}

#[test]
fn numpy_reimplementation_of_version_2_matches() {
    require_numpy_and_safetensors();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/reproduce_kinds.py");
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Kind, usize)> = vec![
        (
            "variational, reconstruction score",
            Kind::Variational(VariationalConfig::default()),
            6,
        ),
        (
            "variational, elbo score",
            Kind::Variational(VariationalConfig {
                beta: 0.7,
                score: VariationalScore::Elbo,
                ..Default::default()
            }),
            6,
        ),
        (
            "conv 2-D, stride / transpose, odd size",
            conv(vec![2, 5, 7], Downsample::Stride, Upsampling::Transpose),
            70,
        ),
        (
            "conv 2-D, max pool / nearest",
            conv(vec![1, 8, 6], Downsample::MaxPool, Upsampling::Nearest),
            48,
        ),
        (
            "conv 1-D, max pool / transpose (with a resize)",
            conv(vec![1, 13], Downsample::MaxPool, Upsampling::Transpose),
            13,
        ),
        (
            "conv 2-D, kernels 5 then 3, stride / transpose",
            Kind::Convolutional(ConvolutionalConfig {
                filters: vec![3, 4],
                kernel_size: vec![5, 3],
                ..ConvolutionalConfig::new(vec![1, 7, 6])
            }),
            42,
        ),
        (
            "conv 1-D, stride / nearest",
            conv(vec![2, 9], Downsample::Stride, Upsampling::Nearest),
            18,
        ),
    ];
    for (what, kind, d) in cases {
        let names: Vec<String> = (0..d).map(|j| format!("x{j}")).collect();
        let train = bumps(300, d, 1);
        let mut probe = bumps(80, d, 2);
        for i in 0..4 {
            probe[[i, i % d]] += 8.0;
        }
        let config = TrainConfig {
            kind,
            epochs: 6,
            latent: Some(3),
            scaler: ScalerKind::Standard,
            contamination: 0.05,
            ..Default::default()
        };
        let model = Autoencoder::fit(train.view(), &names, &config, &mut Silent).unwrap();
        let model_path = dir.path().join("model.aemodel");
        model.save(&model_path).unwrap();
        let input = dir.path().join("input.f32");
        write_f32(&input, &probe);
        let out = dir.path().join("out");
        run_python(&[
            script.to_str().unwrap(),
            model_path.to_str().unwrap(),
            input.to_str().unwrap(),
            &probe.nrows().to_string(),
            out.to_str().unwrap(),
        ]);
        let z_py = read(out.with_extension("latent.f32"), f32::from_le_bytes);
        let e_py = read(out.with_extension("error.f64"), f64::from_le_bytes);
        let a_py = read(out.with_extension("anomaly.u8"), |b: [u8; 1]| b[0]);
        let z = model.encode(probe.view()).unwrap();
        let scores = model.score(probe.view(), &ScoreOptions::default()).unwrap();
        assert_eq!(z_py.len(), z.len(), "{what}: latent size");
        for (i, (&a, &b)) in z.iter().zip(&z_py).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + a.abs()),
                "{what}: latent element {i}: aeflow {a}, numpy {b}"
            );
        }
        for (i, (&a, &b)) in scores.reconstruction_error.iter().zip(&e_py).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * (1e-3 + a.abs()),
                "{what}: score of row {i}: aeflow {a}, numpy {b}"
            );
        }
        let t = model.threshold().expect("threshold");
        let flags = scores.is_anomaly.expect("flags");
        assert!(
            flags.iter().any(|&f| f) && flags.iter().any(|&f| !f),
            "{what}: both outcomes occur"
        );
        for (i, (&f, &p)) in flags.iter().zip(&a_py).enumerate() {
            let e = scores.reconstruction_error[i];
            if (e - t).abs() > 1e-4 * t {
                assert_eq!(f as u8, p, "{what}: is_anomaly of row {i}");
            }
        }
    }
}
