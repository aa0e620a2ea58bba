//! The pipelines: which scripts run for a trigger, in which order, with what input, and what
//! their ends add up to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use custos_crypto::seal::MasterKey;
use custos_domain::audit::{AuditEvent, EventType};
use custos_domain::extensibility::{BoundAction, Rule};
use custos_domain::user::User;
use custos_domain::{iso8601, Millis};
use custos_store::{Store, StoreError};
use serde_json::{json, Map, Value};

use crate::{ActionEnd, Effects, Engine, RuleEnd, Run};

/// How long a loaded set of scripts is trusted before it is read again (changes made by
/// another node show within this; this node's own changes show at once).
const RELOAD_AFTER: Duration = Duration::from_secs(1);

/// Default and longest lifetime of an `api.cache` entry (Auth0's).
const CACHE_TTL_MS: i64 = 15 * 60 * 1000;
const CACHE_TTL_MAX_MS: i64 = 24 * 60 * 60 * 1000;

/// Claims a script may not set: they are the protocol's own (Auth0's restricted list, the
/// part that applies here).
const RESTRICTED_CLAIMS: &[&str] = &[
    "acr",
    "act",
    "active",
    "amr",
    "at_hash",
    "ath",
    "attest",
    "aud",
    "auth_time",
    "authorization_details",
    "azp",
    "c_hash",
    "client_id",
    "cnf",
    "cty",
    "dpop_jkt",
    "exp",
    "gty",
    "htm",
    "htu",
    "iat",
    "internalService",
    "iss",
    "jku",
    "jti",
    "jwe",
    "jwk",
    "kid",
    "may_act",
    "mfa",
    "nbf",
    "nonce",
    "object_id",
    "org_id",
    "org_name",
    "permissions",
    "scope",
    "sid",
    "sub",
    "tenant",
    "token_use",
    "typ",
    "use",
    "x5t#S256",
    "x5u",
];

/// Namespaces reserved by Auth0, refused for compatibility.
const RESTRICTED_NAMESPACES: &[&str] = &[
    "https://auth0.com",
    "http://auth0.com",
    "https://webtask.io",
    "https://webtask.run",
    "urn:auth0",
];

/// What the pipeline decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Allow,
    /// `error` is the OAuth error code (`unauthorized` for a Rule's `UnauthorizedError`,
    /// `access_denied` otherwise); `description` is what the client is told.
    Deny {
        error: &'static str,
        description: String,
    },
}

/// A pipeline's result: the verdict, what to add to the tokens, what to persist, and one audit
/// record per execution for the caller to write in its own transaction.
#[derive(Debug, Clone)]
pub struct PipelineResult {
    pub verdict: Verdict,
    pub id_token_claims: Map<String, Value>,
    pub access_token_claims: Map<String, Value>,
    /// Keys to set (`null`: remove) in the user's `app_metadata`, after the flow.
    pub app_metadata: Map<String, Value>,
    pub user_metadata: Map<String, Value>,
    pub multifactor: Option<Value>,
    pub records: Vec<AuditEvent>,
    /// Whether any script ran (a check with no scripts keeps its built-in answer).
    pub ran: bool,
}

impl PipelineResult {
    /// Nothing ran, nothing to add: the flow goes on as it would without scripts.
    pub fn allow() -> Self {
        Self {
            verdict: Verdict::Allow,
            id_token_claims: Map::new(),
            access_token_claims: Map::new(),
            app_metadata: Map::new(),
            user_metadata: Map::new(),
            multifactor: None,
            records: Vec::new(),
            ran: false,
        }
    }

    pub fn allows(&self) -> bool {
        self.verdict == Verdict::Allow
    }

    /// `metadata` with this result's changes applied (`null` removes a key).
    pub fn merged(metadata: &Value, changes: &Map<String, Value>) -> Value {
        let mut out = metadata.as_object().cloned().unwrap_or_default();
        for (k, v) in changes {
            if v.is_null() {
                out.remove(k);
            } else {
                out.insert(k.clone(), v.clone());
            }
        }
        Value::Object(out)
    }
}

