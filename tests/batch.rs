//! Library-level tests of the batch surface: reading and writing Parquet / CSV / NDJSON batch by
//! batch, atomic outputs, and training data (projection, sampling, the NULL policy).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aeflow::arrow::FeatureSelection;
use aeflow::batch::{
    BatchWriter, FileFormat, FileSource, TrainingOptions, known_row_count, read_training_data,
};
use aeflow::model::MissingPolicy;
use arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array, Float64Array, Int64Array,
    RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};

/// `rows` rows: `id` (Int64), `name` (Utf8), `a`, `b` (Float64; `b` NULL on every 7th row when
/// `nulls`), `c` (Int64).
fn table(rows: usize, nulls: bool) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("a", DataType::Float64, true),
        Field::new("b", DataType::Float64, true),
        Field::new("c", DataType::Int64, true),
    ]));
    let id: Vec<i64> = (0..rows as i64).collect();
    let name: Vec<String> = (0..rows).map(|i| format!("row-{i}")).collect();
    let a: Vec<f64> = (0..rows).map(|i| (i as f64 * 0.1).sin()).collect();
    let b: Vec<Option<f64>> = (0..rows)
        .map(|i| (!(nulls && i % 7 == 3)).then_some(i as f64 * 0.5))
        .collect();
    let c: Vec<i64> = (0..rows as i64).map(|i| i % 11).collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(id)),
            Arc::new(StringArray::from(name)),
            Arc::new(Float64Array::from(a)),
            Arc::new(Float64Array::from(b)),
            Arc::new(Int64Array::from(c)),
        ],
    )
    .unwrap()
}

/// Write `batch` to `dir/name` in `rows_per_batch` slices.
fn write(dir: &Path, name: &str, batch: &RecordBatch, rows_per_batch: usize) -> PathBuf {
    let path = dir.join(name);
    let format = FileFormat::from_path(&path).unwrap();
    let mut w = BatchWriter::create(&path, format, batch.schema()).unwrap();
    let mut at = 0;
    while at < batch.num_rows() {
        let n = rows_per_batch.min(batch.num_rows() - at);
        w.write(&batch.slice(at, n)).unwrap();
        at += n;
    }
    assert_eq!(w.finish().unwrap(), batch.num_rows() as u64);
    path
}

fn read_all(path: &Path, batch_size: usize) -> (Vec<RecordBatch>, RecordBatch) {
    let source = FileSource::open(path, None).unwrap();
    let batches: Vec<RecordBatch> = source
        .batches(None, batch_size)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let all = arrow::compute::concat_batches(&source.schema(), &batches).unwrap();
    (batches, all)
}

#[test]
fn every_format_round_trips_batch_by_batch() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(1000, true);
    for name in ["t.parquet", "t.csv", "t.ndjson"] {
        let path = write(dir.path(), name, &t, 300);
        let (batches, all) = read_all(&path, 256);
        assert_eq!(batches.len(), 4, "{name}: 1000 rows in batches of 256");
        assert_eq!(all.num_rows(), 1000, "{name}");
        let names: Vec<_> = all
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["id", "name", "a", "b", "c"], "{name}");
        let b = all
            .column_by_name("b")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert_eq!(b.null_count(), t.column(3).null_count(), "{name}");
        assert!(b.is_null(10), "{name}");
        assert_eq!(b.value(11), 5.5, "{name}");
        let c = all.column_by_name("c").unwrap().as_primitive::<Int64Type>();
        assert_eq!(c.value(12), 1, "{name}");
        let s = all.column_by_name("name").unwrap().as_string::<i32>();
        assert_eq!(s.value(999), "row-999", "{name}");
    }
    let parquet = dir.path().join("t.parquet");
    assert_eq!(known_row_count(&parquet, None), Some(1000));
    assert_eq!(known_row_count(&dir.path().join("t.csv"), None), None);
}

#[test]
fn format_can_be_named_when_the_extension_does_not_tell() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.txt");
    let mut w = BatchWriter::create(&path, FileFormat::Csv, table(5, false).schema()).unwrap();
    w.write(&table(5, false)).unwrap();
    w.finish().unwrap();
    let e = FileSource::open(&path, None).unwrap_err().to_string();
    // A library caller sees the neutral option name; the CLI spells it `--format`.
    assert!(
        e.contains("data.txt") && e.contains("`format`") && !e.contains("--"),
        "{e}"
    );
    let s = FileSource::open(&path, Some(FileFormat::Csv)).unwrap();
    assert_eq!(s.schema().fields().len(), 5);
}

