//! Relationship-based authorization: the in-memory engine ([`custos_authz`]) loaded from the
//! store and kept coherent with it, and the Management API over it
//! (`/api/v2/authz/models`, `/api/v2/authz/tuples`, `/api/v2/authz/list-objects`,
//! `/api/v2/authz/list-users`).
//!
//! Coherence: [`Authz`] loads a snapshot (models, tuples, RBAC, and the audit sequence number
//! they reflect), then follows the change feed, which is the audit log's `custos_authz_changed`
//! and `custos_rbac_changed` records (gap-free, commit-ordered). A write through this node
//! catches up before it answers, so the next check sees it (read-your-writes); other nodes catch
//! up when PostgreSQL notifies them (`LISTEN custos_authz`), or at their next poll.
//!
//! [`Authz`] is also the in-process API for a Rust service that embeds Custos' decisions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use custos_authz::{
    AuthorizationModel, CheckError, CheckRequest, Engine, EngineError, RbacSource, TupleKey,
};
use custos_domain::audit::{AuditEvent, EventType};
use custos_domain::user::User;
use custos_store::authz::{ModelRow, TupleRow};
use custos_store::{Store, StoreError};
use serde_json::{json, Map, Value};

use crate::{ApiError, Manager};

/// Tuples one write request may carry (writes and deletes together), as OpenFGA allows.
pub const MAX_TUPLES_PER_WRITE: usize = 100;
/// Contextual tuples one request may carry.
pub const MAX_CONTEXTUAL_TUPLES: usize = 100;
/// How often a node polls the feed when no notification wakes it.
const POLL: Duration = Duration::from_millis(500);

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_body(format!("Payload validation error: '{}'.", message.into()))
}

/// A user (or their absence) and when it was read.
type CachedUser = (Option<Arc<User>>, Instant);

/// The relationship engine of one Custos tenant, coherent with its database.
pub struct Authz {
    store: Store,
    engine: Engine,
    /// The audit sequence number the engine reflects; held while catching up.
    cursor: tokio::sync::Mutex<i64>,
    loaded: tokio::sync::OnceCell<()>,
    /// The newest model's id (checks use it unless they name one).
    latest: std::sync::RwLock<Option<String>>,
    /// Role names by id, for the reasons of a decision.
    role_names: std::sync::RwLock<HashMap<String, String>>,
    /// Users (or their absence), briefly remembered (see [`Authz::user_state`]).
    users: std::sync::RwLock<HashMap<String, CachedUser>>,
    /// The store's change counters this engine has caught up with.
    seen_users: AtomicU64,
    seen_authz: AtomicU64,
}

/// How long a user's state is trusted without a change seen on this node; changes made through
/// this node invalidate it at once, other nodes' within this time.
pub const USER_STATE_TTL: Duration = Duration::from_secs(1);
/// Users remembered at most (the cache is emptied when full).
const USER_CACHE_MAX: usize = 200_000;

/// Where a held permission comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionSource {
    Direct,
    /// Through this role (id).
    Role(String),
}

/// The outcome of a relationship check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationDecision {
    pub allowed: bool,
    /// Why: the chain that proved it, or why nothing did.
    pub reasons: Vec<String>,
    pub model_id: Option<String>,
}

impl Authz {
    /// An engine that loads itself on first use.
    pub fn new(store: Store) -> Arc<Self> {
        Arc::new(Self {
            store,
            engine: Engine::new(),
            cursor: tokio::sync::Mutex::new(0),
            loaded: tokio::sync::OnceCell::new(),
            latest: std::sync::RwLock::new(None),
            role_names: std::sync::RwLock::new(HashMap::new()),
            users: std::sync::RwLock::new(HashMap::new()),
            seen_users: AtomicU64::new(0),
            seen_authz: AtomicU64::new(0),
        })
    }

    /// Loads now (the in-process API): `Authz::open(store).await?.check_relation(…)`.
    pub async fn open(store: Store) -> Result<Arc<Self>, ApiError> {
        let a = Self::new(store);
        a.ready().await?;
        Ok(a)
    }

    /// Loads the snapshot once and starts following the feed.
    pub async fn ready(self: &Arc<Self>) -> Result<(), ApiError> {
        self.loaded
            .get_or_try_init(|| async {
                let mut cursor = self.cursor.lock().await;
                *cursor = self.load().await?;
                drop(cursor);
                self.follow();
                Ok::<(), ApiError>(())
            })
            .await?;
        Ok(())
    }

