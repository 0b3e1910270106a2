//! How the `ae_*` scalar functions read their arguments and shape their results.
//!
//! Every function is called as `f('model', v1, …, vn [, extra])` where the values are either
//! `n` numeric columns (any integer, float or decimal type) or one vector column
//! (`FixedSizeList` / `List` of floats) holding `n` values per row. `n` is the model's number of
//! features, or its latent size for `ae_decode`.
//!
//! * **Plan time** ([`plan_call`]): the model name must be a string literal
//!   naming a registered model; the number and types of the values are checked against the model,
//!   so mistakes are planning errors that name the function, the model and what was expected.
//! * **Run time** ([`Batch::prepare`]): the values become one `[rows, n]` f32
//!   matrix through [`crate::arrow::FeatureRows`] (NULL → NaN), which also finds the rows the
//!   model cannot take (the one rule of every surface). [`CompleteRows`] hands the model only the
//!   rows it can use and turns its output back into Arrow arrays, with NULL for the rows it could
//!   not.
//!
//! Errors from bad user data at run time are `exec_err!`; broken invariants are `internal_err!`.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{
    DataFusionError, Result as DFResult, ScalarValue, exec_err, internal_err, plan_err,
};
use datafusion::logical_expr::{ColumnarValue, DocSection, ReturnFieldArgs, ScalarFunctionArgs};
use ndarray::{Array2, ArrayView1, ArrayView2};

use crate::arrow::FeatureRows;
use crate::model::{Autoencoder, MissingPolicy};
use crate::sql::registry::ModelRegistry;

/// The documentation section all aeflow functions appear under.
pub(crate) const DOC_SECTION: DocSection = DocSection {
    include: true,
    label: "Autoencoder Functions",
    description: Some(
        "Apply autoencoders registered with aeflow (from model files or CREATE MODEL) to rows.",
    ),
};

/// The type of the vector results (`latent`, reconstructions, feature errors).
pub(crate) fn vector_type(width: usize) -> DataType {
    crate::arrow::fixed_size_list_type(width)
}

/// `coerce_types` shared by the functions: NULL literals become Float32 so that
/// `f('m', NULL, 2, 3)` plans; every other type is kept as is (checked, with the model at hand,
/// in [`check_values`]). Argument 0, the model name, is never cast, so it stays a literal.
pub(crate) fn coerce(function: &str, arg_types: &[DataType]) -> DFResult<Vec<DataType>> {
    if arg_types.is_empty() {
        return plan_err!(
            "{function}: expected a model name (a string literal) followed by the values, got no arguments"
        );
    }
    Ok(arg_types
        .iter()
        .enumerate()
        .map(|(i, t)| match t {
            DataType::Null if i > 0 => DataType::Float32,
            t => t.clone(),
        })
        .collect())
}

/// Plan time: the model named by argument 0, which must be a string literal.
fn planned_model(
    function: &str,
    registry: &ModelRegistry,
    args: &ReturnFieldArgs,
) -> DFResult<(String, Arc<Autoencoder>)> {
    let literal = args.scalar_arguments.first().copied().flatten();
    let name = match literal.and_then(ScalarValue::try_as_str) {
        Some(Some(name)) => name.to_string(),
        _ => {
            return plan_err!(
                "{function}: the first argument must be a string literal naming a registered model \
                 (e.g. {function}('my_model', …)); registered models: {}",
                registered(registry)
            );
        }
    };
    match registry.get(&name) {
        Ok(model) => Ok((name, model)),
        Err(_) => plan_err!(
            "{function}: unknown model '{name}'; registered models: {}",
            registered(registry)
        ),
    }
}