/// Who and what a login is about.
#[derive(Debug, Clone)]
pub struct LoginInput {
    pub user: User,
    pub client_id: String,
    pub client_name: String,
    pub client_metadata: Value,
    pub connection: String,
    /// `oidc-basic-profile`, `oauth2-refresh-token`…
    pub protocol: String,
    pub ip: String,
    pub user_agent: String,
    pub hostname: String,
    pub query: Value,
    pub body: Value,
    /// `{id, name, display_name, metadata}` of the organization the login is for.
    pub organization: Option<Value>,
    pub roles: Vec<String>,
    pub session_id: Option<String>,
    pub scope: Vec<String>,
    pub audience: Option<String>,
}

/// Who and what a decision is about.
#[derive(Debug, Clone)]
pub struct CheckInput {
    pub user: User,
    pub client_id: String,
    pub client_name: String,
    pub ip: String,
    pub user_agent: String,
    /// The check request's JSON body (`context.request.body`).
    pub body: Value,
    pub organization: Option<Value>,
    pub roles: Vec<String>,
}

/// The scripts in force, as last read.
struct Loaded {
    at: Instant,
    generation: u64,
    rules: Arc<[Rule]>,
    configuration: Arc<Value>,
    triggers: HashMap<String, Arc<[BoundAction]>>,
}

impl Loaded {
    /// Whether any script runs for `trigger` (Rules run for `post-login` and `access-check`).
    fn runs_anything(&self, trigger: &str) -> bool {
        let rules = matches!(trigger, "post-login" | "access-check") && !self.rules.is_empty();
        rules || self.triggers.contains_key(trigger)
    }
}

/// Customers' code and the engine that runs it: the server's one entry point to Rules and
/// Actions.
pub struct Extensions {
    engine: Arc<dyn Engine>,
    store: Store,
    master: Arc<MasterKey>,
    loaded: Mutex<Option<Arc<Loaded>>>,
    /// Held while reading the scripts again, so concurrent requests share one reload.
    reloading: tokio::sync::Mutex<()>,
    /// `api.cache` per action: key → `{value, expires_at}`.
    caches: Mutex<HashMap<String, Map<String, Value>>>,
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extensions")
            .field("engine", &self.engine.name())
            .finish_non_exhaustive()
    }
}

/// The sealing context of a rules configuration value.
pub fn rules_config_context(key: &str) -> String {
    format!("rules-config:{key}")
}

/// The sealing context of an action secret.
pub fn action_secret_context(action_id: &str, name: &str) -> String {
    format!("action-secret:{action_id}:{name}")
}

/// One script to run, ready to move to a blocking thread.
#[derive(Clone)]
enum Script {
    Rule(Rule),
    Action(BoundAction, Value),
}

impl Extensions {
    pub fn new(engine: Arc<dyn Engine>, store: Store, master: Arc<MasterKey>) -> Self {
        Self {
            engine,
            store,
            master,
            loaded: Mutex::new(None),
            reloading: tokio::sync::Mutex::new(()),
            caches: Mutex::new(HashMap::new()),
        }
    }

    /// The engine, for save-time syntax checks.
    pub fn engine(&self) -> &dyn Engine {
        self.engine.as_ref()
    }

    /// Whether any script would run for `trigger` (Rules run for `post-login` and
    /// `access-check`).
    pub async fn active(&self, trigger: &str) -> Result<bool, StoreError> {
        Ok(self.loaded().await?.runs_anything(trigger))
    }

