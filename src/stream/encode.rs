//! Model outputs → output payloads, in the input's format.
//!
//! - JSON: the input object, byte for byte, with the model's fields appended before its closing
//!   brace: `"reconstruction_error": f64, "is_anomaly": bool` (score; then `"threshold": f64`, the
//!   threshold the row was judged against, under an adaptive threshold) or `"latent": [f32; k]`
//!   (encode), then `"model": {"name": …, "version": …}`. A JSON number is written in Rust's
//!   shortest round-trip form; a NULL or non-finite value is written as `null`. A field of the
//!   same name in the input is not removed (most readers keep the last one).
//! - CSV: the input record with the values appended: `…,reconstruction_error,is_anomaly` (score)
//!   (`…,reconstruction_error,is_anomaly,threshold` under an adaptive threshold) or `…,z0,…,z{k-1}`
//!   (encode).
//! - Arrow IPC: one IPC stream holding the scored rows (the input columns plus the model's), with
//!   the model's name and version in the schema metadata (`aeflow.model`, `aeflow.model.version`).
//!
//! Every output also carries the header `aeflow.model` = `name@version`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float32Type, Float64Type, Schema};
use arrow::ipc::writer::StreamWriter;

use crate::arrow::{IS_ANOMALY, LATENT, RECONSTRUCTION_ERROR, THRESHOLD};
use crate::error::{Error, Result};

/// What the stage computes for each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// `reconstruction_error` and `is_anomaly`.
    #[default]
    Score,
    /// `latent`.
    Encode,
}

/// The model's name and version as they appear in outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelTag {
    /// Name (the model file's stem, unless given).
    pub name: String,
    /// Version: a short hex id of the weights.
    pub version: String,
    json_field: String,
    header: String,
}

impl ModelTag {
    /// The tag for a model name and version.
    pub fn new(name: &str, version: &str) -> Self {
        let json_field = format!(
            r#""model":{{"name":{},"version":{}}}"#,
            json_string(name),
            json_string(version)
        );
        Self {
            name: name.to_string(),
            version: version.to_string(),
            json_field,
            header: format!("{name}@{version}"),
        }
    }

    /// `name@version`, the value of the `aeflow.model` header.
    pub fn header(&self) -> &str {
        &self.header
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// The values to append for each row of a scored (or encoded) batch.
pub struct RowValues<'a> {
    kind: Values<'a>,
}

enum Values<'a> {
    Score {
        error: &'a arrow::array::Float64Array,
        anomaly: Option<&'a arrow::array::BooleanArray>,
        threshold: Option<&'a arrow::array::Float64Array>,
    },
    Latent(&'a arrow::array::FixedSizeListArray),
}

impl<'a> RowValues<'a> {
    /// Finds the model's output columns in `batch` (the last column of each name, in case the input
    /// had one of the same name).
    pub fn new(mode: Mode, batch: &'a RecordBatch) -> Result<Self> {
        let schema = batch.schema();
        let find = |name: &str| {
            schema
                .fields()
                .iter()
                .rposition(|f| f.name() == name)
                .map(|i| batch.column(i))
                .ok_or_else(|| Error::Internal(format!("the scored batch has no '{name}' column")))
        };
        let kind =
            match mode {
                Mode::Score => {
                    let error = find(RECONSTRUCTION_ERROR)?
                        .as_primitive_opt::<Float64Type>()
                        .ok_or_else(|| {
                            Error::Internal(format!("{RECONSTRUCTION_ERROR} is not Float64"))
                        })?;
                    let anomaly = match find(IS_ANOMALY) {
                        Ok(a) => Some(a.as_boolean_opt().ok_or_else(|| {
                            Error::Internal(format!("{IS_ANOMALY} is not Boolean"))
                        })?),
                        Err(_) => None,
                    };
                    let threshold = match find(THRESHOLD) {
                        Ok(t) => Some(t.as_primitive_opt::<Float64Type>().ok_or_else(|| {
                            Error::Internal(format!("{THRESHOLD} is not Float64"))
                        })?),
                        Err(_) => None,
                    };
                    Values::Score {
                        error,
                        anomaly,
                        threshold,
                    }
                }
                Mode::Encode => {
                    Values::Latent(find(LATENT)?.as_fixed_size_list_opt().ok_or_else(|| {
                        Error::Internal(format!("{LATENT} is not a FixedSizeList"))
                    })?)
                }
            };
        Ok(Self { kind })
    }

    /// Row `row`'s reconstruction error (score mode), when it has a finite one.
    pub fn error(&self, row: usize) -> Option<f64> {
        match &self.kind {
            Values::Score { error, .. } if !error.is_null(row) => {
                Some(error.value(row)).filter(|e| e.is_finite())
            }
            _ => None,
        }
    }

