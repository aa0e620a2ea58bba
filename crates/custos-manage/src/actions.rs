//! `/api/v2/actions/...` in Auth0's shapes: Actions (a draft checked by the script engine
//! before it is saved), their immutable versions (one per deployment, roll back by deploying
//! an old one again), the triggers, and the ordered bindings of deployed actions to a trigger.
//!
//! Secrets are sealed under the master key before they reach the store and are only ever
//! shown as `{name, updated_at}`; audit records name actions, versions and secrets, and carry
//! the SHA-256 of the code, never the code or a secret value.

use std::collections::HashSet;

use custos_domain::extensibility::{
    valid_key, valid_name, Action, ActionSecret, ActionVersion, TriggerBinding, MAX_SCRIPT_BYTES,
    MAX_SECRET_BYTES, TRIGGERS, TRIGGER_VERSION,
};
use custos_domain::{iso8601, Millis};
use custos_store::StoreError;
use serde_json::{json, Map, Value};

use crate::body::Body;
use crate::rules::{script_digest, syntax_error};
use crate::{ApiError, Manager, Paging};

/// The runtimes accepted (Auth0's current ones); every action runs in Custos's own sandbox
/// whatever it names.
const RUNTIMES: &[&str] = &["node18", "node22"];
const DEFAULT_RUNTIME: &str = "node22";
/// Auth0's limits per action and per trigger.
const MAX_SECRETS: usize = 30;
const MAX_DEPENDENCIES: usize = 10;
const MAX_BINDINGS: usize = 20;

const CREATE_FIELDS: &[&str] = &[
    "name",
    "supported_triggers",
    "code",
    "dependencies",
    "runtime",
    "secrets",
    "deploy",
];
const UPDATE_FIELDS: &[&str] = &[
    "name",
    "supported_triggers",
    "code",
    "dependencies",
    "runtime",
    "secrets",
];

fn not_found() -> ApiError {
    ApiError::not_found("The action does not exist.", "inexistent_action")
}

fn version_not_found() -> ApiError {
    ApiError::not_found(
        "The action version does not exist.",
        "inexistent_action_version",
    )
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_body(format!("Payload validation error: '{}'.", message.into()))
}

fn name_conflict() -> ApiError {
    ApiError::conflict("An action with the same name already exists.", "conflict")
}

fn bound(action: &str, triggers: &[String]) -> ApiError {
    ApiError::conflict(
        format!(
            "The action {action} is bound to {}; remove its bindings first.",
            triggers.join(", ")
        ),
        "action_is_bound",
    )
}

/// A random (version 4) UUID, the shape of Auth0's action, version and binding ids.
fn uuid() -> Result<String, ApiError> {
    let mut b = custos_crypto::random::bytes::<16>()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// A trigger id from a path or query, as the static name.
fn trigger_of(id: &str) -> Result<&'static str, ApiError> {
    TRIGGERS.iter().copied().find(|t| *t == id).ok_or_else(|| {
        ApiError::new(
            400,
            format!(
                "Path validation error: 'triggerId' must be one of: {}",
                TRIGGERS.join(", ")
            ),
            Some("invalid_uri"),
        )
    })
}

fn triggers_json(ids: &[String]) -> Value {
    Value::Array(
        ids.iter()
            .map(|t| json!({"id": t, "version": TRIGGER_VERSION}))
            .collect(),
    )
}

fn secrets_json(secrets: &[ActionSecret]) -> Value {
    Value::Array(
        secrets
            .iter()
            .map(|s| json!({"name": s.name, "updated_at": iso8601(s.updated_at)}))
            .collect(),
    )
}

/// Auth0's `ActionBase`: the action a version belongs to.
fn action_base(a: &Action) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "supported_triggers": triggers_json(&a.supported_triggers),
        "all_changes_deployed": a.all_changes_deployed,
        "created_at": iso8601(a.created_at),
        "updated_at": iso8601(a.updated_at),
    })
}

pub(crate) fn version_json(v: &ActionVersion, a: &Action) -> Value {
    json!({
        "id": v.id,
        "action_id": v.action_id,
        "code": v.code,
        "dependencies": v.dependencies,
        "deployed": v.deployed,
        "runtime": v.runtime,
        "secrets": secrets_json(&a.secrets),
        "status": "built",
        "number": v.number,
        "errors": [],
        "action": action_base(a),
        "built_at": iso8601(v.created_at),
        "created_at": iso8601(v.created_at),
        "updated_at": iso8601(v.created_at),
        "supported_triggers": triggers_json(&v.supported_triggers),
    })
}

