//! The training options, each declared once: name, accepted value, default, one-line doc, and
//! the kind it belongs to. The command line (`aeflow train --learning-rate 0.01`) and SQL
//! (`CREATE MODEL … OPTIONS (learning_rate = 0.01)`) are both derived from [`TRAIN_OPTIONS`];
//! [`TrainConfig::validate`] checks its numbers against the same ranges.

use std::fmt::Display;

use super::request::Draft;
use super::value::{Choice, Range, TypedValue, ValueSpec};
use crate::error::{Error, Result};
use crate::model::config::TrainConfig;
use crate::model::convolutional::{DEFAULT_FILTERS, DEFAULT_KERNEL_SIZE, Downsample, Upsampling};
use crate::model::kind_options::{DEFAULT_L1_ACTIVITY, DEFAULT_NOISE_STD, DEFAULT_SPARSITY_WEIGHT};
use crate::model::variational::VariationalConfig;

/// Default `max_rows`: train on a uniform random sample of this many rows of larger inputs.
pub const DEFAULT_MAX_ROWS: usize = 1_000_000;

/// One training option.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    /// Neutral snake_case name: the SQL key; the command line spells it `--kebab-case`.
    pub name: &'static str,
    /// Other names accepted for it (`hidden` for `hidden_units`).
    pub aliases: &'static [&'static str],
    /// What it accepts.
    pub value: ValueSpec,
    /// Its default as text, for help (`None`: no value, or one computed from the data; the doc
    /// says which).
    pub default: fn() -> Option<String>,
    /// One line of documentation; other options are marked as in [`super::mention`].
    pub doc: &'static str,
    /// `Some(kind)`: the option applies to that kind of autoencoder only.
    pub kind: Option<&'static str>,
    /// Stores a checked value.
    pub(super) set: fn(&mut Draft, TypedValue) -> Result<()>,
}

impl OptionSpec {
    /// Whether `key` names this option (its name or an alias, any case).
    pub fn is_named(&self, key: &str) -> bool {
        std::iter::once(&self.name)
            .chain(self.aliases)
            .any(|n| n.eq_ignore_ascii_case(key))
    }
}

/// The option `key` names (by name or alias, any case).
pub fn option_spec(key: &str) -> Option<&'static OptionSpec> {
    TRAIN_OPTIONS.iter().find(|s| s.is_named(key))
}

/// `v` checked against the range the table gives option `name` (an [`Error::Config`] naming
/// it otherwise): the one definition of the range, for values that did not come through the
/// table (a [`TrainConfig`] built in code).
pub(crate) fn check_number<T: Into<f64> + Display + Copy>(name: &str, v: T) -> Result<()> {
    match option_spec(name).map(|s| s.value) {
        Some(ValueSpec::Number(range)) if range.contains(v.into()) => Ok(()),
        Some(spec @ ValueSpec::Number(_)) => Err(Error::config(
            name,
            format!("expected {}, got {v}", spec.expected()),
        )),
        _ => Err(Error::Internal(format!("{name} is no number option"))),
    }
}

/// [`check_number`] for a whole number.
pub(crate) fn check_integer(name: &str, v: usize) -> Result<()> {
    match option_spec(name).map(|s| s.value) {
        Some(ValueSpec::Integer { min }) if v as u64 >= min => Ok(()),
        Some(spec @ ValueSpec::Integer { .. }) => Err(Error::config(
            name,
            format!("expected {}, got {v}", spec.expected()),
        )),
        _ => Err(Error::Internal(format!("{name} is no integer option"))),
    }
}

const fn choice(name: &'static str) -> Choice {
    Choice { name, aliases: &[] }
}

const KINDS: &[Choice] = &[
    choice("vanilla"),
    choice("denoising"),
    choice("sparse"),
    choice("variational"),
    choice("convolutional"),
];

const ACTIVATIONS: &[Choice] = &[
    choice("relu"),
    choice("leaky_relu"),
    choice("elu"),
    choice("selu"),
    choice("tanh"),
    choice("sigmoid"),
    choice("linear"),
];

/// A default taken from [`TrainConfig::default`], so it is written once.
fn config_default<T: Display>(field: fn(&TrainConfig) -> T) -> Option<String> {
    Some(field(&TrainConfig::default()).to_string())
}

