//! Relationship-based authorization data: model versions and relationship tuples, plus the
//! change feed that keeps every node's in-memory index coherent with the database.
//!
//! The feed is the audit log itself: each change commits with a `custos_authz_changed` (tuples,
//! models) or `custos_rbac_changed` record, whose sequence number is gap-free and in commit order.
//! A node loads a consistent snapshot (tuples, models and the audit head they correspond to),
//! then applies the records after that head in order. On PostgreSQL each such commit also sends
//! a `NOTIFY custos_authz`, so other nodes catch up at once rather than at their next poll.

use sqlx::Row as _;

use crate::{Dialect, Result, Store, StoreError, Tx};

/// The PostgreSQL notification channel for authorization changes.
pub const AUTHZ_CHANNEL: &str = "custos_authz";

/// A stored model version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRow {
    pub id: String,
    pub schema_version: String,
    pub model: serde_json::Value,
    pub created_at: i64,
}

/// A relationship tuple as stored: `subject` is the user (`user:…`, `type:*` or
/// `type:id#relation`), `object` is `type:id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TupleRow {
    pub subject: String,
    pub relation: String,
    pub object: String,
}

/// Everything the in-memory index starts from, read in one snapshot.
#[derive(Debug, Default)]
pub struct AuthzSnapshot {
    pub models: Vec<ModelRow>,
    pub tuples: Vec<TupleRow>,
    /// The audit sequence number the snapshot reflects: apply feed records after it.
    pub head: i64,
}

/// Every RBAC fact, for the in-memory index: `(role, api, permission)`,
/// `(user, role, organization)` and `(user, api, permission)`.
#[derive(Debug, Default)]
pub struct RbacSnapshot {
    /// `(role id, role name)`.
    pub roles: Vec<(String, String)>,
    pub role_permissions: Vec<(String, String, String)>,
    pub assignments: Vec<(String, String, Option<String>)>,
    pub user_permissions: Vec<(String, String, String)>,
}

/// One change-feed record: its sequence number, type code and details.
#[derive(Debug, Clone)]
pub struct FeedRecord {
    pub seq: i64,
    pub log_type: String,
    pub details: serde_json::Value,
}

fn model_row(r: &sqlx::any::AnyRow) -> Result<ModelRow> {
    let text: String = r.try_get("model")?;
    Ok(ModelRow {
        id: r.try_get("id")?,
        schema_version: r.try_get("schema_version")?,
        model: serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("authz_models.model: {e}")))?,
        created_at: r.try_get("created_at")?,
    })
}

