//! Log streams: their configuration (the sink sealed, since it holds credentials), status and
//! durable delivery cursor. Cursor and status updates are delivery bookkeeping, not tenant
//! changes, so they are written without audit records; creating, changing and deleting a
//! stream are audited like any configuration change.

use sqlx::any::AnyRow;

use crate::{get_i64, get_opt_i64, get_opt_str, get_str, Result, Store, StoreError, Tx};

/// A log stream as stored.
#[derive(Debug, Clone)]
pub struct StreamRow {
    pub id: String,
    pub name: String,
    pub stream_type: String,
    /// `active`, `paused` or `suspended`.
    pub status: String,
    /// The sink configuration JSON, sealed under the master key.
    pub sealed_sink: String,
    /// JSON array of `{type: "category", name}` filters; empty means every event.
    pub filters: String,
    /// Every record with `seq <= cursor_seq` has been delivered (or filtered out).
    pub cursor_seq: i64,
    pub delivered: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub failing_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

fn row(r: &AnyRow) -> Result<StreamRow> {
    Ok(StreamRow {
        id: get_str(r, "id")?,
        name: get_str(r, "name")?,
        stream_type: get_str(r, "stream_type")?,
        status: get_str(r, "status")?,
        sealed_sink: get_str(r, "sealed_sink")?,
        filters: get_str(r, "filters")?,
        cursor_seq: get_i64(r, "cursor_seq")?,
        delivered: get_i64(r, "delivered")?,
        last_error: get_opt_str(r, "last_error")?,
        last_error_at: get_opt_i64(r, "last_error_at")?,
        failing_since: get_opt_i64(r, "failing_since")?,
        created_at: get_i64(r, "created_at")?,
        updated_at: get_i64(r, "updated_at")?,
    })
}

impl Tx {
    pub async fn insert_stream(&mut self, s: &StreamRow) -> Result<()> {
        sqlx::query("INSERT INTO log_streams (id, name, stream_type, status, sealed_sink, filters, cursor_seq, delivered, last_error, last_error_at, failing_since, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, NULL, NULL, NULL, $8, $9)")
            .bind(&s.id)
            .bind(&s.name)
            .bind(&s.stream_type)
            .bind(&s.status)
            .bind(&s.sealed_sink)
            .bind(&s.filters)
            .bind(s.cursor_seq)
            .bind(s.created_at)
            .bind(s.updated_at)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Rewrites the configurable fields. Resuming a stream clears its failure state.
    pub async fn update_stream(&mut self, s: &StreamRow) -> Result<()> {
        let done = sqlx::query("UPDATE log_streams SET name = $1, status = $2, sealed_sink = $3, filters = $4, updated_at = $5, failing_since = CASE WHEN $2 = 'active' THEN NULL ELSE failing_since END WHERE id = $6")
            .bind(&s.name)
            .bind(&s.status)
            .bind(&s.sealed_sink)
            .bind(&s.filters)
            .bind(s.updated_at)
            .bind(&s.id)
            .execute(self.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn delete_stream(&mut self, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM log_streams WHERE id = $1")
            .bind(id)
            .execute(self.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn get_stream_for_update(&mut self, id: &str) -> Result<StreamRow> {
        let r = sqlx::query("SELECT * FROM log_streams WHERE id = $1")
            .bind(id)
            .fetch_optional(self.conn())
            .await?
            .ok_or(StoreError::NotFound)?;
        row(&r)
    }
}

impl Store {
    pub async fn list_streams(&self) -> Result<Vec<StreamRow>> {
        let rows = sqlx::query("SELECT * FROM log_streams ORDER BY created_at, id")
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(row).collect()
    }

    pub async fn get_stream(&self, id: &str) -> Result<StreamRow> {
        let r = sqlx::query("SELECT * FROM log_streams WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        row(&r)
    }

    /// Moves the cursor forward after a successful delivery (never backwards), and clears the
    /// failure state. Returns false if the stream no longer exists.
    pub async fn advance_stream(&self, id: &str, cursor: i64, delivered: i64) -> Result<bool> {
        // `updated_at` is the configuration's version (workers restart when it changes), so
        // delivery bookkeeping leaves it alone.
        let done = sqlx::query("UPDATE log_streams SET cursor_seq = $1, delivered = delivered + $2, failing_since = NULL WHERE id = $3 AND cursor_seq <= $1")
            .bind(cursor)
            .bind(delivered)
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records a delivery failure; `suspend` moves an active stream to `suspended`.
    pub async fn stream_failed(
        &self,
        id: &str,
        error: &str,
        now: i64,
        suspend: bool,
    ) -> Result<()> {
        sqlx::query("UPDATE log_streams SET last_error = $1, last_error_at = $2, failing_since = COALESCE(failing_since, $2), status = CASE WHEN $3 = 1 AND status = 'active' THEN 'suspended' ELSE status END WHERE id = $4")
            .bind(error)
            .bind(now)
            .bind(i64::from(suspend))
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