pub(crate) fn action_json(a: &Action, deployed: Option<&ActionVersion>) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "supported_triggers": triggers_json(&a.supported_triggers),
        "code": a.code,
        "dependencies": a.dependencies,
        "runtime": a.runtime,
        "secrets": secrets_json(&a.secrets),
        "deployed_version": deployed.map_or(Value::Null, |v| version_json(v, a)),
        "all_changes_deployed": a.all_changes_deployed,
        "status": "built",
        "built_at": iso8601(a.updated_at),
        "created_at": iso8601(a.created_at),
        "updated_at": iso8601(a.updated_at),
    })
}

fn binding_json(b: &TriggerBinding, action: Value) -> Value {
    json!({
        "id": b.id,
        "trigger_id": b.trigger_id,
        "display_name": b.display_name,
        "action": action,
        "created_at": iso8601(b.created_at),
        "updated_at": iso8601(b.updated_at),
    })
}

/// What an audit record says about an action: no code, no secret values.
fn action_audit(a: &Action) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "supported_triggers": a.supported_triggers,
        "runtime": a.runtime,
        "code_sha256": script_digest(&a.code),
        "secrets": a.secrets.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        "deployed_version": a.deployed_version,
        "all_changes_deployed": a.all_changes_deployed,
    })
}

fn version_audit(v: &ActionVersion) -> Value {
    json!({"id": v.id, "number": v.number, "code_sha256": script_digest(&v.code)})
}

/// Auth0's list shape for actions, versions and bindings: `{<key>, total, page, per_page}`.
fn page_of(key: &str, items: Vec<Value>, paging: Paging) -> Value {
    let total = items.len();
    let items: Vec<Value> = items
        .into_iter()
        .skip((paging.page * paging.per_page) as usize)
        .take(paging.per_page as usize)
        .collect();
    json!({key: items, "total": total, "page": paging.page, "per_page": paging.per_page})
}

/// Whether the draft is exactly what `deployed` runs.
fn draft_matches(a: &Action, deployed: Option<&ActionVersion>) -> bool {
    deployed.is_some_and(|v| {
        v.code == a.code
            && v.runtime == a.runtime
            && v.dependencies == a.dependencies
            && v.supported_triggers == a.supported_triggers
    })
}

/// `supported_triggers: [{id, version}]`: one trigger (as Auth0: an action targets a single
/// trigger), of this server's, at `v3`.
fn triggers_of(b: &Body<'_>) -> Result<Option<Vec<String>>, ApiError> {
    let Some(raw) = b.raw("supported_triggers") else {
        return Ok(None);
    };
    let items = raw
        .as_array()
        .filter(|a| a.len() == 1)
        .ok_or_else(|| bad("supported_triggers must be an array of exactly one trigger"))?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let obj = item
            .as_object()
            .ok_or_else(|| bad("supported_triggers[] must be objects {id, version}"))?;
        if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "id" | "version")) {
            return Err(bad(format!("supported_triggers[].{k} is not allowed")));
        }
        let id = obj.get("id").and_then(Value::as_str).unwrap_or_default();
        let Some(id) = TRIGGERS.iter().find(|t| **t == id) else {
            return Err(bad(format!(
                "supported_triggers[].id must be one of: {}",
                TRIGGERS.join(", ")
            )));
        };
        match obj.get("version") {
            None | Some(Value::Null) => {}
            Some(Value::String(v)) if v == TRIGGER_VERSION => {}
            Some(_) => {
                return Err(bad(format!(
                    "supported_triggers[].version must be {TRIGGER_VERSION}"
                )))
            }
        }
        out.push((*id).to_owned());
    }
    Ok(Some(out))
}

fn runtime_of(b: &Body<'_>) -> Result<Option<String>, ApiError> {
    match b.str("runtime", 32)? {
        None => Ok(None),
        Some(r) if RUNTIMES.contains(&r.as_str()) => Ok(Some(r)),
        Some(_) => Err(bad(format!(
            "runtime must be one of: {}",
            RUNTIMES.join(", ")
        ))),
    }
}

