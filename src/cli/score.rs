//! `aeflow score` (skeleton).

use crate::error::Result;

/// Arguments of `aeflow score`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `aeflow score`.
pub fn run(_args: Args) -> Result<()> {
    Err(crate::Error::Internal(
        "aeflow score is not built yet".into(),
    ))
}
