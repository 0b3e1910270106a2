//! The training flags of `aeflow train`, derived from the option table
//! ([`crate::model::TRAIN_OPTIONS`]): one `--kebab-case` flag per option (`learning_rate` is
//! `--learning-rate`, its aliases visible aliases), with the option's doc, accepted words and
//! default as help. Values are taken as text and read by the table, as SQL's are; errors are
//! spelled with flags ([`cli_spelling`]). Two conveniences are spellings of table values:
//! `--no-early-stop` (`--early-stop=false`) and `--impute` (`--missing impute_mean`); a bare
//! `--early-stop` means `--early-stop=true`.

use std::ffi::OsStr;
use std::sync::LazyLock;

use clap::builder::{PossibleValue, StringValueParser, TypedValueParser};
use clap::error::ErrorKind;
use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::cli::flag_names::written_as_flag;
use crate::error::{Error, Result};
use crate::model::{
    OptionSpec, RawValue, TRAIN_OPTIONS, TrainRequest, ValueSpec, respell, spell_mentions,
    training_spelling,
};

/// The command-line flag of an option: `learning_rate` → `--learning-rate`.
pub fn flag(name: &str) -> String {
    written_as_flag(name, None)
}

/// A training option (or an option with a value) as written on the command line:
/// `--kind denoising`; other names are kept.
fn spelled(name: &str, value: Option<&str>) -> Option<String> {
    training_spelling(written_as_flag)(name, value)
}

/// `err` with the training options it names spelled as flags (the rule of
/// [`crate::model::respell`]; the CLI edge spells every other option the same way).
pub fn cli_spelling(err: Error) -> Error {
    respell(err, &spelled)
}

/// The flags the table gives: names without `--` (clap adds them) and help, built once.
struct TableFlag {
    spec: &'static OptionSpec,
    long: String,
    aliases: Vec<String>,
    /// `KIND` for `--kind <KIND>`.
    value_name: String,
    help: String,
}

static FLAGS: LazyLock<Vec<TableFlag>> = LazyLock::new(|| {
    TRAIN_OPTIONS
        .iter()
        .map(|spec| {
            let kind = spec
                .kind
                .map(|k| format!(" For --kind {k} only."))
                .unwrap_or_default();
            let default = (spec.default)()
                .map(|d| format!(" [default: {d}]"))
                .unwrap_or_default();
            TableFlag {
                spec,
                long: flag(spec.name)[2..].to_string(),
                aliases: spec
                    .aliases
                    .iter()
                    .map(|a| flag(a)[2..].to_string())
                    .collect(),
                value_name: spec.name.to_ascii_uppercase(),
                help: format!("{}{kind}{default}", spell_mentions(spec.doc, &spelled)),
            }
        })
        .collect()
});

const NO_EARLY_STOP: &str = "no_early_stop";
const IMPUTE: &str = "impute";

impl TableFlag {
    fn arg(&'static self) -> Arg {
        let spec = self.spec;
        let arg = Arg::new(spec.name)
            .long(self.long.as_str())
            .visible_aliases(self.aliases.iter().map(String::as_str))
            .help(self.help.clone())
            .action(ArgAction::Set)
            .value_parser(TableValue(spec));
        match spec.value {
            ValueSpec::Bool => arg
                .value_name(self.value_name.as_str())
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("true"),
            ValueSpec::Choice(_) => arg.value_name(self.value_name.as_str()),
            // `--beta -1` reaches the table, which says what is expected.
            ValueSpec::Integer { .. } => arg.value_name("N").allow_negative_numbers(true),
            ValueSpec::Number(_) => arg.value_name("F").allow_negative_numbers(true),
            ValueSpec::Sizes { example } | ValueSpec::Names { example } => arg.value_name(example),
        }
    }
}

/// A flag's value, as text: the table reads it. Help lists the words the table accepts.
#[derive(Clone)]
struct TableValue(&'static OptionSpec);

impl TypedValueParser for TableValue {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &Command,
        arg: Option<&Arg>,
        value: &OsStr,
    ) -> std::result::Result<String, clap::Error> {
        StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        let words = self.0.value.words();
        (!words.is_empty()).then(|| {
            Box::new(words.into_iter().map(PossibleValue::new))
                as Box<dyn Iterator<Item = PossibleValue>>
        })
    }
}

