//! Which columns of a table are a model's features: chosen at training time
//! ([`FeatureLayout::select`]), found again by name at scoring time ([`FeatureLayout::for_model`]).
//!
//! Errors name a selection by its neutral option names, `columns` and `exclude` (the SQL
//! `OPTIONS` keys); the CLI spells them as its flags.

use ::arrow::array::{Array, AsArray, RecordBatch};
use ::arrow::datatypes::{DataType, Schema};

use super::numeric::{EXPECTED_NUMERIC, is_numeric, vector_width};
use crate::error::{Error, Result};
use crate::model::Autoencoder;

/// Which columns of a table are features (training time).
#[derive(Debug, Clone, Default)]
pub enum FeatureSelection {
    /// Every numeric scalar column, or the single float-vector column if that is all there is.
    #[default]
    All,
    /// Exactly these columns, in this order.
    Columns(Vec<String>),
    /// Every numeric column except these.
    Exclude(Vec<String>),
}

/// Where a model's features sit in a schema: n numeric scalar columns, or one vector column.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureLayout {
    /// Column indices, one per feature, in model order.
    Scalars(Vec<usize>),
    /// One FixedSizeList / List column of floats of this width.
    Vector {
        /// Index of the column in the schema.
        column: usize,
        /// Number of values per row (= number of features).
        width: usize,
    },
}

impl FeatureLayout {
    /// Resolve a training-time selection; returns the layout and the feature names
    /// (`name[i]` for a vector column).
    ///
    /// A variable-length `List` column has no width in its schema: use
    /// [`FeatureLayout::select_in_batch`] for it.
    pub fn select(schema: &Schema, selection: &FeatureSelection) -> Result<(Self, Vec<String>)> {
        match choose(schema, selection)? {
            Choice::Scalars(cols) => Ok(scalars(schema, cols)),
            Choice::Vector(column) => {
                let field = schema.field(column);
                match vector_width(field.data_type()) {
                    Some(Some(width)) => Ok(vector(schema, column, width)),
                    _ => Err(Error::data(
                        format!("column '{}'", field.name()),
                        "is a variable-length list; its width can only be read from the data \
                         (select with a record batch, or use a FixedSizeList column)",
                    )),
                }
            }
        }
    }

    /// Like [`FeatureLayout::select`], taking the width of a variable-length `List` column from
    /// the first non-NULL row of `batch` (every row must then have that many values).
    pub fn select_in_batch(
        batch: &RecordBatch,
        selection: &FeatureSelection,
    ) -> Result<(Self, Vec<String>)> {
        let schema = batch.schema();
        match choose(&schema, selection)? {
            Choice::Scalars(cols) => Ok(scalars(&schema, cols)),
            Choice::Vector(column) => {
                let field = schema.field(column);
                let width = match vector_width(field.data_type()) {
                    Some(Some(width)) => Some(width),
                    _ => first_list_len(batch.column(column).as_ref()),
                };
                match width {
                    Some(0) | None => Err(Error::data(
                        format!("column '{}'", field.name()),
                        "holds no non-empty vector to learn the number of features from",
                    )),
                    Some(width) => Ok(vector(&schema, column, width)),
                }
            }
        }
    }

    /// Find a trained model's features in `schema` by name (or one vector column of the right
    /// width). Errors name the missing column and list what the model expects.
    pub fn for_model(schema: &Schema, model: &Autoencoder) -> Result<Self> {
        Self::for_features(schema, model.feature_names())
    }

