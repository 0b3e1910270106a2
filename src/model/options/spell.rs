//! Option names in errors. The model layer names options neutrally (`learning_rate`) and marks
//! an option mentioned inside a message with backticks (`` `scaler = min_max` ``); each surface
//! spells them its own way with [`respell`]: the command line as `--learning-rate` and
//! `--scaler min_max`, SQL as `learning_rate` and `scaler = 'min_max'`.

use super::table::{OptionSpec, option_spec};
use crate::error::Error;

/// An option mentioned in a message: `` `name` ``.
pub fn mention(name: &str) -> String {
    format!("`{name}`")
}

/// An option with a value mentioned in a message: `` `name = value` ``.
pub fn mention_value(name: &str, value: &str) -> String {
    format!("`{name} = {value}`")
}

/// How a surface writes an option (and, for a mention with a value, `name = value`): `Some` for
/// the names it knows, `None` to keep a name as it is.
pub type Spelling<'a> = &'a dyn Fn(&str, Option<&str>) -> Option<String>;

/// The one rule that turns the neutral names of an error into a surface's spelling, in every
/// layer of [`Error::Context`]:
/// - the option of an [`Error::Config`]: each `/`-separated part's first word
///   (`noise_std/mask_ratio`, `kafka_option session.timeout.ms`);
/// - the names marked in a message with [`mention`] / [`mention_value`], in configuration and
///   data errors.
///
/// Names `spell` does not know are kept; other errors are returned unchanged.
pub fn respell(err: Error, spell: Spelling<'_>) -> Error {
    match err {
        Error::Config { option, message } => Error::Config {
            option: spell_option(&option, spell),
            message: spell_mentions(&message, spell),
        },
        Error::Data { input, message } => Error::Data {
            input,
            message: spell_mentions(&message, spell),
        },
        Error::Context { what, source } => respell(source.into_inner(), spell).context(what),
        other => other,
    }
}

/// The option of a configuration error spelled part by part (`a/b`; `name rest`).
fn spell_option(option: &str, spell: Spelling<'_>) -> String {
    option
        .split('/')
        .map(|part| {
            let (name, rest) = match part.split_once(' ') {
                Some((name, rest)) => (name, Some(rest)),
                None => (part, None),
            };
            match (spell(name, None), rest) {
                (Some(s), Some(rest)) => format!("{s} {rest}"),
                (Some(s), None) => s,
                (None, _) => part.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `text` with every option marked with [`mention`] / [`mention_value`] spelled by `spell`
/// (help text, messages); backticked words it does not know, and a lone backtick, are kept.
pub fn spell_mentions(text: &str, spell: Spelling<'_>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('`') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('`') else { break };
        out.push_str(&rest[..open]);
        let piece = &after[..close];
        let (name, value) = match piece.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (piece.trim(), None),
        };
        match spell(name, value) {
            Some(spelled) => out.push_str(&spelled),
            None => out.push_str(&format!("`{piece}`")),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// A [`Spelling`] of the training options of [`super::TRAIN_OPTIONS`] (aliases resolved to the
/// option's name): `write(option name, value)`.
pub fn training_spelling(
    write: impl Fn(&str, Option<&str>) -> String,
) -> impl Fn(&str, Option<&str>) -> Option<String> {
    move |name, value| option_spec(name).map(|spec: &OptionSpec| write(spec.name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(name: &str, v: Option<&str>) -> String {
        let flag = format!("--{}", name.replace('_', "-"));
        v.map_or(flag.clone(), |v| format!("{flag} {v}"))
    }

    #[test]
    fn options_and_mentions_are_spelled_the_rest_kept() {
        let e = Error::config(
            "noise_std/mask_ratio",
            format!(
                "apply to {} only, see {} and `not_an_option`; a lone ` stays",
                mention_value("kind", "denoising"),
                mention("hidden")
            ),
        );
        assert_eq!(
            respell(e, &training_spelling(flag)).to_string(),
            "invalid value for --noise-std/--mask-ratio: apply to --kind denoising only, see \
             --hidden-units and `not_an_option`; a lone ` stays"
        );
        let e = Error::config("CREATE MODEL m", "`seed`");
        assert_eq!(
            respell(e, &training_spelling(flag)).to_string(),
            "invalid value for CREATE MODEL m: --seed"
        );
        // Data errors too, under every layer of context.
        let e = Error::data("x.csv", "`seed` and `not_an_option`").context("reading");
        assert_eq!(
            respell(e, &training_spelling(flag)).to_string(),
            "reading: x.csv: --seed and `not_an_option`"
        );
    }
}
