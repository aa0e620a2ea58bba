//! The audit log: chained insertion inside a transaction, the group-commit writer for
//! stand-alone events, listing, and the raw rows, checkpoints and keys verification needs.
//!
//! Every insertion goes through [`chain_append`], which reads the chain head (locking it on
//! PostgreSQL), assigns gap-free sequence numbers, computes each record's hash over its content
//! and its predecessor's hash, and moves the head, all inside the caller's transaction. Records
//! therefore commit in sequence order, which is what lets log streams use the sequence number
//! as a durable cursor.

use custos_audit::chain::{from_hex, to_hex};
use custos_audit::{entry_hash, Checkpoint, Entry};
use custos_domain::audit::{AuditEvent, AuditRecord, EventType};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};
use tokio::sync::{mpsc, oneshot, watch, Mutex};

use crate::search::Bind;
use crate::{
    get_i64, get_json, get_opt_str, get_str, Dialect, Page, Result, Store, StoreError, Tx,
};

const COLUMNS: usize = 17;
/// Rows per INSERT statement: 64 × 17 placeholders stays far below both engines' limits.
const CHUNK: usize = 64;

fn insert_sql(rows: usize, dialect: Dialect) -> String {
    let mut sql = String::from(
        "INSERT INTO audit_log (seq, log_type, date, description, client_id, client_name, user_id, user_name, connection, audience, scope, ip, user_agent, organization_id, resource, details, hash) VALUES ",
    );
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..COLUMNS {
            if c > 0 {
                sql.push(',');
            }
            match dialect {
                // Anonymous `?` binds by position; numbered ones make SQLite look every
                // parameter up by name, which grows with the square of the row count.
                Dialect::Sqlite => sql.push('?'),
                Dialect::Postgres => sql.push_str(&format!("${}", r * COLUMNS + c + 1)),
            }
        }
        sql.push(')');
    }
    sql
}

/// Appends `events` to the chain inside the open transaction on `conn`; returns the sequence
/// number of the last one.
pub(crate) async fn chain_append(
    conn: &mut AnyConnection,
    dialect: Dialect,
    events: &[&AuditEvent],
) -> Result<i64> {
    let lock = match dialect {
        // Serialises appenders on PostgreSQL until commit, so sequence order is commit order.
        Dialect::Postgres => " FOR UPDATE",
        // SQLite has one writer connection: transactions are already serial.
        Dialect::Sqlite => "",
    };
    let (mut seq, head): (i64, String) = sqlx::query_as(&format!(
        "SELECT seq, hash FROM audit_head WHERE id = 1{lock}"
    ))
    .fetch_one(&mut *conn)
    .await?;
    let mut prev = from_hex(&head).ok_or_else(|| StoreError::Corrupt("audit head hash".into()))?;
    let details: Vec<String> = events.iter().map(|e| e.details.to_string()).collect();
    let mut rows = Vec::with_capacity(events.len());
    for (e, d) in events.iter().zip(&details) {
        seq += 1;
        prev = entry_hash(&prev, &Entry::of(seq, e, d));
        rows.push((seq, to_hex(&prev)));
    }
    let mut at = 0;
    for chunk in events.chunks(CHUNK) {
        let sql = insert_sql(chunk.len(), dialect);
        let mut q = sqlx::query(&sql);
        for (i, e) in chunk.iter().enumerate() {
            let (seq, hash) = &rows[at + i];
            q = q
                .bind(*seq)
                .bind(e.event_type.code())
                .bind(e.date)
                .bind(&e.description)
                .bind(&e.client_id)
                .bind(&e.client_name)
                .bind(&e.user_id)
                .bind(&e.user_name)
                .bind(&e.connection)
                .bind(&e.audience)
                .bind(&e.scope)
                .bind(&e.ip)
                .bind(&e.user_agent)
                .bind(&e.organization_id)
                .bind(&e.resource)
                .bind(&details[at + i])
                .bind(hash);
        }
        q.execute(&mut *conn).await?;
        at += chunk.len();
    }
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(to_hex(&prev))
        .execute(&mut *conn)
        .await?;
    Ok(seq)
}