impl Tx {
    pub async fn insert_authz_model(&mut self, m: &ModelRow) -> Result<()> {
        sqlx::query("INSERT INTO authz_models (id, schema_version, model, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&m.id)
            .bind(&m.schema_version)
            .bind(m.model.to_string())
            .bind(m.created_at)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Writes tuples (present ones stay as they are); returns how many were new.
    pub async fn write_tuples(&mut self, tuples: &[TupleRow], at: i64) -> Result<u64> {
        let mut added = 0;
        for t in tuples {
            let done = sqlx::query("INSERT INTO authz_tuples (object, relation, subject, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (object, relation, subject) DO NOTHING")
                .bind(&t.object)
                .bind(&t.relation)
                .bind(&t.subject)
                .bind(at)
                .execute(self.conn())
                .await?;
            added += done.rows_affected();
        }
        Ok(added)
    }

    /// Deletes tuples; returns how many were there.
    pub async fn delete_tuples(&mut self, tuples: &[TupleRow]) -> Result<u64> {
        let mut removed = 0;
        for t in tuples {
            let done = sqlx::query(
                "DELETE FROM authz_tuples WHERE object = $1 AND relation = $2 AND subject = $3",
            )
            .bind(&t.object)
            .bind(&t.relation)
            .bind(&t.subject)
            .execute(self.conn())
            .await?;
            removed += done.rows_affected();
        }
        Ok(removed)
    }

    /// Tells other nodes (PostgreSQL) that authorization data changed, at commit.
    pub async fn notify_authz(&mut self) -> Result<()> {
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(AUTHZ_CHANNEL)
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }
}

impl Store {
    /// Model versions, oldest first.
    pub async fn authz_models(&self) -> Result<Vec<ModelRow>> {
        let rows = sqlx::query("SELECT * FROM authz_models ORDER BY created_at, id")
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(model_row).collect()
    }

    pub async fn authz_model(&self, id: &str) -> Result<ModelRow> {
        let row = sqlx::query("SELECT * FROM authz_models WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        model_row(&row)
    }

    /// Tuples, models and the audit head in one consistent snapshot.
    pub async fn authz_snapshot(&self) -> Result<AuthzSnapshot> {
        let mut tx = self.read.begin().await?;
        if self.dialect == Dialect::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        // The head first: on SQLite the first read fixes the snapshot; on PostgreSQL the
        // transaction's first statement does.
        let (head,): (i64,) = sqlx::query_as("SELECT seq FROM audit_head WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let models = sqlx::query("SELECT * FROM authz_models ORDER BY created_at, id")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(model_row)
            .collect::<Result<Vec<_>>>()?;
        let tuples: Vec<(String, String, String)> =
            sqlx::query_as("SELECT subject, relation, object FROM authz_tuples")
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(AuthzSnapshot {
            models,
            tuples: tuples
                .into_iter()
                .map(|(subject, relation, object)| TupleRow {
                    subject,
                    relation,
                    object,
                })
                .collect(),
            head,
        })
    }

    /// Every role grant, role assignment (global and per organization) and direct grant.
    pub async fn rbac_snapshot(&self) -> Result<RbacSnapshot> {
        let roles = sqlx::query_as("SELECT id, name FROM roles")
            .fetch_all(&self.read)
            .await?;
        let role_permissions = sqlx::query_as(
            "SELECT role_id, resource_server_identifier, permission_name FROM role_permissions",
        )
        .fetch_all(&self.read)
        .await?;
        let assignments = sqlx::query_as(
            "SELECT user_id, role_id, CAST(NULL AS TEXT) FROM user_roles \
             UNION ALL SELECT user_id, role_id, organization_id FROM organization_member_roles",
        )
        .fetch_all(&self.read)
        .await?;
        let user_permissions = sqlx::query_as(
            "SELECT user_id, resource_server_identifier, permission_name FROM user_permissions",
        )
        .fetch_all(&self.read)
        .await?;
        Ok(RbacSnapshot {
            roles,
            role_permissions,
            assignments,
            user_permissions,
        })
    }

    /// Change-feed records (`custos_authz_changed`, `custos_rbac_changed`) with `after < seq <=
    /// through`, in order, at most `limit`.
    pub async fn authz_feed(
        &self,
        after: i64,
        through: i64,
        limit: i64,
    ) -> Result<Vec<FeedRecord>> {
        let rows: Vec<(i64, String, Option<String>)> = sqlx::query_as(
            "SELECT seq, log_type, details FROM audit_log WHERE seq > $1 AND seq <= $2 AND log_type IN ('custos_authz_changed', 'custos_rbac_changed') ORDER BY seq LIMIT $3",
        )
        .bind(after)
        .bind(through)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|(seq, log_type, details)| {
                let details = match details {
                    Some(text) => serde_json::from_str(&text)
                        .map_err(|e| StoreError::Corrupt(format!("audit_log.details: {e}")))?,
                    None => serde_json::Value::Null,
                };
                Ok(FeedRecord {
                    seq,
                    log_type,
                    details,
                })
            })
            .collect()
    }

    /// The newest committed audit sequence number.
    pub async fn audit_head_seq(&self) -> Result<i64> {
        let (head,): (i64,) = sqlx::query_as("SELECT seq FROM audit_head WHERE id = 1")
            .fetch_one(&self.read)
            .await?;
        Ok(head)
    }

    /// Wakes on other nodes' authorization changes (PostgreSQL); `None` on SQLite, where one
    /// process owns the database file.
    pub async fn authz_notifications(&self) -> Result<Option<AuthzNotifications>> {
        let Some(url) = &self.pg_url else {
            return Ok(None);
        };
        let mut listener = sqlx::postgres::PgListener::connect(url).await?;
        listener.listen(AUTHZ_CHANNEL).await?;
        Ok(Some(AuthzNotifications(listener)))
    }
}

/// A live `LISTEN custos_authz`.
pub struct AuthzNotifications(sqlx::postgres::PgListener);

impl AuthzNotifications {
    /// Waits for the next notification (reconnecting as sqlx does after a lost connection).
    pub async fn recv(&mut self) -> Result<()> {
        self.0.recv().await?;
        Ok(())
    }
}
