//! Auth0's subset of the Lucene query syntax, as accepted by the `q` parameter of
//! `GET /api/v2/logs` and `GET /api/v2/users`: [`parse`] turns a query string into a [`Query`]
//! tree, and [`Query`]'s `Display` prints a tree back as a query string that parses to the same
//! tree.
//!
//! The accepted syntax:
//!
//! - `field:value` matches a field; a value without a field (`jane`) matches the caller's default
//!   fields. Field names are ASCII letters, digits, `_` and `.`. Matching is case-sensitive.
//! - `"a phrase"` is an exact value; inside quotes `\"` and `\\` are escapes and every other
//!   character is literal, including `*`, `:` and `|` (`user_id:"google-oauth2|1"`).
//! - Unquoted values may contain `|`, `-`, `+`, `/`, `@` and, after a field, `:`
//!   (`user_id:auth0|123`, `date:2026-03-01T10:00:00Z`). A backslash makes the next character
//!   literal (`user_id:auth0\|123`, `a\ b`, `\AND`).
//! - A `*` at the end of an unquoted value is a prefix match (`type:f*`); `*` alone matches any
//!   value. `*` anywhere else, `?`, `^` (boost) and `~` (fuzzy) are refused with an error rather
//!   than silently taken literally.
//! - Ranges `field:[a TO b]`, with `{`/`}` for exclusive bounds, mixable (`[a TO b}`), and `*` for
//!   an open end (`date:[2018-12-18 TO *]`). Bounds may be quoted.
//! - `AND`, `OR`, `NOT` (upper case only) and `-term` for `NOT term`; parentheses group, and
//!   `field:(a OR b)` applies one field to a group. Precedence: `NOT` binds tightest, then `AND`,
//!   then `OR`. **Adjacent terms without an operator are joined with `AND`** (`a b` is
//!   `a AND b`), which is what Auth0's log search does.
//! - `_exists_:field` matches records where the field has a value.
//!
//! Limits keep parsing cheap and bounded: at most [`MAX_QUERY_LEN`] bytes and [`MAX_DEPTH`]
//! levels of parentheses and `NOT`.
//!
//! This module never does IO, never panics on any input, and never decides what a field means:
//! which fields exist and how they are matched is the store's business
//! (`custos_store::search`).

use std::fmt;

use thiserror::Error;

/// The longest query accepted, in bytes.
pub const MAX_QUERY_LEN: usize = 2048;

/// The deepest nesting accepted, counting parentheses and `NOT`s.
pub const MAX_DEPTH: usize = 32;

/// The pseudo-field of `_exists_:field`.
pub const EXISTS_FIELD: &str = "_exists_";

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// A value matched against one field, or against the default fields when `field` is `None`.
    Term {
        field: Option<String>,
        value: Value,
    },
    /// All of the queries match. The parser produces at least two.
    And(Vec<Query>),
    /// Any of the queries matches. The parser produces at least two.
    Or(Vec<Query>),
    Not(Box<Query>),
    /// The field has a value (`_exists_:field`).
    Exists(String),
}

/// What a term matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// The whole value equals the string.
    Exact(String),
    /// The value starts with the string; an empty prefix matches any value.
    Prefix(String),
    Range {
        lower: Bound,
        upper: Bound,
    },
}

/// One end of a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    Unbounded,
    Inclusive(String),
    Exclusive(String),
}

/// Why a query string was refused, and the byte offset where the problem is. The message is
/// meant for API callers: it names the problem in terms of the query they wrote.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message} at position {position}")]
pub struct ParseError {
    pub message: String,
    pub position: usize,
}

impl ParseError {
    fn new(message: impl Into<String>, position: usize) -> Self {
        Self {
            message: message.into(),
            position,
        }
    }
}

