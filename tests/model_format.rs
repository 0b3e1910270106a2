//! The model file is documented well enough to reimplement `encode` and `score` elsewhere:
//! `tests/python/reproduce.py` follows docs/model-format.md with numpy and the `safetensors`
//! package, and must agree with aeflow on models using every activation, both scalers that
//! change values, and mean imputation.
//!
//! Needs a Python interpreter with numpy and safetensors: `AEFLOW_PYTHON` (default `python3`).
//! The CI script provides one in a virtual environment; the test fails, saying so, without it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aeflow::model::{
    ActivationKind, Autoencoder, MissingPolicy, ScalerKind, ScoreOptions, Silent, TrainConfig,
};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const PYTHON_TIMEOUT: Duration = Duration::from_secs(120);

fn python() -> String {
    std::env::var("AEFLOW_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Runs the interpreter with `args`, failing the test on a non-zero exit or after the timeout.
fn run_python(args: &[&str]) -> String {
    let py = python();
    let mut child = Command::new(&py)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start Python interpreter '{py}' (set AEFLOW_PYTHON): {e}")
        });
    let start = Instant::now();
    loop {
        if child.try_wait().expect("waiting for python").is_some() {
            break;
        }
        if start.elapsed() > PYTHON_TIMEOUT {
            let _ = child.kill();
            panic!("{py} {args:?} did not finish within {PYTHON_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("python output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{py} {args:?} failed ({}):\n{stderr}",
        out.status
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
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
        "tests/model_format.rs needs a Python interpreter with numpy and safetensors, and '{py}' has not got them. \
         Set AEFLOW_PYTHON to one that has, e.g.: python3 -m venv /tmp/aeflow-venv && \
         /tmp/aeflow-venv/bin/pip install numpy safetensors && export AEFLOW_PYTHON=/tmp/aeflow-venv/bin/python"
    );
}

/// Rows on a 2-d manifold in 6 features, in [0, 10]-ish units.
fn data(rows: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array2::zeros((rows, 6));
    for mut row in x.rows_mut() {
        let a: f32 = rng.random_range(-1.0..1.0);
        let b: f32 = rng.random_range(-1.0..1.0);
        let f = [a, b, a * b, a + b, (3.0 * a).sin(), a - b * b];
        for (j, v) in row.iter_mut().enumerate() {
            *v = 5.0 + 2.0 * f[j] * (1.0 + j as f32) + rng.random_range(-0.02..0.02);
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

#[test]
fn numpy_reimplementation_from_the_documented_format_matches() {
    require_numpy_and_safetensors();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/reproduce.py");
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..6).map(|j| format!("x{j}")).collect();
    let train = data(600, 1);
    let mut probe = data(300, 2);
    // A few far-off rows so both anomaly outcomes occur.
    for i in 0..5 {
        probe[[i, i]] += 40.0;
    }

    let activations = [
        ActivationKind::Relu,
        ActivationKind::LeakyRelu,
        ActivationKind::Elu,
        ActivationKind::Selu,
        ActivationKind::Tanh,
        ActivationKind::Sigmoid,
        ActivationKind::Linear,
    ];
    let mut configs: Vec<(String, TrainConfig)> = activations
        .iter()
        .map(|&a| {
            (
                format!("hidden {}", a.name()),
                TrainConfig {
                    activation: a,
                    epochs: 8,
                    hidden: Some(vec![5, 3, 5]),
                    ..Default::default()
                },
            )
        })
        .collect();
    configs.push((
        "minmax, sigmoid output, bce, impute".into(),
        TrainConfig {
            scaler: ScalerKind::MinMax,
            output_activation: ActivationKind::Sigmoid,
            loss: aeflow::model::LossKind::Bce,
            missing: MissingPolicy::ImputeMean,
            epochs: 8,
            ..Default::default()
        },
    ));
    // One file holding an ensemble of three members (block-diagonal layers), per-feature
    // normalised errors folded into the scale and the first and last layers, and the robust
    // scaler: the numpy reading of the format needs nothing new for any of them.
    configs.push((
        "ensemble of 3, normalised errors, robust scaler".into(),
        TrainConfig {
            ensemble: 3,
            normalize_errors: true,
            scaler: ScalerKind::Robust,
            epochs: 8,
            ..Default::default()
        },
    ));
    configs.push((
        "single member".into(),
        TrainConfig {
            ensemble: 1,
            epochs: 8,
            ..Default::default()
        },
    ));
    configs.push((
        "no scaler, no threshold".into(),
        TrainConfig {
            scaler: ScalerKind::None,
            contamination: 0.0,
            epochs: 8,
            ..Default::default()
        },
    ));

    for (what, config) in configs {
        let mut train = train.clone();
        let mut probe = probe.clone();
        if config.missing == MissingPolicy::ImputeMean {
            train[[7, 2]] = f32::NAN;
            probe[[9, 4]] = f32::NAN;
            probe[[10, 0]] = f32::NAN;
        }
        let model = Autoencoder::fit(train.view(), &names, &config, &mut Silent).unwrap();
        let model_path = dir.path().join("model.aeflow");
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
                "{what}: error of row {i}: aeflow {a}, numpy {b}"
            );
        }
        match (model.threshold(), scores.is_anomaly) {
            (Some(t), Some(flags)) => {
                assert!(
                    flags.iter().any(|&f| f) && flags.iter().any(|&f| !f),
                    "{what}: both outcomes occur"
                );
                for (i, (&f, &p)) in flags.iter().zip(&a_py).enumerate() {
                    let e = scores.reconstruction_error[i];
                    if (e - t).abs() > 1e-4 * t {
                        assert_eq!(
                            f as u8, p,
                            "{what}: is_anomaly of row {i} (error {e}, threshold {t})"
                        );
                    }
                }
            }
            (None, None) => assert!(
                a_py.iter().all(|&p| p == 2),
                "{what}: no threshold in the file"
            ),
            other => panic!("{what}: threshold and flags disagree: {other:?}"),
        }
    }
}
