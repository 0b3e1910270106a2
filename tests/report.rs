//! `aeflow report`: a page is produced for every model kind, it is well-formed, it references
//! nothing outside itself, and it renders in real headless Chromium to a non-blank picture.
//!
//! Needs Chromium (`apt-get install chromium`, or `AEFLOW_CHROMIUM=/path/to/chrome`).

#[path = "report/chromium.rs"]
mod chromium;
#[path = "report/png.rs"]
mod png;
#[path = "report/well_formed.rs"]
mod well_formed;

use std::path::Path;
use std::process::Command;

use aeflow::model::{
    Autoencoder, ConvolutionalConfig, Kind, Silent, TrainConfig, VariationalConfig,
};
use aeflow::report::{InputFindings, InputProfiler, ReportOptions, render, write_html};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use well_formed::{check_well_formed, external_references};

/// Rows whose six features follow two hidden factors, plus a little noise.
fn structured_rows(n: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array2::zeros((n, 6));
    for mut row in x.outer_iter_mut() {
        let a: f32 = rng.random_range(-1.0..1.0);
        let b: f32 = rng.random_range(-1.0..1.0);
        let clean = [a, b, a + b, a - b, 0.5 * a + 2.0 * b, 3.0 * a];
        for (v, c) in row.iter_mut().zip(clean) {
            *v = 10.0 + 5.0 * c + rng.random_range(-0.05..0.05);
        }
    }
    x
}

