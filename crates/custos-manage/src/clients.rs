//! `/api/v2/clients`.

use custos_crypto::jws::{Alg, VerifyingKey};
use custos_crypto::random;
use custos_domain::client::{
    is_valid_callback, AppType, AuthMethod, Client, RefreshTokenPolicy, RotationType,
    GRANT_CLIENT_CREDENTIALS, KNOWN_GRANTS,
};
use serde_json::{json, Value};

use crate::body::Body;
use crate::{ApiError, Manager, Paging};

const FIELDS: &[&str] = &[
    "name",
    "description",
    "app_type",
    "is_first_party",
    "token_endpoint_auth_method",
    "grant_types",
    "callbacks",
    "allowed_logout_urls",
    "jwt_configuration",
    "refresh_token",
    "jwks",
    "client_metadata",
    "oidc_conformant",
];

fn not_found() -> ApiError {
    ApiError::not_found("The client does not exist", "inexistent_client")
}

impl Manager<'_> {
    /// A client in Auth0's shape. The secret is included only when `secret` is given.
    fn client_json(&self, c: &Client, secret: Option<&str>) -> Value {
        let mut v = json!({
            "client_id": c.client_id,
            "name": c.name,
            "description": c.description,
            "app_type": c.app_type.as_str(),
            "is_first_party": c.is_first_party,
            "oidc_conformant": true,
            "token_endpoint_auth_method": c.auth_method.as_str(),
            "grant_types": c.grant_types,
            "callbacks": c.callbacks,
            "allowed_logout_urls": c.allowed_logout_urls,
            "jwt_configuration": {"alg": c.id_token_alg, "lifetime_in_seconds": c.id_token_lifetime, "secret_encoded": false},
            "refresh_token": {
                "rotation_type": c.refresh_token.rotation_type.as_str(),
                "expiration_type": if c.refresh_token.expiring { "expiring" } else { "non-expiring" },
                "token_lifetime": c.refresh_token.token_lifetime,
                "idle_token_lifetime": c.refresh_token.idle_token_lifetime,
                "infinite_token_lifetime": !c.refresh_token.expiring,
                "infinite_idle_token_lifetime": !c.refresh_token.expiring,
                "leeway": c.refresh_token.leeway,
            },
            "client_metadata": c.client_metadata,
            "is_system": c.is_system,
        });
        if !c.jwks.is_empty() {
            v["jwks"] = json!({"keys": c.jwks});
        }
        if let Some(s) = secret {
            v["client_secret"] = json!(s);
        }
        v
    }

    pub async fn create_client(&self, body: &Value) -> Result<Value, ApiError> {
        let b = Body::new(body, FIELDS)?;
        let now = self.provider.now_ms();
        let app_type = match b.str("app_type", 32)? {
            None => AppType::RegularWeb,
            Some(t) => AppType::parse(&t).ok_or_else(|| {
                ApiError::bad_body(format!(
                    "Payload validation error: 'Invalid app_type: {t}'."
                ))
            })?,
        };
        let (default_method, default_grants): (AuthMethod, &[&str]) = match app_type {
            AppType::Spa | AppType::Native => {
                (AuthMethod::None, &["authorization_code", "refresh_token"])
            }
            AppType::NonInteractive => (AuthMethod::ClientSecretPost, &["client_credentials"]),
            AppType::RegularWeb => (
                AuthMethod::ClientSecretPost,
                &["authorization_code", "refresh_token", "client_credentials"],
            ),
        };
        let mut client = Client {
            client_id: random::alphanumeric(32)?,
            name: b.required_str("name", 128)?,
            description: String::new(),
            app_type,
            is_first_party: true,
            auth_method: default_method,
            sealed_secret: None,
            grant_types: default_grants.iter().map(|s| (*s).to_owned()).collect(),
            callbacks: vec![],
            allowed_logout_urls: vec![],
            id_token_alg: "RS256".into(),
            id_token_lifetime: 36_000,
            refresh_token: RefreshTokenPolicy::default(),
            jwks: vec![],
            client_metadata: json!({}),
            is_system: false,
            created_at: now,
            updated_at: now,
        };
        apply(&b, &mut client)?;
        let secret = if client.auth_method.uses_secret() {
            let s = custos_crypto::b64url(random::bytes::<48>()?);
            client.sealed_secret = Some(self.provider.seal_client_secret(&client.client_id, &s)?);
            Some(s)
        } else {
            None
        };
        let mut tx = self.provider.store.begin().await?;
        tx.insert_client(&client).await?;
        tx.audit(&self.success_event(
            "create:clients",
            json!({"client_id": client.client_id, "name": client.name}),
        ))
        .await?;
        self.provider.commit_config(tx).await?;
        Ok(self.client_json(&client, secret.as_deref()))
    }

    pub async fn get_client(&self, id: &str) -> Result<Value, ApiError> {
        let c = self
            .provider
            .store
            .get_client(id)
            .await
            .map_err(|_| not_found())?;
        let secret = self.provider.client_secret(&c)?;
        Ok(self.client_json(&c, secret.as_deref()))
    }

    pub async fn list_clients(&self, paging: Paging) -> Result<Value, ApiError> {
        let page = self
            .provider
            .store
            .list_clients(paging.page, paging.per_page)
            .await?;
        let mut items = Vec::with_capacity(page.items.len());
        for c in &page.items {
            let secret = self.provider.client_secret(c)?;
            items.push(self.client_json(c, secret.as_deref()));
        }
        Ok(paging.wrap("clients", items, page.total))
    }

    pub async fn update_client(&self, id: &str, body: &Value) -> Result<Value, ApiError> {
        let b = Body::new(body, FIELDS)?;
        let mut c = self
            .provider
            .store
            .get_client(id)
            .await
            .map_err(|_| not_found())?;
        // Secrets never enter the trail: the shapes are rendered without them.
        let before = self.client_json(&c, None);
        if let Some(name) = b.str("name", 128)? {
            if name.is_empty() {
                return Err(ApiError::bad_body(
                    "Payload validation error: 'name' must not be empty.",
                ));
            }
            c.name = name;
        }
        if let Some(t) = b.str("app_type", 32)? {
            c.app_type = AppType::parse(&t).ok_or_else(|| {
                ApiError::bad_body(format!(
                    "Payload validation error: 'Invalid app_type: {t}'."
                ))
            })?;
        }
        let had_secret = c.auth_method.uses_secret();
        apply(&b, &mut c)?;
        let mut new_secret = None;
        if c.auth_method.uses_secret() && !had_secret {
            let s = custos_crypto::b64url(random::bytes::<48>()?);
            c.sealed_secret = Some(self.provider.seal_client_secret(&c.client_id, &s)?);
            new_secret = Some(s);
        } else if !c.auth_method.uses_secret() {
            c.sealed_secret = None;
        }
        c.updated_at = self.provider.now_ms();
        let mut tx = self.provider.store.begin().await?;
        tx.update_client(&c).await?;
        tx.audit(&self.success_event(
            "update:clients",
            json!({"client_id": c.client_id, "fields": keys(body), "before": before, "after": self.client_json(&c, None)}),
        ))
        .await?;
        self.provider.commit_config(tx).await?;
        let secret = match new_secret {
            Some(s) => Some(s),
            None => self.provider.client_secret(&c)?,
        };
        Ok(self.client_json(&c, secret.as_deref()))
    }

    pub async fn rotate_client_secret(&self, id: &str) -> Result<Value, ApiError> {
        let mut c = self
            .provider
            .store
            .get_client(id)
            .await
            .map_err(|_| not_found())?;
        if !c.auth_method.uses_secret() {
            return Err(ApiError::bad_body(
                "The client does not use a client secret",
            ));
        }
        let s = custos_crypto::b64url(random::bytes::<48>()?);
        c.sealed_secret = Some(self.provider.seal_client_secret(&c.client_id, &s)?);
        c.updated_at = self.provider.now_ms();
        let mut tx = self.provider.store.begin().await?;
        tx.update_client(&c).await?;
        tx.audit(&self.success_event(
            "update:client_keys",
            json!({"client_id": c.client_id, "rotated": "client_secret"}),
        ))
        .await?;
        self.provider.commit_config(tx).await?;
        Ok(self.client_json(&c, Some(&s)))
    }

    pub async fn delete_client(&self, id: &str) -> Result<(), ApiError> {
        let c = self
            .provider
            .store
            .get_client(id)
            .await
            .map_err(|_| not_found())?;
        if c.is_system {
            return Err(ApiError::forbidden(
                "System clients cannot be deleted",
                "operation_not_supported",
            ));
        }
        let mut tx = self.provider.store.begin().await?;
        tx.delete_client(id).await?;
        tx.audit(&self.success_event(
            "delete:clients",
            json!({"client_id": id, "name": c.name, "before": self.client_json(&c, None)}),
        ))
        .await?;
        self.provider.commit_config(tx).await?;
        Ok(())
    }
}

