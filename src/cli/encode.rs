//! `aeflow encode` (skeleton).

use crate::error::Result;

/// Arguments of `aeflow encode`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `aeflow encode`.
pub fn run(_args: Args) -> Result<()> {
    Err(crate::Error::Internal(
        "aeflow encode is not built yet".into(),
    ))
}
