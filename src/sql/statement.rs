//! The statements aeflow adds to SQL, recognised before DataFusion's parser sees the text.
//!
//! ```text
//! CREATE [OR REPLACE] MODEL [IF NOT EXISTS] name [OPTIONS (key = value, …)] AS query
//! DROP MODEL [IF EXISTS] name
//! SHOW MODELS
//! ```
//!
//! `name` is an identifier (kept as written, case included) or a string literal. An option value
//! is a number, a string, `true`/`false`, a bare word, or a list `[v, …]` / `(v, …)`. `query` is
//! any query DataFusion accepts; it is handed over as text. Anything else is not an aeflow
//! statement and goes to DataFusion unchanged. Text is split into tokens with sqlparser's
//! tokenizer (re-exported by DataFusion), so quotes and comments are handled as SQL does.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use crate::error::{Error, Result};

/// A value in `OPTIONS (…)`.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    /// A number as written, e.g. `0.01`, `-3`.
    Number(String),
    /// A quoted string.
    String(String),
    /// `true` or `false`.
    Bool(bool),
    /// A bare word, e.g. `denoising`.
    Word(String),
    /// `[v, …]` or `(v, …)`.
    List(Vec<OptionValue>),
}

impl std::fmt::Display for OptionValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptionValue::Number(n) => write!(f, "{n}"),
            OptionValue::String(s) => write!(f, "'{s}'"),
            OptionValue::Bool(b) => write!(f, "{b}"),
            OptionValue::Word(w) => write!(f, "{w}"),
            OptionValue::List(items) => {
                let items: Vec<String> = items.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", items.join(", "))
            }
        }
    }
}

/// A statement aeflow executes itself.
#[derive(Debug, Clone, PartialEq)]
pub enum AeStatement {
    /// `CREATE [OR REPLACE] MODEL [IF NOT EXISTS] name [OPTIONS (…)] AS query`.
    CreateModel {
        /// The model's name.
        name: String,
        /// `OR REPLACE` was given.
        or_replace: bool,
        /// `IF NOT EXISTS` was given.
        if_not_exists: bool,
        /// The options, in the order written.
        options: Vec<(String, OptionValue)>,
        /// The training query's text.
        query: String,
    },
    /// `DROP MODEL [IF EXISTS] name`.
    DropModel {
        /// The model's name.
        name: String,
        /// `IF EXISTS` was given.
        if_exists: bool,
    },
    /// `SHOW MODELS`.
    ShowModels,
}

/// The aeflow statement `sql` holds, `Ok(None)` when it is not one (DataFusion runs it), or an
/// error for a malformed aeflow statement.
pub fn parse(sql: &str) -> Result<Option<AeStatement>> {
    // Text the tokenizer rejects is not ours: DataFusion reports the error in its own words.
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location() else {
        return Ok(None);
    };
    let mut c = Cursor::new(sql, tokens);
    if c.keyword("SHOW") {
        if c.keyword("MODELS") {
            c.end("SHOW MODELS")?;
            return Ok(Some(AeStatement::ShowModels));
        }
        return Ok(None);
    }
    if c.keyword("DROP") {
        if !c.keyword("MODEL") {
            return Ok(None);
        }
        let if_exists = c.keywords(&["IF", "EXISTS"]);
        let name = c.name("DROP MODEL")?;
        c.end("DROP MODEL")?;
        return Ok(Some(AeStatement::DropModel { name, if_exists }));
    }
    if c.keyword("CREATE") {
        let or_replace = c.keywords(&["OR", "REPLACE"]);
        if !c.keyword("MODEL") {
            return Ok(None);
        }
        let if_not_exists = c.keywords(&["IF", "NOT", "EXISTS"]);
        let name = c.name("CREATE MODEL")?;
        let options = if c.keyword("OPTIONS") {
            c.options()?
        } else {
            Vec::new()
        };
        if !c.keyword("AS") {
            return Err(c.error(
                "CREATE MODEL",
                "expected OPTIONS (…) or AS followed by the training query",
            ));
        }
        let query = c.rest();
        if query.is_empty() {
            return Err(c.error("CREATE MODEL", "expected a query after AS"));
        }
        if or_replace && if_not_exists {
            return Err(Error::config(
                "CREATE MODEL",
                "OR REPLACE and IF NOT EXISTS cannot be used together",
            ));
        }
        return Ok(Some(AeStatement::CreateModel {
            name,
            or_replace,
            if_not_exists,
            options,
            query,
        }));
    }
    Ok(None)
}

