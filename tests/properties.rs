//! Property tests (proptest) of the invariants every surface relies on:
//! - scalers: `inverse(transform(x)) ≈ x` for every scaler kind, on the training rows and on new
//!   rows (finite inputs);
//! - thresholds: the fraction of calibration errors strictly above `calibrate(errors, c)` is `c`
//!   within `1/n`, directly and for a trained model's own training rows;
//! - the model file: bytes → model → bytes is the identity and the reloaded model scores
//!   bit for bit the same, for random small architectures of every kind;
//! - `score_batch`: scoring a concatenation equals concatenating the scores of its parts, bit for
//!   bit, and permuting the input columns changes no score.
//!
//! Runs are deterministic (fixed seed, no persisted failures) and small enough for a debug build;
//! `PROPTEST_CASES` scales every case count (e.g. `PROPTEST_CASES=1000` for a long run).

use std::sync::{Arc, OnceLock};

use aeflow::arrow::{FeatureLayout, score_batch};
use aeflow::model::{
    ActivationKind, ConvolutionalConfig, Kind, MissingPolicy, Preprocessing, ScalerKind,
    ScoreOptions, Scores, Silent, VariationalConfig, VariationalScore, calibrate, sorted_errors,
};
use aeflow::{Autoencoder, TrainConfig};
use arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array, Float64Array, Int64Array,
    RecordBatch,
};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Float32Type, Float64Type, Schema};
use ndarray::Array2;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// `cases` scaled by `PROPTEST_CASES / 256` when that is set (256 is proptest's default).
fn config(cases: u32) -> Config {
    let cases = match std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        Some(n) => (cases * n / 256).max(1),
        None => cases,
    };
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x00ae_f10e),
        failure_persistence: None,
        // Convolutional shapes with no room for their blocks are rejected, not failed.
        max_global_rejects: 4 * cases + 1024,
        ..Config::default()
    }
}

/// A finite f32 at one of several magnitudes (tiny, unit, large), so that scales and offsets
/// span orders of magnitude.
fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        -1.0f32..1.0,
        -1e-3f32..1e-3,
        -1e4f32..1e4,
        (0.5f32..2.0).prop_map(|v| v * 1e6),
        Just(0.0f32),
    ]
}

fn matrix(
    rows: std::ops::RangeInclusive<usize>,
    cols: usize,
) -> impl Strategy<Value = Array2<f32>> {
    rows.prop_flat_map(move |r| {
        prop::collection::vec(value(), r * cols)
            .prop_map(move |v| Array2::from_shape_vec((r, cols), v).expect("r × cols values"))
    })
}

fn scaler_kind() -> impl Strategy<Value = ScalerKind> {
    prop_oneof![
        Just(ScalerKind::Standard),
        Just(ScalerKind::MinMax),
        Just(ScalerKind::None)
    ]
}

fn names(d: usize) -> Vec<String> {
    (0..d).map(|j| format!("f{j}")).collect()
}

