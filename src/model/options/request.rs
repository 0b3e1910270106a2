//! A training request: options as `(name, value)` pairs, read over the defaults through
//! [`TRAIN_OPTIONS`] and validated once.

use super::table::{DEFAULT_MAX_ROWS, OptionSpec, TRAIN_OPTIONS, check_integer, check_number};
use super::value::RawValue;
use crate::error::{Error, Result};
use crate::model::config::TrainConfig;
use crate::model::kind_options::KindOptions;

/// Everything a surface asks training for: the [`TrainConfig`] and the data-side options.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainRequest {
    /// The training configuration.
    pub config: TrainConfig,
    /// `columns`: exactly these feature columns, in this order (`None`: chosen from the input).
    pub columns: Option<Vec<String>>,
    /// `exclude`: numeric columns that are not features.
    pub exclude: Option<Vec<String>>,
    /// `max_rows`: train on a uniform random sample of this many rows of a larger input.
    pub max_rows: usize,
    /// `threshold`: replaces the anomaly threshold calibrated from `contamination`.
    pub threshold: Option<f64>,
}

impl Default for TrainRequest {
    fn default() -> Self {
        TrainRequest {
            config: TrainConfig::default(),
            columns: None,
            exclude: None,
            max_rows: DEFAULT_MAX_ROWS,
            threshold: None,
        }
    }
}

/// A request being read: the kind parameters wait in [`KindOptions`] until all are known.
#[derive(Debug, Default)]
pub(crate) struct Draft {
    pub(crate) request: TrainRequest,
    pub(crate) kind: KindOptions,
}

impl TrainRequest {
    /// `options` read over the defaults, in order, then validated. Keys are option names or
    /// aliases (any case). An unknown option, a repeated one, a value the option does not
    /// accept or an invalid combination is an [`Error::Config`] naming the option (by its
    /// neutral name, e.g. `learning_rate`) and what was expected.
    pub fn from_options<K: AsRef<str>>(
        options: impl IntoIterator<Item = (K, RawValue)>,
    ) -> Result<Self> {
        let mut draft = Draft::default();
        let mut given: Vec<&'static str> = Vec::new();
        for (key, raw) in options {
            let key = key.as_ref();
            let spec = lookup(key)?;
            if given.contains(&spec.name) {
                return Err(Error::config(spec.name, "given twice"));
            }
            given.push(spec.name);
            let value = spec.value.parse(&raw).ok_or_else(|| {
                Error::config(
                    spec.name,
                    format!("expected {}, got {raw}", spec.value.expected()),
                )
            })?;
            (spec.set)(&mut draft, value)?;
        }
        let mut request = draft.request;
        request.config.kind = draft.kind.to_kind()?;
        request.validate()?;
        Ok(request)
    }

    /// Checks every option that does not depend on the data ([`TrainConfig::validate`], and
    /// the data-side options).
    pub fn validate(&self) -> Result<()> {
        self.config.validate()?;
        check_integer("max_rows", self.max_rows)?;
        if let Some(t) = self.threshold {
            check_number("threshold", t)?;
        }
        if self.columns.is_some() && self.exclude.is_some() {
            return Err(Error::config(
                "columns/exclude",
                "give columns or exclude, not both",
            ));
        }
        Ok(())
    }
}

fn lookup(key: &str) -> Result<&'static OptionSpec> {
    super::table::option_spec(key).ok_or_else(|| {
        let valid: Vec<String> = TRAIN_OPTIONS
            .iter()
            .map(|s| match s.aliases {
                [] => s.name.to_string(),
                aliases => format!("{} (or {})", s.name, aliases.join(", ")),
            })
            .collect();
        Error::config(
            key,
            format!(
                "unknown training option; valid options: {}",
                valid.join(", ")
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        ActivationKind, DEFAULT_NOISE_STD, Kind, MissingPolicy, ScalerKind, VariationalConfig,
        VariationalScore,
    };

    fn request(pairs: &[(&str, &str)]) -> Result<TrainRequest> {
        TrainRequest::from_options(
            pairs
                .iter()
                .map(|(k, v)| (*k, RawValue::Word(v.to_string()))),
        )
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        request(pairs).expect_err("invalid").to_string()
    }

    #[test]
    fn no_options_is_the_default_request() {
        assert_eq!(request(&[]).unwrap(), TrainRequest::default());
        assert_eq!(TrainRequest::default().max_rows, 1_000_000);
    }

    #[test]
    fn options_set_the_config_and_the_data_side() {
        let r = request(&[
            ("kind", "denoising"),
            ("HIDDEN", "8,2,8"),
            ("activation", "tanh"),
            ("scaler", "minmax"),
            ("missing", "impute"),
            ("early_stopping", "off"),
            ("exclude", "id"),
            ("threshold", "0.5"),
            ("max_rows", "10"),
        ])
        .unwrap();
        let c = &r.config;
        assert_eq!(c.hidden, Some(vec![8, 2, 8]));
        assert_eq!(c.activation, ActivationKind::Tanh);
        assert_eq!(c.scaler, ScalerKind::MinMax);
        assert_eq!(c.missing, MissingPolicy::ImputeMean);
        assert!(!c.early_stopping);
        assert_eq!(
            c.kind,
            Kind::Denoising {
                noise_std: DEFAULT_NOISE_STD,
                mask_ratio: 0.0
            }
        );
        assert_eq!(r.exclude, Some(vec!["id".to_string()]));
        assert_eq!((r.threshold, r.max_rows), (Some(0.5), 10));
        let r = request(&[("kind", "variational"), ("anomaly_score", "elbo")]).unwrap();
        assert_eq!(
            r.config.kind,
            Kind::Variational(VariationalConfig {
                score: VariationalScore::Elbo,
                ..VariationalConfig::default()
            })
        );
    }

    /// Errors name the option neutrally, and say what was expected, listing every value.
    #[test]
    fn errors_name_the_option_and_every_accepted_value() {
        for (pairs, want) in [
            (
                &[("scaler", "zscore")][..],
                "invalid value for scaler: expected one of standard, min_max (or minmax), robust, none, got zscore",
            ),
            (
                &[("learning_rate", "0")],
                "invalid value for learning_rate: expected a number > 0, got 0",
            ),
            (
                &[("epochs", "2.5")],
                "invalid value for epochs: expected a positive integer, got 2.5",
            ),
            (
                &[("hidden", "64,x")],
                "invalid value for hidden_units: expected a list of positive integers such as 64,16,64, got 64,x",
            ),
            (&[("seed", "1"), ("seed", "2")], "seed: given twice"),
            (
                &[("hidden", "8,2,8"), ("hidden_units", "8,2,8")],
                "hidden_units: given twice",
            ),
            (
                &[("columns", "a"), ("exclude", "b")],
                "columns/exclude: give columns or exclude, not both",
            ),
            (
                &[("noise_std", "0.1")],
                "noise_std/mask_ratio: apply to `kind = denoising` only",
            ),
            (
                &[("loss", "bce")],
                "loss: bce needs `output_activation = sigmoid`",
            ),
        ] {
            let e = error(pairs);
            assert!(e.contains(want), "{pairs:?}: {e}");
        }
        let e = error(&[("epoch", "3")]);
        assert!(
            e.contains("epoch: unknown training option; valid options: kind, hidden_units (or hidden), latent"),
            "{e}"
        );
    }
}