    /// Writes row `row`'s fields as JSON members, each followed by a comma.
    fn write_json(&self, row: usize, out: &mut Vec<u8>) {
        match &self.kind {
            Values::Score {
                error,
                anomaly,
                threshold,
            } => {
                write_key(out, RECONSTRUCTION_ERROR);
                write_f64(out, (!error.is_null(row)).then(|| error.value(row)));
                out.push(b',');
                write_key(out, IS_ANOMALY);
                match anomaly.filter(|a| !a.is_null(row)).map(|a| a.value(row)) {
                    Some(true) => out.extend_from_slice(b"true"),
                    Some(false) => out.extend_from_slice(b"false"),
                    None => out.extend_from_slice(b"null"),
                }
                out.push(b',');
                if let Some(t) = threshold {
                    write_key(out, THRESHOLD);
                    write_f64(out, (!t.is_null(row)).then(|| t.value(row)));
                    out.push(b',');
                }
            }
            Values::Latent(list) => {
                write_key(out, LATENT);
                if list.is_null(row) {
                    out.extend_from_slice(b"null");
                } else {
                    out.push(b'[');
                    for (i, v) in latent_row(list, row).iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        write_f64(out, Some(f64::from(*v)));
                    }
                    out.push(b']');
                }
                out.push(b',');
            }
        }
    }

    /// Writes row `row`'s values as CSV fields, each preceded by a comma.
    fn write_csv(&self, row: usize, out: &mut Vec<u8>) {
        match &self.kind {
            Values::Score {
                error,
                anomaly,
                threshold,
            } => {
                out.push(b',');
                if !error.is_null(row) && error.value(row).is_finite() {
                    let _ = write!(out, "{:?}", error.value(row));
                }
                out.push(b',');
                if let Some(a) = anomaly.filter(|a| !a.is_null(row)) {
                    let _ = write!(out, "{}", a.value(row));
                }
                if let Some(t) = threshold {
                    out.push(b',');
                    if !t.is_null(row) && t.value(row).is_finite() {
                        let _ = write!(out, "{:?}", t.value(row));
                    }
                }
            }
            Values::Latent(list) => {
                let width = list.value_length() as usize;
                let values = if list.is_null(row) {
                    &[][..]
                } else {
                    latent_row(list, row)
                };
                for i in 0..width {
                    out.push(b',');
                    if let Some(v) = values.get(i).filter(|v| v.is_finite()) {
                        let _ = write!(out, "{v:?}");
                    }
                }
            }
        }
    }
}

