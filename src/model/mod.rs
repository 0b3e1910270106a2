//! The autoencoder: configuration, training loop, scaling, thresholds and the model file.
//!
//! API CONTRACT (skeleton): the signatures in this module are what the surfaces (`arrow`, `batch`,
//! `sql`, `stream`, `report`, CLI) code against. Bodies marked `todo!()` are being filled in.
//! Keep every public signature; add to it freely.

mod api;

pub use api::*;
