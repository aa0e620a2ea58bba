//! `/api/v2/logs`: the audit trail in Auth0's log shape.

use custos_domain::audit::AuditRecord;
use custos_domain::iso8601;
use custos_store::AuditQuery;
use serde_json::{json, Value};

use crate::{ApiError, Manager, Paging};

/// Query parameters of `GET /api/v2/logs`.
#[derive(Debug, Default, Clone)]
pub struct LogQuery {
    /// Checkpoint mode: records after this `log_id`, oldest first, `take` at a time.
    pub from: Option<String>,
    pub take: Option<String>,
    pub sort: Option<String>,
    pub user_id: Option<String>,
}

pub(crate) fn log_json(r: &AuditRecord) -> Value {
    let e = &r.event;
    let mut v = json!({
        "log_id": r.log_id(),
        "date": iso8601(e.date),
        "type": e.event_type.code(),
        "description": e.description,
        "details": e.details,
    });
    for (k, val) in [
        ("client_id", &e.client_id),
        ("client_name", &e.client_name),
        ("user_id", &e.user_id),
        ("user_name", &e.user_name),
        ("connection", &e.connection),
        ("audience", &e.audience),
        ("scope", &e.scope),
        ("ip", &e.ip),
        ("user_agent", &e.user_agent),
    ] {
        if let Some(val) = val {
            v[k] = json!(val);
        }
    }
    v
}

fn parse_log_id(id: &str) -> Option<i64> {
    (!id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit()))
        .then(|| id.parse().ok())
        .flatten()
}

impl Manager<'_> {
    pub async fn list_logs(&self, q: &LogQuery, paging: Paging) -> Result<Value, ApiError> {
        let mut query = AuditQuery {
            user_id: q.user_id.clone(),
            page: paging.page,
            per_page: paging.per_page,
            descending: true,
            ..Default::default()
        };
        if let Some(from) = q.from.as_deref() {
            // Checkpoint mode ignores paging and sorting, as Auth0 does.
            query.from = Some(parse_log_id(from).ok_or_else(|| {
                ApiError::bad_query("Query validation error: 'from' must be a log_id")
            })?);
            query.page = 0;
            query.per_page = match q.take.as_deref() {
                None | Some("") => 50,
                Some(t) => t
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_query(
                            "Query validation error: 'take' must be an integer between 1 and 100",
                        )
                    })?,
            };
            query.descending = false;
            let page = self.provider.store.list_audit(&query).await?;
            return Ok(Value::Array(page.items.iter().map(log_json).collect()));
        }
        match q.sort.as_deref() {
            None | Some("") | Some("date:-1") => {}
            Some("date:1") => query.descending = false,
            Some(_) => {
                return Err(ApiError::bad_query(
                    "Query validation error: 'sort' must be date:1 or date:-1",
                ))
            }
        }
        let page = self.provider.store.list_audit(&query).await?;
        Ok(paging.wrap(
            "logs",
            page.items.iter().map(log_json).collect(),
            page.total,
        ))
    }

    pub async fn get_log(&self, id: &str) -> Result<Value, ApiError> {
        let seq = parse_log_id(id)
            .ok_or_else(|| ApiError::not_found("log not found", "inexistent_log"))?;
        let r = self
            .provider
            .store
            .get_audit(seq)
            .await
            .map_err(|_| ApiError::not_found("log not found", "inexistent_log"))?;
        Ok(log_json(&r))
    }
}