/// `|back − x| ≤ 8 ε (|x| + |offset|) + tiny`: the round trip rounds `x − offset`, the division,
/// the product and the sum, each within one ulp of quantities bounded by `|x| + |offset|`.
fn assert_round_trip(p: &Preprocessing, x: &Array2<f32>) -> Result<(), TestCaseError> {
    let d = x.ncols();
    let mut scaled = Array2::<f32>::zeros(x.dim());
    p.transform(x.view(), scaled.view_mut(), &names(d), 0)
        .map_err(|e| TestCaseError::fail(format!("transform refused finite rows: {e}")))?;
    let mut back = Array2::<f32>::zeros(x.dim());
    p.inverse(scaled.view(), back.view_mut());
    for ((i, j), &v) in x.indexed_iter() {
        let tol = 8.0 * f32::EPSILON * (v.abs() + p.offset[j].abs()) + f32::MIN_POSITIVE;
        prop_assert!(
            (back[[i, j]] - v).abs() <= tol,
            "{:?}: row {i} feature {j}: {v} → {} → {} (offset {}, scale {}, tolerance {tol})",
            p.scaler,
            scaled[[i, j]],
            back[[i, j]],
            p.offset[j],
            p.scale[j]
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn scaler_inverse_undoes_transform(
        (train, new) in (1usize..6).prop_flat_map(|d| (matrix(1..=24, d), matrix(1..=8, d))),
        kind in scaler_kind(),
        impute in any::<bool>(),
    ) {
        let missing = if impute { MissingPolicy::ImputeMean } else { MissingPolicy::Reject };
        let p = Preprocessing::fit(train.view(), &names(train.ncols()), kind, missing)
            .map_err(|e| TestCaseError::fail(format!("fit refused finite rows: {e}")))?;
        prop_assert!(p.scale.iter().all(|s| s.is_finite() && *s > 0.0), "scale {:?}", p.scale);
        assert_round_trip(&p, &train)?;
        assert_round_trip(&p, &new)?;
    }

    /// Distinct errors (ties at the threshold are never flagged, so they can only lower the
    /// count): exactly ⌈n·c⌉ or ⌊n·c⌋ are above `calibrate(c)`.
    #[test]
    fn calibrated_threshold_flags_the_contamination(
        errors in prop::collection::btree_set(0u32..1_000_000, 1..400),
        scale in prop_oneof![Just(1e-9f64), Just(1e-3), Just(1.0), Just(1e6)],
        contamination in 0.0001f64..=0.5,
    ) {
        let errors: Vec<f64> = errors.into_iter().rev().map(|e| e as f64 * scale).collect();
        let n = errors.len() as f64;
        let threshold = calibrate(&sorted_errors(&errors), contamination);
        let Some(t) = threshold else {
            return Err(TestCaseError::fail("no threshold for contamination > 0"));
        };
        let flagged = errors.iter().filter(|&&e| e > t).count() as f64;
        prop_assert!(
            (flagged / n - contamination).abs() <= 1.0 / n,
            "{flagged} of {n} above {t}, contamination {contamination}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Random small models of every kind.

/// What varies between the random models.
#[derive(Debug, Clone)]
struct Arch {
    kind: Kind,
    /// Rows of the training matrix.
    rows: usize,
    features: usize,
    hidden: Option<Vec<usize>>,
    latent: Option<usize>,
    activation: ActivationKind,
    scaler: ScalerKind,
    epochs: usize,
    contamination: f64,
    seed: u64,
}

fn activation() -> impl Strategy<Value = ActivationKind> {
    prop_oneof![
        Just(ActivationKind::Relu),
        Just(ActivationKind::LeakyRelu),
        Just(ActivationKind::Elu),
        Just(ActivationKind::Selu),
        Just(ActivationKind::Tanh),
        Just(ActivationKind::Sigmoid),
        Just(ActivationKind::Linear),
    ]
}

/// Hidden widths `[h…, k, …h]` (symmetric or not), 1 or 3 or 5 layers of 1–6 units.
fn hidden() -> impl Strategy<Value = Option<Vec<usize>>> {
    prop_oneof![
        Just(None),
        (1usize..5).prop_map(|k| Some(vec![k])),
        (1usize..7, 1usize..4, 1usize..7).prop_map(|(a, k, b)| Some(vec![a, k, b])),
        (1usize..7, 1usize..7, 1usize..4, 1usize..7, 1usize..7)
            .prop_map(|(a, b, k, c, d)| Some(vec![a, b, k, c, d])),
    ]
}

fn dense_kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Vanilla),
        (0.0f32..0.5, 0.0f32..0.5)
            .prop_filter("some corruption", |(n, m)| *n > 0.0 || *m > 0.0)
            .prop_map(|(noise_std, mask_ratio)| Kind::Denoising {
                noise_std,
                mask_ratio
            }),
        (0.0f32..0.1, prop::option::of(0.01f32..0.5), 0.0f32..2.0)
            .prop_filter("some penalty", |(l1, t, w)| *l1 > 0.0
                || (t.is_some() && *w > 0.0))
            .prop_map(
                |(l1_activity, sparsity_target, sparsity_weight)| Kind::Sparse {
                    l1_activity,
                    sparsity_target,
                    sparsity_weight,
                }
            ),
        (0.0f32..2.0, 0usize..3, any::<bool>()).prop_map(|(beta, kl_warmup, elbo)| {
            Kind::Variational(VariationalConfig {
                beta,
                kl_warmup,
                score: if elbo {
                    VariationalScore::Elbo
                } else {
                    VariationalScore::Reconstruction
                },
            })
        }),
    ]
}

fn arch() -> impl Strategy<Value = Arch> {
    let dense = (dense_kind(), 2usize..7, hidden(), activation()).prop_map(
        |(kind, features, hidden, activation)| {
            // The KL sparsity penalty needs a latent in (0, 1).
            let activation = if kind.needs_unit_interval_latent() {
                ActivationKind::Sigmoid
            } else {
                activation
            };
            (kind, features, hidden, None, activation)
        },
    );
    let conv = (
        prop_oneof![
            (1usize..3, 3usize..9).prop_map(|(c, l)| vec![c, l]),
            (1usize..3, 2usize..5, 3usize..6).prop_map(|(c, h, w)| vec![c, h, w]),
        ],
        prop::collection::vec(1usize..4, 1..3),
        1usize..4,
        any::<bool>(),
        prop_oneof![Just(1usize), Just(3)],
    )
        .prop_map(|(shape, filters, latent, nearest, kernel)| {
            let features = shape.iter().product();
            let mut c = ConvolutionalConfig {
                filters,
                kernel_size: vec![kernel],
                ..ConvolutionalConfig::new(shape)
            };
            if nearest {
                c.upsample = aeflow::model::Upsampling::Nearest;
            }
            (
                Kind::Convolutional(c),
                features,
                None,
                Some(latent),
                ActivationKind::Elu,
            )
        });
    (
        prop_oneof![4 => dense, 1 => conv],
        8usize..40,
        scaler_kind(),
        1usize..3,
        prop_oneof![Just(0.0), Just(0.05), Just(0.2)],
        any::<u64>(),
    )
        .prop_map(
            |(
                (kind, features, hidden, latent, activation),
                rows,
                scaler,
                epochs,
                contamination,
                seed,
            )| Arch {
                kind,
                rows,
                features,
                hidden,
                latent,
                activation,
                scaler,
                epochs,
                contamination,
                seed,
            },
        )
}

/// Rows with a little structure, deterministic per seed, all distinct.
fn training_rows(rows: usize, d: usize, seed: u64) -> Array2<f32> {
    let phase = (seed % 1000) as f32 * 0.01;
    Array2::from_shape_fn((rows, d), |(i, j)| {
        let t = (i as f32 * 0.41 + phase).sin();
        t * (j as f32 + 1.0) + 0.05 * ((i * 13 + j * 7) % 11) as f32
    })
}

fn train(a: &Arch) -> Result<(Autoencoder, Array2<f32>), TestCaseError> {
    let x = training_rows(a.rows, a.features, a.seed);
    let config = TrainConfig {
        kind: a.kind.clone(),
        hidden: a.hidden.clone(),
        latent: a.latent,
        activation: a.activation,
        scaler: a.scaler,
        epochs: a.epochs,
        batch_size: 8,
        validation_split: 0.0,
        contamination: a.contamination,
        seed: a.seed,
        ..TrainConfig::default()
    };
    // A convolutional shape that leaves no room for its blocks is refused by validation; that is
    // not what this test is about.
    if let Err(e) = config.validate() {
        return Err(TestCaseError::reject(format!("{e}")));
    }
    let model = Autoencoder::fit(x.view(), &names(a.features), &config, &mut Silent)
        .map_err(|e| TestCaseError::fail(format!("{a:?} does not train: {e}")))?;
    Ok((model, x))
}

/// A model file's content independent of the order of JSON keys in its safetensors header:
/// the header as a JSON value (objects compare as maps) and every byte after it.
///
/// (`to_bytes` writes the header's keys sorted, so files are byte-identical too:
/// [`model_file_bytes_are_reproducible`].)
fn canonical(file: &[u8]) -> (serde_json::Value, Vec<u8>) {
    let n = u64::from_le_bytes(file[..8].try_into().expect("8 bytes")) as usize;
    let header = serde_json::from_slice(&file[8..8 + n]).expect("header is JSON");
    (header, file[8 + n..].to_vec())
}

/// Saving one model twice gives the same bytes (the header's keys are written sorted).
#[test]
fn model_file_bytes_are_reproducible() {
    let model = &fixtures().scalar;
    let first = model.to_bytes().expect("saves");
    for _ in 0..8 {
        assert!(
            model.to_bytes().expect("saves") == first,
            "two saves of one model differ"
        );
    }
    assert_eq!(
        canonical(&first),
        canonical(&model.to_bytes().expect("saves"))
    );
}

fn error_bits(s: &Scores) -> Vec<u64> {
    s.reconstruction_error.iter().map(|e| e.to_bits()).collect()
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn model_file_round_trips_every_kind(a in arch()) {
        let (model, x) = train(&a)?;
        let bytes = model.to_bytes().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let loaded = Autoencoder::from_bytes(&bytes, "round trip")
            .map_err(|e| TestCaseError::fail(format!("{a:?}: saved model does not load: {e}")))?;
        let again = loaded.to_bytes().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(
            canonical(&again),
            canonical(&bytes),
            "{:?}: bytes → model → bytes changed the file's content",
            &a.kind
        );

        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let path = dir.path().join("m.aeflow");
        model.save(&path).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let from_file = Autoencoder::load(&path).map_err(|e| TestCaseError::fail(e.to_string()))?;

        let options = ScoreOptions { per_feature: true, threshold: None };
        let score = |m: &Autoencoder| m.score(x.view(), &options)
            .map_err(|e| TestCaseError::fail(e.to_string()));
        let (s0, s1, s2) = (score(&model)?, score(&loaded)?, score(&from_file)?);
        prop_assert_eq!(error_bits(&s0), error_bits(&s1));
        prop_assert_eq!(error_bits(&s0), error_bits(&s2));
        prop_assert_eq!(&s0.is_anomaly, &s1.is_anomaly);
        prop_assert_eq!(&s0.feature_errors, &s1.feature_errors);
        let encode = |m: &Autoencoder| m.encode(x.view()).map_err(|e| TestCaseError::fail(e.to_string()));
        let (z0, z1) = (encode(&model)?, encode(&loaded)?);
        prop_assert!(
            z0.iter().zip(z1.iter()).all(|(a, b)| a.to_bits() == b.to_bits()),
            "latent differs after reload"
        );
        prop_assert_eq!(model.threshold(), loaded.threshold());
        prop_assert_eq!(model.version(), loaded.version());
    }

    /// The model's threshold was calibrated on its training rows: scored again, a fraction
    /// `contamination` of them (within 1/n, ties at the threshold aside) lies above it.
    #[test]
    fn trained_threshold_flags_the_contamination_of_the_training_rows(
        a in arch(),
        contamination in 0.01f64..=0.5,
    ) {
        let a = Arch { contamination, ..a };
        let (model, x) = train(&a)?;
        let Some(t) = model.threshold() else {
            return Err(TestCaseError::fail("no threshold with contamination > 0"));
        };
        let s = model.score(x.view(), &ScoreOptions::default())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let n = x.nrows() as f64;
        let above = s.reconstruction_error.iter().filter(|&&e| e > t).count() as f64;
        let ties = s.reconstruction_error.iter().filter(|&&e| e == t).count() as f64;
        let c = a.contamination;
        prop_assert!(
            above <= c * n + 1.0 && above + ties >= c * n - 1.0,
            "{:?}: {above} of {n} above the threshold {t} ({ties} equal), contamination {c}",
            a.kind
        );
    }
}

// ---------------------------------------------------------------------------------------------
// score_batch: batch splitting and column order.

struct Fixtures {
    /// Features `f0 … f3`, threshold calibrated.
    scalar: Autoencoder,
    /// One vector feature `v` of width 6 (`v[0]` … `v[5]`), convolutional.
    vector: Autoencoder,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let quick = TrainConfig {
            epochs: 2,
            batch_size: 16,
            validation_split: 0.0,
            contamination: 0.1,
            ..TrainConfig::default()
        };
        let scalar = Autoencoder::fit(
            training_rows(64, 4, 1).view(),
            &names(4),
            &TrainConfig {
                hidden: Some(vec![5, 2, 5]),
                ..quick.clone()
            },
            &mut Silent,
        )
        .expect("scalar model trains");
        let vnames: Vec<String> = (0..6).map(|i| format!("v[{i}]")).collect();
        let vector = Autoencoder::fit(
            training_rows(64, 6, 2).view(),
            &vnames,
            &TrainConfig {
                kind: Kind::Convolutional(ConvolutionalConfig {
                    filters: vec![2],
                    ..ConvolutionalConfig::new(vec![1, 6])
                }),
                latent: Some(2),
                ..quick
            },
            &mut Silent,
        )
        .expect("vector model trains");
        Fixtures { scalar, vector }
    })
}

