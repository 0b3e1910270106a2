//! The model file: one safetensors file holding the weights as named tensors and everything else
//! as JSON in the safetensors metadata. The layout is specified in `docs/model-format.md`.
//!
//! Loading validates in this order, each failure with its own message: size and header
//! (truncated), safetensors structure (corrupted), `format` (not an aeflow model),
//! `format_version` (unsupported version), the metadata checksum and the weights checksum
//! (corrupted), then consistency of the metadata with itself and with the tensors
//! (inconsistent). Saving writes a temporary file in the target directory, syncs it, and renames
//! it over the target, so a crash leaves either the old file or the new one, never half of one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::Path;

use ndarray::{Array1, Array2};
use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::autoencoder::Autoencoder;
use super::config::ActivationKind;
use super::kind::Kind;
use super::parts::{ModelParts, Networks};
use super::scaler::Preprocessing;
use super::spatial_spec::{self, MAX_WIDTH, SpatialSpec};
use crate::error::{Error, Result};
use crate::nn::{Dense, Layer, Sequential};

/// Value of the `format` metadata key.
pub const FORMAT: &str = "aeflow.autoencoder";
/// The newest format version this build writes and reads. Version 2 added the variational and
/// convolutional kinds (a `2k`-wide variational encoder head, non-dense layers); a model of the
/// other kinds is still written as version 1, which readers of version 1 understand.
pub const FORMAT_VERSION: u32 = 2;

/// The oldest format version this build reads.
const OLDEST_VERSION: u32 = 1;

/// The format version a model of `kind` needs.
fn required_version(kind: &Kind) -> u32 {
    match kind {
        Kind::Variational(_) | Kind::Convolutional(_) => 2,
        _ => 1,
    }
}

/// Metadata keys.
const KEY_FORMAT: &str = "format";
const KEY_VERSION: &str = "format_version";
const KEY_MODEL: &str = "model";
const KEY_MODEL_SHA: &str = "model_sha256";
const KEY_TENSORS_SHA: &str = "tensors_sha256";

/// One layer as described in the metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LayerSpec {
    inputs: usize,
    outputs: usize,
    activation: ActivationKind,
    /// Non-dense layers (format version 2); absent for a dense layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spatial: Option<SpatialSpec>,
}

/// The networks as the `model` JSON describes them (the `layers` of [`ModelParts`]): the latent
/// size `k` and one entry per layer. The weights are the tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LayerList {
    latent_dim: usize,
    encoder: Vec<LayerSpec>,
    decoder: Vec<LayerSpec>,
}

impl LayerList {
    fn of(networks: &Networks) -> Self {
        LayerList {
            latent_dim: networks.latent_dim(),
            encoder: layer_specs(&networks.encoder),
            decoder: layer_specs(&networks.decoder),
        }
    }
}

/// The networks are written as their [`LayerList`] (their weights go to the tensors).
impl Serialize for Networks {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        LayerList::of(self).serialize(s)
    }
}

/// Why a step of loading refused the file, without the file's name (added by [`from_bytes`]).
type Reason<T> = std::result::Result<T, String>;

/// The file's tensors by name.
type Tensors<'a> = HashMap<&'a str, &'a TensorView<'a>>;

/// A tensor ready to be written: name, shape, little-endian f32 bytes.
struct OwnedTensor {
    name: String,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

fn le_bytes<'a>(values: impl Iterator<Item = &'a f32>) -> Vec<u8> {
    values.flat_map(|v| v.to_le_bytes()).collect()
}

fn tensors_of(networks: &Networks) -> Vec<OwnedTensor> {
    let mut out = Vec::new();
    for (prefix, net) in [
        ("encoder", &networks.encoder),
        ("decoder", &networks.decoder),
    ] {
        for (i, layer) in net.layers().iter().enumerate() {
            let (Some((weight, bias)), Some(shape)) =
                (layer.params(), spatial_spec::weight_shape(layer))
            else {
                continue;
            };
            out.push(OwnedTensor {
                name: format!("{prefix}.{i}.weight"),
                shape,
                bytes: le_bytes(weight.iter()),
            });
            out.push(OwnedTensor {
                name: format!("{prefix}.{i}.bias"),
                shape: vec![bias.len()],
                bytes: le_bytes(bias.iter()),
            });
        }
    }
    out
}

