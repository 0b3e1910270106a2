//! The models a SQL session can name: a shared, mutable map from name to trained [`Autoencoder`].
//!
//! One [`ModelRegistry`] is shared (it is a cheap handle over `Arc<RwLock<…>>`) by every aeflow
//! function registered in a session, by the table functions and by the `CREATE / DROP MODEL`
//! statements. A query resolves its model by name when it is planned (to learn the return type)
//! and again when it runs, so models registered or replaced later are seen by later queries.
//!
//! A registry may have a *model directory*: at creation every model file in it is registered
//! under its file stem, `CREATE MODEL` saves new models there and `DROP MODEL` removes their
//! files. Models registered from other files or from memory are never written or deleted.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::error::{Error, Result};
use crate::model::Autoencoder;

/// File extensions recognised as model files when a directory is scanned (a model file is a
/// safetensors file; `aemodel` is the convention, `aefm` was written by early versions). The first one is used when
/// `CREATE MODEL` saves into the model directory.
pub const MODEL_EXTENSIONS: [&str; 3] = ["aemodel", "aefm", "safetensors"];

/// Where a registered model came from (shown by `SHOW MODELS`): the model layer's one
/// definition. `CREATE MODEL` gives [`ModelSource::ModelDir`] when it saves into the model
/// directory, else [`ModelSource::Trained`].
pub use crate::model::ModelSource;

/// A model with its provenance.
#[derive(Debug, Clone)]
pub struct RegisteredModel {
    /// The model, shared with running queries.
    pub model: Arc<Autoencoder>,
    /// Where it came from.
    pub source: ModelSource,
}

#[derive(Debug, Default)]
struct Inner {
    models: BTreeMap<String, RegisteredModel>,
    model_dir: Option<PathBuf>,
}

/// Named models shared by the aeflow functions of one or more sessions. Cloning gives another
/// handle to the same registry.
#[derive(Debug, Clone, Default)]
pub struct ModelRegistry {
    inner: Arc<RwLock<Inner>>,
}

