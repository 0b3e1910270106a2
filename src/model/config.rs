//! Training configuration: what `train` accepts, its defaults, and their checks.
//!
//! The defaults are what most users get, so they aim at a sensible model on any table with no
//! options: the architecture is sized from the number of features (see
//! [`super::architecture`]), features are standardised, 10 % of rows are held out and training
//! stops early once the validation loss stops improving, restoring the best weights.

use serde::{Deserialize, Serialize};

use super::kind::Kind;
use super::options::{check_integer, check_number, mention, mention_value};
use super::scaler::{MissingPolicy, ScalerKind};
use crate::error::{Error, Result};
use crate::nn::optim::{AdagradConfig, AdamConfig, OptimizerConfig, RmspropConfig, SgdConfig};
use crate::nn::{Activation, Loss};

/// Activation function names as used in configs, the CLI and the model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivationKind {
    /// `max(x, 0)`.
    Relu,
    /// `x` for `x > 0`, else `0.01·x`.
    LeakyRelu,
    /// `x` for `x > 0`, else `eˣ − 1`.
    Elu,
    /// Self-normalising scaled elu.
    Selu,
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic function.
    Sigmoid,
    /// Identity.
    Linear,
}

impl ActivationKind {
    /// The name used in the CLI and the model file.
    pub fn name(self) -> &'static str {
        match self {
            ActivationKind::Relu => "relu",
            ActivationKind::LeakyRelu => "leaky_relu",
            ActivationKind::Elu => "elu",
            ActivationKind::Selu => "selu",
            ActivationKind::Tanh => "tanh",
            ActivationKind::Sigmoid => "sigmoid",
            ActivationKind::Linear => "linear",
        }
    }
}

impl From<ActivationKind> for Activation {
    fn from(a: ActivationKind) -> Self {
        match a {
            ActivationKind::Relu => Activation::Relu,
            ActivationKind::LeakyRelu => Activation::LeakyRelu,
            ActivationKind::Elu => Activation::Elu,
            ActivationKind::Selu => Activation::Selu,
            ActivationKind::Tanh => Activation::Tanh,
            ActivationKind::Sigmoid => Activation::Sigmoid,
            ActivationKind::Linear => Activation::Linear,
        }
    }
}

impl From<Activation> for ActivationKind {
    fn from(a: Activation) -> Self {
        match a {
            Activation::Relu => ActivationKind::Relu,
            Activation::LeakyRelu => ActivationKind::LeakyRelu,
            Activation::Elu => ActivationKind::Elu,
            Activation::Selu => ActivationKind::Selu,
            Activation::Tanh => ActivationKind::Tanh,
            Activation::Sigmoid => ActivationKind::Sigmoid,
            Activation::Linear => ActivationKind::Linear,
        }
    }
}

/// Reconstruction loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// Mean squared error.
    #[default]
    Mse,
    /// Binary cross-entropy (sigmoid output, features scaled into [0, 1]).
    Bce,
}

impl From<LossKind> for Loss {
    fn from(l: LossKind) -> Self {
        match l {
            LossKind::Mse => Loss::Mse,
            LossKind::Bce => Loss::Bce,
        }
    }
}

/// Optimizer choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Adam, paper defaults (lr 1e-3).
    #[default]
    Adam,
    /// SGD with momentum 0.9 (lr 1e-2).
    Sgd,
    /// RMSprop, ρ = 0.9 (lr 1e-3).
    Rmsprop,
    /// Adagrad (lr 1e-2).
    Adagrad,
}

