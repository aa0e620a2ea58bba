//! `POST /api/v2/check` and `/api/v2/check/batch`: "may this user do this?", answered
//! `{allowed, decision_id, reasons}` with HTTP 200 whatever the answer; 4xx only for a malformed
//! request. Evaluation, every part given must allow (default deny): the user exists and is not
//! blocked → `permission` is held, directly or through a role (on the API named by `audience`,
//! or on any API) → `relation` on `object` holds under the latest authorization model →
//! customers' enabled Rules and `access-check` Actions (the request body is their
//! `context.request.body`) → `path`/`method`, which only scripts decide (with none, a check
//! naming a path is denied, saying so). The relationship step asks `user:<user_id>` under the latest model (or
//! `authorization_model_id`), with `contextual_tuples` for this question only. With
//! `context.organization_id`, the user must be a member and the roles held there count too.
//! Each decision is recorded durably (`custos_access_allowed` / `custos_access_denied`, with
//! the resource), in one transaction with the records of the scripts that ran, before the
//! answer leaves.

use custos_domain::audit::{AuditEvent, EventType};
use serde_json::{json, Map, Value};

use crate::authz::PermissionSource;
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
    "contextual_tuples",
    "authorization_model_id",
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
        let organization = match m.get("context").and_then(|c| c.get("organization_id")) {
            None | Some(Value::Null) => None,
            Some(Value::String(o)) if !o.is_empty() => Some(o.as_str()),
            Some(_) => return Err(bad("context.organization_id must be a string")),
        };
        let contextual = crate::authz::tuples_of(
            m.get("contextual_tuples"),
            "contextual_tuples",
            crate::authz::MAX_CONTEXTUAL_TUPLES,
        )?;
        let model_id = text(m, "authorization_model_id")?;
        if relation.is_none() && (!contextual.is_empty() || model_id.is_some()) {
            return Err(bad(
                "contextual_tuples and authorization_model_id qualify a relation check",
            ));
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

        let authz = self.authz.ok_or_else(|| {
            tracing::error!("a check reached a Manager without the authorization engine");
            ApiError::internal()
        })?;
        let mut reasons = Vec::new();
        let mut allowed = true;
        match authz.user_state(user_id).await? {
            None => {
                allowed = false;
                reasons.push(json!({"step": "user", "allowed": false, "detail": "no such user"}));
            }
            Some(true) => {
                allowed = false;
                reasons
                    .push(json!({"step": "user", "allowed": false, "detail": "user is blocked"}));
            }
            Some(false) => reasons.push(json!({"step": "user", "allowed": true})),
        }
        if allowed {
            if let Some(org) = organization {
                if self.provider.store.is_member(org, user_id).await? {
                    reasons.push(
                        json!({"step": "organization", "allowed": true, "organization_id": org}),
                    );
                } else {
                    allowed = false;
                    reasons.push(json!({"step": "organization", "allowed": false, "organization_id": org, "detail": "the user is not a member of the organization"}));
                }
            }
        }
        if allowed {
            if let Some(p) = permission {
                match authz.permission(user_id, p, audience, organization).await? {
                    Some((source, role_name)) => reasons.push(json!({
                        "step": "permission", "allowed": true, "permission": p,
                        "audience": audience,
                        "via": match source {
                            PermissionSource::Direct => json!({"source_type": "DIRECT"}),
                            PermissionSource::Role(id) => json!({"source_type": "ROLE", "source_id": id, "source_name": role_name}),
                        },
                    })),
                    None => {
                        allowed = false;
                        reasons.push(json!({"step": "permission", "allowed": false, "permission": p, "audience": audience, "detail": "the user does not hold this permission"}));
                    }
                }
            }
        }
        if let (true, Some(rel), Some(obj)) = (allowed, relation, object) {
            authz.fresh().await?;
            let d = authz.check_relation(
                model_id,
                &format!("user:{user_id}"),
                rel,
                obj,
                &contextual,
            )?;
            allowed = d.allowed;
            reasons.push(
                json!({"step": "relation", "allowed": d.allowed, "relation": rel,
                "object": obj, "authorization_model_id": d.model_id, "path": d.reasons}),
            );
        }
        // Customers' Rules and `access-check` Actions, with the request body as
        // `context.request.body`; they decide paths, and may deny anything.
        let mut executions = Vec::new();
        let mut scripts_allowed = false;
        let extensions = &self.provider.extensions;
        if allowed && extensions.active("access-check").await? {
            // Both from memory: the user cache and the RBAC index.
            let user = authz.user(user_id).await?.ok_or_else(ApiError::internal)?;
            let roles = authz.role_names_of(user_id, organization).await?;
            let organization = match organization {
                Some(id) => self
                    .provider
                    .store
                    .get_organization(id)
                    .await
                    .ok()
                    .map(|o| json!({"id": o.id, "name": o.name, "display_name": o.display_name, "metadata": o.metadata})),
                None => None,
            };
            let input = custos_rules::CheckInput {
                user: (*user).clone(),
                client_id: self.actor.client_id.clone(),
                client_name: self.actor.client_id.clone(),
                ip: self.actor.meta.ip.clone(),
                user_agent: self.actor.meta.user_agent.clone(),
                body: body.clone(),
                organization,
                roles,
            };
            let result = extensions
                .access_check(&input, self.provider.now_ms())
                .await?;
            let ran = result.records.len();
            match &result.verdict {
                custos_rules::Verdict::Allow => {
                    scripts_allowed = true;
                    reasons.push(json!({"step": "rules", "allowed": true, "executions": ran}));
                }
                custos_rules::Verdict::Deny { error, description } => {
                    allowed = false;
                    reasons.push(json!({"step": "rules", "allowed": false, "executions": ran,
                        "error": error, "detail": description}));
                }
            }
            executions = result.records;
        }
        if allowed && path.is_some() {
            if scripts_allowed {
                reasons.push(json!({"step": "path", "allowed": true, "path": path,
                    "method": method, "detail": "allowed by rules"}));
            } else {
                allowed = false;
                reasons.push(
                    json!({"step": "path", "allowed": false, "path": path, "method": method,
                    "detail": "no rule or action decides paths"}),
                );
            }
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
        ev.organization_id = organization.map(str::to_owned);
        ev.resource = object.or(path).map(str::to_owned);
        ev.details = json!({
            "decision_id": decision_id,
            "request": body,
            "reasons": reasons,
            "latency_us": started.elapsed().as_micros() as u64,
        });
        // Evidence first: the answer leaves only once its record is durable (with the
        // records of the scripts that took part, in the same transaction).
        executions.push(ev);
        self.provider.store.append_audits(executions).await?;
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