    /// [`FeatureLayout::for_model`] for a list of feature names.
    pub fn for_features(schema: &Schema, names: &[String]) -> Result<Self> {
        let n = names.len();
        // 1. Every feature is a column of that name.
        let mut found = Vec::with_capacity(n);
        let mut missing = None;
        for name in names {
            match schema.index_of(name) {
                Ok(i) => {
                    let dt = schema.field(i).data_type();
                    if !is_numeric(dt) && *dt != DataType::Null {
                        return Err(Error::data(
                            format!("column '{name}'"),
                            format!("has type {dt}; the model needs {EXPECTED_NUMERIC}"),
                        ));
                    }
                    found.push(i);
                }
                Err(_) => {
                    missing.get_or_insert(name);
                }
            }
        }
        let Some(missing) = missing else {
            return Ok(FeatureLayout::Scalars(found));
        };

        // 2. The model was trained on a vector column `v` (features `v[0]`…): that column.
        if let Some(base) = vector_base(names)
            && let Ok(column) = schema.index_of(base)
        {
            return vector_for_model(schema, column, n);
        }
        // 3. The input has exactly one vector column: use it.
        let vectors: Vec<usize> = (0..schema.fields().len())
            .filter(|&i| vector_width(schema.field(i).data_type()).is_some())
            .collect();
        if let [column] = vectors[..] {
            return vector_for_model(schema, column, n);
        }
        Err(Error::data(
            format!("column '{missing}'"),
            format!(
                "not found; the model expects the columns {} (the input has {})",
                list_names(names.iter().map(String::as_str)),
                list_names(schema.fields().iter().map(|f| f.name().as_str()))
            ),
        ))
    }

    /// Number of features.
    pub fn width(&self) -> usize {
        match self {
            FeatureLayout::Scalars(columns) => columns.len(),
            FeatureLayout::Vector { width, .. } => *width,
        }
    }

    /// Indices of the columns the features are read from.
    pub fn columns(&self) -> Vec<usize> {
        match self {
            FeatureLayout::Scalars(columns) => columns.clone(),
            FeatureLayout::Vector { column, .. } => vec![*column],
        }
    }
}

/// The columns picked by a selection, before widths are known.
enum Choice {
    Scalars(Vec<usize>),
    Vector(usize),
}

fn choose(schema: &Schema, selection: &FeatureSelection) -> Result<Choice> {
    let fields = schema.fields();
    let numeric: Vec<usize> = (0..fields.len())
        .filter(|&i| is_numeric(fields[i].data_type()))
        .collect();
    let vectors: Vec<usize> = (0..fields.len())
        .filter(|&i| vector_width(fields[i].data_type()).is_some())
        .collect();
    match selection {
        FeatureSelection::All => default_choice(schema, numeric, vectors, "in the input"),
        FeatureSelection::Exclude(names) => {
            let mut excluded = Vec::with_capacity(names.len());
            for name in names {
                excluded.push(index_of(schema, name, "exclude")?);
            }
            let keep = |v: Vec<usize>| -> Vec<usize> {
                v.into_iter().filter(|i| !excluded.contains(i)).collect()
            };
            default_choice(schema, keep(numeric), keep(vectors), "after the exclusions")
        }
        FeatureSelection::Columns(names) => named_columns(schema, names),
    }
}

/// Without named columns: the numeric scalar columns, else the one vector column. `what` says
/// which columns were looked at, for the error.
fn default_choice(
    schema: &Schema,
    numeric: Vec<usize>,
    vectors: Vec<usize>,
    what: &str,
) -> Result<Choice> {
    let fields = schema.fields();
    if !numeric.is_empty() {
        Ok(Choice::Scalars(numeric))
    } else if let [v] = vectors[..] {
        Ok(Choice::Vector(v))
    } else if vectors.len() > 1 {
        Err(Error::data(
            "feature columns",
            format!(
                "{what} there are several vector columns ({}); name one with `columns`",
                list_names(vectors.iter().map(|&i| fields[i].name().as_str()))
            ),
        ))
    } else {
        Err(Error::data(
            "feature columns",
            format!(
                "{what} there is no numeric column and no vector column (the input has {})",
                list_names(
                    fields
                        .iter()
                        .map(|f| format!("{} {}", f.name(), f.data_type()))
                )
            ),
        ))
    }
}