/// SHA-256 over the tensors in ascending name order: for each, `name \0 F32 \0 shape \0 bytes`,
/// with the shape as comma-separated decimals.
fn tensors_sha256<'a>(tensors: impl Iterator<Item = (&'a str, &'a [usize], &'a [u8])>) -> String {
    let sorted: BTreeMap<&str, (&[usize], &[u8])> = tensors.map(|(n, s, b)| (n, (s, b))).collect();
    let mut h = Sha256::new();
    for (name, (shape, bytes)) in sorted {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(b"F32");
        h.update([0]);
        h.update(
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(",")
                .as_bytes(),
        );
        h.update([0]);
        h.update(bytes);
    }
    hex(&h.finalize())
}

fn model_sha256(json: &str) -> String {
    hex(&Sha256::digest(json.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Short id of the weights: the first 12 hex digits of their checksum.
pub(crate) fn version_of(networks: &Networks) -> String {
    let t = tensors_of(networks);
    let full = tensors_sha256(
        t.iter()
            .map(|t| (t.name.as_str(), t.shape.as_slice(), t.bytes.as_slice())),
    );
    full[..12].to_string()
}

fn layer_specs(net: &Sequential) -> Vec<LayerSpec> {
    net.layers()
        .iter()
        .map(|l| LayerSpec {
            inputs: l.in_features(),
            outputs: l.out_features(),
            activation: l.activation().into(),
            spatial: SpatialSpec::of(l),
        })
        .collect()
}

pub(crate) fn to_bytes(model: &Autoencoder) -> Result<Vec<u8>> {
    let json = serde_json::to_string(&model.parts)
        .map_err(|e| Error::Internal(format!("cannot serialise the model metadata: {e}")))?;
    let tensors = tensors_of(&model.parts.layers);
    let mut metadata = HashMap::new();
    metadata.insert(KEY_FORMAT.to_string(), FORMAT.to_string());
    metadata.insert(
        KEY_VERSION.to_string(),
        required_version(&model.parts.kind).to_string(),
    );
    metadata.insert(KEY_MODEL_SHA.to_string(), model_sha256(&json));
    metadata.insert(
        KEY_TENSORS_SHA.to_string(),
        tensors_sha256(
            tensors
                .iter()
                .map(|t| (t.name.as_str(), t.shape.as_slice(), t.bytes.as_slice())),
        ),
    );
    metadata.insert(KEY_MODEL.to_string(), json);
    let views = tensors
        .iter()
        .map(|t| {
            TensorView::new(Dtype::F32, t.shape.clone(), &t.bytes)
                .map(|v| (t.name.clone(), v))
                .map_err(|e| Error::Internal(format!("tensor {}: {e}", t.name)))
        })
        .collect::<Result<Vec<_>>>()?;
    let bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::Internal(format!("cannot serialise the model: {e}")))?;
    canonical_header(bytes)
}

/// The same safetensors bytes with the JSON header's keys in sorted order, so that saving a model
/// twice gives the same bytes: safetensors writes `__metadata__` from a `HashMap`, whose order
/// changes from call to call. Layout: `u64` little-endian header length, the header (JSON,
/// padded with spaces to a multiple of 8 bytes, as safetensors pads it), then the tensor data,
/// unchanged (its offsets are relative to the end of the header).
fn canonical_header(bytes: Vec<u8>) -> Result<Vec<u8>> {
    let internal = |what: &str| Error::Internal(format!("serialised model: {what}"));
    let len_bytes: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| internal("shorter than its header length"))?;
    let n = usize::try_from(u64::from_le_bytes(len_bytes))
        .map_err(|_| internal("header length overflows"))?;
    let header = bytes
        .get(8..8 + n)
        .ok_or_else(|| internal("header longer than the bytes"))?;
    let parsed: std::collections::BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|e| internal(&e.to_string()))?;
    let sorted: std::collections::BTreeMap<String, serde_json::Value> = parsed
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::Object(o) => serde_json::to_value(
                    o.into_iter()
                        .collect::<std::collections::BTreeMap<String, serde_json::Value>>(),
                )
                .map_err(|e| internal(&e.to_string()))?,
                other => other,
            };
            Ok((k, v))
        })
        .collect::<Result<_>>()?;
    let mut json = serde_json::to_vec(&sorted).map_err(|e| internal(&e.to_string()))?;
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + json.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&bytes[8 + n..]);
    Ok(out)
}

