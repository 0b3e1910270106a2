//! The file formats aeflow reads and writes, told apart by extension unless the user says.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A tabular file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Apache Parquet (`.parquet`, `.pq`).
    Parquet,
    /// Comma-separated values with a header line (`.csv`).
    Csv,
    /// Newline-delimited JSON, one object per line (`.ndjson`, `.jsonl`, `.json`).
    Ndjson,
}

impl FileFormat {
    /// Every format, for help texts and errors.
    pub const ALL: [FileFormat; 3] = [FileFormat::Parquet, FileFormat::Csv, FileFormat::Ndjson];

    /// The format named by `path`'s extension (case-insensitive).
    pub fn from_path(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("parquet" | "pq") => Ok(FileFormat::Parquet),
            Some("csv") => Ok(FileFormat::Csv),
            Some("ndjson" | "jsonl" | "json") => Ok(FileFormat::Ndjson),
            _ => Err(Error::data(
                path.display().to_string(),
                "cannot tell the file format from the extension (expected .parquet, .csv, \
                 .ndjson, .jsonl or .json); name it with `format` (parquet, csv or ndjson)",
            )),
        }
    }

    /// `explicit` if given, else the format of `path`'s extension.
    pub fn resolve(explicit: Option<FileFormat>, path: &Path) -> Result<Self> {
        match explicit {
            Some(f) => Ok(f),
            None => Self::from_path(path),
        }
    }
}

impl FromStr for FileFormat {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "parquet" | "pq" => Ok(FileFormat::Parquet),
            "csv" => Ok(FileFormat::Csv),
            "ndjson" | "jsonl" | "json" => Ok(FileFormat::Ndjson),
            _ => Err(Error::config(
                "format",
                format!("unknown format '{s}'; expected parquet, csv or ndjson"),
            )),
        }
    }
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Csv => "csv",
            FileFormat::Ndjson => "ndjson",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_and_names() {
        assert_eq!(
            FileFormat::from_path(Path::new("a/b.PARQUET")).unwrap(),
            FileFormat::Parquet
        );
        assert_eq!(
            FileFormat::from_path(Path::new("x.jsonl")).unwrap(),
            FileFormat::Ndjson
        );
        assert_eq!(
            FileFormat::from_path(Path::new("x.csv")).unwrap(),
            FileFormat::Csv
        );
        let e = FileFormat::from_path(Path::new("x.txt"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("x.txt") && e.contains("`format`") && !e.contains("--"),
            "{e}"
        );
        assert_eq!("CSV".parse::<FileFormat>().unwrap(), FileFormat::Csv);
        assert!("xml".parse::<FileFormat>().is_err());
        for f in FileFormat::ALL {
            assert_eq!(f.to_string().parse::<FileFormat>().unwrap(), f);
        }
    }
}
