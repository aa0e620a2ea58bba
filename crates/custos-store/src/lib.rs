//! Persistence for Custos: one SQL implementation, through sqlx's `Any` driver, that runs on
//! SQLite (the embedded default) and PostgreSQL (scale-out, or PostgreSQL-compatible
//! distributed SQL).
//!
//! The engine is chosen once, in [`Store::connect`], from the URL; the few dialect differences
//! (pragmas, auto-increment) live in [`dialect`]. Every query is written once in portable SQL:
//! `$n` placeholders, `BIGINT` for numbers, booleans and instants (milliseconds), `TEXT` for
//! strings and JSON.
//!
//! Writes happen in a [`Tx`], and a `Tx` refuses to commit unless it recorded an audit event:
//! "every state change writes its audit record in the same transaction" is enforced here, not
//! just promised. Events that change nothing else (a token issued by client credentials, a
//! failed login) go through [`Store::append_audit`], which group-commits concurrent events into
//! one durable transaction.
//!
//! This crate must never know HTTP or protocol rules; it stores and returns typed values.

mod apis;
mod audit;
pub mod authz;
mod clients;
pub mod dialect;
mod extensibility;
mod jobs;
mod keys;
mod migrations;
mod oauth;
mod organizations;
mod retention;
mod roles;
pub mod search;
mod sqlite_fast;
mod streams;
mod users;

use std::sync::Arc;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Row};
use thiserror::Error;

pub use audit::{AuditKeyRow, AuditQuery, AuditWriter, ChainRow};
pub use dialect::Dialect;
pub use jobs::JobRow;
pub use organizations::MemberRow;
pub use retention::{ArchiveRow, AuditPolicy};
pub use roles::HeldPermission;
pub use streams::StreamRow;
pub use users::UserPatch;

/// Storage failures. `Backend` carries internal detail for the log, never for a response.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("a transaction tried to commit a state change without an audit record")]
    Unaudited,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Backend(String),
    #[error("unsupported database URL (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict("unique constraint")
            }
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A handle to the database: cheap to clone.
#[derive(Clone)]
pub struct Store {
    read: AnyPool,
    write: AnyPool,
    dialect: Dialect,
    audit: Arc<AuditWriter>,
    /// The last committed audit sequence number, for stream workers to wake on.
    appended: Arc<tokio::sync::watch::Sender<i64>>,
    /// The database file, for SQLite's fast paths.
    sqlite_file: Option<std::path::PathBuf>,
    /// PostgreSQL's URL, for `LISTEN` connections.
    pg_url: Option<String>,
    /// Bumped by each commit of this process that changed users, or authorization data.
    generations: Arc<Generations>,
}

/// Counters of this process's commits by what they changed, so in-memory views (the
/// authorization engine, its user cache) know cheaply when to catch up.
#[derive(Debug, Default)]
pub struct Generations {
    users: std::sync::atomic::AtomicU64,
    authz: std::sync::atomic::AtomicU64,
    extensions: std::sync::atomic::AtomicU64,
}

impl Generations {
    /// Commits that changed a user (created, updated, blocked, deleted).
    pub fn users(&self) -> u64 {
        self.users.load(std::sync::atomic::Ordering::Acquire)
    }
    /// Commits that recorded `custos_authz_changed` or `custos_rbac_changed`.
    pub fn authz(&self) -> u64 {
        self.authz.load(std::sync::atomic::Ordering::Acquire)
    }
    /// Commits that changed rules, their configuration, actions or trigger bindings.
    pub fn extensions(&self) -> u64 {
        self.extensions.load(std::sync::atomic::Ordering::Acquire)
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dialect", &self.dialect)
            .finish()
    }
}

