//! `/api/v2/users`.

use custos_domain::iso8601;
use custos_domain::user::{
    normalize_email, password_acceptable, User, DB_CONNECTION, USER_ID_PREFIX,
};
use custos_store::{StoreError, UserPatch};
use serde_json::{json, Value};

use crate::body::{check_metadata, merge_metadata, Body};
use crate::{ApiError, Manager, Paging};

const CREATE_FIELDS: &[&str] = &[
    "connection",
    "email",
    "password",
    "email_verified",
    "verify_email",
    "name",
    "nickname",
    "given_name",
    "family_name",
    "picture",
    "app_metadata",
    "user_metadata",
    "blocked",
    "user_id",
];
const UPDATE_FIELDS: &[&str] = &[
    "connection",
    "email",
    "password",
    "email_verified",
    "verify_email",
    "name",
    "nickname",
    "given_name",
    "family_name",
    "picture",
    "app_metadata",
    "user_metadata",
    "blocked",
];

fn not_found() -> ApiError {
    ApiError::not_found("The user does not exist.", "inexistent_user")
}

/// A user in Auth0's shape. Never includes the password hash.
pub(crate) fn user_json(u: &User) -> Value {
    let id = u.user_id.strip_prefix(USER_ID_PREFIX).unwrap_or(&u.user_id);
    let mut v = json!({
        "user_id": u.user_id,
        "email": u.email,
        "email_verified": u.email_verified,
        "name": u.name.clone().unwrap_or_else(|| u.email.clone()),
        "nickname": u.nickname.clone().unwrap_or_else(|| u.email.split('@').next().unwrap_or_default().to_owned()),
        "app_metadata": u.app_metadata,
        "user_metadata": u.user_metadata,
        "blocked": u.blocked,
        "created_at": iso8601(u.created_at),
        "updated_at": iso8601(u.updated_at),
        "logins_count": u.logins_count,
        "identities": [{"connection": DB_CONNECTION, "provider": "auth0", "user_id": id, "isSocial": false}],
    });
    for (k, val) in [
        ("given_name", &u.given_name),
        ("family_name", &u.family_name),
        ("picture", &u.picture),
    ] {
        if let Some(val) = val {
            v[k] = json!(val);
        }
    }
    if let Some(t) = u.last_login {
        v["last_login"] = json!(iso8601(t));
    }
    if let Some(ip) = &u.last_ip {
        v["last_ip"] = json!(ip);
    }
    v
}

fn email_of(b: &Body<'_>) -> Result<Option<String>, ApiError> {
    match b.str("email", 254)? {
        None => Ok(None),
        Some(e) => normalize_email(&e)
            .map(Some)
            .ok_or_else(|| ApiError::bad_body("Payload validation error: 'Object didn't pass validation for format email' on property email.")),
    }
}

fn password_of(b: &Body<'_>) -> Result<Option<String>, ApiError> {
    match b.str("password", 256)? {
        None => Ok(None),
        Some(p) if password_acceptable(&p) => Ok(Some(p)),
        Some(_) => Err(ApiError::new(
            400,
            "PasswordStrengthError: Password is too weak",
            Some("invalid_body"),
        )),
    }
}

fn metadata(b: &Body<'_>, key: &str) -> Result<Option<serde_json::Map<String, Value>>, ApiError> {
    let m = b.object(key)?;
    if let Some(m) = m {
        check_metadata(key, m)?;
    }
    Ok(m.cloned())
}