/// Why safetensors refused the bytes, telling truncation apart from corruption.
fn structure_error(bytes: &[u8], e: SafeTensorError) -> String {
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes checked")) as usize;
    if let SafeTensorError::MetadataIncompleteBuffer = e {
        // The header parsed, so find where its tensors say the data ends.
        let expected = std::str::from_utf8(&bytes[8..8 + n])
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
            .and_then(|v| {
                v.as_object().map(|o| {
                    o.iter()
                        .filter(|(k, _)| k.as_str() != "__metadata__")
                        .filter_map(|(_, t)| t.get("data_offsets")?.get(1)?.as_u64())
                        .max()
                        .unwrap_or(0) as usize
                })
            });
        if let Some(data_len) = expected {
            let want = 8 + n + data_len;
            return if bytes.len() < want {
                format!(
                    "truncated: the header describes {want} bytes but there are only {}",
                    bytes.len()
                )
            } else {
                format!(
                    "corrupted: {} unexpected bytes after the tensor data",
                    bytes.len() - want
                )
            };
        }
    }
    format!("corrupted: not a valid safetensors file ({e})")
}

/// Loads a model file, validating in the order of the module docs; `source` names it in errors.
pub(crate) fn from_bytes(bytes: &[u8], source: &str) -> Result<Autoencoder> {
    let fail = |reason: String| Error::model_file(source, reason);
    check_length(bytes).map_err(fail)?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| fail(structure_error(bytes, e)))?;
    let (_, meta) =
        SafeTensors::read_metadata(bytes).map_err(|e| fail(structure_error(bytes, e)))?;
    let empty = HashMap::new();
    let metadata = meta.metadata().as_ref().unwrap_or(&empty);
    let version = check_format(metadata).map_err(fail)?;
    let tensors = st.tensors();
    let json = check_checksums(metadata, &tensors).map_err(fail)?;
    let parts = parse_model_json(json, version).map_err(fail)?;
    let by_name: Tensors<'_> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    build(parts, &by_name).map_err(|reason| fail(format!("inconsistent: {reason}")))
}

/// Enough bytes for the safetensors header length, and for the header it announces.
fn check_length(bytes: &[u8]) -> Reason<()> {
    if bytes.len() < 8 {
        return Err(format!(
            "truncated: {} bytes, fewer than the 8 bytes of a safetensors header length",
            bytes.len()
        ));
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes checked"));
    if n > (bytes.len() - 8) as u64 {
        return Err(format!(
            "truncated (or not a safetensors file): the header announces {n} bytes but only {} follow",
            bytes.len() - 8
        ));
    }
    Ok(())
}

/// An aeflow model of a format version this build reads: that version.
fn check_format(metadata: &HashMap<String, String>) -> Reason<u32> {
    match metadata.get(KEY_FORMAT) {
        Some(f) if f == FORMAT => {}
        Some(f) => {
            return Err(format!(
                "not an aeflow model: metadata 'format' is {f:?}, expected {FORMAT:?}"
            ));
        }
        None => {
            return Err(format!(
                "not an aeflow model: the safetensors metadata has no '{KEY_FORMAT}' key"
            ));
        }
    }
    let version = metadata_value(metadata, KEY_VERSION)?;
    match version.parse::<u32>() {
        Ok(v) if (OLDEST_VERSION..=FORMAT_VERSION).contains(&v) => Ok(v),
        _ => Err(format!(
            "unsupported format version {version:?}: this build of aeflow reads versions {OLDEST_VERSION} to {FORMAT_VERSION}"
        )),
    }
}

fn metadata_value<'m>(metadata: &'m HashMap<String, String>, key: &str) -> Reason<&'m String> {
    metadata
        .get(key)
        .ok_or_else(|| format!("inconsistent: the metadata has no '{key}'"))
}

/// The metadata checksum, the tensors' dtype, and the weights checksum; the model JSON.
fn check_checksums<'m>(
    metadata: &'m HashMap<String, String>,
    tensors: &[(String, TensorView<'_>)],
) -> Reason<&'m str> {
    let json = metadata_value(metadata, KEY_MODEL)?;
    let stored = metadata_value(metadata, KEY_MODEL_SHA)?;
    let computed = model_sha256(json);
    if &computed != stored {
        return Err(format!(
            "corrupted: checksum mismatch in the model metadata (stored {stored}, computed {computed})"
        ));
    }
    for (name, t) in tensors {
        if t.dtype() != Dtype::F32 {
            return Err(format!(
                "inconsistent: tensor {name} has dtype {:?}, expected F32",
                t.dtype()
            ));
        }
    }
    let computed = tensors_sha256(
        tensors
            .iter()
            .map(|(n, t)| (n.as_str(), t.shape(), t.data())),
    );
    let stored = metadata_value(metadata, KEY_TENSORS_SHA)?;
    if &computed != stored {
        return Err(format!(
            "corrupted: checksum mismatch in the weights (stored {stored}, computed {computed})"
        ));
    }
    Ok(json)
}

