//! Translation of a search query (Auth0's Lucene subset, parsed by
//! [`custos_domain::lucene`]) into a portable SQL condition for a `WHERE` clause, for
//! `GET /api/v2/logs?q=` and `GET /api/v2/users?q=`.
//!
//! The caller describes what may be searched with a table of [`Field`]s (query name, column,
//! kind) and names the fields a value without a field name searches. The result is SQL text with
//! `$n` placeholders and the [`Bind`] values that fill them, written once for SQLite and
//! PostgreSQL:
//!
//! - Equality and comparisons only, so indexes on the columns apply. Prefix matches (`type:f*`)
//!   become a half-open string range, never `LIKE`, whose case sensitivity differs between the
//!   engines. Text compares by code point on SQLite (`BINARY` collation); PostgreSQL compares
//!   the same way only under the `C` collation, so a PostgreSQL database for Custos should be
//!   created with `LC_COLLATE=C` (or the searched columns declared `COLLATE "C"`).
//! - `NOT` treats a missing value (SQL `NULL`) as "does not match", so `NOT user_id:x` finds
//!   the records without a user id too, as Lucene does.
//! - [`FieldKind::Millis`] columns take ISO 8601 dates in queries; a value stands for the whole
//!   period its precision names (see [`FieldKind::Millis`]).
//!
//! This module never writes a query value into SQL text: values are always bound, and the only
//! names written are the columns of the caller's static field table. Its error messages are for
//! API callers and never name a column or other internal detail.

use custos_domain::lucene::{self, Bound, ParseError, Query, Value};
use custos_domain::{parse_iso8601, Millis};

use crate::Dialect;
use thiserror::Error;

/// How a column is stored and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// `TEXT`, compared case-sensitively as strings.
    Text,
    /// `BIGINT` milliseconds since the Unix epoch. Query values are UTC dates (`2026-03-01`) or
    /// RFC 3339 date-times (`2026-03-01T10:00:00Z`, `2026-03-01T10:00:00.123Z`), and each stands
    /// for the period its precision names: a date is that whole day, a time to the second is that
    /// whole second. So `date:2026-03-01` matches the whole day, and the inclusive upper bound of
    /// `date:[2026-03-01 TO 2026-03-31]` includes all of 31 March; an exclusive lower bound
    /// (`{2026-03-01 TO *]`) starts after the whole day.
    Millis,
    /// A JSON document in a `TEXT` column, searched by path: a query names `field.key.key`
    /// (keys of letters, digits, `_` and `-`), and the value at that path compares as text
    /// (numbers and booleans by their JSON spelling: `app_metadata.active:true`). Needs the SQL
    /// dialect, so only [`to_sql_in`] accepts it.
    Json,
}

/// One searchable field: the name a query uses and the column it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub column: &'static str,
    pub kind: FieldKind,
}

/// A value for one `$n` placeholder, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    Text(String),
    Int(i64),
}

/// Why a search query was refused. Every variant but [`SearchError::Misconfigured`] is the API
/// caller's mistake (a 400); the messages are written for them.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SearchError {
    #[error("invalid query: {0}")]
    Syntax(#[from] ParseError),
    #[error("unknown field '{field}'; searchable fields are: {known}")]
    UnknownField { field: String, known: String },
    #[error(
        "a value without a field name is not supported here; use field:value \
         (searchable fields are: {known})"
    )]
    NoDefaultFields { known: String },
    #[error(
        "invalid date '{value}' for field '{field}'; expected YYYY-MM-DD or a UTC date-time \
         such as 2026-03-01T10:00:00Z"
    )]
    BadDate { field: String, value: String },
    #[error("{0}")]
    Unsupported(String),
    /// A default field that is not in the field table: a bug in the caller, not the API
    /// caller's mistake, so the message says nothing about it (log `default_field`).
    #[error("search is misconfigured")]
    Misconfigured { default_field: String },
}

/// Parses `input` and translates it with [`to_sql`].
pub fn parse_and_translate(
    input: &str,
    fields: &[Field],
    default_fields: &[&str],
    first_placeholder: usize,
) -> Result<(String, Vec<Bind>), SearchError> {
    let query = lucene::parse(input)?;
    to_sql(&query, fields, default_fields, first_placeholder)
}

