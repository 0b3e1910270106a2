//! Option values: what a user wrote ([`RawValue`], the same for the command line and SQL), what
//! an option accepts ([`ValueSpec`]), and the typed value a valid [`RawValue`] becomes.

use std::fmt;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// An option's value as written, before it is checked: the command line gives every value as
/// [`RawValue::Word`] (`64,16,64`, `minmax`, `0.01`), SQL gives each of these forms
/// (`[64, 16, 64]`, `'minmax'`, `minmax`, `0.01`, `true`).
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    /// Unquoted text: a command-line argument, or a bare word in SQL.
    Word(String),
    /// Quoted text, e.g. SQL `'min_max'` or `'64,16,64'`.
    Quoted(String),
    /// A number as written, e.g. `0.01`, `-3`.
    Number(String),
    /// `true` or `false`.
    Bool(bool),
    /// A list, e.g. SQL `[64, 16, 64]`.
    List(Vec<RawValue>),
}

impl fmt::Display for RawValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawValue::Word(s) | RawValue::Number(s) => write!(f, "{s}"),
            RawValue::Quoted(s) => write!(f, "'{s}'"),
            RawValue::Bool(b) => write!(f, "{b}"),
            RawValue::List(items) => {
                let items: Vec<String> = items.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", items.join(", "))
            }
        }
    }
}

impl RawValue {
    /// The text of a word, a quoted string or a number, trimmed.
    fn text(&self) -> Option<&str> {
        match self {
            RawValue::Word(s) | RawValue::Quoted(s) | RawValue::Number(s) => Some(s.trim()),
            RawValue::Bool(_) | RawValue::List(_) => None,
        }
    }

    /// The items of a list: `[a, b]`, or text split at commas (`a,b`, `'a, b'`).
    fn items(&self) -> Option<Vec<String>> {
        match self {
            RawValue::List(items) => items.iter().map(|i| i.text().map(str::to_string)).collect(),
            RawValue::Bool(_) => None,
            other => Some(
                other
                    .text()?
                    .split(',')
                    .map(|p| p.trim().to_string())
                    .collect(),
            ),
        }
    }
}

/// One accepted value of a [`ValueSpec::Choice`]: its name (the serde name of the enum variant
/// it stands for) and other spellings accepted for it.
#[derive(Debug, Clone, Copy)]
pub struct Choice {
    /// The canonical spelling, e.g. `min_max`.
    pub name: &'static str,
    /// Other accepted spellings, e.g. `minmax`.
    pub aliases: &'static [&'static str],
}

/// The values a number option accepts: `min ≤ v` (or `min < v` when `min_open`), and
/// `v ≤ max` (or `v < max` when `max_open`) when there is a `max`. Always finite.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    /// Lower bound.
    pub min: f64,
    /// `true`: the lower bound itself is excluded.
    pub min_open: bool,
    /// Upper bound, if any.
    pub max: Option<f64>,
    /// `true`: the upper bound itself is excluded.
    pub max_open: bool,
}

impl Range {
    /// `v ≥ min`.
    pub const fn at_least(min: f64) -> Self {
        Range {
            min,
            min_open: false,
            max: None,
            max_open: false,
        }
    }

    /// `v > min`.
    pub const fn above(min: f64) -> Self {
        Range {
            min,
            min_open: true,
            max: None,
            max_open: false,
        }
    }

    /// `min ≤ v < max`.
    pub const fn half_open(min: f64, max: f64) -> Self {
        Range {
            min,
            min_open: false,
            max: Some(max),
            max_open: true,
        }
    }

    /// Whether `v` lies in the range (NaN and infinities never do).
    pub fn contains(&self, v: f64) -> bool {
        let lower = if self.min_open {
            v > self.min
        } else {
            v >= self.min
        };
        let upper = match self.max {
            None => true,
            Some(max) if self.max_open => v < max,
            Some(max) => v <= max,
        };
        v.is_finite() && lower && upper
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.max {
            None if self.min_open => write!(f, "a number > {}", self.min),
            None => write!(f, "a number >= {}", self.min),
            Some(max) => write!(
                f,
                "a number in {}{}, {max}{}",
                if self.min_open { '(' } else { '[' },
                self.min,
                if self.max_open { ')' } else { ']' }
            ),
        }
    }
}