    /// Replaces the engine's contents with the database's; returns the head they reflect.
    async fn load(&self) -> Result<i64, ApiError> {
        let snap = self.store.authz_snapshot().await?;
        for m in &snap.models {
            let model = AuthorizationModel::from_json(&m.model).map_err(|e| {
                tracing::error!(model = %m.id, error = %e, "a stored authorization model no longer compiles");
                ApiError::internal()
            })?;
            self.put_model(&m.id, model);
        }
        {
            let mut tuples = self.engine.tuples_mut();
            *tuples = custos_authz::TupleStore::new();
            for t in &snap.tuples {
                tuples.insert(&TupleKey {
                    user: t.subject.clone(),
                    relation: t.relation.clone(),
                    object: t.object.clone(),
                });
            }
        }
        self.load_rbac().await?;
        Ok(snap.head)
    }

    async fn load_rbac(&self) -> Result<(), ApiError> {
        let snap = self.store.rbac_snapshot().await?;
        *self
            .role_names
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            snap.roles.iter().cloned().collect();
        let mut rbac = custos_authz::RbacIndex::new();
        for (role, api, perm) in &snap.role_permissions {
            rbac.grant_role(role, api, perm);
        }
        for (user, role, org) in &snap.assignments {
            rbac.assign(user, role, org.as_deref());
        }
        for (user, api, perm) in &snap.user_permissions {
            rbac.grant_user(user, api, perm);
        }
        *self.engine.rbac_mut() = rbac;
        Ok(())
    }

