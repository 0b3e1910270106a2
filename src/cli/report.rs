//! `aeflow report` (skeleton).

use crate::error::Result;

/// Arguments of `aeflow report`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `aeflow report`.
pub fn run(_args: Args) -> Result<()> {
    Err(crate::Error::Internal(
        "aeflow report is not built yet".into(),
    ))
}