/// Parses a query string. Empty and whitespace-only queries are errors: a caller that means
/// "everything" should not pass a query at all.
pub fn parse(input: &str) -> Result<Query, ParseError> {
    if input.len() > MAX_QUERY_LEN {
        return Err(ParseError::new(
            format!("query too long (more than {MAX_QUERY_LEN} bytes)"),
            MAX_QUERY_LEN,
        ));
    }
    let mut p = Parser {
        src: input,
        pos: 0,
        depth: 0,
    };
    p.skip_ws();
    if p.peek().is_none() {
        return Err(ParseError::new("empty query", 0));
    }
    let query = p.parse_or(None)?;
    p.skip_ws();
    match p.peek() {
        None => Ok(query),
        // `parse_or` stops only at the end or at a `)`, so this is an unbalanced `)`.
        Some(c) => Err(p.unexpected(c)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keyword {
    And,
    Or,
    Not,
}

impl Keyword {
    fn text(self) -> &'static str {
        match self {
            Keyword::And => "AND",
            Keyword::Or => "OR",
            Keyword::Not => "NOT",
        }
    }
}

fn is_field_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// Ends a word: what separates terms and operators.
fn is_word_end(c: char) -> bool {
    c.is_whitespace() || c == '(' || c == ')'
}

/// A character as an error message shows it: invisible ones escaped so the message is readable.
fn describe(c: char) -> String {
    if c.is_whitespace() || c.is_control() {
        format!("'{}'", c.escape_debug())
    } else {
        format!("'{c}'")
    }
}

/// A recursive-descent parser over the input; `pos` is a byte offset, always on a character
/// boundary because it only ever advances by whole characters or ASCII keywords.
struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn unexpected(&self, c: char) -> ParseError {
        ParseError::new(format!("unexpected {}", describe(c)), self.pos)
    }

    /// Whether a term may end here: a value glued to a following character (`"a"b`, `a*b`) is
    /// refused rather than guessed at.
    fn at_term_end(&self) -> bool {
        self.peek().is_none_or(|c| c.is_whitespace() || c == ')')
    }

    /// The operator at the cursor, if the whole word is one. `ANDROID`, `\AND` and `"AND"` are
    /// terms, not operators.
    fn keyword(&self) -> Option<Keyword> {
        match self.rest().split(is_word_end).next() {
            Some("AND") => Some(Keyword::And),
            Some("OR") => Some(Keyword::Or),
            Some("NOT") => Some(Keyword::Not),
            _ => None,
        }
    }

    /// Counts one level of nesting; the limit bounds recursion, so hostile input cannot
    /// overflow the stack here or in whatever walks the tree later.
    fn enter(&mut self, at: usize) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::new(
                format!("query nested too deeply (more than {MAX_DEPTH} levels)"),
                at,
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// After an operator, checks that a term follows, so the error names the operator.
    fn operand_follows(&mut self, op: &str) -> Result<(), ParseError> {
        self.skip_ws();
        match self.peek() {
            None | Some(')') => Err(ParseError::new(
                format!("missing term after '{op}'"),
                self.pos,
            )),
            Some(_) => Ok(()),
        }
    }

    fn close_group(&mut self, open: usize) -> Result<(), ParseError> {
        self.skip_ws();
        match self.peek() {
            Some(')') => {
                self.bump();
                Ok(())
            }
            _ => Err(ParseError::new("unclosed '('", open)),
        }
    }

    /// `or := and ("OR" and)*`. `field` is set inside `field:( … )`.
    fn parse_or(&mut self, field: Option<&'a str>) -> Result<Query, ParseError> {
        let mut items = vec![self.parse_and(field)?];
        loop {
            self.skip_ws();
            if self.keyword() != Some(Keyword::Or) {
                break;
            }
            self.pos += 2;
            self.operand_follows("OR")?;
            items.push(self.parse_and(field)?);
        }
        Ok(combine(items, Query::Or))
    }

    /// `and := unary (("AND")? unary)*`: a missing operator means `AND`.
    fn parse_and(&mut self, field: Option<&'a str>) -> Result<Query, ParseError> {
        let mut items = vec![self.parse_unary(field)?];
        loop {
            self.skip_ws();
            if matches!(self.peek(), None | Some(')')) {
                break;
            }
            match self.keyword() {
                Some(Keyword::Or) => break,
                Some(Keyword::And) => {
                    self.pos += 3;
                    self.operand_follows("AND")?;
                }
                Some(Keyword::Not) | None => {}
            }
            items.push(self.parse_unary(field)?);
        }
        Ok(combine(items, Query::And))
    }

    /// `unary := "NOT" unary | "-" unary | "(" or ")" | term`.
    fn parse_unary(&mut self, field: Option<&'a str>) -> Result<Query, ParseError> {
        self.skip_ws();
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Err(ParseError::new("unexpected end of query", start));
        };
        match self.keyword() {
            Some(Keyword::Not) => {
                self.pos += 3;
                self.enter(start)?;
                self.operand_follows("NOT")?;
                let inner = self.parse_unary(field)?;
                self.leave();
                return Ok(Query::Not(Box::new(inner)));
            }
            Some(k) => return Err(ParseError::new(format!("unexpected '{}'", k.text()), start)),
            None => {}
        }
        match c {
            ')' => Err(self.unexpected(c)),
            '-' => {
                self.bump();
                if self.at_term_end() {
                    return Err(ParseError::new(
                        "'-' must be directly followed by a term",
                        start,
                    ));
                }
                self.enter(start)?;
                let inner = self.parse_unary(field)?;
                self.leave();
                Ok(Query::Not(Box::new(inner)))
            }
            // Lucene's "required" marker would be a no-op under an implicit AND but not next to
            // an OR; refusing it avoids pretending to support Lucene's scoring semantics.
            '+' => Err(ParseError::new(
                "'+' is not supported (terms are joined with AND by default)",
                start,
            )),
            '(' => {
                self.bump();
                self.enter(start)?;
                let inner = self.parse_or(field)?;
                self.close_group(start)?;
                self.leave();
                Ok(inner)
            }
            _ => self.parse_term(field),
        }
    }

    /// `term := [field ":"] value | "_exists_:" field`.
    fn parse_term(&mut self, group_field: Option<&'a str>) -> Result<Query, ParseError> {
        let start = self.pos;
        let rest = self.rest();
        let name_len = rest.find(|c| !is_field_char(c)).unwrap_or(rest.len());
        let (name, after) = rest.split_at(name_len);
        if !name.is_empty() && after.starts_with(':') {
            if let Some(outer) = group_field {
                return Err(ParseError::new(
                    format!("field '{name}' inside a group for field '{outer}'"),
                    start,
                ));
            }
            self.pos += name_len + 1;
            if name == EXISTS_FIELD {
                return self.parse_exists();
            }
            return self.parse_field_value(name);
        }
        let value = self.parse_value(false)?;
        Ok(Query::Term {
            field: group_field.map(str::to_owned),
            value,
        })
    }

    fn parse_exists(&mut self) -> Result<Query, ParseError> {
        let at = self.pos;
        let rest = self.rest();
        let len = rest.find(|c| !is_field_char(c)).unwrap_or(rest.len());
        let (name, _) = rest.split_at(len);
        self.pos += len;
        if name.is_empty() || !self.at_term_end() {
            return Err(ParseError::new(
                format!("expected a field name after '{EXISTS_FIELD}:'"),
                at,
            ));
        }
        Ok(Query::Exists(name.to_owned()))
    }

    fn parse_field_value(&mut self, field: &'a str) -> Result<Query, ParseError> {
        let at = self.pos;
        match self.peek() {
            None => Err(missing_value(field, at)),
            Some(c) if c.is_whitespace() || c == ')' => Err(missing_value(field, at)),
            Some('(') => {
                self.bump();
                self.enter(at)?;
                let inner = self.parse_or(Some(field))?;
                self.close_group(at)?;
                self.leave();
                Ok(inner)
            }
            Some(_) => {
                let value = self.parse_value(true)?;
                Ok(Query::Term {
                    field: Some(field.to_owned()),
                    value,
                })
            }
        }
    }

    /// A quoted phrase, a range, or an unquoted value. `after_field` allows `:` in unquoted
    /// values; without a field, a `:` can only have been meant as a (malformed) field separator.
    fn parse_value(&mut self, after_field: bool) -> Result<Value, ParseError> {
        let value = match self.peek() {
            Some('"') => Value::Exact(self.read_quoted()?),
            Some('[' | '{') => self.read_range()?,
            _ => match self.read_bare(after_field, false)? {
                (text, Some(_)) => Value::Prefix(text),
                (text, None) => Value::Exact(text),
            },
        };
        match self.peek() {
            Some(c) if !self.at_term_end() => Err(self.unexpected(c)),
            _ => Ok(value),
        }
    }

    /// Reads a double-quoted string, the cursor on the opening quote.
    fn read_quoted(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump() {
                Some('"') => return Ok(out),
                Some('\\') => match self.bump() {
                    Some(c) => out.push(c),
                    None => break,
                },
                Some(c) => out.push(c),
                None => break,
            }
        }
        Err(ParseError::new(
            "unterminated quoted string starting",
            start,
        ))
    }

    /// Reads an unquoted value up to the end of the word (or of a range bound). Returns the
    /// unescaped text and, if it ended in a wildcard `*`, the position of that `*`.
    fn read_bare(
        &mut self,
        allow_colon: bool,
        in_range: bool,
    ) -> Result<(String, Option<usize>), ParseError> {
        let ends = |c: char| is_word_end(c) || (in_range && (c == ']' || c == '}'));
        let mut out = String::new();
        loop {
            let at = self.pos;
            let Some(c) = self.peek() else { break };
            if ends(c) {
                break;
            }
            self.bump();
            match c {
                '\\' => match self.bump() {
                    Some(escaped) => out.push(escaped),
                    None => {
                        return Err(ParseError::new("dangling '\\' at the end of the query", at))
                    }
                },
                '*' => {
                    if self.peek().is_none_or(ends) {
                        return Ok((out, Some(at)));
                    }
                    return Err(ParseError::new(
                        "wildcard '*' is only supported at the end of a value",
                        at,
                    ));
                }
                '?' => return Err(ParseError::new("wildcard '?' is not supported", at)),
                ':' if !allow_colon => return Err(ParseError::new(
                    "unexpected ':' (field names may contain only letters, digits, '_' and '.'; \
                         escape a literal ':' with a backslash)",
                    at,
                )),
                '"' | '[' | ']' | '{' | '}' => {
                    return Err(ParseError::new(
                        format!("unexpected '{c}' (escape it with a backslash or quote the value)"),
                        at,
                    ))
                }
                '^' | '~' => {
                    return Err(ParseError::new(
                        format!("'{c}' (boosting and fuzzy search) is not supported"),
                        at,
                    ))
                }
                _ => out.push(c),
            }
        }
        Ok((out, None))
    }

    /// Reads `[lower TO upper]`, the cursor on the opening bracket.
    fn read_range(&mut self) -> Result<Value, ParseError> {
        let start = self.pos;
        let lower_inclusive = self.bump() == Some('[');
        self.skip_ws();
        let lower = self.read_bound(start)?;
        self.skip_ws();
        let rest = self.rest();
        match rest.strip_prefix("TO").map(|r| r.chars().next()) {
            Some(Some(c)) if c.is_whitespace() || matches!(c, ']' | '}' | '"') => self.pos += 2,
            Some(None) => return Err(ParseError::new("unterminated range starting", start)),
            _ if rest.is_empty() => {
                return Err(ParseError::new("unterminated range starting", start))
            }
            _ => return Err(ParseError::new("expected 'TO' in range", self.pos)),
        }
        self.skip_ws();
        let upper = self.read_bound(start)?;
        self.skip_ws();
        let upper_inclusive = match self.peek() {
            Some(']') => true,
            Some('}') => false,
            None => return Err(ParseError::new("unterminated range starting", start)),
            Some(_) => {
                return Err(ParseError::new(
                    "expected ']' or '}' to close the range",
                    self.pos,
                ))
            }
        };
        self.bump();
        let bound = |text: Option<String>, inclusive: bool| match text {
            None => Bound::Unbounded,
            Some(t) if inclusive => Bound::Inclusive(t),
            Some(t) => Bound::Exclusive(t),
        };
        Ok(Value::Range {
            lower: bound(lower, lower_inclusive),
            upper: bound(upper, upper_inclusive),
        })
    }

    /// One bound of a range: `None` for `*`.
    fn read_bound(&mut self, range_start: usize) -> Result<Option<String>, ParseError> {
        let at = self.pos;
        match self.peek() {
            None => Err(ParseError::new("unterminated range starting", range_start)),
            Some('"') => Ok(Some(self.read_quoted()?)),
            Some(']' | '}') => Err(ParseError::new("missing range bound", at)),
            Some(c) => match self.read_bare(true, true)? {
                (text, None) if text.is_empty() => Err(ParseError::new(
                    format!("unexpected {} in range", describe(c)),
                    at,
                )),
                (text, None) => Ok(Some(text)),
                (text, Some(_)) if text.is_empty() => Ok(None),
                (_, Some(star)) => Err(ParseError::new(
                    "wildcards are not supported in range bounds",
                    star,
                )),
            },
        }
    }
}