/// What an option accepts.
#[derive(Debug, Clone, Copy)]
pub enum ValueSpec {
    /// One of these words (case-insensitive).
    Choice(&'static [Choice]),
    /// A whole number `≥ min`.
    Integer {
        /// Smallest accepted value.
        min: u64,
    },
    /// A finite number in a range.
    Number(Range),
    /// `true` or `false` (also `yes`/`no`, `on`/`off`).
    Bool,
    /// A non-empty list of positive integers, e.g. layer widths.
    Sizes {
        /// An accepted value, shown in help and errors, e.g. `64,16,64`.
        example: &'static str,
    },
    /// A non-empty list of column names.
    Names {
        /// An accepted value, shown in help and errors, e.g. `a,b,c`.
        example: &'static str,
    },
}

/// The spellings of a [`ValueSpec::Bool`]: `(word, value)`.
const BOOLS: [(&str, bool); 6] = [
    ("true", true),
    ("false", false),
    ("yes", true),
    ("no", false),
    ("on", true),
    ("off", false),
];

/// A checked value, typed by its [`ValueSpec`].
#[derive(Debug, Clone, PartialEq)]
pub enum TypedValue {
    /// The canonical name of the choice given (an alias is replaced by its name).
    Choice(&'static str),
    /// A whole number.
    Integer(u64),
    /// A finite number.
    Number(f64),
    /// A flag.
    Bool(bool),
    /// Positive integers.
    Sizes(Vec<usize>),
    /// Column names.
    Names(Vec<String>),
}

impl ValueSpec {
    /// Every word this spec accepts, aliases included (choices and booleans; empty for the
    /// others): what help lists and what the option-table test feeds through every surface.
    pub fn words(&self) -> Vec<&'static str> {
        match self {
            ValueSpec::Choice(choices) => choices
                .iter()
                .flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied()))
                .collect(),
            ValueSpec::Bool => BOOLS.iter().map(|(w, _)| *w).collect(),
            _ => Vec::new(),
        }
    }

    /// What is expected, for errors: `one of standard, min_max (or minmax), robust, none`,
    /// `a number in [0, 1)`, `a list of positive integers such as 64,16,64`.
    pub fn expected(&self) -> String {
        match self {
            ValueSpec::Choice(choices) => {
                let names: Vec<String> = choices
                    .iter()
                    .map(|c| match c.aliases {
                        [] => c.name.to_string(),
                        aliases => format!("{} (or {})", c.name, aliases.join(", ")),
                    })
                    .collect();
                format!("one of {}", names.join(", "))
            }
            ValueSpec::Integer { min: 0 } => "a non-negative integer".into(),
            ValueSpec::Integer { min: 1 } => "a positive integer".into(),
            ValueSpec::Integer { min } => format!("an integer >= {min}"),
            ValueSpec::Number(range) => range.to_string(),
            ValueSpec::Bool => "true or false (or yes/no, on/off)".into(),
            ValueSpec::Sizes { example } => {
                format!("a list of positive integers such as {example}")
            }
            ValueSpec::Names { example } => format!("a list of column names such as {example}"),
        }
    }

    /// `raw` checked against this spec; `None` when it is not an accepted value.
    pub fn parse(&self, raw: &RawValue) -> Option<TypedValue> {
        match self {
            ValueSpec::Choice(choices) => {
                let word = match raw {
                    RawValue::Word(w) | RawValue::Quoted(w) => w.trim(),
                    _ => return None,
                };
                choices
                    .iter()
                    .find(|c| {
                        std::iter::once(&c.name)
                            .chain(c.aliases)
                            .any(|n| n.eq_ignore_ascii_case(word))
                    })
                    .map(|c| TypedValue::Choice(c.name))
            }
            ValueSpec::Integer { min } => raw
                .text()?
                .parse::<u64>()
                .ok()
                .filter(|v| v >= min)
                .map(TypedValue::Integer),
            ValueSpec::Number(range) => raw
                .text()?
                .parse::<f64>()
                .ok()
                .filter(|v| range.contains(*v))
                .map(TypedValue::Number),
            ValueSpec::Bool => match raw {
                RawValue::Bool(b) => Some(TypedValue::Bool(*b)),
                other => {
                    let word = other.text()?;
                    BOOLS
                        .iter()
                        .find(|(w, _)| w.eq_ignore_ascii_case(word))
                        .map(|(_, b)| TypedValue::Bool(*b))
                }
            },
            ValueSpec::Sizes { .. } => {
                let sizes = raw
                    .items()?
                    .iter()
                    .map(|i| i.parse::<usize>().ok().filter(|&n| n > 0))
                    .collect::<Option<Vec<usize>>>()?;
                (!sizes.is_empty()).then_some(TypedValue::Sizes(sizes))
            }
            ValueSpec::Names { .. } => {
                if let RawValue::List(items) = raw
                    && items
                        .iter()
                        .any(|i| !matches!(i, RawValue::Word(_) | RawValue::Quoted(_)))
                {
                    return None;
                }
                let names = raw.items()?;
                let ok = !names.is_empty() && names.iter().all(|n| !n.is_empty());
                ok.then_some(TypedValue::Names(names))
            }
        }
    }
}

impl TypedValue {
    fn mismatch(&self, want: &str) -> Error {
        Error::Internal(format!(
            "training option table: a {want} setter got {self:?}"
        ))
    }