    /// The scripts in force: reread when this node changed them, or after [`RELOAD_AFTER`].
    async fn loaded(&self) -> Result<Arc<Loaded>, StoreError> {
        if let Some(l) = self.current() {
            return Ok(l);
        }
        let _one_reload = self.reloading.lock().await;
        // Someone else may have reloaded while this request waited.
        if let Some(l) = self.current() {
            return Ok(l);
        }
        let generation = self.store.generations().extensions();
        let rules: Arc<[Rule]> = self.store.enabled_rules().await?.into();
        let mut configuration = Map::new();
        for c in self.store.rules_configs().await? {
            let value = self.open(&rules_config_context(&c.key), &c.sealed_value);
            configuration.insert(c.key, Value::String(value));
        }
        let mut triggers = HashMap::new();
        for t in custos_domain::extensibility::TRIGGERS {
            let bound = self.store.bound_actions(t).await?;
            if !bound.is_empty() {
                triggers.insert((*t).to_owned(), bound.into());
            }
        }
        let l = Arc::new(Loaded {
            at: Instant::now(),
            generation,
            rules,
            configuration: Arc::new(Value::Object(configuration)),
            triggers,
        });
        if let Ok(mut guard) = self.loaded.lock() {
            *guard = Some(l.clone());
        }
        Ok(l)
    }

    /// The scripts as last read, if they are still current.
    fn current(&self) -> Option<Arc<Loaded>> {
        let generation = self.store.generations().extensions();
        let guard = self.loaded.lock().ok()?;
        guard
            .as_ref()
            .filter(|l| l.generation == generation && l.at.elapsed() < RELOAD_AFTER)
            .cloned()
    }

    /// A sealed value in clear; a value that does not open reads as empty (and is logged),
    /// so a damaged secret fails the script that needs it rather than every login.
    fn open(&self, context: &str, sealed: &str) -> String {
        match self.master.open(context, sealed) {
            Ok(bytes) => String::from_utf8(bytes).unwrap_or_default(),
            Err(_) => {
                tracing::error!(context, "a sealed script secret does not open");
                String::new()
            }
        }
    }

    fn secrets(&self, action: &BoundAction) -> Value {
        let mut m = Map::new();
        for s in &action.secrets {
            let v = self.open(
                &action_secret_context(&action.action_id, &s.name),
                &s.sealed_value,
            );
            m.insert(s.name.clone(), Value::String(v));
        }
        Value::Object(m)
    }

    /// The login pipeline: enabled Rules in order, then the Actions bound to `post-login`.
    pub async fn post_login(
        &self,
        input: &LoginInput,
        now: Millis,
    ) -> Result<PipelineResult, StoreError> {
        let loaded = self.loaded().await?;
        if !loaded.runs_anything("post-login") {
            return Ok(PipelineResult::allow());
        }
        let user = user_profile(&input.user);
        let context = json!({
            "tenant": "custos",
            "clientID": input.client_id,
            "clientName": input.client_name,
            "clientMetadata": input.client_metadata,
            "connection": input.connection,
            "connectionStrategy": "auth0",
            "protocol": input.protocol,
            "request": {
                "ip": input.ip, "userAgent": input.user_agent, "hostname": input.hostname,
                "query": input.query, "body": input.body,
            },
            "idToken": {},
            "accessToken": {},
            "authorization": {"roles": input.roles},
            "sessionID": input.session_id,
            "stats": {"loginsCount": input.user.logins_count},
            "organization": input.organization,
        });
        let event = json!({
            "user": user,
            "client": {"client_id": input.client_id, "name": input.client_name, "metadata": input.client_metadata},
            "connection": {"name": input.connection, "strategy": "auth0"},
            "request": {
                "ip": input.ip, "user_agent": input.user_agent, "hostname": input.hostname,
                "query": input.query, "body": input.body,
            },
            "organization": input.organization,
            "authorization": {"roles": input.roles},
            "stats": {"logins_count": input.user.logins_count},
            "session": input.session_id.as_ref().map(|id| json!({"id": id})),
            "transaction": {"protocol": input.protocol, "requested_scopes": input.scope},
            "resource_server": input.audience.as_ref().map(|a| json!({"identifier": a})),
            "tenant": {"id": "custos"},
        });
        let base = Evidence::of_user(
            "post-login",
            &input.user,
            [
                &input.client_id,
                &input.client_name,
                &input.ip,
                &input.user_agent,
            ],
            &input.organization,
        );
        self.run(&loaded, "post-login", user, context, event, base, now)
            .await
    }

