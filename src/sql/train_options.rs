//! `CREATE MODEL … OPTIONS (…)`: the training options, mirroring `aeflow train`'s flags.
//!
//! Each option is the CLI flag without `--` and with `_` for `-` (`--learning-rate 0.01` is
//! `learning_rate = 0.01`); `hidden_units` (alias `hidden`) takes a list, `[64, 8, 64]`, or the
//! CLI's string form, `'64,8,64'`. Options not given keep [`TrainConfig::default`]'s values.
//! `threshold` replaces the anomaly threshold calibrated from `contamination` (as `aeflow score
//! --threshold` does at scoring time).

use crate::arrow::FeatureSelection;
use crate::error::{Error, Result};
use crate::model::{
    ActivationKind, Downsample, KindOptions, LossKind, MissingPolicy, OptimizerKind, OptionSyntax,
    ScalerKind, TrainConfig, Upsampling, VariationalScore,
};
use crate::sql::statement::OptionValue;

/// Every option `CREATE MODEL` accepts, as listed in errors.
pub const VALID_OPTIONS: [&str; 38] = [
    "kind",
    "hidden_units",
    "hidden",
    "latent",
    "activation",
    "output_activation",
    "loss",
    "optimizer",
    "learning_rate",
    "weight_decay",
    "dropout",
    "batch_size",
    "epochs",
    "validation_split",
    "early_stop",
    "patience",
    "min_rel_delta",
    "scaler",
    "missing",
    "contamination",
    "threshold",
    "seed",
    "max_rows",
    "noise_std",
    "mask_ratio",
    "l1_activity",
    "sparsity_target",
    "sparsity_weight",
    "beta",
    "kl_warmup",
    "anomaly_score",
    "input_shape",
    "filters",
    "kernel_size",
    "downsample",
    "upsample",
    "columns",
    "exclude",
];

/// Default `max_rows`: the training sample's cap, as `aeflow train --max-rows`.
const DEFAULT_MAX_ROWS: usize = 1_000_000;

/// What `CREATE MODEL` trains with.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// The training configuration.
    pub config: TrainConfig,
    /// Which columns of the query's result are features.
    pub selection: FeatureSelection,
    /// An anomaly threshold that replaces the one calibrated from `contamination`.
    pub threshold: Option<f64>,
    /// Train on a uniform random sample of this many rows when the query returns more
    /// (the same default as `aeflow train --max-rows`).
    pub max_rows: usize,
}

