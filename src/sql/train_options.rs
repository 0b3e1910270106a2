//! `CREATE MODEL … OPTIONS (…)`: the training options of the option table
//! ([`crate::model::TRAIN_OPTIONS`]), spelled as SQL keys.
//!
//! Each option is its neutral snake_case name (`learning_rate = 0.01`, the command line's
//! `--learning-rate 0.01`); lists are written `[64, 8, 64]` or, as on the command line,
//! `'64,8,64'`; words quoted or bare (`scaler = 'min_max'`, `scaler = minmax`). Options not
//! given keep [`TrainRequest::default`]'s values. `threshold` replaces the anomaly threshold
//! calibrated from `contamination` (as `aeflow score --threshold` does at scoring time). The
//! table parses and validates; this file only converts the SQL values and spells errors with
//! SQL keys.

use crate::arrow::FeatureSelection;
use crate::error::{Error, Result};
use crate::model::{RawValue, TrainConfig, TrainRequest, respell, training_spelling};
use crate::sql::statement::OptionValue;

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
    /// an error naming it (as a SQL key) and what was expected.
    pub fn from_options(options: &[(String, OptionValue)]) -> Result<Self> {
        let request = TrainRequest::from_options(options.iter().map(|(k, v)| (k.as_str(), raw(v))))
            .map_err(sql_spelling)?;
        let selection = match (request.columns, request.exclude) {
            (Some(c), _) => FeatureSelection::Columns(c),
            (None, Some(e)) => FeatureSelection::Exclude(e),
            (None, None) => FeatureSelection::All,
        };
        Ok(Self {
            config: request.config,
            selection,
            threshold: request.threshold,
            max_rows: request.max_rows,
        })
    }
}

/// A SQL option value as the option table reads it.
fn raw(v: &OptionValue) -> RawValue {
    match v {
        OptionValue::Number(n) => RawValue::Number(n.clone()),
        OptionValue::String(s) => RawValue::Quoted(s.clone()),
        OptionValue::Bool(b) => RawValue::Bool(*b),
        OptionValue::Word(w) => RawValue::Word(w.clone()),
        OptionValue::List(items) => RawValue::List(items.iter().map(raw).collect()),
    }
}

/// `err` with the training options it names spelled as SQL: `learning_rate`,
/// `scaler = 'min_max'`.
pub(crate) fn sql_spelling(err: Error) -> Error {
    respell(
        err,
        &training_spelling(|name, value| match value {
            None => name.to_string(),
            Some(v) => format!("{name} = '{v}'"),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        ActivationKind, ConvolutionalConfig, DEFAULT_NOISE_STD, DEFAULT_SPARSITY_WEIGHT,
        Downsample, Kind, ScalerKind, Upsampling, VariationalConfig, VariationalScore,
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
    }

    /// A SQL user sees SQL keys, and `kind = 'x'` for an option mentioned with its value.
    #[test]
    fn bad_options_name_the_sql_key_and_what_was_expected() {
        let cases: Vec<(Vec<(String, OptionValue)>, &str)> = vec![
            (
                opts(&[("epoch", num("3"))]),
                "epoch: unknown training option; valid options: kind, hidden_units (or hidden)",
            ),
            (
                opts(&[("learning_rate", num("-1"))]),
                "invalid value for learning_rate: expected a number > 0, got -1",
            ),
            (
                opts(&[("epochs", num("0"))]),
                "epochs: expected a positive integer, got 0",
            ),
            (
                opts(&[("contamination", num("0.7"))]),
                "contamination: expected a number in [0, 0.5], got 0.7",
            ),
            (
                opts(&[("kind", OptionValue::Word("contractive".into()))]),
                "one of vanilla, denoising, sparse, variational, convolutional, got contractive",
            ),
            (
                opts(&[("scaler", OptionValue::String("zscore".into()))]),
                "one of standard, min_max (or minmax), robust, none, got 'zscore'",
            ),
            (
                opts(&[("hidden_units", OptionValue::String("64,x".into()))]),
                "hidden_units: expected a list of positive integers such as 64,16,64, got '64,x'",
            ),
            (
                opts(&[("noise_std", num("0.1"))]),
                "noise_std/mask_ratio: apply to kind = 'denoising' only",
            ),
            (
                opts(&[("kind", OptionValue::Word("convolutional".into()))]),
                "input_shape: kind = 'convolutional' needs the shape of one row",
            ),
            (
                opts(&[("loss", OptionValue::Word("bce".into()))]),
                "loss: bce needs output_activation = 'sigmoid'",
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