    /// The access-check pipeline: enabled Rules in order, then the Actions bound to
    /// `access-check`. `context.request.body` (and `event.request.body`) is the check's body.
    pub async fn access_check(
        &self,
        input: &CheckInput,
        now: Millis,
    ) -> Result<PipelineResult, StoreError> {
        let loaded = self.loaded().await?;
        if !loaded.runs_anything("access-check") {
            return Ok(PipelineResult::allow());
        }
        let user = user_profile(&input.user);
        let context = json!({
            "tenant": "custos",
            "clientID": input.client_id,
            "clientName": input.client_name,
            "connection": custos_domain::user::DB_CONNECTION,
            "connectionStrategy": "auth0",
            "protocol": "custos-access-check",
            "request": {"ip": input.ip, "userAgent": input.user_agent, "body": input.body},
            "idToken": {},
            "accessToken": {},
            "authorization": {"roles": input.roles},
            "stats": {"loginsCount": input.user.logins_count},
            "organization": input.organization,
        });
        let event = json!({
            "user": user,
            "client": {"client_id": input.client_id, "name": input.client_name},
            "request": {"ip": input.ip, "user_agent": input.user_agent, "body": input.body},
            "organization": input.organization,
            "authorization": {"roles": input.roles},
            "stats": {"logins_count": input.user.logins_count},
            "transaction": {"protocol": "custos-access-check"},
            "tenant": {"id": "custos"},
        });
        let base = Evidence::of_user(
            "access-check",
            &input.user,
            [
                &input.client_id,
                &input.client_name,
                &input.ip,
                &input.user_agent,
            ],
            &input.organization,
        );
        self.run(&loaded, "access-check", user, context, event, base, now)
            .await
    }

    /// Runs the Actions bound to `trigger` (`credentials-exchange`, `pre-user-registration`,
    /// `post-user-registration`, `post-change-password`) with `event`.
    pub async fn run_actions(
        &self,
        trigger: &'static str,
        event: Value,
        who: Evidence,
        now: Millis,
    ) -> Result<PipelineResult, StoreError> {
        let loaded = self.loaded().await?;
        if !loaded.triggers.contains_key(trigger) {
            return Ok(PipelineResult::allow());
        }
        let who = Evidence { trigger, ..who };
        self.run(&loaded, trigger, Value::Null, Value::Null, event, who, now)
            .await
    }