impl TrainOptions {
    /// Read `options` over the defaults. An unknown option, a repeated option or a bad value is
    /// an error naming it and what was expected.
    pub fn from_options(options: &[(String, OptionValue)]) -> Result<Self> {
        let mut config = TrainConfig::default();
        let mut selection = FeatureSelection::All;
        let mut threshold = None;
        let mut max_rows = DEFAULT_MAX_ROWS;
        let mut k = KindOptions::default();
        let mut seen: Vec<&str> = Vec::new();

        for (key, value) in options {
            if seen.contains(&key.as_str()) {
                return Err(Error::config(key, "given twice"));
            }
            seen.push(key);
            let v = Value { key, value };
            match key.as_str() {
                "kind" => {
                    k.kind = Some(v.word(&[
                        "vanilla",
                        "denoising",
                        "sparse",
                        "variational",
                        "convolutional",
                    ])?)
                }
                "hidden_units" | "hidden" => config.hidden = Some(v.sizes("[64, 8, 64]")?),
                "latent" => config.latent = Some(v.positive()?),
                "activation" => config.activation = v.parse_enum::<ActivationKind>(ACTIVATIONS)?,
                "output_activation" => {
                    config.output_activation = v.parse_enum::<ActivationKind>(ACTIVATIONS)?
                }
                "loss" => config.loss = v.parse_enum::<LossKind>(&["mse", "bce"])?,
                "optimizer" => {
                    config.optimizer =
                        v.parse_enum::<OptimizerKind>(&["adam", "sgd", "rmsprop", "adagrad"])?
                }
                "learning_rate" => config.learning_rate = Some(v.positive_f32()?),
                "weight_decay" => config.weight_decay = v.fraction_f32(false)?,
                "dropout" => config.dropout = v.fraction_f32(false)?,
                "batch_size" => config.batch_size = v.positive()?,
                "epochs" => config.epochs = v.positive()?,
                "validation_split" => config.validation_split = v.fraction_f32(false)?,
                "early_stop" => config.early_stopping = v.boolean()?,
                "patience" => config.patience = v.positive()?,
                "min_rel_delta" => config.min_rel_delta = v.fraction_f32(true)?,
                "scaler" => {
                    config.scaler = v.parse_enum::<ScalerKind>(&["standard", "min_max", "none"])?
                }
                "missing" => {
                    config.missing = v.parse_enum::<MissingPolicy>(&["reject", "impute_mean"])?
                }
                "contamination" => config.contamination = v.fraction(false)?,
                "threshold" => threshold = Some(v.non_negative()?),
                "seed" => config.seed = v.integer::<u64>("a non-negative integer")?,
                "max_rows" => max_rows = v.positive()?,
                "noise_std" => k.noise_std = Some(v.non_negative_f32()?),
                "mask_ratio" => k.mask_ratio = Some(v.fraction_f32(false)?),
                "l1_activity" => k.l1_activity = Some(v.non_negative_f32()?),
                "sparsity_target" => k.sparsity_target = Some(v.fraction_f32(false)?),
                "sparsity_weight" => k.sparsity_weight = Some(v.non_negative_f32()?),
                "beta" => k.beta = Some(v.non_negative_f32()?),
                "kl_warmup" => k.kl_warmup = Some(v.integer::<usize>("a non-negative integer")?),
                "anomaly_score" => {
                    k.anomaly_score =
                        Some(v.parse_enum::<VariationalScore>(&["reconstruction", "elbo"])?)
                }
                "input_shape" => k.input_shape = Some(v.sizes("[1, 28, 28] or [1, 128]")?),
                "filters" => k.filters = Some(v.sizes("[16, 32]")?),
                "kernel_size" => k.kernel_size = Some(v.sizes("3 or [5, 3] (one per block)")?),
                "downsample" => {
                    k.downsample = Some(v.parse_enum::<Downsample>(&["stride", "max_pool"])?)
                }
                "upsample" => {
                    k.upsample = Some(v.parse_enum::<Upsampling>(&["transpose", "nearest"])?)
                }
                "columns" => selection = FeatureSelection::Columns(v.names()?),
                "exclude" => selection = FeatureSelection::Exclude(v.names()?),
                other => {
                    return Err(Error::config(
                        other,
                        format!(
                            "unknown CREATE MODEL option; valid options: {}",
                            VALID_OPTIONS.join(", ")
                        ),
                    ));
                }
            }
        }
        if seen.contains(&"columns") && seen.contains(&"exclude") {
            return Err(Error::config(
                "columns",
                "give columns or exclude, not both",
            ));
        }

        config.kind = k.to_kind(OptionSyntax::Sql)?;
        Ok(Self {
            config,
            selection,
            threshold,
            max_rows,
        })
    }
}

const ACTIVATIONS: &[&str] = &[
    "relu",
    "leaky_relu",
    "elu",
    "selu",
    "tanh",
    "sigmoid",
    "linear",
];

/// One option's value, with its name for errors.
struct Value<'a> {
    key: &'a str,
    value: &'a OptionValue,
}