/// Exactly the named columns, in order: numeric scalars, or one vector column alone.
fn named_columns(schema: &Schema, names: &[String]) -> Result<Choice> {
    let fields = schema.fields();
    if names.is_empty() {
        return Err(Error::config("columns", "no column names given"));
    }
    let mut cols = Vec::with_capacity(names.len());
    for name in names {
        let i = index_of(schema, name, "columns")?;
        if cols.contains(&i) {
            return Err(Error::config(
                "columns",
                format!("column '{name}' is named twice"),
            ));
        }
        cols.push(i);
    }
    if let [i] = cols[..]
        && vector_width(fields[i].data_type()).is_some()
    {
        return Ok(Choice::Vector(i));
    }
    for &i in &cols {
        let dt = fields[i].data_type();
        if !is_numeric(dt) {
            let hint = if vector_width(dt).is_some() {
                "; a vector column must be the only feature column"
            } else {
                ""
            };
            return Err(Error::data(
                format!("column '{}'", fields[i].name()),
                format!("has type {dt}; expected {EXPECTED_NUMERIC}{hint}"),
            ));
        }
    }
    Ok(Choice::Scalars(cols))
}

fn index_of(schema: &Schema, name: &str, option: &str) -> Result<usize> {
    schema.index_of(name).map_err(|_| {
        Error::config(
            option,
            format!(
                "no column '{name}' in the input (it has {})",
                list_names(schema.fields().iter().map(|f| f.name().as_str()))
            ),
        )
    })
}

fn scalars(schema: &Schema, cols: Vec<usize>) -> (FeatureLayout, Vec<String>) {
    let names = cols
        .iter()
        .map(|&i| schema.field(i).name().clone())
        .collect();
    (FeatureLayout::Scalars(cols), names)
}

fn vector(schema: &Schema, column: usize, width: usize) -> (FeatureLayout, Vec<String>) {
    let base = schema.field(column).name();
    let names = (0..width).map(|i| format!("{base}[{i}]")).collect();
    (FeatureLayout::Vector { column, width }, names)
}

/// `v` when the names are exactly `v[0]`, `v[1]`, …, `v[n-1]`.
pub(crate) fn vector_base(names: &[String]) -> Option<&str> {
    let first = names.first()?;
    let base = first.strip_suffix("[0]")?;
    names
        .iter()
        .enumerate()
        .all(|(i, n)| *n == format!("{base}[{i}]"))
        .then_some(base)
}

fn vector_for_model(schema: &Schema, column: usize, n: usize) -> Result<FeatureLayout> {
    let field = schema.field(column);
    match vector_width(field.data_type()) {
        Some(Some(width)) if width != n => Err(Error::data(
            format!("column '{}'", field.name()),
            format!("holds vectors of {width} values; the model expects {n}"),
        )),
        Some(_) => Ok(FeatureLayout::Vector { column, width: n }),
        None => Err(Error::data(
            format!("column '{}'", field.name()),
            format!(
                "has type {}; the model expects a vector column (a list of {n} numbers)",
                field.data_type()
            ),
        )),
    }
}

/// Length of the first non-NULL row of a `List` / `LargeList` array.
fn first_list_len(array: &dyn Array) -> Option<usize> {
    let lens: Box<dyn Iterator<Item = (usize, usize)>> = match array.data_type() {
        DataType::List(_) => {
            let l = array.as_list::<i32>();
            Box::new(
                l.offsets()
                    .windows(2)
                    .map(|w| (w[0] as usize, w[1] as usize)),
            )
        }
        DataType::LargeList(_) => {
            let l = array.as_list::<i64>();
            Box::new(
                l.offsets()
                    .windows(2)
                    .map(|w| (w[0] as usize, w[1] as usize)),
            )
        }
        _ => return None,
    };
    lens.enumerate()
        .find(|(i, _)| array.is_valid(*i))
        .map(|(_, (a, b))| b - a)
}