/// `id` (Int64), then the scalar model's features as Float64 columns, then `v` as
/// `FixedSizeList<Float32>[6]` for the vector model.
fn batch_of(rows: &Array2<f32>, vectors: &Array2<f32>) -> RecordBatch {
    let n = rows.nrows();
    let mut columns: Vec<(String, ArrayRef)> = vec![(
        "id".into(),
        Arc::new(Int64Array::from_iter_values(0..n as i64)),
    )];
    for j in 0..rows.ncols() {
        columns.push((
            format!("f{j}"),
            Arc::new(Float64Array::from_iter_values(
                rows.column(j).iter().map(|&v| f64::from(v)),
            )),
        ));
    }
    let item = Arc::new(Field::new_list_field(DataType::Float32, true));
    let values = Float32Array::from_iter_values(vectors.iter().copied());
    let list = FixedSizeListArray::try_new(item, vectors.ncols() as i32, Arc::new(values), None)
        .expect("fixed size list");
    columns.push(("v".into(), Arc::new(list)));
    RecordBatch::try_from_iter(columns).expect("batch")
}

fn score(model: &Autoencoder, batch: &RecordBatch) -> Result<RecordBatch, TestCaseError> {
    let layout = FeatureLayout::for_model(&batch.schema(), model)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let options = ScoreOptions {
        per_feature: true,
        threshold: None,
    };
    score_batch(model, batch, &layout, &options).map_err(|e| TestCaseError::fail(e.to_string()))
}

