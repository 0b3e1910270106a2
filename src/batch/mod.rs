//! Parquet / CSV / NDJSON batch jobs with bounded memory.
//!
//! Files are read and written with arrow's and parquet's own readers and writers, one record batch
//! at a time:
//! - [`score_file`] and [`encode_file`] stream: read a batch, add the model's columns, write it.
//!   Peak memory is a few batches plus one Parquet row group, whatever the file size.
//! - [`read_training_data`] keeps only the feature columns, as f32, and at most `max_rows` rows: a
//!   uniform random sample (reservoir sampling, seeded) when the file is larger.
//!
//! Outputs go to a temporary file next to the destination and are renamed into place only when
//! complete, so a failure never leaves half an output behind.

mod format;
mod job;
mod read;
mod train;
mod write;

pub use crate::arrow::Reservoir;
pub use format::FileFormat;
pub use job::{JobOptions, JobReport, encode_file, score_file};
pub use read::{BatchReader, DEFAULT_BATCH_SIZE, FileSource, known_row_count};
pub use train::{TrainingData, TrainingOptions, read_training_data};
pub use write::BatchWriter;

use std::path::Path;

use crate::error::Error;

/// Name the file in a data error about one of its columns or rows
/// (`column 'x': …` → `data.csv, column 'x': …`).
pub(crate) fn in_file(e: Error, path: &Path) -> Error {
    match e {
        Error::Data { input, message } => Error::Data {
            input: format!("{}, {input}", path.display()),
            message,
        },
        Error::Config { option, message } => Error::Config {
            option,
            message: format!("{message} (in {})", path.display()),
        },
        other => other,
    }
}
