//! Training progress: the per-epoch history record and the observer that receives progress.

use serde::{Deserialize, Serialize};

/// One epoch of training history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    /// Mean reconstruction loss (the configured loss, scaled units) over the epoch's mini-batches,
    /// weighted by batch rows, as trained: with input corruption and dropout, without penalties.
    pub train_loss: f64,
    /// Reconstruction loss on the held-out rows, in inference mode; `None` without a validation
    /// split.
    pub val_loss: Option<f64>,
    /// Wall-clock seconds of the epoch (training and validation).
    pub seconds: f64,
}

/// Receives training progress (the CLI draws a progress bar from it).
#[allow(unused_variables)]
pub trait TrainObserver {
    /// Before an epoch: 1-based epoch, total epochs, batches in the epoch.
    fn on_epoch_start(&mut self, epoch: usize, epochs: usize, batches: usize) {}
    /// After each mini-batch (1-based within the epoch), with its loss and the epoch's throughput
    /// so far.
    fn on_batch(&mut self, batch: usize, loss: f64, samples_per_second: f64) {}
    /// After an epoch.
    fn on_epoch_end(&mut self, record: &EpochRecord) {}
    /// Free-form notes (early stop, sampling, dead latent units).
    fn on_message(&mut self, message: &str) {}
}

/// A [`TrainObserver`] that ignores everything.
pub struct Silent;
impl TrainObserver for Silent {}