impl Tx {
    /// Records `event` in this transaction. A transaction that changes state must call this;
    /// the record is chained and written when the transaction commits.
    pub async fn audit(&mut self, event: &AuditEvent) -> Result<()> {
        self.pending.push(event.clone());
        Ok(())
    }
}

/// Events written together (in one batch transaction, so all or none) and where to report
/// the sequence number of the last.
type Job = (Vec<AuditEvent>, oneshot::Sender<Result<i64>>);

/// Batches concurrent stand-alone audit events into one transaction (group commit): under load
/// one fsync covers many events, and each caller still returns only after its event is durable.
pub struct AuditWriter {
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    done: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// The most events one commit carries.
const MAX_BATCH: usize = 4096;

impl AuditWriter {
    pub(crate) fn start(
        pool: AnyPool,
        dialect: Dialect,
        appended: std::sync::Arc<watch::Sender<i64>>,
        sqlite_file: Option<std::path::PathBuf>,
    ) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(16384);
        let handle = tokio::spawn(async move {
            // On SQLite, batches go through a dedicated rusqlite connection (one prepared
            // statement, no per-value conversions): about twice the throughput of sqlx `Any`.
            let mut fast = sqlite_file.and_then(|p| match crate::sqlite_fast::open_writer(&p) {
                Ok(c) => Some(std::sync::Arc::new(std::sync::Mutex::new(c))),
                Err(e) => {
                    tracing::warn!(error = %e, "audit fast writer unavailable; using sqlx");
                    None
                }
            });
            let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let mut events: Vec<AuditEvent> = Vec::with_capacity(batch.len());
                let mut replies = Vec::with_capacity(batch.len());
                for (group, reply) in batch.drain(..) {
                    events.extend(group);
                    replies.push((reply, events.len()));
                }
                let result = match &mut fast {
                    Some(conn) => write_batch_fast(&pool, conn.clone(), events).await,
                    None => write_batch(&pool, dialect, &events).await,
                };
                match result {
                    Ok(last) => {
                        appended.send_replace(last);
                        let total = replies.last().map_or(0, |(_, end)| *end) as i64;
                        let before = last - total;
                        for (reply, end) in replies {
                            let _ = reply.send(Ok(before + end as i64));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "audit batch failed");
                        for (reply, _) in replies {
                            let _ =
                                reply.send(Err(StoreError::Backend("audit write failed".into())));
                        }
                    }
                }
            }
        });
        Self {
            sender: Mutex::new(Some(tx)),
            done: Mutex::new(Some(handle)),
        }
    }

    pub(crate) async fn append(&self, event: AuditEvent) -> Result<i64> {
        self.append_all(vec![event]).await
    }

    /// Appends `events` atomically (one batch transaction); the sequence number of the last.
    pub(crate) async fn append_all(&self, events: Vec<AuditEvent>) -> Result<i64> {
        if events.is_empty() {
            return Err(StoreError::Backend("no audit records to append".into()));
        }
        let sender = self
            .sender
            .lock()
            .await
            .clone()
            .ok_or_else(|| StoreError::Backend("audit writer stopped".into()))?;
        let (reply, wait) = oneshot::channel();
        sender
            .send((events, reply))
            .await
            .map_err(|_| StoreError::Backend("audit writer stopped".into()))?;
        wait.await
            .map_err(|_| StoreError::Backend("audit writer stopped".into()))?
    }

    /// Stops accepting events and waits until every accepted one is written.
    pub(crate) async fn shutdown(&self) {
        self.sender.lock().await.take();
        if let Some(handle) = self.done.lock().await.take() {
            let _ = handle.await;
        }
    }
}

