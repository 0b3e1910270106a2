//! The Polars API (feature `polars`) gives the Arrow path's numbers: the same model trained,
//! the same scores, errors per feature and latent codes, bit for bit, on frames with NULLs,
//! mixed numeric types, several chunks, slices and lazy plans; and the conversion to Arrow
//! shares the Polars columns' memory.
//!
//! Run with `cargo test --features polars --test polars`.

use std::sync::Arc;

use aeflow::arrow::{
    FEATURE_ERRORS, FeatureLayout, FeatureSelection, IS_ANOMALY, LATENT, RECONSTRUCTION_ERROR,
    encode_batch, fit_batches, score_batch,
};
use aeflow::model::{Autoencoder, ScoreOptions, Silent, TrainConfig};
use aeflow::polars::{AutoencoderFrame, to_record_batches};
use arrow::array::{
    Array, ArrayRef, AsArray, Float32Array, Float64Array, Int32Array, RecordBatch, UInt8Array,
};
use arrow::datatypes::{Float32Type, Float64Type, Int32Type};
use polars::prelude::{Column, DataFrame, IntoLazy, NamedFrom, Series};

const ROWS: usize = 300;
const FEATURES: [&str; 3] = ["a", "b", "c"];

/// Row `i`'s features (`a` Float64, `b` Int32 with an outlier at row 250, `c` UInt8) and a
/// string column carried through.
struct Data {
    a: Vec<Option<f64>>,
    b: Vec<Option<i32>>,
    c: Vec<Option<u8>>,
    label: Vec<String>,
}

/// Scoring data: row 5 (and every 37th after it) has a NULL `a`.
fn data() -> Data {
    with_nulls(true)
}

/// Training data: the same rows without NULLs (the default missing policy rejects them).
fn training_data() -> Data {
    with_nulls(false)
}

fn with_nulls(nulls: bool) -> Data {
    let t = |i: usize| i as f64 * 0.05;
    Data {
        a: (0..ROWS)
            .map(|i| (!nulls || i % 37 != 5).then(|| t(i).sin()))
            .collect(),
        b: (0..ROWS)
            .map(|i| Some((10.0 * t(i).cos()).round() as i32 + if i == 250 { 40 } else { 0 }))
            .collect(),
        c: (0..ROWS).map(|i| Some((i % 17) as u8)).collect(),
        label: (0..ROWS).map(|i| format!("row-{i}")).collect(),
    }
}

fn arrow_batch(d: &Data) -> RecordBatch {
    RecordBatch::try_from_iter([
        (
            "label",
            Arc::new(arrow::array::StringArray::from(d.label.clone())) as ArrayRef,
        ),
        ("a", Arc::new(Float64Array::from(d.a.clone())) as ArrayRef),
        ("b", Arc::new(Int32Array::from(d.b.clone())) as ArrayRef),
        ("c", Arc::new(UInt8Array::from(d.c.clone())) as ArrayRef),
    ])
    .expect("batch")
}

fn polars_frame(d: &Data) -> DataFrame {
    DataFrame::new_infer_height(vec![
        Column::new("label".into(), d.label.clone()),
        Column::new("a".into(), d.a.clone()),
        Column::new("b".into(), d.b.clone()),
        Column::new("c".into(), d.c.clone()),
    ])
    .expect("frame")
}

fn config() -> TrainConfig {
    TrainConfig {
        hidden: Some(vec![6, 2, 6]),
        epochs: 8,
        seed: 42,
        contamination: 0.05,
        ..TrainConfig::default()
    }
}

fn arrow_model(batch: &RecordBatch) -> Autoencoder {
    let columns = FeatureSelection::Columns(FEATURES.iter().map(|s| s.to_string()).collect());
    fit_batches(
        std::slice::from_ref(batch),
        &columns,
        &config(),
        &mut Silent,
    )
    .expect("trains")
}

fn layout(batch: &RecordBatch) -> FeatureLayout {
    FeatureLayout::Scalars(
        FEATURES
            .iter()
            .map(|f| batch.schema().index_of(f).expect("feature"))
            .collect(),
    )
}

fn polars_f64(df: &DataFrame, name: &str) -> Vec<Option<f64>> {
    df.column(name)
        .expect(name)
        .f64()
        .expect("Float64")
        .iter()
        .collect()
}

fn polars_bool(df: &DataFrame, name: &str) -> Vec<Option<bool>> {
    df.column(name)
        .expect(name)
        .bool()
        .expect("Boolean")
        .iter()
        .collect()
}