/// The model's output columns as bits: errors (f64), flags, per-feature errors (f32), nulls.
fn output_bits(scored: &RecordBatch) -> (Vec<u64>, Vec<Option<bool>>, Vec<u32>, usize) {
    let error = scored["reconstruction_error"].as_primitive::<Float64Type>();
    let flags = scored["is_anomaly"].as_boolean().iter().collect();
    let per_feature = scored["feature_errors"].as_fixed_size_list();
    let fe = per_feature.values().as_primitive::<Float32Type>();
    (
        error.values().iter().map(|v| v.to_bits()).collect(),
        flags,
        fe.values().iter().map(|v| v.to_bits()).collect(),
        error.null_count(),
    )
}

fn rows_and_cuts() -> impl Strategy<Value = (Array2<f32>, Array2<f32>, Vec<usize>)> {
    prop_oneof![3 => 1usize..40, 1 => 200usize..600].prop_flat_map(|n| {
        (
            prop::collection::vec(-3.0f32..3.0, n * 4),
            prop::collection::vec(-3.0f32..3.0, n * 6),
            prop::collection::vec(0..=n, 0..5),
        )
            .prop_map(move |(a, b, mut cuts)| {
                cuts.sort_unstable();
                (
                    Array2::from_shape_vec((n, 4), a).expect("n × 4"),
                    Array2::from_shape_vec((n, 6), b).expect("n × 6"),
                    cuts,
                )
            })
    })
}

