//! The argument of the table functions `ae_model_info` and `ae_training_history`.

use datafusion::common::{Result as DFResult, ScalarValue, plan_err};
use datafusion::logical_expr::Expr;

use crate::sql::registry::ModelRegistry;

/// The model name of `function('name')`: exactly one string literal.
pub(crate) fn model_name_argument(
    function: &str,
    registry: &ModelRegistry,
    exprs: &[Expr],
) -> DFResult<String> {
    if let [Expr::Literal(value, _)] = exprs
        && let Some(Some(name)) = ScalarValue::try_as_str(value)
    {
        return Ok(name.to_string());
    }
    let names = registry.names();
    let registered = if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    };
    plan_err!(
        "{function}: expected one string literal naming a registered model, e.g. \
         SELECT * FROM {function}('my_model'); registered models: {registered}"
    )
}
