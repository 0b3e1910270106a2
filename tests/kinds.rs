//! The variational and convolutional kinds through every surface that exists: the SQL functions
//! (equal to the model API row for row), `ae_sample`, and the CLI (`train --kind …`, `score`,
//! `inspect`, `sample`), with their user errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aeflow::batch::{BatchWriter, FileFormat, FileSource};
use aeflow::model::{
    Autoencoder, ConvolutionalConfig, Kind, ScalerKind, ScoreOptions, Silent, TrainConfig,
    VariationalConfig, VariationalScore,
};
use aeflow::sql::{ModelRegistry, execute, register};
use arrow::array::{
    Array, AsArray, FixedSizeListArray, Float32Array, Float64Array, Int64Array, RecordBatch,
};
use arrow::datatypes::{DataType, Field, Float32Type, Float64Type, Schema};
use datafusion::prelude::SessionContext;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TIMEOUT: Duration = Duration::from_secs(180);

/// `rows` × 4 features driven by two factors, in different units.
fn tabular(rows: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array2::zeros((rows, 4));
    for mut row in x.rows_mut() {
        let a: f32 = rng.random_range(-1.0..1.0);
        let b: f32 = rng.random_range(-1.0..1.0);
        let f = [a, b, a + b, a * b];
        for (j, v) in row.iter_mut().enumerate() {
            *v = 10.0 * j as f32 + (1.0 + j as f32) * f[j] + rng.random_range(-0.01..0.01);
        }
    }
    x
}

fn tabular_names() -> Vec<String> {
    ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect()
}

/// `rows` sequences of length 16, each a bump of random centre and height.
fn sequences(rows: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array2::zeros((rows, 16));
    for mut row in x.rows_mut() {
        let c: f32 = rng.random_range(0.0..16.0);
        let h: f32 = rng.random_range(0.5..1.0);
        for (t, v) in row.iter_mut().enumerate() {
            *v = h * (-(t as f32 - c).powi(2) / 4.0).exp();
        }
    }
    x
}

fn px_names() -> Vec<String> {
    (0..16).map(|i| format!("px[{i}]")).collect()
}

fn vae() -> Autoencoder {
    let config = TrainConfig {
        kind: Kind::Variational(VariationalConfig {
            score: VariationalScore::Elbo,
            ..VariationalConfig::default()
        }),
        epochs: 20,
        contamination: 0.05,
        ..TrainConfig::default()
    };
    Autoencoder::fit(
        tabular(400, 1).view(),
        &tabular_names(),
        &config,
        &mut Silent,
    )
    .expect("trains")
}

fn cae() -> Autoencoder {
    let config = TrainConfig {
        kind: Kind::Convolutional(ConvolutionalConfig {
            filters: vec![4, 8],
            ..ConvolutionalConfig::new(vec![1, 16])
        }),
        latent: Some(3),
        scaler: ScalerKind::None,
        epochs: 10,
        contamination: 0.05,
        ..TrainConfig::default()
    };
    Autoencoder::fit(sequences(300, 2).view(), &px_names(), &config, &mut Silent).expect("trains")
}