/// Plan time: `fields` (the value arguments) must be `expected` numeric columns or one vector
/// column of `expected` numbers. `what` names the values in errors (`features`, `latent values`).
fn check_values(
    function: &str,
    model_name: &str,
    fields: &[FieldRef],
    expected: usize,
    what: &str,
    names: &[String],
) -> DFResult<()> {
    let expectation = || {
        let listed = if names.is_empty() {
            String::new()
        } else {
            format!(" ({})", names.join(", "))
        };
        format!(
            "model '{model_name}' expects {expected} {what}{listed} as {expected} numeric arguments or one vector argument"
        )
    };
    if let [field] = fields
        && let Some((item, width)) = vector_shape(field.data_type())
    {
        if !matches!(item, DataType::Float32 | DataType::Float64) {
            return plan_err!(
                "{function}: {}; the vector argument holds {item} values, expected Float32 or Float64",
                expectation()
            );
        }
        if let Some(width) = width
            && width != expected
        {
            return plan_err!(
                "{function}: {}; the vector argument has {width} values per row",
                expectation()
            );
        }
        return Ok(());
    }
    for (i, field) in fields.iter().enumerate() {
        if !is_numeric(field.data_type()) {
            return plan_err!(
                "{function}: {}; argument {} has type {}, expected a numeric column (integer, float or decimal)",
                expectation(),
                i + 2,
                field.data_type()
            );
        }
    }
    if fields.len() != expected {
        return plan_err!(
            "{function}: {}; got {} value arguments",
            expectation(),
            fields.len()
        );
    }
    Ok(())
}

/// What the value arguments of a function are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Values {
    /// The model's input features, in original units (may be imputed if the model does).
    Features,
    /// Latent vectors (never imputed).
    Latent,
}

impl Values {
    fn width(self, model: &Autoencoder) -> usize {
        match self {
            Values::Features => model.n_features(),
            Values::Latent => model.latent_dim(),
        }
    }

    fn what(self) -> &'static str {
        match self {
            Values::Features => "features",
            Values::Latent => "latent values",
        }
    }

    /// The model's policy for its features; latent values are never imputed.
    fn policy(self, model: &Autoencoder) -> MissingPolicy {
        match self {
            Values::Features => model.missing_policy(),
            Values::Latent => MissingPolicy::Reject,
        }
    }
}

/// Plan time, all checks in one: the model named by argument 0 and the value arguments
/// `value_fields` that must match it. Returns the model's name and the model.
pub(crate) fn plan_call(
    function: &str,
    registry: &ModelRegistry,
    args: &ReturnFieldArgs,
    value_fields: &[FieldRef],
    values: Values,
) -> DFResult<(String, Arc<Autoencoder>)> {
    let (name, model) = planned_model(function, registry, args)?;
    let names = match values {
        Values::Features => model.feature_names().to_vec(),
        Values::Latent => Vec::new(),
    };
    check_values(
        function,
        &name,
        value_fields,
        values.width(&model),
        values.what(),
        &names,
    )?;
    Ok((name, model))
}

/// One batch of a function call, ready for the model.
pub(crate) struct Batch {
    /// The model's registered name.
    pub name: String,
    /// The model as registered when the batch runs.
    pub model: Arc<Autoencoder>,
    /// The rows to give the model, `[complete rows, width]`.
    pub x: Array2<f32>,
    /// How to turn the model's output back into one result per input row.
    pub rows: CompleteRows,
    /// Every value argument was a scalar: `x` has one row and the result is a scalar.
    pub scalar: bool,
}

impl Batch {
    /// Read the model (argument 0) and the value arguments `args.args[value_args]`.
    pub(crate) fn prepare(
        function: &str,
        registry: &ModelRegistry,
        args: &ScalarFunctionArgs,
        value_args: std::ops::Range<usize>,
        values: Values,
    ) -> DFResult<Self> {
        let (name, model) = exec_model(function, registry, args)?;
        Self::prepare_with(function, name, model, args, value_args, values)
    }

    /// [`Batch::prepare`] with the model already looked up (see [`exec_model`]).
    pub(crate) fn prepare_with(
        function: &str,
        name: String,
        model: Arc<Autoencoder>,
        args: &ScalarFunctionArgs,
        value_args: std::ops::Range<usize>,
        values: Values,
    ) -> DFResult<Self> {
        let Some(value_columns) = args.args.get(value_args) else {
            return internal_err!("{function}: argument count was checked at plan time");
        };
        let width = values.width(&model);
        let policy = values.policy(&model);
        let (read, scalar) = read_values(
            function,
            &name,
            value_columns,
            args.number_rows,
            width,
            policy,
        )?;
        let (x, rows) = CompleteRows::split(read);
        Ok(Self {
            name,
            model,
            x,
            rows,
            scalar,
        })
    }

