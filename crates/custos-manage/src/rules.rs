//! `/api/v2/rules` and `/api/v2/rules-configs` in Auth0's shapes: legacy Rules (checked by the
//! script engine before they are saved) and the configuration values they read as
//! `configuration.KEY`.
//!
//! Configuration values are sealed under the master key before they reach the store and are
//! never returned (except in the answer to the `PUT` that set them, as Auth0 does), logged or
//! put in an audit record. Rule scripts are not put in audit records either: a record names the
//! rule and carries the SHA-256 of its script, which is enough to tell which version ran.

use custos_domain::extensibility::{
    valid_key, valid_name, Rule, RulesConfig, MAX_SCRIPT_BYTES, MAX_SECRET_BYTES, RULE_ID_PREFIX,
};
use custos_store::StoreError;
use serde_json::{json, Value};

use crate::body::Body;
use crate::{ApiError, Manager, Paging};

/// Auth0's only rule stage.
const STAGE: &str = "login_success";

/// The largest accepted `order`.
const MAX_ORDER: i64 = i32::MAX as i64;

const FIELDS: &[&str] = &["name", "script", "order", "enabled", "stage"];

fn not_found() -> ApiError {
    ApiError::not_found("The rule does not exist.", "inexistent_rule")
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_body(format!("Payload validation error: '{}'.", message.into()))
}

fn name_conflict() -> ApiError {
    ApiError::conflict("A rule with the same name already exists", "conflict")
}

fn order_conflict() -> ApiError {
    ApiError::conflict("A rule with the same order already exists", "conflict")
}

/// A script the engine refused, as a 400 whose message names the line and column.
pub(crate) fn syntax_error(what: &str, e: &custos_rules::SyntaxError) -> ApiError {
    let at = match (e.line, e.column) {
        (Some(l), Some(c)) if !e.message.contains("line") => {
            format!(" (line {l}, column {c})")
        }
        _ => String::new(),
    };
    ApiError::bad_body(format!(
        "Payload validation error: '{what} does not compile: {}{at}'.",
        e.message
    ))
}

/// SHA-256 of a script, for audit records (which never hold the script itself).
pub(crate) fn script_digest(script: &str) -> String {
    custos_crypto::b64url(custos_crypto::sha256(script))
}

pub(crate) fn rule_json(r: &Rule) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "script": r.script,
        "order": r.order,
        "enabled": r.enabled,
        "stage": STAGE,
    })
}

/// What an audit record says about a rule: everything but the script.
fn rule_audit(r: &Rule) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "order": r.order,
        "enabled": r.enabled,
        "script_sha256": script_digest(&r.script),
    })
}

fn stage_of(b: &Body<'_>) -> Result<(), ApiError> {
    match b.str("stage", 32)? {
        None => Ok(()),
        Some(s) if s == STAGE => Ok(()),
        Some(_) => Err(bad(format!("stage must be {STAGE}"))),
    }
}

fn name_of(name: String) -> Result<String, ApiError> {
    if valid_name(&name) {
        Ok(name)
    } else {
        Err(bad("name must be 1 to 255 letters, digits, spaces, '-' or '_', not starting or ending with a space"))
    }
}

/// Parses `enabled=true|false` of the list query.
fn enabled_filter(v: Option<&str>) -> Result<Option<bool>, ApiError> {
    match v {
        None | Some("") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::bad_query(
            "Query validation error: 'enabled' must be true or false",
        )),
    }
}

