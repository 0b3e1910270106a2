//! Opening a Parquet / CSV / NDJSON file and reading it one record batch at a time.
//!
//! CSV and NDJSON carry no schema: it is inferred from the whole file first (one streaming pass,
//! so a column that turns from integer to float late in the file is still read correctly), then
//! the file is read again batch by batch.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::arrow::array::RecordBatch;
use ::arrow::datatypes::{Schema, SchemaRef};
use ::arrow::error::ArrowError;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::format::FileFormat;
use crate::error::{Error, Result};

/// Rows per record batch when reading files.
pub const DEFAULT_BATCH_SIZE: usize = 8192;

/// An input file whose schema is known: open once, read as often as needed.
#[derive(Debug, Clone)]
pub struct FileSource {
    path: PathBuf,
    format: FileFormat,
    schema: SchemaRef,
    rows: Option<u64>,
}

impl FileSource {
    /// Open `path` (format from the extension unless given) and learn its schema.
    ///
    /// Errors name the file: missing, a directory, empty, not readable in the format, no columns.
    pub fn open(path: &Path, format: Option<FileFormat>) -> Result<Self> {
        let format = FileFormat::resolve(format, path)?;
        let file = open_file(path)?;
        let name = path.display().to_string();
        let (schema, rows) = match format {
            FileFormat::Parquet => {
                let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
                    Error::data(&name, format!("not a readable Parquet file ({e})"))
                })?;
                let rows = builder.metadata().file_metadata().num_rows();
                (
                    builder.schema().clone(),
                    Some(u64::try_from(rows).unwrap_or(0)),
                )
            }
            FileFormat::Csv => {
                let (schema, _) = ::arrow::csv::reader::Format::default()
                    .with_header(true)
                    .infer_schema(BufReader::new(file), None)
                    .map_err(|e| Error::data(&name, format!("not readable as CSV ({e})")))?;
                (Arc::new(schema), None)
            }
            FileFormat::Ndjson => {
                let (schema, _) =
                    ::arrow::json::reader::infer_json_schema(BufReader::new(file), None)
                        .map_err(|e| Error::data(&name, format!("not readable as NDJSON ({e})")))?;
                (Arc::new(in_file_order(schema, path)), None)
            }
        };
        if schema.fields().is_empty() {
            return Err(Error::data(
                name,
                format!("has no columns (read as {format})"),
            ));
        }
        Ok(FileSource {
            path: path.to_path_buf(),
            format,
            schema,
            rows,
        })
    }

    /// The file's schema (inferred for CSV and NDJSON).
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The file's format.
    pub fn format(&self) -> FileFormat {
        self.format
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of rows when the file says so without being read (Parquet).
    pub fn num_rows(&self) -> Option<u64> {
        self.rows
    }

    /// Read the file batch by batch, keeping only the `projection` columns (schema indices, in
    /// schema order) when given.
    pub fn batches(&self, projection: Option<&[usize]>, batch_size: usize) -> Result<BatchReader> {
        let batch_size = batch_size.max(1);
        let file = open_file(&self.path)?;
        let name = self.path.display().to_string();
        let schema = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        let inner: Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>> + Send> = match self
            .format
        {
            FileFormat::Parquet => {
                let mut builder = ParquetRecordBatchReaderBuilder::try_new(file)
                    .map_err(|e| Error::data(&name, format!("not a readable Parquet file ({e})")))?
                    .with_batch_size(batch_size);
                if let Some(p) = projection {
                    let mask = ProjectionMask::roots(builder.parquet_schema(), p.iter().copied());
                    builder = builder.with_projection(mask);
                }
                Box::new(
                    builder
                        .build()
                        .map_err(|e| Error::data(&name, e.to_string()))?,
                )
            }
            FileFormat::Csv => {
                let mut builder = ::arrow::csv::ReaderBuilder::new(self.schema.clone())
                    .with_header(true)
                    .with_batch_size(batch_size);
                if let Some(p) = projection {
                    builder = builder.with_projection(p.to_vec());
                }
                Box::new(builder.build(BufReader::new(file))?)
            }
            FileFormat::Ndjson => {
                let reader = ::arrow::json::ReaderBuilder::new(self.schema.clone())
                    .with_batch_size(batch_size)
                    .build(BufReader::new(file))?;
                match projection {
                    None => Box::new(reader),
                    Some(p) => {
                        let p = p.to_vec();
                        Box::new(reader.map(move |b| b.and_then(|b| b.project(&p))))
                    }
                }
            }
        };
        Ok(BatchReader {
            inner,
            name,
            schema,
            rows_read: 0,
        })
    }
}

/// Record batches of one file, in order. Errors name the file and the failing row range.
pub struct BatchReader {
    inner: Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>> + Send>,
    name: String,
    schema: SchemaRef,
    rows_read: u64,
}

impl BatchReader {
    /// Schema of the batches (after projection).
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Rows returned so far.
    pub fn rows_read(&self) -> u64 {
        self.rows_read
    }
}

impl Iterator for BatchReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.inner.next()?;
        Some(match item {
            Ok(batch) => {
                self.rows_read += batch.num_rows() as u64;
                Ok(batch)
            }
            Err(e) => Err(Error::data(
                &self.name,
                format!("cannot read past row {}: {e}", self.rows_read),
            )),
        })
    }
}

impl std::fmt::Debug for BatchReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchReader")
            .field("file", &self.name)
            .field("rows_read", &self.rows_read)
            .finish()
    }
}

/// Open a regular, non-empty file for reading.
fn open_file(path: &Path) -> Result<File> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::data(
            path.display().to_string(),
            "is a directory; expected a Parquet, CSV or NDJSON file",
        ));
    }
    if meta.len() == 0 {
        return Err(Error::data(path.display().to_string(), "is empty"));
    }
    File::open(path).map_err(|e| Error::io(path, e))
}

/// The number of rows of a file when it is known without reading the data (a Parquet footer);
/// `None` for CSV / NDJSON or anything unreadable.
pub fn known_row_count(path: &Path, format: Option<FileFormat>) -> Option<u64> {
    match FileFormat::resolve(format, path).ok()? {
        FileFormat::Parquet => FileSource::open(path, Some(FileFormat::Parquet))
            .ok()?
            .num_rows(),
        _ => None,
    }
}

/// Objects whose keys are read in order, values skipped.
struct KeyOrder(Vec<String>);

impl<'de> serde::Deserialize<'de> for KeyOrder {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = KeyOrder;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<KeyOrder, A::Error> {
                let mut keys = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    keys.push(k);
                }
                Ok(KeyOrder(keys))
            }
        }
        d.deserialize_map(Keys)
    }
}

/// arrow's NDJSON inference sorts columns by name; put them back in the order they first appear
/// in the file (looking at the first 1000 objects), so columns are carried through as written.
fn in_file_order(schema: Schema, path: &Path) -> Schema {
    let Ok(file) = File::open(path) else {
        return schema;
    };
    let mut order: Vec<String> = Vec::new();
    let objects =
        serde_json::Deserializer::from_reader(BufReader::new(file)).into_iter::<KeyOrder>();
    for keys in objects.take(1000) {
        let Ok(KeyOrder(keys)) = keys else { break };
        for k in keys {
            if !order.contains(&k) {
                order.push(k);
            }
        }
    }
    let rank = |name: &str| order.iter().position(|k| k == name).unwrap_or(usize::MAX);
    let mut fields: Vec<_> = schema.fields().iter().cloned().collect();
    fields.sort_by_key(|f| rank(f.name()));
    Schema::new_with_metadata(fields, schema.metadata().clone())
}