    /// Follows the feed in the background: wakes on PostgreSQL notifications from other nodes,
    /// and every 500 ms regardless. (This node's own writes catch up before they answer.)
    fn follow(self: &Arc<Self>) {
        let weak: Weak<Self> = Arc::downgrade(self);
        let store = self.store.clone();
        tokio::spawn(async move {
            let mut remote = match store.authz_notifications().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "no LISTEN connection for authorization changes; polling");
                    None
                }
            };
            loop {
                let notified = async {
                    match remote.as_mut() {
                        Some(n) => n.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    r = notified => {
                        if let Err(e) = r {
                            tracing::warn!(error = %e, "authorization notifications failed; polling");
                            remote = None;
                        }
                    }
                    _ = tokio::time::sleep(POLL) => {}
                }
                let Some(authz) = weak.upgrade() else { return };
                if let Err(e) = authz.sync().await {
                    tracing::warn!(error = %e.message, "could not follow authorization changes");
                }
            }
        });
    }

    /// Applies every feed record committed since the engine's cursor. The cursor moves to the
    /// audit head read first (every record up to it has committed, in order), so the next
    /// catch-up reads only what came after, however many other records (decisions, logins)
    /// came between.
    pub async fn sync(&self) -> Result<(), ApiError> {
        let mut cursor = self.cursor.lock().await;
        let generation = self.store.generations().authz();
        let head = self.store.audit_head_seq().await?;
        let mut rbac_changed = false;
        while *cursor < head {
            let batch = self.store.authz_feed(*cursor, head, 1000).await?;
            for r in &batch {
                match r.log_type.as_str() {
                    "custos_rbac_changed" => rbac_changed = true,
                    _ => self.apply(&r.details)?,
                }
            }
            *cursor = match batch.last() {
                Some(r) if batch.len() == 1000 => r.seq,
                _ => head,
            };
        }
        if rbac_changed {
            self.load_rbac().await?;
        }
        self.seen_authz.fetch_max(generation, Ordering::AcqRel);
        Ok(())
    }

    /// Catches up if this process committed authorization changes since the last catch-up
    /// (one atomic load when it has not).
    pub async fn fresh(self: &Arc<Self>) -> Result<(), ApiError> {
        self.ready().await?;
        if self.store.generations().authz() != self.seen_authz.load(Ordering::Acquire) {
            self.sync().await?;
        }
        Ok(())
    }

    /// `None` when the user does not exist, else whether they are blocked. Remembered for
    /// [`USER_STATE_TTL`]; a user change committed through this process forgets everything at
    /// once, so on one node a block takes effect for the very next decision.
    pub async fn user_state(&self, user_id: &str) -> Result<Option<bool>, ApiError> {
        Ok(self.user(user_id).await?.map(|u| u.blocked))
    }

    /// The user, or `None` when there is none; remembered like [`Authz::user_state`].
    pub async fn user(&self, user_id: &str) -> Result<Option<Arc<User>>, ApiError> {
        let generation = self.store.generations().users();
        // A load first: the common case (nothing changed) writes no shared cache line.
        if self.seen_users.load(Ordering::Acquire) != generation
            && self.seen_users.swap(generation, Ordering::AcqRel) != generation
        {
            self.users
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clear();
        }
        if let Some((state, at)) = self
            .users
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(user_id)
        {
            if at.elapsed() < USER_STATE_TTL {
                return Ok(state.clone());
            }
        }
        let state = match self.store.get_user(user_id).await {
            Ok(u) => Some(Arc::new(u)),
            Err(custos_store::StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let mut users = self
            .users
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Only remember what no change committed after it was read could contradict.
        if self.store.generations().users() == generation {
            if users.len() >= USER_CACHE_MAX {
                users.clear();
            }
            users.insert(user_id.to_owned(), (state.clone(), Instant::now()));
        }
        Ok(state)
    }

    /// The names of the roles `user_id` holds globally and, with `organization`, there
    /// (from memory, after catching up with this process's own changes).
    pub async fn role_names_of(
        self: &Arc<Self>,
        user_id: &str,
        organization: Option<&str>,
    ) -> Result<Vec<String>, ApiError> {
        self.fresh().await?;
        let names = self
            .role_names
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(self
            .engine
            .rbac()
            .roles_of(user_id, organization)
            .into_iter()
            .filter_map(|id| names.get(id).cloned())
            .collect())
    }

    /// [`Authz::check_permission`] after catching up with this process's own changes, with the
    /// role's name.
    pub async fn permission(
        self: &Arc<Self>,
        user_id: &str,
        permission: &str,
        audience: Option<&str>,
        organization: Option<&str>,
    ) -> Result<Option<(PermissionSource, Option<String>)>, ApiError> {
        self.fresh().await?;
        Ok(self
            .check_permission(user_id, permission, audience, organization)
            .map(|s| {
                let name = match &s {
                    PermissionSource::Role(id) => self
                        .role_names
                        .read()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .get(id)
                        .cloned(),
                    PermissionSource::Direct => None,
                };
                (s, name)
            }))
    }

    /// One `custos_authz_changed` record's change.
    fn apply(&self, details: &Value) -> Result<(), ApiError> {
        if let Some(m) = details.get("model") {
            let id = details["model_id"].as_str().unwrap_or_default();
            let model = AuthorizationModel::from_json(m).map_err(|e| {
                tracing::error!(model = %id, error = %e, "a recorded authorization model does not compile");
                ApiError::internal()
            })?;
            self.put_model(id, model);
        }
        let keys = |k: &str| -> Vec<TupleKey> {
            details[k]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| serde_json::from_value(t.clone()).ok())
                        .collect()
                })
                .unwrap_or_default()
        };
        let (writes, deletes) = (keys("writes"), keys("deletes"));
        if !writes.is_empty() || !deletes.is_empty() {
            let mut tuples = self.engine.tuples_mut();
            for t in &deletes {
                tuples.remove(t);
            }
            for t in &writes {
                tuples.insert(t);
            }
        }
        Ok(())
    }

    fn put_model(&self, id: &str, model: AuthorizationModel) {
        self.engine.put_model(id, model);
        *self
            .latest
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(id.to_owned());
    }

    /// The latest model's id, if any.
    pub fn latest_model_id(&self) -> Option<String> {
        self.latest
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// "Does `user` have `relation` on `object`?" under the latest model (or `model_id`), with
    /// `contextual` tuples for this question only. Errors in the question (unknown types or
    /// relations, malformed ids) are the caller's (400); an evaluation that cannot finish
    /// (too deep) denies.
    pub fn check_relation(
        &self,
        model_id: Option<&str>,
        user: &str,
        relation: &str,
        object: &str,
        contextual: &[TupleKey],
    ) -> Result<RelationDecision, ApiError> {
        let req = CheckRequest {
            user,
            relation,
            object,
            contextual,
        };
        let model_id = match model_id {
            Some(id) => Some(id.to_owned()),
            None => self.latest_model_id(),
        };
        let Some(id) = model_id else {
            return Ok(RelationDecision {
                allowed: false,
                reasons: vec!["no authorization model has been written".into()],
                model_id: None,
            });
        };
        match self.engine.check(Some(&id), &req) {
            Ok(o) => Ok(RelationDecision {
                allowed: o.allowed,
                reasons: o.reasons,
                model_id: Some(id),
            }),
            Err(EngineError::Check(CheckError::DepthExceeded)) => Ok(RelationDecision {
                allowed: false,
                reasons: vec![CheckError::DepthExceeded.to_string()],
                model_id: Some(id),
            }),
            Err(e) => Err(engine_error(e)),
        }
    }

    /// Auth0-style RBAC from memory: does `user_id` hold `permission` (on `audience`, or on any
    /// API), globally or through roles held in `organization`?
    pub fn check_permission(
        &self,
        user_id: &str,
        permission: &str,
        audience: Option<&str>,
        organization: Option<&str>,
    ) -> Option<PermissionSource> {
        match self
            .engine
            .rbac()
            .check(user_id, permission, audience, organization)?
        {
            RbacSource::Direct => Some(PermissionSource::Direct),
            RbacSource::Role(r) => Some(PermissionSource::Role(r.to_owned())),
        }
    }

    /// The underlying engine (models, tuples, RBAC), for reads.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::ModelNotFound(id) => ApiError::not_found(
            format!("The authorization model {id} does not exist."),
            "inexistent_authorization_model",
        ),
        EngineError::NoModel => ApiError::bad_body(
            "No authorization model has been written: POST /api/v2/authz/models first",
        ),
        EngineError::Tuple(t) => bad(t.to_string()),
        EngineError::Check(c) => bad(c.to_string()),
    }
}