impl Manager<'_> {
    pub async fn create_user(&self, body: &Value) -> Result<Value, ApiError> {
        let b = Body::new(body, CREATE_FIELDS)?;
        let connection = b.required_str("connection", 128)?;
        if connection != DB_CONNECTION {
            return Err(ApiError::bad_body(format!(
                "The connection does not exist. ({connection})"
            )));
        }
        let email = email_of(&b)?.ok_or_else(|| {
            ApiError::bad_body("Payload validation error: 'Missing required property: email'.")
        })?;
        let password = password_of(&b)?.ok_or_else(|| {
            ApiError::bad_body("Payload validation error: 'Missing required property: password'.")
        })?;
        let user_id = match b.str("user_id", 64)? {
            Some(id)
                if !id.is_empty()
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
            {
                format!("{USER_ID_PREFIX}{id}")
            }
            Some(_) => return Err(ApiError::bad_body(
                "Payload validation error: 'user_id may only contain letters, digits, - and _'.",
            )),
            None => format!("{USER_ID_PREFIX}{}", custos_crypto::random::hex_id::<12>()?),
        };
        let now = self.provider.now_ms();
        let hash = self.provider.passwords.hash(password).await?;
        let user = User {
            user_id,
            email,
            email_verified: b.bool("email_verified")?.unwrap_or(false),
            name: b.str("name", 300)?,
            nickname: b.str("nickname", 300)?,
            given_name: b.str("given_name", 150)?,
            family_name: b.str("family_name", 150)?,
            picture: b.str("picture", 2048)?,
            password_hash: Some(hash),
            app_metadata: Value::Object(metadata(&b, "app_metadata")?.unwrap_or_default()),
            user_metadata: Value::Object(metadata(&b, "user_metadata")?.unwrap_or_default()),
            blocked: b.bool("blocked")?.unwrap_or(false),
            logins_count: 0,
            last_login: None,
            last_ip: None,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.provider.store.begin().await?;
        match tx.insert_user(&user).await {
            Err(StoreError::Conflict(_)) => {
                return Err(ApiError::conflict(
                    "The user already exists.",
                    "auth0_idp_error",
                ))
            }
            other => other?,
        }
        tx.audit(&self.success_event("create:users", json!({"user_id": user.user_id})))
            .await?;
        tx.commit().await?;
        self.provider.run_after_commit(
            "post-user-registration",
            &user,
            &self.actor.client_id,
            &self.actor.client_id,
            &self.actor.meta,
        );
        Ok(user_json(&user))
    }

    pub async fn get_user(&self, id: &str) -> Result<Value, ApiError> {
        let u = self
            .provider
            .store
            .get_user(id)
            .await
            .map_err(|_| not_found())?;
        Ok(user_json(&u))
    }

    /// `GET /api/v2/users-by-email?email=`: the users with that email address (compared after
    /// normalisation, so case-insensitively), as an array; empty when there are none.
    pub async fn users_by_email(&self, email: Option<&str>) -> Result<Value, ApiError> {
        let email = email
            .filter(|e| !e.is_empty())
            .ok_or_else(|| ApiError::bad_query("Query validation error: 'email' is required"))?;
        let email = normalize_email(email).ok_or_else(|| {
            ApiError::bad_query(format!(
                "Query validation error: Object didn't pass validation for format email: {email}"
            ))
        })?;
        match self.provider.store.find_user_by_email(&email).await {
            Ok(u) => Ok(Value::Array(vec![user_json(&u)])),
            Err(StoreError::NotFound) => Ok(Value::Array(Vec::new())),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list_users(&self, paging: Paging) -> Result<Value, ApiError> {
        self.search_users(paging, None, None).await
    }

    /// `GET /api/v2/users` with Auth0's user search: `q` (the Lucene subset, over the fields in
    /// `custos_store::search::USER_FIELDS`) and `sort` (`field:1` or `field:-1`).
    pub async fn search_users(
        &self,
        paging: Paging,
        q: Option<&str>,
        sort: Option<&str>,
    ) -> Result<Value, ApiError> {
        use custos_store::search::{
            parse_and_translate_in, FieldKind, SearchError, USER_DEFAULT_FIELDS, USER_FIELDS,
        };
        // Auth0 only lets you page through the first 1000 users.
        if (paging.page + 1) * paging.per_page > 1000 {
            return Err(ApiError::bad_query("You can only page through the first 1000 records. See https://auth0.com/docs/users/search/v3/view-search-results-by-page#limitation"));
        }
        let search = match q.filter(|t| !t.trim().is_empty()) {
            None => None,
            Some(text) if text.len() > 2048 => {
                return Err(ApiError::bad_query(
                    "Query validation error: 'q' is longer than 2048 characters",
                ))
            }
            Some(text) => Some(
                parse_and_translate_in(
                    self.provider.store.dialect(),
                    text,
                    USER_FIELDS,
                    USER_DEFAULT_FIELDS,
                    1,
                )
                .map_err(|e| match e {
                    SearchError::Misconfigured { .. } => ApiError::internal(),
                    other => ApiError::bad_query(format!("Query validation error: 'q': {other}")),
                })?,
            ),
        };
        let sort = match sort.filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => {
                let parsed = s.split_once(':').and_then(|(field, dir)| {
                    let f = USER_FIELDS
                        .iter()
                        .find(|f| f.name == field && f.kind != FieldKind::Json)?;
                    match dir {
                        "1" => Some((f.column, false)),
                        "-1" => Some((f.column, true)),
                        _ => None,
                    }
                });
                Some(parsed.ok_or_else(|| {
                    ApiError::bad_query(
                        "Query validation error: 'sort' must be field:1 or field:-1 with a searchable field",
                    )
                })?)
            }
        };
        let page = self
            .provider
            .store
            .search_users(search.as_ref(), sort, paging.page, paging.per_page)
            .await?;
        Ok(paging.wrap(
            "users",
            page.items.iter().map(user_json).collect(),
            page.total,
        ))
    }

    pub async fn update_user(&self, id: &str, body: &Value) -> Result<Value, ApiError> {
        let b = Body::new(body, UPDATE_FIELDS)?;
        let mut user = self
            .provider
            .store
            .get_user(id)
            .await
            .map_err(|_| not_found())?;
        if let Some(c) = b.str("connection", 128)? {
            if c != DB_CONNECTION {
                return Err(ApiError::bad_body(format!(
                    "The connection does not exist. ({c})"
                )));
            }
        }
        let password_hash = match password_of(&b)? {
            Some(p) => Some(self.provider.passwords.hash(p).await?),
            None => None,
        };
        let password_changed = password_hash.is_some();
        let was_blocked = user.blocked;
        let before = user_json(&user);
        let patch = UserPatch {
            email: email_of(&b)?,
            email_verified: b.bool("email_verified")?,
            name: b.nullable_str("name", 300)?,
            nickname: b.nullable_str("nickname", 300)?,
            given_name: b.nullable_str("given_name", 150)?,
            family_name: b.nullable_str("family_name", 150)?,
            picture: b.nullable_str("picture", 2048)?,
            password_hash,
            app_metadata: metadata(&b, "app_metadata")?
                .map(|m| merge_metadata(&user.app_metadata, &m)),
            user_metadata: metadata(&b, "user_metadata")?
                .map(|m| merge_metadata(&user.user_metadata, &m)),
            blocked: b.bool("blocked")?,
        };
        patch.apply(&mut user);
        user.updated_at = self.provider.now_ms();
        let mut tx = self.provider.store.begin().await?;
        match tx.update_user(&user).await {
            Err(StoreError::Conflict(_)) => {
                return Err(ApiError::conflict(
                    "The specified new email already exists",
                    "email_conflict",
                ))
            }
            other => other?,
        }
        // Blocking (or a new password) ends every session and token family at once.
        let revoke = (user.blocked && !was_blocked) || password_changed;
        if revoke {
            tx.revoke_user_access(&user.user_id).await?;
        }
        let fields: Vec<&String> = body
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        let after = user_json(&user);
        tx.audit(&self.success_event(
            "update:users",
            json!({"user_id": user.user_id, "fields": fields, "revoked_access": revoke,
                   "password_changed": password_changed, "before": before, "after": after}),
        ))
        .await?;
        if password_changed {
            // A new password lifts brute-force blocks, as in Auth0.
            tx.clear_login_failures(&user.user_id).await?;
            let mut ev = self.success_event("update:users", json!({"user_id": user.user_id}));
            ev.event_type = custos_domain::audit::EventType::Scp;
            ev.description = "Password changed through the Management API".into();
            ev.user_id = Some(user.user_id.clone());
            ev.user_name = Some(user.email.clone());
            ev.connection = Some(DB_CONNECTION.into());
            tx.audit(&ev).await?;
        }
        tx.commit().await?;
        if password_changed {
            self.provider.run_after_commit(
                "post-change-password",
                &user,
                &self.actor.client_id,
                &self.actor.client_id,
                &self.actor.meta,
            );
        }
        Ok(after)
    }

    pub async fn delete_user(&self, id: &str) -> Result<(), ApiError> {
        let before = self
            .provider
            .store
            .get_user(id)
            .await
            .ok()
            .map(|u| user_json(&u));
        let mut tx = self.provider.store.begin().await?;
        tx.delete_user(id).await.map_err(|e| match e {
            StoreError::NotFound => not_found(),
            other => other.into(),
        })?;
        tx.audit(&self.success_event("delete:users", json!({"user_id": id, "before": before})))
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl Manager<'_> {
    /// `GET /api/v2/user-blocks/{id}`: the addresses brute-force protection blocks.
    pub async fn get_user_blocks(&self, id: &str) -> Result<Value, ApiError> {
        let user = self
            .provider
            .store
            .get_user(id)
            .await
            .map_err(|_| not_found())?;
        let blocked: Vec<Value> = self
            .provider
            .store
            .login_blocks(&user.user_id)
            .await?
            .into_iter()
            .map(|ip| json!({"identifier": user.email, "ip": ip, "connection": DB_CONNECTION}))
            .collect();
        Ok(json!({"blocked_for": blocked}))
    }

    /// `DELETE /api/v2/user-blocks/{id}`: lifts every brute-force block of the user.
    pub async fn delete_user_blocks(&self, id: &str) -> Result<(), ApiError> {
        let user = self
            .provider
            .store
            .get_user(id)
            .await
            .map_err(|_| not_found())?;
        let ips = self.provider.store.login_blocks(&user.user_id).await?;
        let mut tx = self.provider.store.begin().await?;
        tx.clear_login_failures(&user.user_id).await?;
        tx.audit(&self.success_event(
            "update:users",
            json!({"user_id": user.user_id, "unblocked": ips}),
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
