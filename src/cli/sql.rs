//! `aeflow sql` (skeleton).

use crate::error::Result;

/// Arguments of `aeflow sql`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `aeflow sql`.
pub fn run(_args: Args) -> Result<()> {
    Err(crate::Error::Internal("aeflow sql is not built yet".into()))
}
