//! The audit log: insertion inside a transaction, the group-commit writer for stand-alone
//! events, and listing.

use custos_domain::audit::{AuditEvent, AuditRecord, EventType};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool};
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::{get_i64, get_json, get_opt_str, get_str, Page, Result, Store, StoreError, Tx};

const INSERT: &str = "INSERT INTO audit_log (log_type, date, description, client_id, client_name, user_id, user_name, connection, audience, scope, ip, user_agent, details) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING seq";

async fn insert(conn: &mut AnyConnection, e: &AuditEvent) -> Result<i64> {
    let (seq,): (i64,) = sqlx::query_as(INSERT)
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
        .bind(e.details.to_string())
        .fetch_one(conn)
        .await?;
    Ok(seq)
}

impl Tx {
    /// Records `event` in this transaction. A transaction that changes state must call this.
    pub async fn audit(&mut self, event: &AuditEvent) -> Result<i64> {
        let seq = insert(self.conn(), event).await?;
        self.audited = true;
        Ok(seq)
    }
}

type Job = (AuditEvent, oneshot::Sender<Result<i64>>);

/// Batches concurrent stand-alone audit events into one transaction (group commit): under load
/// one fsync covers many events, and each caller still returns only after its event is durable.
pub struct AuditWriter {
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    done: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// The most events one commit carries.
const MAX_BATCH: usize = 512;

impl AuditWriter {
    pub(crate) fn start(pool: AnyPool) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(8192);
        let handle = tokio::spawn(async move {
            let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let result = write_batch(&pool, &batch).await;
                match result {
                    Ok(seqs) => {
                        for ((_, reply), seq) in batch.drain(..).zip(seqs) {
                            let _ = reply.send(Ok(seq));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "audit batch failed");
                        for (_, reply) in batch.drain(..) {
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
        let sender = self
            .sender
            .lock()
            .await
            .clone()
            .ok_or_else(|| StoreError::Backend("audit writer stopped".into()))?;
        let (reply, wait) = oneshot::channel();
        sender
            .send((event, reply))
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

async fn write_batch(pool: &AnyPool, batch: &[Job]) -> Result<Vec<i64>> {
    let mut tx = pool.begin().await?;
    let mut seqs = Vec::with_capacity(batch.len());
    for (event, _) in batch {
        seqs.push(insert(&mut tx, event).await?);
    }
    tx.commit().await?;
    Ok(seqs)
}

/// Filters for listing audit records.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub log_type: Option<String>,
    /// Checkpoint: records strictly after this sequence number, oldest first.
    pub from: Option<i64>,
    pub page: i64,
    pub per_page: i64,
    /// Newest first (search mode) when true.
    pub descending: bool,
}

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
    event.details = get_json(row, "details")?;
    Ok(AuditRecord {
        seq: get_i64(row, "seq")?,
        event,
    })
}

impl Store {
    pub async fn list_audit(&self, q: &AuditQuery) -> Result<Page<AuditRecord>> {
        let mut filters = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        for (col, val) in [
            ("user_id", &q.user_id),
            ("client_id", &q.client_id),
            ("log_type", &q.log_type),
        ] {
            if let Some(v) = val {
                binds.push(v.clone());
                filters.push(format!("{col} = ${}", binds.len()));
            }
        }
        if let Some(from) = q.from {
            binds.push(from.to_string());
            filters.push(format!("seq > CAST(${} AS BIGINT)", binds.len()));
        }
        let where_clause = if filters.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", filters.join(" AND "))
        };
        let order = if q.descending { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT * FROM audit_log {where_clause} ORDER BY seq {order} LIMIT {} OFFSET {}",
            q.per_page.clamp(0, 100),
            (q.page.max(0) * q.per_page.clamp(0, 100))
        );
        let mut query = sqlx::query(&sql);
        for b in &binds {
            query = query.bind(b);
        }
        let rows = query.fetch_all(&self.read).await?;
        let items = rows.iter().map(record).collect::<Result<Vec<_>>>()?;
        let count_sql = format!("SELECT COUNT(*) FROM audit_log {where_clause}");
        let mut count = sqlx::query_as::<_, (i64,)>(&count_sql);
        for b in &binds {
            count = count.bind(b);
        }
        let (total,) = count.fetch_one(&self.read).await?;
        Ok(Page { items, total })
    }

    pub async fn get_audit(&self, seq: i64) -> Result<AuditRecord> {
        let row = sqlx::query("SELECT * FROM audit_log WHERE seq = $1")
            .bind(seq)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        record(&row)
    }
}