impl Store {
    /// Connects, applies pending migrations, and starts the audit group-commit writer.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::from_url(url).ok_or(StoreError::UnsupportedUrl)?;
        let url = dialect.normalize_url(url);
        let (read, write) = match dialect {
            Dialect::Sqlite => {
                // One writer connection: SQLite serialises writers anyway, and one connection
                // avoids SQLITE_BUSY between our own writers. Readers run concurrently (WAL).
                let write = pool(dialect, &url, 1).await?;
                migrations::run(&write, dialect).await?;
                let read = pool(dialect, &url, 4).await?;
                (read, write)
            }
            Dialect::Postgres => {
                let p = pool(dialect, &url, 16).await?;
                migrations::run(&p, dialect).await?;
                (p.clone(), p)
            }
        };
        audit::backfill_chain(&write).await?;
        let (head,): (i64,) = sqlx::query_as("SELECT seq FROM audit_head WHERE id = 1")
            .fetch_one(&read)
            .await?;
        let appended = Arc::new(tokio::sync::watch::Sender::new(head));
        let sqlite_file = match dialect {
            Dialect::Sqlite => sqlite_fast::sqlite_path(&url),
            Dialect::Postgres => None,
        };
        let audit = Arc::new(AuditWriter::start(
            write.clone(),
            dialect,
            appended.clone(),
            sqlite_file.clone(),
        ));
        let pg_url = (dialect == Dialect::Postgres).then(|| url.clone());
        Ok(Self {
            read,
            write,
            dialect,
            audit,
            appended,
            sqlite_file,
            pg_url,
            generations: Arc::default(),
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(Tx {
            tx: self.write.begin().await?,
            pending: Vec::new(),
            dialect: self.dialect,
            appended: self.appended.clone(),
            generations: self.generations.clone(),
            touched_users: false,
            touched_extensions: false,
        })
    }

    /// Watches the last committed audit sequence number (this process's commits; other
    /// processes' are seen by polling).
    pub fn watch_appends(&self) -> tokio::sync::watch::Receiver<i64> {
        self.appended.subscribe()
    }

    /// This process's change counters (see [`Generations`]).
    pub fn generations(&self) -> &Generations {
        &self.generations
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.read).await.is_ok()
    }

    /// Records an event that accompanies no other state change, durably, before returning.
    /// Concurrent calls share one transaction (group commit).
    pub async fn append_audit(&self, event: custos_domain::audit::AuditEvent) -> Result<i64> {
        self.audit.append(event).await
    }

    /// Appends records that belong together (a decision and the script runs behind it) through
    /// the same group commit: all are written, in order, or none. Returns the last one's
    /// sequence number.
    pub async fn append_audits(
        &self,
        events: Vec<custos_domain::audit::AuditEvent>,
    ) -> Result<i64> {
        self.audit.append_all(events).await
    }

    /// Closes the pools after the audit writer has drained.
    pub async fn close(&self) {
        self.audit.shutdown().await;
        self.read.close().await;
        self.write.close().await;
    }
}

