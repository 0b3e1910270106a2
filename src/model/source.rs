//! Where a model comes from: one answer for every surface (the SQL registry shows it in
//! `SHOW MODELS`, the Kafka stage loads and watches a file source).

use std::fmt;
use std::path::{Path, PathBuf};

/// Where a model comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A value handed over in memory by the caller.
    Memory,
    /// A model file (it may be reloaded when it changes; it is never written or deleted).
    File(PathBuf),
    /// A file in a model directory: a catalogue that its owner saves new models into and
    /// deletes dropped ones from.
    ModelDir(PathBuf),
    /// Trained in this process and not saved: it lives in memory only.
    Trained,
}

impl ModelSource {
    /// The model file, for a source that is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            ModelSource::File(p) | ModelSource::ModelDir(p) => Some(p),
            ModelSource::Memory | ModelSource::Trained => None,
        }
    }

    /// A one-line description, e.g. `file /data/m.aemodel` (the [`Display`](fmt::Display) text).
    pub fn describe(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for ModelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSource::Memory => f.write_str("memory"),
            ModelSource::File(p) => write!(f, "file {}", p.display()),
            ModelSource::ModelDir(p) => write!(f, "model directory {}", p.display()),
            ModelSource::Trained => f.write_str("trained in this session (not saved)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_sources_have_a_path_and_every_source_a_description() {
        let file = ModelSource::File(PathBuf::from("/m/a.aemodel"));
        assert_eq!(file.path(), Some(Path::new("/m/a.aemodel")));
        assert_eq!(file.describe(), "file /m/a.aemodel");
        let dir = ModelSource::ModelDir(PathBuf::from("/m/b.aemodel"));
        assert_eq!(dir.path(), Some(Path::new("/m/b.aemodel")));
        assert_eq!(dir.to_string(), "model directory /m/b.aemodel");
        assert_eq!(ModelSource::Memory.path(), None);
        assert_eq!(ModelSource::Trained.path(), None);
        assert_eq!(
            ModelSource::Trained.describe(),
            "trained in this session (not saved)"
        );
    }
}