/// The model JSON of a file of format `version`, whose kind that version must cover.
fn parse_model_json(json: &str, version: u32) -> Reason<ModelParts<LayerList>> {
    let parts: ModelParts<LayerList> = serde_json::from_str(json).map_err(|e| {
        format!("inconsistent: the model metadata does not match format version {version}: {e}")
    })?;
    if required_version(&parts.kind) > version {
        return Err(format!(
            "inconsistent: a {} model needs format version {}, the file says {version}",
            parts.kind.name(),
            required_version(&parts.kind)
        ));
    }
    Ok(parts)
}

/// Checks the metadata against itself and the tensors, and assembles the model.
fn build(parts: ModelParts<LayerList>, tensors: &Tensors<'_>) -> Reason<Autoencoder> {
    check_metadata(&parts)?;
    let d = parts.features.len();
    let list = &parts.layers;
    let k = list.latent_dim;
    let mut used = HashSet::new();
    let encoder_outputs = parts.kind.encoder_outputs(k);
    let encoder = network(
        "encoder",
        &list.encoder,
        (d, encoder_outputs),
        tensors,
        &mut used,
    )?;
    let decoder = network("decoder", &list.decoder, (k, d), tensors, &mut used)?;
    if let Some(extra) = tensors.keys().find(|name| !used.contains(**name)) {
        return Err(format!("unexpected tensor {extra}"));
    }
    let activity = &parts.diagnostics.latent_activity;
    if !activity.is_empty() && activity.len() != k {
        return Err(format!(
            "diagnostics describe {} latent units for a latent size of {k}",
            activity.len()
        ));
    }
    Ok(Autoencoder::assemble(
        parts.with_layers(Networks { encoder, decoder }),
    ))
}

/// The metadata that does not describe layers: features, configuration, kind, preprocessing and
/// threshold, each consistent with itself and with the number of features.
fn check_metadata(parts: &ModelParts<LayerList>) -> Reason<()> {
    let d = parts.features.len();
    if d == 0 {
        return Err("the model lists no features".into());
    }
    let mut seen = HashSet::new();
    if let Some(dup) = parts.features.iter().find(|f| !seen.insert(f.as_str())) {
        return Err(format!("feature '{dup}' is listed twice"));
    }
    parts
        .config
        .validate()
        .map_err(|e| format!("stored training configuration: {e}"))?;
    parts.kind.validate().map_err(|e| format!("kind: {e}"))?;
    if let Some(c) = parts.kind.convolutional()
        && c.n_features() != d
    {
        return Err(format!(
            "kind.input_shape {:?} describes {} values per row, but the model has {d} features",
            c.input_shape,
            c.n_features()
        ));
    }
    check_preprocessing(&parts.preprocessing, d)?;
    if parts.threshold.is_some_and(|t| !t.is_finite()) {
        return Err("the threshold is not finite".into());
    }
    Ok(())
}

/// `d` finite values in each of offset, scale and fill; positive scales.
fn check_preprocessing(p: &Preprocessing, d: usize) -> Reason<()> {
    for (name, v) in [
        ("offset", &p.offset),
        ("scale", &p.scale),
        ("fill", &p.fill),
    ] {
        if v.len() != d {
            return Err(format!(
                "preprocessing.{name} has {} values for {d} features",
                v.len()
            ));
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(format!("preprocessing.{name} holds non-finite values"));
        }
    }
    if p.scale.iter().any(|&s| s <= 0.0) {
        return Err("preprocessing.scale holds values ≤ 0".into());
    }
    Ok(())
}

/// The `prefix` network (`encoder` or `decoder`) from its layer entries and tensors, mapping
/// `widths.0` inputs to `widths.1` outputs; the names of the tensors it read go to `used`.
fn network(
    prefix: &str,
    specs: &[LayerSpec],
    (input, output): (usize, usize),
    tensors: &Tensors<'_>,
    used: &mut HashSet<String>,
) -> Reason<Sequential> {
    if specs.is_empty() {
        return Err(format!("the {prefix} has no layers"));
    }
    let mut layers: Vec<Layer> = Vec::new();
    let mut width = input;
    for (i, spec) in specs.iter().enumerate() {
        if spec.inputs != width {
            return Err(format!(
                "{prefix}.{i} takes {} inputs but receives {width}",
                spec.inputs
            ));
        }
        let names = (format!("{prefix}.{i}.weight"), format!("{prefix}.{i}.bias"));
        let layer = match &spec.spatial {
            None => dense_layer(spec, &names, tensors)?,
            Some(spatial) => {
                spatial_layer(&format!("{prefix}.{i}"), spec, spatial, &names, tensors)?
            }
        };
        if layer.params().is_some() {
            used.insert(names.0);
            used.insert(names.1);
        }
        layers.push(layer);
        width = spec.outputs;
    }
    if width != output {
        return Err(format!(
            "the {prefix} ends with {width} outputs, expected {output}"
        ));
    }
    Sequential::from_layers(layers, 0.0).map_err(|e| e.to_string())
}

