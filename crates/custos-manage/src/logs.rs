//! `/api/v2/logs`: the audit trail in Auth0's log shape, with Auth0's two modes: checkpoint
//! (`from`/`take`, oldest first, for SIEM pulls) and search (`q` in the Lucene subset, `page`/
//! `per_page`, `sort`, `fields`/`include_fields`, `include_totals`).

use custos_audit::format::log_json;
use custos_store::search::{parse_and_translate, SearchError, LOG_DEFAULT_FIELDS, LOG_FIELDS};
use custos_store::AuditQuery;
use serde_json::{Map, Value};

use crate::{ApiError, Manager, Paging};

/// Query parameters of `GET /api/v2/logs`.
#[derive(Debug, Default, Clone)]
pub struct LogQuery {
    /// Checkpoint mode: records after this `log_id`, oldest first, `take` at a time.
    pub from: Option<String>,
    pub take: Option<String>,
    pub sort: Option<String>,
    pub q: Option<String>,
    pub fields: Option<String>,
    pub include_fields: Option<String>,
    pub user_id: Option<String>,
}

/// Longest `q` accepted; Auth0 answers 414 beyond its limit, Custos 400 naming the problem.
const MAX_Q: usize = 2048;

fn parse_log_id(id: &str) -> Option<i64> {
    (!id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit()))
        .then(|| id.parse().ok())
        .flatten()
}

/// Translates `q` for the audit query; errors are 400s naming the problem.
pub fn search_clause(q: &str) -> Result<(String, Vec<custos_store::search::Bind>), ApiError> {
    if q.len() > MAX_Q {
        return Err(ApiError::bad_query(format!(
            "Query validation error: 'q' is longer than {MAX_Q} characters"
        )));
    }
    parse_and_translate(q, LOG_FIELDS, LOG_DEFAULT_FIELDS, 1).map_err(|e| match e {
        SearchError::Misconfigured { .. } => {
            tracing::error!(error = %e, "log search misconfigured");
            ApiError::internal()
        }
        other => ApiError::bad_query(format!("Query validation error: 'q': {other}")),
    })
}

/// Applies Auth0's `fields` / `include_fields` projection.
fn project(v: Value, fields: &Option<Vec<String>>, include: bool) -> Value {
    let (Some(fields), Value::Object(map)) = (fields, &v) else {
        return v;
    };
    let out: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| fields.iter().any(|f| f == *k) == include)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(out)
}

impl Manager<'_> {
    pub async fn list_logs(&self, q: &LogQuery, paging: Paging) -> Result<Value, ApiError> {
        let fields = q.fields.as_deref().filter(|f| !f.is_empty()).map(|f| {
            f.split(',')
                .map(|s| s.trim().to_owned())
                .collect::<Vec<_>>()
        });
        let include = match q.include_fields.as_deref() {
            None | Some("") | Some("true") => true,
            Some("false") => false,
            Some(_) => {
                return Err(ApiError::bad_query(
                    "Query validation error: 'include_fields' must be true or false",
                ))
            }
        };
        let mut query = AuditQuery {
            user_id: q.user_id.clone(),
            page: paging.page,
            per_page: paging.per_page,
            descending: true,
            count: paging.include_totals,
            ..Default::default()
        };
        if let Some(from) = q.from.as_deref() {
            // Checkpoint mode ignores search, paging and sorting, as Auth0 does.
            query.from = Some(parse_log_id(from).ok_or_else(|| {
                ApiError::bad_query("Query validation error: 'from' must be a log_id")
            })?);
            query.page = 0;
            query.count = false;
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
            return Ok(Value::Array(
                page.items
                    .iter()
                    .map(|r| project(log_json(r), &fields, include))
                    .collect(),
            ));
        }
        if let Some(text) = q.q.as_deref().filter(|t| !t.trim().is_empty()) {
            query.search = Some(search_clause(text)?);
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
            page.items
                .iter()
                .map(|r| project(log_json(r), &fields, include))
                .collect(),
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