/// `id, a, b, c, d` as Float64 columns.
fn tabular_batch(x: &Array2<f32>) -> RecordBatch {
    let mut fields = vec![Field::new("id", DataType::Int64, false)];
    let mut columns: Vec<Arc<dyn Array>> =
        vec![Arc::new(Int64Array::from_iter_values(0..x.nrows() as i64))];
    for (j, name) in tabular_names().iter().enumerate() {
        fields.push(Field::new(name, DataType::Float64, true));
        columns.push(Arc::new(Float64Array::from_iter_values(
            x.column(j).iter().map(|&v| f64::from(v)),
        )));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch")
}

/// `id` and the vector column `px` (`FixedSizeList<Float32>[d]`, `d` the columns of `x`).
fn vector_batch(x: &Array2<f32>) -> RecordBatch {
    let item = Arc::new(Field::new_list_field(DataType::Float32, true));
    let values = Float32Array::from_iter_values(x.iter().copied());
    let px = FixedSizeListArray::new(item, x.ncols() as i32, Arc::new(values), None);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("px", px.data_type().clone(), true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(0..x.nrows() as i64)),
            Arc::new(px),
        ],
    )
    .expect("batch")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn query(ctx: &SessionContext, sql: &str) -> RecordBatch {
    let df = execute(ctx, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    arrow::compute::concat_batches(&schema, &batches).expect("concat")
}

async fn query_error(ctx: &SessionContext, sql: &str) -> String {
    match execute(ctx, sql).await {
        Err(e) => e.to_string(),
        Ok(df) => match df.collect().await {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{sql}: expected an error"),
        },
    }
}

fn f32s(list: &FixedSizeListArray, i: usize) -> Vec<f32> {
    list.value(i)
        .as_primitive::<Float32Type>()
        .values()
        .to_vec()
}

/// Both models registered in a session, with tables `t` (tabular) and `s` (sequences).
fn session(
    vae: &Autoencoder,
    cae: &Autoencoder,
    x: &Array2<f32>,
    s: &Array2<f32>,
) -> SessionContext {
    let registry = ModelRegistry::new();
    registry.register("vae", vae.clone()).expect("register");
    registry.register("cae", cae.clone()).expect("register");
    let ctx = SessionContext::new();
    register(&ctx, registry);
    ctx.register_batch("t", tabular_batch(x)).expect("table");
    ctx.register_batch("s", vector_batch(s)).expect("table");
    ctx
}

#[test]
fn sql_functions_equal_the_model_api_for_both_kinds() {
    let (vae, cae) = (vae(), cae());
    let (x, s) = (tabular(60, 7), sequences(60, 8));
    rt().block_on(async {
        let ctx = session(&vae, &cae, &x, &s);
        let opts = ScoreOptions {
            per_feature: true,
            threshold: None,
        };
        for (model, table, args, data) in [(&vae, "t", "a, b, c, d", &x), (&cae, "s", "px", &s)] {
            let name = if table == "t" { "vae" } else { "cae" };
            let out = query(
                &ctx,
                &format!(
                    "SELECT id, ae_encode('{name}', {args}) AS z, \
                     ae_reconstruction_error('{name}', {args}) AS e, \
                     ae_is_anomaly('{name}', {args}) AS flag, \
                     ae_reconstruct('{name}', {args}) AS r, \
                     ae_feature_errors('{name}', {args}) AS fe, \
                     ae_decode('{name}', ae_encode('{name}', {args})) AS dz \
                     FROM {table} ORDER BY id"
                ),
            )
            .await;
            let latent = model.encode(data.view()).unwrap();
            let scores = model.score(data.view(), &opts).unwrap();
            let recon = model.reconstruct(data.view()).unwrap();
            let t = model.threshold().expect("threshold");
            let z = out.column(1).as_fixed_size_list();
            let e = out.column(2).as_primitive::<Float64Type>();
            let flag = out.column(3).as_boolean();
            let r = out.column(4).as_fixed_size_list();
            let fe = out.column(5).as_fixed_size_list();
            let dz = out.column(6).as_fixed_size_list();
            let feature_errors = scores.feature_errors.as_ref().unwrap();
            for i in 0..60 {
                assert_eq!(f32s(z, i), latent.row(i).to_vec(), "{name} latent {i}");
                assert_eq!(
                    e.value(i),
                    scores.reconstruction_error[i],
                    "{name} error {i}"
                );
                assert_eq!(
                    flag.value(i),
                    scores.reconstruction_error[i] > t,
                    "{name} flag {i}"
                );
                assert_eq!(
                    f32s(r, i),
                    recon.row(i).to_vec(),
                    "{name} reconstruction {i}"
                );
                assert_eq!(
                    f32s(fe, i),
                    feature_errors.row(i).to_vec(),
                    "{name} feature errors {i}"
                );
                assert_eq!(
                    f32s(dz, i),
                    recon.row(i).to_vec(),
                    "{name} decode(encode) {i}"
                );
            }
        }
        // The VAE's latent is its mean: k wide, not 2k.
        assert_eq!(vae.latent_dim(), 2);
    });
}

#[test]
fn ae_sample_generates_seeded_rows_shaped_like_the_input() {
    let (vae, cae) = (vae(), cae());
    let (x, s) = (tabular(10, 7), sequences(10, 8));
    rt().block_on(async {
        let ctx = session(&vae, &cae, &x, &s);
        let out = query(&ctx, "SELECT * FROM ae_sample('vae', 20000, 5)").await;
        assert_eq!(out.num_rows(), 20000);
        let names: Vec<String> = out
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, vec!["a", "b", "c", "d"]);
        let want = vae.sample(20000, 5).unwrap();
        for (j, col) in out.columns().iter().enumerate() {
            assert_eq!(
                col.as_primitive::<Float32Type>().values().to_vec(),
                want.column(j).to_vec(),
                "column {j}"
            );
        }
        // The samples look like the training data: per-feature means within half a std.
        let data = tabular(400, 1);
        for j in 0..4 {
            let (dm, ds) = (data.column(j).mean().unwrap(), data.column(j).std(0.0));
            let sm = want.column(j).mean().unwrap();
            assert!(
                (sm - dm).abs() < 0.5 * ds,
                "feature {j}: {sm} vs {dm} ± {ds}"
            );
        }
        // Default seed 0, aggregations over it, and the same rows again.
        let a = query(
            &ctx,
            "SELECT count(*) AS n, avg(a) AS m FROM ae_sample('vae', 50)",
        )
        .await;
        let b = query(
            &ctx,
            "SELECT count(*) AS n, avg(a) AS m FROM ae_sample('vae', 50, 0)",
        )
        .await;
        assert_eq!(a, b);
        assert_eq!(
            a.column(0)
                .as_primitive::<arrow::datatypes::Int64Type>()
                .value(0),
            50
        );

        for (sql, want) in [
            (
                "SELECT * FROM ae_sample('cae', 3)",
                "only variational models generate rows",
            ),
            (
                "SELECT * FROM ae_sample('cae', 3)",
                "'cae' is a convolutional autoencoder",
            ),
            ("SELECT * FROM ae_sample('nope', 3)", "unknown model 'nope'"),
            (
                "SELECT * FROM ae_sample('vae')",
                "expected ('model', n [, seed])",
            ),
            (
                "SELECT * FROM ae_sample('vae', -1)",
                "n (the number of rows) must be a non-negative integer",
            ),
            (
                "SELECT * FROM ae_sample('vae', 2.5)",
                "must be a non-negative integer literal",
            ),
            (
                "SELECT * FROM ae_sample('vae', 3, 'x')",
                "seed must be a non-negative integer",
            ),
        ] {
            let e = query_error(&ctx, sql).await;
            assert!(e.contains("ae_sample") && e.contains(want), "{sql}: {e}");
        }
    });
}