/// Writes a batch on the rusqlite connection while holding the pool's only write connection,
/// which keeps every other writer of this process out meanwhile.
async fn write_batch_fast(
    pool: &AnyPool,
    conn: std::sync::Arc<std::sync::Mutex<rusqlite::Connection>>,
    events: Vec<AuditEvent>,
) -> Result<i64> {
    let slot = pool.acquire().await?;
    let result = tokio::task::spawn_blocking(move || {
        let mut c = conn
            .lock()
            .map_err(|_| StoreError::Backend("audit writer poisoned".into()))?;
        crate::sqlite_fast::write_batch(&mut c, &events)
    })
    .await
    .map_err(|e| StoreError::Backend(format!("audit writer thread: {e}")))?;
    drop(slot);
    result
}

async fn write_batch(pool: &AnyPool, dialect: Dialect, events: &[AuditEvent]) -> Result<i64> {
    let mut tx = pool.begin().await?;
    let events: Vec<&AuditEvent> = events.iter().collect();
    let last = chain_append(&mut tx, dialect, &events).await?;
    tx.commit().await?;
    Ok(last)
}

/// Filters for listing audit records.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub user_id: Option<String>,
    /// A translated search (`q`): a WHERE fragment with `$n` placeholders numbered from 1, and
    /// its values.
    pub search: Option<(String, Vec<Bind>)>,
    /// Checkpoint: records strictly after this sequence number, oldest first.
    pub from: Option<i64>,
    pub page: i64,
    pub per_page: i64,
    /// Newest first (search mode) when true.
    pub descending: bool,
    /// Whether to count all matches (costly over large logs; only when asked).
    pub count: bool,
}

const SELECT: &str = "SELECT seq, log_type, date, description, client_id, client_name, user_id, user_name, connection, audience, scope, ip, user_agent, organization_id, resource, details FROM audit_log";

fn record(row: &AnyRow) -> Result<AuditRecord> {
    let log_type = get_str(row, "log_type")?;
    let event_type = EventType::from_code(&log_type)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown log type {log_type}")))?;
    let mut event = AuditEvent::new(event_type, get_i64(row, "date")?);
    event.description = get_str(row, "description")?;
    event.client_id = get_opt_str(row, "client_id")?;
    event.client_name = get_opt_str(row, "client_name")?;
    event.user_id = get_opt_str(row, "user_id")?;
    event.user_name = get_opt_str(row, "user_name")?;
    event.connection = get_opt_str(row, "connection")?;
    event.audience = get_opt_str(row, "audience")?;
    event.scope = get_opt_str(row, "scope")?;
    event.ip = get_opt_str(row, "ip")?;
    event.user_agent = get_opt_str(row, "user_agent")?;
    event.organization_id = get_opt_str(row, "organization_id")?;
    event.resource = get_opt_str(row, "resource")?;
    event.details = get_json(row, "details")?;
    Ok(AuditRecord {
        seq: get_i64(row, "seq")?,
        event,
    })
}

pub(crate) fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for b in binds {
        q = match b {
            Bind::Text(t) => q.bind(t.as_str()),
            Bind::Int(i) => q.bind(*i),
        };
    }
    q
}

/// One record as stored, with its hash: what verification reads.
#[derive(Debug, Clone)]
pub struct ChainRow {
    pub seq: i64,
    pub log_type: String,
    pub date: i64,
    pub description: String,
    pub client_id: Option<String>,
    pub client_name: Option<String>,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub connection: Option<String>,
    pub audience: Option<String>,
    pub scope: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub organization_id: Option<String>,
    pub resource: Option<String>,
    pub details: String,
    pub hash: Option<String>,
}