/// `a, b, c` (at most 20 names, then `…`).
pub(crate) fn list_names<S: AsRef<str>>(names: impl Iterator<Item = S>) -> String {
    let mut out = String::new();
    for (i, n) in names.enumerate() {
        if i == 20 {
            out.push_str(", …");
            break;
        }
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(n.as_ref());
    }
    if out.is_empty() {
        out.push_str("no columns");
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ::arrow::datatypes::{Field, Schema};

    use super::*;

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("a", DataType::Float64, true),
            Field::new("b", DataType::Int32, true),
            Field::new(
                "ts",
                DataType::Timestamp(::arrow::datatypes::TimeUnit::Millisecond, None),
                true,
            ),
            Field::new("c", DataType::Decimal128(10, 2), true),
        ])
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn all_picks_numeric_columns_in_schema_order() {
        let (layout, n) = FeatureLayout::select(&schema(), &FeatureSelection::All).unwrap();
        assert_eq!(layout, FeatureLayout::Scalars(vec![1, 2, 4]));
        assert_eq!(n, names(&["a", "b", "c"]));
        assert_eq!(layout.width(), 3);
    }

    #[test]
    fn columns_keep_the_given_order_and_exclude_removes() {
        let sel = FeatureSelection::Columns(names(&["c", "a"]));
        let (layout, n) = FeatureLayout::select(&schema(), &sel).unwrap();
        assert_eq!(layout, FeatureLayout::Scalars(vec![4, 1]));
        assert_eq!(n, names(&["c", "a"]));

        let sel = FeatureSelection::Exclude(names(&["b"]));
        let (layout, _) = FeatureLayout::select(&schema(), &sel).unwrap();
        assert_eq!(layout, FeatureLayout::Scalars(vec![1, 4]));
    }

    #[test]
    fn bad_selections_name_the_column() {
        let e = FeatureLayout::select(&schema(), &FeatureSelection::Columns(names(&["zz"])))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("invalid value for columns:")
                && e.contains("'zz'")
                && e.contains("id, a, b")
                && !e.contains("--"),
            "{e}"
        );
        let e = FeatureLayout::select(&schema(), &FeatureSelection::Columns(names(&["id"])))
            .unwrap_err()
            .to_string();
        assert!(e.contains("'id'") && e.contains("Utf8"), "{e}");
        let e = FeatureLayout::select(
            &schema(),
            &FeatureSelection::Exclude(names(&["a", "b", "c"])),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no numeric column"), "{e}");
    }

    #[test]
    fn a_lone_vector_column_is_selected_with_indexed_names() {
        let item = Arc::new(Field::new_list_field(DataType::Float32, true));
        let s = Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("v", DataType::FixedSizeList(item.clone(), 3), true),
        ]);
        let (layout, n) = FeatureLayout::select(&s, &FeatureSelection::All).unwrap();
        assert_eq!(
            layout,
            FeatureLayout::Vector {
                column: 1,
                width: 3
            }
        );
        assert_eq!(n, names(&["v[0]", "v[1]", "v[2]"]));

        // Found again by name, or as the only vector column under another name.
        assert_eq!(FeatureLayout::for_features(&s, &n).unwrap(), layout);
        let other = names(&["x[0]", "x[1]", "x[2]"]);
        assert_eq!(FeatureLayout::for_features(&s, &other).unwrap(), layout);
        let e = FeatureLayout::for_features(&s, &names(&["v[0]", "v[1]"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("3 values") && e.contains("expects 2"), "{e}");

        let l = Schema::new(vec![Field::new("v", DataType::List(item), true)]);
        assert!(FeatureLayout::select(&l, &FeatureSelection::All).is_err());
    }

    #[test]
    fn for_features_finds_columns_by_name_in_any_order() {
        let layout = FeatureLayout::for_features(&schema(), &names(&["c", "a", "b"])).unwrap();
        assert_eq!(layout, FeatureLayout::Scalars(vec![4, 1, 2]));
        let e = FeatureLayout::for_features(&schema(), &names(&["a", "q"]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'q'") && e.contains("expects the columns a, q"),
            "{e}"
        );
        let e = FeatureLayout::for_features(&schema(), &names(&["a", "id"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("'id'") && e.contains("Utf8"), "{e}");
    }
}
