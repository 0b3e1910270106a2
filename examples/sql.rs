//! aeflow in a DataFusion session (`cargo run --example sql`).
//!
//! Registers a table of pump readings, trains a model on it with `CREATE MODEL … AS SELECT`, and
//! ranks the rows by `ae_reconstruction_error` in plain SQL. `aeflow sql` runs the same statements
//! from the command line; `sql/quickstart.sql` is the script form.

use std::sync::Arc;

use aeflow::sql::{ModelRegistry, execute, register};
use arrow::array::{Float64Array, Int64Array, RecordBatch};
use arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

#[tokio::main(flavor = "current_thread")]
async fn main() -> aeflow::Result<()> {
    let ctx = SessionContext::new();
    register(&ctx, ModelRegistry::new());
    let readings = readings()?;
    let table = MemTable::try_new(readings.schema(), vec![vec![readings]])?;
    ctx.register_table("readings", Arc::new(table))?;

    // Train from a query: every option of `aeflow train` has the same name here.
    execute(
        &ctx,
        "CREATE MODEL pumps OPTIONS (epochs = 30, contamination = 0.01, seed = 7) \
         AS SELECT rpm, flow_m3h, power_kw FROM readings",
    )
    .await?;

    // Score in place: the rows the model reconstructs worst.
    let top = execute(
        &ctx,
        "SELECT id, rpm, flow_m3h, power_kw, \
                ae_reconstruction_error('pumps', rpm, flow_m3h, power_kw) AS error, \
                ae_is_anomaly('pumps', rpm, flow_m3h, power_kw) AS anomaly \
         FROM readings ORDER BY error DESC LIMIT 5",
    )
    .await?
    .collect()
    .await?;
    println!("{}", pretty_format_batches(&top)?);
    let ids = top[0]["id"]
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("id is Int64");
    assert_eq!(ids.value(0), 1234, "the planted fault ranks first");
    Ok(())
}

/// 5 000 readings whose flow and power follow the speed; row 1234 draws power without flow.
fn readings() -> aeflow::Result<RecordBatch> {
    let n = 5_000;
    let load: Vec<f64> = (0..n).map(|i| (f64::from(i) * 0.01).sin()).collect();
    let rpm: Vec<f64> = load.iter().map(|l| 1450.0 + 300.0 * l).collect();
    let flow: Vec<f64> = load.iter().map(|l| 14.0 + 4.0 * l).collect();
    let mut power: Vec<f64> = load.iter().map(|l| 7.5 + 2.5 * l).collect();
    power[1234] += 4.0;
    Ok(RecordBatch::try_from_iter([
        (
            "id",
            Arc::new(Int64Array::from_iter_values(0..i64::from(n))) as _,
        ),
        ("rpm", Arc::new(Float64Array::from(rpm)) as _),
        ("flow_m3h", Arc::new(Float64Array::from(flow)) as _),
        ("power_kw", Arc::new(Float64Array::from(power)) as _),
    ])?)
}
