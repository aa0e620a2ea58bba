//! The only place where SQLite and PostgreSQL differ.

/// The SQL engine, chosen once from the database URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Dialect::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Dialect::Postgres)
        } else {
            None
        }
    }

    /// SQLite URLs get `mode=rwc` so a first run creates the file.
    pub fn normalize_url(self, url: &str) -> String {
        match self {
            Dialect::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        }
    }

    /// Statements run on every new connection.
    pub fn connection_setup(self) -> &'static [&'static str] {
        match self {
            // WAL for concurrent readers; synchronous=FULL so a committed audit record survives
            // power loss (the group-commit writer keeps this affordable).
            Dialect::Sqlite => &[
                "PRAGMA journal_mode=WAL",
                "PRAGMA synchronous=FULL",
                "PRAGMA busy_timeout=10000",
                "PRAGMA foreign_keys=ON",
            ],
            Dialect::Postgres => &[],
        }
    }

    /// Fills the dialect placeholders of a migration.
    pub fn render_migration(self, sql: &str) -> String {
        let serial = match self {
            Dialect::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
        };
        // Lines starting `--pg ` are PostgreSQL-only statements (SQLite drops them).
        let lines: Vec<String> = sql
            .lines()
            .filter_map(|l| match (self, l.strip_prefix("--pg ")) {
                (Dialect::Postgres, Some(rest)) => Some(rest.to_owned()),
                (Dialect::Sqlite, Some(_)) => None,
                _ => Some(l.to_owned()),
            })
            .collect();
        let mut out = lines.join("\n");
        if sql.ends_with('\n') {
            out.push('\n');
        }
        out.replace("{serial_pk}", serial)
    }
}