/// `dependencies: [{name, version, registry_url?}]`, kept as given (npm packages are not
/// available in the sandbox, but the shape round-trips for Auth0 tooling).
fn dependencies_of(b: &Body<'_>) -> Result<Option<Value>, ApiError> {
    let Some(raw) = b.raw("dependencies") else {
        return Ok(None);
    };
    let items = raw
        .as_array()
        .filter(|a| a.len() <= MAX_DEPENDENCIES)
        .ok_or_else(|| {
            bad(format!(
                "dependencies must be an array of at most {MAX_DEPENDENCIES} {{name, version}}"
            ))
        })?;
    for item in items {
        let ok = item.as_object().is_some_and(|o| {
            o.keys()
                .all(|k| matches!(k.as_str(), "name" | "version" | "registry_url"))
                && ["name", "version"].iter().all(|k| {
                    o.get(*k)
                        .and_then(Value::as_str)
                        .is_some_and(|s| !s.is_empty() && s.len() <= 214)
                })
                && o.get("registry_url")
                    .is_none_or(|u| u.as_str().is_some_and(|s| s.len() <= 2048))
        });
        if !ok {
            return Err(bad(
                "dependencies[] must be {name, version, registry_url?} with string values",
            ));
        }
    }
    Ok(Some(raw.clone()))
}