/// Everything `train` accepts. `Default` gives the defaults most users rely on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Kind of autoencoder. Default: vanilla.
    pub kind: Kind,
    /// Hidden units, encoder and decoder, e.g. `[64, 16, 64]`; the middle one is the latent size.
    /// `None`: sized from the number of features (and `latent`).
    pub hidden: Option<Vec<usize>>,
    /// Latent size when `hidden` is not given. `None`: chosen from the number of features.
    pub latent: Option<usize>,
    /// Activation of the hidden and latent layers. Default: elu (smooth, and no dead units in
    /// the narrow layers small tables get, unlike relu).
    pub activation: ActivationKind,
    /// Activation of the output layer. Default: linear (standardised features are unbounded).
    pub output_activation: ActivationKind,
    /// Training loss. Default: mean squared error.
    pub loss: LossKind,
    /// Default: Adam.
    pub optimizer: OptimizerKind,
    /// `None`: the optimizer's paper default (Adam 1e-3).
    pub learning_rate: Option<f32>,
    /// Coupled L2 weight decay on weights (not biases). Default 0.
    pub weight_decay: f32,
    /// Dropout probability after every hidden layer except the latent one. Default 0.
    pub dropout: f32,
    /// Rows per mini-batch. Default 64.
    pub batch_size: usize,
    /// Maximum number of epochs. Default 100 (early stopping usually ends sooner).
    pub epochs: usize,
    /// Fraction of rows held out for validation (0 = none). Default 0.1.
    pub validation_split: f32,
    /// Stop when the monitored loss (validation, or training without a validation split) has not
    /// improved for `patience` epochs; the best weights are restored. Default on.
    pub early_stopping: bool,
    /// Epochs without progress before stopping. Default 10.
    pub patience: usize,
    /// Minimum relative improvement of the validation loss that counts as progress.
    /// Default 1e-3 (0.1 %).
    pub min_rel_delta: f32,
    /// Feature scaling. Default: standard.
    pub scaler: ScalerKind,
    /// NULL / NaN handling. Default: reject.
    pub missing: MissingPolicy,
    /// Fraction of training rows expected to be anomalous; threshold = (1 − c) quantile of training
    /// errors. 0 = no threshold. Default 0.01.
    pub contamination: f64,
    /// Seed of every random draw (initialisation, shuffling, split, noise, dropout). Default 42.
    pub seed: u64,
    /// After training, divide each feature's squared error by its training mean, folded into the
    /// scaler and the first and last layers (see `feature_balance`); dense kinds with a linear
    /// output and MSE only, ignored otherwise. Absent in files written before it: false.
    #[serde(default)]
    pub normalize_errors: bool,
    /// Members of an ensemble folded into one network (see `ensemble`), each trained with its
    /// own seed; dense kinds only, 1 for the others. Default 1 (docs/quality.md: the folded
    /// ensemble did not beat one model consistently). Absent in files written before it: 1.
    #[serde(default = "one")]
    pub ensemble: usize,
}

fn one() -> usize {
    1
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            kind: Kind::Vanilla,
            hidden: None,
            latent: None,
            activation: ActivationKind::Elu,
            output_activation: ActivationKind::Linear,
            loss: LossKind::Mse,
            optimizer: OptimizerKind::Adam,
            learning_rate: None,
            weight_decay: 0.0,
            dropout: 0.0,
            batch_size: 64,
            epochs: 100,
            validation_split: 0.1,
            early_stopping: true,
            patience: 10,
            min_rel_delta: 1e-3,
            scaler: ScalerKind::Standard,
            missing: MissingPolicy::Reject,
            contamination: 0.01,
            seed: 42,
            normalize_errors: false,
            ensemble: 1,
        }
    }
}

impl TrainConfig {
    /// Checks every option that does not depend on the data. Ranges are those of the option
    /// table ([`super::options::TRAIN_OPTIONS`]); errors name the option neutrally
    /// (`learning_rate`).
    pub fn validate(&self) -> Result<()> {
        self.kind.validate()?;
        self.check_layers()?;
        if let Some(lr) = self.learning_rate {
            check_number("learning_rate", lr)?;
        }
        check_number("weight_decay", self.weight_decay)?;
        check_number("dropout", self.dropout)?;
        check_integer("batch_size", self.batch_size)?;
        check_integer("epochs", self.epochs)?;
        check_number("validation_split", self.validation_split)?;
        if self.early_stopping {
            check_integer("patience", self.patience)?;
        }
        check_number("min_rel_delta", self.min_rel_delta)?;
        check_number("contamination", self.contamination)?;
        check_integer("ensemble", self.ensemble)?;
        self.check_loss()
    }