/// Parses `input` and translates it with [`to_sql_in`], for field tables with
/// [`FieldKind::Json`] fields.
pub fn parse_and_translate_in(
    dialect: Dialect,
    input: &str,
    fields: &[Field],
    default_fields: &[&str],
    first_placeholder: usize,
) -> Result<(String, Vec<Bind>), SearchError> {
    let query = lucene::parse(input)?;
    translate(
        Some(dialect),
        &query,
        fields,
        default_fields,
        first_placeholder,
    )
}

/// Translates a query into an SQL condition and its binds, numbered from `$first_placeholder`
/// (1-based, so a caller with binds of its own passes the next number).
///
/// The condition is always a single comparison or fully parenthesised, so it can be joined to
/// other conditions with `AND` as it is. A term without a field searches `default_fields`
/// (names from `fields`) with `OR`; date fields among them are skipped for values that are not
/// dates, so a bare word does not fail on them.
pub fn to_sql(
    q: &Query,
    fields: &[Field],
    default_fields: &[&str],
    first_placeholder: usize,
) -> Result<(String, Vec<Bind>), SearchError> {
    translate(None, q, fields, default_fields, first_placeholder)
}

/// [`to_sql`] for `dialect`, which also translates [`FieldKind::Json`] fields.
pub fn to_sql_in(
    dialect: Dialect,
    q: &Query,
    fields: &[Field],
    default_fields: &[&str],
    first_placeholder: usize,
) -> Result<(String, Vec<Bind>), SearchError> {
    translate(Some(dialect), q, fields, default_fields, first_placeholder)
}