/// Split a script into statements at top-level `;` (not inside strings or comments). Empty
/// statements are dropped; each statement is returned as written, without its `;`.
pub fn split_statements(script: &str) -> Result<Vec<String>> {
    let tokens = Tokenizer::new(&GenericDialect {}, script)
        .tokenize_with_location()
        .map_err(|e| Error::config("SQL script", e.to_string()))?;
    let offsets = LineOffsets::new(script);
    let mut statements = Vec::new();
    let mut start = 0;
    for t in &tokens {
        if t.token == Token::SemiColon {
            let end = offsets.offset(t.span.start);
            // The tokenizer's location should point at this `;`. On some inputs (found by fuzzing:
            // non-ASCII text in comments and dollar-quoted strings before a `;`) its column
            // counting and ours disagree; refuse the script rather than cut it at a guess.
            if end < start || !script.get(end..).is_some_and(|rest| rest.starts_with(';')) {
                return Err(Error::config(
                    "SQL script",
                    format!(
                        "could not locate the `;` the tokenizer found at line {}, column {}; \
                         run the statements one at a time",
                        t.span.start.line, t.span.start.column
                    ),
                ));
            }
            push_statement(&mut statements, &script[start..end]);
            start = end + 1;
        }
    }
    push_statement(&mut statements, &script[start.min(script.len())..]);
    Ok(statements)
}

fn push_statement(statements: &mut Vec<String>, text: &str) {
    // A piece holding only whitespace and comments is no statement.
    let meaningful = Tokenizer::new(&GenericDialect {}, text)
        .tokenize()
        .map(|ts| ts.iter().any(|t| !matches!(t, Token::Whitespace(_))))
        .unwrap_or(true);
    if meaningful {
        statements.push(text.trim().to_string());
    }
}

/// Byte offsets of line starts, to turn the tokenizer's (line, column) into a byte offset.
struct LineOffsets<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineOffsets<'a> {
    fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { text, starts }
    }

    /// Byte offset of a 1-based (line, column-in-characters) location.
    fn offset(&self, loc: Location) -> usize {
        let line = usize::try_from(loc.line).unwrap_or(0).max(1) - 1;
        let Some(&start) = self.starts.get(line) else {
            return self.text.len();
        };
        let column = usize::try_from(loc.column).unwrap_or(0).max(1) - 1;
        self.text[start..]
            .char_indices()
            .nth(column)
            .map_or(self.text.len(), |(i, _)| start + i)
    }
}

