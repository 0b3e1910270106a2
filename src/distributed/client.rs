//! A client session that plans SQL with aeflow's functions and runs it on a Ballista cluster.

use ballista::prelude::SessionContextExt;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionContext;

use crate::error::Result;
use crate::sql::{ModelRegistry, register};

/// A session whose queries run on the Ballista scheduler at `url` (`df://host:port`; the port
/// defaults to 50050), with aeflow's functions over `models` registered as by
/// [`crate::sql::register`]. Nothing is contacted until the first query runs.
///
/// `models` must hold the same models as the scheduler and the executors: the client resolves
/// them to plan (return types, argument checks), the cluster to run.
pub async fn remote_context(url: &str, models: ModelRegistry) -> Result<SessionContext> {
    let state = SessionStateBuilder::new().with_default_features().build();
    let ctx = SessionContext::remote_with_state(url, state).await?;
    // Turning the state into a Ballista state resets its scalar functions to Ballista's
    // defaults, so aeflow's are registered on the finished context.
    register(&ctx, models);
    Ok(ctx)
}