/// Rows of an `Array(Float32, k)` column, NULL rows as `None`.
fn polars_vectors(df: &DataFrame, name: &str) -> Vec<Option<Vec<f32>>> {
    let column = df.column(name).expect(name);
    let array = column.array().expect("Array column");
    array
        .amortized_iter()
        .map(|row| {
            row.map(|s| {
                s.as_ref()
                    .f32()
                    .expect("Float32 items")
                    .into_no_null_iter()
                    .collect()
            })
        })
        .collect()
}

fn arrow_f64(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    batch
        .column_by_name(name)
        .expect(name)
        .as_primitive::<Float64Type>()
        .iter()
        .collect()
}

fn arrow_bool(batch: &RecordBatch, name: &str) -> Vec<Option<bool>> {
    batch
        .column_by_name(name)
        .expect(name)
        .as_boolean()
        .iter()
        .collect()
}

fn arrow_vectors(batch: &RecordBatch, name: &str) -> Vec<Option<Vec<f32>>> {
    let list = batch.column_by_name(name).expect(name).as_fixed_size_list();
    (0..list.len())
        .map(|i| {
            list.is_valid(i).then(|| {
                list.value(i)
                    .as_primitive::<Float32Type>()
                    .values()
                    .to_vec()
            })
        })
        .collect()
}

#[test]
fn training_on_a_frame_gives_the_arrow_model() {
    let d = training_data();
    let batch = arrow_batch(&d);
    let df = polars_frame(&d);
    let from_arrow = arrow_model(&batch);
    let from_polars = df
        .ae_train(&FEATURES, &config(), &mut Silent)
        .expect("trains");
    let lazy = df
        .clone()
        .lazy()
        .ae_train(&FEATURES, &config(), &mut Silent)
        .expect("trains");
    assert_eq!(from_polars.feature_names(), from_arrow.feature_names());
    // Same rows, same seed: the same weights, scaler and threshold, so the same scores.
    let opts = ScoreOptions {
        per_feature: true,
        threshold: None,
    };
    let x = df
        .ae_score_with(&from_arrow, &FEATURES, &opts)
        .expect("score");
    for model in [&from_polars, &lazy] {
        let y = df.ae_score_with(model, &FEATURES, &opts).expect("score");
        assert_eq!(
            polars_f64(&x, RECONSTRUCTION_ERROR),
            polars_f64(&y, RECONSTRUCTION_ERROR)
        );
        assert_eq!(model.threshold(), from_arrow.threshold());
    }
}

#[test]
fn scores_equal_the_arrow_path() {
    let d = data();
    let batch = arrow_batch(&d);
    let df = polars_frame(&d);
    let model = arrow_model(&arrow_batch(&training_data()));
    let opts = ScoreOptions {
        per_feature: true,
        threshold: None,
    };
    let expected = score_batch(&model, &batch, &layout(&batch), &opts).expect("arrow score");
    let got = df
        .ae_score_with(&model, &FEATURES, &opts)
        .expect("polars score");

    assert_eq!(got.height(), ROWS);
    assert_eq!(
        got.get_column_names()
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>(),
        [
            "label",
            "a",
            "b",
            "c",
            RECONSTRUCTION_ERROR,
            IS_ANOMALY,
            FEATURE_ERRORS
        ]
    );
    let errors = polars_f64(&got, RECONSTRUCTION_ERROR);
    assert_eq!(errors, arrow_f64(&expected, RECONSTRUCTION_ERROR));
    assert_eq!(errors[5], None, "a NULL feature gives a NULL score");
    assert_eq!(
        polars_bool(&got, IS_ANOMALY),
        arrow_bool(&expected, IS_ANOMALY)
    );
    assert_eq!(
        polars_bool(&got, IS_ANOMALY)[250],
        Some(true),
        "the outlier"
    );
    assert_eq!(
        polars_vectors(&got, FEATURE_ERRORS),
        arrow_vectors(&expected, FEATURE_ERRORS)
    );
    // The other columns are carried through untouched.
    assert!(
        got.column("label")
            .expect("label")
            .equals(df.column("label").expect("label"))
    );

    // The default options: error and flag only.
    let plain = df.ae_score(&model, &FEATURES).expect("score");
    assert_eq!(plain.width(), 6);
    assert_eq!(polars_f64(&plain, RECONSTRUCTION_ERROR), errors);
}

