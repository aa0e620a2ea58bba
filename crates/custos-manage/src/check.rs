//! `POST /api/v2/check` and `/api/v2/check/batch`: "may this user do this?", answered
//! `{allowed, decision_id, reasons}` with HTTP 200 whatever the answer; 4xx only for a malformed
//! request. Evaluation, every part given must allow (default deny): the user exists and is not
//! blocked → `permission` is held, directly or through a role (on the API named by `audience`,
//! or on any API) → `relation` on `object` holds under the latest authorization model →
//! `path`/`method` rules. Relationship models and path rules are not written yet (issue 4's
//! next parts), so a check that names them is denied, saying so. Each decision is recorded
//! durably (`custos_access_allowed` / `custos_access_denied`, with the resource) before the
//! answer leaves.

use custos_domain::audit::{AuditEvent, EventType};
use serde_json::{json, Map, Value};

use crate::{ApiError, Manager};

const FIELDS: &[&str] = &[
    "user_id",
    "permission",
    "audience",
    "relation",
    "object",
    "path",
    "method",
    "context",
];

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_body(format!("Payload validation error: '{}'.", message.into()))
}

fn text<'a>(m: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 1024 => Ok(Some(s)),
        Some(_) => Err(bad(format!("{key} must be a non-empty string"))),
    }
}

impl Manager<'_> {
    /// One decision.
    pub async fn check(&self, body: &Value) -> Result<Value, ApiError> {
        let started = std::time::Instant::now();
        let m = body
            .as_object()
            .ok_or_else(|| bad("the body must be an object"))?;
        if let Some(k) = m.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(bad(format!("Additional properties not allowed: {k}")));
        }
        let user_id = text(m, "user_id")?.ok_or_else(|| bad("user_id is required"))?;
        let permission = text(m, "permission")?;
        let audience = text(m, "audience")?;
        let relation = text(m, "relation")?;
        let object = text(m, "object")?;
        let path = text(m, "path")?;
        let method = text(m, "method")?;
        if m.get("context").is_some_and(|c| !c.is_object()) {
            return Err(bad("context must be an object"));
        }
        if relation.is_some() != object.is_some() {
            return Err(bad("relation and object go together"));
        }
        if permission.is_none() && relation.is_none() && path.is_none() {
            return Err(bad(
                "give at least one of permission, relation and object, or path",
            ));
        }
        if audience.is_some() && permission.is_none() {
            return Err(bad("audience qualifies a permission"));
        }

        let mut reasons = Vec::new();
        let mut allowed = true;
        match self.provider.store.get_user(user_id).await {
            Err(_) => {
                allowed = false;
                reasons.push(json!({"step": "user", "allowed": false, "detail": "no such user"}));
            }
            Ok(u) if u.blocked => {
                allowed = false;
                reasons
                    .push(json!({"step": "user", "allowed": false, "detail": "user is blocked"}));
            }
            Ok(_) => reasons.push(json!({"step": "user", "allowed": true})),
        }
        if allowed {
            if let Some(p) = permission {
                let held = self.provider.store.user_permissions(user_id).await?;
                let source = held.iter().find(|h| {
                    h.permission.permission_name == p
                        && audience.is_none_or(|a| h.permission.resource_server_identifier == a)
                });
                match source {
                    Some(h) => reasons.push(json!({
                        "step": "permission", "allowed": true, "permission": p,
                        "audience": h.permission.resource_server_identifier,
                        "via": h.role.as_ref().map_or_else(|| json!({"source_type": "DIRECT"}), |(id, name)| json!({"source_type": "ROLE", "source_id": id, "source_name": name})),
                    })),
                    None => {
                        allowed = false;
                        reasons.push(json!({"step": "permission", "allowed": false, "permission": p, "audience": audience, "detail": "the user does not hold this permission"}));
                    }
                }
            }
        }
        if allowed && relation.is_some() {
            allowed = false;
            reasons.push(
                json!({"step": "relation", "allowed": false, "relation": relation, "object": object,
                "detail": "no authorization model has been written; relationships cannot hold"}),
            );
        }
        if allowed && path.is_some() {
            allowed = false;
            reasons.push(
                json!({"step": "path", "allowed": false, "path": path, "method": method,
                "detail": "no path rules are defined"}),
            );
        }

        let decision_id = format!("dec_{}", custos_crypto::random::alphanumeric(20)?);
        let t = if allowed {
            EventType::AccessAllowed
        } else {
            EventType::AccessDenied
        };
        let mut ev = AuditEvent::new(t, self.provider.now_ms());
        ev.client_id = Some(self.actor.client_id.clone());
        ev.ip = Some(self.actor.meta.ip.clone());
        ev.user_agent = Some(self.actor.meta.user_agent.clone());
        ev.user_id = Some(user_id.to_owned());
        ev.audience = audience.map(str::to_owned);
        ev.resource = object.or(path).map(str::to_owned);
        ev.details = json!({
            "decision_id": decision_id,
            "request": body,
            "reasons": reasons,
            "latency_us": started.elapsed().as_micros() as u64,
        });
        // Evidence first: the answer leaves only once its record is durable.
        self.provider.store.append_audit(ev).await?;
        Ok(json!({"allowed": allowed, "decision_id": decision_id, "reasons": reasons}))
    }

    /// Several decisions: `{checks: [...]}` → `{results: [...]}` in the same order.
    pub async fn check_batch(&self, body: &Value) -> Result<Value, ApiError> {
        let checks = body
            .as_object()
            .filter(|m| m.len() == 1)
            .and_then(|m| m.get("checks"))
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty() && a.len() <= 100)
            .ok_or_else(|| bad("the body must be {checks: [...]} with 1 to 100 checks"))?;
        let mut results = Vec::with_capacity(checks.len());
        for c in checks {
            results.push(self.check(c).await?);
        }
        Ok(json!({"results": results}))
    }
}
