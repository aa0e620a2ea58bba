//! SQLite fast paths that bypass sqlx's `Any` driver where its per-row cost dominates: reading
//! the whole audit chain for verification (borrowed, allocation-free rows on a blocking thread).
//! rusqlite links the same bundled SQLite as sqlx. PostgreSQL takes the portable path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use custos_audit::chain::{from_hex, Hash};
use custos_audit::{ChainChecker, Entry, Finding};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::{Result, StoreError};

/// The database file of a `sqlite://` URL (`None` for in-memory databases).
pub(crate) fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Checks records `first..=last` against `prev` (the hash before `first`) and `pins`.
pub(crate) fn verify_range(
    path: &Path,
    first: i64,
    last: i64,
    prev: Hash,
    pins: Arc<HashMap<i64, (Hash, i64)>>,
) -> Result<(u64, Option<Finding>)> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(backend)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(backend)?;
    let mut stmt = conn
        .prepare(
            "SELECT seq, log_type, date, description, client_id, client_name, user_id, user_name, connection, audience, scope, ip, user_agent, organization_id, resource, details, hash FROM audit_log WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq",
        )
        .map_err(backend)?;
    let mut rows = stmt.query([first, last]).map_err(backend)?;
    let mut checker = ChainChecker::new(first, prev, &pins);
    let corrupt = |seq: i64| StoreError::Corrupt(format!("audit record {seq} is not text"));
    while let Some(row) = rows.next().map_err(backend)? {
        let seq: i64 = row.get(0).map_err(backend)?;
        let text = |i: usize| -> Result<Option<&str>> {
            match row.get_ref(i).map_err(backend)? {
                ValueRef::Null => Ok(None),
                ValueRef::Text(b) => std::str::from_utf8(b).map(Some).map_err(|_| corrupt(seq)),
                _ => Err(corrupt(seq)),
            }
        };
        let required = |i: usize| -> Result<&str> { text(i)?.ok_or_else(|| corrupt(seq)) };
        let entry = Entry {
            seq,
            log_type: required(1)?,
            date: row.get(2).map_err(backend)?,
            description: required(3)?,
            client_id: text(4)?,
            client_name: text(5)?,
            user_id: text(6)?,
            user_name: text(7)?,
            connection: text(8)?,
            audience: text(9)?,
            scope: text(10)?,
            ip: text(11)?,
            user_agent: text(12)?,
            organization_id: text(13)?,
            resource: text(14)?,
            details: required(15)?,
        };
        let stored = text(16)?.map(|h| from_hex(h).unwrap_or([0xff; 32]));
        if let Err(f) = checker.feed(&entry, stored.as_ref()) {
            return Ok((checker.checked(), Some(f)));
        }
    }
    if checker.expected() <= last {
        return Ok((
            checker.checked(),
            Some(Finding::Removed {
                seq: checker.expected(),
                through: last,
            }),
        ));
    }
    Ok((checker.checked(), None))
}

/// A read-write connection for the audit group-commit writer, with the store's pragmas.
pub(crate) fn open_writer(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(backend)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(backend)?;
    // journal_mode is a property of the file (already WAL); synchronous is per connection.
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
        .map_err(backend)?;
    Ok(conn)
}

/// Appends `events` to the chain in one transaction with one prepared statement; returns the
/// last sequence number. The caller holds the store's writer slot, so no other writer of this
/// process interleaves; `BEGIN IMMEDIATE` waits out writers of other processes.
pub(crate) fn write_batch(
    conn: &mut Connection,
    events: &[custos_domain::audit::AuditEvent],
) -> Result<i64> {
    use custos_audit::chain::to_hex;
    use custos_audit::entry_hash;
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(backend)?;
    let (mut seq, head): (i64, String) = tx
        .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(backend)?;
    let mut prev = from_hex(&head).ok_or_else(|| StoreError::Corrupt("audit head hash".into()))?;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO audit_log (seq, log_type, date, description, client_id, client_name, user_id, user_name, connection, audience, scope, ip, user_agent, organization_id, resource, details, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .map_err(backend)?;
        for e in events {
            seq += 1;
            let details = e.details.to_string();
            prev = entry_hash(&prev, &Entry::of(seq, e, &details));
            stmt.execute(rusqlite::params![
                seq,
                e.event_type.code(),
                e.date,
                e.description,
                e.client_id,
                e.client_name,
                e.user_id,
                e.user_name,
                e.connection,
                e.audience,
                e.scope,
                e.ip,
                e.user_agent,
                e.organization_id,
                e.resource,
                details,
                to_hex(&prev),
            ])
            .map_err(backend)?;
        }
    }
    tx.execute(
        "UPDATE audit_head SET seq = ?1, hash = ?2 WHERE id = 1",
        rusqlite::params![seq, to_hex(&prev)],
    )
    .map_err(backend)?;
    tx.commit().map_err(backend)?;
    Ok(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_sqlite_urls() {
        assert_eq!(
            sqlite_path("sqlite:///tmp/a.db?mode=rwc"),
            Some(PathBuf::from("/tmp/a.db"))
        );
        assert_eq!(
            sqlite_path("sqlite://rel/a.db"),
            Some(PathBuf::from("rel/a.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x/y"), None);
    }
}
