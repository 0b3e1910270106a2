//! The demo's data set: pump sensor readings with correlated features and injected faults.
//!
//! Two hidden drivers move every sensor together: the pump's load `L ∈ [0, 1]` (a slow daily cycle
//! plus a random walk) and the ambient temperature `A` (°C). Each of the eight features is a
//! smooth function of (L, A) plus small gaussian noise, so a normal row lies close to a
//! two-dimensional surface in eight dimensions. A fault breaks the relation between sensors while
//! each value stays within its usual range, so no single-column rule finds it; an autoencoder
//! that learned the surface does.

use std::sync::Arc;

use ::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use ::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::error::Result;

/// The feature columns, in order.
pub const FEATURES: [&str; 8] = [
    "rpm",
    "flow_m3h",
    "pressure_bar",
    "power_kw",
    "vibration_mm_s",
    "bearing_temp_c",
    "ambient_temp_c",
    "voltage_v",
];

/// Kinds of injected faults, with what they break.
pub const FAULTS: [&str; 4] = [
    "cavitation",      // flow and pressure drop while speed and power stay
    "bearing wear",    // vibration and bearing temperature up at normal load
    "pressure sensor", // the pressure reading is far too low
    "power surge",     // power up without more flow or speed
];

/// A generated table and what was injected.
#[derive(Debug, Clone)]
pub struct DemoData {
    /// Columns: `timestamp`, `machine`, the eight [`FEATURES`], `injected_fault` (NULL for normal
    /// rows) and `is_injected`.
    pub batch: RecordBatch,
    /// Row indices of the injected faults.
    pub injected: Vec<usize>,
}

/// `rows` readings (one a minute, five pumps taking turns) with `faults` injected faults; the same
/// seed gives the same table.
pub fn generate(rows: usize, faults: usize, seed: u64) -> Result<DemoData> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let unit = Normal::new(0.0f64, 1.0).map_err(|e| crate::Error::Internal(e.to_string()))?;
    let start_ms: i64 = 1_767_225_600_000; // 2026-01-01 00:00 UTC
    let mut ts = Vec::with_capacity(rows);
    let mut machine = Vec::with_capacity(rows);
    let mut cols: Vec<Vec<f64>> = FEATURES.iter().map(|_| Vec::with_capacity(rows)).collect();
    let mut walk = 0.0f64;
    for i in 0..rows {
        let minutes = i as f64;
        let day = minutes / 1440.0 * std::f64::consts::TAU;
        walk = (walk + 0.02 * unit.sample(&mut rng)).clamp(-0.25, 0.25);
        let load = (0.5 + 0.3 * (day - 1.0).sin() + walk).clamp(0.02, 0.98);
        let ambient = 18.0 + 6.0 * day.sin() + 0.3 * unit.sample(&mut rng);
        let mut n = |sd: f64| sd * unit.sample(&mut rng);
        let row = [
            900.0 + 2100.0 * load + n(15.0),
            4.0 + 42.0 * load + n(0.4),
            1.2 + 3.6 * load * load + 0.8 * load + n(0.04),
            1.5 + 17.0 * load + 0.04 * (ambient - 18.0) + n(0.15),
            0.8 + 2.6 * load + n(0.06),
            ambient + 12.0 + 26.0 * load + n(0.4),
            ambient + n(0.15),
            401.0 - 7.0 * load + n(0.6),
        ];
        for (c, v) in cols.iter_mut().zip(row) {
            c.push(v);
        }
        ts.push(start_ms + i as i64 * 60_000);
        machine.push(format!("pump-{:02}", i % 5 + 1));
    }

    // Faults: evenly spread positions, jittered, never the first rows.
    let mut injected = Vec::with_capacity(faults);
    let mut kind_of = vec![None; rows];
    for k in 0..faults.min(rows / 10) {
        let span = rows / faults.max(1);
        let i = (k * span + span / 4 + rng.random_range(0..span / 2 + 1)).min(rows - 1);
        let kind = k % FAULTS.len();
        // Each fault moves one or two sensors by one to two of their usual spreads.
        match kind {
            0 => {
                cols[1][i] -= 14.0;
                cols[2][i] -= 1.0;
            }
            1 => {
                cols[4][i] += 1.6;
                cols[5][i] += 9.0;
            }
            2 => cols[2][i] = (cols[2][i] - 1.6).max(0.6),
            _ => cols[3][i] += 6.0,
        }
        kind_of[i] = Some(FAULTS[kind]);
        injected.push(i);
    }

    let mut fields = vec![
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("machine", DataType::Utf8, false),
    ];
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(TimestampMillisecondArray::from(ts)),
        Arc::new(StringArray::from(machine)),
    ];
    for (name, c) in FEATURES.iter().zip(cols) {
        fields.push(Field::new(*name, DataType::Float64, false));
        arrays.push(Arc::new(Float64Array::from(c)));
    }
    fields.push(Field::new("injected_fault", DataType::Utf8, true));
    arrays.push(Arc::new(StringArray::from(kind_of.clone())));
    fields.push(Field::new("is_injected", DataType::Boolean, false));
    arrays.push(Arc::new(BooleanArray::from(
        kind_of.iter().map(Option::is_some).collect::<Vec<_>>(),
    )));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?;
    Ok(DemoData { batch, injected })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_shaped() {
        let a = generate(1000, 8, 3).unwrap();
        let b = generate(1000, 8, 3).unwrap();
        assert_eq!(a.batch, b.batch);
        assert_eq!(a.batch.num_rows(), 1000);
        assert_eq!(a.injected.len(), 8);
        assert_eq!(a.batch.num_columns(), 2 + FEATURES.len() + 2);
    }
}