#[test]
fn vectors_are_kept_in_parquet_and_ndjson_and_split_into_columns_in_csv() {
    let dir = tempfile::tempdir().unwrap();
    let values = Float32Array::from((0..12).map(|v| v as f32).collect::<Vec<_>>());
    let item = Arc::new(Field::new_list_field(DataType::Float32, true));
    let list = FixedSizeListArray::new(
        item,
        3,
        Arc::new(values),
        Some(vec![true, true, false, true].into()),
    );
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("latent", list.data_type().clone(), true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3, 4])) as ArrayRef,
            Arc::new(list),
        ],
    )
    .unwrap();

    let (_, p) = read_all(&write(dir.path(), "v.parquet", &batch, 4), 10);
    assert_eq!(p.column(1).data_type(), batch.column(1).data_type());
    assert!(p.column(1).is_null(2));

    let (_, j) = read_all(&write(dir.path(), "v.ndjson", &batch, 4), 10);
    let m = aeflow::arrow::arrays_to_matrix(&[j.column(1).clone()], "latent").unwrap();
    assert_eq!(m.row(1).to_vec(), vec![3.0, 4.0, 5.0]);
    assert!(m.row(2).iter().all(|v| v.is_nan()));

    let (_, c) = read_all(&write(dir.path(), "v.csv", &batch, 4), 10);
    let names: Vec<_> = c
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["k", "latent_0", "latent_1", "latent_2"]);
    let l1 = c.column(2).as_primitive::<Float64Type>();
    assert_eq!(l1.value(3), 10.0);
    assert!(l1.is_null(2));
}

#[test]
fn an_unfinished_output_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.parquet");
    std::fs::write(&dest, b"previous contents").unwrap();
    {
        let mut w =
            BatchWriter::create(&dest, FileFormat::Parquet, table(10, false).schema()).unwrap();
        w.write(&table(10, false)).unwrap();
        // Dropped without finish: a failure half way.
    }
    assert_eq!(std::fs::read(&dest).unwrap(), b"previous contents");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "temporary file removed");

    // Nested columns CSV cannot hold are refused before anything is created.
    let list =
        arrow::array::ListArray::from_iter_primitive::<Float64Type, _, _>(vec![Some(vec![Some(
            1.0,
        )])]);
    let schema = Arc::new(Schema::new(vec![Field::new(
        "l",
        list.data_type().clone(),
        true,
    )]));
    let e = BatchWriter::create(&dir.path().join("l.csv"), FileFormat::Csv, schema).unwrap_err();
    assert!(e.to_string().contains("column 'l'"), "{e}");
    assert!(!dir.path().join("l.csv").exists());
    let e = BatchWriter::create(
        &dir.path().join("no/such/dir.csv"),
        FileFormat::Csv,
        table(1, false).schema(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
}

#[test]
fn unreadable_inputs_are_rejected_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let check = |path: &Path, want: &str| {
        let e = FileSource::open(path, None).unwrap_err().to_string();
        assert!(
            e.contains(&path.display().to_string()) && e.contains(want),
            "{e}"
        );
    };
    check(&dir.path().join("missing.parquet"), "No such file");
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, b"").unwrap();
    check(&empty, "is empty");
    let bad = dir.path().join("bad.parquet");
    std::fs::write(&bad, b"this is not parquet at all").unwrap();
    check(&bad, "not a readable Parquet file");
    let bad_json = dir.path().join("bad.ndjson");
    std::fs::write(&bad_json, b"{\"a\": 1}\n{not json\n").unwrap();
    check(&bad_json, "NDJSON");
    let sub = dir.path().join("dir.csv");
    std::fs::create_dir(&sub).unwrap();
    check(&sub, "is a directory");

    // A value that does not fit the inferred type is reported with the rows read so far.
    let csv = dir.path().join("late.csv");
    std::fs::write(&csv, "a,b\n1,2\n3,4\n").unwrap();
    let source = FileSource::open(&csv, None).unwrap();
    std::fs::write(&csv, "a,b\n1,2\n3,x\n").unwrap();
    let e = source
        .batches(None, 1)
        .unwrap()
        .nth(1)
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(e.contains("late.csv") && e.contains("row 1"), "{e}");
}