/// The serde name of a config enum value (`min_max`), the spelling the table accepts.
fn serde_name<T: serde::Serialize>(v: &T) -> Option<String> {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
}

fn list(values: &[usize]) -> String {
    crate::model::config::fmt_widths(values)
}

/// Every training option, in the order help lists them.
pub static TRAIN_OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "kind",
        aliases: &[],
        value: ValueSpec::Choice(KINDS),
        default: || config_default(|c| c.kind.name()),
        doc: "Kind of autoencoder.",
        kind: None,
        set: |d, v| {
            d.kind.kind = Some(v.name()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "hidden_units",
        aliases: &["hidden"],
        value: ValueSpec::Sizes {
            example: "64,16,64",
        },
        default: || None,
        doc: "Hidden layer widths, encoder to decoder; the middle one is the latent size (default: sized from the number of features).",
        kind: None,
        set: |d, v| {
            d.request.config.hidden = Some(v.sizes()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "latent",
        aliases: &[],
        value: ValueSpec::Integer { min: 1 },
        default: || None,
        doc: "Latent size when `hidden_units` is not given (default: chosen from the number of features).",
        kind: None,
        set: |d, v| {
            d.request.config.latent = Some(v.usize()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "activation",
        aliases: &[],
        value: ValueSpec::Choice(ACTIVATIONS),
        default: || config_default(|c| c.activation.name()),
        doc: "Activation of the hidden layers.",
        kind: None,
        set: |d, v| {
            d.request.config.activation = v.choice()?;
            Ok(())
        },
    },
    OptionSpec {
        name: "output_activation",
        aliases: &[],
        value: ValueSpec::Choice(ACTIVATIONS),
        default: || config_default(|c| c.output_activation.name()),
        doc: "Activation of the output layer (sigmoid suits data in [0, 1], with `scaler = min_max`).",
        kind: None,
        set: |d, v| {
            d.request.config.output_activation = v.choice()?;
            Ok(())
        },
    },
    OptionSpec {
        name: "loss",
        aliases: &[],
        value: ValueSpec::Choice(&[choice("mse"), choice("bce")]),
        default: || serde_name(&TrainConfig::default().loss),
        doc: "Reconstruction loss: mean squared error, or binary cross-entropy (needs `output_activation = sigmoid` and features in [0, 1]).",
        kind: None,
        set: |d, v| {
            d.request.config.loss = v.choice()?;
            Ok(())
        },
    },
    OptionSpec {
        name: "optimizer",
        aliases: &[],
        value: ValueSpec::Choice(&[
            choice("adam"),
            choice("sgd"),
            choice("rmsprop"),
            choice("adagrad"),
        ]),
        default: || serde_name(&TrainConfig::default().optimizer),
        doc: "Optimizer.",
        kind: None,
        set: |d, v| {
            d.request.config.optimizer = v.choice()?;
            Ok(())
        },
    },
    OptionSpec {
        name: "learning_rate",
        aliases: &[],
        value: ValueSpec::Number(Range::above(0.0)),
        default: || None,
        doc: "Learning rate (default: the optimizer's usual one, 1e-3 for Adam and RMSprop, 1e-2 for SGD and Adagrad).",
        kind: None,
        set: |d, v| {
            d.request.config.learning_rate = Some(v.f32()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "weight_decay",
        aliases: &[],
        value: ValueSpec::Number(Range::at_least(0.0)),
        default: || config_default(|c| c.weight_decay),
        doc: "L2 weight decay on the weights (not the biases).",
        kind: None,
        set: |d, v| {
            d.request.config.weight_decay = v.f32()?;
            Ok(())
        },
    },
    OptionSpec {
        name: "dropout",
        aliases: &[],
        value: ValueSpec::Number(Range::half_open(0.0, 1.0)),
        default: || config_default(|c| c.dropout),
        doc: "Dropout probability after every hidden layer but the latent one, during training.",
        kind: None,
        set: |d, v| {
            d.request.config.dropout = v.f32()?;
            Ok(())
        },
    },
    OptionSpec {
        name: "batch_size",
        aliases: &[],
        value: ValueSpec::Integer { min: 1 },
        default: || config_default(|c| c.batch_size),
        doc: "Rows per mini-batch.",
        kind: None,
        set: |d, v| {
            d.request.config.batch_size = v.usize()?;
            Ok(())
        },
    },
    OptionSpec {
        name: "epochs",
        aliases: &[],
        value: ValueSpec::Integer { min: 1 },
        default: || config_default(|c| c.epochs),
        doc: "Maximum number of epochs (early stopping usually ends sooner).",
        kind: None,
        set: |d, v| {
            d.request.config.epochs = v.usize()?;
            Ok(())
        },
    },
    OptionSpec {
        name: "validation_split",
        aliases: &[],
        value: ValueSpec::Number(Range::half_open(0.0, 1.0)),
        default: || config_default(|c| c.validation_split),
        doc: "Fraction of rows held out to validate on (0 = none).",
        kind: None,
        set: |d, v| {
            d.request.config.validation_split = v.f32()?;
            Ok(())
        },
    },
    OptionSpec {
        name: "early_stop",
        aliases: &["early_stopping"],
        value: ValueSpec::Bool,
        default: || config_default(|c| c.early_stopping),
        doc: "Stop when the validation loss stops improving for `patience` epochs, restoring the best weights.",
        kind: None,
        set: |d, v| {
            d.request.config.early_stopping = v.bool()?;
            Ok(())
        },
    },
    OptionSpec {
        name: "patience",
        aliases: &[],
        value: ValueSpec::Integer { min: 1 },
        default: || config_default(|c| c.patience),
        doc: "Epochs without progress before stopping early.",
        kind: None,
        set: |d, v| {
            d.request.config.patience = v.usize()?;
            Ok(())
        },
    },
    OptionSpec {
        name: "min_rel_delta",
        aliases: &[],
        value: ValueSpec::Number(Range::at_least(0.0)),
        default: || config_default(|c| c.min_rel_delta),
        doc: "Minimum relative improvement of the validation loss that counts as progress.",
        kind: None,
        set: |d, v| {
            d.request.config.min_rel_delta = v.f32()?;
            Ok(())
        },
    },
    OptionSpec {
        name: "scaler",
        aliases: &[],
        value: ValueSpec::Choice(&[
            choice("standard"),
            Choice {
                name: "min_max",
                aliases: &["minmax"],
            },
            choice("robust"),
            choice("none"),
        ]),
        default: || serde_name(&TrainConfig::default().scaler),
        doc: "Feature scaling learned from the training data: (x − mean) / std, into [0, 1], (x − median) / interquartile range, or none.",
        kind: None,
        set: |d, v| {
            d.request.config.scaler = v.choice()?;
            Ok(())
        },
    },
    OptionSpec {
        name: "missing",
        aliases: &[],
        value: ValueSpec::Choice(&[
            choice("reject"),
            Choice {
                name: "impute_mean",
                aliases: &["impute"],
            },
        ]),
        default: || serde_name(&TrainConfig::default().missing),
        doc: "NULL / NaN features: reject them with an error, or impute the training mean.",
        kind: None,
        set: |d, v| {
            d.request.config.missing = v.choice()?;
            Ok(())
        },
    },
    OptionSpec {
        name: "contamination",
        aliases: &[],
        value: ValueSpec::Number(Range {
            min: 0.0,
            min_open: false,
            max: Some(0.5),
            max_open: false,
        }),
        default: || config_default(|c| c.contamination),
        doc: "Expected fraction of anomalies; the threshold is the matching quantile of training errors (0 = no threshold).",
        kind: None,
        set: |d, v| {
            d.request.config.contamination = v.f64()?;
            Ok(())
        },
    },
    OptionSpec {
        name: "ensemble",
        aliases: &[],
        value: ValueSpec::Integer { min: 1 },
        default: || config_default(|c| c.ensemble),
        doc: "Autoencoders trained with different seeds and folded into one network that outputs their mean reconstruction (dense kinds; 1 for the others).",
        kind: None,
        set: |d, v| {
            d.request.config.ensemble = v.usize()?;
            Ok(())
        },
    },
    OptionSpec {
        name: "normalize_errors",
        aliases: &[],
        value: ValueSpec::Bool,
        default: || config_default(|c| c.normalize_errors),
        doc: "Divide each feature's squared error by its mean over the training rows, so no single feature dominates the reconstruction error (dense kinds with a linear output and loss mse; ignored otherwise).",
        kind: None,
        set: |d, v| {
            d.request.config.normalize_errors = v.bool()?;
            Ok(())
        },
    },
    OptionSpec {
        name: "threshold",
        aliases: &[],
        value: ValueSpec::Number(Range::at_least(0.0)),
        default: || None,
        doc: "An anomaly threshold that replaces the one calibrated from `contamination`.",
        kind: None,
        set: |d, v| {
            d.request.threshold = Some(v.f64()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "seed",
        aliases: &[],
        value: ValueSpec::Integer { min: 0 },
        default: || config_default(|c| c.seed),
        doc: "Seed of every random draw (initialisation, shuffling, split, sampling, noise).",
        kind: None,
        set: |d, v| {
            d.request.config.seed = v.u64()?;
            Ok(())
        },
    },
    OptionSpec {
        name: "max_rows",
        aliases: &[],
        value: ValueSpec::Integer { min: 1 },
        default: || Some(DEFAULT_MAX_ROWS.to_string()),
        doc: "Train on a uniform random sample of this many rows when the input has more.",
        kind: None,
        set: |d, v| {
            d.request.max_rows = v.usize()?;
            Ok(())
        },
    },
    OptionSpec {
        name: "columns",
        aliases: &[],
        value: ValueSpec::Names { example: "a,b,c" },
        default: || None,
        doc: "Feature columns, in order (default: every numeric column, or the one vector column).",
        kind: None,
        set: |d, v| {
            d.request.columns = Some(v.names()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "exclude",
        aliases: &[],
        value: ValueSpec::Names { example: "id,ts" },
        default: || None,
        doc: "Numeric columns that are not features (ids, timestamps as numbers, labels).",
        kind: None,
        set: |d, v| {
            d.request.exclude = Some(v.names()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "noise_std",
        aliases: &[],
        value: ValueSpec::Number(Range::at_least(0.0)),
        default: || Some(DEFAULT_NOISE_STD.to_string()),
        doc: "Std of the gaussian input noise, in scaled units (default 0 when only `mask_ratio` is given).",
        kind: Some("denoising"),
        set: |d, v| {
            d.kind.noise_std = Some(v.f32()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "mask_ratio",
        aliases: &[],
        value: ValueSpec::Number(Range::half_open(0.0, 1.0)),
        default: || Some("0".into()),
        doc: "Fraction of features set to 0 per row.",
        kind: Some("denoising"),
        set: |d, v| {
            d.kind.mask_ratio = Some(v.f32()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "l1_activity",
        aliases: &[],
        value: ValueSpec::Number(Range::at_least(0.0)),
        default: || Some(DEFAULT_L1_ACTIVITY.to_string()),
        doc: "L1 penalty weight on the latent activity (default 0 when `sparsity_target` is given).",
        kind: Some("sparse"),
        set: |d, v| {
            d.kind.l1_activity = Some(v.f32()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "sparsity_target",
        aliases: &[],
        value: ValueSpec::Number(Range {
            min: 0.0,
            min_open: true,
            max: Some(1.0),
            max_open: true,
        }),
        default: || None,
        doc: "Target mean activation of the latent units, for a KL penalty (default: no KL penalty).",
        kind: Some("sparse"),
        set: |d, v| {
            d.kind.sparsity_target = Some(v.f32()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "sparsity_weight",
        aliases: &[],
        value: ValueSpec::Number(Range::at_least(0.0)),
        default: || Some(DEFAULT_SPARSITY_WEIGHT.to_string()),
        doc: "Weight of the KL penalty (needs `sparsity_target`).",
        kind: Some("sparse"),
        set: |d, v| {
            d.kind.sparsity_weight = Some(v.f32()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "beta",
        aliases: &[],
        value: ValueSpec::Number(Range::at_least(0.0)),
        default: || Some(VariationalConfig::default().beta.to_string()),
        doc: "Weight β of the KL term.",
        kind: Some("variational"),
        set: |d, v| {
            d.kind.beta = Some(v.f32()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "kl_warmup",
        aliases: &[],
        value: ValueSpec::Integer { min: 0 },
        default: || Some(VariationalConfig::default().kl_warmup.to_string()),
        doc: "Epochs over which β rises linearly from 0 (0 = no warm-up).",
        kind: Some("variational"),
        set: |d, v| {
            d.kind.kl_warmup = Some(v.usize()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "anomaly_score",
        aliases: &[],
        value: ValueSpec::Choice(&[choice("reconstruction"), choice("elbo")]),
        default: || Some(VariationalConfig::default().score.name().into()),
        doc: "The anomaly score: reconstruction error of the mean, or negative ELBO.",
        kind: Some("variational"),
        set: |d, v| {
            d.kind.anomaly_score = Some(v.choice()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "input_shape",
        aliases: &[],
        value: ValueSpec::Sizes { example: "1,28,28" },
        default: || None,
        doc: "Shape of one row, channels,length (e.g. 1,128) or channels,height,width (e.g. 1,28,28); required.",
        kind: Some("convolutional"),
        set: |d, v| {
            d.kind.input_shape = Some(v.sizes()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "filters",
        aliases: &[],
        value: ValueSpec::Sizes { example: "16,32" },
        default: || Some(list(&DEFAULT_FILTERS)),
        doc: "Filters of each encoder block.",
        kind: Some("convolutional"),
        set: |d, v| {
            d.kind.filters = Some(v.sizes()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "kernel_size",
        aliases: &[],
        value: ValueSpec::Sizes { example: "5,3" },
        default: || Some(DEFAULT_KERNEL_SIZE.to_string()),
        doc: "Kernel size, odd: one for every block, or one per block.",
        kind: Some("convolutional"),
        set: |d, v| {
            d.kind.kernel_size = Some(v.sizes()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "downsample",
        aliases: &[],
        value: ValueSpec::Choice(&[choice("stride"), choice("max_pool")]),
        default: || serde_name(&Downsample::default()),
        doc: "How each encoder block halves the size: a stride-2 convolution, or 2×2 max pooling.",
        kind: Some("convolutional"),
        set: |d, v| {
            d.kind.downsample = Some(v.choice()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "upsample",
        aliases: &[],
        value: ValueSpec::Choice(&[choice("transpose"), choice("nearest")]),
        default: || serde_name(&Upsampling::default()),
        doc: "How each decoder block restores it: a transposed convolution, or nearest-neighbour resizing.",
        kind: Some("convolutional"),
        set: |d, v| {
            d.kind.upsample = Some(v.choice()?);
            Ok(())
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LossKind, OptimizerKind, ScalerKind, VariationalScore};

    #[test]
    fn names_and_aliases_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for s in TRAIN_OPTIONS {
            for n in std::iter::once(&s.name).chain(s.aliases) {
                assert!(seen.insert(*n), "{n} twice");
                assert!(
                    n.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                    "{n}"
                );
            }
        }
    }

    /// The defaults help shows are the values an option not given takes.
    #[test]
    fn shown_defaults_match_the_config_defaults() {
        let shown = |n: &str| (option_spec(n).expect(n).default)();
        let c = TrainConfig::default();
        assert_eq!(shown("loss").as_deref(), Some("mse"));
        assert_eq!(c.loss, LossKind::Mse);
        assert_eq!(shown("optimizer").as_deref(), Some("adam"));
        assert_eq!(c.optimizer, OptimizerKind::Adam);
        assert_eq!(shown("scaler").as_deref(), Some("standard"));
        assert_eq!(c.scaler, ScalerKind::Standard);
        assert_eq!(shown("missing").as_deref(), Some("reject"));
        assert_eq!(shown("downsample").as_deref(), Some("stride"));
        assert_eq!(Downsample::default(), Downsample::Stride);
        assert_eq!(shown("upsample").as_deref(), Some("transpose"));
        assert_eq!(Upsampling::default(), Upsampling::Transpose);
        assert_eq!(shown("anomaly_score").as_deref(), Some("reconstruction"));
        assert_eq!(
            VariationalScore::default(),
            VariationalScore::Reconstruction
        );
        assert_eq!(shown("epochs").as_deref(), Some("100"));
        assert_eq!(shown("max_rows").as_deref(), Some("1000000"));
    }

    #[test]
    fn ranges_name_the_option() {
        assert!(check_number("dropout", 0.5f32).is_ok());
        let e = check_number("dropout", 1.0f32).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid value for dropout: expected a number in [0, 1), got 1"
        );
        let e = check_integer("epochs", 0).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid value for epochs: expected a positive integer, got 0"
        );
        assert!(matches!(
            check_number("epochs", 1.0),
            Err(Error::Internal(_))
        ));
    }
}