fn feature_names() -> Vec<String> {
    [
        "amount",
        "latency_ms",
        "bytes_in",
        "bytes_out",
        "cpu <pct> & \"load\"",
        "retries",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The training rows with `ANOMALIES` rows broken at known places (every 40th row from 7).
const ANOMALIES: usize = 5;
fn input_with_anomalies(train: &Array2<f32>) -> (Array2<f32>, Vec<u64>) {
    let mut x = train.clone();
    let rows: Vec<usize> = (0..ANOMALIES).map(|i| 7 + 40 * i).collect();
    for (i, &r) in rows.iter().enumerate() {
        x[[r, i % 6]] += 60.0;
        x[[r, (i + 3) % 6]] -= 40.0;
    }
    (x, rows.into_iter().map(|r| r as u64).collect())
}

fn config(kind: Kind) -> TrainConfig {
    TrainConfig {
        kind,
        hidden: Some(vec![8, 3, 8]),
        epochs: 25,
        validation_split: 0.2,
        batch_size: 32,
        seed: 11,
        ..TrainConfig::default()
    }
}

fn train(config: &TrainConfig, x: &Array2<f32>) -> Autoencoder {
    Autoencoder::fit(x.view(), &feature_names(), config, &mut Silent).expect("training")
}

fn profile(model: &Autoencoder, x: &Array2<f32>, options: &ReportOptions) -> InputFindings {
    let mut profiler = InputProfiler::new(model, "input.parquet", options);
    // In three batches, as a file would arrive.
    let n = x.nrows();
    for (a, b) in [(0, n / 3), (n / 3, n / 2), (n / 2, n)] {
        profiler
            .add(x.slice(ndarray::s![a..b, ..]))
            .expect("profiling");
    }
    profiler.finish().expect("finishing the profile")
}

/// Well-formed, self-contained, and returns the page.
fn check_page(page: &str) {
    let elements =
        check_well_formed(page).unwrap_or_else(|e| panic!("report is not well-formed: {e}"));
    assert!(elements > 100, "only {elements} elements");
    let external = external_references(page);
    assert!(
        external.is_empty(),
        "report references outside resources: {external:?}"
    );
}

/// What a screenshot must show besides text.
struct Expect {
    /// A loss curve of several epochs (else a single point).
    curve: bool,
    /// The input's histogram bars.
    input: bool,
}

/// Render `page` in Chromium and check the picture is a real report: many colours, plenty of
/// ink, the loss curve's blue, and the input's green bars when expected.
fn check_renders(path: &Path, expect: Expect) {
    let png = chromium::screenshot(path);
    let image =
        png::decode(&std::fs::read(&png).expect("screenshot")).expect("decoding the screenshot");
    assert_eq!((image.width, image.height), chromium::window());
    let colours = image.distinct_colours();
    let ink = image.foreground_share();
    assert!(
        colours >= 64,
        "screenshot has only {colours} colours: blank?"
    );
    assert!(
        ink >= 0.05,
        "screenshot is {:.1} % ink: blank?",
        ink * 100.0
    );
    // The training-loss line is pure (31, 119, 180) where it is 2 px wide; a single epoch is
    // one dot of radius 3.
    let blue = image.count_near([31, 119, 180], 10);
    let min_blue = if expect.curve { 200 } else { 15 };
    assert!(
        blue >= min_blue,
        "only {blue} pixels of the loss curve's blue"
    );
    if expect.input {
        // Input bars: (44, 160, 44) at 60 % over white ≈ (128, 198, 128).
        let green = image.count_near([128, 198, 128], 12);
        assert!(
            green >= 200,
            "only {green} pixels of the input histogram's green"
        );
    }
}

/// Train a model of `kind`, score rows with planted anomalies, and check the whole page.
fn report_for_kind(kind: Kind, name: &str) {
    let train_rows = structured_rows(400, 3);
    let model = train(&config(kind), &train_rows);
    let (input, planted) = input_with_anomalies(&train_rows);
    let options = ReportOptions {
        top: ANOMALIES,
        sample: 300,
        ..ReportOptions::default()
    };
    let findings = profile(&model, &input, &options);

    assert_eq!(findings.rows_seen, 400);
    let mut top: Vec<u64> = findings.top.iter().map(|a| a.row).collect();
    top.sort_unstable();
    assert_eq!(top, planted, "the planted anomalies are the top rows");
    assert_eq!(findings.latent.as_ref().map(|l| l.rows.len()), Some(300));

    let page = render(
        &format!("{name}.safetensors"),
        &model.summary(),
        Some(&findings),
        &options,
    )
    .expect("rendering");
    check_page(&page);
    assert!(
        page.contains(&format!("<div class=\"v\">{name}</div>")),
        "kind card shows {name}"
    );
    assert!(
        page.contains("cpu &lt;pct&gt; &amp; &quot;load&quot;"),
        "feature names are escaped"
    );
    assert!(
        page.contains("Row 7 "),
        "the first planted anomaly has its chart"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.html"));
    write_html(&path, &page).unwrap();
    check_renders(
        &path,
        Expect {
            curve: true,
            input: true,
        },
    );
}

#[test]
fn vanilla_report() {
    report_for_kind(Kind::Vanilla, "vanilla");
}

#[test]
fn denoising_report() {
    report_for_kind(
        Kind::Denoising {
            noise_std: 0.1,
            mask_ratio: 0.1,
        },
        "denoising",
    );
}

#[test]
fn sparse_report() {
    report_for_kind(
        Kind::Sparse {
            l1_activity: 1e-3,
            sparsity_target: None,
            sparsity_weight: 0.0,
        },
        "sparse",
    );
}

#[test]
fn variational_report() {
    report_for_kind(
        Kind::Variational(VariationalConfig::default()),
        "variational",
    );
}

#[test]
fn convolutional_report() {
    // The six features read as a one-channel sequence of length 6.
    let mut c = ConvolutionalConfig::new(vec![1, 6]);
    c.filters = vec![8];
    report_for_kind(Kind::Convolutional(c), "convolutional");
}

/// Every kind has a report test above: a kind added later does not compile here until it
/// has one (and a case in `report_for_kind` if it needs other data).
#[allow(dead_code)]
fn report_test_of(kind: &Kind) -> fn() {
    match kind {
        Kind::Vanilla => vanilla_report,
        Kind::Denoising { .. } => denoising_report,
        Kind::Sparse { .. } => sparse_report,
        Kind::Variational(_) => variational_report,
        Kind::Convolutional(_) => convolutional_report,
    }
}

/// One epoch, no validation split, no threshold, a 1-D latent, an empty input: every page
/// still renders.
#[test]
fn odd_models_and_inputs_still_give_a_page() {
    let rows = structured_rows(120, 5);
    let options = ReportOptions {
        top: 3,
        ..ReportOptions::default()
    };
    let mut one_epoch = config(Kind::Vanilla);
    one_epoch.epochs = 1;
    one_epoch.validation_split = 0.0;
    one_epoch.early_stopping = false;
    let mut no_threshold = train(&one_epoch, &rows);
    no_threshold.set_threshold(None);
    let mut latent_1 = config(Kind::Vanilla);
    latent_1.hidden = Some(vec![4, 1, 4]);
    let latent_1 = train(&latent_1, &rows);

    let dir = tempfile::tempdir().unwrap();
    for (label, model) in [
        ("one epoch, no threshold", &no_threshold),
        ("1-D latent", &latent_1),
    ] {
        let empty = Array2::<f32>::zeros((0, 6));
        for (input_name, input) in [
            ("no input", None),
            ("empty input", Some(&empty)),
            ("input", Some(&rows)),
        ] {
            let findings = input.map(|x| profile(model, x, &options));
            let page = render(label, &model.summary(), findings.as_ref(), &options)
                .unwrap_or_else(|e| panic!("{label}, {input_name}: {e}"));
            check_page(&page);
            if input_name == "no input" {
                assert!(page.contains("Give an input file"));
            }
        }
    }
    let findings = profile(&latent_1, &rows, &options);
    let page = render("1-D latent", &latent_1.summary(), Some(&findings), &options).unwrap();
    assert!(page.contains("1-D latent against reconstruction error"));
    let path = dir.path().join("latent1.html");
    write_html(&path, &page).unwrap();
    check_renders(
        &path,
        Expect {
            curve: true,
            input: true,
        },
    );

    let page = render("no threshold", &no_threshold.summary(), None, &options).unwrap();
    assert!(page.contains("rows are scored but not flagged"));
    assert!(page.contains("No validation split"));
    let path = dir.path().join("no_threshold.html");
    write_html(&path, &page).unwrap();
    check_renders(
        &path,
        Expect {
            curve: false,
            input: false,
        },
    );
}

/// Rows that all look alike give constant errors; rows with NaN or infinite values under the
/// reject policy are skipped and counted.
#[test]
fn constant_errors_and_missing_values() {
    let rows = structured_rows(200, 9);
    let model = train(&config(Kind::Vanilla), &rows);
    let same = Array2::from_shape_fn((50, 6), |(_, j)| rows[[0, j]]);
    let options = ReportOptions::default();
    let findings = profile(&model, &same, &options);
    assert_eq!(
        findings.errors.first(),
        findings.errors.last(),
        "one error for identical rows"
    );
    check_page(&render("constant", &model.summary(), Some(&findings), &options).unwrap());

    let mut holes = rows.clone();
    holes[[3, 2]] = f32::NAN;
    holes[[4, 0]] = f32::INFINITY;
    let findings = profile(&model, &holes, &options);
    assert_eq!(findings.rows_skipped_missing, 2);
    assert_eq!(findings.rows_non_finite, 0);
    assert_eq!(findings.rows_scored(), 198);
    assert_eq!(findings.errors.len(), 198);
    let page = render("holes", &model.summary(), Some(&findings), &options).unwrap();
    assert!(page.contains("2 rows skipped"));
    check_page(&page);
}

/// A page from hand-made findings (no model needed): every chart type, drawn and rendered.
#[test]
fn page_from_known_findings() {
    use aeflow::model::{EpochRecord, MissingPolicy, ModelSummary, ScalerKind};
    use aeflow::report::{Anomaly, LatentSample};

    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let n = 1500;
    let errors: Vec<f64> = (0..n)
        .map(|i| {
            let base = 0.02 * -(rng.random_range(1e-6..1.0f64)).ln();
            if i % 97 == 0 { base + 1.5 } else { base }
        })
        .collect();
    let latent = Array2::from_shape_fn((n, 4), |(i, j)| {
        (errors[i] * (j as f64 + 1.0)) as f32 + rng.random_range(-1.0..1.0)
    });
    let mut sorted = errors.clone();
    sorted.sort_by(f64::total_cmp);
    let summary = ModelSummary {
        kind: Kind::Sparse {
            l1_activity: 1e-3,
            sparsity_target: Some(0.05),
            sparsity_weight: 0.1,
        },
        features: feature_names(),
        dims: vec![6, 8, 4, 8, 6],
        latent_dim: 4,
        scaler: ScalerKind::MinMax,
        missing: MissingPolicy::Reject,
        threshold: Some(0.15),
        contamination: 0.01,
        created_unix: 1_700_000_000,
        training_seconds: 3.5,
        history: (1..=12)
            .map(|e| EpochRecord {
                epoch: e,
                train_loss: 1.0 / e as f64,
                val_loss: Some(1.2 / e as f64),
                seconds: 0.3,
            })
            .collect(),
        dead_latent_units: vec![],
        error_quantiles: (0..=20)
            .map(|i| (i as f64 / 20.0, sorted[(n - 1) * i / 20]))
            .collect(),
        version: "0123abcd".into(),
    };
    let top = (0..3u64)
        .map(|k| Anomaly {
            row: k * 97,
            error: errors[(k * 97) as usize],
            values: vec![1.0, 2.0, f32::NAN, 4.0, 5.0, 6.0],
            reconstruction: vec![1.1, 2.0, 3.0, 4.0, 4.0, 6.5],
            feature_errors: vec![0.01, 0.0, 4.0, 0.02, 3.0, 1.0],
        })
        .collect();
    let findings = InputFindings {
        source: "known.parquet".into(),
        rows_seen: n as u64,
        rows_above_threshold: Some(sorted.iter().filter(|e| **e > 0.15).count() as u64),
        errors: sorted,
        latent: Some(LatentSample {
            rows: (0..n as u64).collect(),
            latent,
            errors,
        }),
        top,
        ..InputFindings::default()
    };
    let options = ReportOptions::default();
    let page = render("known", &summary, Some(&findings), &options).unwrap();
    check_page(&page);
    assert!(page.contains("principal components of the 4-D latent"));
    assert!(
        page.contains("NULL → 3"),
        "a missing value is shown as NULL"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("known.html");
    write_html(&path, &page).unwrap();
    check_renders(
        &path,
        Expect {
            curve: true,
            input: true,
        },
    );
}

fn aeflow(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_aeflow"))
        .args(args)
        .output()
        .expect("running aeflow")
}

/// The command line end to end: a model file and a CSV file in, a page out; bad inputs give
/// one clear line and a non-zero exit.
#[test]
fn report_command() {
    let dir = tempfile::tempdir().unwrap();
    let rows = structured_rows(300, 4);
    let names = [
        "amount",
        "latency_ms",
        "bytes_in",
        "bytes_out",
        "cpu_pct",
        "retries",
    ];
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let model = Autoencoder::fit(rows.view(), &names, &config(Kind::Vanilla), &mut Silent).unwrap();
    let model_path = dir.path().join("m.safetensors");
    model.save(&model_path).unwrap();
    let (input, _) = input_with_anomalies(&rows);
    let mut csv = format!("id,{}\n", names.join(","));
    for (i, row) in input.outer_iter().enumerate() {
        let values: Vec<String> = row.iter().map(|v| v.to_string()).collect();
        csv.push_str(&format!("{i},{}\n", values.join(",")));
    }
    let csv_path = dir.path().join("input.csv");
    std::fs::write(&csv_path, csv).unwrap();
    let out = dir.path().join("report.html");

    let run = aeflow(&[
        "report",
        "--model",
        model_path.to_str().unwrap(),
        "--input",
        csv_path.to_str().unwrap(),
        "--top",
        "4",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(String::from_utf8_lossy(&run.stdout).contains("report.html"));
    let page = std::fs::read_to_string(&out).unwrap();
    check_page(&page);
    assert!(page.contains("input.csv"));
    assert_eq!(page.matches("<figcaption>Row ").count(), 4);
    check_renders(
        &out,
        Expect {
            curve: true,
            input: true,
        },
    );

    let model_only = dir.path().join("model_only.html");
    let run = aeflow(&[
        "report",
        "--model",
        model_path.to_str().unwrap(),
        "--out",
        model_only.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    check_page(&std::fs::read_to_string(&model_only).unwrap());

    // A file without the model's columns, a missing model, a missing input.
    let other = dir.path().join("other.csv");
    std::fs::write(&other, "a,b\n1,2\n").unwrap();
    for (args, expected) in [
        (
            vec![
                "--model",
                model_path.to_str().unwrap(),
                "--input",
                other.to_str().unwrap(),
            ],
            "amount",
        ),
        (
            vec!["--model", "/nonexistent/m.safetensors"],
            "/nonexistent/m.safetensors",
        ),
        (
            vec![
                "--model",
                model_path.to_str().unwrap(),
                "--input",
                "/nonexistent/x.csv",
            ],
            "/nonexistent/x.csv",
        ),
    ] {
        let bad_out = dir.path().join("bad.html");
        let mut full = vec!["report"];
        full.extend(args);
        full.extend(["--out", bad_out.to_str().unwrap()]);
        let run = aeflow(&full);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{full:?} succeeded");
        assert!(stderr.contains(expected), "{full:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{full:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(!bad_out.exists());
    }
}

/// `aeflow demo` writes a report and says where.
#[test]
fn demo_writes_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("demo");
    let run = aeflow(&["demo", "--out-dir", out_dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let page_path = out_dir.join("report.html");
    assert!(
        stdout.contains(&page_path.display().to_string()),
        "the demo prints the report's path: {stdout}"
    );
    let page = std::fs::read_to_string(&page_path).unwrap();
    check_page(&page);
    assert_eq!(page.matches("<figcaption>Row ").count(), 10);
}