    /// `hidden`: an odd number of positive widths, agreeing with `latent` when both are given.
    fn check_layers(&self) -> Result<()> {
        if let Some(latent) = self.latent {
            check_integer("latent", latent)?;
        }
        let Some(hidden) = &self.hidden else {
            return Ok(());
        };
        if hidden.is_empty() || hidden.len() % 2 == 0 {
            return Err(Error::config(
                "hidden_units",
                format!(
                    "expected an odd number of layer widths with the latent size in the middle (e.g. 64,16,64), got {}",
                    fmt_widths(hidden)
                ),
            ));
        }
        if hidden.contains(&0) {
            return Err(Error::config(
                "hidden_units",
                format!("layer widths must be ≥ 1, got {}", fmt_widths(hidden)),
            ));
        }
        let middle = hidden[hidden.len() / 2];
        match self.latent {
            Some(latent) if latent != middle => Err(Error::config(
                "latent",
                format!(
                    "{latent} disagrees with the middle of {} ({}), which is the latent size",
                    mention("hidden_units"),
                    fmt_widths(hidden)
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Binary cross-entropy needs outputs and features in [0, 1].
    fn check_loss(&self) -> Result<()> {
        if self.loss != LossKind::Bce {
            return Ok(());
        }
        if self.output_activation != ActivationKind::Sigmoid {
            return Err(Error::config(
                "loss",
                format!(
                    "bce needs {} (outputs in (0, 1)), got {}",
                    mention_value("output_activation", "sigmoid"),
                    self.output_activation.name()
                ),
            ));
        }
        if matches!(self.scaler, ScalerKind::Standard | ScalerKind::Robust) {
            return Err(Error::config(
                "loss",
                format!(
                    "bce needs features in [0, 1]: use {} (or {} for data already in [0, 1])",
                    mention_value("scaler", "min_max"),
                    mention_value("scaler", "none")
                ),
            ));
        }
        Ok(())
    }

    /// The learning rate in effect: the configured one or the optimizer's default.
    pub fn effective_learning_rate(&self) -> f32 {
        self.learning_rate.unwrap_or(match self.optimizer {
            OptimizerKind::Adam => AdamConfig::default().learning_rate,
            OptimizerKind::Sgd => SgdConfig::default().learning_rate,
            OptimizerKind::Rmsprop => RmspropConfig::default().learning_rate,
            OptimizerKind::Adagrad => AdagradConfig::default().learning_rate,
        })
    }

    /// The optimizer configuration in effect.
    pub fn optimizer_config(&self) -> OptimizerConfig {
        let learning_rate = self.effective_learning_rate();
        let weight_decay = self.weight_decay;
        match self.optimizer {
            OptimizerKind::Adam => OptimizerConfig::Adam(AdamConfig {
                learning_rate,
                weight_decay,
                ..AdamConfig::default()
            }),
            OptimizerKind::Sgd => OptimizerConfig::Sgd(SgdConfig {
                learning_rate,
                weight_decay,
                ..SgdConfig::default()
            }),
            OptimizerKind::Rmsprop => OptimizerConfig::Rmsprop(RmspropConfig {
                learning_rate,
                weight_decay,
                ..RmspropConfig::default()
            }),
            OptimizerKind::Adagrad => OptimizerConfig::Adagrad(AdagradConfig {
                learning_rate,
                weight_decay,
                ..AdagradConfig::default()
            }),
        }
    }
}

pub(crate) fn fmt_widths(w: &[usize]) -> String {
    w.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        TrainConfig::default().validate().unwrap();
    }

    /// A library caller sees the neutral option name, no command-line flag, no SQL.
    #[test]
    fn errors_name_the_neutral_option() {
        let e = TrainConfig {
            learning_rate: Some(0.0),
            ..Default::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "invalid value for learning_rate: expected a number > 0, got 0"
        );
        let e = TrainConfig {
            loss: LossKind::Bce,
            output_activation: ActivationKind::Sigmoid,
            ..Default::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(e.contains("use `scaler = min_max`"), "{e}");
        let no_patience = TrainConfig {
            early_stopping: false,
            patience: 0,
            ..Default::default()
        };
        no_patience.validate().unwrap();
    }

    #[test]
    fn bad_values_name_the_option() {
        let cases: Vec<(TrainConfig, &str)> = vec![
            (
                TrainConfig {
                    hidden: Some(vec![8, 4]),
                    ..Default::default()
                },
                "hidden_units",
            ),
            (
                TrainConfig {
                    hidden: Some(vec![8, 0, 8]),
                    ..Default::default()
                },
                "hidden_units",
            ),
            (
                TrainConfig {
                    hidden: Some(vec![8, 4, 8]),
                    latent: Some(3),
                    ..Default::default()
                },
                "latent",
            ),
            (
                TrainConfig {
                    learning_rate: Some(-1.0),
                    ..Default::default()
                },
                "learning_rate",
            ),
            (
                TrainConfig {
                    dropout: 1.0,
                    ..Default::default()
                },
                "dropout",
            ),
            (
                TrainConfig {
                    batch_size: 0,
                    ..Default::default()
                },
                "batch_size",
            ),
            (
                TrainConfig {
                    epochs: 0,
                    ..Default::default()
                },
                "epochs",
            ),
            (
                TrainConfig {
                    validation_split: 1.0,
                    ..Default::default()
                },
                "validation_split",
            ),
            (
                TrainConfig {
                    contamination: 0.7,
                    ..Default::default()
                },
                "contamination",
            ),
            (
                TrainConfig {
                    loss: LossKind::Bce,
                    ..Default::default()
                },
                "loss",
            ),
            (
                TrainConfig {
                    kind: Kind::Denoising {
                        noise_std: 0.0,
                        mask_ratio: 0.0,
                    },
                    ..Default::default()
                },
                "kind",
            ),
            (
                TrainConfig {
                    kind: Kind::Sparse {
                        l1_activity: 0.0,
                        sparsity_target: Some(1.5),
                        sparsity_weight: 1.0,
                    },
                    ..Default::default()
                },
                "sparsity_target",
            ),
        ];
        for (config, option) in cases {
            match config.validate() {
                Err(Error::Config { option: o, .. }) => assert_eq!(o, option),
                other => panic!("{option}: expected a config error, got {other:?}"),
            }
        }
    }
}
