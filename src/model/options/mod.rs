//! The training options, declared once ([`TRAIN_OPTIONS`]) and shared by every surface: the
//! `aeflow train` flags and `CREATE MODEL … OPTIONS (…)` are both derived from the table, read
//! the same [`RawValue`]s into a [`TrainRequest`] the same way, and validate it once. Errors
//! name options neutrally (`learning_rate`); each surface spells them with [`respell`].

mod request;
mod spell;
mod table;
mod value;

pub use request::TrainRequest;
pub use spell::{Spelling, mention, mention_value, respell, spell_mentions, training_spelling};
pub use table::{DEFAULT_MAX_ROWS, OptionSpec, TRAIN_OPTIONS, option_spec};
pub use value::{Choice, Range, RawValue, TypedValue, ValueSpec};

pub(crate) use table::{check_integer, check_number};