#[test]
fn latent_codes_equal_the_arrow_path() {
    let d = data();
    let batch = arrow_batch(&d);
    let df = polars_frame(&d);
    let model = arrow_model(&arrow_batch(&training_data()));
    let expected = encode_batch(&model, &batch, &layout(&batch)).expect("arrow encode");
    let got = df.ae_encode(&model, &FEATURES).expect("polars encode");
    let codes = polars_vectors(&got, LATENT);
    assert_eq!(codes, arrow_vectors(&expected, LATENT));
    assert_eq!(codes[5], None);
    assert!(
        codes[0]
            .as_ref()
            .is_some_and(|v| v.len() == model.latent_dim())
    );
}

#[test]
fn chunks_slices_and_lazy_frames_give_the_same_numbers() {
    let d = data();
    let df = polars_frame(&d);
    let model = arrow_model(&arrow_batch(&training_data()));
    let whole = polars_f64(
        &df.ae_score(&model, &FEATURES).expect("score"),
        RECONSTRUCTION_ERROR,
    );

    // Three chunks of different lengths, with the features in other types per chunk.
    let mut chunked = df.slice(0, 100);
    chunked.vstack_mut(&df.slice(100, 7)).expect("vstack");
    chunked.vstack_mut(&df.slice(107, 193)).expect("vstack");
    assert_eq!(chunked.first_col_n_chunks(), 3);
    let scored = chunked.ae_score(&model, &FEATURES).expect("score");
    assert_eq!(polars_f64(&scored, RECONSTRUCTION_ERROR), whole);

    // Misaligned chunks across columns (one column rechunked) are lined up first.
    let mut misaligned = chunked.clone();
    let b = misaligned
        .column("b")
        .expect("b")
        .as_materialized_series()
        .rechunk();
    misaligned.with_column(Column::from(b)).expect("replace b");
    let scored = misaligned.ae_score(&model, &FEATURES).expect("score");
    assert_eq!(polars_f64(&scored, RECONSTRUCTION_ERROR), whole);

    // A slice starts mid-buffer and mid-bitmap.
    let sliced = df
        .slice(33, 120)
        .ae_score(&model, &FEATURES)
        .expect("score");
    assert_eq!(polars_f64(&sliced, RECONSTRUCTION_ERROR), whole[33..153]);

    // Lazy: filter and compute a column, then score.
    let lazy = df
        .clone()
        .lazy()
        .ae_score(&model, &FEATURES)
        .expect("lazy score");
    assert_eq!(polars_f64(&lazy, RECONSTRUCTION_ERROR), whole);
    let encoded = df
        .clone()
        .lazy()
        .ae_encode(&model, &FEATURES)
        .expect("lazy encode");
    assert_eq!(
        polars_vectors(&encoded, LATENT),
        polars_vectors(&df.ae_encode(&model, &FEATURES).expect("encode"), LATENT)
    );
}

#[test]
fn float32_columns_and_empty_frames() {
    let d = data();
    let model = arrow_model(&arrow_batch(&training_data()));
    // Float32 features convert like the Arrow path's Float32.
    let a: Vec<Option<f32>> = d.a.iter().map(|v| v.map(|x| x as f32)).collect();
    let df = DataFrame::new_infer_height(vec![
        Series::new("a".into(), a.clone()).into(),
        Series::new("b".into(), d.b.clone()).into(),
        Series::new("c".into(), d.c.clone()).into(),
    ])
    .expect("frame");
    let batch = RecordBatch::try_from_iter([
        ("a", Arc::new(Float32Array::from(a)) as ArrayRef),
        ("b", Arc::new(Int32Array::from(d.b.clone())) as ArrayRef),
        ("c", Arc::new(UInt8Array::from(d.c.clone())) as ArrayRef),
    ])
    .expect("batch");
    let expected = score_batch(&model, &batch, &layout(&batch), &ScoreOptions::default())
        .expect("arrow score");
    let got = df.ae_score(&model, &FEATURES).expect("polars score");
    assert_eq!(
        polars_f64(&got, RECONSTRUCTION_ERROR),
        arrow_f64(&expected, RECONSTRUCTION_ERROR)
    );

    let empty = df.slice(0, 0);
    let scored = empty.ae_score(&model, &FEATURES).expect("empty score");
    assert_eq!(scored.height(), 0);
    assert!(scored.column(RECONSTRUCTION_ERROR).is_ok());
    let err = empty
        .ae_train(&FEATURES, &config(), &mut Silent)
        .expect_err("no rows");
    assert!(err.to_string().contains("no rows"), "{err}");
}

