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

/// Name the file an error happened in, keeping the error as the cause
/// (`column 'x': …` → `data.csv: column 'x': …`). An I/O error on that very file already names
/// it and is returned as is.
pub(crate) fn in_file(e: Error, path: &Path) -> Error {
    match e {
        Error::Io { path: ref p, .. } if p == path => e,
        other => other.context(path.display().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn in_file_names_the_file_and_keeps_the_cause() {
        let e = in_file(Error::data("column 'x'", "not found"), Path::new("d.csv"));
        assert_eq!(e.to_string(), "d.csv: column 'x': not found");
        let cause = e.source().and_then(|s| s.downcast_ref::<Error>());
        assert!(matches!(cause, Some(Error::Data { .. })), "{e:?}");

        let e = in_file(
            Error::config("columns", "no column 'q'"),
            Path::new("d.csv"),
        );
        assert_eq!(
            e.to_string(),
            "d.csv: invalid value for columns: no column 'q'"
        );
        assert!(matches!(e.root(), Error::Config { option, .. } if option == "columns"));

        let io = Error::io("d.csv", std::io::ErrorKind::NotFound.into());
        assert!(matches!(in_file(io, Path::new("d.csv")), Error::Io { .. }));
    }
}