async fn pool(dialect: Dialect, url: &str, size: u32) -> Result<AnyPool> {
    let pragmas = dialect.connection_setup();
    AnyPoolOptions::new()
        .max_connections(size)
        .min_connections(1)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                for stmt in pragmas {
                    sqlx::query(stmt).execute(&mut *conn).await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
        .map_err(StoreError::from)
}

/// A write transaction. Commits only if an audit record was written in it.
pub struct Tx {
    tx: sqlx::Transaction<'static, Any>,
    pending: Vec<custos_domain::audit::AuditEvent>,
    dialect: Dialect,
    appended: Arc<tokio::sync::watch::Sender<i64>>,
    generations: Arc<Generations>,
    /// Set by the statements that change a user.
    touched_users: bool,
    /// Set by the statements that change rules, actions or bindings.
    touched_extensions: bool,
}

impl Tx {
    /// Chains the transaction's audit records and commits them with its changes, atomically.
    pub async fn commit(mut self) -> Result<()> {
        if self.pending.is_empty() {
            // Dropping the transaction rolls it back.
            return Err(StoreError::Unaudited);
        }
        let events: Vec<&custos_domain::audit::AuditEvent> = self.pending.iter().collect();
        let last = audit::chain_append(&mut self.tx, self.dialect, &events).await?;
        let authz = self.pending.iter().any(|e| {
            matches!(
                e.event_type,
                custos_domain::audit::EventType::AuthzChanged
                    | custos_domain::audit::EventType::RbacChanged
            )
        });
        self.tx.commit().await?;
        use std::sync::atomic::Ordering::AcqRel;
        if self.touched_users {
            self.generations.users.fetch_add(1, AcqRel);
        }
        if authz {
            self.generations.authz.fetch_add(1, AcqRel);
        }
        if self.touched_extensions {
            self.generations.extensions.fetch_add(1, AcqRel);
        }
        self.appended.send_replace(last);
        Ok(())
    }

    fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }

    /// Runs `sql` once per item of a link table (an assignment, a membership): binds `fixed`,
    /// then the item, then `at` when given. Returns the rows affected in all.
    async fn each_link(
        &mut self,
        sql: &str,
        fixed: &[&str],
        items: &[String],
        at: Option<i64>,
    ) -> Result<u64> {
        let mut affected = 0;
        for item in items {
            let mut q = sqlx::query(sql);
            for f in fixed {
                q = q.bind(*f);
            }
            q = q.bind(item);
            if let Some(at) = at {
                q = q.bind(at);
            }
            affected += q.execute(self.conn()).await?.rows_affected();
        }
        Ok(affected)
    }
}

// Row decoding helpers shared by the aggregate modules.

fn get_str(row: &AnyRow, col: &str) -> Result<String> {
    row.try_get::<String, _>(col).map_err(StoreError::from)
}

fn get_opt_str(row: &AnyRow, col: &str) -> Result<Option<String>> {
    row.try_get::<Option<String>, _>(col)
        .map_err(StoreError::from)
}

fn get_i64(row: &AnyRow, col: &str) -> Result<i64> {
    row.try_get::<i64, _>(col).map_err(StoreError::from)
}

fn get_opt_i64(row: &AnyRow, col: &str) -> Result<Option<i64>> {
    row.try_get::<Option<i64>, _>(col).map_err(StoreError::from)
}

fn get_bool(row: &AnyRow, col: &str) -> Result<bool> {
    Ok(get_i64(row, col)? != 0)
}