impl Value<'_> {
    fn err(&self, expected: &str) -> Error {
        Error::config(self.key, format!("expected {expected}, got {}", self.value))
    }

    /// A string or bare word, one of `allowed` (case-insensitive, `-` read as `_`).
    fn word(&self, allowed: &[&str]) -> Result<String> {
        let expected = format!("one of {}", allowed.join(", "));
        match self.value {
            OptionValue::String(s) | OptionValue::Word(s) => {
                let s = s.to_ascii_lowercase().replace('-', "_");
                if allowed.contains(&s.as_str()) {
                    Ok(s)
                } else {
                    Err(self.err(&expected))
                }
            }
            _ => Err(self.err(&expected)),
        }
    }

    /// A unit enum from its snake_case serde name (`minmax` is accepted for `min_max`).
    fn parse_enum<T: serde::de::DeserializeOwned>(&self, allowed: &[&str]) -> Result<T> {
        let mut accepted: Vec<&str> = allowed.to_vec();
        if allowed.contains(&"min_max") {
            accepted.push("minmax");
        }
        let word = self.word(&accepted)?;
        let word = if word == "minmax" {
            "min_max".to_string()
        } else {
            word
        };
        serde_json::from_value(serde_json::Value::String(word))
            .map_err(|_| self.err(&format!("one of {}", allowed.join(", "))))
    }

    fn number(&self) -> Option<&str> {
        match self.value {
            OptionValue::Number(n) => Some(n),
            OptionValue::String(s) => Some(s.trim()),
            _ => None,
        }
    }

    fn integer<T: std::str::FromStr>(&self, expected: &str) -> Result<T> {
        self.number()
            .and_then(|n| n.parse::<T>().ok())
            .ok_or_else(|| self.err(expected))
    }

    fn positive(&self) -> Result<usize> {
        match self.integer::<usize>("a positive integer")? {
            0 => Err(self.err("a positive integer")),
            n => Ok(n),
        }
    }

    fn float(&self, expected: &str) -> Result<f64> {
        self.number()
            .and_then(|n| n.parse::<f64>().ok())
            .filter(|f| f.is_finite())
            .ok_or_else(|| self.err(expected))
    }

    fn positive_f32(&self) -> Result<f32> {
        let f = self.float("a positive number")?;
        if f > 0.0 {
            Ok(f as f32)
        } else {
            Err(self.err("a positive number"))
        }
    }

    fn non_negative_f32(&self) -> Result<f32> {
        self.non_negative().map(|f| f as f32)
    }

    fn non_negative(&self) -> Result<f64> {
        let f = self.float("a number >= 0")?;
        if f >= 0.0 {
            Ok(f)
        } else {
            Err(self.err("a number >= 0"))
        }
    }

    fn fraction_f32(&self, closed: bool) -> Result<f32> {
        self.fraction(closed).map(|f| f as f32)
    }

    /// A number in `[0, 1)`, or `[0, 1]` with `closed`.
    fn fraction(&self, closed: bool) -> Result<f64> {
        let expected = if closed {
            "a number in [0, 1]"
        } else {
            "a number in [0, 1)"
        };
        let f = self.float(expected)?;
        if f >= 0.0 && (f < 1.0 || (closed && f == 1.0)) {
            Ok(f)
        } else {
            Err(self.err(expected))
        }
    }

    fn boolean(&self) -> Result<bool> {
        match self.value {
            OptionValue::Bool(b) => Ok(*b),
            OptionValue::String(s) | OptionValue::Word(s) => {
                match s.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "on" => Ok(true),
                    "false" | "no" | "off" => Ok(false),
                    _ => Err(self.err("true or false")),
                }
            }
            _ => Err(self.err("true or false")),
        }
    }

    /// `[64, 8, 64]` or `'64,8,64'`: sizes, each positive; `example` shows one in the error.
    fn sizes(&self, example: &str) -> Result<Vec<usize>> {
        let expected = format!("a list of positive integers, e.g. {example}");
        let expected = expected.as_str();
        let items: Vec<String> = match self.value {
            OptionValue::List(items) => items.iter().map(ToString::to_string).collect(),
            OptionValue::String(s) => s.split(',').map(|p| p.trim().to_string()).collect(),
            OptionValue::Number(n) => vec![n.clone()],
            _ => return Err(self.err(expected)),
        };
        let sizes = items
            .iter()
            .map(|i| i.parse::<usize>().ok().filter(|&n| n > 0))
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| self.err(expected))?;
        if sizes.is_empty() {
            return Err(self.err(expected));
        }
        Ok(sizes)
    }

    /// `['a', 'b']`, `[a, b]` or `'a,b'`: column names.
    fn names(&self) -> Result<Vec<String>> {
        let expected = "a list of column names, e.g. ['a', 'b']";
        let names: Vec<String> = match self.value {
            OptionValue::List(items) => items
                .iter()
                .map(|i| match i {
                    OptionValue::String(s) | OptionValue::Word(s) => Some(s.clone()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| self.err(expected))?,
            OptionValue::String(s) => s.split(',').map(|p| p.trim().to_string()).collect(),
            OptionValue::Word(w) => vec![w.clone()],
            _ => return Err(self.err(expected)),
        };
        if names.is_empty() || names.iter().any(String::is_empty) {
            return Err(self.err(expected));
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        ConvolutionalConfig, DEFAULT_NOISE_STD, DEFAULT_SPARSITY_WEIGHT, Kind, VariationalConfig,
    };

    fn opts(list: &[(&str, OptionValue)]) -> Vec<(String, OptionValue)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn num(n: &str) -> OptionValue {
        OptionValue::Number(n.into())
    }

    #[test]
    fn options_set_the_config() {
        let o = TrainOptions::from_options(&opts(&[
            ("kind", OptionValue::String("denoising".into())),
            (
                "hidden_units",
                OptionValue::List(vec![num("64"), num("8"), num("64")]),
            ),
            ("epochs", num("20")),
            ("contamination", num("0.01")),
            ("activation", OptionValue::Word("tanh".into())),
            ("scaler", OptionValue::String("minmax".into())),
            ("early_stop", OptionValue::Bool(false)),
            ("seed", num("7")),
            (
                "exclude",
                OptionValue::List(vec![OptionValue::String("id".into())]),
            ),
        ]))
        .expect("valid options");
        let c = &o.config;
        assert_eq!(c.hidden, Some(vec![64, 8, 64]));
        assert_eq!(c.epochs, 20);
        assert!((c.contamination - 0.01).abs() < 1e-9);
        assert_eq!(c.activation, ActivationKind::Tanh);
        assert_eq!(c.scaler, ScalerKind::MinMax);
        assert!(!c.early_stopping);
        assert_eq!(c.seed, 7);
        assert_eq!(
            c.kind,
            Kind::Denoising {
                noise_std: DEFAULT_NOISE_STD,
                mask_ratio: 0.0
            }
        );
        assert!(matches!(&o.selection, FeatureSelection::Exclude(v) if v == &["id"]));
    }

    #[test]
    fn kind_parameters_have_the_cli_defaults() {
        let o = TrainOptions::from_options(&opts(&[
            ("kind", OptionValue::Word("denoising".into())),
            ("mask_ratio", num("0.2")),
        ]))
        .expect("valid");
        assert_eq!(
            o.config.kind,
            Kind::Denoising {
                noise_std: 0.0,
                mask_ratio: 0.2
            }
        );
        let o = TrainOptions::from_options(&opts(&[
            ("kind", OptionValue::Word("sparse".into())),
            ("sparsity_target", num("0.05")),
        ]))
        .expect("valid");
        assert_eq!(
            o.config.kind,
            Kind::Sparse {
                l1_activity: 0.0,
                sparsity_target: Some(0.05),
                sparsity_weight: DEFAULT_SPARSITY_WEIGHT
            }
        );
    }

    #[test]
    fn variational_and_convolutional_options() {
        let o = TrainOptions::from_options(&opts(&[
            ("kind", OptionValue::String("variational".into())),
            ("beta", num("0.5")),
            ("kl_warmup", num("4")),
            ("anomaly_score", OptionValue::Word("elbo".into())),
        ]))
        .expect("valid");
        assert_eq!(
            o.config.kind,
            Kind::Variational(VariationalConfig {
                beta: 0.5,
                kl_warmup: 4,
                score: VariationalScore::Elbo
            })
        );
        let o = TrainOptions::from_options(&opts(&[
            ("kind", OptionValue::Word("convolutional".into())),
            (
                "input_shape",
                OptionValue::List(vec![num("1"), num("28"), num("28")]),
            ),
            ("filters", OptionValue::String("8,16,32".into())),
            ("kernel_size", num("5")),
            ("downsample", OptionValue::String("max_pool".into())),
            ("upsample", OptionValue::Word("nearest".into())),
        ]))
        .expect("valid");
        assert_eq!(
            o.config.kind,
            Kind::Convolutional(ConvolutionalConfig {
                input_shape: vec![1, 28, 28],
                filters: vec![8, 16, 32],
                kernel_size: vec![5],
                downsample: Downsample::MaxPool,
                upsample: Upsampling::Nearest,
            })
        );
        for (list, want) in [
            (
                opts(&[("beta", num("1"))]),
                "beta/kl_warmup/anomaly_score: apply to kind = 'variational' only",
            ),
            (
                opts(&[("kind", OptionValue::Word("convolutional".into()))]),
                "input_shape: kind = 'convolutional' needs the shape of one row",
            ),
            (
                opts(&[
                    ("kind", OptionValue::Word("convolutional".into())),
                    ("input_shape", OptionValue::String("1,8".into())),
                    ("kernel_size", num("2")),
                ]),
                "kernel_size: must be odd",
            ),
            (
                opts(&[("filters", OptionValue::String("4".into()))]),
                "apply to kind = 'convolutional' only",
            ),
        ] {
            let e = TrainOptions::from_options(&list).unwrap_err().to_string();
            assert!(e.contains(want), "want {want:?}, got {e}");
        }
    }

    #[test]
    fn bad_options_name_the_option_and_what_was_expected() {
        let cases: Vec<(Vec<(String, OptionValue)>, &str)> = vec![
            (
                opts(&[("epoch", num("3"))]),
                "unknown CREATE MODEL option; valid options: kind, hidden_units",
            ),
            (
                opts(&[("epochs", num("0"))]),
                "epochs: expected a positive integer, got 0",
            ),
            (
                opts(&[("epochs", num("2.5"))]),
                "expected a positive integer",
            ),
            (
                opts(&[("contamination", num("1.5"))]),
                "contamination: expected a number in [0, 1)",
            ),
            (
                opts(&[("kind", OptionValue::Word("contractive".into()))]),
                "one of vanilla, denoising, sparse, variational, convolutional",
            ),
            (
                opts(&[("activation", OptionValue::Word("gelu".into()))]),
                "one of relu, leaky_relu",
            ),
            (
                opts(&[("hidden_units", OptionValue::String("64,x".into()))]),
                "list of positive integers",
            ),
            (
                opts(&[
                    ("kind", OptionValue::Word("vanilla".into())),
                    ("noise_std", num("0.1")),
                ]),
                "apply to kind = 'denoising' only",
            ),
            (
                opts(&[("seed", num("1")), ("seed", num("2"))]),
                "seed: given twice",
            ),
            (
                opts(&[
                    ("columns", OptionValue::Word("a".into())),
                    ("exclude", OptionValue::Word("b".into())),
                ]),
                "not both",
            ),
        ];
        for (options, expected) in cases {
            let err = TrainOptions::from_options(&options)
                .expect_err(expected)
                .to_string();
            assert!(err.contains(expected), "{err} does not contain {expected}");
        }
    }
}