    /// Apply `f` to the complete rows, or skip it when there are none (empty or all-NULL batch).
    pub(crate) fn apply<T>(
        &self,
        function: &str,
        empty: impl FnOnce() -> T,
        f: impl FnOnce(&Autoencoder, ArrayView2<f32>) -> crate::Result<T>,
    ) -> DFResult<T> {
        if self.x.nrows() == 0 {
            return Ok(empty());
        }
        f(&self.model, self.x.view()).map_err(|e| user_error(function, &self.name, e))
    }

    /// The model was replaced after planning by one whose output width differs from the
    /// planned return type: the query must be planned again.
    pub(crate) fn check_width(
        &self,
        function: &str,
        return_type: &DataType,
        width: usize,
    ) -> DFResult<()> {
        match vector_shape(return_type) {
            Some((_, Some(planned))) if planned == width => Ok(()),
            Some((_, Some(planned))) => exec_err!(
                "{function}: model '{}' was replaced after the query was planned ({planned} values per row then, {width} now); run the query again",
                self.name
            ),
            _ => internal_err!("{function}: return type {return_type} is not a FixedSizeList"),
        }
    }
}

/// The return field of a function giving one vector of `width(model)` values per row, after the
/// plan-time checks of [`plan_call`] on the value arguments (all arguments after the model).
pub(crate) fn plan_vector_field(
    function: &str,
    registry: &ModelRegistry,
    args: &ReturnFieldArgs,
    values: Values,
    width: fn(&Autoencoder) -> usize,
) -> DFResult<FieldRef> {
    let value_fields = args.arg_fields.get(1..).unwrap_or_default();
    let (_, model) = plan_call(function, registry, args, value_fields, values)?;
    Ok(Arc::new(Field::new(
        function,
        vector_type(width(&model)),
        true,
    )))
}

/// The run-time path of a function giving one vector of `width(model)` values per row:
/// the value arguments (all after the model) read, `f` applied to the usable rows,
/// NULL for the others, a scalar for scalar arguments.
pub(crate) fn invoke_vectors(
    function: &str,
    registry: &ModelRegistry,
    args: &ScalarFunctionArgs,
    values: Values,
    width: fn(&Autoencoder) -> usize,
    f: impl FnOnce(&Autoencoder, ArrayView2<f32>) -> crate::Result<Array2<f32>>,
) -> DFResult<ColumnarValue> {
    let batch = Batch::prepare(function, registry, args, 1..args.args.len(), values)?;
    let n = width(&batch.model);
    batch.check_width(function, args.return_type(), n)?;
    let out = batch.apply(function, || Array2::zeros((0, n)), f)?;
    let out = batch.rows.vectors(out.view(), n)?;
    finish(out, batch.scalar)
}

/// Run time: the model named by the (literal) first argument, as registered now.
pub(crate) fn exec_model(
    function: &str,
    registry: &ModelRegistry,
    args: &ScalarFunctionArgs,
) -> DFResult<(String, Arc<Autoencoder>)> {
    let name = match args.args.first() {
        Some(ColumnarValue::Scalar(s)) => match s.try_as_str() {
            Some(Some(name)) => name.to_string(),
            _ => return internal_err!("{function}: the model name was checked at plan time"),
        },
        _ => return internal_err!("{function}: the model name was checked at plan time"),
    };
    match registry.get(&name) {
        Ok(model) => Ok((name, model)),
        Err(_) => exec_err!(
            "{function}: model '{name}' was dropped after the query was planned; registered models: {}",
            registered(registry)
        ),
    }
}

/// Run time: the value arguments read for the model (`[rows, expected]`, NULL → NaN, the rows it
/// cannot take under `policy` noted), and whether every value argument was a scalar (then there
/// is one row and the result is a scalar).
fn read_values(
    function: &str,
    model_name: &str,
    values: &[ColumnarValue],
    number_rows: usize,
    expected: usize,
    policy: MissingPolicy,
) -> DFResult<(FeatureRows, bool)> {
    let all_scalar = values.iter().all(|v| matches!(v, ColumnarValue::Scalar(_)));
    let rows = if all_scalar { 1 } else { number_rows };
    let arrays = values
        .iter()
        .map(|v| v.to_array_of_size(rows))
        .collect::<DFResult<Vec<ArrayRef>>>()?;
    let input = format!("{function} arguments");
    // One vector argument is read at the model's width (a List's rows must all hold that many
    // values, and a batch of NULL vectors is still readable); n scalars give n columns.
    let read = FeatureRows::read_arrays(&arrays, expected, &input, policy)
        .and_then(|r| r.refuse_wrong_lengths().map(|()| r))
        .map_err(|e| user_error(function, model_name, e))?;
    if read.width() != expected {
        return internal_err!(
            "{function}: {} values per row for model '{model_name}' of width {expected}",
            read.width()
        );
    }
    if read.len() != rows {
        return internal_err!(
            "{function}: {} rows of values for a batch of {rows}",
            read.len()
        );
    }
    Ok((read, all_scalar))
}

