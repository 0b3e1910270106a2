//! Library errors in the CLI's words.
//!
//! The library names options neutrally, as its callers know them: the `option` of
//! [`Error::Config`] (`batch_size`, `kafka_option session.timeout.ms`) and, inside messages, a
//! name in backticks (`` name it with `format` ``). A SQL user reads those as `OPTIONS` keys, a
//! library caller as field and builder names. At the CLI edge, [`with_flag_names`] spells each
//! one that is a flag of the subcommand that ran as that flag (`--batch-size`); the others stay
//! as they are.

use crate::error::Error;
use crate::model::respell;

/// `e` with the neutral option names that are flags of `command` spelled as those flags, in
/// every layer of context (the one rule of [`respell`]).
pub(crate) fn with_flag_names(e: Error, command: &clap::Command) -> Error {
    respell(e, &|name, value| {
        is_flag(name, command).then(|| written_as_flag(name, value))
    })
}

/// How the command line writes an option, with its value if any: `--kind denoising`.
pub(crate) fn written_as_flag(name: &str, value: Option<&str>) -> String {
    let flag = format!("--{}", name.replace('_', "-"));
    match value {
        Some(v) => format!("{flag} {v}"),
        None => flag,
    }
}

/// `true` when `name` is a neutral option name (`batch_size`) and `command` (or one of its
/// subcommands, as in `aeflow cluster scheduler`) has it as a flag or a flag's alias.
fn is_flag(name: &str, command: &clap::Command) -> bool {
    let neutral = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    neutral && has_flag(command, &name.replace('_', "-"))
}

fn has_flag(command: &clap::Command, long: &str) -> bool {
    command.get_arguments().any(|a| {
        a.get_long() == Some(long)
            || a.get_all_aliases()
                .is_some_and(|aliases| aliases.contains(&long))
    }) || command.get_subcommands().any(|c| has_flag(c, long))
}

#[cfg(test)]
mod tests {
    use clap::{Arg, ArgAction, Command};

    use super::*;

    fn command() -> Command {
        Command::new("stream")
            .arg(Arg::new("batch_size").long("batch-size"))
            .arg(Arg::new("input_topic").long("input-topic"))
            .arg(Arg::new("output_topic").long("output-topic"))
            .arg(
                Arg::new("kafka_options")
                    .long("kafka-option")
                    .action(ArgAction::Append),
            )
    }

    #[test]
    fn options_and_quoted_names_that_are_flags_are_spelled_as_flags() {
        let c = command();
        let e = with_flag_names(
            Error::config("output_topic", "must differ from `input_topic`"),
            &c,
        );
        assert_eq!(
            e.to_string(),
            "invalid value for --output-topic: must differ from --input-topic"
        );
        let e = with_flag_names(
            Error::config("kafka_option group.id", "use `group_id`").context("stage"),
            &c,
        );
        // `group_id` is no flag of this command, so it stays neutral.
        assert_eq!(
            e.to_string(),
            "stage: invalid value for --kafka-option group.id: use `group_id`"
        );
        let e = with_flag_names(Error::data("x.txt", "name it with `batch_size`"), &c);
        assert_eq!(e.to_string(), "x.txt: name it with --batch-size");
    }

    #[test]
    fn other_names_and_unpaired_backticks_are_left_alone() {
        let c = command();
        for (option, message) in [
            ("QUERY", "no `SQL` statement"),
            ("linger", "expected at most one hour"),
            ("batch_size", "a lone ` stays"),
        ] {
            let e = with_flag_names(Error::config(option, message), &c);
            let want = if option == "batch_size" {
                format!("invalid value for --batch-size: {message}")
            } else {
                format!("invalid value for {option}: {message}")
            };
            assert_eq!(e.to_string(), want);
        }
    }
}
