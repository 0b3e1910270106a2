//! `aeflow demo` (skeleton).

use crate::error::Result;

/// Arguments of `aeflow demo`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `aeflow demo`.
pub fn run(_args: Args) -> Result<()> {
    Err(crate::Error::Internal(
        "aeflow demo is not built yet".into(),
    ))
}