    /// Runs the Rules (for the triggers that have them) then the trigger's Actions on a
    /// blocking thread, stopping at the first script that does not continue.
    #[allow(clippy::too_many_arguments)]
    async fn run(
        &self,
        loaded: &Loaded,
        trigger: &'static str,
        user: Value,
        context: Value,
        event: Value,
        base: Evidence,
        now: Millis,
    ) -> Result<PipelineResult, StoreError> {
        let mut scripts: Vec<Script> = if matches!(trigger, "post-login" | "access-check") {
            loaded.rules.iter().cloned().map(Script::Rule).collect()
        } else {
            Vec::new()
        };
        if let Some(bound) = loaded.triggers.get(trigger) {
            for b in bound.iter() {
                let secrets = self.secrets(b);
                scripts.push(Script::Action(b.clone(), secrets));
            }
        }
        let caches = self.cache_snapshot(&scripts, now);
        let engine = self.engine.clone();
        let configuration = loaded.configuration.clone();
        // What a script could print or throw that must not reach a record or a client.
        let secrets = secret_values(&scripts, &configuration);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        tokio::task::spawn_blocking(move || {
            let ends = run_chain(
                engine.as_ref(),
                trigger,
                &scripts,
                user,
                context,
                event,
                &configuration,
                &caches,
            );
            // The answer goes first; the thread then readies itself for the next run.
            let _ = sender.send(ends);
            engine.prepare();
        });
        let ends = receiver.await.map_err(|_| {
            tracing::error!("a script worker thread failed");
            StoreError::Backend("a script worker thread failed".into())
        })?;
        let mut result = PipelineResult::allow();
        result.ran = true;
        for step in ends {
            let (outcome, details) = match &step.end {
                StepEnd::Rule { rule, run } => {
                    let (outcome, extra) = match &run.end {
                        RuleEnd::Continue { context, .. } => {
                            // A Rule asks for MFA by setting `context.multifactor`.
                            if let Some(mfa) = context.get("multifactor").filter(|m| m.is_object())
                            {
                                result.multifactor = Some(mfa.clone());
                            }
                            let dropped =
                                take_claims(context.get("idToken"), &mut result.id_token_claims)
                                    .into_iter()
                                    .chain(take_claims(
                                        context.get("accessToken"),
                                        &mut result.access_token_claims,
                                    ))
                                    .collect::<Vec<_>>();
                            ("continued", json!({"dropped_claims": dropped}))
                        }
                        RuleEnd::Denied {
                            message,
                            unauthorized,
                        } => {
                            result.verdict = Verdict::Deny {
                                error: if *unauthorized {
                                    "unauthorized"
                                } else {
                                    "access_denied"
                                },
                                description: message.clone(),
                            };
                            (
                                "denied",
                                json!({"message": message, "unauthorized": unauthorized}),
                            )
                        }
                        RuleEnd::Failed { error } => {
                            result.verdict = failed_verdict();
                            ("failed", json!({"error": error}))
                        }
                        RuleEnd::TimedOut => {
                            result.verdict = failed_verdict();
                            ("timed_out", json!({}))
                        }
                    };
                    let mut d = json!({
                        "rule_id": rule.id, "name": rule.name, "version": rule.updated_at,
                        "order": rule.order,
                        // The same digest the rule's management records carry.
                        "script_sha256": custos_crypto::b64url(custos_crypto::sha256(&rule.script)),
                    });
                    merge(&mut d, extra);
                    merge(
                        &mut d,
                        json!({"logs": run.logs, "duration_us": micros(run.duration)}),
                    );
                    (outcome, d)
                }
                StepEnd::Action { action, run } => {
                    let (outcome, extra) = match &run.end {
                        ActionEnd::Continue(effects) => {
                            let dropped = apply_effects(effects, &mut result);
                            self.apply_cache(&action.action_id, effects, now);
                            // `api.multifactor.enable` is recorded for the MFA work.
                            (
                                "continued",
                                json!({"dropped_claims": dropped, "multifactor": effects.multifactor}),
                            )
                        }
                        ActionEnd::Denied {
                            reason,
                            code,
                            user_message,
                        } => {
                            result.verdict = Verdict::Deny {
                                error: "access_denied",
                                description: reason.clone(),
                            };
                            (
                                "denied",
                                json!({"message": reason, "code": code, "user_message": user_message}),
                            )
                        }
                        ActionEnd::Failed { error } => {
                            result.verdict = failed_verdict();
                            ("failed", json!({"error": error}))
                        }
                        ActionEnd::TimedOut => {
                            result.verdict = failed_verdict();
                            ("timed_out", json!({}))
                        }
                    };
                    let mut d = json!({
                        "action_id": action.action_id, "name": action.action_name,
                        "version": action.version_number, "version_id": action.version_id,
                        "binding_id": action.binding_id,
                    });
                    merge(&mut d, extra);
                    merge(
                        &mut d,
                        json!({"logs": run.logs, "duration_us": micros(run.duration)}),
                    );
                    (outcome, d)
                }
            };
            let mut details = details;
            redact(&mut details, &secrets);
            result.records.push(base.record(outcome, details, now));
        }
        if let Verdict::Deny { description, .. } = &mut result.verdict {
            *description = redacted(description, &secrets);
        }
        if !result.allows() {
            // Nothing a denied flow asked for takes effect.
            result.id_token_claims.clear();
            result.access_token_claims.clear();
            result.app_metadata.clear();
            result.user_metadata.clear();
            result.multifactor = None;
        }
        Ok(result)
    }

    fn cache_snapshot(
        &self,
        scripts: &[Script],
        now: Millis,
    ) -> HashMap<String, Map<String, Value>> {
        let mut out = HashMap::new();
        let Ok(mut caches) = self.caches.lock() else {
            return out;
        };
        for s in scripts {
            if let Script::Action(a, _) = s {
                if let Some(c) = caches.get_mut(&a.action_id) {
                    c.retain(|_, v| {
                        v.get("expires_at")
                            .and_then(Value::as_i64)
                            .is_some_and(|e| e > now)
                    });
                    out.insert(a.action_id.clone(), c.clone());
                }
            }
        }
        out
    }