/// Walks the meaningful tokens (whitespace and comments skipped).
struct Cursor<'a> {
    text: &'a str,
    offsets: LineOffsets<'a>,
    tokens: Vec<TokenWithSpan>,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str, tokens: Vec<TokenWithSpan>) -> Self {
        let tokens = tokens
            .into_iter()
            .filter(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
            .collect();
        Self {
            text,
            offsets: LineOffsets::new(text),
            tokens,
            pos: 0,
        }
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|t| &t.token)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).map(|t| t.token.clone());
        self.pos += 1;
        t
    }

    /// Consume the unquoted keyword `kw` (any case) if it is next.
    fn keyword(&mut self, kw: &str) -> bool {
        match self.peek() {
            Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    /// Consume all of `kws` if they come next, else nothing.
    fn keywords(&mut self, kws: &[&str]) -> bool {
        let start = self.pos;
        if kws.iter().all(|kw| self.keyword(kw)) {
            true
        } else {
            self.pos = start;
            false
        }
    }

    fn name(&mut self, statement: &str) -> Result<String> {
        match self.next() {
            Some(Token::Word(w)) => Ok(w.value),
            Some(Token::SingleQuotedString(s)) if !s.is_empty() => Ok(s),
            _ => Err(self.error_before(statement, "expected a model name")),
        }
    }

    /// `( key = value [, key = value]… )`, after `OPTIONS`.
    fn options(&mut self) -> Result<Vec<(String, OptionValue)>> {
        if self.next() != Some(Token::LParen) {
            return Err(self.error_before("OPTIONS", "expected ( after OPTIONS"));
        }
        let mut options = Vec::new();
        if self.peek() == Some(&Token::RParen) {
            self.pos += 1;
            return Ok(options);
        }
        loop {
            let key = match self.next() {
                Some(Token::Word(w)) => w.value.to_ascii_lowercase(),
                Some(Token::SingleQuotedString(s)) => s.to_ascii_lowercase(),
                _ => return Err(self.error_before("OPTIONS", "expected an option name")),
            };
            if self.next() != Some(Token::Eq) {
                return Err(self.error_before("OPTIONS", &format!("expected = after {key}")));
            }
            let value = self.value(&key)?;
            options.push((key, value));
            match self.next() {
                Some(Token::Comma) => continue,
                Some(Token::RParen) => return Ok(options),
                _ => {
                    return Err(
                        self.error_before("OPTIONS", "expected , or ) after an option value")
                    );
                }
            }
        }
    }

    fn value(&mut self, key: &str) -> Result<OptionValue> {
        let what = format!("OPTIONS {key}");
        match self.next() {
            Some(Token::Number(n, _)) => Ok(OptionValue::Number(n)),
            Some(Token::Minus) => match self.next() {
                Some(Token::Number(n, _)) => Ok(OptionValue::Number(format!("-{n}"))),
                _ => Err(self.error_before(&what, "expected a number after -")),
            },
            Some(Token::SingleQuotedString(s) | Token::DoubleQuotedString(s)) => {
                Ok(OptionValue::String(s))
            }
            Some(Token::Word(w))
                if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("true") =>
            {
                Ok(OptionValue::Bool(true))
            }
            Some(Token::Word(w))
                if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("false") =>
            {
                Ok(OptionValue::Bool(false))
            }
            Some(Token::Word(w)) => Ok(OptionValue::Word(w.value)),
            Some(open @ (Token::LBracket | Token::LParen)) => {
                let close = if open == Token::LBracket {
                    Token::RBracket
                } else {
                    Token::RParen
                };
                let mut items = Vec::new();
                if self.peek() == Some(&close) {
                    self.pos += 1;
                    return Ok(OptionValue::List(items));
                }
                loop {
                    items.push(self.value(key)?);
                    match self.next() {
                        Some(Token::Comma) => continue,
                        Some(t) if t == close => return Ok(OptionValue::List(items)),
                        _ => {
                            return Err(self.error_before(&what, &format!("expected , or {close}")));
                        }
                    }
                }
            }
            _ => Err(self.error_before(
                &what,
                "expected a number, a string, true/false, a word or a list [v, …]",
            )),
        }
    }

    /// The statement must end here (a trailing `;` is allowed).
    fn end(&mut self, statement: &str) -> Result<()> {
        if self.peek() == Some(&Token::SemiColon) {
            self.pos += 1;
        }
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(Error::config(
                statement,
                format!("unexpected '{t}' after the end of the statement"),
            )),
        }
    }

    /// The text from the next token to the end, without a trailing `;`.
    fn rest(&self) -> String {
        let Some(t) = self.tokens.get(self.pos) else {
            return String::new();
        };
        let start = self.offsets.offset(t.span.start);
        let rest = self.text[start..].trim_end();
        rest.strip_suffix(';')
            .unwrap_or(rest)
            .trim_end()
            .to_string()
    }

    fn error(&self, statement: &str, message: &str) -> Error {
        let at = match self.peek() {
            Some(t) => format!(", found '{t}'"),
            None => ", found the end of the statement".to_string(),
        };
        Error::config(statement, format!("{message}{at}"))
    }

    /// Like [`Cursor::error`], for the token just consumed.
    fn error_before(&mut self, statement: &str, message: &str) -> Error {
        self.pos = self.pos.saturating_sub(1);
        self.error(statement, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(sql: &str) -> AeStatement {
        parse(sql).expect("parses").expect("is an aeflow statement")
    }

    #[test]
    fn create_model_with_options_and_query() {
        let s = create(
            "create or replace MODEL Sensors OPTIONS(kind='denoising', hidden_units=[64, 8, 64], \
             epochs=20, contamination=0.01, early_stop=false, seed=-1)\n AS SELECT a, b FROM t WHERE c = ';';",
        );
        let AeStatement::CreateModel {
            name,
            or_replace,
            if_not_exists,
            options,
            query,
        } = s
        else {
            panic!("not CREATE MODEL: {s:?}")
        };
        assert_eq!(name, "Sensors");
        assert!(or_replace && !if_not_exists);
        assert_eq!(query, "SELECT a, b FROM t WHERE c = ';'");
        assert_eq!(
            options[0],
            ("kind".into(), OptionValue::String("denoising".into()))
        );
        assert_eq!(
            options[1].1,
            OptionValue::List(vec![
                OptionValue::Number("64".into()),
                OptionValue::Number("8".into()),
                OptionValue::Number("64".into())
            ])
        );
        assert_eq!(options[4].1, OptionValue::Bool(false));
        assert_eq!(options[5].1, OptionValue::Number("-1".into()));
    }

    #[test]
    fn create_model_without_options_keeps_multiline_query_with_unicode() {
        let s =
            create("-- train\nCREATE MODEL IF NOT EXISTS m\nAS\n  SELECT 'é' AS x,\n  y FROM t");
        assert_eq!(
            s,
            AeStatement::CreateModel {
                name: "m".into(),
                or_replace: false,
                if_not_exists: true,
                options: vec![],
                query: "SELECT 'é' AS x,\n  y FROM t".into()
            }
        );
    }

    #[test]
    fn drop_and_show() {
        assert_eq!(
            create("DROP MODEL IF EXISTS m;"),
            AeStatement::DropModel {
                name: "m".into(),
                if_exists: true
            }
        );
        assert_eq!(create("show models"), AeStatement::ShowModels);
    }

    #[test]
    fn other_statements_are_not_ours() {
        for sql in [
            "SELECT 1",
            "CREATE TABLE t AS SELECT 1",
            "DROP TABLE model",
            "SHOW TABLES",
            "select 'CREATE MODEL m AS SELECT 1'",
        ] {
            assert_eq!(parse(sql).expect("parses"), None, "{sql}");
        }
    }

    #[test]
    fn malformed_statements_say_what_was_expected() {
        let cases = [
            ("CREATE MODEL m SELECT 1", "expected OPTIONS"),
            (
                "CREATE MODEL m OPTIONS(epochs 3) AS SELECT 1",
                "expected = after epochs",
            ),
            (
                "CREATE MODEL m OPTIONS(epochs=3 AS SELECT 1",
                "expected , or )",
            ),
            ("CREATE MODEL m AS", "expected a query after AS"),
            ("DROP MODEL", "expected a model name"),
            ("SHOW MODELS extra", "unexpected 'extra'"),
            (
                "CREATE OR REPLACE MODEL IF NOT EXISTS m AS SELECT 1",
                "cannot be used together",
            ),
        ];
        for (sql, expected) in cases {
            let err = parse(sql).expect_err(sql).to_string();
            assert!(err.contains(expected), "{sql}: {err}");
        }
    }

    #[test]
    fn scripts_split_at_top_level_semicolons_only() {
        let script =
            "SELECT ';' AS a; -- c; d\n/* e; */ SELECT 2;\n\n  ;CREATE MODEL m AS SELECT 3";
        assert_eq!(
            split_statements(script).expect("splits"),
            vec![
                "SELECT ';' AS a".to_string(),
                "-- c; d\n/* e; */ SELECT 2".to_string(),
                "CREATE MODEL m AS SELECT 3".to_string()
            ]
        );
        assert!(split_statements("-- nothing\n").expect("splits").is_empty());
    }
}