/// A dense layer from its entry and its `(weight, bias)` tensors.
fn dense_layer(
    spec: &LayerSpec,
    (weight, bias): &(String, String),
    tensors: &Tensors<'_>,
) -> Reason<Layer> {
    let w = tensor(tensors, weight, &[spec.outputs, spec.inputs])?;
    let b = tensor(tensors, bias, &[spec.outputs])?;
    let w = Array2::from_shape_vec((spec.outputs, spec.inputs), w).map_err(|e| e.to_string())?;
    Ok(
        Dense::from_parts(w, Array1::from(b), spec.activation.into())
            .map_err(|e| e.to_string())?
            .into(),
    )
}

/// A non-dense layer (format version 2) named `name` from its entry, whose widths its spatial
/// description must give, and its `(weight, bias)` tensors if it has parameters.
fn spatial_layer(
    name: &str,
    spec: &LayerSpec,
    spatial: &SpatialSpec,
    (weight, bias): &(String, String),
    tensors: &Tensors<'_>,
) -> Reason<Layer> {
    match spatial.widths() {
        Some((a, b)) if (a, b) == (spec.inputs, spec.outputs) => {}
        Some((a, b)) => {
            return Err(format!(
                "{name} is described as {a} → {b} wide, but its entry says {} → {}",
                spec.inputs, spec.outputs
            ));
        }
        None => {
            return Err(format!(
                "{name} ({}) has a zero size, kernel, stride or window, or a kernel or window larger than its (padded) input",
                serde_json::to_string(spatial).unwrap_or_default()
            ));
        }
    }
    if spec.outputs > MAX_WIDTH {
        return Err(format!(
            "{name} is {} wide, more than the {MAX_WIDTH} this build accepts",
            spec.outputs
        ));
    }
    let params = match spatial.tensor_shapes() {
        Some((w_shape, b_shape)) => Some((
            tensor(tensors, weight, &w_shape)?,
            tensor(tensors, bias, &b_shape)?,
        )),
        None => None,
    };
    spatial
        .build(spec.activation.into(), params)
        .map_err(|e| format!("{name}: {e}"))
}

/// The f32 values of a tensor that must exist with `shape` and hold finite values.
fn tensor(tensors: &Tensors<'_>, name: &str, shape: &[usize]) -> Reason<Vec<f32>> {
    let t = tensors
        .get(name)
        .ok_or_else(|| format!("tensor {name} is missing"))?;
    if t.shape() != shape {
        return Err(format!(
            "tensor {name} has shape {:?}, the metadata says {shape:?}",
            t.shape()
        ));
    }
    let values: Vec<f32> = t
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect();
    if values.iter().any(|v| !v.is_finite()) {
        return Err(format!("tensor {name} holds non-finite values"));
    }
    Ok(values)
}