/// `"name":` (the output column names need no JSON escaping).
fn write_key(out: &mut Vec<u8>, name: &str) {
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

fn latent_row(list: &arrow::array::FixedSizeListArray, row: usize) -> &[f32] {
    let width = list.value_length() as usize;
    let Some(values) = list.values().as_primitive_opt::<Float32Type>() else {
        return &[];
    };
    let start = list.value_offset(row) as usize;
    values.values().get(start..start + width).unwrap_or(&[])
}

fn write_f64(out: &mut Vec<u8>, v: Option<f64>) {
    match v {
        Some(v) if v.is_finite() => {
            let _ = write!(out, "{v:?}");
        }
        _ => out.extend_from_slice(b"null"),
    }
}

/// The JSON output for one input object: `payload` (which must be one JSON object, as checked
/// by the decoder) with the values of `row` and the model tag appended before the closing brace.
pub fn json_output(payload: &[u8], values: &RowValues<'_>, row: usize, tag: &ModelTag) -> Vec<u8> {
    let trimmed = payload.trim_ascii();
    // The decoder accepted only payloads that start with '{' and end with '}'.
    let body = trimmed
        .strip_prefix(b"{")
        .and_then(|b| b.strip_suffix(b"}"))
        .unwrap_or(b"");
    let mut out = Vec::with_capacity(trimmed.len() + 64 + tag.json_field.len());
    out.push(b'{');
    out.extend_from_slice(body);
    if !body.trim_ascii().is_empty() {
        out.push(b',');
    }
    values.write_json(row, &mut out);
    out.extend_from_slice(tag.json_field.as_bytes());
    out.push(b'}');
    out
}

/// The CSV output for one input record: the record (without its line end) with the values of
/// `row` appended.
pub fn csv_output(payload: &[u8], values: &RowValues<'_>, row: usize) -> Vec<u8> {
    let mut line = payload;
    while let Some((last, rest)) = line.split_last()
        && (*last == b'\n' || *last == b'\r')
    {
        line = rest;
    }
    let mut out = Vec::with_capacity(line.len() + 48);
    out.extend_from_slice(line);
    values.write_csv(row, &mut out);
    out
}

/// One Arrow IPC stream holding `batch`, with the model tag in the schema metadata.
pub fn ipc_output(batch: &RecordBatch, tag: &ModelTag) -> Result<Vec<u8>> {
    let mut metadata: HashMap<String, String> = batch.schema().metadata().clone();
    metadata.insert("aeflow.model".into(), tag.name.clone());
    metadata.insert("aeflow.model.version".into(), tag.version.clone());
    let schema = Arc::new(Schema::new_with_metadata(
        batch.schema().fields().clone(),
        metadata,
    ));
    let batch = batch.clone().with_schema(schema.clone())?;
    let mut buf = Vec::with_capacity(batch.get_array_memory_size() + 512);
    let mut w = StreamWriter::try_new(&mut buf, &schema)?;
    w.write(&batch)?;
    w.finish()?;
    drop(w);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BooleanArray, FixedSizeListArray, Float32Array, Float64Array};
    use arrow::datatypes::{DataType, Field};

    fn scored(errors: Vec<Option<f64>>, flags: Vec<Option<bool>>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("reconstruction_error", DataType::Float64, true),
            Field::new("is_anomaly", DataType::Boolean, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Float64Array::from(errors)),
                Arc::new(BooleanArray::from(flags)),
            ],
        )
        .unwrap()
    }

    #[test]
    fn json_output_is_the_input_object_plus_fields() {
        let b = scored(vec![Some(0.25), None], vec![Some(true), None]);
        let v = RowValues::new(Mode::Score, &b).unwrap();
        let tag = ModelTag::new("m\"1", "abc");
        let out = json_output(br#" {"a": 1, "id": "x"} "#, &v, 0, &tag);
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed["a"], 1);
        assert_eq!(parsed["id"], "x");
        assert_eq!(parsed["reconstruction_error"], 0.25);
        assert_eq!(parsed["is_anomaly"], true);
        assert_eq!(parsed["model"]["name"], "m\"1");
        assert_eq!(parsed["model"]["version"], "abc");
        let out = json_output(b"{ }", &v, 1, &tag);
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(parsed["reconstruction_error"].is_null());
        assert!(parsed["is_anomaly"].is_null());
    }

    #[test]
    fn latent_json_and_csv() {
        let item = Arc::new(Field::new_list_field(DataType::Float32, true));
        let list = FixedSizeListArray::try_new(
            item.clone(),
            2,
            Arc::new(Float32Array::from(vec![0.5, -1.0, 2.0, 3.0])),
            None,
        )
        .unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new(
            "latent",
            DataType::FixedSizeList(item, 2),
            true,
        )]));
        let b = RecordBatch::try_new(schema, vec![Arc::new(list)]).unwrap();
        let v = RowValues::new(Mode::Encode, &b).unwrap();
        let tag = ModelTag::new("m", "v1");
        let out = json_output(br#"{"a":1}"#, &v, 1, &tag);
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed["latent"], serde_json::json!([2.0, 3.0]));
        assert_eq!(csv_output(b"1,2\r\n", &v, 0), b"1,2,0.5,-1.0".to_vec());
    }

    #[test]
    fn csv_score_and_ipc_metadata() {
        let b = scored(vec![Some(1.5)], vec![Some(false)]);
        let v = RowValues::new(Mode::Score, &b).unwrap();
        assert_eq!(csv_output(b"3,4\n", &v, 0), b"3,4,1.5,false".to_vec());
        let bytes = ipc_output(&b, &ModelTag::new("m", "v2")).unwrap();
        let r =
            arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None).unwrap();
        assert_eq!(r.schema().metadata()["aeflow.model.version"], "v2");
        let batches: Vec<_> = r.collect::<std::result::Result<_, _>>().unwrap();
        assert_eq!(batches[0].num_rows(), 1);
    }

    /// Under an adaptive threshold the scored batch carries `threshold`: JSON gets the field after
    /// `is_anomaly`, CSV one more column; NULL where the error is NULL.
    #[test]
    fn the_threshold_judged_against_is_written_when_present() {
        let b = scored(vec![Some(0.5), None], vec![Some(true), None]);
        let b = crate::arrow::append_threshold(&b, 0.375).unwrap();
        let v = RowValues::new(Mode::Score, &b).unwrap();
        assert_eq!((v.error(0), v.error(1)), (Some(0.5), None));
        let out = json_output(br#"{"a":1}"#, &v, 0, &ModelTag::new("m", "v"));
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(r#""is_anomaly":true,"threshold":0.375,"model""#),
            "{text}"
        );
        let parsed: serde_json::Value =
            serde_json::from_slice(&json_output(b"{}", &v, 1, &ModelTag::new("m", "v"))).unwrap();
        assert!(parsed["threshold"].is_null());
        assert_eq!(csv_output(b"1,2\n", &v, 0), b"1,2,0.5,true,0.375".to_vec());
        assert_eq!(csv_output(b"1,2", &v, 1), b"1,2,,,".to_vec());
    }

    #[test]
    fn missing_output_columns_are_an_internal_error() {
        let b = scored(vec![Some(1.0)], vec![Some(false)]);
        assert!(matches!(
            RowValues::new(Mode::Encode, &b),
            Err(Error::Internal(_))
        ));
    }
}