proptest! {
    #![proptest_config(config(96))]

    /// Cutting a batch anywhere (empty parts included) and scoring the parts gives the scores of
    /// the whole batch, bit for bit, for a dense and a convolutional model.
    #[test]
    fn score_batch_is_invariant_to_batch_splitting((rows, vectors, cuts) in rows_and_cuts()) {
        let batch = batch_of(&rows, &vectors);
        let n = batch.num_rows();
        let f = fixtures();
        for model in [&f.scalar, &f.vector] {
            let whole = score(model, &batch)?;
            let mut bounds = vec![0];
            bounds.extend(&cuts);
            bounds.push(n);
            let parts = bounds
                .windows(2)
                .map(|w| score(model, &batch.slice(w[0], w[1] - w[0])))
                .collect::<Result<Vec<_>, _>>()?;
            let joined = concat_batches(&whole.schema(), &parts)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(
                output_bits(&joined),
                output_bits(&whole),
                "{} model, cuts {:?} of {}",
                model.kind().name(),
                cuts,
                n
            );
        }
    }

    /// Any order of the input columns (features and others) gives the same scores, bit for bit.
    #[test]
    fn score_batch_is_invariant_to_column_order(
        (rows, vectors, _) in rows_and_cuts(),
        order in Just((0..6).collect::<Vec<usize>>()).prop_shuffle(),
    ) {
        let batch = batch_of(&rows, &vectors);
        let schema = batch.schema();
        let fields: Vec<Field> = order.iter().map(|&i| schema.field(i).clone()).collect();
        let columns: Vec<ArrayRef> = order.iter().map(|&i| batch.column(i).clone()).collect();
        let permuted = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let f = fixtures();
        for model in [&f.scalar, &f.vector] {
            let a = score(model, &batch)?;
            let b = score(model, &permuted)?;
            prop_assert_eq!(output_bits(&a), output_bits(&b), "column order {:?}", order);
        }
    }
}