impl ChainRow {
    pub fn entry(&self) -> Entry<'_> {
        Entry {
            seq: self.seq,
            log_type: &self.log_type,
            date: self.date,
            description: &self.description,
            client_id: self.client_id.as_deref(),
            client_name: self.client_name.as_deref(),
            user_id: self.user_id.as_deref(),
            user_name: self.user_name.as_deref(),
            connection: self.connection.as_deref(),
            audience: self.audience.as_deref(),
            scope: self.scope.as_deref(),
            ip: self.ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
            organization_id: self.organization_id.as_deref(),
            resource: self.resource.as_deref(),
            details: &self.details,
        }
    }

    fn from_row(row: &AnyRow) -> Result<Self> {
        let s = |i: usize| row.try_get::<String, _>(i).map_err(StoreError::from);
        let o = |i: usize| {
            row.try_get::<Option<String>, _>(i)
                .map_err(StoreError::from)
        };
        Ok(Self {
            seq: row.try_get(0)?,
            log_type: s(1)?,
            date: row.try_get(2)?,
            description: s(3)?,
            client_id: o(4)?,
            client_name: o(5)?,
            user_id: o(6)?,
            user_name: o(7)?,
            connection: o(8)?,
            audience: o(9)?,
            scope: o(10)?,
            ip: o(11)?,
            user_agent: o(12)?,
            organization_id: o(13)?,
            resource: o(14)?,
            details: s(15)?,
            hash: o(16)?,
        })
    }
}

/// An audit checkpoint key as stored: public key in the clear, private key sealed.
#[derive(Debug, Clone)]
pub struct AuditKeyRow {
    pub kid: String,
    /// base64url of the 32-byte Ed25519 public key.
    pub public_key: String,
    pub sealed_pkcs8: String,
    /// `current` (signs new checkpoints) or `retired` (still verifies old ones).
    pub state: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

impl Tx {
    /// Makes `key` the current audit key, retiring the previous one.
    pub async fn rotate_audit_key(&mut self, key: &AuditKeyRow) -> Result<()> {
        sqlx::query(
            "UPDATE audit_keys SET state = 'retired', retired_at = $1 WHERE state = 'current'",
        )
        .bind(key.created_at)
        .execute(self.conn())
        .await?;
        sqlx::query("INSERT INTO audit_keys (kid, public_key, sealed_pkcs8, state, created_at, retired_at) VALUES ($1, $2, $3, 'current', $4, NULL)")
            .bind(&key.kid)
            .bind(&key.public_key)
            .bind(&key.sealed_pkcs8)
            .bind(key.created_at)
            .execute(self.conn())
            .await?;
        Ok(())
    }
}

impl Store {
    pub async fn list_audit(&self, q: &AuditQuery) -> Result<Page<AuditRecord>> {
        let mut filters = Vec::new();
        let mut binds: Vec<Bind> = Vec::new();
        if let Some((sql, b)) = &q.search {
            filters.push(sql.clone());
            binds.extend(b.iter().cloned());
        }
        if let Some(user) = &q.user_id {
            binds.push(Bind::Text(user.clone()));
            filters.push(format!("user_id = ${}", binds.len()));
        }
        if let Some(from) = q.from {
            binds.push(Bind::Int(from));
            filters.push(format!("seq > ${}", binds.len()));
        }
        let where_clause = if filters.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", filters.join(" AND "))
        };
        let order = if q.descending { "DESC" } else { "ASC" };
        let per_page = q.per_page.clamp(0, 100);
        // Checkpoint mode walks the sequence; search mode sorts by date (Auth0's `sort=date`),
        // with the sequence breaking ties, which every audit index ends with.
        let order_by = if q.from.is_some() {
            format!("seq {order}")
        } else {
            format!("date {order}, seq {order}")
        };
        let sql = format!(
            "{SELECT} {where_clause} ORDER BY {order_by} LIMIT {per_page} OFFSET {}",
            q.page.max(0) * per_page
        );
        let rows = bind_all(sqlx::query(&sql), &binds)
            .fetch_all(&self.read)
            .await?;
        let items = rows.iter().map(record).collect::<Result<Vec<_>>>()?;
        let total = if q.count {
            let count_sql = format!("SELECT COUNT(*) FROM audit_log {where_clause}");
            let row = bind_all(sqlx::query(&count_sql), &binds)
                .fetch_one(&self.read)
                .await?;
            row.try_get::<i64, _>(0)?
        } else {
            items.len() as i64
        };
        Ok(Page { items, total })
    }

