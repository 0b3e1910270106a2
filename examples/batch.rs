//! A batch job over Parquet files (`cargo run --example batch`).
//!
//! Writes a Parquet file of pump readings whose four channels move together (a few rows break the
//! pattern), trains a model on its feature columns, saves it, scores the whole file into a second
//! Parquet file batch by batch (memory does not grow with the file) and lists the rows the model
//! reconstructs worst. The `aeflow train` / `aeflow score` commands are this program's CLI form.

use std::sync::Arc;

use aeflow::arrow::FeatureSelection;
use aeflow::batch::{
    BatchWriter, FileFormat, FileSource, JobOptions, TrainingOptions, read_training_data,
    score_file,
};
use aeflow::model::Silent;
use aeflow::{Autoencoder, TrainConfig};
use arrow::array::{AsArray, Float64Array, Int64Array, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};

/// Rows in the example file, and the rows whose vibration does not follow the speed.
const ROWS: i64 = 20_000;
const FAULTS: [i64; 3] = [4_321, 9_876, 15_000];

fn main() -> aeflow::Result<()> {
    let dir = tempfile::tempdir().map_err(|e| aeflow::Error::io("temporary directory", e))?;
    let readings = dir.path().join("readings.parquet");
    let scored = dir.path().join("scored.parquet");
    let model_path = dir.path().join("pumps.aemodel");
    write_readings(&readings)?;

    // Train on the feature columns (every numeric column but `id`).
    let options = TrainingOptions {
        selection: FeatureSelection::Exclude(vec!["id".into()]),
        ..TrainingOptions::default()
    };
    let data = read_training_data(&readings, &options)?;
    let config = TrainConfig {
        epochs: 30,
        ..TrainConfig::default()
    };
    let model = Autoencoder::fit(data.x.view(), &data.feature_names, &config, &mut Silent)?;
    model.save(&model_path)?;
    println!(
        "trained on {} rows × {} features; threshold {:.4}",
        data.x.nrows(),
        data.x.ncols(),
        model.threshold().unwrap_or(f64::NAN)
    );

    // Score the whole file, one batch at a time, into a new Parquet file.
    let model = Autoencoder::load(&model_path)?;
    let report = score_file(
        &model,
        &readings,
        &scored,
        &JobOptions::default(),
        &mut |_| {},
    )?;
    println!(
        "scored {} rows in {} batches: {} flagged as anomalies",
        report.rows, report.batches, report.anomalies
    );

    // The five rows with the largest reconstruction error.
    let mut rows: Vec<(i64, f64)> = Vec::new();
    for batch in FileSource::open(&scored, None)?.batches(None, 8192)? {
        let batch = batch?;
        let ids = batch["id"].as_primitive::<Int64Type>();
        let errors = batch["reconstruction_error"].as_primitive::<Float64Type>();
        rows.extend(
            ids.values()
                .iter()
                .copied()
                .zip(errors.values().iter().copied()),
        );
    }
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!("top anomalies (id, reconstruction error):");
    for (id, error) in rows.iter().take(5) {
        let planted = if FAULTS.contains(id) {
            "  <- planted fault"
        } else {
            ""
        };
        println!("  {id:>6}  {error:.4}{planted}");
    }
    let found = rows
        .iter()
        .take(FAULTS.len())
        .filter(|(id, _)| FAULTS.contains(id));
    assert_eq!(found.count(), FAULTS.len(), "the planted faults rank first");
    Ok(())
}

/// `ROWS` readings: speed, flow, power and vibration all follow one hidden load signal.
fn write_readings(path: &std::path::Path) -> aeflow::Result<()> {
    let load: Vec<f64> = (0..ROWS)
        .map(|i| (i as f64 * 0.013).sin() + 0.3 * (i as f64 * 0.0021).cos())
        .collect();
    let channel = |scale: f64, offset: f64| -> Float64Array {
        load.iter()
            .enumerate()
            .map(|(i, l)| {
                Some(offset + scale * l + 0.01 * scale * ((i * 7919 % 101) as f64 / 101.0 - 0.5))
            })
            .collect()
    };
    let mut vibration: Vec<f64> = load.iter().map(|l| 2.0 + 0.5 * l).collect();
    for f in FAULTS {
        vibration[f as usize] += 1.5; // vibration without the speed to explain it
    }
    let batch = RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from_iter_values(0..ROWS)) as _),
        ("rpm", Arc::new(channel(300.0, 1450.0)) as _),
        ("flow_m3h", Arc::new(channel(4.0, 14.0)) as _),
        ("power_kw", Arc::new(channel(2.5, 7.5)) as _),
        (
            "vibration_mm_s",
            Arc::new(Float64Array::from(vibration)) as _,
        ),
    ])?;
    let mut writer = BatchWriter::create(path, FileFormat::Parquet, batch.schema())?;
    for offset in (0..batch.num_rows()).step_by(4096) {
        writer.write(&batch.slice(offset, 4096.min(batch.num_rows() - offset)))?;
    }
    writer.finish()?;
    Ok(())
}
