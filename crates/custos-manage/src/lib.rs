//! The Management API v2 as a service: validation, Auth0's JSON shapes, and the audit record
//! of every write, shared by the HTTP API and the `custos` CLI so both behave identically.
//!
//! Inputs and outputs are JSON values in Auth0's shapes; errors are [`ApiError`]s carrying
//! Auth0's envelope (`statusCode`, `error`, `message`, `errorCode`). This crate never knows
//! HTTP framing; the server only routes, authorises and renders.

mod actions;
pub mod authz;
mod body;
mod check;
mod clients;
mod error;
mod grants;
mod jobs;
mod keys;
mod log_streams;
mod logs;
mod organizations;
mod resource_servers;
mod roles;
mod rules;
mod users;

use custos_domain::audit::{AuditEvent, EventType};
use custos_oidc::{Provider, RequestMeta};
use serde_json::{json, Value};

pub use authz::Authz;
pub use error::ApiError;
pub use logs::LogQuery;

/// Offset pagination as Auth0 does it: `page` from 0, `per_page` up to 100 (default 50),
/// `include_totals` wrapping the list.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub page: i64,
    pub per_page: i64,
    pub include_totals: bool,
    /// Checkpoint paging (`from`/`take`): answers are `{<key>: [...], next}`, with `next` the
    /// `from` of the following page, absent on the last.
    pub checkpoint: bool,
}

impl Default for Paging {
    fn default() -> Self {
        Self {
            page: 0,
            per_page: 50,
            include_totals: false,
            checkpoint: false,
        }
    }
}

impl Paging {
    /// Validates raw query values.
    pub fn parse(
        page: Option<&str>,
        per_page: Option<&str>,
        include_totals: Option<&str>,
    ) -> Result<Self, ApiError> {
        let num = |v: Option<&str>, name: &str, max: i64, default: i64| -> Result<i64, ApiError> {
            match v {
                None | Some("") => Ok(default),
                Some(v) => v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (0..=max).contains(n))
                    .ok_or_else(|| ApiError::bad_query(format!("Query validation error: '{name}' must be an integer between 0 and {max}"))),
            }
        };
        let include_totals = match include_totals {
            None | Some("") | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(ApiError::bad_query(
                    "Query validation error: 'include_totals' must be true or false",
                ))
            }
        };
        Ok(Self {
            page: num(page, "page", 100_000, 0)?,
            per_page: num(per_page, "per_page", 100, 50)?,
            include_totals,
            checkpoint: false,
        })
    }

    /// [`Paging::parse`], or checkpoint paging when `from` or `take` is given (Auth0's
    /// `take` is 1 to 100, default 50; `from` is the opaque `next` of the previous page).
    pub fn parse_query(
        page: Option<&str>,
        per_page: Option<&str>,
        include_totals: Option<&str>,
        from: Option<&str>,
        take: Option<&str>,
    ) -> Result<Self, ApiError> {
        let from = from.filter(|f| !f.is_empty());
        let take = take.filter(|t| !t.is_empty());
        if from.is_none() && take.is_none() {
            return Self::parse(page, per_page, include_totals);
        }
        let take = match take {
            None => 50,
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
        let page = match from {
            None => 0,
            Some(f) => f
                .strip_prefix("p")
                .and_then(|n| n.parse::<i64>().ok())
                .filter(|n| (0..=1_000_000).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_query(
                        "Query validation error: 'from' is not a checkpoint this API gave",
                    )
                })?,
        };
        Ok(Self {
            page,
            per_page: take,
            include_totals: false,
            checkpoint: true,
        })
    }

    /// Auth0's list shape: the bare array, or `{start, limit, length, total, <key>}`.
    pub fn wrap(&self, key: &str, items: Vec<Value>, total: i64) -> Value {
        if self.checkpoint {
            let mut v = json!({ key: items });
            if (self.page + 1) * self.per_page < total {
                v["next"] = json!(format!("p{}", self.page + 1));
            }
            return v;
        }
        if self.include_totals {
            json!({
                "start": self.page * self.per_page,
                "limit": self.per_page,
                "length": items.len(),
                "total": total,
                key: items,
            })
        } else {
            Value::Array(items)
        }
    }
}

/// Who performs management operations, for the audit trail.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The client whose token authorised the call (or `cli` for the local command line).
    pub client_id: String,
    pub meta: RequestMeta,
}

/// The Management API service for one actor.
pub struct Manager<'a> {
    provider: &'a Provider,
    actor: Actor,
    /// The relationship engine, for the operations that need it.
    authz: Option<&'a std::sync::Arc<Authz>>,
}

impl<'a> Manager<'a> {
    pub fn new(provider: &'a Provider, actor: Actor) -> Self {
        Self {
            provider,
            actor,
            authz: None,
        }
    }

    /// With the relationship engine (checks, models, tuples).
    pub fn with_authz(mut self, authz: &'a std::sync::Arc<Authz>) -> Self {
        self.authz = Some(authz);
        self
    }

    /// The `sapi` record of a successful write; `action` is the scope it needed.
    fn success_event(&self, action: &str, details: Value) -> AuditEvent {
        let mut ev = AuditEvent::new(EventType::Sapi, self.provider.now_ms());
        ev.description = format!("Management API: {action}");
        ev.client_id = Some(self.actor.client_id.clone());
        ev.ip = Some(self.actor.meta.ip.clone());
        ev.user_agent = Some(self.actor.meta.user_agent.clone());
        ev.details = json!({"action": action, "target": details});
        ev
    }

    /// Records a refused write (`fapi`). Reads that fail are not recorded.
    pub async fn record_failure(&self, action: &str, error: &ApiError) {
        let mut ev = AuditEvent::new(EventType::Fapi, self.provider.now_ms());
        ev.description = format!("Management API: {action} refused: {}", error.message);
        ev.client_id = Some(self.actor.client_id.clone());
        ev.ip = Some(self.actor.meta.ip.clone());
        ev.user_agent = Some(self.actor.meta.user_agent.clone());
        ev.details =
            json!({"action": action, "statusCode": error.status, "errorCode": error.error_code});
        if let Err(e) = self.provider.store.append_audit(ev).await {
            tracing::error!(error = %e, "could not record failed management operation");
        }
    }
}