    pub async fn get_audit(&self, seq: i64) -> Result<AuditRecord> {
        let row = sqlx::query(&format!("{SELECT} WHERE seq = $1"))
            .bind(seq)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        record(&row)
    }

    /// Records with `after < seq <= through`, oldest first, at most `limit`.
    pub async fn audit_records(
        &self,
        after: i64,
        through: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query(&format!(
            "{SELECT} WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3"
        ))
        .bind(after)
        .bind(through)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(record).collect()
    }

    /// Raw rows with their hashes, `after < seq <= through`, oldest first, at most `limit`.
    pub async fn chain_rows(&self, after: i64, through: i64, limit: i64) -> Result<Vec<ChainRow>> {
        let rows = sqlx::query(
            "SELECT seq, log_type, date, description, client_id, client_name, user_id, user_name, connection, audience, scope, ip, user_agent, organization_id, resource, details, hash FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
        )
        .bind(after)
        .bind(through)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(ChainRow::from_row).collect()
    }

    /// The stored hash of record `seq`, if the record exists.
    pub async fn audit_hash(&self, seq: i64) -> Result<Option<Option<String>>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT hash FROM audit_log WHERE seq = $1")
                .bind(seq)
                .fetch_optional(&self.read)
                .await?;
        Ok(row.map(|(h,)| h))
    }

    /// The chain head: the last sequence number and its hash.
    pub async fn audit_head(&self) -> Result<(i64, String)> {
        Ok(
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&self.read)
                .await?,
        )
    }

    /// The highest sequence number present, 0 when the log is empty.
    pub async fn audit_max_seq(&self) -> Result<i64> {
        let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM audit_log")
            .fetch_one(&self.read)
            .await?;
        Ok(max.unwrap_or(0))
    }

    /// Stores a checkpoint. Checkpoints are evidence about the log, not tenant state, so they
    /// are written without an audit record of their own (which would need a checkpoint...).
    pub async fn insert_checkpoint(&self, c: &Checkpoint) -> Result<()> {
        sqlx::query("INSERT INTO audit_checkpoints (seq, hash, date, kid, signature) VALUES ($1, $2, $3, $4, $5)")
            .bind(c.seq)
            .bind(&c.hash)
            .bind(c.date)
            .bind(&c.kid)
            .bind(&c.signature)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Every checkpoint, oldest first.
    pub async fn checkpoints(&self) -> Result<Vec<Checkpoint>> {
        let rows: Vec<(i64, String, i64, String, String)> = sqlx::query_as(
            "SELECT seq, hash, date, kid, signature FROM audit_checkpoints ORDER BY seq",
        )
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, hash, date, kid, signature)| Checkpoint {
                seq,
                hash,
                date,
                kid,
                signature,
            })
            .collect())
    }

    /// The newest checkpoint.
    pub async fn latest_checkpoint(&self) -> Result<Option<Checkpoint>> {
        let row: Option<(i64, String, i64, String, String)> = sqlx::query_as(
            "SELECT seq, hash, date, kid, signature FROM audit_checkpoints ORDER BY seq DESC LIMIT 1",
        )
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|(seq, hash, date, kid, signature)| Checkpoint {
            seq,
            hash,
            date,
            kid,
            signature,
        }))
    }

    /// Every audit key, oldest first.
    pub async fn audit_keys(&self) -> Result<Vec<AuditKeyRow>> {
        let rows = sqlx::query(
            "SELECT kid, public_key, sealed_pkcs8, state, created_at, retired_at FROM audit_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditKeyRow {
                    kid: get_str(r, "kid")?,
                    public_key: get_str(r, "public_key")?,
                    sealed_pkcs8: get_str(r, "sealed_pkcs8")?,
                    state: get_str(r, "state")?,
                    created_at: get_i64(r, "created_at")?,
                    retired_at: crate::get_opt_i64(r, "retired_at")?,
                })
            })
            .collect()
    }
}

