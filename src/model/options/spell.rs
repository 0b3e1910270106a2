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

/// `err` with every training option it names spelled by `spell(option, value)`: the option of
/// an [`Error::Config`] (`a/b` for a group) and the options marked in its message with
/// [`mention`] / [`mention_value`]. Names that are no training option are kept as they are;
/// other errors are returned unchanged.
pub fn respell(err: Error, spell: impl Fn(&OptionSpec, Option<&str>) -> String) -> Error {
    let Error::Config { option, message } = err else {
        return err;
    };
    let parts: Option<Vec<String>> = option
        .split('/')
        .map(|p| option_spec(p).map(|s| spell(s, None)))
        .collect();
    let option = parts.map_or(option, |p| p.join("/"));
    let message = spell_mentions(&message, &spell);
    Error::Config { option, message }
}

/// `text` with every training option marked with [`mention`] / [`mention_value`] spelled by
/// `spell(option, value)` (help text, messages); other backticked words are kept.
pub fn spell_mentions(text: &str, spell: impl Fn(&OptionSpec, Option<&str>) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('`') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('`') else { break };
        out.push_str(&rest[..open]);
        let piece = &after[..close];
        match mentioned(piece, &spell) {
            Some(spelled) => out.push_str(&spelled),
            None => out.push_str(&format!("`{piece}`")),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// `name` or `name = value` spelled, when `name` is a training option.
fn mentioned(piece: &str, spell: &impl Fn(&OptionSpec, Option<&str>) -> String) -> Option<String> {
    let (name, value) = match piece.split_once('=') {
        Some((n, v)) => (n.trim(), Some(v.trim())),
        None => (piece.trim(), None),
    };
    option_spec(name).map(|s| spell(s, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(s: &OptionSpec, v: Option<&str>) -> String {
        let flag = format!("--{}", s.name.replace('_', "-"));
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
            respell(e, flags).to_string(),
            "invalid value for --noise-std/--mask-ratio: apply to --kind denoising only, see \
             --hidden-units and `not_an_option`; a lone ` stays"
        );
        let e = Error::config("CREATE MODEL m", "`seed`");
        assert_eq!(
            respell(e, flags).to_string(),
            "invalid value for CREATE MODEL m: --seed"
        );
        let e = Error::data("x.csv", "`seed`");
        assert_eq!(respell(e, flags).to_string(), "x.csv: `seed`");
    }
}