/// A model error on user data, as a DataFusion execution error naming function and model.
pub(crate) fn user_error(function: &str, model_name: &str, e: crate::Error) -> DataFusionError {
    DataFusionError::Execution(format!("{function}: model '{model_name}': {e}"))
}

/// The rows of a batch the model can be applied to, and the way back to full-length results.
///
/// A row the model cannot be applied to (see [`CompleteRows::split`]) is left out of the
/// model's input and its result is NULL.
pub(crate) struct CompleteRows {
    rows: usize,
    /// `Some(mask)` when some rows are left out; `None` when every row goes to the model.
    valid: Option<NullBuffer>,
}

impl CompleteRows {
    /// Split the values read into the matrix to give the model (the usable rows, by the rule of
    /// [`FeatureRows`], which [`crate::arrow::score_batch`] follows too, so SQL and batch jobs
    /// agree row for row) and the bookkeeping to scatter results back.
    pub(crate) fn split(read: FeatureRows) -> (Array2<f32>, Self) {
        let rows = read.len();
        let valid = read.valid();
        (read.into_usable().into_matrix(), Self { rows, valid })
    }

    /// Number of rows that go to the model.
    pub(crate) fn complete(&self) -> usize {
        match &self.valid {
            None => self.rows,
            Some(v) => self.rows - v.null_count(),
        }
    }

    /// One `FixedSizeList<Float32>[cols]` per row from the model's `[complete, cols]` output.
    pub(crate) fn vectors(&self, out: ArrayView2<f32>, cols: usize) -> DFResult<ArrayRef> {
        if out.nrows() != self.complete() || out.ncols() != cols {
            return internal_err!(
                "model output is [{}, {}], expected [{}, {cols}]",
                out.nrows(),
                out.ncols(),
                self.complete()
            );
        }
        let list = match &self.valid {
            None => crate::arrow::matrix_to_fixed_size_list(out),
            Some(valid) => crate::arrow::matrix_to_fixed_size_list_masked(
                scatter_rows(valid, out).view(),
                Some(valid.clone()),
            ),
        };
        Ok(Arc::new(list))
    }

    /// One Float64 per row from the model's per-row output.
    pub(crate) fn floats(&self, out: ArrayView1<f64>) -> DFResult<ArrayRef> {
        if out.len() != self.complete() {
            return internal_err!("{} model outputs for {} rows", out.len(), self.complete());
        }
        let values: Vec<f64> = match &self.valid {
            None => out.to_vec(),
            Some(valid) => {
                let mut it = out.iter();
                valid
                    .iter()
                    .map(|ok| {
                        if ok {
                            it.next().copied().unwrap_or(0.0)
                        } else {
                            0.0
                        }
                    })
                    .collect()
            }
        };
        Ok(Arc::new(Float64Array::new(
            values.into(),
            self.valid.clone(),
        )))
    }
}

/// `out` (one row per valid row) spread over `valid.len()` rows; rows that are not valid are 0.
fn scatter_rows(valid: &NullBuffer, out: ArrayView2<f32>) -> Array2<f32> {
    let mut full = Array2::<f32>::zeros((valid.len(), out.ncols()));
    let mut src = out.rows().into_iter();
    for (r, ok) in valid.iter().enumerate() {
        if ok && let Some(row) = src.next() {
            full.row_mut(r).assign(&row);
        }
    }
    full
}

/// The function's result: a scalar when every value argument was a scalar.
pub(crate) fn finish(array: ArrayRef, all_scalar: bool) -> DFResult<ColumnarValue> {
    if all_scalar {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
            array.as_ref(),
            0,
        )?))
    } else {
        Ok(ColumnarValue::Array(array))
    }
}