    fn apply_cache(&self, action_id: &str, effects: &Effects, now: Millis) {
        if effects.cache_set.is_empty() && effects.cache_delete.is_empty() {
            return;
        }
        let Ok(mut caches) = self.caches.lock() else {
            return;
        };
        let cache = caches.entry(action_id.to_owned()).or_default();
        for k in &effects.cache_delete {
            cache.remove(k);
        }
        for (k, v) in &effects.cache_set {
            let ttl = v
                .get("ttl_ms")
                .and_then(Value::as_i64)
                .filter(|t| *t > 0)
                .unwrap_or(CACHE_TTL_MS)
                .min(CACHE_TTL_MAX_MS);
            let mut expires_at = now + ttl;
            if let Some(at) = v.get("expires_at").and_then(Value::as_i64) {
                expires_at = expires_at.min(at);
            }
            let value = v.get("value").cloned().unwrap_or(Value::Null);
            cache.insert(k.clone(), json!({"value": value, "expires_at": expires_at}));
        }
    }
}

/// Values shorter than this are not redacted (they would blank out ordinary words).
const MIN_REDACTED: usize = 4;

/// The secret values the scripts of a run can read: rules configuration (when a Rule runs)
/// and the bound actions' secrets.
fn secret_values(scripts: &[Script], configuration: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |v: &Value| {
        if let Some(m) = v.as_object() {
            out.extend(
                m.values()
                    .filter_map(Value::as_str)
                    .filter(|s| s.len() >= MIN_REDACTED)
                    .map(str::to_owned),
            );
        }
    };
    if scripts.iter().any(|s| matches!(s, Script::Rule(_))) {
        add(configuration);
    }
    for s in scripts {
        if let Script::Action(_, secrets) = s {
            add(secrets);
        }
    }
    // Longest first, so a secret containing another is replaced whole.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

fn redacted(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "[redacted]");
        }
    }
    out
}

/// Replaces every secret value inside the strings of `v` (logs, messages, errors).
fn redact(v: &mut Value, secrets: &[String]) {
    if secrets.is_empty() {
        return;
    }
    match v {
        Value::String(text) if secrets.iter().any(|s| text.contains(s.as_str())) => {
            *text = redacted(text, secrets);
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact(i, secrets)),
        Value::Object(m) => m.values_mut().for_each(|i| redact(i, secrets)),
        _ => {}
    }
}

fn failed_verdict() -> Verdict {
    Verdict::Deny {
        error: "access_denied",
        description: "Access denied: a rule or action could not complete.".into(),
    }
}