fn missing_value(field: &str, at: usize) -> ParseError {
    ParseError::new(format!("missing value after '{field}:'"), at)
}

/// One item stands for itself; `a AND` alone is not a conjunction.
fn combine(mut items: Vec<Query>, make: fn(Vec<Query>) -> Query) -> Query {
    if items.len() == 1 {
        if let Some(only) = items.pop() {
            return only;
        }
    }
    make(items)
}

/// Prints the query in a canonical form that [`parse`] reads back as the same tree: every
/// nested `AND`/`OR` in parentheses, exact values and range bounds quoted, prefixes escaped.
/// (An `And`/`Or` with no items prints as `()`, which does not parse; the parser never makes
/// one.)
impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Query::Term { field, value } => {
                if let Some(field) = field {
                    write!(f, "{field}:")?;
                }
                write!(f, "{value}")
            }
            Query::And(items) => write_joined(f, items, " AND "),
            Query::Or(items) => write_joined(f, items, " OR "),
            Query::Not(inner) => {
                f.write_str("NOT ")?;
                write_operand(f, inner)
            }
            Query::Exists(field) => write!(f, "{EXISTS_FIELD}:{field}"),
        }
    }
}

fn write_joined(f: &mut fmt::Formatter<'_>, items: &[Query], op: &str) -> fmt::Result {
    if items.is_empty() {
        return f.write_str("()");
    }
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(op)?;
        }
        write_operand(f, item)?;
    }
    Ok(())
}