/// `(item type, width)` of a vector type; width `None` for variable-length lists.
pub(crate) fn vector_shape(t: &DataType) -> Option<(&DataType, Option<usize>)> {
    match t {
        DataType::FixedSizeList(f, n) => Some((f.data_type(), usize::try_from(*n).ok())),
        DataType::List(f) | DataType::LargeList(f) => Some((f.data_type(), None)),
        _ => None,
    }
}

fn is_numeric(t: &DataType) -> bool {
    t.is_numeric() || matches!(t, DataType::Null)
}

fn registered(registry: &ModelRegistry) -> String {
    let names = registry.names();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Float32Type;
    use ndarray::array;

    use super::*;

    /// The rows of `x` as two Float32 argument arrays, read under `policy`.
    fn read(x: &Array2<f32>, policy: MissingPolicy) -> FeatureRows {
        let arrays: Vec<ArrayRef> = x
            .columns()
            .into_iter()
            .map(|c| Arc::new(datafusion::arrow::array::Float32Array::from(c.to_vec())) as ArrayRef)
            .collect();
        FeatureRows::read_arrays(&arrays, x.ncols(), "f arguments", policy).expect("read")
    }

    #[test]
    fn complete_rows_leave_out_nan_and_inf_and_scatter_back_as_null() {
        let x = array![
            [1.0f32, 2.0],
            [f32::NAN, 0.0],
            [3.0, 4.0],
            [f32::INFINITY, 1.0]
        ];
        let (kept, rows) = CompleteRows::split(read(&x, MissingPolicy::Reject));
        assert_eq!(kept, array![[1.0f32, 2.0], [3.0, 4.0]]);
        assert_eq!(rows.complete(), 2);

        // The model's output for the kept rows comes back at their places; the others are NULL.
        let out = array![[10.0f32], [30.0]];
        let v = rows.vectors(out.view(), 1).expect("vectors");
        let v = v.as_fixed_size_list();
        assert_eq!(v.len(), 4);
        assert_eq!(
            (0..4).map(|i| v.is_valid(i)).collect::<Vec<_>>(),
            vec![true, false, true, false]
        );
        assert_eq!(v.value(2).as_primitive::<Float32Type>().value(0), 30.0);
        assert_eq!(v.data_type(), &vector_type(1));

        let f = rows.floats(array![0.5, 1.5].view()).expect("floats");
        let f = f.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        assert_eq!(
            f.iter().collect::<Vec<_>>(),
            vec![Some(0.5), None, Some(1.5), None]
        );

        // Wrong output shapes are bugs, not user errors.
        let err = rows.vectors(array![[1.0f32]].view(), 1).expect_err("shape");
        assert!(matches!(err, DataFusionError::Internal(_)), "{err}");

        // Imputing models see NaN rows (they fill them in), never ±inf rows.
        let (kept, rows) = CompleteRows::split(read(&x, MissingPolicy::ImputeMean));
        assert_eq!(kept.nrows(), 3);
        assert_eq!(rows.complete(), 3);
    }

    #[test]
    fn complete_batches_pass_through_without_copies_or_masks() {
        let x = array![[1.0f32, 2.0], [3.0, 4.0]];
        let (kept, rows) = CompleteRows::split(read(&x, MissingPolicy::Reject));
        assert_eq!(kept, x);
        assert!(rows.valid.is_none());
        let f = rows.floats(array![1.0, 2.0].view()).expect("floats");
        assert_eq!(f.null_count(), 0);
    }

    #[test]
    fn coercion_keeps_the_model_literal_and_types_null_values() {
        let t = coerce(
            "f",
            &[
                DataType::Utf8,
                DataType::Null,
                DataType::Int8,
                DataType::Null,
            ],
        )
        .expect("coerce");
        assert_eq!(
            t,
            vec![
                DataType::Utf8,
                DataType::Float32,
                DataType::Int8,
                DataType::Float32
            ]
        );
        assert_eq!(
            coerce("f", &[DataType::Null]).expect("coerce"),
            vec![DataType::Null]
        );
        let err = coerce("ae_encode", &[])
            .expect_err("no arguments")
            .to_string();
        assert!(err.contains("ae_encode: expected a model name"), "{err}");
    }
}