impl Manager<'_> {
    async fn find_rule(&self, id: &str) -> Result<Rule, ApiError> {
        self.provider.store.get_rule(id).await.map_err(|e| match e {
            StoreError::NotFound => not_found(),
            other => other.into(),
        })
    }

    fn check_rule_script(&self, script: &str) -> Result<(), ApiError> {
        self.provider
            .extensions
            .engine()
            .check_rule(script)
            .map_err(|e| syntax_error("script", &e))
    }

    /// Refuses a name or order another rule already has (the unique indexes catch races).
    async fn rule_unique(&self, r: &Rule) -> Result<(), ApiError> {
        for other in self.provider.store.list_rules().await? {
            if other.id == r.id {
                continue;
            }
            if other.name == r.name {
                return Err(name_conflict());
            }
            if other.order == r.order {
                return Err(order_conflict());
            }
        }
        Ok(())
    }

    /// `GET /api/v2/rules`, optionally only the enabled (or disabled) ones.
    pub async fn list_rules(
        &self,
        paging: Paging,
        enabled: Option<&str>,
    ) -> Result<Value, ApiError> {
        let enabled = enabled_filter(enabled)?;
        let rules: Vec<Rule> = self
            .provider
            .store
            .list_rules()
            .await?
            .into_iter()
            .filter(|r| enabled.is_none_or(|e| r.enabled == e))
            .collect();
        let total = rules.len() as i64;
        let items = rules
            .iter()
            .skip((paging.page * paging.per_page) as usize)
            .take(paging.per_page as usize)
            .map(rule_json)
            .collect();
        Ok(paging.wrap("rules", items, total))
    }

    pub async fn get_rule(&self, id: &str) -> Result<Value, ApiError> {
        Ok(rule_json(&self.find_rule(id).await?))
    }

    /// `POST /api/v2/rules`: `name` and `script` required; `order` defaults to after the last
    /// rule, `enabled` to true.
    pub async fn create_rule(&self, body: &Value) -> Result<Value, ApiError> {
        let b = Body::new(body, FIELDS)?;
        let name = name_of(b.required_str("name", 255)?)?;
        let script = b
            .code("script", MAX_SCRIPT_BYTES)?
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                ApiError::bad_body("Payload validation error: 'Missing required property: script'.")
            })?;
        stage_of(&b)?;
        let order = b.int("order", 0, MAX_ORDER)?;
        let enabled = b.bool("enabled")?.unwrap_or(true);
        self.check_rule_script(&script)?;
        let order = match order {
            Some(o) => o,
            None => self
                .provider
                .store
                .list_rules()
                .await?
                .iter()
                .map(|r| r.order)
                .max()
                .map_or(1, |m| m.saturating_add(1)),
        };
        let now = self.provider.now_ms();
        let rule = Rule {
            id: format!(
                "{RULE_ID_PREFIX}{}",
                custos_crypto::random::alphanumeric(16)?
            ),
            name,
            script,
            order,
            enabled,
            created_at: now,
            updated_at: now,
        };
        self.rule_unique(&rule).await?;
        let mut tx = self.provider.store.begin().await?;
        match tx.insert_rule(&rule).await {
            Err(StoreError::Conflict(_)) => return Err(name_conflict()),
            other => other?,
        }
        let ev = self.success_event(
            "create:rules",
            json!({"id": rule.id, "before": null, "after": rule_audit(&rule)}),
        );
        tx.audit(&ev).await?;
        tx.commit().await?;
        Ok(rule_json(&rule))
    }

    /// `PATCH /api/v2/rules/{id}`: any of `name`, `script`, `order`, `enabled`.
    pub async fn update_rule(&self, id: &str, body: &Value) -> Result<Value, ApiError> {
        let b = Body::new(body, FIELDS)?;
        let mut rule = self.find_rule(id).await?;
        let before = rule_audit(&rule);
        if let Some(name) = b.str("name", 255)? {
            rule.name = name_of(name)?;
        }
        if let Some(script) = b.code("script", MAX_SCRIPT_BYTES)? {
            if script.trim().is_empty() {
                return Err(bad("script must not be empty"));
            }
            self.check_rule_script(&script)?;
            rule.script = script;
        }
        stage_of(&b)?;
        if let Some(order) = b.int("order", 0, MAX_ORDER)? {
            rule.order = order;
        }
        if let Some(enabled) = b.bool("enabled")? {
            rule.enabled = enabled;
        }
        rule.updated_at = self.provider.now_ms();
        self.rule_unique(&rule).await?;
        let mut tx = self.provider.store.begin().await?;
        match tx.update_rule(&rule).await {
            Err(StoreError::Conflict(_)) => return Err(name_conflict()),
            Err(StoreError::NotFound) => return Err(not_found()),
            other => other?,
        }
        let ev = self.success_event(
            "update:rules",
            json!({"id": id, "before": before, "after": rule_audit(&rule)}),
        );
        tx.audit(&ev).await?;
        tx.commit().await?;
        Ok(rule_json(&rule))
    }

    pub async fn delete_rule(&self, id: &str) -> Result<(), ApiError> {
        let rule = self.find_rule(id).await?;
        let mut tx = self.provider.store.begin().await?;
        match tx.delete_rule(id).await {
            Err(StoreError::NotFound) => return Err(not_found()),
            other => other?,
        }
        let ev = self.success_event(
            "delete:rules",
            json!({"id": id, "before": rule_audit(&rule), "after": null}),
        );
        tx.audit(&ev).await?;
        tx.commit().await?;
        Ok(())
    }

    /// `GET /api/v2/rules-configs`: the keys only, never the values.
    pub async fn list_rules_configs(&self) -> Result<Value, ApiError> {
        let configs = self.provider.store.rules_configs().await?;
        Ok(Value::Array(
            configs.iter().map(|c| json!({"key": c.key})).collect(),
        ))
    }

    /// `PUT /api/v2/rules-configs/{key}` with `{value}`: sets the value, sealed. The answer
    /// echoes it, as Auth0's does; nothing else ever returns it.
    pub async fn set_rules_config(&self, key: &str, body: &Value) -> Result<Value, ApiError> {
        if !valid_key(key) {
            return Err(ApiError::new(
                400,
                "Path validation error: 'key' must be 1 to 128 letters, digits, '_' or '-', starting with a letter or '_'",
                Some("invalid_uri"),
            ));
        }
        let b = Body::new(body, &["value"])?;
        let value = match b.raw("value") {
            Some(Value::String(v)) if !v.is_empty() && v.len() <= MAX_SECRET_BYTES => v.clone(),
            Some(Value::String(v)) if !v.is_empty() => {
                return Err(bad(format!(
                    "value must be at most {MAX_SECRET_BYTES} bytes"
                )))
            }
            Some(Value::String(_)) | None => {
                return Err(ApiError::bad_body(
                    "Payload validation error: 'Missing required property: value'.",
                ))
            }
            Some(_) => return Err(bad("value must be a string")),
        };
        let existed = self
            .provider
            .store
            .rules_configs()
            .await?
            .iter()
            .any(|c| c.key == key);
        let config = RulesConfig {
            key: key.to_owned(),
            sealed_value: self
                .provider
                .master
                .seal(&custos_rules::rules_config_context(key), value.as_bytes())?,
            updated_at: self.provider.now_ms(),
        };
        let mut tx = self.provider.store.begin().await?;
        tx.put_rules_config(&config).await?;
        let ev = self.success_event(
            "update:rules_configs",
            json!({"key": key, "replaced": existed}),
        );
        tx.audit(&ev).await?;
        tx.commit().await?;
        Ok(json!({"key": key, "value": value}))
    }

    /// `DELETE /api/v2/rules-configs/{key}`.
    pub async fn delete_rules_config(&self, key: &str) -> Result<(), ApiError> {
        let mut tx = self.provider.store.begin().await?;
        match tx.delete_rules_config(key).await {
            Err(StoreError::NotFound) => {
                return Err(ApiError::not_found(
                    "The rules config does not exist.",
                    "inexistent_rules_config",
                ))
            }
            other => other?,
        }
        let ev = self.success_event("delete:rules_configs", json!({"key": key}));
        tx.audit(&ev).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_name_the_position() {
        let e = custos_rules::SyntaxError {
            message: "unexpected token".into(),
            line: Some(3),
            column: Some(7),
        };
        let err = syntax_error("script", &e);
        assert_eq!(err.status, 400);
        assert!(err.message.contains("line 3, column 7"), "{}", err.message);
        // An engine message that already names the position is not repeated.
        let e = custos_rules::SyntaxError {
            message: "unexpected token (line 3, column 7)".into(),
            line: Some(3),
            column: Some(7),
        };
        assert_eq!(
            syntax_error("code", &e).message.matches("line 3").count(),
            1
        );
    }

    #[test]
    fn enabled_filter_values() {
        assert_eq!(enabled_filter(None).ok(), Some(None));
        assert_eq!(enabled_filter(Some("true")).ok(), Some(Some(true)));
        assert_eq!(enabled_filter(Some("false")).ok(), Some(Some(false)));
        assert!(enabled_filter(Some("yes")).is_err());
    }
}