impl Store {
    /// The first record at or after `date` (`first`), or the last at or before it.
    pub async fn audit_seq_bound(&self, date: i64, first: bool) -> Result<Option<i64>> {
        let sql = if first {
            "SELECT MIN(seq) FROM audit_log WHERE date >= $1"
        } else {
            "SELECT MAX(seq) FROM audit_log WHERE date <= $1"
        };
        let (seq,): (Option<i64>,) = sqlx::query_as(sql).bind(date).fetch_one(&self.read).await?;
        Ok(seq)
    }
}

impl Store {
    /// Checks records `first..=last` of the chain given `prev`, the hash before `first`, and
    /// the verified checkpoints `pins`: `(records checked, first problem)`.
    pub async fn verify_chain_range(
        &self,
        first: i64,
        last: i64,
        prev: custos_audit::Hash,
        pins: std::sync::Arc<std::collections::HashMap<i64, (custos_audit::Hash, i64)>>,
    ) -> Result<(u64, Option<custos_audit::Finding>)> {
        if let Some(path) = self.sqlite_file.clone() {
            return tokio::task::spawn_blocking(move || {
                crate::sqlite_fast::verify_range(&path, first, last, prev, pins)
            })
            .await
            .map_err(|e| StoreError::Backend(format!("verifier thread: {e}")))?;
        }
        const PAGE: i64 = 20_000;
        let mut checker = custos_audit::ChainChecker::new(first, prev, &pins);
        let mut after = first - 1;
        while after < last {
            let rows = self.chain_rows(after, last, PAGE).await?;
            let Some(end) = rows.last().map(|r| r.seq) else {
                break;
            };
            for r in &rows {
                let stored = r.hash.as_deref().map(|h| from_hex(h).unwrap_or([0xff; 32]));
                if let Err(f) = checker.feed(&r.entry(), stored.as_ref()) {
                    return Ok((checker.checked(), Some(f)));
                }
            }
            after = end;
            if (rows.len() as i64) < PAGE {
                break;
            }
        }
        if checker.expected() <= last {
            return Ok((
                checker.checked(),
                Some(custos_audit::Finding::Removed {
                    seq: checker.expected(),
                    through: last,
                }),
            ));
        }
        Ok((checker.checked(), None))
    }
}

/// Chains records written before the chain existed (a data directory from an earlier version):
/// those after the head, in sequence order, each hashed over its stored content. Runs at
/// start-up, before anything else writes.
pub(crate) async fn backfill_chain(pool: &AnyPool) -> Result<u64> {
    let mut done = 0;
    loop {
        let mut tx = pool.begin().await?;
        let (head, head_hash): (i64, String) =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?;
        let rows = sqlx::query(
            "SELECT seq, log_type, date, description, client_id, client_name, user_id, user_name, connection, audience, scope, ip, user_agent, organization_id, resource, details, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 5000",
        )
        .bind(head)
        .fetch_all(&mut *tx)
        .await?;
        let rows = rows
            .iter()
            .map(ChainRow::from_row)
            .collect::<Result<Vec<_>>>()?;
        let Some(last) = rows.last().map(|r| r.seq) else {
            return Ok(done);
        };
        let mut prev =
            from_hex(&head_hash).ok_or_else(|| StoreError::Corrupt("audit head hash".into()))?;
        for r in &rows {
            prev = entry_hash(&prev, &r.entry());
            sqlx::query("UPDATE audit_log SET hash = $1 WHERE seq = $2")
                .bind(to_hex(&prev))
                .bind(r.seq)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(last)
            .bind(to_hex(&prev))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        done += rows.len() as u64;
        tracing::info!(
            records = done,
            "chained audit records written before the hash chain"
        );
    }
}
