//! `aeflow inspect` (skeleton).

use crate::error::Result;

/// Arguments of `aeflow inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `aeflow inspect`.
pub fn run(_args: Args) -> Result<()> {
    Err(crate::Error::Internal(
        "aeflow inspect is not built yet".into(),
    ))
}