#[test]
fn training_data_keeps_only_the_features() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["t.parquet", "t.csv", "t.ndjson"] {
        let path = write(dir.path(), name, &table(500, false), 128);
        let d = read_training_data(
            &path,
            &TrainingOptions {
                selection: FeatureSelection::Exclude(vec!["id".into()]),
                batch_size: 100,
                ..TrainingOptions::default()
            },
        )
        .unwrap();
        assert_eq!(d.feature_names, ["a", "b", "c"], "{name}");
        assert_eq!(d.x.shape(), &[500, 3]);
        assert_eq!(d.rows_read, 500);
        assert!(!d.sampled);
        assert_eq!(d.x[[10, 1]], 5.0);
        assert_eq!(d.x[[12, 2]], 1.0);

        let d = read_training_data(
            &path,
            &TrainingOptions {
                selection: FeatureSelection::Columns(vec!["c".into(), "a".into()]),
                ..TrainingOptions::default()
            },
        )
        .unwrap();
        assert_eq!(d.feature_names, ["c", "a"], "{name}");
        assert_eq!(d.x[[12, 0]], 1.0);
    }
}

#[test]
fn large_inputs_are_sampled_uniformly_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "big.parquet", &table(20_000, false), 4096);
    let opts = TrainingOptions {
        selection: FeatureSelection::Columns(vec!["id".into()]),
        max_rows: 1000,
        seed: 11,
        ..TrainingOptions::default()
    };
    let d = read_training_data(&path, &opts).unwrap();
    assert!(d.sampled);
    assert_eq!(d.rows_read, 20_000);
    assert_eq!(d.x.nrows(), 1000);
    // Uniform over the file: every quarter of the ids holds about a quarter of the sample
    // (binomial std ≈ 14; allow 5σ), and no id twice.
    let mut quarters = [0usize; 4];
    let mut ids: Vec<i64> = d.x.column(0).iter().map(|v| *v as i64).collect();
    for id in &ids {
        quarters[(*id / 5000) as usize] += 1;
    }
    for q in quarters {
        assert!((q as i64 - 250).abs() < 70, "{quarters:?}");
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 1000);
    // Seeded: the same sample again.
    assert_eq!(read_training_data(&path, &opts).unwrap().x, d.x);
}

#[test]
fn nulls_are_an_error_naming_row_and_column_unless_imputing() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "n.csv", &table(50, true), 16);
    let mut opts = TrainingOptions {
        selection: FeatureSelection::Columns(vec!["a".into(), "b".into()]),
        batch_size: 16,
        ..TrainingOptions::default()
    };
    let e = read_training_data(&path, &opts).unwrap_err().to_string();
    assert!(
        e.contains("n.csv: row 4: feature 'b' is missing") && e.contains("`missing = impute_mean`"),
        "{e}"
    );
    opts.missing = MissingPolicy::ImputeMean;
    let d = read_training_data(&path, &opts).unwrap();
    assert!(d.x[[3, 1]].is_nan());
    assert_eq!(d.x.nrows(), 50);
}

#[test]
fn a_list_column_from_ndjson_is_one_vector_feature() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.jsonl");
    let mut text = String::new();
    for i in 0..20 {
        text.push_str(&format!(
            "{{\"id\": \"r{i}\", \"v\": [{i}, {}, 0.5]}}\n",
            i * 2
        ));
    }
    std::fs::write(&path, text).unwrap();
    let d = read_training_data(&path, &TrainingOptions::default()).unwrap();
    assert_eq!(d.feature_names, ["v[0]", "v[1]", "v[2]"]);
    assert_eq!(d.x.row(7).to_vec(), vec![7.0, 14.0, 0.5]);

    std::fs::write(&path, "{\"v\": [1, 2]}\n{\"v\": [1, 2, 3]}\n").unwrap();
    let e = read_training_data(&path, &TrainingOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("v.jsonl: row 2: feature 'v' has 3 elements, the model expects 2"),
        "{e}"
    );
}

#[test]
fn empty_and_featureless_inputs_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let header_only = dir.path().join("h.csv");
    std::fs::write(&header_only, "a,b\n").unwrap();
    let e = read_training_data(&header_only, &TrainingOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("h.csv"), "{e}");
    let text = dir.path().join("t.csv");
    std::fs::write(&text, "name,city\nann,oslo\n").unwrap();
    let e = read_training_data(&text, &TrainingOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("t.csv") && e.contains("no numeric column"),
        "{e}"
    );
    let e = read_training_data(
        &text,
        &TrainingOptions {
            selection: FeatureSelection::Columns(vec!["zip".into()]),
            ..TrainingOptions::default()
        },
    )
    .unwrap_err();
    // The file is named around the selection's own error, which stays the cause.
    assert!(
        matches!(e.root(), aeflow::Error::Config { option, .. } if option == "columns"),
        "{e:?}"
    );
    assert!(std::error::Error::source(&e).is_some(), "{e:?}");
    let e = e.to_string();
    assert!(
        e.starts_with(&format!("{}: invalid value for columns:", text.display()))
            && e.contains("'zip'")
            && e.contains("name, city")
            && !e.contains("--"),
        "{e}"
    );
}