/// Parentheses around compound operands: they never add a node when parsed, so printing them
/// generously keeps the tree's shape without tracking precedence.
fn write_operand(f: &mut fmt::Formatter<'_>, q: &Query) -> fmt::Result {
    match q {
        Query::And(_) | Query::Or(_) => write!(f, "({q})"),
        _ => write!(f, "{q}"),
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Exact(text) => write_quoted(f, text),
            Value::Prefix(text) => {
                // A prefix cannot be quoted (a quoted `*` is literal), so every character that
                // could mean something unquoted is escaped.
                for c in text.chars() {
                    if !(c.is_alphanumeric() || matches!(c, '_' | '.' | '@' | '|')) {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("*")
            }
            Value::Range { lower, upper } => {
                match lower {
                    Bound::Unbounded => f.write_str("[*")?,
                    Bound::Inclusive(t) => {
                        f.write_str("[")?;
                        write_quoted(f, t)?;
                    }
                    Bound::Exclusive(t) => {
                        f.write_str("{")?;
                        write_quoted(f, t)?;
                    }
                }
                f.write_str(" TO ")?;
                match upper {
                    Bound::Unbounded => f.write_str("*]"),
                    Bound::Inclusive(t) => {
                        write_quoted(f, t)?;
                        f.write_str("]")
                    }
                    Bound::Exclusive(t) => {
                        write_quoted(f, t)?;
                        f.write_str("}")
                    }
                }
            }
        }
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in text.chars() {
        if c == '"' || c == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("\"")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn term(field: &str, value: Value) -> Query {
        Query::Term {
            field: Some(field.to_owned()),
            value,
        }
    }

    fn bare(value: Value) -> Query {
        Query::Term { field: None, value }
    }

    fn exact(s: &str) -> Value {
        Value::Exact(s.to_owned())
    }

    fn prefix(s: &str) -> Value {
        Value::Prefix(s.to_owned())
    }

    fn range(lower: Bound, upper: Bound) -> Value {
        Value::Range { lower, upper }
    }

    fn inc(s: &str) -> Bound {
        Bound::Inclusive(s.to_owned())
    }

    fn exc(s: &str) -> Bound {
        Bound::Exclusive(s.to_owned())
    }

    fn not(q: Query) -> Query {
        Query::Not(Box::new(q))
    }

    /// `Ok(tree)` or `Err(displayed error)`.
    fn check(input: &str, expected: Result<Query, &str>) {
        let got = parse(input).map_err(|e| e.to_string());
        assert_eq!(got, expected.map_err(str::to_owned), "{input:?}");
    }

    #[test]
    fn terms_and_values() {
        check("type:f", Ok(term("type", exact("f"))));
        check("type:f*", Ok(term("type", prefix("f"))));
        check("user_name:jo*", Ok(term("user_name", prefix("jo"))));
        check("type:*", Ok(term("type", prefix(""))));
        check("*", Ok(bare(prefix(""))));
        check("jane", Ok(bare(exact("jane"))));
        check("  jane\t", Ok(bare(exact("jane"))));
        check("\"customer log\"", Ok(bare(exact("customer log"))));
        check("description:\"a b\"", Ok(term("description", exact("a b"))));
        check("type:\"jo*\"", Ok(term("type", exact("jo*"))));
        check(
            r#"user_id:"a\"b\\c""#,
            Ok(term("user_id", exact("a\"b\\c"))),
        );
        check("user_id:auth0|123", Ok(term("user_id", exact("auth0|123"))));
        check(
            r"user_id:auth0\|123",
            Ok(term("user_id", exact("auth0|123"))),
        );
        check(
            "user_id:\"google-oauth2|1\"",
            Ok(term("user_id", exact("google-oauth2|1"))),
        );
        check(
            "date:2026-03-01T10:00:00Z",
            Ok(term("date", exact("2026-03-01T10:00:00Z"))),
        );
        check("a:b:c", Ok(term("a", exact("b:c"))));
        check("email:a+b@x.org", Ok(term("email", exact("a+b@x.org"))));
        check(
            "app_metadata.plan:gold",
            Ok(term("app_metadata.plan", exact("gold"))),
        );
        check(r"a\ b\*\?\:", Ok(bare(exact("a b*?:"))));
        check(r"name:jo\*", Ok(term("name", exact("jo*"))));
        check(r"ab\(c*", Ok(bare(prefix("ab(c"))));
        check("name:José", Ok(term("name", exact("José"))));
        check("名前", Ok(bare(exact("名前"))));
        check("2018-12-18", Ok(bare(exact("2018-12-18"))));
        check("type:-x", Ok(term("type", exact("-x"))));
        check("a-b", Ok(bare(exact("a-b"))));
        check("ANDROID", Ok(bare(exact("ANDROID"))));
        check(r"\AND", Ok(bare(exact("AND"))));
        check("\"OR\"", Ok(bare(exact("OR"))));
        check("type:NOT", Ok(term("type", exact("NOT"))));
        check("AND:x", Ok(term("AND", exact("x"))));
        check("x:\"\"", Ok(term("x", exact(""))));
        check("_exists_:user_id", Ok(Query::Exists("user_id".into())));
    }

    #[test]
    fn ranges() {
        check(
            "date:[2018-12-18 TO *]",
            Ok(term("date", range(inc("2018-12-18"), Bound::Unbounded))),
        );
        check("date:{a TO b]", Ok(term("date", range(exc("a"), inc("b")))));
        check("date:[a TO b}", Ok(term("date", range(inc("a"), exc("b")))));
        check(
            "date:{* TO *}",
            Ok(term("date", range(Bound::Unbounded, Bound::Unbounded))),
        );
        check(
            "d:[ \"a b\" TO \"*\" ]",
            Ok(term("d", range(inc("a b"), inc("*")))),
        );
        check("d:[a TO\"b\"]", Ok(term("d", range(inc("a"), inc("b")))));
        check("d:[TO TO TO]", Ok(term("d", range(inc("TO"), inc("TO")))));
        check(
            "date:[2026-03-01T10:00:00Z TO 2026-03-01T11:00:00.5Z}",
            Ok(term(
                "date",
                range(inc("2026-03-01T10:00:00Z"), exc("2026-03-01T11:00:00.5Z")),
            )),
        );
        check(r"d:[a\]b TO c]", Ok(term("d", range(inc("a]b"), inc("c")))));
        check("[a TO b]", Ok(bare(range(inc("a"), inc("b")))));
    }

    #[test]
    fn operators() {
        let (a, b, c) = (bare(exact("a")), bare(exact("b")), bare(exact("c")));
        let and = |v: &[&Query]| Query::And(v.iter().map(|q| (*q).clone()).collect());
        let or = |v: &[&Query]| Query::Or(v.iter().map(|q| (*q).clone()).collect());
        check("a b", Ok(and(&[&a, &b])));
        check("a AND b AND c", Ok(and(&[&a, &b, &c])));
        check("a AND b OR c", Ok(or(&[&and(&[&a, &b]), &c])));
        check("a OR b AND c", Ok(or(&[&a, &and(&[&b, &c])])));
        check("a OR b c", Ok(or(&[&a, &and(&[&b, &c])])));
        check("(a OR b) c", Ok(and(&[&or(&[&a, &b]), &c])));
        check("(a AND b) AND c", Ok(and(&[&and(&[&a, &b]), &c])));
        check("((a))", Ok(a.clone()));
        check("(a)(b)", Ok(and(&[&a, &b])));
        check("NOT a", Ok(not(a.clone())));
        check("NOT NOT a", Ok(not(not(a.clone()))));
        check("NOT(a OR b)", Ok(not(or(&[&a, &b]))));
        check("-a", Ok(not(a.clone())));
        check("a -b", Ok(and(&[&a, &not(b.clone())])));
        check("a NOT b", Ok(and(&[&a, &not(b.clone())])));
        check("NOT a b", Ok(and(&[&not(a.clone()), &b])));
        check("a AND NOT b", Ok(and(&[&a, &not(b.clone())])));
        check("-(a b)", Ok(not(and(&[&a, &b]))));
        check(
            "type:(s OR f*)",
            Ok(or(&[&term("type", exact("s")), &term("type", prefix("f"))])),
        );
        check(
            "user_id:x AND (type:s OR type:f*)",
            Ok(and(&[
                &term("user_id", exact("x")),
                &or(&[&term("type", exact("s")), &term("type", prefix("f"))]),
            ])),
        );
        check(
            "NOT _exists_:ip a",
            Ok(and(&[&not(Query::Exists("ip".into())), &a])),
        );
        let nested = format!("{}a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        check(&nested, Ok(a.clone()));
        check(
            &"a ".repeat(MAX_QUERY_LEN / 2),
            Ok(Query::And(vec![a.clone(); MAX_QUERY_LEN / 2])),
        );
    }

    #[test]
    fn refusals() {
        check("", Err("empty query at position 0"));
        check(" \n ", Err("empty query at position 0"));
        check("a)", Err("unexpected ')' at position 1"));
        check("(a OR b))", Err("unexpected ')' at position 8"));
        check("(a", Err("unclosed '(' at position 0"));
        check("x (a (b)", Err("unclosed '(' at position 2"));
        check("()", Err("unexpected ')' at position 1"));
        check("type:", Err("missing value after 'type:' at position 5"));
        check("type: f", Err("missing value after 'type:' at position 5"));
        check("(type:)", Err("missing value after 'type:' at position 6"));
        check(
            "user_id:\"abc",
            Err("unterminated quoted string starting at position 8"),
        );
        check(
            "x:\"abc\\",
            Err("unterminated quoted string starting at position 2"),
        );
        check("AND a", Err("unexpected 'AND' at position 0"));
        check("a AND", Err("missing term after 'AND' at position 5"));
        check("a OR ", Err("missing term after 'OR' at position 5"));
        check("(a OR)", Err("missing term after 'OR' at position 5"));
        check("NOT", Err("missing term after 'NOT' at position 3"));
        check("a OR OR b", Err("unexpected 'OR' at position 5"));
        check("a AND OR b", Err("unexpected 'OR' at position 6"));
        check(
            "- a",
            Err("'-' must be directly followed by a term at position 0"),
        );
        check(
            "+a",
            Err("'+' is not supported (terms are joined with AND by default) at position 0"),
        );
        check(
            "type:*f",
            Err("wildcard '*' is only supported at the end of a value at position 5"),
        );
        check(
            "type:f*o",
            Err("wildcard '*' is only supported at the end of a value at position 6"),
        );
        check(
            "type:f?",
            Err("wildcard '?' is not supported at position 6"),
        );
        check(
            "name:jo~",
            Err("'~' (boosting and fuzzy search) is not supported at position 7"),
        );
        check(
            "a^2",
            Err("'^' (boosting and fuzzy search) is not supported at position 1"),
        );
        check(
            "foo-bar:baz",
            Err(
                "unexpected ':' (field names may contain only letters, digits, '_' and '.'; \
                 escape a literal ':' with a backslash) at position 7",
            ),
        );
        check(
            ":x",
            Err(
                "unexpected ':' (field names may contain only letters, digits, '_' and '.'; \
                 escape a literal ':' with a backslash) at position 0",
            ),
        );
        check(
            "a\"b\"",
            Err("unexpected '\"' (escape it with a backslash or quote the value) at position 1"),
        );
        check(
            "x:a]",
            Err("unexpected ']' (escape it with a backslash or quote the value) at position 3"),
        );
        check("\"a\"b", Err("unexpected 'b' at position 3"));
        check("x:\"a\"*", Err("unexpected '*' at position 5"));
        check("a(b)", Err("unexpected '(' at position 1"));
        check(
            "x:a\\",
            Err("dangling '\\' at the end of the query at position 3"),
        );
        check("date:[a b]", Err("expected 'TO' in range at position 8"));
        check("date:[a TOb]", Err("expected 'TO' in range at position 8"));
        check("date:[a TO]", Err("missing range bound at position 10"));
        check("date:[ TO a]", Err("expected 'TO' in range at position 10"));
        check("date:[]", Err("missing range bound at position 6"));
        check(
            "date:[a TO b",
            Err("unterminated range starting at position 5"),
        );
        check(
            "date:[a TO b c]",
            Err("expected ']' or '}' to close the range at position 13"),
        );
        check(
            "date:[a TO ",
            Err("unterminated range starting at position 5"),
        );
        check("date:[a", Err("unterminated range starting at position 5"));
        check(
            "date:[a TO",
            Err("unterminated range starting at position 5"),
        );
        check(
            "date:[a* TO b]",
            Err("wildcards are not supported in range bounds at position 7"),
        );
        check(
            "date:[(a TO b]",
            Err("unexpected '(' in range at position 6"),
        );
        check("date:[a TO b]c", Err("unexpected 'c' at position 13"));
        check(
            "type:(a OR user:b)",
            Err("field 'user' inside a group for field 'type' at position 11"),
        );
        check(
            "_exists_:",
            Err("expected a field name after '_exists_:' at position 9"),
        );
        check(
            "_exists_:a-b",
            Err("expected a field name after '_exists_:' at position 9"),
        );
        check(
            &"a".repeat(MAX_QUERY_LEN + 1),
            Err("query too long (more than 2048 bytes) at position 2048"),
        );
        check(
            &format!(
                "{}a{}",
                "(".repeat(MAX_DEPTH + 1),
                ")".repeat(MAX_DEPTH + 1)
            ),
            Err("query nested too deeply (more than 32 levels) at position 32"),
        );
        check(
            &format!("{}a", "NOT ".repeat(MAX_DEPTH + 1)),
            Err("query nested too deeply (more than 32 levels) at position 128"),
        );
        check(
            &format!("{}a", "-".repeat(MAX_DEPTH + 1)),
            Err("query nested too deeply (more than 32 levels) at position 32"),
        );
    }

    #[test]
    fn display_is_canonical() {
        let q = parse("user_id:auth0|1 (type:f* OR NOT date:{2026-01-01 TO *]) _exists_:ip");
        assert_eq!(
            q.map(|q| q.to_string()),
            Ok("user_id:\"auth0|1\" AND (type:f* OR NOT date:{\"2026-01-01\" TO *]) AND _exists_:ip"
                .to_owned())
        );
        assert_eq!(bare(prefix("a b-c:")).to_string(), r"a\ b\-c\:*");
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9]{0,6}",
            // Everything the syntax treats specially, plus unicode and whitespace.
            proptest::collection::vec(
                prop_oneof![
                    proptest::sample::select(vec![
                        '"', '\\', '*', '?', ':', '(', ')', '[', ']', '{', '}', '-', '+', '|', '^',
                        '~', ' ', '\t', '\n', '\u{a0}', '\u{3000}', 'é', '名', '\0'
                    ]),
                    any::<char>(),
                ],
                0..6
            )
            .prop_map(String::from_iter),
            proptest::sample::select(vec!["AND", "OR", "NOT", "TO", "*", "_exists_", "-a"])
                .prop_map(str::to_owned),
        ]
    }

    fn bound() -> impl Strategy<Value = Bound> {
        prop_oneof![
            Just(Bound::Unbounded),
            text().prop_map(Bound::Inclusive),
            text().prop_map(Bound::Exclusive),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            text().prop_map(Value::Exact),
            text().prop_map(Value::Prefix),
            (bound(), bound()).prop_map(|(lower, upper)| Value::Range { lower, upper }),
        ]
    }

    fn field_name() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9_.]{0,6}|AND|OR|NOT|TO"
    }

    fn query() -> impl Strategy<Value = Query> {
        let leaf = prop_oneof![
            4 => (proptest::option::of(field_name()), value())
                .prop_map(|(field, value)| Query::Term { field, value }),
            1 => field_name().prop_map(Query::Exists),
        ];
        leaf.prop_recursive(5, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 2..5).prop_map(Query::And),
                proptest::collection::vec(inner.clone(), 2..5).prop_map(Query::Or),
                inner.prop_map(|q| Query::Not(Box::new(q))),
            ]
        })
    }

    /// Fragments that make near-valid queries, which reach deeper into the parser than random
    /// text does.
    fn fragments() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            (
                proptest::sample::select(vec![
                    "AND",
                    "OR",
                    "NOT",
                    "(",
                    ")",
                    "a:b",
                    "x:",
                    "\"q",
                    "\"",
                    "[",
                    "{",
                    "]",
                    "}",
                    "TO",
                    "*",
                    "-",
                    "+",
                    "_exists_:",
                    "é",
                    "\\",
                    "date:[",
                    "a*",
                    ":",
                    "|",
                ]),
                proptest::sample::select(vec!["", " "]),
            ),
            0..24,
        )
        .prop_map(|parts| {
            parts
                .into_iter()
                .map(|(p, sep)| format!("{p}{sep}"))
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn parse_never_panics(s in prop_oneof![any::<String>(), "\\PC{0,64}", fragments()]) {
            if let Err(e) = parse(&s) {
                if s.len() <= MAX_QUERY_LEN {
                    prop_assert!(s.is_char_boundary(e.position), "{e}");
                }
            }
        }

        #[test]
        fn printed_queries_parse_back(q in query()) {
            let printed = q.to_string();
            prop_assume!(printed.len() <= MAX_QUERY_LEN);
            prop_assert_eq!(parse(&printed), Ok(q), "{}", printed);
        }
    }
}