fn keys(body: &Value) -> Vec<String> {
    body.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Applies the optional settings of a create or update body.
fn apply(b: &Body<'_>, c: &mut Client) -> Result<(), ApiError> {
    let bad = |m: String| ApiError::bad_body(format!("Payload validation error: '{m}'."));
    if let Some(d) = b.str("description", 140)? {
        c.description = d;
    }
    if let Some(f) = b.bool("is_first_party")? {
        c.is_first_party = f;
    }
    if let Some(m) = b.str("token_endpoint_auth_method", 32)? {
        c.auth_method = AuthMethod::parse(&m)
            .ok_or_else(|| bad(format!("Invalid token_endpoint_auth_method: {m}")))?;
    }
    if let Some(grants) = b.strings("grant_types", 16, 64)? {
        if let Some(unknown) = grants.iter().find(|g| !KNOWN_GRANTS.contains(&g.as_str())) {
            return Err(bad(format!("Unsupported grant type: {unknown}")));
        }
        c.grant_types = grants;
    }
    for (key, target) in [
        ("callbacks", &mut c.callbacks),
        ("allowed_logout_urls", &mut c.allowed_logout_urls),
    ] {
        if let Some(urls) = b.strings(key, 100, 2048)? {
            if let Some(badurl) = urls.iter().find(|u| !is_valid_callback(u)) {
                return Err(bad(format!("Invalid URL in {key}: {badurl} (absolute https, loopback http or a custom scheme; no wildcards or fragments)")));
            }
            *target = urls;
        }
    }
    if let Some(jwt) = b.object("jwt_configuration")? {
        if let Some(alg) = jwt.get("alg") {
            let alg = alg
                .as_str()
                .and_then(Alg::parse)
                .ok_or_else(|| bad("jwt_configuration.alg must be RS256, ES256 or EdDSA".into()))?;
            c.id_token_alg = alg.as_str().into();
        }
        if let Some(l) = jwt.get("lifetime_in_seconds") {
            c.id_token_lifetime = l
                .as_i64()
                .filter(|n| (60..=2_592_000).contains(n))
                .ok_or_else(|| {
                    bad("jwt_configuration.lifetime_in_seconds must be 60..2592000".into())
                })?;
        }
    }
    if let Some(rt) = b.object("refresh_token")? {
        if let Some(r) = rt.get("rotation_type") {
            c.refresh_token.rotation_type =
                r.as_str().and_then(RotationType::parse).ok_or_else(|| {
                    bad("refresh_token.rotation_type must be rotating or non-rotating".into())
                })?;
        }
        if let Some(e) = rt.get("expiration_type") {
            c.refresh_token.expiring = match e.as_str() {
                Some("expiring") => true,
                Some("non-expiring") => false,
                _ => {
                    return Err(bad(
                        "refresh_token.expiration_type must be expiring or non-expiring".into(),
                    ))
                }
            };
        }
        for (k, target) in [
            ("token_lifetime", &mut c.refresh_token.token_lifetime),
            (
                "idle_token_lifetime",
                &mut c.refresh_token.idle_token_lifetime,
            ),
            ("leeway", &mut c.refresh_token.leeway),
        ] {
            if let Some(v) = rt.get(k) {
                *target = v
                    .as_i64()
                    .filter(|n| (0..=31_557_600).contains(n))
                    .ok_or_else(|| {
                        bad(format!("refresh_token.{k} must be an integer 0..31557600"))
                    })?;
            }
        }
    }
    if let Some(jwks) = b.object("jwks")? {
        let keys = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("jwks.keys must be an array".into()))?;
        if keys.len() > 10
            || keys
                .iter()
                .any(|k| VerifyingKey::from_jwk(k).is_err() || k.get("d").is_some())
        {
            return Err(bad(
                "jwks.keys must hold at most 10 public RSA, P-256 or Ed25519 JWKs".into(),
            ));
        }
        c.jwks = keys.clone();
    }
    if let Some(m) = b.object("client_metadata")? {
        if m.len() > 10 || m.values().any(|v| !v.is_string()) {
            return Err(bad("client_metadata holds at most 10 string values".into()));
        }
        c.client_metadata = Value::Object(m.clone());
    }
    // Cross-field rules.
    if c.auth_method == AuthMethod::None
        && c.grant_types.iter().any(|g| g == GRANT_CLIENT_CREDENTIALS)
    {
        return Err(bad(
            "Public clients (token_endpoint_auth_method none) cannot use client_credentials".into(),
        ));
    }
    if c.auth_method == AuthMethod::PrivateKeyJwt && c.jwks.is_empty() {
        return Err(bad("private_key_jwt needs public keys in jwks.keys".into()));
    }
    Ok(())
}
