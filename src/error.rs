//! The one error type of aeflow, and its `Result` alias.
//!
//! Variants are grouped by kind. Messages name the input (file, column, model, option, message
//! offset) and say what was expected, because they are shown to users as one line.

use std::fmt;
use std::ops::Deref;
use std::path::PathBuf;

/// `Result<T, aeflow::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in aeflow.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ----- shapes and numbers (bugs in the caller's wiring, or bad matrices) -----
    /// Two shapes that must agree do not.
    #[error("shape mismatch in {op}: expected {expected}, got {got}")]
    Shape {
        /// The operation that checked the shape.
        op: &'static str,
        /// What it expected, e.g. `[*, 9]`.
        expected: String,
        /// What it was given.
        got: String,
    },

    // ----- user configuration -----
    /// An option or configuration value is out of range or inconsistent.
    #[error("invalid value for {option}: {message}")]
    Config {
        /// The option, e.g. `--hidden` or `epochs`.
        option: String,
        /// What is wrong and what was expected.
        message: String,
    },

    // ----- user data -----
    /// Input data is unusable: missing column, wrong type, NULL under the reject policy, empty file.
    #[error("{input}: {message}")]
    Data {
        /// The input: a file, a column, `row 17 of data.parquet`, a Kafka message.
        input: String,
        /// What is wrong and what was expected.
        message: String,
    },

    /// A model file (or model bytes) is missing, truncated, corrupted, of another format version, or
    /// inconsistent. Nothing of it is used.
    #[error("model {source_name}: {reason}")]
    ModelFile {
        /// Where the model came from (a path, or a registered name).
        source_name: String,
        /// Which check failed.
        reason: String,
    },

    /// A model asked for by name does not exist.
    #[error("unknown model '{name}'; registered models: {available}")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// The names that do exist, comma separated (or `none`).
        available: String,
    },

    // ----- systems underneath -----
    /// File system error on a path.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// Error from arrow (decoding, casting, IPC, CSV, JSON).
    #[cfg(feature = "io")]
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),

    /// Error from the Parquet reader or writer.
    #[cfg(feature = "io")]
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),

    /// Error from DataFusion (planning or execution).
    #[cfg(feature = "sql")]
    #[error("sql: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),

    /// Error from Kafka (librdkafka).
    #[cfg(feature = "kafka")]
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),

    /// Error from Polars (selecting columns, building frames, running a LazyFrame).
    #[cfg(feature = "polars")]
    #[error("polars: {0}")]
    Polars(#[from] polars::error::PolarsError),

    /// Error from Apache Ballista (scheduler, executor, cluster client).
    #[cfg(feature = "ballista")]
    #[error("ballista: {0}")]
    Ballista(#[from] ballista_core::error::BallistaError),

    /// A bug in aeflow: an invariant did not hold. Please report it.
    #[error("internal error (a bug in aeflow): {0}")]
    Internal(String),

    // ----- context -----
    /// Another error, with what was being done when it happened: the file, the SQL statement,
    /// the Kafka partition. The cause is kept as the [`source`](std::error::Error::source), not
    /// rewritten into a string, so callers can still match on it (see [`Error::root`]).
    #[error("{what}: {source}")]
    Context {
        /// What was being done, in the caller's vocabulary, e.g. `data.csv` or
        /// `statement 2 (SELECT …)`.
        what: String,
        /// The error underneath.
        #[source]
        source: Cause,
    },
}

impl Error {
    /// Shorthand for [`Error::Config`].
    pub fn config(option: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            option: option.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::Data`].
    pub fn data(input: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Data {
            input: input.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::ModelFile`].
    pub fn model_file(source_name: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::ModelFile {
            source_name: source_name.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// This error as the cause of an [`Error::Context`] saying `what` was being done.
    #[must_use]
    pub fn context(self, what: impl Into<String>) -> Self {
        Error::Context {
            what: what.into(),
            source: Cause(Box::new(self)),
        }
    }

    /// The error under every [`Error::Context`] layer: the one that says what went wrong.
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { source, .. } => source.root(),
            other => other,
        }
    }

    /// Shorthand for [`Error::Shape`].
    pub fn shape(op: &'static str, expected: impl Into<String>, got: impl Into<String>) -> Self {
        Error::Shape {
            op,
            expected: expected.into(),
            got: got.into(),
        }
    }
}

/// The error under an [`Error::Context`], boxed; it derefs to that [`Error`].
///
/// It is deliberately not an error type itself: so `source()` of a context hands out the
/// [`Error`] inside, and `e.source().and_then(|c| c.downcast_ref::<aeflow::Error>())` finds it.
pub struct Cause(Box<Error>);

impl Cause {
    /// The error inside.
    pub fn into_inner(self) -> Error {
        *self.0
    }
}

impl Deref for Cause {
    type Target = Error;

    fn deref(&self) -> &Error {
        &self.0
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// [`Error::context`] on a `Result`, for `?` chains: `load(path).context("loading the model")?`.
pub trait ResultExt<T> {
    /// The error, if any, as the cause of an [`Error::Context`] saying `what` was being done.
    fn context(self, what: impl Into<String>) -> Result<T>;

    /// Like [`ResultExt::context`], building the description only on error.
    fn with_context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T>;
}

impl<T, E: Into<Error>> ResultExt<T> for std::result::Result<T, E> {
    fn context(self, what: impl Into<String>) -> Result<T> {
        self.map_err(|e| e.into().context(what))
    }

    fn with_context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| e.into().context(what()))
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn context_shows_what_then_the_cause_and_keeps_the_cause_as_source() {
        let e = Error::data("column 'x'", "has type Utf8").context("data.csv");
        assert_eq!(e.to_string(), "data.csv: column 'x': has type Utf8");
        let source = e.source().expect("the cause is kept");
        let cause = source.downcast_ref::<Error>().expect("an aeflow error");
        assert!(matches!(cause, Error::Data { input, .. } if input == "column 'x'"));

        let nested: Result<()> = Err(e).context("statement 2");
        let nested = nested.unwrap_err();
        assert_eq!(
            nested.to_string(),
            "statement 2: data.csv: column 'x': has type Utf8"
        );
        assert!(matches!(nested.root(), Error::Data { .. }));
        let io: std::result::Result<(), Error> =
            Err(Error::io("m.aemodel", std::io::ErrorKind::NotFound.into()));
        let e = io.with_context(|| "loading the model").unwrap_err();
        assert!(matches!(e.root(), Error::Io { .. }), "{e}");
    }
}
