//! Library errors in the CLI's words.
//!
//! The library names options neutrally, as its callers know them: the `option` of
//! [`Error::Config`] (`batch_size`, `kafka_option session.timeout.ms`) and, inside messages, a
//! name in backticks (`` name it with `format` ``). A SQL user reads those as `OPTIONS` keys, a
//! library caller as field and builder names. At the CLI edge, [`with_flag_names`] spells each
//! one that is a flag of the subcommand that ran as that flag (`--batch-size`); the others stay
//! as they are.

use crate::error::Error;

/// `e` with the neutral option names that are flags of `command` spelled as those flags, in
/// every layer of context.
pub(crate) fn with_flag_names(e: Error, command: &clap::Command) -> Error {
    match e {
        Error::Config { option, message } => Error::Config {
            option: option_as_flag(&option, command),
            message: quoted_as_flags(&message, command),
        },
        Error::Data { input, message } => Error::Data {
            input,
            message: quoted_as_flags(&message, command),
        },
        Error::Context { what, source } => {
            with_flag_names(source.into_inner(), command).context(what)
        }
        other => other,
    }
}

/// `--name` (underscores as dashes) when `name` is a neutral option name and `command` (or one
/// of its subcommands) has that flag.
fn flag(name: &str, command: &clap::Command) -> Option<String> {
    let neutral = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !neutral {
        return None;
    }
    let long = name.replace('_', "-");
    has_flag(command, &long).then(|| format!("--{long}"))
}

/// `true` when `command`, or one of its subcommands (`aeflow cluster scheduler`), has `--long`.
fn has_flag(command: &clap::Command, long: &str) -> bool {
    command.get_arguments().any(|a| a.get_long() == Some(long))
        || command.get_subcommands().any(|c| has_flag(c, long))
}

/// The option of a configuration error as a flag: its first word is the option
/// (`kafka_option session.timeout.ms` → `--kafka-option session.timeout.ms`).
fn option_as_flag(option: &str, command: &clap::Command) -> String {
    let (name, rest) = match option.split_once(' ') {
        Some((name, rest)) => (name, Some(rest)),
        None => (option, None),
    };
    match (flag(name, command), rest) {
        (Some(f), Some(rest)) => format!("{f} {rest}"),
        (Some(f), None) => f,
        (None, _) => option.to_string(),
    }
}

/// Every `` `name` `` of `message` that is a flag of `command`, as that flag.
fn quoted_as_flags(message: &str, command: &clap::Command) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find('`') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('`') else {
            break;
        };
        let name = &after[..end];
        out.push_str(&rest[..start]);
        match flag(name, command) {
            Some(f) => out.push_str(&f),
            None => {
                out.push('`');
                out.push_str(name);
                out.push('`');
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
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
