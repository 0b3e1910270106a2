//! Train, score and encode on a Polars DataFrame (`cargo run --features polars --example polars`).
//!
//! A frame of sensor readings whose three channels move together; a few rows break the pattern.
//! The model is trained on the frame, then the rows it reconstructs worst are listed, and each
//! row gets its 2-D latent code.

use aeflow::model::{Silent, TrainConfig};
use aeflow::polars::AutoencoderFrame;
use polars::prelude::*;

fn main() -> aeflow::Result<()> {
    let n = 2_000;
    let t: Vec<f64> = (0..n).map(|i| f64::from(i) * 0.01).collect();
    let temperature: Vec<f64> = t.iter().map(|t| 20.0 + 5.0 * t.sin()).collect();
    let pressure: Vec<f64> = t.iter().map(|t| 1000.0 + 30.0 * t.sin()).collect();
    // Vibration follows temperature, except in rows 500, 1200 and 1800.
    let vibration: Vec<f32> = (0..n as usize)
        .map(|i| {
            let usual = 0.2 * t[i].sin() as f32;
            if [500, 1200, 1800].contains(&i) {
                usual + 1.0
            } else {
                usual
            }
        })
        .collect();
    let readings = df!(
        "id" => (0..n).collect::<Vec<i32>>(),
        "temperature" => temperature,
        "pressure" => pressure,
        "vibration" => vibration,
    )?;
    let features = ["temperature", "pressure", "vibration"];

    let config = TrainConfig {
        hidden: Some(vec![8, 2, 8]),
        epochs: 30,
        seed: 7,
        contamination: 0.002,
        ..TrainConfig::default()
    };
    let model = readings.ae_train(&features, &config, &mut Silent)?;

    // Score lazily: any LazyFrame works (here a filter first).
    let scored = readings
        .clone()
        .lazy()
        .filter(col("id").gt_eq(lit(100)))
        .ae_score(&model, &features)?;
    let worst = scored
        .lazy()
        .sort(
            ["reconstruction_error"],
            SortMultipleOptions::default().with_order_descending(true),
        )
        .limit(5)
        .collect()?;
    // (Polars is built without its table printer, to keep the build small.)
    let threshold = model.threshold().unwrap_or(f64::NAN);
    println!("rows the model reconstructs worst (threshold {threshold:.4}):");
    let ids = worst.column("id")?.i32()?;
    let errors = worst.column("reconstruction_error")?.f64()?;
    let flags = worst.column("is_anomaly")?.bool()?;
    for ((id, error), flag) in ids.iter().zip(errors.iter()).zip(flags.iter()) {
        let (Some(id), Some(error)) = (id, error) else {
            continue; // rows with a NULL feature have no score; there are none here
        };
        let flag = if flag == Some(true) { "anomaly" } else { "" };
        println!("  id {id:>4}: error {error:.4} {flag}");
    }

    let encoded = readings.ae_encode(&model, &features)?;
    let latent = encoded.column("latent")?.array()?;
    println!("latent codes ({:?}):", latent.dtype());
    for (i, code) in latent.amortized_iter().take(3).enumerate() {
        let code: Vec<f32> = code
            .map(|s| s.as_ref().f32().map(|c| c.into_no_null_iter().collect()))
            .transpose()?
            .unwrap_or_default();
        println!("  id {i}: {code:?}");
    }
    Ok(())
}