fn translate(
    dialect: Option<Dialect>,
    q: &Query,
    fields: &[Field],
    default_fields: &[&str],
    first_placeholder: usize,
) -> Result<(String, Vec<Bind>), SearchError> {
    let defaults = default_fields
        .iter()
        .map(|name| {
            fields
                .iter()
                .find(|f| f.name == *name)
                .ok_or_else(|| SearchError::Misconfigured {
                    default_field: (*name).to_owned(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut sql = Translator {
        dialect,
        fields,
        defaults,
        next: first_placeholder,
        binds: Vec::new(),
    };
    let text = sql.query(q)?;
    Ok((text, sql.binds))
}

struct Translator<'f> {
    dialect: Option<Dialect>,
    fields: &'f [Field],
    defaults: Vec<&'f Field>,
    next: usize,
    binds: Vec<Bind>,
}

const DAY: Millis = 86_400_000;

impl<'f> Translator<'f> {
    fn known(&self) -> String {
        self.fields
            .iter()
            .map(|f| f.name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn field(&self, name: &str) -> Result<&'f Field, SearchError> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| SearchError::UnknownField {
                field: name.to_owned(),
                known: self.known(),
            })
    }

    /// The column (or, for a JSON path, the expression) a field name reads, and how it compares.
    fn target(&mut self, name: &str) -> Result<(FieldKind, String, &'f str), SearchError> {
        if let Some((head, path)) = name.split_once('.') {
            let field = self.field(head)?;
            if field.kind != FieldKind::Json {
                return Err(SearchError::UnknownField {
                    field: name.to_owned(),
                    known: self.known(),
                });
            }
            let keys: Vec<&str> = path.split('.').collect();
            let valid = |k: &&str| {
                !k.is_empty()
                    && k.len() <= 64
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            };
            if keys.len() > 8 || !keys.iter().all(valid) {
                return Err(SearchError::Unsupported(format!(
                    "invalid path in field '{name}': keys are letters, digits, '_' and '-', \
                     at most 8 deep"
                )));
            }
            let col = field.column;
            let expr = match self.dialect {
                Some(Dialect::Sqlite) => {
                    let json_path = format!(
                        "${}",
                        keys.iter().map(|k| format!(".\"{k}\"")).collect::<String>()
                    );
                    let p = self.bind(Bind::Text(json_path));
                    format!(
                        "(CASE json_type({col}, {p}) WHEN 'true' THEN 'true' \
                         WHEN 'false' THEN 'false' WHEN 'object' THEN NULL WHEN 'array' THEN NULL \
                         ELSE CAST(json_extract({col}, {p}) AS TEXT) END)"
                    )
                }
                Some(Dialect::Postgres) => {
                    let args = keys
                        .iter()
                        .map(|k| self.bind(Bind::Text((*k).to_owned())))
                        .collect::<Vec<_>>()
                        .join(", ");
                    format!(
                        "(CASE WHEN jsonb_typeof(jsonb_extract_path(CAST({col} AS jsonb), {args})) \
                         IN ('object', 'array') THEN NULL \
                         ELSE jsonb_extract_path_text(CAST({col} AS jsonb), {args}) END)"
                    )
                }
                None => {
                    return Err(SearchError::Misconfigured {
                        default_field: field.name.to_owned(),
                    })
                }
            };
            return Ok((FieldKind::Text, expr, field.name));
        }
        let field = self.field(name)?;
        if field.kind == FieldKind::Json {
            return Err(SearchError::Unsupported(format!(
                "search a key of '{0}', such as {0}.plan:gold",
                field.name
            )));
        }
        Ok((field.kind, field.column.to_owned(), field.name))
    }

    fn bind(&mut self, value: Bind) -> String {
        let placeholder = format!("${}", self.next);
        self.next += 1;
        self.binds.push(value);
        placeholder
    }

    fn query(&mut self, q: &Query) -> Result<String, SearchError> {
        match q {
            Query::Term {
                field: Some(name),
                value,
            } => {
                let (kind, col, name) = self.target(name)?;
                self.term(kind, &col, name, value)
            }
            Query::Term { field: None, value } => self.default_term(value),
            // An empty conjunction is true and an empty disjunction false, as in logic; the
            // parser never makes either, but the type allows them.
            Query::And(items) => self.join(items, " AND ", "(1 = 1)"),
            Query::Or(items) => self.join(items, " OR ", "(1 = 0)"),
            Query::Not(inner) => {
                let inner = self.query(inner)?;
                // A comparison with NULL is NULL, and NOT NULL is NULL, which a WHERE drops:
                // counting "unknown" as "no match" first makes NOT include records lacking the
                // field.
                Ok(format!("(NOT COALESCE({inner}, FALSE))"))
            }
            Query::Exists(name) => {
                let (_, col, _) = self.target(name)?;
                Ok(format!("{col} IS NOT NULL"))
            }
        }
    }

    fn join(&mut self, items: &[Query], op: &str, empty: &str) -> Result<String, SearchError> {
        let parts = items
            .iter()
            .map(|q| self.query(q))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(match parts.len() {
            0 => empty.to_owned(),
            1 => parts.concat(),
            _ => format!("({})", parts.join(op)),
        })
    }

    fn default_term(&mut self, value: &Value) -> Result<String, SearchError> {
        if self.defaults.is_empty() {
            return Err(SearchError::NoDefaultFields {
                known: self.known(),
            });
        }
        let mut parts = Vec::new();
        let mut skipped = None;
        for field in self.defaults.clone() {
            match self.term(field.kind, field.column, field.name, value) {
                Ok(part) => parts.push(part),
                Err(e) if field.kind == FieldKind::Millis => {
                    skipped.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        match (parts.len(), skipped) {
            (0, Some(e)) => Err(e),
            (1, _) => Ok(parts.concat()),
            _ => Ok(format!("({})", parts.join(" OR "))),
        }
    }

    /// One field against one value. Every check happens before the first bind, so a refused
    /// default field leaves no stray bind behind.
    fn term(
        &mut self,
        kind: FieldKind,
        col: &str,
        name: &str,
        value: &Value,
    ) -> Result<String, SearchError> {
        match kind {
            FieldKind::Json => Err(SearchError::Misconfigured {
                default_field: name.to_owned(),
            }),
            FieldKind::Text => {
                check_text(value)?;
                Ok(match value {
                    Value::Exact(v) => format!("{col} = {}", self.bind(Bind::Text(v.clone()))),
                    Value::Prefix(p) if p.is_empty() => format!("{col} IS NOT NULL"),
                    Value::Prefix(p) => {
                        let low = self.bind(Bind::Text(p.clone()));
                        match successor(p) {
                            Some(high) => {
                                let high = self.bind(Bind::Text(high));
                                format!("({col} >= {low} AND {col} < {high})")
                            }
                            // Only a prefix made entirely of U+10FFFF has no successor.
                            None => format!("{col} >= {low}"),
                        }
                    }
                    Value::Range { lower, upper } => {
                        let lower = match lower {
                            Bound::Unbounded => None,
                            Bound::Inclusive(v) => Some((">=", v)),
                            Bound::Exclusive(v) => Some((">", v)),
                        };
                        let upper = match upper {
                            Bound::Unbounded => None,
                            Bound::Inclusive(v) => Some(("<=", v)),
                            Bound::Exclusive(v) => Some(("<", v)),
                        };
                        let parts = [lower, upper]
                            .into_iter()
                            .flatten()
                            .map(|(op, v)| {
                                format!("{col} {op} {}", self.bind(Bind::Text(v.clone())))
                            })
                            .collect::<Vec<_>>();
                        both(col, parts)
                    }
                })
            }
            FieldKind::Millis => {
                let span = |text: &str| {
                    instant_span(text).ok_or_else(|| SearchError::BadDate {
                        field: name.to_owned(),
                        value: text.to_owned(),
                    })
                };
                match value {
                    Value::Exact(v) => {
                        let (start, end) = span(v)?;
                        let start = self.bind(Bind::Int(start));
                        let end = self.bind(Bind::Int(end));
                        Ok(format!("({col} >= {start} AND {col} < {end})"))
                    }
                    Value::Prefix(p) if p.is_empty() => Ok(format!("{col} IS NOT NULL")),
                    Value::Prefix(_) => Err(SearchError::Unsupported(format!(
                        "prefix search is not supported on date field '{0}'; use a range such \
                         as {0}:[2026-03-01 TO 2026-03-31]",
                        name
                    ))),
                    Value::Range { lower, upper } => {
                        // Inclusive bounds take in the whole period a value names, exclusive
                        // ones leave it all out.
                        let lower = match lower {
                            Bound::Unbounded => None,
                            Bound::Inclusive(v) => Some(span(v)?.0),
                            Bound::Exclusive(v) => Some(span(v)?.1),
                        };
                        let upper = match upper {
                            Bound::Unbounded => None,
                            Bound::Inclusive(v) => Some(span(v)?.1),
                            Bound::Exclusive(v) => Some(span(v)?.0),
                        };
                        let mut parts = Vec::new();
                        if let Some(ms) = lower {
                            parts.push(format!("{col} >= {}", self.bind(Bind::Int(ms))));
                        }
                        if let Some(ms) = upper {
                            parts.push(format!("{col} < {}", self.bind(Bind::Int(ms))));
                        }
                        Ok(both(col, parts))
                    }
                }
            }
        }
    }
}

/// The conditions of a range's ends: both parenthesised, one alone, none "has a value".
fn both(col: &str, parts: Vec<String>) -> String {
    match parts.len() {
        0 => format!("{col} IS NOT NULL"),
        1 => parts.concat(),
        _ => format!("({})", parts.join(" AND ")),
    }
}

/// PostgreSQL cannot store or compare NUL in `TEXT`; refusing it here makes it a 400 on both
/// engines instead of a database error on one.
fn check_text(value: &Value) -> Result<(), SearchError> {
    let has_nul = |s: &str| s.contains('\0');
    let bound_nul = |b: &Bound| match b {
        Bound::Unbounded => false,
        Bound::Inclusive(s) | Bound::Exclusive(s) => has_nul(s),
    };
    let nul = match value {
        Value::Exact(s) | Value::Prefix(s) => has_nul(s),
        Value::Range { lower, upper } => bound_nul(lower) || bound_nul(upper),
    };
    if nul {
        return Err(SearchError::Unsupported(
            "search values must not contain NUL characters".to_owned(),
        ));
    }
    Ok(())
}

/// The smallest string greater than every string that starts with `prefix`: the prefix with its
/// last character incremented (dropping trailing U+10FFFF, which cannot be). UTF-8 byte order is
/// code point order, so this bounds the prefix both for SQLite's byte comparison and for
/// PostgreSQL's `C` collation.
fn successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // Surrogates are not characters, so the successor of U+D7FF is U+E000.
        let next = match u32::from(last) + 1 {
            0xD800 => Some('\u{E000}'),
            n => char::from_u32(n),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The half-open period `[start, end)` in milliseconds that a date or date-time names: a day
/// for `YYYY-MM-DD`, else one unit of the time's last digit (a second, or 100, 10 or 1 ms).
fn instant_span(text: &str) -> Option<(Millis, Millis)> {
    let bytes = text.as_bytes();
    let date_only = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    if date_only {
        // RFC 3339 parsing checks the calendar (no 2026-02-30).
        let start = parse_iso8601(&format!("{text}T00:00:00Z"))?;
        return Some((start, start.checked_add(DAY)?));
    }
    let start = parse_iso8601(text)?;
    let fraction_digits = text
        .split_once('.')
        .map_or(0, |(_, f)| f.bytes().take_while(u8::is_ascii_digit).count());
    let unit = match fraction_digits {
        0 => 1_000,
        1 => 100,
        2 => 10,
        _ => 1,
    };
    Some((start, start.checked_add(unit)?))
}

/// The audit log's searchable fields, as `GET /api/v2/logs?q=` names them (Auth0's list, less
/// the ones Custos does not record, plus `resource`), and the columns they search.
pub const LOG_FIELDS: &[Field] = &[
    Field {
        name: "type",
        column: "log_type",
        kind: FieldKind::Text,
    },
    Field {
        name: "date",
        column: "date",
        kind: FieldKind::Millis,
    },
    Field {
        name: "description",
        column: "description",
        kind: FieldKind::Text,
    },
    Field {
        name: "client_id",
        column: "client_id",
        kind: FieldKind::Text,
    },
    Field {
        name: "client_name",
        column: "client_name",
        kind: FieldKind::Text,
    },
    Field {
        name: "user_id",
        column: "user_id",
        kind: FieldKind::Text,
    },
    Field {
        name: "user_name",
        column: "user_name",
        kind: FieldKind::Text,
    },
    Field {
        name: "connection",
        column: "connection",
        kind: FieldKind::Text,
    },
    Field {
        name: "organization_id",
        column: "organization_id",
        kind: FieldKind::Text,
    },
    Field {
        name: "resource",
        column: "resource",
        kind: FieldKind::Text,
    },
    Field {
        name: "audience",
        column: "audience",
        kind: FieldKind::Text,
    },
    Field {
        name: "scope",
        column: "scope",
        kind: FieldKind::Text,
    },
    Field {
        name: "ip",
        column: "ip",
        kind: FieldKind::Text,
    },
    Field {
        name: "user_agent",
        column: "user_agent",
        kind: FieldKind::Text,
    },
];

/// Fields a bare term (no `field:`) searches, as Auth0 documents.
pub const LOG_DEFAULT_FIELDS: &[&str] = &[
    "client_name",
    "connection",
    "description",
    "ip",
    "type",
    "user_name",
];

/// The users' searchable fields, as `GET /api/v2/users?q=` names them (Auth0's user search,
/// for the fields Custos stores in columns), and the columns they search.
pub const USER_FIELDS: &[Field] = &[
    Field {
        name: "user_id",
        column: "user_id",
        kind: FieldKind::Text,
    },
    Field {
        name: "email",
        column: "email",
        kind: FieldKind::Text,
    },
    Field {
        name: "name",
        column: "name",
        kind: FieldKind::Text,
    },
    Field {
        name: "nickname",
        column: "nickname",
        kind: FieldKind::Text,
    },
    Field {
        name: "given_name",
        column: "given_name",
        kind: FieldKind::Text,
    },
    Field {
        name: "family_name",
        column: "family_name",
        kind: FieldKind::Text,
    },
    Field {
        name: "last_ip",
        column: "last_ip",
        kind: FieldKind::Text,
    },
    Field {
        name: "created_at",
        column: "created_at",
        kind: FieldKind::Millis,
    },
    Field {
        name: "updated_at",
        column: "updated_at",
        kind: FieldKind::Millis,
    },
    Field {
        name: "last_login",
        column: "last_login",
        kind: FieldKind::Millis,
    },
    Field {
        name: "app_metadata",
        column: "app_metadata",
        kind: FieldKind::Json,
    },
    Field {
        name: "user_metadata",
        column: "user_metadata",
        kind: FieldKind::Json,
    },
];

/// Fields a bare term searches in user search.
pub const USER_DEFAULT_FIELDS: &[&str] = &["email", "name", "nickname", "user_id"];

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[Field] = &[
        Field {
            name: "type",
            column: "log_type",
            kind: FieldKind::Text,
        },
        Field {
            name: "user_id",
            column: "user_id",
            kind: FieldKind::Text,
        },
        Field {
            name: "user_name",
            column: "user_name",
            kind: FieldKind::Text,
        },
        Field {
            name: "date",
            column: "date",
            kind: FieldKind::Millis,
        },
    ];
    const DEFAULTS: &[&str] = &["user_name", "user_id"];

    fn t(s: &str) -> Bind {
        Bind::Text(s.to_owned())
    }

    fn i(n: i64) -> Bind {
        Bind::Int(n)
    }

    // 2026-03-01T00:00:00Z and 2026-03-31T00:00:00Z.
    const MAR_1: i64 = 1_772_323_200_000;
    const MAR_31: i64 = MAR_1 + 30 * DAY;

    /// Translates with the test fields and defaults from `$1`; `Ok((sql, binds))` or
    /// `Err(displayed error)`.
    fn check(input: &str, expected: Result<(&str, Vec<Bind>), &str>) {
        check_with(input, DEFAULTS, expected);
    }

    fn check_with(input: &str, defaults: &[&str], expected: Result<(&str, Vec<Bind>), &str>) {
        let got = parse_and_translate(input, FIELDS, defaults, 1).map_err(|e| e.to_string());
        let expected = expected
            .map(|(sql, binds)| (sql.to_owned(), binds))
            .map_err(str::to_owned);
        assert_eq!(got, expected, "{input:?}");
    }

    #[test]
    fn text_fields() {
        check("type:f", Ok(("log_type = $1", vec![t("f")])));
        check(
            "type:f*",
            Ok(("(log_type >= $1 AND log_type < $2)", vec![t("f"), t("g")])),
        );
        check(
            "user_id:auth0|*",
            Ok((
                "(user_id >= $1 AND user_id < $2)",
                vec![t("auth0|"), t("auth0}")],
            )),
        );
        check("type:*", Ok(("log_type IS NOT NULL", vec![])));
        check(
            "type:a\u{D7FF}*",
            Ok((
                "(log_type >= $1 AND log_type < $2)",
                vec![t("a\u{D7FF}"), t("a\u{E000}")],
            )),
        );
        check(
            "type:a\u{10FFFF}\u{10FFFF}*",
            Ok((
                "(log_type >= $1 AND log_type < $2)",
                vec![t("a\u{10FFFF}\u{10FFFF}"), t("b")],
            )),
        );
        check(
            "type:\u{10FFFF}*",
            Ok(("log_type >= $1", vec![t("\u{10FFFF}")])),
        );
        check(
            "user_id:\"google-oauth2|1\"",
            Ok(("user_id = $1", vec![t("google-oauth2|1")])),
        );
        check(
            "type:[a TO c}",
            Ok(("(log_type >= $1 AND log_type < $2)", vec![t("a"), t("c")])),
        );
        check(
            "type:{a TO c]",
            Ok(("(log_type > $1 AND log_type <= $2)", vec![t("a"), t("c")])),
        );
        check("type:[a TO *]", Ok(("log_type >= $1", vec![t("a")])));
        check("type:[* TO *]", Ok(("log_type IS NOT NULL", vec![])));
        check("_exists_:user_id", Ok(("user_id IS NOT NULL", vec![])));
    }

    #[test]
    fn date_fields() {
        check(
            "date:2026-03-01",
            Ok(("(date >= $1 AND date < $2)", vec![i(MAR_1), i(MAR_1 + DAY)])),
        );
        check(
            "date:[2026-03-01 TO 2026-03-31]",
            Ok((
                "(date >= $1 AND date < $2)",
                vec![i(MAR_1), i(MAR_31 + DAY)],
            )),
        );
        check(
            "date:{2026-03-01 TO 2026-03-31}",
            Ok((
                "(date >= $1 AND date < $2)",
                vec![i(MAR_1 + DAY), i(MAR_31)],
            )),
        );
        check("date:[2026-03-01 TO *]", Ok(("date >= $1", vec![i(MAR_1)])));
        check(
            "date:[* TO 2026-03-01T10:00:00Z}",
            Ok(("date < $1", vec![i(MAR_1 + 36_000_000)])),
        );
        check(
            "date:[* TO 2026-03-01T10:00:00Z]",
            Ok(("date < $1", vec![i(MAR_1 + 36_001_000)])),
        );
        check(
            "date:2026-03-01T10:00:00.123Z",
            Ok((
                "(date >= $1 AND date < $2)",
                vec![i(MAR_1 + 36_000_123), i(MAR_1 + 36_000_124)],
            )),
        );
        check(
            "date:\"2026-03-01T10:00:00.5Z\"",
            Ok((
                "(date >= $1 AND date < $2)",
                vec![i(MAR_1 + 36_000_500), i(MAR_1 + 36_000_600)],
            )),
        );
        check(
            "date:[\"2026-03-01T12:00:00+02:00\" TO *]",
            Ok(("date >= $1", vec![i(MAR_1 + 36_000_000)])),
        );
        check("date:*", Ok(("date IS NOT NULL", vec![])));
    }

    #[test]
    fn composition() {
        let q = "user_id:x AND (type:s OR type:f*)";
        let got = parse_and_translate(q, FIELDS, DEFAULTS, 3);
        assert_eq!(
            got,
            Ok((
                "(user_id = $3 AND (log_type = $4 OR (log_type >= $5 AND log_type < $6)))"
                    .to_owned(),
                vec![t("x"), t("s"), t("f"), t("g")]
            ))
        );
        check(
            "type:s type:f",
            Ok(("(log_type = $1 AND log_type = $2)", vec![t("s"), t("f")])),
        );
        check(
            "NOT type:s",
            Ok(("(NOT COALESCE(log_type = $1, FALSE))", vec![t("s")])),
        );
        check(
            "type:(s OR f) -_exists_:user_id",
            Ok((
                "((log_type = $1 OR log_type = $2) AND (NOT COALESCE(user_id IS NOT NULL, FALSE)))",
                vec![t("s"), t("f")],
            )),
        );
        check(
            "jane",
            Ok((
                "(user_name = $1 OR user_id = $2)",
                vec![t("jane"), t("jane")],
            )),
        );
        check(
            "jo* type:s",
            Ok((
                "(((user_name >= $1 AND user_name < $2) OR (user_id >= $3 AND user_id < $4)) \
                 AND log_type = $5)",
                vec![t("jo"), t("jp"), t("jo"), t("jp"), t("s")],
            )),
        );
        check_with("jane", &["user_id"], Ok(("user_id = $1", vec![t("jane")])));
        // A date default field joins in only for values that are dates.
        check_with(
            "jane",
            &["date", "user_id"],
            Ok(("user_id = $1", vec![t("jane")])),
        );
        check_with(
            "2026-03-01",
            &["date", "user_id"],
            Ok((
                "((date >= $1 AND date < $2) OR user_id = $3)",
                vec![i(MAR_1), i(MAR_1 + DAY), t("2026-03-01")],
            )),
        );
        let empty = to_sql(&Query::And(vec![]), FIELDS, DEFAULTS, 1);
        assert_eq!(empty, Ok(("(1 = 1)".to_owned(), vec![])));
        let empty = to_sql(&Query::Or(vec![]), FIELDS, DEFAULTS, 1);
        assert_eq!(empty, Ok(("(1 = 0)".to_owned(), vec![])));
    }

    #[test]
    fn refusals() {
        check(
            "foo:bar",
            Err("unknown field 'foo'; searchable fields are: type, user_id, user_name, date"),
        );
        check(
            "_exists_:log_type",
            Err("unknown field 'log_type'; searchable fields are: type, user_id, user_name, date"),
        );
        check(
            "type:(",
            Err("invalid query: unexpected end of query at position 6"),
        );
        check("a)", Err("invalid query: unexpected ')' at position 1"));
        check_with(
            "jane",
            &[],
            Err(
                "a value without a field name is not supported here; use field:value \
                 (searchable fields are: type, user_id, user_name, date)",
            ),
        );
        check_with("type:x", &["nope"], Err("search is misconfigured"));
        check_with(
            "jane",
            &["date"],
            Err(
                "invalid date 'jane' for field 'date'; expected YYYY-MM-DD or a UTC date-time \
                 such as 2026-03-01T10:00:00Z",
            ),
        );
        for bad in [
            "date:2026-02-30",
            "date:2026-3-1",
            "date:yesterday",
            "date:2026-03-01T10:00:00",
            "date:1772323200000",
        ] {
            let got = parse_and_translate(bad, FIELDS, DEFAULTS, 1).map_err(|e| e.to_string());
            assert!(
                matches!(&got, Err(m) if m.starts_with("invalid date '")),
                "{bad:?}: {got:?}"
            );
        }
        check(
            "date:[2026-03-01 TO soon]",
            Err(
                "invalid date 'soon' for field 'date'; expected YYYY-MM-DD or a UTC date-time \
                 such as 2026-03-01T10:00:00Z",
            ),
        );
        check(
            "date:2026-03*",
            Err(
                "prefix search is not supported on date field 'date'; use a range such as \
                 date:[2026-03-01 TO 2026-03-31]",
            ),
        );
        check(
            "type:\"a\0b\"",
            Err("search values must not contain NUL characters"),
        );
    }

    #[test]
    fn successors() {
        assert_eq!(successor("abc").as_deref(), Some("abd"));
        assert_eq!(successor("az").as_deref(), Some("a{"));
        assert_eq!(successor("\u{10FFFF}"), None);
        assert_eq!(successor("").as_deref(), None);
    }

    /// Runs translated conditions against a real SQLite database, to check that the SQL is
    /// accepted, the placeholders line up with the binds, and the semantics (prefix bounds,
    /// NOT over NULLs, whole-day dates) hold.
    #[tokio::test]
    async fn conditions_select_the_right_rows_on_sqlite() -> Result<(), Box<dyn std::error::Error>>
    {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await?;
        sqlx::query(
            "CREATE TABLE logs (seq BIGINT PRIMARY KEY, log_type TEXT NOT NULL, \
             date BIGINT NOT NULL, user_id TEXT, user_name TEXT)",
        )
        .execute(&pool)
        .await?;
        // (seq, log_type, date, user_id, user_name)
        type Row<'a> = (i64, &'a str, i64, Option<&'a str>, Option<&'a str>);
        let rows: &[Row] = &[
            (1, "s", MAR_1, Some("auth0|1"), Some("jane")),
            (2, "f", MAR_1 + DAY - 1, Some("auth0|2"), Some("Jane")),
            (3, "fp", MAR_1 + DAY, Some("google-oauth2|3"), Some("john")),
            (4, "fu", MAR_31 + DAY - 1, None, None),
            (5, "g", MAR_31 + DAY, Some("auth0\u{10FFFF}"), None),
            (6, "F", MAR_1 - 1, Some("auth0}"), Some("jo")),
        ];
        for (seq, log_type, date, user_id, user_name) in rows {
            sqlx::query(
                "INSERT INTO logs (seq, log_type, date, user_id, user_name) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(*seq)
            .bind(*log_type)
            .bind(*date)
            .bind(*user_id)
            .bind(*user_name)
            .execute(&pool)
            .await?;
        }
        let cases: &[(&str, &[i64])] = &[
            ("type:f", &[2]),
            ("type:f*", &[2, 3, 4]),
            ("type:*", &[1, 2, 3, 4, 5, 6]),
            ("user_id:auth0|*", &[1, 2]),
            ("user_id:auth0*", &[1, 2, 5, 6]),
            ("NOT user_id:auth0|*", &[3, 4, 5, 6]),
            ("-_exists_:user_name", &[4, 5]),
            ("NOT (user_name:jane OR type:g)", &[2, 3, 4, 6]),
            ("jane", &[1]),
            ("jo*", &[3, 6]),
            ("date:2026-03-01", &[1, 2]),
            ("date:[2026-03-01 TO 2026-03-31]", &[1, 2, 3, 4]),
            ("date:{2026-03-01 TO 2026-03-31}", &[3]),
            ("date:[* TO 2026-03-01}", &[6]),
            ("type:[f TO g}", &[2, 3, 4]),
            ("type:f* AND NOT type:fu", &[2, 3]),
        ];
        for (q, expected) in cases {
            // A bind of the caller's own comes first, as in a real listing.
            let (cond, binds) = parse_and_translate(q, FIELDS, DEFAULTS, 2)?;
            let sql = format!("SELECT seq FROM logs WHERE seq > $1 AND {cond} ORDER BY seq");
            let mut query = sqlx::query_as::<_, (i64,)>(&sql).bind(0_i64);
            for b in binds {
                query = match b {
                    Bind::Text(s) => query.bind(s),
                    Bind::Int(n) => query.bind(n),
                };
            }
            let got: Vec<i64> = query
                .fetch_all(&pool)
                .await?
                .into_iter()
                .map(|(s,)| s)
                .collect();
            assert_eq!(got, *expected, "{q} -> {sql}");
        }
        pool.close().await;
        Ok(())
    }
}
