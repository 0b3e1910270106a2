//! `aeflow train` (skeleton).

use crate::error::Result;

/// Arguments of `aeflow train`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `aeflow train`.
pub fn run(_args: Args) -> Result<()> {
    Err(crate::Error::Internal(
        "aeflow train is not built yet".into(),
    ))
}