/// A tuple from `{user, relation, object}`.
fn tuple_of(v: &Value, what: &str) -> Result<TupleKey, ApiError> {
    let m = v.as_object().ok_or_else(|| {
        bad(format!(
            "{what} must hold {{user, relation, object}} objects"
        ))
    })?;
    if let Some(k) = m
        .keys()
        .find(|k| !matches!(k.as_str(), "user" | "relation" | "object"))
    {
        return Err(bad(format!(
            "{what}: additional properties not allowed: {k}"
        )));
    }
    let field = |k: &str| -> Result<String, ApiError> {
        m.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 512)
            .map(str::to_owned)
            .ok_or_else(|| bad(format!("{what}: {k} must be a non-empty string")))
    };
    Ok(TupleKey {
        user: field("user")?,
        relation: field("relation")?,
        object: field("object")?,
    })
}

/// A list of tuples given as an array or as OpenFGA's `{tuple_keys: [...]}`.
pub(crate) fn tuples_of(
    v: Option<&Value>,
    what: &str,
    max: usize,
) -> Result<Vec<TupleKey>, ApiError> {
    let items: &[Value] = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(Value::Object(o)) if o.len() == 1 => match o.get("tuple_keys") {
            Some(Value::Array(a)) => a,
            _ => {
                return Err(bad(format!(
                    "{what} must be an array or {{tuple_keys: [...]}}"
                )))
            }
        },
        Some(_) => {
            return Err(bad(format!(
                "{what} must be an array of {{user, relation, object}}"
            )))
        }
    };
    if items.len() > max {
        return Err(bad(format!(
            "{what} holds {} tuples; at most {max} are allowed",
            items.len()
        )));
    }
    items.iter().map(|t| tuple_of(t, what)).collect()
}

fn text<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    required: bool,
) -> Result<Option<&'a str>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) if !required => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 512 => Ok(Some(s)),
        _ if required => Err(bad(format!("{key} is required (a non-empty string)"))),
        Some(_) => Err(bad(format!("{key} must be a non-empty string"))),
        None => Ok(None),
    }
}

fn object_of(body: &Value, allowed: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let m = body
        .as_object()
        .cloned()
        .ok_or_else(|| bad("the body must be an object"))?;
    if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(bad(format!("Additional properties not allowed: {k}")));
    }
    Ok(m)
}

fn model_json(m: &ModelRow) -> Value {
    let mut v = m.model.clone();
    v["id"] = json!(m.id);
    v["created_at"] = json!(custos_domain::iso8601(m.created_at));
    v
}