impl Manager<'_> {
    async fn find_action(&self, id: &str) -> Result<Action, ApiError> {
        self.provider
            .store
            .get_action(id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => not_found(),
                other => other.into(),
            })
    }

    async fn deployed_version(&self, a: &Action) -> Result<Option<ActionVersion>, ApiError> {
        match a.deployed_version {
            None => Ok(None),
            Some(n) => match self.provider.store.action_version_by_number(&a.id, n).await {
                Ok(v) => Ok(Some(v)),
                Err(StoreError::NotFound) => Ok(None),
                Err(e) => Err(e.into()),
            },
        }
    }

    async fn action_full(&self, a: &Action) -> Result<Value, ApiError> {
        Ok(action_json(a, self.deployed_version(a).await?.as_ref()))
    }

    fn check_code(&self, code: &str) -> Result<(), ApiError> {
        self.provider
            .extensions
            .engine()
            .check_action(code)
            .map_err(|e| syntax_error("code", &e))
    }

    /// `secrets: [{name, value}]`: the new set. A secret given without `value` keeps the value
    /// it already has (so a client can rename nothing and resend names only); a new one needs
    /// one. Values are sealed here.
    fn secrets_of(
        &self,
        b: &Body<'_>,
        action_id: &str,
        existing: &[ActionSecret],
        now: Millis,
    ) -> Result<Option<Vec<ActionSecret>>, ApiError> {
        let Some(raw) = b.raw("secrets") else {
            return Ok(None);
        };
        let items = raw
            .as_array()
            .filter(|a| a.len() <= MAX_SECRETS)
            .ok_or_else(|| {
                bad(format!(
                    "secrets must be an array of at most {MAX_SECRETS} {{name, value}}"
                ))
            })?;
        let mut names = HashSet::new();
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let obj = item
                .as_object()
                .ok_or_else(|| bad("secrets[] must be objects {name, value}"))?;
            if let Some(k) = obj
                .keys()
                .find(|k| !matches!(k.as_str(), "name" | "value" | "updated_at"))
            {
                return Err(bad(format!("secrets[].{k} is not allowed")));
            }
            let name = obj.get("name").and_then(Value::as_str).unwrap_or_default();
            if !valid_key(name) {
                return Err(bad("secrets[].name must be 1 to 128 letters, digits, '_' or '-', starting with a letter or '_'"));
            }
            if !names.insert(name.to_owned()) {
                return Err(bad(format!("secrets[].name {name} is given twice")));
            }
            let secret = match obj.get("value") {
                Some(Value::String(v)) if !v.is_empty() && v.len() <= MAX_SECRET_BYTES => {
                    ActionSecret {
                        name: name.to_owned(),
                        sealed_value: self.provider.master.seal(
                            &custos_rules::action_secret_context(action_id, name),
                            v.as_bytes(),
                        )?,
                        updated_at: now,
                    }
                }
                None | Some(Value::Null) => existing
                    .iter()
                    .find(|s| s.name == name)
                    .cloned()
                    .ok_or_else(|| bad(format!("secrets[] {name} needs a value")))?,
                Some(_) => {
                    return Err(bad(format!(
                        "secrets[] {name}: value must be a string of 1 to {MAX_SECRET_BYTES} bytes"
                    )))
                }
            };
            out.push(secret);
        }
        Ok(Some(out))
    }

    /// `GET /api/v2/actions/actions` with Auth0's filters `triggerId`, `actionName`,
    /// `deployed` and `installed` (no marketplace integrations here: `installed=true` is empty).
    pub async fn list_actions(
        &self,
        paging: Paging,
        trigger_id: Option<&str>,
        action_name: Option<&str>,
        deployed: Option<&str>,
        installed: Option<&str>,
    ) -> Result<Value, ApiError> {
        let flag = |v: Option<&str>, name: &str| match v {
            None | Some("") => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(ApiError::bad_query(format!(
                "Query validation error: '{name}' must be true or false"
            ))),
        };
        let deployed = flag(deployed, "deployed")?;
        let installed = flag(installed, "installed")?;
        let trigger_id = match trigger_id.filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => Some(trigger_of(t).map_err(|_| {
                ApiError::bad_query(format!(
                    "Query validation error: 'triggerId' must be one of: {}",
                    TRIGGERS.join(", ")
                ))
            })?),
        };
        let mut items = Vec::new();
        if installed != Some(true) {
            for a in self.provider.store.list_actions().await? {
                if trigger_id.is_some_and(|t| !a.supported_triggers.iter().any(|s| s == t))
                    || action_name.is_some_and(|n| !n.is_empty() && a.name != n)
                    || deployed.is_some_and(|d| a.deployed_version.is_some() != d)
                {
                    continue;
                }
                items.push(a);
            }
        }
        let total = items.len();
        let mut out = Vec::new();
        for a in items
            .iter()
            .skip((paging.page * paging.per_page) as usize)
            .take(paging.per_page as usize)
        {
            out.push(self.action_full(a).await?);
        }
        Ok(
            json!({"actions": out, "total": total, "page": paging.page, "per_page": paging.per_page}),
        )
    }

    pub async fn get_action(&self, id: &str) -> Result<Value, ApiError> {
        let a = self.find_action(id).await?;
        self.action_full(&a).await
    }

    /// `POST /api/v2/actions/actions`: `name` and `supported_triggers` required; `code` is
    /// checked by the engine; with `deploy: true` the first version is deployed at once.
    pub async fn create_action(&self, body: &Value) -> Result<Value, ApiError> {
        let b = Body::new(body, CREATE_FIELDS)?;
        let name = b.required_str("name", 255)?;
        if !valid_name(&name) {
            return Err(bad("name must be 1 to 255 letters, digits, spaces, '-' or '_', not starting or ending with a space"));
        }
        let supported_triggers = triggers_of(&b)?.ok_or_else(|| {
            ApiError::bad_body(
                "Payload validation error: 'Missing required property: supported_triggers'.",
            )
        })?;
        let code = b.code("code", MAX_SCRIPT_BYTES)?.unwrap_or_default();
        let runtime = runtime_of(&b)?.unwrap_or_else(|| DEFAULT_RUNTIME.to_owned());
        let dependencies = dependencies_of(&b)?.unwrap_or_else(|| json!([]));
        let deploy = b.bool("deploy")?.unwrap_or(false);
        self.check_code(&code)?;
        match self.provider.store.get_action_by_name(&name).await {
            Ok(_) => return Err(name_conflict()),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let now = self.provider.now_ms();
        let id = uuid()?;
        let secrets = self.secrets_of(&b, &id, &[], now)?.unwrap_or_default();
        let mut action = Action {
            id,
            name,
            supported_triggers,
            code,
            runtime,
            dependencies,
            secrets,
            deployed_version: None,
            all_changes_deployed: false,
            created_at: now,
            updated_at: now,
        };
        let version = if deploy {
            action.deployed_version = Some(1);
            action.all_changes_deployed = true;
            Some(self.snapshot(&action, 1, now)?)
        } else {
            None
        };
        let mut tx = self.provider.store.begin().await?;
        match tx.insert_action(&action).await {
            Err(StoreError::Conflict(_)) => return Err(name_conflict()),
            other => other?,
        }
        if let Some(v) = &version {
            tx.insert_action_version(v).await?;
        }
        let ev = self.success_event(
            "create:actions",
            json!({"id": action.id, "before": null, "after": action_audit(&action),
                "deployed": version.as_ref().map(version_audit)}),
        );
        tx.audit(&ev).await?;
        tx.commit().await?;
        Ok(action_json(&action, version.as_ref()))
    }

    /// The draft as a new deployed version numbered `number`.
    fn snapshot(&self, a: &Action, number: i64, now: Millis) -> Result<ActionVersion, ApiError> {
        Ok(ActionVersion {
            id: uuid()?,
            action_id: a.id.clone(),
            number,
            code: a.code.clone(),
            runtime: a.runtime.clone(),
            supported_triggers: a.supported_triggers.clone(),
            dependencies: a.dependencies.clone(),
            deployed: true,
            created_at: now,
        })
    }

    /// Refuses to take a trigger away from an action while it is bound to it.
    async fn keeps_bound_triggers(&self, a: &Action, triggers: &[String]) -> Result<(), ApiError> {
        let bound_to = self.provider.store.action_bound_triggers(&a.id).await?;
        let lost: Vec<String> = bound_to
            .into_iter()
            .filter(|t| !triggers.contains(t))
            .collect();
        if lost.is_empty() {
            Ok(())
        } else {
            Err(bound(&a.name, &lost))
        }
    }

    /// `PATCH /api/v2/actions/actions/{id}`: edits the draft (and the secrets, which apply at
    /// once). A draft that no longer matches the deployed version has
    /// `all_changes_deployed: false`.
    pub async fn update_action(&self, id: &str, body: &Value) -> Result<Value, ApiError> {
        let b = Body::new(body, UPDATE_FIELDS)?;
        let mut action = self.find_action(id).await?;
        let before = action_audit(&action);
        let now = self.provider.now_ms();
        if let Some(name) = b.str("name", 255)? {
            if !valid_name(&name) {
                return Err(bad("name must be 1 to 255 letters, digits, spaces, '-' or '_', not starting or ending with a space"));
            }
            if name != action.name {
                match self.provider.store.get_action_by_name(&name).await {
                    Ok(_) => return Err(name_conflict()),
                    Err(StoreError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            action.name = name;
        }
        if let Some(triggers) = triggers_of(&b)? {
            self.keeps_bound_triggers(&action, &triggers).await?;
            action.supported_triggers = triggers;
        }
        if let Some(code) = b.code("code", MAX_SCRIPT_BYTES)? {
            self.check_code(&code)?;
            action.code = code;
        }
        if let Some(runtime) = runtime_of(&b)? {
            action.runtime = runtime;
        }
        if let Some(deps) = dependencies_of(&b)? {
            action.dependencies = deps;
        }
        if let Some(secrets) = self.secrets_of(&b, &action.id, &action.secrets, now)? {
            action.secrets = secrets;
        }
        let deployed = self.deployed_version(&action).await?;
        action.all_changes_deployed = draft_matches(&action, deployed.as_ref());
        action.updated_at = now;
        let mut tx = self.provider.store.begin().await?;
        match tx.update_action(&action).await {
            Err(StoreError::Conflict(_)) => return Err(name_conflict()),
            Err(StoreError::NotFound) => return Err(not_found()),
            other => other?,
        }
        let ev = self.success_event(
            "update:actions",
            json!({"id": id, "before": before, "after": action_audit(&action)}),
        );
        tx.audit(&ev).await?;
        tx.commit().await?;
        Ok(action_json(&action, deployed.as_ref()))
    }

    /// `DELETE /api/v2/actions/actions/{id}`: with its versions; refused while the action is
    /// bound to a trigger unless `force` (which removes the bindings too), as Auth0.
    pub async fn delete_action(&self, id: &str, force: bool) -> Result<(), ApiError> {
        let action = self.find_action(id).await?;
        let bound_to = self.provider.store.action_bound_triggers(id).await?;
        if !bound_to.is_empty() && !force {
            return Err(bound(&action.name, &bound_to));
        }
        let mut tx = self.provider.store.begin().await?;
        match tx.delete_action(id).await {
            Err(StoreError::NotFound) => return Err(not_found()),
            other => other?,
        }
        let ev = self.success_event(
            "delete:actions",
            json!({"id": id, "before": action_audit(&action), "after": null,
                "unbound_from": bound_to, "force": force}),
        );
        tx.audit(&ev).await?;
        tx.commit().await?;
        Ok(())
    }

    /// `POST /api/v2/actions/actions/{id}/deploy`: the draft becomes a new immutable version,
    /// deployed (bound triggers run it from the next execution on).
    pub async fn deploy_action(&self, id: &str) -> Result<Value, ApiError> {
        let mut action = self.find_action(id).await?;
        // The engine may have changed since the draft was saved: never deploy what it refuses.
        self.check_code(&action.code)?;
        let before = action_audit(&action);
        let number = self.provider.store.last_action_version_number(id).await? + 1;
        let now = self.provider.now_ms();
        let version = self.snapshot(&action, number, now)?;
        action.deployed_version = Some(number);
        action.all_changes_deployed = true;
        action.updated_at = now;
        self.commit_deployment(&action, &version, before, json!("deploy"))
            .await?;
        Ok(version_json(&version, &action))
    }

    async fn commit_deployment(
        &self,
        action: &Action,
        version: &ActionVersion,
        before: Value,
        operation: Value,
    ) -> Result<(), ApiError> {
        let mut tx = self.provider.store.begin().await?;
        match tx.insert_action_version(version).await {
            Err(StoreError::Conflict(_)) => {
                return Err(ApiError::conflict(
                    "The action was deployed concurrently; try again.",
                    "conflict",
                ))
            }
            other => other?,
        }
        match tx.update_action(action).await {
            Err(StoreError::NotFound) => return Err(not_found()),
            other => other?,
        }
        let ev = self.success_event(
            "update:actions",
            json!({"id": action.id, "operation": operation, "before": before,
                "after": action_audit(action), "version": version_audit(version)}),
        );
        tx.audit(&ev).await?;
        tx.commit().await?;
        Ok(())
    }

    /// `GET /api/v2/actions/actions/{id}/versions`, newest first.
    pub async fn list_action_versions(&self, id: &str, paging: Paging) -> Result<Value, ApiError> {
        let action = self.find_action(id).await?;
        let versions = match self.provider.store.action_versions(id).await {
            Err(StoreError::NotFound) => return Err(not_found()),
            other => other?,
        };
        let items = versions.iter().map(|v| version_json(v, &action)).collect();
        Ok(page_of("versions", items, paging))
    }

    async fn find_version(&self, id: &str, version_id: &str) -> Result<ActionVersion, ApiError> {
        match self.provider.store.get_action_version(id, version_id).await {
            Ok(v) => Ok(v),
            Err(StoreError::NotFound) => Err(version_not_found()),
            Err(e) => Err(e.into()),
        }
    }

    /// `GET /api/v2/actions/actions/{id}/versions/{versionId}`.
    pub async fn get_action_version(&self, id: &str, version_id: &str) -> Result<Value, ApiError> {
        let action = self.find_action(id).await?;
        let v = self.find_version(id, version_id).await?;
        Ok(version_json(&v, &action))
    }

    /// `POST /api/v2/actions/actions/{id}/versions/{versionId}/deploy`: roll back. As Auth0, a
    /// new version identical to the old one is created and deployed; with
    /// `{"update_draft": true}` the draft becomes that code too.
    pub async fn rollback_action(
        &self,
        id: &str,
        version_id: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let update_draft = match body {
            None | Some(Value::Null) => false,
            Some(v) => Body::new(v, &["update_draft"])?
                .bool("update_draft")?
                .unwrap_or(false),
        };
        let mut action = self.find_action(id).await?;
        let old = self.find_version(id, version_id).await?;
        self.check_code(&old.code)?;
        self.keeps_bound_triggers(&action, &old.supported_triggers)
            .await?;
        let before = action_audit(&action);
        let number = self.provider.store.last_action_version_number(id).await? + 1;
        let now = self.provider.now_ms();
        let version = ActionVersion {
            id: uuid()?,
            action_id: id.to_owned(),
            number,
            code: old.code.clone(),
            runtime: old.runtime.clone(),
            supported_triggers: old.supported_triggers.clone(),
            dependencies: old.dependencies.clone(),
            deployed: true,
            created_at: now,
        };
        if update_draft {
            action.code = old.code.clone();
            action.runtime = old.runtime.clone();
            action.supported_triggers = old.supported_triggers.clone();
            action.dependencies = old.dependencies.clone();
        }
        action.deployed_version = Some(number);
        action.all_changes_deployed = draft_matches(&action, Some(&version));
        action.updated_at = now;
        let operation = json!({"rollback_to": old.number, "from_version_id": old.id,
            "update_draft": update_draft});
        self.commit_deployment(&action, &version, before, operation)
            .await?;
        Ok(version_json(&version, &action))
    }

    /// `GET /api/v2/actions/triggers`.
    pub fn list_triggers(&self) -> Value {
        let triggers: Vec<Value> = TRIGGERS
            .iter()
            .map(|t| {
                json!({
                    "id": t,
                    "version": TRIGGER_VERSION,
                    "status": "CURRENT",
                    "runtimes": RUNTIMES,
                    "default_runtime": DEFAULT_RUNTIME,
                    "compatible_triggers": [],
                    "binding_policy": "trigger-bound",
                })
            })
            .collect();
        json!({ "triggers": triggers })
    }

    async fn bindings_json(&self, bindings: &[TriggerBinding]) -> Result<Vec<Value>, ApiError> {
        let mut out = Vec::with_capacity(bindings.len());
        for b in bindings {
            let action = match self.provider.store.get_action(&b.action_id).await {
                Ok(a) => self.action_full(&a).await?,
                Err(StoreError::NotFound) => Value::Null,
                Err(e) => return Err(e.into()),
            };
            out.push(binding_json(b, action));
        }
        Ok(out)
    }

    /// `GET /api/v2/actions/triggers/{triggerId}/bindings`, in execution order.
    pub async fn list_trigger_bindings(
        &self,
        trigger_id: &str,
        paging: Paging,
    ) -> Result<Value, ApiError> {
        let trigger = trigger_of(trigger_id)?;
        let bindings = self.provider.store.trigger_bindings(trigger).await?;
        let items = self.bindings_json(&bindings).await?;
        Ok(page_of("bindings", items, paging))
    }

    /// `PATCH /api/v2/actions/triggers/{triggerId}/bindings` with
    /// `{bindings: [{ref: {type, value}, display_name?}]}`: replaces the trigger's ordered
    /// list. Every referenced action must exist, support the trigger and be deployed; nothing
    /// changes unless all of them do.
    pub async fn update_trigger_bindings(
        &self,
        trigger_id: &str,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let trigger = trigger_of(trigger_id)?;
        let b = Body::new(body, &["bindings"])?;
        let items = match b.raw("bindings") {
            Some(Value::Array(items)) if items.len() <= MAX_BINDINGS => items,
            Some(Value::Array(_)) => {
                return Err(bad(format!(
                    "at most {MAX_BINDINGS} actions can be bound to a trigger"
                )))
            }
            None => {
                return Err(ApiError::bad_body(
                    "Payload validation error: 'Missing required property: bindings'.",
                ))
            }
            Some(_) => return Err(bad("bindings must be an array")),
        };
        let existing = self.provider.store.trigger_bindings(trigger).await?;
        let now = self.provider.now_ms();
        let mut seen = HashSet::new();
        let mut next = Vec::with_capacity(items.len());
        for (position, item) in items.iter().enumerate() {
            let (action, display_name, reused) =
                self.resolve_binding(trigger, item, &existing).await?;
            if !seen.insert(action.id.clone()) {
                return Err(bad(format!(
                    "the action {} is bound more than once",
                    action.name
                )));
            }
            // An action already bound keeps its binding id, as a `binding_id` reference does.
            let reused =
                reused.or_else(|| existing.iter().find(|e| e.action_id == action.id).cloned());
            next.push(TriggerBinding {
                id: match &reused {
                    Some(r) => r.id.clone(),
                    None => uuid()?,
                },
                trigger_id: trigger.to_owned(),
                action_id: action.id.clone(),
                display_name: display_name
                    .or_else(|| reused.as_ref().map(|r| r.display_name.clone()))
                    .unwrap_or_else(|| action.name.clone()),
                position: position as i64,
                created_at: reused.as_ref().map_or(now, |r| r.created_at),
                updated_at: now,
            });
        }
        let summary = |bs: &[TriggerBinding]| -> Vec<Value> {
            bs.iter()
                .map(|b| json!({"id": b.id, "action_id": b.action_id, "display_name": b.display_name}))
                .collect()
        };
        let mut tx = self.provider.store.begin().await?;
        tx.replace_bindings(trigger, &next).await?;
        let ev = self.success_event(
            "update:actions",
            json!({"trigger_id": trigger, "operation": "bind",
                "before": summary(&existing), "after": summary(&next)}),
        );
        tx.audit(&ev).await?;
        tx.commit().await?;
        let bindings = self.bindings_json(&next).await?;
        Ok(json!({ "bindings": bindings }))
    }

    /// One entry of a bindings update: the action it names, its display name, and the
    /// binding it refers to (for `binding_id` references).
    async fn resolve_binding(
        &self,
        trigger: &str,
        item: &Value,
        existing: &[TriggerBinding],
    ) -> Result<(Action, Option<String>, Option<TriggerBinding>), ApiError> {
        let obj: &Map<String, Value> = item
            .as_object()
            .ok_or_else(|| bad("bindings[] must be objects {ref, display_name}"))?;
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "ref" | "display_name"))
        {
            return Err(bad(format!("bindings[].{k} is not allowed")));
        }
        let display_name = match obj.get("display_name") {
            None | Some(Value::Null) => None,
            Some(Value::String(d)) if !d.is_empty() && d.chars().count() <= 255 => Some(d.clone()),
            Some(_) => {
                return Err(bad(
                    "bindings[].display_name must be a string of 1 to 255 characters",
                ))
            }
        };
        let r = obj
            .get("ref")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("bindings[].ref must be an object {type, value}"))?;
        let kind = r.get("type").and_then(Value::as_str).unwrap_or_default();
        let value = r.get("value").and_then(Value::as_str).unwrap_or_default();
        if value.is_empty() {
            return Err(bad("bindings[].ref.value must be a non-empty string"));
        }
        let (found, reused) = match kind {
            "action_id" => (self.provider.store.get_action(value).await, None),
            "action_name" => (self.provider.store.get_action_by_name(value).await, None),
            "binding_id" => {
                let Some(b) = existing.iter().find(|b| b.id == value) else {
                    return Err(ApiError::not_found(
                        format!("No binding {value} on the trigger {trigger}."),
                        "inexistent_binding",
                    ));
                };
                (
                    self.provider.store.get_action(&b.action_id).await,
                    Some(b.clone()),
                )
            }
            _ => {
                return Err(bad(
                    "bindings[].ref.type must be action_id, action_name or binding_id",
                ))
            }
        };
        let action = match found {
            Ok(a) => a,
            Err(StoreError::NotFound) => {
                return Err(ApiError::not_found(
                    format!("No action found by the {kind} {value}."),
                    "inexistent_action",
                ))
            }
            Err(e) => return Err(e.into()),
        };
        if !action.supported_triggers.iter().any(|t| t == trigger) {
            return Err(bad(format!(
                "the action {} does not support the trigger {trigger}",
                action.name
            )));
        }
        if action.deployed_version.is_none() {
            return Err(bad(format!(
                "the action {} must be deployed before it can be bound",
                action.name
            )));
        }
        Ok((action, display_name, reused))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4() -> Result<(), ApiError> {
        let u = uuid()?;
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}");
        assert_ne!(u, uuid()?);
        Ok(())
    }

    #[test]
    fn triggers_must_be_known() {
        let check = |v: Value| {
            let b = Body::new(&v, &["supported_triggers"]).map_err(|e| e.message)?;
            triggers_of(&b).map_err(|e| e.message)
        };
        assert_eq!(
            check(json!({"supported_triggers": [{"id": "post-login", "version": "v3"}]})),
            Ok(Some(vec!["post-login".to_owned()]))
        );
        assert_eq!(
            check(json!({"supported_triggers": [{"id": "access-check"}]})),
            Ok(Some(vec!["access-check".to_owned()]))
        );
        for bad in [
            json!({"supported_triggers": [{"id": "send-phone-message"}]}),
            json!({"supported_triggers": [{"id": "post-login", "version": "v2"}]}),
            json!({"supported_triggers": []}),
            json!({"supported_triggers": "post-login"}),
        ] {
            assert!(check(bad.clone()).is_err(), "{bad}");
        }
    }
}
