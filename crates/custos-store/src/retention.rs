//! Retention of the audit log: the policy (how long records stay in the database, legal hold)
//! and the archives that old records moved to. An archive row is what makes a purge legitimate:
//! verification accepts missing records only where an archive row accounts for them.

use crate::{get_i64, get_opt_str, get_str, Result, Store, StoreError, Tx};

/// The retention policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPolicy {
    pub retention_days: i64,
    pub legal_hold: bool,
    pub hold_reason: Option<String>,
    pub updated_at: i64,
}

/// Records moved out of the database into a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRow {
    pub first_seq: i64,
    pub last_seq: i64,
    /// Chain hash of the record before `first_seq`.
    pub prev_hash: String,
    /// Chain hash of `last_seq`.
    pub last_hash: String,
    pub records: i64,
    /// File name inside the archive directory.
    pub file: String,
    /// SHA-256 (hex) of the file.
    pub sha256: String,
    pub created_at: i64,
}

impl Store {
    pub async fn audit_policy(&self) -> Result<AuditPolicy> {
        let row = sqlx::query("SELECT retention_days, legal_hold, hold_reason, updated_at FROM audit_policy WHERE id = 1")
            .fetch_one(&self.read)
            .await?;
        Ok(AuditPolicy {
            retention_days: get_i64(&row, "retention_days")?,
            legal_hold: get_i64(&row, "legal_hold")? != 0,
            hold_reason: get_opt_str(&row, "hold_reason")?,
            updated_at: get_i64(&row, "updated_at")?,
        })
    }

    /// Every archive, oldest first.
    pub async fn audit_archives(&self) -> Result<Vec<ArchiveRow>> {
        let rows = sqlx::query("SELECT first_seq, last_seq, prev_hash, last_hash, records, file, sha256, created_at FROM audit_archives ORDER BY first_seq")
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ArchiveRow {
                    first_seq: get_i64(r, "first_seq")?,
                    last_seq: get_i64(r, "last_seq")?,
                    prev_hash: get_str(r, "prev_hash")?,
                    last_hash: get_str(r, "last_hash")?,
                    records: get_i64(r, "records")?,
                    file: get_str(r, "file")?,
                    sha256: get_str(r, "sha256")?,
                    created_at: get_i64(r, "created_at")?,
                })
            })
            .collect()
    }
}

impl Tx {
    pub async fn set_audit_policy(&mut self, p: &AuditPolicy) -> Result<()> {
        sqlx::query("UPDATE audit_policy SET retention_days = $1, legal_hold = $2, hold_reason = $3, updated_at = $4 WHERE id = 1")
            .bind(p.retention_days)
            .bind(i64::from(p.legal_hold))
            .bind(&p.hold_reason)
            .bind(p.updated_at)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Records the archive and deletes its records from the log. Refused under legal hold:
    /// the check runs in this transaction, so a hold set concurrently wins.
    pub async fn purge_archived(&mut self, a: &ArchiveRow) -> Result<u64> {
        let (hold,): (i64,) = sqlx::query_as("SELECT legal_hold FROM audit_policy WHERE id = 1")
            .fetch_one(self.conn())
            .await?;
        if hold != 0 {
            return Err(StoreError::Conflict("legal hold"));
        }
        sqlx::query("INSERT INTO audit_archives (first_seq, last_seq, prev_hash, last_hash, records, file, sha256, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(a.first_seq)
            .bind(a.last_seq)
            .bind(&a.prev_hash)
            .bind(&a.last_hash)
            .bind(a.records)
            .bind(&a.file)
            .bind(&a.sha256)
            .bind(a.created_at)
            .execute(self.conn())
            .await?;
        let done = sqlx::query("DELETE FROM audit_log WHERE seq >= $1 AND seq <= $2")
            .bind(a.first_seq)
            .bind(a.last_seq)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected())
    }
}
