//! `aeflow stream` (skeleton).

use crate::error::Result;

/// Arguments of `aeflow stream`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `aeflow stream`.
pub fn run(_args: Args) -> Result<()> {
    Err(crate::Error::Internal(
        "aeflow stream is not built yet".into(),
    ))
}