/// The training options given on the command line, as `(option, value)` pairs.
#[derive(Debug, Clone, Default)]
pub struct TrainFlags {
    given: Vec<(&'static str, RawValue)>,
}

impl TrainFlags {
    /// The training request the flags describe, validated; errors name flags.
    pub fn request(&self) -> Result<TrainRequest> {
        TrainRequest::from_options(self.given.iter().cloned()).map_err(cli_spelling)
    }
}

impl clap::Args for TrainFlags {
    fn augment_args(cmd: Command) -> Command {
        FLAGS
            .iter()
            .fold(cmd, |cmd, f| cmd.arg(f.arg()))
            .arg(
                Arg::new(NO_EARLY_STOP)
                    .long("no-early-stop")
                    .action(ArgAction::SetTrue)
                    .conflicts_with("early_stop")
                    .help("Train for all --epochs: the same as --early-stop=false."),
            )
            .arg(
                Arg::new(IMPUTE)
                    .long("impute")
                    .action(ArgAction::SetTrue)
                    .conflicts_with("missing")
                    .help("The same as --missing impute_mean."),
            )
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for TrainFlags {
    fn from_arg_matches(m: &ArgMatches) -> std::result::Result<Self, clap::Error> {
        let mut flags = TrainFlags::default();
        flags.update_from_arg_matches(m)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> std::result::Result<(), clap::Error> {
        let wrong = |e: clap::parser::MatchesError| clap::Error::raw(ErrorKind::InvalidValue, e);
        for spec in TRAIN_OPTIONS {
            if let Some(v) = m.try_get_one::<String>(spec.name).map_err(wrong)? {
                self.given.retain(|(n, _)| *n != spec.name);
                self.given.push((spec.name, RawValue::Word(v.clone())));
            }
        }
        if m.try_get_one::<bool>(NO_EARLY_STOP).map_err(wrong)? == Some(&true) {
            self.given.push(("early_stop", RawValue::Bool(false)));
        }
        if m.try_get_one::<bool>(IMPUTE).map_err(wrong)? == Some(&true) {
            self.given
                .push(("missing", RawValue::Word("impute_mean".into())));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::arrow::FeatureSelection;
    use crate::cli::{Cli, Command as Sub};
    use crate::model::{ScalerKind, option_spec};
    use crate::sql::TrainOptions;
    use crate::sql::statement::{AeStatement, parse};

    /// `aeflow train --input x.csv --out m --option=value…`, through clap and the table.
    fn cli(pairs: &[(&str, String)]) -> Result<TrainRequest> {
        let mut argv: Vec<String> = ["aeflow", "train", "--input", "x.csv", "--out", "m"]
            .map(String::from)
            .into();
        argv.extend(pairs.iter().map(|(k, v)| format!("{}={v}", flag(k))));
        let parsed =
            Cli::try_parse_from(&argv).map_err(|e| Error::config(argv.join(" "), e.to_string()))?;
        let Sub::Train(args) = parsed.command else {
            panic!("not train: {argv:?}")
        };
        args.options.request()
    }

    /// `CREATE MODEL m OPTIONS (…) AS SELECT 1`, through the statement parser and the table.
    fn sql(pairs: &[(&str, String)]) -> Result<TrainOptions> {
        let options: Vec<String> = pairs.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        let text = format!(
            "CREATE MODEL m OPTIONS ({}) AS SELECT 1",
            options.join(", ")
        );
        match parse(&text)? {
            Some(AeStatement::CreateModel { options, .. }) => TrainOptions::from_options(&options),
            other => panic!("{text}: {other:?}"),
        }
    }

    /// Every SQL spelling of a value the command line takes as `value`.
    fn sql_forms(spec: &OptionSpec, value: &str) -> Vec<String> {
        let items: Vec<&str> = value.split(',').collect();
        match spec.value {
            ValueSpec::Choice(_) | ValueSpec::Bool => vec![value.into(), format!("'{value}'")],
            ValueSpec::Integer { .. } | ValueSpec::Number(_) => {
                vec![value.into(), format!("'{value}'")]
            }
            ValueSpec::Sizes { .. } => {
                vec![format!("[{}]", items.join(", ")), format!("'{value}'")]
            }
            ValueSpec::Names { .. } => vec![
                format!("['{}']", items.join("', '")),
                format!("[{}]", items.join(", ")),
                format!("'{value}'"),
            ],
        }
    }

    /// The values help and errors name for `spec`: every word and alias, the example, the
    /// bounds that are included, a value inside the range, the default.
    fn listed_values(spec: &OptionSpec) -> Vec<String> {
        let mut values: Vec<String> = match spec.value {
            ValueSpec::Choice(_) | ValueSpec::Bool => {
                spec.value.words().into_iter().map(String::from).collect()
            }
            ValueSpec::Integer { min } => vec![min.to_string(), (min + 3).to_string()],
            ValueSpec::Number(r) => {
                let inside = r.max.map_or(r.min + 0.25, |max| (r.min + max) / 2.0);
                let mut v = vec![inside.to_string()];
                if !r.min_open {
                    v.push(r.min.to_string());
                }
                if let (Some(max), false) = (r.max, r.max_open) {
                    v.push(max.to_string());
                }
                v
            }
            ValueSpec::Sizes { example } | ValueSpec::Names { example } => vec![example.into()],
        };
        values.extend((spec.default)());
        values
    }

    /// Options a value needs to be valid (its kind; the options a rule ties it to).
    fn companions(name: &str, value: &str) -> Vec<(&'static str, &'static str)> {
        let owner = option_spec(name).and_then(|s| s.kind);
        let mut with: Vec<(&str, &str)> = owner.map(|k| ("kind", k)).into_iter().collect();
        if name == "kind" && value == "convolutional"
            || owner == Some("convolutional") && name != "input_shape"
        {
            with.push(("input_shape", "1,28,28"));
        }
        match name {
            "loss" => with.extend([("output_activation", "sigmoid"), ("scaler", "min_max")]),
            "noise_std" => with.push(("mask_ratio", "0.5")),
            "mask_ratio" => with.push(("noise_std", "0.1")),
            "l1_activity" => with.push(("sparsity_target", "0.5")),
            "sparsity_weight" => with.extend([("sparsity_target", "0.5"), ("l1_activity", "0.01")]),
            _ => {}
        }
        with
    }

    fn selection(r: &TrainRequest) -> FeatureSelection {
        match (&r.columns, &r.exclude) {
            (Some(c), _) => FeatureSelection::Columns(c.clone()),
            (None, Some(e)) => FeatureSelection::Exclude(e.clone()),
            (None, None) => FeatureSelection::All,
        }
    }

    /// The criterion: every value and alias of every option (and every option alias),
    /// through `aeflow train` and through `CREATE MODEL … OPTIONS`, gives the same request.
    #[test]
    fn every_listed_value_gives_the_same_request_on_both_surfaces() {
        let mut checked = 0;
        for spec in TRAIN_OPTIONS {
            for key in std::iter::once(&spec.name).chain(spec.aliases) {
                for value in listed_values(spec) {
                    let with = companions(spec.name, &value);
                    let cli_pairs: Vec<(&str, String)> = std::iter::once((*key, value.clone()))
                        .chain(with.iter().map(|(k, v)| (*k, v.to_string())))
                        .collect();
                    let from_cli = cli(&cli_pairs)
                        .unwrap_or_else(|e| panic!("{key} = {value} on the command line: {e}"));
                    for form in sql_forms(spec, &value) {
                        let sql_pairs: Vec<(&str, String)> = std::iter::once((*key, form.clone()))
                            .chain(with.iter().map(|(k, v)| (*k, format!("'{v}'"))))
                            .collect();
                        let from_sql = sql(&sql_pairs)
                            .unwrap_or_else(|e| panic!("{key} = {form} in SQL: {e}"));
                        let what = format!("{key}: --{value} vs {form}");
                        assert_eq!(from_cli.config, from_sql.config, "{what}");
                        assert_eq!(from_cli.threshold, from_sql.threshold, "{what}");
                        assert_eq!(from_cli.max_rows, from_sql.max_rows, "{what}");
                        assert_eq!(
                            format!("{:?}", selection(&from_cli)),
                            format!("{:?}", from_sql.selection),
                            "{what}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 150, "only {checked} cases");
    }

    #[test]
    fn scaler_minmax_and_the_conveniences() {
        let word = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        let c = |pairs: Vec<(String, String)>| {
            let pairs: Vec<(&str, String)> =
                pairs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            cli(&pairs).expect("valid").config
        };
        assert_eq!(c(word("scaler", "minmax")).scaler, ScalerKind::MinMax);
        assert_eq!(c(word("scaler", "MinMax")).scaler, ScalerKind::MinMax);
        let parse = |argv: &[&str]| {
            let mut all = vec!["aeflow", "train", "-i", "x.csv", "-o", "m"];
            all.extend(argv);
            match Cli::try_parse_from(all).map(|c| c.command) {
                Ok(Sub::Train(a)) => a.options.request().map(|r| r.config),
                Ok(_) => panic!("not train"),
                Err(e) => Err(Error::config("clap", e.to_string())),
            }
        };
        let no_stop = parse(&["--no-early-stop"]).unwrap();
        assert!(!no_stop.early_stopping);
        assert_eq!(no_stop, parse(&["--early-stop=false"]).unwrap());
        assert!(parse(&["--early-stop"]).unwrap().early_stopping);
        assert_eq!(
            parse(&["--impute"]).unwrap(),
            parse(&["--missing", "impute_mean"]).unwrap()
        );
        assert_eq!(
            parse(&["--hidden", "8,2,8"]).unwrap(),
            parse(&["--hidden-units", "8,2,8"]).unwrap()
        );
        for conflict in [
            &["--impute", "--missing", "reject"][..],
            &["--no-early-stop", "--early-stop"],
            &["--seed", "1", "--seed", "2"],
        ] {
            assert!(parse(conflict).is_err(), "{conflict:?}");
        }
    }

    /// A command-line user sees flags, never the neutral or SQL names.
    #[test]
    fn errors_name_flags() {
        let err = |argv: &[&str]| {
            let mut all = vec!["aeflow", "train", "-i", "x.csv", "-o", "m"];
            all.extend(argv);
            match Cli::try_parse_from(all).expect("parses").command {
                Sub::Train(a) => a.options.request().expect_err("invalid").to_string(),
                _ => panic!("not train"),
            }
        };
        assert_eq!(
            err(&["--learning-rate", "0"]),
            "invalid value for --learning-rate: expected a number > 0, got 0"
        );
        assert_eq!(
            err(&["--kind", "variational", "--beta", "-1"]),
            "invalid value for --beta: expected a number >= 0, got -1"
        );
        assert_eq!(
            err(&["--noise-std", "0.1"]),
            "invalid value for --noise-std/--mask-ratio: apply to --kind denoising only"
        );
        assert_eq!(
            err(&["--scaler", "zscore"]),
            "invalid value for --scaler: expected one of standard, min_max (or minmax), robust, none, got zscore"
        );
        let bce = err(&["--loss", "bce", "--output-activation", "sigmoid"]);
        assert!(bce.contains("use --scaler min_max"), "{bce}");
        let conv = err(&["--kind", "convolutional"]);
        assert!(
            conv.contains("--input-shape: --kind convolutional needs the shape of one row"),
            "{conv}"
        );
    }

    /// `--help` lists every flag, alias and accepted word of the table, and the defaults.
    #[test]
    fn help_lists_every_flag_and_value() {
        let mut cmd = Cli::command();
        let train = cmd.find_subcommand_mut("train").expect("train");
        let help = train.render_long_help().to_string();
        for spec in TRAIN_OPTIONS {
            for name in std::iter::once(&spec.name).chain(spec.aliases) {
                assert!(help.contains(&flag(name)), "{name} not in help");
            }
            for word in spec.value.words() {
                assert!(help.contains(word), "{}: {word} not in help", spec.name);
            }
            if let Some(d) = (spec.default)() {
                assert!(help.contains(&format!("[default: {d}]")), "{}", spec.name);
            }
        }
        assert!(help.contains("--no-early-stop") && help.contains("--impute"));
        assert!(!help.contains("`"), "unspelled mention in help:\n{help}");
    }
}
