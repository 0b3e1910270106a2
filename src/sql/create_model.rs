//! `CREATE [OR REPLACE] MODEL name OPTIONS (…) AS query`: train on a query's result.
//!
//! The query runs in the session and its result streams, batch by batch, into a
//! [`TrainingSample`]: only the feature columns are kept, as f32, and at most `max_rows` rows of
//! them (a uniform random sample of a larger result), so a large table never sits in memory.
//! Training runs with the options of [`TrainOptions`] on a blocking thread (training is CPU work
//! and must not stall the async runtime). The model is then saved into the registry's model directory, when it has
//! one (atomically, by the model's own `save`), and only then registered, so a failed save
//! leaves the session as it was. The statement returns one row summarising the model.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use crate::arrow::TrainingSample;
use crate::error::{Error, Result};
use crate::model::{Autoencoder, EpochRecord, TrainObserver};
use crate::sql::registry::{ModelRegistry, ModelSource};
use crate::sql::statement::OptionValue;
use crate::sql::train_options::{TrainOptions, sql_spelling};

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("n_features", DataType::Int64, false),
        Field::new("latent_dim", DataType::Int64, false),
        Field::new("rows", DataType::Int64, false),
        Field::new("epochs", DataType::Int64, false),
        Field::new("train_loss", DataType::Float64, true),
        Field::new("val_loss", DataType::Float64, true),
        Field::new("threshold", DataType::Float64, true),
        Field::new("saved_to", DataType::Utf8, true),
    ]))
});

/// The parts of a parsed `CREATE MODEL` statement.
pub(crate) struct CreateModel<'a> {
    pub name: &'a str,
    pub or_replace: bool,
    pub if_not_exists: bool,
    pub options: &'a [(String, OptionValue)],
    pub query: &'a str,
}

/// Run `CREATE MODEL`; `None` when `IF NOT EXISTS` found the model already there.
pub(crate) async fn create_model(
    ctx: &SessionContext,
    registry: &ModelRegistry,
    stmt: CreateModel<'_>,
) -> Result<Option<RecordBatch>> {
    let name = stmt.name.to_string();
    if registry.contains(&name) {
        if stmt.if_not_exists {
            return Ok(None);
        }
        if !stmt.or_replace {
            return Err(Error::config(
                format!("CREATE MODEL {name}"),
                "a model of that name exists; use CREATE OR REPLACE MODEL to replace it, or DROP MODEL first",
            ));
        }
    }
    // Options are checked before the (possibly long) query runs.
    let TrainOptions {
        config,
        selection,
        threshold,
        max_rows,
    } = TrainOptions::from_options(stmt.options)?;
    let mut sample = TrainingSample::new(selection, max_rows, config.seed, config.missing);
    let mut stream = ctx.sql(stmt.query).await?.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        sample.offer(&batch?).map_err(sql_spelling)?;
    }
    let rows = sample.rows_seen();
    if rows == 0 {
        return Err(Error::data(
            format!("CREATE MODEL {name}"),
            "the training query returned no rows",
        ));
    }

    let save_to = registry.path_in_model_dir(&name);
    let (model, saved) = {
        let name = name.clone();
        tokio::task::spawn_blocking(
            move || -> Result<(Autoencoder, Option<std::path::PathBuf>)> {
                let mut progress = LogProgress { name: &name };
                if sample.is_sampled() {
                    log::info!(
                        "CREATE MODEL {name}: the query returned {rows} rows; training on a uniform random sample of {max_rows} (max_rows)"
                    );
                }
                let mut model = sample.fit(&config, &mut progress).map_err(sql_spelling)?;
                if threshold.is_some() {
                    model.set_threshold(threshold);
                }
                if let Some(path) = &save_to {
                    model.save(path)?;
                }
                Ok((model, save_to))
            },
        )
        .await
        .map_err(|e| Error::Internal(format!("CREATE MODEL training task failed: {e}")))??
    };

    let batch = summary(&name, &model, rows, saved.as_deref())?;
    let source = match &saved {
        Some(path) => ModelSource::ModelDir(path.clone()),
        None => ModelSource::Trained,
    };
    let replaced = registry.get_entry(&name).ok();
    registry.insert(name, Arc::new(model), source);
    // The replaced model's file in the model directory under another extension (`m.aefm`
    // replaced by `m.aemodel`) would shadow the new one in the next session: remove it.
    if let (Some(new), Some(ModelSource::ModelDir(old))) = (&saved, replaced.map(|e| e.source))
        && &old != new
    {
        match std::fs::remove_file(&old) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&old, e)),
        }
    }
    Ok(Some(batch))
}

fn summary(
    name: &str,
    model: &Autoencoder,
    rows: u64,
    saved: Option<&std::path::Path>,
) -> Result<RecordBatch> {
    let s = model.summary();
    let (kind, _) = crate::sql::model_info::kind_parts(&s.kind);
    let last = s.history.last();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![name])),
        Arc::new(StringArray::from(vec![kind])),
        Arc::new(Int64Array::from(vec![s.features.len() as i64])),
        Arc::new(Int64Array::from(vec![s.latent_dim as i64])),
        Arc::new(Int64Array::from(vec![rows as i64])),
        Arc::new(Int64Array::from(vec![s.history.len() as i64])),
        Arc::new(Float64Array::from(vec![last.map(|r| r.train_loss)])),
        Arc::new(Float64Array::from(vec![last.and_then(|r| r.val_loss)])),
        Arc::new(Float64Array::from(vec![s.threshold])),
        Arc::new(StringArray::from(vec![
            saved.map(|p| p.display().to_string()),
        ])),
    ];
    Ok(RecordBatch::try_new(SCHEMA.clone(), columns)?)
}

/// Training progress as log lines (SQL has no progress bar).
struct LogProgress<'a> {
    name: &'a str,
}

impl TrainObserver for LogProgress<'_> {
    fn on_epoch_end(&mut self, r: &EpochRecord) {
        match r.val_loss {
            Some(v) => log::info!(
                "CREATE MODEL {}: epoch {} train_loss {:.6} val_loss {v:.6} ({:.2} s)",
                self.name,
                r.epoch,
                r.train_loss,
                r.seconds
            ),
            None => log::info!(
                "CREATE MODEL {}: epoch {} train_loss {:.6} ({:.2} s)",
                self.name,
                r.epoch,
                r.train_loss,
                r.seconds
            ),
        }
    }

    fn on_message(&mut self, message: &str) {
        log::info!("CREATE MODEL {}: {message}", self.name);
    }
}