// ----- the CLI -----

fn bin() -> PathBuf {
    std::env::var_os("AEFLOW_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_aeflow")))
}

fn aeflow(args: &[&str]) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start aeflow");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            panic!("aeflow {args:?} did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn ok(args: &[&str]) -> String {
    let out = aeflow(args);
    assert!(
        out.status.success(),
        "aeflow {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fails with exit code 1 and one `error:` line containing every `want`.
fn fails(args: &[&str], want: &[&str]) {
    let out = aeflow(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "aeflow {args:?}: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "aeflow {args:?}: {stderr}");
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    for w in want {
        assert!(
            lines[0].contains(w),
            "aeflow {args:?}: '{w}' not in {}",
            lines[0]
        );
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn write(path: &Path, batch: &RecordBatch) {
    let format = FileFormat::from_path(path).unwrap();
    let mut w = BatchWriter::create(path, format, batch.schema()).unwrap();
    w.write(batch).unwrap();
    w.finish().unwrap();
}

fn read(path: &Path) -> RecordBatch {
    let s = FileSource::open(path, None).unwrap();
    let batches: Vec<_> = s
        .batches(None, 4096)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    arrow::compute::concat_batches(&s.schema(), &batches).unwrap()
}

#[test]
fn cli_trains_scores_inspects_and_samples_the_new_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let tab = dir.path().join("tab.parquet");
    write(&tab, &tabular_batch(&tabular(500, 3)));
    let seq = dir.path().join("seq.parquet");
    write(&seq, &vector_batch(&sequences(400, 4)));

    // Variational, with every variational option.
    let vae = dir.path().join("vae.aemodel");
    let out = ok(&[
        "train",
        "--input",
        p(&tab),
        "--out",
        p(&vae),
        "--exclude",
        "id",
        "--kind",
        "variational",
        "--beta",
        "0.5",
        "--kl-warmup",
        "3",
        "--anomaly-score",
        "elbo",
        "--epochs",
        "12",
        "--seed",
        "1",
    ]);
    assert!(
        out.contains("variational (β 0.5, KL warm-up 3 epochs, score elbo)"),
        "{out}"
    );
    let m = Autoencoder::load(&vae).unwrap();
    assert_eq!(
        m.kind(),
        &Kind::Variational(VariationalConfig {
            beta: 0.5,
            kl_warmup: 3,
            score: VariationalScore::Elbo
        })
    );
    let inspect = ok(&["inspect", p(&vae)]);
    assert!(inspect.contains("variational"), "{inspect}");

    // aeflow sample: to a file, and as CSV on stdout; both are Autoencoder::sample's rows.
    let samples = dir.path().join("samples.parquet");
    let said = ok(&[
        "sample",
        "--model",
        p(&vae),
        "-n",
        "25",
        "--seed",
        "9",
        "--output",
        p(&samples),
    ]);
    assert!(said.contains("sampled 25 rows"), "{said}");
    let got = read(&samples);
    let want = m.sample(25, 9).unwrap();
    assert_eq!(got.num_rows(), 25);
    for (j, name) in ["a", "b", "c", "d"].iter().enumerate() {
        let col = got.column_by_name(name).expect("feature column");
        assert_eq!(
            col.as_primitive::<Float32Type>().values().to_vec(),
            want.column(j).to_vec()
        );
    }
    let csv = ok(&["sample", "-m", p(&vae), "-n", "3", "--seed", "9"]);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("a,b,c,d"));
    for (i, line) in lines.enumerate() {
        let values: Vec<f32> = line.split(',').map(|v| v.parse().unwrap()).collect();
        assert_eq!(values, want.row(i).to_vec());
    }

    // Convolutional on the vector column, with every convolutional option.
    let cae = dir.path().join("cae.aemodel");
    let out = ok(&[
        "train",
        "--input",
        p(&seq),
        "--out",
        p(&cae),
        "--columns",
        "px",
        "--kind",
        "convolutional",
        "--input-shape",
        "1,16",
        "--filters",
        "4,8",
        "--kernel-size",
        "3",
        "--downsample",
        "max_pool",
        "--upsample",
        "nearest",
        "--latent",
        "3",
        "--scaler",
        "none",
        "--epochs",
        "8",
    ]);
    assert!(
        out.contains("convolutional (input 1×16, filters 4,8, kernel 3, max pooling / nearest)"),
        "{out}"
    );
    let scored = dir.path().join("scored.parquet");
    ok(&[
        "score",
        "--model",
        p(&cae),
        "--input",
        p(&seq),
        "--output",
        p(&scored),
    ]);
    let s = read(&scored);
    let errors = s
        .column_by_name("reconstruction_error")
        .unwrap()
        .as_primitive::<Float64Type>();
    let m = Autoencoder::load(&cae).unwrap();
    let direct = m.reconstruction_error(sequences(400, 4).view()).unwrap();
    assert_eq!(errors.values().to_vec(), direct.to_vec());

    // User errors: one line, exit code 1.
    fails(
        &["sample", "-m", p(&cae), "-n", "3"],
        &["cae.aemodel", "convolutional", "needs a variational one"],
    );
    fails(
        &["train", "--input", p(&tab), "--out", p(&vae), "--beta", "2"],
        &["--beta", "--kind variational only"],
    );
    fails(
        &[
            "train",
            "--input",
            p(&seq),
            "--out",
            p(&cae),
            "--kind",
            "convolutional",
        ],
        &["--input-shape", "needs the shape of one row"],
    );
    fails(
        &[
            "train",
            "--input",
            p(&seq),
            "--out",
            p(&cae),
            "--kind",
            "convolutional",
            "--input-shape",
            "1,15",
            "--columns",
            "px",
            "-q",
        ],
        &[
            "--input-shape",
            "15 values per row, but the data has 16 features",
        ],
    );
    fails(
        &[
            "train",
            "--input",
            p(&seq),
            "--out",
            p(&cae),
            "--kind",
            "convolutional",
            "--input-shape",
            "1,16",
            "--kernel-size",
            "4",
        ],
        &["--kernel-size", "must be odd"],
    );
    fails(
        &[
            "train",
            "--input",
            p(&tab),
            "--out",
            p(&vae),
            "--kind",
            "variational",
            "--beta=-1",
        ],
        &["--beta"],
    );
}

/// `rows` 8×8 images, each a gaussian blob of random centre: `[1, 8, 8]` rows of 64 values.
fn images(rows: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array2::zeros((rows, 64));
    for mut row in x.rows_mut() {
        let (cy, cx): (f32, f32) = (rng.random_range(0.0..8.0), rng.random_range(0.0..8.0));
        for (i, v) in row.iter_mut().enumerate() {
            let (y, xx) = ((i / 8) as f32, (i % 8) as f32);
            *v = (-((y - cy).powi(2) + (xx - cx).powi(2)) / 4.0).exp();
        }
    }
    x
}

#[test]
fn cli_images_sample_streams_and_wrong_inputs_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("img.parquet");
    write(&img, &vector_batch(&images(300, 1)));

    // A 2-D convolutional model on the vector column: --input-shape 1,8,8.
    let cae = dir.path().join("cae.aemodel");
    let out = ok(&[
        "train",
        "--input",
        p(&img),
        "--out",
        p(&cae),
        "--columns",
        "px",
        "--kind",
        "convolutional",
        "--input-shape",
        "1,8,8",
        "--filters",
        "4,8",
        "--kernel-size",
        "5,3",
        "--latent",
        "4",
        "--scaler",
        "none",
        "--epochs",
        "6",
    ]);
    assert!(
        out.contains("convolutional (input 1×8×8, filters 4,8, kernel 5,3, strided / transposed)"),
        "{out}"
    );
    let encoded = dir.path().join("encoded.parquet");
    ok(&[
        "encode",
        "--model",
        p(&cae),
        "--input",
        p(&img),
        "--output",
        p(&encoded),
    ]);
    let latent = read(&encoded);
    let latent = latent
        .column_by_name("latent")
        .expect("latent column")
        .as_fixed_size_list();
    assert_eq!((latent.len(), latent.value_length()), (300, 4));
    let m = Autoencoder::load(&cae).unwrap();
    assert_eq!(
        f32s(latent, 7),
        m.encode(images(300, 1).view()).unwrap().row(7).to_vec()
    );

    // Rows of the wrong length for the model: an error naming the file, column, row and length.
    let short = dir.path().join("short.parquet");
    write(
        &short,
        &vector_batch(&images(5, 2).slice(ndarray::s![.., ..60]).to_owned()),
    );
    fails(
        &[
            "score",
            "--model",
            p(&cae),
            "--input",
            p(&short),
            "--output",
            p(&dir.path().join("s.parquet")),
        ],
        &[
            "short.parquet",
            "column 'px'",
            "holds vectors of 60 values; the model expects 64",
        ],
    );
    fails(
        &[
            "train",
            "--input",
            p(&img),
            "--out",
            p(&cae),
            "--kind",
            "convolutional",
            "--input-shape",
            "1,8,8",
            "--kernel-size",
            "9",
            "-q",
        ],
        &["--kernel-size", "9 is wider than the input (1,8,8)"],
    );
    fails(
        &[
            "train",
            "--input",
            p(&img),
            "--out",
            p(&cae),
            "--kind",
            "convolutional",
            "--input-shape",
            "1,8,8,1",
            "-q",
        ],
        &["--input-shape", "channels,height,width", "got 1,8,8,1"],
    );
    fails(
        &[
            "train",
            "--input",
            p(&img),
            "--out",
            p(&cae),
            "--kind",
            "convolutional",
            "--input-shape",
            "1,8,8",
            "--filters",
            "4,0",
            "-q",
        ],
        &["--filters", "got 4,0"],
    );
    fails(
        &[
            "train",
            "--input",
            p(&img),
            "--out",
            p(&cae),
            "--kind",
            "convolutional",
            "--input-shape",
            "1,8,8",
            "--filters",
            "4,8",
            "--kernel-size",
            "3,3,3",
            "-q",
        ],
        &[
            "--kernel-size",
            "one size for every block or one per block (2 filters entries), got 3,3,3",
        ],
    );

    // `aeflow sample` to a pipe that closes early: it generates in chunks and stops at the
    // closed pipe instead of producing 10¹² rows first (it would not finish otherwise).
    let tab = dir.path().join("tab.parquet");
    write(&tab, &tabular_batch(&tabular(300, 3)));
    let vae = dir.path().join("vae.aemodel");
    ok(&[
        "train",
        "--input",
        p(&tab),
        "--out",
        p(&vae),
        "--exclude",
        "id",
        "--kind",
        "variational",
        "--epochs",
        "3",
        "-q",
    ]);
    let mut child = Command::new(bin())
        .args([
            "sample",
            "-m",
            p(&vae),
            "-n",
            "1000000000000",
            "--seed",
            "4",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start aeflow sample");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    for _ in 0..3 {
        std::io::BufRead::read_line(&mut stdout, &mut first).expect("read a line");
    }
    drop(stdout);
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            panic!("aeflow sample did not stop at the closed pipe within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    assert!(
        out.status.success(),
        "a closed pipe is a normal end: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = Autoencoder::load(&vae).unwrap().sample(2, 4).unwrap();
    let lines: Vec<&str> = first.lines().collect();
    assert_eq!(lines[0], "a,b,c,d");
    for (i, line) in lines[1..].iter().enumerate() {
        let values: Vec<f32> = line.split(',').map(|v| v.parse().unwrap()).collect();
        assert_eq!(values, want.row(i).to_vec());
    }
}

#[test]
fn create_model_trains_both_kinds_from_sql() {
    let (x, s) = (tabular(300, 11), sequences(300, 12));
    rt().block_on(async {
        let ctx = SessionContext::new();
        register(&ctx, ModelRegistry::new());
        ctx.register_batch("t", tabular_batch(&x)).expect("table");
        ctx.register_batch("s", vector_batch(&s)).expect("table");
        query(
            &ctx,
            "CREATE MODEL v OPTIONS (kind = 'variational', beta = 0.5, kl_warmup = 2, \
             anomaly_score = 'elbo', epochs = 8, seed = 3) AS SELECT a, b, c, d FROM t",
        )
        .await;
        query(
            &ctx,
            "CREATE MODEL c OPTIONS (kind = 'convolutional', input_shape = [1, 16], \
             filters = [4, 8], kernel_size = 3, downsample = 'max_pool', latent = 3, \
             scaler = 'none', epochs = 5) AS SELECT px FROM s",
        )
        .await;
        let info = query(
            &ctx,
            "SELECT name, kind, kind_options FROM ae_model_info('v') \
             UNION ALL SELECT name, kind, kind_options FROM ae_model_info('c') ORDER BY name",
        )
        .await;
        let kinds = info.column(1).as_string::<i32>();
        let options = info.column(2).as_string::<i32>();
        assert_eq!(kinds.value(0), "convolutional");
        assert!(options.value(0).contains("\"input_shape\":[1,16]"), "{}", options.value(0));
        assert_eq!(kinds.value(1), "variational");
        assert!(options.value(1).contains("\"score\":\"elbo\""), "{}", options.value(1));

        let out = query(&ctx, "SELECT count(*) FROM ae_sample('v', 7, 1)").await;
        assert_eq!(
            out.column(0)
                .as_primitive::<arrow::datatypes::Int64Type>()
                .value(0),
            7
        );
        let out = query(
            &ctx,
            "SELECT ae_reconstruction_error('c', px) AS e FROM s WHERE id < 5",
        )
        .await;
        let e = out.column(0).as_primitive::<Float64Type>();
        assert!(e.iter().all(|v| v.is_some_and(f64::is_finite)));
        let err = query_error(
            &ctx,
            "CREATE MODEL bad OPTIONS (kind = 'convolutional', input_shape = [1, 15]) AS SELECT px FROM s",
        )
        .await;
        assert!(err.contains("15 values per row, but the data has 16"), "{err}");
    });
}