impl ModelRegistry {
    /// An empty registry without a model directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry whose model directory is `dir` (created if missing): every model file in it is
    /// registered under its file stem, and `CREATE MODEL` saves there.
    pub fn with_model_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let registry = Self::new();
        for (name, path) in model_files(dir)? {
            let model = Autoencoder::load(&path)?;
            registry.insert(name, Arc::new(model), ModelSource::ModelDir(path));
        }
        registry.write().model_dir = Some(dir.to_path_buf());
        Ok(registry)
    }

    /// The model directory, if this registry has one.
    pub fn model_dir(&self) -> Option<PathBuf> {
        self.read().model_dir.clone()
    }

    /// Register (or replace) `name` with a model held in memory.
    pub fn register(&self, name: impl Into<String>, model: Autoencoder) -> Result<()> {
        let name = checked_name(name.into())?;
        self.insert(name, Arc::new(model), ModelSource::Memory);
        Ok(())
    }

    /// Register (or replace) `name` with the model in `path`. The file is fully validated first;
    /// on error nothing changes.
    pub fn register_file(&self, name: impl Into<String>, path: impl AsRef<Path>) -> Result<()> {
        let name = checked_name(name.into())?;
        let path = path.as_ref();
        let model = Autoencoder::load(path)?;
        self.insert(name, Arc::new(model), ModelSource::File(path.to_path_buf()));
        Ok(())
    }

    /// Register every model file of `dir` under its file stem (replacing models of the same name)
    /// and return the names, sorted. All files are loaded before any is registered, so a bad file
    /// leaves the registry unchanged.
    pub fn register_dir(&self, dir: impl AsRef<Path>) -> Result<Vec<String>> {
        let dir = dir.as_ref();
        let mut loaded = Vec::new();
        for (name, path) in model_files(dir)? {
            let model = Autoencoder::load(&path)?;
            loaded.push((name, model, path));
        }
        let names = loaded.iter().map(|(n, _, _)| n.clone()).collect();
        for (name, model, path) in loaded {
            self.insert(name, Arc::new(model), ModelSource::File(path));
        }
        Ok(names)
    }

    /// Register (or replace) a model with an explicit source. Used by `CREATE MODEL`.
    pub(crate) fn insert(&self, name: String, model: Arc<Autoencoder>, source: ModelSource) {
        self.write()
            .models
            .insert(name, RegisteredModel { model, source });
    }

    /// The model called `name`, or [`Error::UnknownModel`] listing the registered ones.
    pub fn get(&self, name: &str) -> Result<Arc<Autoencoder>> {
        self.get_entry(name).map(|e| e.model)
    }

    /// The model called `name` with its source.
    pub fn get_entry(&self, name: &str) -> Result<RegisteredModel> {
        let inner = self.read();
        inner
            .models
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownModel {
                name: name.to_string(),
                available: list_or_none(inner.models.keys()),
            })
    }

    /// `true` when a model called `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.read().models.contains_key(name)
    }

    /// Registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.read().models.keys().cloned().collect()
    }

    /// Every registered model with its name, sorted by name.
    pub fn entries(&self) -> Vec<(String, RegisteredModel)> {
        let inner = self.read();
        inner
            .models
            .iter()
            .map(|(n, e)| (n.clone(), e.clone()))
            .collect()
    }

    /// Remove `name` from the registry and return it. A model that lives in the model directory
    /// also loses its file (that directory is the session's persistent catalogue).
    pub fn deregister(&self, name: &str) -> Result<RegisteredModel> {
        let mut inner = self.write();
        let Some(entry) = inner.models.remove(name) else {
            return Err(Error::UnknownModel {
                name: name.to_string(),
                available: list_or_none(inner.models.keys()),
            });
        };
        if let ModelSource::ModelDir(path) = &entry.source {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    // Keep registry and directory consistent: the model stays registered.
                    let err = Error::io(path, e);
                    inner.models.insert(name.to_string(), entry);
                    return Err(err);
                }
            }
        }
        Ok(entry)
    }

    /// The path `CREATE MODEL name` saves to, when there is a model directory.
    pub(crate) fn path_in_model_dir(&self, name: &str) -> Option<PathBuf> {
        self.model_dir()
            .map(|dir| dir.join(format!("{name}.{}", MODEL_EXTENSIONS[0])))
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        // The map is always consistent (every write is a single insert or remove), so a panic in
        // another thread holding the lock leaves nothing to repair.
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Two handles are equal when they share the same registry (DataFusion compares functions).
impl PartialEq for ModelRegistry {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for ModelRegistry {}

impl Hash for ModelRegistry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::ptr::hash(Arc::as_ptr(&self.inner), state);
    }
}

fn checked_name(name: String) -> Result<String> {
    if name.trim().is_empty() {
        return Err(Error::config("model", "expected a non-empty model name"));
    }
    Ok(name)
}

fn list_or_none<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let list = names.map(String::as_str).collect::<Vec<_>>().join(", ");
    if list.is_empty() {
        "none".to_string()
    } else {
        list
    }
}

/// `(stem, path)` of every model file directly inside `dir`, sorted.
fn model_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let is_model = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| MODEL_EXTENSIONS.contains(&e));
        if !is_model || !path.is_file() {
            continue;
        }
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            return Err(Error::model_file(
                path.display().to_string(),
                "the file name is not valid UTF-8, so it cannot name a model",
            ));
        };
        files.push((stem.to_string(), path.clone()));
    }
    files.sort();
    // Two files with one stem (m.aemodel and m.safetensors) would silently shadow each other.
    for pair in files.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err(Error::model_file(
                dir.display().to_string(),
                format!(
                    "two model files are named '{}': {} and {}",
                    pair[0].0,
                    pair[0].1.display(),
                    pair[1].1.display()
                ),
            ));
        }
    }
    Ok(files)
}