    /// The choice as the config enum of the same serde name.
    pub(crate) fn choice<T: DeserializeOwned>(&self) -> Result<T> {
        match self {
            TypedValue::Choice(name) => {
                serde_json::from_value(serde_json::Value::String((*name).to_string()))
                    .map_err(|e| self.mismatch(&format!("choice ({e})")))
            }
            other => Err(other.mismatch("choice")),
        }
    }

    /// The choice's canonical name.
    pub(crate) fn name(&self) -> Result<String> {
        match self {
            TypedValue::Choice(name) => Ok((*name).to_string()),
            other => Err(other.mismatch("choice")),
        }
    }

    pub(crate) fn u64(&self) -> Result<u64> {
        match self {
            TypedValue::Integer(v) => Ok(*v),
            other => Err(other.mismatch("integer")),
        }
    }

    pub(crate) fn usize(&self) -> Result<usize> {
        usize::try_from(self.u64()?).map_err(|_| self.mismatch("usize"))
    }

    pub(crate) fn f64(&self) -> Result<f64> {
        match self {
            TypedValue::Number(v) => Ok(*v),
            other => Err(other.mismatch("number")),
        }
    }

    pub(crate) fn f32(&self) -> Result<f32> {
        self.f64().map(|v| v as f32)
    }

    pub(crate) fn bool(&self) -> Result<bool> {
        match self {
            TypedValue::Bool(b) => Ok(*b),
            other => Err(other.mismatch("bool")),
        }
    }

    pub(crate) fn sizes(&self) -> Result<Vec<usize>> {
        match self {
            TypedValue::Sizes(s) => Ok(s.clone()),
            other => Err(other.mismatch("sizes")),
        }
    }

    pub(crate) fn names(&self) -> Result<Vec<String>> {
        match self {
            TypedValue::Names(n) => Ok(n.clone()),
            other => Err(other.mismatch("names")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCALERS: &[Choice] = &[
        Choice {
            name: "standard",
            aliases: &[],
        },
        Choice {
            name: "min_max",
            aliases: &["minmax"],
        },
    ];

    fn word(s: &str) -> RawValue {
        RawValue::Word(s.into())
    }

    #[test]
    fn choices_take_aliases_in_any_case_and_list_them() {
        let spec = ValueSpec::Choice(SCALERS);
        for raw in [word("minmax"), RawValue::Quoted("MIN_MAX".into())] {
            assert_eq!(spec.parse(&raw), Some(TypedValue::Choice("min_max")));
        }
        assert_eq!(spec.parse(&word("min-max")), None);
        assert_eq!(spec.expected(), "one of standard, min_max (or minmax)");
        assert_eq!(spec.words(), ["standard", "min_max", "minmax"]);
    }

    #[test]
    fn numbers_respect_open_and_closed_bounds() {
        let spec = ValueSpec::Number(Range::half_open(0.0, 1.0));
        assert_eq!(spec.parse(&word("0")), Some(TypedValue::Number(0.0)));
        assert_eq!(spec.parse(&RawValue::Number("1".into())), None);
        assert_eq!(spec.parse(&word("NaN")), None);
        assert_eq!(spec.expected(), "a number in [0, 1)");
        assert_eq!(ValueSpec::Number(Range::above(0.0)).parse(&word("0")), None);
        let integer = ValueSpec::Integer { min: 1 };
        assert_eq!(integer.parse(&word("0")), None);
        assert_eq!(integer.parse(&word("2.5")), None);
        assert_eq!(integer.parse(&word("7")), Some(TypedValue::Integer(7)));
    }

    #[test]
    fn lists_come_as_lists_or_comma_separated_text() {
        let spec = ValueSpec::Sizes {
            example: "64,16,64",
        };
        let want = Some(TypedValue::Sizes(vec![64, 16, 64]));
        assert_eq!(spec.parse(&word("64,16,64")), want);
        assert_eq!(spec.parse(&RawValue::Quoted("64, 16, 64".into())), want);
        let list = RawValue::List(
            ["64", "16", "64"]
                .map(|n| RawValue::Number(n.into()))
                .into(),
        );
        assert_eq!(spec.parse(&list), want);
        assert_eq!(spec.parse(&word("8,0,8")), None);
        assert_eq!(spec.parse(&RawValue::List(vec![])), None);
        let names = ValueSpec::Names { example: "a,b" };
        assert_eq!(
            names.parse(&word("a, b")),
            Some(TypedValue::Names(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            names.parse(&RawValue::List(vec![RawValue::Number("1".into())])),
            None
        );
        assert_eq!(names.parse(&word("a,,b")), None);
    }

    #[test]
    fn bools_take_their_words() {
        assert_eq!(
            ValueSpec::Bool.parse(&word("Off")),
            Some(TypedValue::Bool(false))
        );
        assert_eq!(
            ValueSpec::Bool.parse(&RawValue::Bool(true)),
            Some(TypedValue::Bool(true))
        );
        assert_eq!(ValueSpec::Bool.parse(&word("maybe")), None);
    }
}
