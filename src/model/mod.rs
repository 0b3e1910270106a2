//! The autoencoder: configuration, training loop, scaling, thresholds and the model file.
//!
//! The public API (used by the `arrow`, `batch`, `sql`, `stream` and `report` surfaces and the
//! CLI) is re-exported here: [`TrainConfig`] → [`Autoencoder::fit`] → encode / decode /
//! reconstruct / [`Autoencoder::score`] → [`Autoencoder::save`] / [`Autoencoder::load`].

mod adaptive_threshold;
mod architecture;
mod autoencoder;
mod block_queue;
mod config;
mod convolutional;
mod drift;
mod ensemble;
mod feature_balance;
mod file;
mod kind;
mod kind_options;
mod observer;
mod options;
mod parts;
mod scaler;
mod score;
mod scoring;
mod sliding_window;
mod source;
mod spatial_spec;
mod summary;
mod threshold;
mod train;
mod variational;

#[cfg(test)]
mod testdata;

pub use adaptive_threshold::{
    AdaptiveThreshold, AdaptiveThresholdConfig, CHECKPOINT_POINTS, DEFAULT_WINDOW,
    ThresholdCheckpoint,
};
pub use architecture::{Architecture, default_hidden, default_latent};
pub use autoencoder::{Autoencoder, INFERENCE_CHUNK};
pub use config::{ActivationKind, LossKind, OptimizerKind, TrainConfig};
pub use convolutional::{
    ConvolutionalConfig, DEFAULT_FILTERS, DEFAULT_KERNEL_SIZE, Downsample, Upsampling,
};
pub use drift::{
    DEFAULT_PSI_ALERT, PSI_EPSILON, SlidingMeans, feature_mean_shift, psi_term, score_psi,
};
pub use file::{FORMAT, FORMAT_VERSION};
pub use kind::Kind;
pub use kind_options::{
    DEFAULT_L1_ACTIVITY, DEFAULT_NOISE_STD, DEFAULT_SPARSITY_WEIGHT, KindOptions,
};
pub use observer::{EpochRecord, Silent, TrainObserver};
#[cfg(feature = "io")]
pub(crate) use options::check_integer;
pub use options::{
    Choice, DEFAULT_MAX_ROWS, OptionSpec, Range, RawValue, Spelling, TRAIN_OPTIONS, TrainRequest,
    TypedValue, ValueSpec, mention, mention_value, option_spec, respell, spell_mentions,
    training_spelling,
};
pub use scaler::{MissingPolicy, Preprocessing, ScalerKind};
pub use score::{ScoreOptions, Scores};
pub use sliding_window::{MAX_WINDOW, SlidingWindow};
pub use source::ModelSource;
pub use summary::{DEAD_UNIT_STD, Diagnostics, LatentActivity, ModelSummary};
pub use threshold::{
    DIAGNOSTIC_QUANTILES, calibrate, error_quantiles, quantile_sorted, sorted_errors,
};
pub use variational::{DEFAULT_BETA, Sampler, VariationalConfig, VariationalScore};