fn org_id(org: &Option<Value>) -> Option<String> {
    org.as_ref()
        .and_then(|o| o.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

/// Whether a script may set this claim.
pub fn claim_allowed(name: &str) -> bool {
    !name.is_empty()
        && !RESTRICTED_CLAIMS.contains(&name)
        && !RESTRICTED_NAMESPACES.iter().any(|ns| name.starts_with(ns))
}

/// Moves the allowed claims of a rule's `context.idToken`/`accessToken` into `into`; returns
/// the names refused.
fn take_claims(from: Option<&Value>, into: &mut Map<String, Value>) -> Vec<String> {
    let mut dropped = Vec::new();
    if let Some(m) = from.and_then(Value::as_object) {
        for (k, v) in m {
            if claim_allowed(k) {
                into.insert(k.clone(), v.clone());
            } else {
                dropped.push(k.clone());
            }
        }
    }
    dropped
}

/// Adds an action's claims and metadata changes to the result; returns the claims refused.
fn apply_effects(effects: &Effects, result: &mut PipelineResult) -> Vec<String> {
    let mut dropped = Vec::new();
    for (from, into) in [
        (&effects.id_token_claims, &mut result.id_token_claims),
        (
            &effects.access_token_claims,
            &mut result.access_token_claims,
        ),
    ] {
        for (k, v) in from {
            if claim_allowed(k) {
                into.insert(k.clone(), v.clone());
            } else {
                dropped.push(k.clone());
            }
        }
    }
    result.app_metadata.extend(effects.app_metadata.clone());
    result.user_metadata.extend(effects.user_metadata.clone());
    if effects.multifactor.is_some() {
        result.multifactor = effects.multifactor.clone();
    }
    dropped
}

/// Who a pipeline run is about: the fields shared by each of its execution records.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    pub trigger: &'static str,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub client_id: String,
    pub client_name: String,
    pub ip: String,
    pub user_agent: String,
    pub organization_id: Option<String>,
}

impl Evidence {
    /// About `user`, for a request by `client_id`, `client_name`, from `ip` with `user_agent`.
    fn of_user(
        trigger: &'static str,
        user: &User,
        [client_id, client_name, ip, user_agent]: [&String; 4],
        organization: &Option<Value>,
    ) -> Self {
        Self {
            trigger,
            user_id: Some(user.user_id.clone()),
            user_name: Some(user.email.clone()),
            client_id: client_id.clone(),
            client_name: client_name.clone(),
            ip: ip.clone(),
            user_agent: user_agent.clone(),
            organization_id: org_id(organization),
        }
    }

    fn record(&self, outcome: &str, mut details: Value, now: Millis) -> AuditEvent {
        let t = match outcome {
            "continued" | "denied" => EventType::RuleExecuted,
            _ => EventType::RuleFailed,
        };
        let mut ev = AuditEvent::new(t, now);
        let what = if details.get("rule_id").is_some() {
            "Rule"
        } else {
            "Action"
        };
        let name = details
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        ev.description = format!("{what} '{name}' {}", outcome.replace('_', " "));
        ev.user_id = self.user_id.clone();
        ev.user_name = self.user_name.clone();
        ev.client_id = Some(self.client_id.clone());
        ev.client_name = Some(self.client_name.clone());
        ev.ip = Some(self.ip.clone());
        ev.user_agent = Some(self.user_agent.clone());
        ev.organization_id = self.organization_id.clone();
        merge(
            &mut details,
            json!({"trigger": self.trigger, "outcome": outcome}),
        );
        ev.details = details;
        ev
    }
}

/// How one step of a chain ended.
enum StepEnd {
    Rule {
        rule: Rule,
        run: Run<RuleEnd>,
    },
    Action {
        action: BoundAction,
        run: Run<ActionEnd>,
    },
}

struct Step {
    end: StepEnd,
}

/// Runs the scripts in order on this (blocking) thread, stopping at the first that does not
/// continue. A rule's `user` and `context` pass to the next rule; an action's metadata
/// changes show in `event.user` for the actions after it.
#[allow(clippy::too_many_arguments)]
fn run_chain(
    engine: &dyn Engine,
    trigger: &str,
    scripts: &[Script],
    mut user: Value,
    mut context: Value,
    mut event: Value,
    configuration: &Value,
    caches: &HashMap<String, Map<String, Value>>,
) -> Vec<Step> {
    let mut steps = Vec::with_capacity(scripts.len());
    let empty = Map::new();
    for s in scripts {
        match s {
            Script::Rule(rule) => {
                let run = engine.run_rule(&rule.script, &user, &context, configuration);
                let go_on = if let RuleEnd::Continue {
                    user: u,
                    context: c,
                } = &run.end
                {
                    user = u.clone();
                    // Claims accumulate in the pipeline, not in the next rule's context.
                    context = c.clone();
                    if let Some(c) = context.as_object_mut() {
                        c.insert("idToken".into(), json!({}));
                        c.insert("accessToken".into(), json!({}));
                    }
                    true
                } else {
                    false
                };
                steps.push(Step {
                    end: StepEnd::Rule {
                        rule: rule.clone(),
                        run,
                    },
                });
                if !go_on {
                    return steps;
                }
            }
            Script::Action(action, secrets) => {
                if let Some(e) = event.as_object_mut() {
                    e.insert("secrets".into(), secrets.clone());
                }
                let cache = caches.get(&action.action_id).unwrap_or(&empty);
                let run = engine.run_action(&action.code, trigger, &event, cache);
                let go_on = if let ActionEnd::Continue(effects) = &run.end {
                    if let Some(u) = event.get_mut("user") {
                        for (field, changes) in [
                            ("app_metadata", &effects.app_metadata),
                            ("user_metadata", &effects.user_metadata),
                        ] {
                            if !changes.is_empty() {
                                let merged = PipelineResult::merged(
                                    u.get(field).unwrap_or(&Value::Null),
                                    changes,
                                );
                                if let Some(u) = u.as_object_mut() {
                                    u.insert(field.into(), merged);
                                }
                            }
                        }
                    }
                    true
                } else {
                    false
                };
                steps.push(Step {
                    end: StepEnd::Action {
                        action: action.clone(),
                        run,
                    },
                });
                if !go_on {
                    return steps;
                }
            }
        }
    }
    steps
}

/// Auth0's user profile, as Rules and Actions see it.
pub fn user_profile(u: &User) -> Value {
    let local = u
        .user_id
        .split_once('|')
        .map(|(_, id)| id)
        .unwrap_or(&u.user_id);
    json!({
        "user_id": u.user_id,
        "email": u.email,
        "email_verified": u.email_verified,
        "name": u.name.clone().unwrap_or_else(|| u.email.clone()),
        "nickname": u.nickname,
        "given_name": u.given_name,
        "family_name": u.family_name,
        "picture": u.picture,
        "app_metadata": if u.app_metadata.is_object() { u.app_metadata.clone() } else { json!({}) },
        "user_metadata": if u.user_metadata.is_object() { u.user_metadata.clone() } else { json!({}) },
        "blocked": u.blocked,
        "logins_count": u.logins_count,
        "last_login": u.last_login.map(iso8601),
        "last_ip": u.last_ip,
        "created_at": iso8601(u.created_at),
        "updated_at": iso8601(u.updated_at),
        "identities": [{
            "provider": "auth0", "user_id": local,
            "connection": custos_domain::user::DB_CONNECTION, "isSocial": false,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_from_every_string_longest_first() {
        let secrets = vec![
            "sk_live_abcdef".to_owned(),
            "sk_live".to_owned(),
            "north-east".to_owned(),
        ];
        let mut details = json!({
            "logs": "key=sk_live_abcdef region=north-east\nprefix sk_live\n",
            "error": "TypeError: bad north-east",
            "nested": [{"message": "sk_live_abcdef"}],
            "duration_us": 12,
        });
        redact(&mut details, &secrets);
        let text = details.to_string();
        assert!(!text.contains("sk_live"), "{text}");
        assert!(!text.contains("north-east"), "{text}");
        assert_eq!(
            details["logs"],
            "key=[redacted] region=[redacted]\nprefix [redacted]\n"
        );
        assert_eq!(details["duration_us"], 12);
    }

    #[test]
    fn short_values_and_unread_configuration_are_not_redacted() {
        let rule = Rule {
            id: "rul_1".into(),
            name: "r".into(),
            script: String::new(),
            order: 1,
            enabled: true,
            created_at: 0,
            updated_at: 0,
        };
        let configuration = json!({"A": "abc", "B": "longer-secret"});
        let with_rule = secret_values(&[Script::Rule(rule)], &configuration);
        assert_eq!(with_rule, vec!["longer-secret".to_owned()]);
        // Without a Rule in the run, the rules configuration is not readable, so not redacted.
        assert!(secret_values(&[], &configuration).is_empty());
    }

    #[test]
    fn restricted_claims_are_refused() {
        for bad in ["sub", "aud", "scope", "org_id", "https://auth0.com/x", ""] {
            assert!(!claim_allowed(bad), "{bad}");
        }
        for ok in ["https://clinic.example/department", "department", "roles"] {
            assert!(claim_allowed(ok), "{ok}");
        }
    }
}