fn get_json(row: &AnyRow, col: &str) -> Result<serde_json::Value> {
    serde_json::from_str(&get_str(row, col)?)
        .map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn get_strings(row: &AnyRow, col: &str) -> Result<Vec<String>> {
    serde_json::from_str(&get_str(row, col)?)
        .map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// Fails with `NotFound` when an update or delete touched no row.
fn expect_one(result: sqlx::any::AnyQueryResult) -> Result<()> {
    if result.rows_affected() == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// A page of results and the total count.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// Administrative access for test set-up and operations tooling (creating schemas).
pub mod admin {
    use crate::{Dialect, Result, StoreError};

    /// A bare connection to a database, without migrations.
    pub struct Admin(sqlx::AnyPool);

    impl Admin {
        pub async fn connect(url: &str) -> Result<Self> {
            sqlx::any::install_default_drivers();
            let dialect = Dialect::from_url(url).ok_or(StoreError::UnsupportedUrl)?;
            let pool = sqlx::any::AnyPoolOptions::new()
                .max_connections(1)
                .connect(&dialect.normalize_url(url))
                .await?;
            Ok(Self(pool))
        }

        pub async fn execute(&self, sql: &str) -> Result<()> {
            sqlx::query(sql).execute(&self.0).await?;
            Ok(())
        }

        /// `(table, column)` of every table in the current schema, sorted: the logical schema,
        /// comparable across engines.
        pub async fn columns(&self, dialect: Dialect) -> Result<Vec<(String, String)>> {
            let sql = match dialect {
                Dialect::Sqlite => "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
                Dialect::Postgres => "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT) FROM information_schema.columns WHERE table_schema = current_schema()",
            };
            let mut cols: Vec<(String, String)> = sqlx::query_as(sql).fetch_all(&self.0).await?;
            cols.sort();
            Ok(cols)
        }
    }
}

#[cfg(test)]
mod tests {
    use custos_domain::audit::{AuditEvent, EventType};
    use custos_domain::keys::{KeyRecord, KeyState};

    use super::*;

    fn key(kid: &str) -> KeyRecord {
        KeyRecord {
            kid: kid.into(),
            alg: "ES256".into(),
            state: KeyState::Next,
            sealed_pkcs8: "v1.x".into(),
            created_at: 1,
            rotated_at: None,
        }
    }

    #[tokio::test]
    async fn records_from_before_the_chain_are_chained_at_start_up() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Backend(e.to_string()))?;
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        Store::connect(&url).await?.close().await;
        // What an earlier version left: records without hashes, and the head at 0.
        let admin = admin::Admin::connect(&url).await?;
        for seq in 1..=3 {
            admin
                .execute(&format!("INSERT INTO audit_log (seq, log_type, date, description, details) VALUES ({seq}, 's', {seq}, 'Successful login', '{{}}')"))
                .await?;
        }
        let store = Store::connect(&url).await?;
        assert_eq!(store.audit_head().await?.0, 3);
        let rows = store.chain_rows(0, 10, 10).await?;
        assert!(rows.iter().all(|r| r.hash.is_some()));
        // New records continue the chain after them.
        let next = store
            .append_audit(AuditEvent::new(EventType::Seccft, 4))
            .await?;
        assert_eq!(next, 4);
        let (checked, finding) = store
            .verify_chain_range(1, 4, custos_audit::GENESIS, Default::default())
            .await?;
        assert_eq!((checked, finding), (4, None));
        store.close().await;
        Ok(())
    }

    #[tokio::test]
    async fn a_change_without_an_audit_record_is_rolled_back() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Backend(e.to_string()))?;
        let store =
            Store::connect(&format!("sqlite://{}", dir.path().join("t.db").display())).await?;

        let mut tx = store.begin().await?;
        tx.insert_key(&key("unaudited")).await?;
        assert!(matches!(tx.commit().await, Err(StoreError::Unaudited)));
        assert!(
            store.list_keys().await?.is_empty(),
            "the change must not persist"
        );

        let mut tx = store.begin().await?;
        tx.insert_key(&key("audited")).await?;
        tx.audit(&AuditEvent::new(EventType::Sapi, 1)).await?;
        tx.commit().await?;
        assert_eq!(store.list_keys().await?.len(), 1);

        // Group-committed events get increasing sequence numbers and are readable at once.
        let a = store
            .append_audit(AuditEvent::new(EventType::Seccft, 2))
            .await?;
        let b = store
            .append_audit(AuditEvent::new(EventType::Seccft, 3))
            .await?;
        assert!(b > a);
        assert_eq!(
            store.get_audit(b).await?.event.event_type,
            EventType::Seccft
        );
        store.close().await;
        Ok(())
    }

    #[tokio::test]
    async fn concurrent_key_state_changes_conflict() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Backend(e.to_string()))?;
        let store =
            Store::connect(&format!("sqlite://{}", dir.path().join("t.db").display())).await?;
        let mut tx = store.begin().await?;
        tx.insert_key(&key("k1")).await?;
        tx.set_key_state("k1", KeyState::Next, KeyState::Current, 2)
            .await?;
        // A second mover that still believes the key is `next` loses.
        assert!(matches!(
            tx.set_key_state("k1", KeyState::Next, KeyState::Current, 3)
                .await,
            Err(StoreError::Conflict(_))
        ));
        Ok(())
    }
}