impl Manager<'_> {
    fn authz(&self) -> Result<&Arc<Authz>, ApiError> {
        self.authz.ok_or_else(|| {
            tracing::error!("a relationship operation reached a Manager without the engine");
            ApiError::internal()
        })
    }

    fn authz_event(&self, description: &str, details: Value) -> AuditEvent {
        let mut ev = AuditEvent::new(EventType::AuthzChanged, self.provider.now_ms());
        ev.description = description.into();
        ev.client_id = Some(self.actor.client_id.clone());
        ev.ip = Some(self.actor.meta.ip.clone());
        ev.user_agent = Some(self.actor.meta.user_agent.clone());
        ev.details = details;
        ev
    }

    /// `POST /api/v2/authz/models`: an OpenFGA JSON model (schema 1.1). Versions are immutable;
    /// the new one becomes the latest.
    pub async fn write_authz_model(&self, body: &Value) -> Result<Value, ApiError> {
        let authz = self.authz()?;
        authz.ready().await?;
        let m = object_of(body, &["schema_version", "type_definitions", "conditions"])?;
        AuthorizationModel::from_json(body).map_err(|e| bad(e.to_string()))?;
        let now = self.provider.now_ms();
        let row = ModelRow {
            id: format!(
                "mdl_{now:012x}{}",
                custos_crypto::random::alphanumeric(10)?.to_lowercase()
            ),
            schema_version: m
                .get("schema_version")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            model: Value::Object(m),
            created_at: now,
        };
        let mut tx = self.provider.store.begin().await?;
        tx.insert_authz_model(&row).await?;
        tx.audit(&self.success_event(
            "create:authorization_models",
            json!({"authorization_model_id": row.id}),
        ))
        .await?;
        tx.audit(&self.authz_event(
            "Authorization model written",
            json!({"model_id": row.id, "model": row.model}),
        ))
        .await?;
        tx.notify_authz().await?;
        tx.commit().await?;
        authz.sync().await?;
        Ok(json!({"authorization_model_id": row.id}))
    }

    /// `GET /api/v2/authz/models`: newest first.
    pub async fn list_authz_models(&self) -> Result<Value, ApiError> {
        let mut models = self.provider.store.authz_models().await?;
        models.reverse();
        Ok(json!({"authorization_models": models.iter().map(model_json).collect::<Vec<_>>()}))
    }

    /// `GET /api/v2/authz/models/{id}`.
    pub async fn get_authz_model(&self, id: &str) -> Result<Value, ApiError> {
        match self.provider.store.authz_model(id).await {
            Ok(m) => Ok(json!({"authorization_model": model_json(&m)})),
            Err(StoreError::NotFound) => Err(engine_error(EngineError::ModelNotFound(id.into()))),
            Err(e) => Err(e.into()),
        }
    }

    /// `POST /api/v2/authz/tuples` with `{writes, deletes, authorization_model_id?}`: validated
    /// against the model (all or nothing), then written with their audit record. Writing a
    /// tuple that exists, or deleting one that does not, changes nothing and is not an error.
    pub async fn write_tuples(&self, body: &Value) -> Result<Value, ApiError> {
        let authz = self.authz()?;
        authz.ready().await?;
        let m = object_of(body, &["writes", "deletes", "authorization_model_id"])?;
        let writes = tuples_of(m.get("writes"), "writes", MAX_TUPLES_PER_WRITE)?;
        let deletes = tuples_of(m.get("deletes"), "deletes", MAX_TUPLES_PER_WRITE)?;
        if writes.is_empty() && deletes.is_empty() {
            return Err(bad("give writes or deletes"));
        }
        if writes.len() + deletes.len() > MAX_TUPLES_PER_WRITE {
            return Err(bad(format!(
                "at most {MAX_TUPLES_PER_WRITE} tuples per request (writes and deletes together)"
            )));
        }
        let model_id = text(&m, "authorization_model_id", false)?;
        let model = authz.engine.model(model_id).map_err(engine_error)?;
        for t in &writes {
            custos_authz::validate_tuple(&model, t).map_err(|e| bad(e.to_string()))?;
        }
        let rows = |ts: &[TupleKey]| -> Vec<TupleRow> {
            ts.iter()
                .map(|t| TupleRow {
                    subject: t.user.clone(),
                    relation: t.relation.clone(),
                    object: t.object.clone(),
                })
                .collect()
        };
        let mut tx = self.provider.store.begin().await?;
        let deleted = tx.delete_tuples(&rows(&deletes)).await?;
        let written = tx
            .write_tuples(&rows(&writes), self.provider.now_ms())
            .await?;
        tx.audit(&self.success_event(
            "create:relationships",
            json!({"writes": writes.len(), "deletes": deletes.len()}),
        ))
        .await?;
        let mut ev = self.authz_event(
            "Relationships written",
            json!({"writes": writes, "deletes": deletes}),
        );
        // One tuple: the record names its object, so "every change to patient X" is one query.
        if let [only] = (writes.iter().chain(deletes.iter())).collect::<Vec<_>>()[..] {
            ev.resource = Some(only.object.clone());
        }
        tx.audit(&ev).await?;
        tx.notify_authz().await?;
        tx.commit().await?;
        authz.sync().await?;
        Ok(json!({"written": written, "deleted": deleted}))
    }

    /// `GET /api/v2/authz/tuples?object=&relation=&user=&limit=`: stored tuples matching the
    /// filter (`object` may be `type:` for a whole type); `truncated` says when more matched.
    pub async fn read_tuples(
        &self,
        object: Option<&str>,
        relation: Option<&str>,
        user: Option<&str>,
        limit: Option<&str>,
    ) -> Result<Value, ApiError> {
        let authz = self.authz()?;
        authz.ready().await?;
        let limit = match limit {
            None | Some("") => 100,
            Some(l) => l
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_query("Query validation error: 'limit' must be 1 to 1000")
                })?,
        };
        let mut found = authz
            .engine
            .tuples()
            .read(object, relation, user, limit + 1);
        let truncated = found.len() > limit;
        found.truncate(limit);
        Ok(json!({"tuples": found, "truncated": truncated}))
    }

    /// `POST /api/v2/authz/list-objects` with `{user, relation, type, contextual_tuples?,
    /// page_size?, continuation_token?}`: objects of `type` on which `user` has `relation`,
    /// a page at a time (`continuation_token` continues; never silently cut).
    pub async fn list_objects(&self, body: &Value) -> Result<Value, ApiError> {
        let authz = self.authz()?;
        authz.ready().await?;
        let m = object_of(
            body,
            &[
                "user",
                "relation",
                "type",
                "contextual_tuples",
                "page_size",
                "continuation_token",
                "authorization_model_id",
            ],
        )?;
        let user = text(&m, "user", true)?.unwrap_or_default();
        let relation = text(&m, "relation", true)?.unwrap_or_default();
        let ty = text(&m, "type", true)?.unwrap_or_default();
        let after = text(&m, "continuation_token", false)?;
        let model_id = text(&m, "authorization_model_id", false)?;
        let contextual = tuples_of(
            m.get("contextual_tuples"),
            "contextual_tuples",
            MAX_CONTEXTUAL_TUPLES,
        )?;
        let page_size = match m.get("page_size") {
            None | Some(Value::Null) => 100,
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| bad("page_size must be an integer from 1 to 1000"))?
                as usize,
        };
        let page = authz
            .engine
            .list_objects(model_id, user, relation, ty, &contextual, page_size, after)
            .map_err(engine_error)?;
        let mut out = json!({"objects": page.objects});
        if let Some(next) = page.next {
            out["continuation_token"] = json!(next);
        }
        Ok(out)
    }

    /// `POST /api/v2/authz/list-users` with `{object, relation, user_filters, contextual_tuples?}`
    /// (`user_filters` like OpenFGA's `[{"type": "user"}]` or `[{"type": "group", "relation":
    /// "member"}]`): the users (or usersets) that have `relation` on `object`.
    pub async fn list_relationship_users(&self, body: &Value) -> Result<Value, ApiError> {
        let authz = self.authz()?;
        authz.ready().await?;
        let m = object_of(
            body,
            &[
                "object",
                "relation",
                "user_filters",
                "contextual_tuples",
                "authorization_model_id",
            ],
        )?;
        let object = text(&m, "object", true)?.unwrap_or_default();
        let relation = text(&m, "relation", true)?.unwrap_or_default();
        let model_id = text(&m, "authorization_model_id", false)?;
        let filter = match m
            .get("user_filters")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            Some([f]) => match (f["type"].as_str(), f.get("relation")) {
                (Some(t), None | Some(Value::Null)) => t.to_owned(),
                (Some(t), Some(Value::String(r))) => format!("{t}#{r}"),
                _ => return Err(bad("user_filters: [{type, relation?}]")),
            },
            _ => return Err(bad("user_filters must hold exactly one {type, relation?}")),
        };
        let contextual = tuples_of(
            m.get("contextual_tuples"),
            "contextual_tuples",
            MAX_CONTEXTUAL_TUPLES,
        )?;
        let users = authz
            .engine
            .list_users(model_id, object, relation, &filter, &contextual)
            .map_err(engine_error)?;
        Ok(json!({"users": users}))
    }
}