#[test]
fn bad_columns_are_errors_that_name_them() {
    let d = data();
    let df = polars_frame(&d);
    let model = arrow_model(&arrow_batch(&training_data()));
    let err = df.ae_score(&model, &["a", "b"]).expect_err("too few");
    assert!(err.to_string().contains("3 features: a, b, c"), "{err}");
    let err = df
        .ae_score(&model, &["a", "b", "label"])
        .expect_err("string");
    assert!(err.to_string().contains("'label'"), "{err}");
    let err = df
        .ae_encode(&model, &["a", "b", "zz"])
        .expect_err("missing");
    assert!(err.to_string().contains("'zz'"), "{err}");
    let err = df
        .clone()
        .lazy()
        .ae_train(&["a", "nope"], &config(), &mut Silent)
        .expect_err("missing in a lazy frame");
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn numeric_columns_reach_arrow_without_a_copy() {
    let df = DataFrame::new_infer_height(vec![
        Column::new("a".into(), [1.5f64, 2.5, 3.5]),
        Column::new("b".into(), [Some(1i32), None, Some(3)]),
        Column::new("s".into(), ["x", "y", "z"]),
    ])
    .expect("frame");
    let batches = to_record_batches(&df, &["a", "b"]).expect("batches");
    assert_eq!(batches.len(), 1);
    let a = batches[0].column(0).as_primitive::<Float64Type>();
    let polars_a = df.column("a").expect("a").f64().expect("f64");
    let chunk = polars_a.downcast_iter().next().expect("one chunk");
    assert_eq!(
        a.values().as_ptr(),
        chunk.values().as_ptr(),
        "the Arrow array reads the Polars buffer"
    );
    assert_eq!(a.values().as_ref(), &[1.5, 2.5, 3.5]);
    let b = batches[0].column(1).as_primitive::<Int32Type>();
    assert_eq!(b.null_count(), 1);
    assert!(b.is_null(1));
    assert_eq!((b.value(0), b.value(2)), (1, 3));
    // The Arrow side keeps the memory alive after the frame is gone.
    drop(df);
    assert_eq!(a.values().as_ref(), &[1.5, 2.5, 3.5]);
}

#[test]
fn sliced_columns_keep_their_offsets_in_values_and_validity() {
    let a = Series::new("a".into(), (0..100).map(f64::from).collect::<Vec<_>>());
    let b = Series::new(
        "b".into(),
        (0..100)
            .map(|i| (i % 7 != 0).then_some(i as f32))
            .collect::<Vec<_>>(),
    );
    let df = DataFrame::new_infer_height(vec![a.into(), b.into()])
        .expect("frame")
        .slice(13, 50);
    let batches = to_record_batches(&df, &["a", "b"]).expect("batches");
    let a = batches[0].column(0).as_primitive::<Float64Type>();
    let b = batches[0].column(1).as_primitive::<Float32Type>();
    assert_eq!((a.len(), b.len()), (50, 50));
    for i in 0..50 {
        let row = 13 + i;
        assert_eq!(a.value(i), row as f64);
        assert_eq!(b.is_null(i), row % 7 == 0, "row {row}");
        if row % 7 != 0 {
            assert_eq!(b.value(i), row as f32);
        }
    }
}

#[test]
fn each_chunk_is_one_batch() {
    let mut df =
        DataFrame::new_infer_height(vec![Column::new("a".into(), [1.0f32, 2.0])]).expect("df");
    df.vstack_mut(
        &DataFrame::new_infer_height(vec![Column::new("a".into(), [3.0f32])]).expect("df"),
    )
    .expect("vstack");
    let batches = to_record_batches(&df, &["a"]).expect("batches");
    let rows: Vec<usize> = batches.iter().map(|b| b.num_rows()).collect();
    assert_eq!(rows, vec![2, 1]);
}

#[test]
fn conversion_errors_name_the_column() {
    let df = polars_frame(&data());
    let err = to_record_batches(&df, &["a", "nope"]).expect_err("missing");
    assert!(err.to_string().contains("'nope'"), "{err}");
    assert!(err.to_string().contains("label, a, b, c"), "{err}");
    let err = to_record_batches(&df, &["label"]).expect_err("string");
    assert!(err.to_string().contains("'label'"), "{err}");
    assert!(err.to_string().contains("Float64"), "{err}");
    assert!(to_record_batches(&df, &[]).is_err());
}