pub(crate) fn save(model: &Autoencoder, path: &Path) -> Result<()> {
    let bytes = to_bytes(model)?;
    let file_name = path.file_name().ok_or_else(|| {
        Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"),
        )
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{nanos}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(&tmp, e));
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    // Make the rename itself durable where the platform allows it.
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

pub(crate) fn load(path: &Path) -> Result<Autoencoder> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    from_bytes(&bytes, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testdata::{manifold, names};
    use crate::model::{ScoreOptions, Silent, TrainConfig};

    fn model() -> Autoencoder {
        let x = manifold(200, 11);
        Autoencoder::fit(
            x.view(),
            &names(8),
            &TrainConfig {
                epochs: 3,
                ..Default::default()
            },
            &mut Silent,
        )
        .unwrap()
    }

    /// Rewrites a model file with edited metadata (checksums recomputed unless `keep_sums`).
    fn rewrite(bytes: &[u8], edit: impl Fn(&mut HashMap<String, String>)) -> Vec<u8> {
        let st = SafeTensors::deserialize(bytes).unwrap();
        let (_, meta) = SafeTensors::read_metadata(bytes).unwrap();
        let mut md = meta.metadata().clone().unwrap();
        edit(&mut md);
        let tensors: Vec<(String, TensorView<'_>)> = st.tensors();
        safetensors::serialize(tensors, Some(md)).unwrap()
    }

    fn reason(r: Result<Autoencoder>) -> String {
        match r {
            Err(Error::ModelFile {
                source_name,
                reason,
            }) => {
                assert_eq!(source_name, "test.aeflow");
                reason
            }
            other => panic!("expected a model file error, got {other:?}"),
        }
    }

    #[test]
    fn round_trip_keeps_everything() {
        let m = model();
        let bytes = m.to_bytes().unwrap();
        let back = Autoencoder::from_bytes(&bytes, "test.aeflow").unwrap();
        assert_eq!(back.encoder(), m.encoder());
        assert_eq!(back.decoder(), m.decoder());
        assert_eq!(back.preprocessing(), m.preprocessing());
        assert_eq!(back.threshold(), m.threshold());
        assert_eq!(back.history(), m.history());
        assert_eq!(back.diagnostics(), m.diagnostics());
        assert_eq!(back.train_config(), m.train_config());
        assert_eq!(back.version(), m.version());
        let x = manifold(50, 12);
        let a = m.score(x.view(), &ScoreOptions::default()).unwrap();
        let b = back.score(x.view(), &ScoreOptions::default()).unwrap();
        assert_eq!(a.reconstruction_error, b.reconstruction_error);
    }

    /// Loading and saving again writes the same metadata, byte for byte (the model JSON, and
    /// the checksums, so the same tensors), and the model JSON keeps the key order of
    /// `docs/model-format.md`. (The order of the safetensors metadata keys themselves is not
    /// fixed: safetensors writes them from a hash map.)
    #[test]
    fn load_then_save_writes_the_same_metadata_in_the_documented_order() {
        let bytes = model().to_bytes().unwrap();
        let back = Autoencoder::from_bytes(&bytes, "test.aeflow").unwrap();
        let metadata = |b: &[u8]| {
            let (_, meta) = SafeTensors::read_metadata(b).unwrap();
            meta.metadata().clone().unwrap()
        };
        let written = metadata(&bytes);
        assert_eq!(metadata(&back.to_bytes().unwrap()), written);
        let json = &written[KEY_MODEL];
        let keys = [
            "kind",
            "features",
            "latent_dim",
            "encoder",
            "decoder",
            "loss",
            "preprocessing",
            "threshold",
            "contamination",
            "train_config",
            "history",
            "diagnostics",
            "created_unix",
            "training_seconds",
        ];
        let at: Vec<usize> = keys
            .iter()
            .map(|k| json.find(&format!("\"{k}\":")).unwrap())
            .collect();
        assert_eq!(at[0], 1, "{json}");
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{json}");
    }

    #[test]
    fn changing_the_threshold_keeps_the_weights_version() {
        let mut m = model();
        let v = m.version().to_string();
        m.set_threshold(Some(123.0));
        let back = Autoencoder::from_bytes(&m.to_bytes().unwrap(), "test.aeflow").unwrap();
        assert_eq!(back.threshold(), Some(123.0));
        assert_eq!(back.version(), v);
    }

    #[test]
    fn truncated_files_are_rejected_as_truncated() {
        let bytes = model().to_bytes().unwrap();
        for len in [0, 5, 8, 40, bytes.len() / 2, bytes.len() - 1] {
            let r = reason(Autoencoder::from_bytes(&bytes[..len], "test.aeflow"));
            assert!(r.starts_with("truncated"), "at {len} bytes: {r}");
        }
    }

    #[test]
    fn a_single_flipped_byte_anywhere_is_caught() {
        let bytes = model().to_bytes().unwrap();
        let header_end = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        // In the weights: the checksum catches it.
        for pos in [header_end, header_end + 17, bytes.len() - 1] {
            let mut b = bytes.clone();
            b[pos] ^= 0x04;
            let r = reason(Autoencoder::from_bytes(&b, "test.aeflow"));
            assert!(
                r.contains("checksum mismatch in the weights"),
                "byte {pos}: {r}"
            );
        }
        // In a number of the model metadata (the threshold): the metadata checksum catches it.
        let text = String::from_utf8_lossy(&bytes[..header_end]).to_string();
        let pos = text.find("threshold").unwrap() + "threshold\\\":".len() + 2;
        let mut b = bytes.clone();
        b[pos] = if b[pos] == b'1' { b'2' } else { b'1' };
        let r = reason(Autoencoder::from_bytes(&b, "test.aeflow"));
        assert!(r.contains("checksum mismatch in the model metadata"), "{r}");
        // Every single-bit flip anywhere in the file is rejected (sampled positions).
        for pos in (0..bytes.len()).step_by(7) {
            let mut b = bytes.clone();
            b[pos] ^= 0x01;
            assert!(
                Autoencoder::from_bytes(&b, "test.aeflow").is_err(),
                "flip at byte {pos} went unnoticed"
            );
        }
    }

    #[test]
    fn wrong_version_and_foreign_files_have_their_own_errors() {
        let bytes = model().to_bytes().unwrap();
        let v3 = rewrite(&bytes, |md| {
            md.insert(KEY_VERSION.into(), "3".into());
        });
        let r = reason(Autoencoder::from_bytes(&v3, "test.aeflow"));
        assert!(r.starts_with("unsupported format version \"3\""), "{r}");
        let foreign = rewrite(&bytes, |md| {
            md.insert(KEY_FORMAT.into(), "pytorch".into());
        });
        let r = reason(Autoencoder::from_bytes(&foreign, "test.aeflow"));
        assert!(r.starts_with("not an aeflow model"), "{r}");
        let r = reason(Autoencoder::from_bytes(
            b"\x02\0\0\0\0\0\0\0{}",
            "test.aeflow",
        ));
        assert!(r.starts_with("not an aeflow model"), "{r}");
        let r = reason(Autoencoder::from_bytes(
            b"\x04\0\0\0\0\0\0\0{]}}",
            "test.aeflow",
        ));
        assert!(r.starts_with("corrupted"), "{r}");
    }

    #[test]
    fn inconsistent_metadata_is_named() {
        let bytes = model().to_bytes().unwrap();
        let edit_json = |f: &dyn Fn(&mut serde_json::Value)| {
            rewrite(&bytes, |md| {
                let mut v: serde_json::Value = serde_json::from_str(&md[KEY_MODEL]).unwrap();
                f(&mut v);
                let json = v.to_string();
                md.insert(KEY_MODEL_SHA.into(), model_sha256(&json));
                md.insert(KEY_MODEL.into(), json);
            })
        };
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                edit_json(&|v| v["features"].as_array_mut().unwrap().truncate(7)),
                "preprocessing.offset has 8 values for 7 features",
            ),
            (
                edit_json(&|v| v["latent_dim"] = 4.into()),
                "ends with 3 outputs, expected 4",
            ),
            (
                edit_json(&|v| v["encoder"][1]["outputs"] = 5.into()),
                "tensor encoder.1.weight has shape [3, 6], the metadata says [5, 6]",
            ),
            (
                edit_json(&|v| v["preprocessing"]["scale"][2] = (-1.0).into()),
                "preprocessing.scale holds values ≤ 0",
            ),
            (
                edit_json(&|v| {
                    v["preprocessing"]["offset"]
                        .as_array_mut()
                        .unwrap()
                        .pop()
                        .map(|_| ())
                        .unwrap();
                }),
                "preprocessing.offset has 7 values",
            ),
            (
                edit_json(&|v| v["features"][1] = "f0".into()),
                "feature 'f0' is listed twice",
            ),
            (
                edit_json(&|v| v["loss"] = "hinge".into()),
                "does not match format version 1",
            ),
        ];
        for (b, want) in cases {
            let r = reason(Autoencoder::from_bytes(&b, "test.aeflow"));
            assert!(
                r.starts_with("inconsistent") && r.contains(want),
                "want {want:?}, got {r}"
            );
        }
    }

    /// Version 2 files edited into shapes that cannot run: each is an `inconsistent` error (never
    /// a panic while building the layers or on the first batch).
    #[test]
    fn inconsistent_version_2_files_are_named() {
        use crate::model::{ConvolutionalConfig, Downsample, Kind, ScalerKind, Upsampling};
        let x = manifold(60, 3);
        let x = ndarray::Array2::from_shape_fn((60, 16), |(i, j)| x[[i, j % 8]]);
        let fit = |kind: Kind, d: usize| {
            let config = TrainConfig {
                kind,
                epochs: 1,
                latent: Some(2),
                scaler: ScalerKind::None,
                ..Default::default()
            };
            Autoencoder::fit(
                x.slice(ndarray::s![.., ..d]),
                &names(d),
                &config,
                &mut Silent,
            )
            .unwrap()
        };
        let cae = fit(
            Kind::Convolutional(ConvolutionalConfig {
                filters: vec![2, 3],
                downsample: Downsample::MaxPool,
                upsample: Upsampling::Nearest,
                ..ConvolutionalConfig::new(vec![1, 4, 4])
            }),
            16,
        );
        let vae = fit(Kind::Variational(Default::default()), 8);
        let edit_json = |bytes: &[u8], f: &dyn Fn(&mut serde_json::Value)| {
            rewrite(bytes, |md| {
                let mut v: serde_json::Value = serde_json::from_str(&md[KEY_MODEL]).unwrap();
                f(&mut v);
                let json = v.to_string();
                md.insert(KEY_MODEL_SHA.into(), model_sha256(&json));
                md.insert(KEY_MODEL.into(), json);
            })
        };
        let (c, v) = (cae.to_bytes().unwrap(), vae.to_bytes().unwrap());
        // The edits below rely on this layout: conv, max_pool, … in the encoder; dense, upsample, …
        // in the decoder.
        let types: Vec<&str> = cae
            .encoder()
            .layers()
            .iter()
            .chain(cae.decoder().layers())
            .map(|l| match l {
                Layer::Dense(_) => "dense",
                Layer::Conv(_) => "conv",
                Layer::MaxPool(_) => "max_pool",
                Layer::Upsample(_) => "upsample",
                Layer::ConvTranspose(_) => "conv_transpose",
            })
            .collect();
        assert_eq!(
            types,
            [
                "conv", "max_pool", "conv", "max_pool", "dense", "dense", "upsample", "conv",
                "upsample", "conv"
            ]
        );
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                edit_json(&c, &|v| {
                    v["encoder"][0]["spatial"]["stride"] = serde_json::json!([0, 1]);
                }),
                "encoder.0",
            ),
            (
                edit_json(&c, &|v| {
                    v["encoder"][0]["spatial"]["kernel"] = serde_json::json!([0, 3]);
                }),
                "encoder.0",
            ),
            (
                edit_json(&c, &|v| {
                    v["encoder"][0]["spatial"]["kernel"] = serde_json::json!([9, 9]);
                }),
                "encoder.0",
            ),
            (
                edit_json(&c, &|v| {
                    v["encoder"][1]["spatial"]["window"] = serde_json::json!([0, 2]);
                }),
                "encoder.1",
            ),
            (
                edit_json(&c, &|v| {
                    v["encoder"][1]["spatial"]["window"] = serde_json::json!([8, 8]);
                }),
                "encoder.1",
            ),
            (
                edit_json(&c, &|v| {
                    v["decoder"][1]["spatial"]["out_size"] = serde_json::json!([0, 4]);
                }),
                "decoder.1",
            ),
            (
                edit_json(&c, &|v| {
                    v["encoder"][0]["spatial"]["in_shape"] = serde_json::json!([2, 4, 4]);
                }),
                "",
            ),
            (
                edit_json(&c, &|v| {
                    v["encoder"][0]["spatial"]["type"] = "conv_transpose".into();
                }),
                "",
            ),
            (
                edit_json(&c, &|v| {
                    v["kind"]["input_shape"] = serde_json::json!([4, 4, 4]);
                }),
                "describes 64 values per row, but the model has 16 features",
            ),
            (
                rewrite(&c, |md| {
                    md.insert(KEY_VERSION.into(), "1".into());
                }),
                "format version",
            ),
            (edit_json(&v, &|v| v["latent_dim"] = 4.into()), ""),
            (
                edit_json(&v, &|v| v["kind"]["beta"] = (-1.0).into()),
                "beta",
            ),
        ];
        for (i, (b, want)) in cases.into_iter().enumerate() {
            let r = std::panic::catch_unwind(|| Autoencoder::from_bytes(&b, "test.aeflow"));
            let r = match r {
                Ok(r) => r,
                Err(_) => panic!("case {i}: loading panicked"),
            };
            let r = reason(r);
            assert!(
                r.starts_with("inconsistent") || r.starts_with("unsupported"),
                "case {i}: {r}"
            );
            assert!(r.contains(want), "case {i}: want {want:?}, got {r}");
        }
    }

    #[test]
    fn save_is_atomic_and_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.aeflow");
        let m = model();
        m.save(&path).unwrap();
        m.save(&path).unwrap();
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into())
            .collect();
        assert_eq!(
            names,
            vec!["m.aeflow".to_string()],
            "no temporary file is left behind"
        );
        assert_eq!(Autoencoder::load(&path).unwrap().encoder(), m.encoder());

        // A failing rename (the target is a non-empty directory) leaves nothing behind.
        let blocked = dir.path().join("blocked");
        fs::create_dir(&blocked).unwrap();
        fs::write(blocked.join("keep"), b"x").unwrap();
        assert!(matches!(m.save(&blocked), Err(Error::Io { .. })));
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into())
            .collect();
        names.sort();
        assert_eq!(names, vec!["blocked".to_string(), "m.aeflow".to_string()]);
        // Missing files are I/O errors naming the path.
        let e = Autoencoder::load(&dir.path().join("nope.aeflow")).unwrap_err();
        assert!(e.to_string().contains("nope.aeflow"), "{e}");
    }
}
