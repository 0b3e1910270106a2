//! The model in use, and its hot reload.
//!
//! The run loop stats the model file every `reload_interval`. When its modification time, size or
//! inode changes, the file is loaded on a blocking thread and validated: it must load (the model
//! file's own checks: format version, checksum, consistency), expect the same features in the same
//! order as the model in use (the input's shape is derived from them), and give finite outputs on
//! a probe row. A file that passes replaces the model for every batch cut from then on; batches
//! already cut finish with the model they started with, and each output names the version that
//! scored it. A file that fails is refused with a logged reason and counted; the old model stays,
//! and the same file is not tried again until it changes.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ndarray::Array2;

use super::encode::ModelTag;
use super::features::FeatureShape;
use crate::error::{Error, Result};
use crate::model::{Autoencoder, MissingPolicy};

/// A validated model with what the stage derives from it.
#[derive(Debug)]
pub struct ActiveModel {
    /// Name and version as written to outputs.
    pub tag: ModelTag,
    /// The model.
    pub model: Autoencoder,
    /// The shape text messages must have.
    pub shape: FeatureShape,
    /// `true` when the model fills missing features itself.
    pub impute_missing: bool,
}

impl ActiveModel {
    /// Validates `model` (finite outputs on a probe row) and derives the input shape.
    pub fn new(name: &str, model: Autoencoder) -> Result<Self> {
        probe(name, &model)?;
        let version = model.summary().version;
        Ok(Self {
            tag: ModelTag::new(name, &version),
            shape: FeatureShape::from_feature_names(model.feature_names()),
            impute_missing: model.missing_policy() == MissingPolicy::ImputeMean,
            model,
        })
    }

    /// Loads and validates a model file; the name is the file's stem.
    pub fn load(path: &Path) -> Result<Self> {
        let model = Autoencoder::load(path)?;
        Self::new(&model_name(path), model)
    }

    /// Loads a replacement for `self` from `path`: it must also expect `self`'s features.
    pub fn load_replacement(&self, path: &Path) -> Result<Self> {
        let next = Self::load(path)?;
        if next.model.feature_names() != self.model.feature_names() {
            return Err(Error::model_file(
                path.display().to_string(),
                format!(
                    "expects features [{}] but the running model expects [{}]; restart the stage \
                     to change features",
                    next.model.feature_names().join(", "),
                    self.model.feature_names().join(", ")
                ),
            ));
        }
        Ok(next)
    }
}

/// The model's name as written to outputs: the file's stem.
pub fn model_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".to_string())
}

/// Encodes and scores a row of zeros (original units): every output must be finite.
fn probe(name: &str, model: &Autoencoder) -> Result<()> {
    let n = model.n_features();
    if n == 0 {
        return Err(Error::model_file(name, "the model has no features"));
    }
    let x = Array2::<f32>::zeros((1, n));
    let errors = model.reconstruction_error(x.view())?;
    let z = model.encode(x.view())?;
    if errors.iter().any(|e| !e.is_finite()) || z.iter().any(|v| !v.is_finite()) {
        return Err(Error::model_file(
            name,
            "gives non-finite outputs on a probe row of zeros",
        ));
    }
    Ok(())
}

/// What identifies one version of a file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl FileStamp {
    /// The stamp of `path` now; `None` when it cannot be read (e.g. mid-rename).
    pub fn of(path: &Path) -> Option<Self> {
        let m = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&m);
        #[cfg(not(unix))]
        let inode = 0;
        Some(Self {
            modified: m.modified().ok(),
            len: m.len(),
            inode,
        })
    }
}

/// Notices changes of the model file.
#[derive(Debug)]
pub struct ModelWatcher {
    path: PathBuf,
    /// The version in use, or the last one refused.
    seen: Option<FileStamp>,
}

impl ModelWatcher {
    /// Watches `path`, taking its current state as the one in use.
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            seen: FileStamp::of(path),
        }
    }

    /// The watched path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `Some(stamp)` when the file changed since the last call; the change is consumed, so a
    /// refused file is not retried until it changes again.
    pub fn poll(&mut self) -> Option<FileStamp> {
        let now = FileStamp::of(&self.path)?;
        if self.seen.as_ref() == Some(&now) {
            return None;
        }
        self.seen = Some(now.clone());
        Some(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watcher_reports_each_change_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        std::fs::write(&p, b"one").unwrap();
        let mut w = ModelWatcher::new(&p);
        assert_eq!(w.poll(), None);
        // Replace by rename, as an atomic save does.
        let tmp = dir.path().join("m.tmp");
        std::fs::write(&tmp, b"second").unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        assert!(w.poll().is_some());
        assert_eq!(w.poll(), None);
        std::fs::remove_file(&p).unwrap();
        assert_eq!(w.poll(), None, "a missing file is not a change");
        assert_eq!(model_name(&p), "m");
    }
}
