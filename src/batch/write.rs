//! Writing record batches to Parquet / CSV / NDJSON, atomically: into a temporary file next to
//! the destination, renamed over it by [`BatchWriter::finish`]. A writer dropped before `finish`
//! (an error, a panic) removes its temporary file and leaves the destination untouched.
//!
//! CSV has no list type: `FixedSizeList` columns (such as `latent`) are written as one column per
//! element, `latent_0`, `latent_1`, …; other nested columns are refused with a clear error.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use ::arrow::compute::take;
use ::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use parquet::arrow::{ArrowSchemaConverter, ArrowWriter};
use parquet::basic::{Compression, Type as PhysicalType};
use parquet::file::properties::WriterProperties;

use super::format::FileFormat;
use crate::error::{Error, Result};

/// Rows per Parquet row group written (bounded so writer memory does not grow with the file).
const ROW_GROUP_ROWS: usize = 64 * 1024;
/// A row group is also closed once its buffered data passes this many bytes (wide rows).
const ROW_GROUP_BYTES: usize = 64 * 1024 * 1024;

/// Writes batches of one schema to a file, atomically.
pub struct BatchWriter {
    dest: PathBuf,
    tmp: PathBuf,
    sink: Option<Sink>,
    rows: u64,
}

enum Sink {
    Parquet(ArrowWriter<BufWriter<File>>),
    Csv(::arrow::csv::Writer<BufWriter<File>>, SchemaRef),
    Ndjson(::arrow::json::LineDelimitedWriter<BufWriter<File>>),
}

impl BatchWriter {
    /// Start writing `path` in `format`; nothing appears at `path` until [`BatchWriter::finish`].
    pub fn create(path: &Path, format: FileFormat, schema: SchemaRef) -> Result<Self> {
        let name = path.display().to_string();
        let file_name = path
            .file_name()
            .ok_or_else(|| Error::data(&name, "is not a file path"))?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(Error::data(
                &name,
                format!("the directory {} does not exist", dir.display()),
            ));
        }
        let tmp = dir.join(format!(
            ".{}.aeflow-tmp-{}",
            file_name.to_string_lossy(),
            std::process::id()
        ));
        // Checked before creating anything, so a refused schema leaves no file behind.
        let csv_schema = match format {
            FileFormat::Csv => Some(csv_schema(&schema)?),
            _ => None,
        };
        let file = File::create(&tmp).map_err(|e| Error::io(path, e))?;
        let out = BufWriter::with_capacity(1 << 20, file);
        let sink = match format {
            FileFormat::Parquet => {
                let props = parquet_properties(&schema);
                let writer = ArrowWriter::try_new(out, schema, Some(props));
                match writer {
                    Ok(w) => Sink::Parquet(w),
                    Err(e) => {
                        let _ = std::fs::remove_file(&tmp);
                        return Err(Error::data(name, format!("cannot write Parquet: {e}")));
                    }
                }
            }
            FileFormat::Csv => Sink::Csv(
                ::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(out),
                Arc::new(csv_schema.unwrap_or_else(Schema::empty)),
            ),
            FileFormat::Ndjson => Sink::Ndjson(
                ::arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, ::arrow::json::writer::LineDelimited>(out),
            ),
        };
        Ok(BatchWriter {
            dest: path.to_path_buf(),
            tmp,
            sink: Some(sink),
            rows: 0,
        })
    }

    /// Append one batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let name = self.dest.display().to_string();
        let fail = |e: String| Error::data(&name, format!("cannot write: {e}"));
        match self.sink.as_mut() {
            Some(Sink::Parquet(w)) => {
                w.write(batch).map_err(|e| fail(e.to_string()))?;
                if w.memory_size() > ROW_GROUP_BYTES {
                    w.flush().map_err(|e| fail(e.to_string()))?;
                }
            }
            Some(Sink::Csv(w, schema)) => {
                let flat = flatten_for_csv(batch, schema)?;
                w.write(&flat).map_err(|e| fail(e.to_string()))?;
            }
            Some(Sink::Ndjson(w)) => w.write(batch).map_err(|e| fail(e.to_string()))?,
            None => return Err(Error::Internal("write after finish".into())),
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Complete the file, make it durable and move it to its destination. Returns the row count.
    pub fn finish(mut self) -> Result<u64> {
        let name = self.dest.display().to_string();
        let fail = |e: String| Error::data(&name, format!("cannot write: {e}"));
        let out = match self.sink.take() {
            Some(Sink::Parquet(w)) => w.into_inner().map_err(|e| fail(e.to_string()))?,
            Some(Sink::Csv(w, _)) => w.into_inner(),
            Some(Sink::Ndjson(mut w)) => {
                w.finish().map_err(|e| fail(e.to_string()))?;
                w.into_inner()
            }
            None => return Err(Error::Internal("finish called twice".into())),
        };
        let file = out
            .into_inner()
            .map_err(|e| Error::io(&self.dest, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&self.dest, e))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| Error::io(&self.dest, e))?;
        Ok(self.rows)
    }
}

impl Drop for BatchWriter {
    fn drop(&mut self) {
        if self.sink.is_some() {
            // Not finished: the partial output must not survive.
            self.sink = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl std::fmt::Debug for BatchWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchWriter")
            .field("dest", &self.dest)
            .field("rows", &self.rows)
            .finish()
    }
}

/// Snappy, bounded row groups, and no dictionary for floating-point columns: measured floats
/// are nearly all distinct, so a dictionary only costs time (about 2.5x on `benches/batch.rs`)
/// and space. Other columns (text, integers, flags) keep parquet's default dictionary.
fn parquet_properties(schema: &Schema) -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    if let Ok(descr) = ArrowSchemaConverter::new().convert(schema) {
        for column in descr.columns() {
            if matches!(
                column.physical_type(),
                PhysicalType::FLOAT | PhysicalType::DOUBLE
            ) {
                props = props.set_column_dictionary_enabled(column.path().clone(), false);
            }
        }
    }
    props.build()
}

/// The CSV view of a schema: `FixedSizeList` columns become one column per element.
fn csv_schema(schema: &Schema) -> Result<Schema> {
    let mut fields: Vec<FieldRef> = Vec::new();
    for f in schema.fields() {
        match f.data_type() {
            DataType::FixedSizeList(item, n) if !item.data_type().is_nested() => {
                for i in 0..*n {
                    fields.push(Arc::new(Field::new(
                        format!("{}_{i}", f.name()),
                        item.data_type().clone(),
                        true,
                    )));
                }
            }
            dt if dt.is_nested() => {
                return Err(Error::data(
                    format!("column '{}'", f.name()),
                    format!(
                        "has type {dt}, which CSV cannot hold; write Parquet or NDJSON instead"
                    ),
                ));
            }
            _ => fields.push(f.clone()),
        }
    }
    Ok(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `batch` with each `FixedSizeList` column split into one column per element.
fn flatten_for_csv(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for column in batch.columns() {
        match column.data_type() {
            DataType::FixedSizeList(_, n) => {
                let list = column.as_fixed_size_list();
                let n = usize::try_from(*n).unwrap_or(0);
                for i in 0..n {
                    // Element i of every row; NULL rows stay NULL.
                    let idx: UInt32Array = (0..list.len())
                        .map(|r| list.is_valid(r).then(|| (r * n + i) as u32))
                        .collect();
                    columns.push(take(list.values().as_ref(), &idx, None)?);
                }
            }
            _ => columns.push(column.clone()),
        }
    }
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}
