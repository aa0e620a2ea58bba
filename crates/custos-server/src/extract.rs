//! Request extractors: who is calling (for audit), strict OAuth form bodies, JSON bodies with
//! Auth0's errors, and the Management API's authorisation as a type, so a management handler
//! cannot be written without naming the scope it needs.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use custos_domain::audit::{AuditEvent, EventType};
use custos_manage::{Actor, ApiError};
use custos_oidc::{OAuthError, RequestMeta};
use serde_json::{json, Value};

use crate::error::{api_error, oauth_error};
use crate::AppState;

/// The caller's address and user agent.
pub struct Meta(pub RequestMeta);

impl<S: Send + Sync> FromRequestParts<S> for Meta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_default();
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .chars()
            .take(512)
            .collect();
        Ok(Meta(RequestMeta { ip, user_agent }))
    }
}

fn content_type_is(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}

/// An `application/x-www-form-urlencoded` body in which no parameter repeats
/// (RFC 6749 §3.1: "parameters MUST NOT be included more than once"), or, as Auth0 also
/// accepts (and its SDKs send), a JSON object of string values.
pub struct OAuthForm(pub HashMap<String, String>);

/// Form bodies larger than this are refused (no legitimate OAuth request comes close).
const MAX_FORM_BYTES: usize = 64 * 1024;

impl<S: Send + Sync> FromRequest<S> for OAuthForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = content_type_is(req.headers(), "application/json");
        if !json && !content_type_is(req.headers(), "application/x-www-form-urlencoded") {
            return Err(oauth_error(&OAuthError::invalid_request(
                "Content-Type must be application/x-www-form-urlencoded or application/json",
            )));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|_| {
            oauth_error(&OAuthError::invalid_request(
                "Request body is too large or unreadable",
            ))
        })?;
        if bytes.len() > MAX_FORM_BYTES {
            return Err(oauth_error(&OAuthError::invalid_request(
                "Request body is too large",
            )));
        }
        let parsed = if json {
            parse_json_params(&bytes)
        } else {
            parse_form(&bytes)
        };
        parsed.map(OAuthForm).map_err(|e| oauth_error(&e))
    }
}

/// A JSON object whose values are strings (`null` counts as absent). A key given twice is refused,
/// as a repeated form parameter is, rather than letting the last one win silently.
pub fn parse_json_params(bytes: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let Entries(pairs) = serde_json::from_slice(bytes)
        .map_err(|_| OAuthError::invalid_request("Malformed JSON body: expected an object"))?;
    let mut out = HashMap::with_capacity(pairs.len());
    for (k, v) in pairs {
        let v = match v {
            Value::String(s) => s,
            Value::Null => continue,
            _ => {
                return Err(OAuthError::invalid_request(format!(
                    "Parameter '{k}' must be a string"
                )))
            }
        };
        if out.insert(k.clone(), v).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "Parameter '{k}' was sent more than once"
            )));
        }
    }
    Ok(out)
}

/// A JSON object's entries in order, repeats included.
struct Entries(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    if out.len() >= 64 {
                        return Err(serde::de::Error::custom("too many parameters"));
                    }
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

pub fn parse_form(bytes: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes)
        .map_err(|_| OAuthError::invalid_request("Malformed form body"))?;
    let mut out = HashMap::with_capacity(pairs.len());
    for (k, v) in pairs {
        if out.insert(k.clone(), v).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "Parameter '{k}' was sent more than once"
            )));
        }
    }
    Ok(out)
}

/// A JSON object body; malformed or non-JSON bodies get Auth0's `invalid_body` error.
pub struct ApiJson(pub Value);

impl<S: Send + Sync> FromRequest<S> for ApiJson {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !content_type_is(req.headers(), "application/json") {
            return Err(api_error(&ApiError::new(
                415,
                "Content-Type must be application/json",
                Some("invalid_body"),
            )));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|_| {
            api_error(&ApiError::new(
                413,
                "Request body is larger than 1 MB",
                Some("invalid_body"),
            ))
        })?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|_| api_error(&ApiError::bad_body("Invalid request payload JSON format")))?;
        Ok(ApiJson(value))
    }
}

/// A Management API scope, as a type.
pub trait Scope: Send + Sync + 'static {
    const NAME: &'static str;
}

macro_rules! scopes {
    ($($t:ident => $name:literal),* $(,)?) => {
        $(
            pub struct $t;
            impl Scope for $t {
                const NAME: &'static str = $name;
            }
        )*
    };
}

scopes! {
    ReadClients => "read:clients",
    CreateClients => "create:clients",
    UpdateClients => "update:clients",
    DeleteClients => "delete:clients",
    UpdateClientKeys => "update:client_keys",
    ReadResourceServers => "read:resource_servers",
    CreateResourceServers => "create:resource_servers",
    UpdateResourceServers => "update:resource_servers",
    DeleteResourceServers => "delete:resource_servers",
    ReadClientGrants => "read:client_grants",
    CreateClientGrants => "create:client_grants",
    UpdateClientGrants => "update:client_grants",
    DeleteClientGrants => "delete:client_grants",
    ReadUsers => "read:users",
    CreateUsers => "create:users",
    UpdateUsers => "update:users",
    DeleteUsers => "delete:users",
    ReadLogs => "read:logs",
    ReadSigningKeys => "read:signing_keys",
    CreateSigningKeys => "create:signing_keys",
    ReadLogStreams => "read:log_streams",
    CreateLogStreams => "create:log_streams",
    UpdateLogStreams => "update:log_streams",
    DeleteLogStreams => "delete:log_streams",
    ReadRoles => "read:roles",
    CreateRoles => "create:roles",
    UpdateRoles => "update:roles",
    DeleteRoles => "delete:roles",
    CheckAccess => "check:access",
    ReadOrganizations => "read:organizations",
    CreateOrganizations => "create:organizations",
    UpdateOrganizations => "update:organizations",
    DeleteOrganizations => "delete:organizations",
    ReadOrganizationMembers => "read:organization_members",
    CreateOrganizationMembers => "create:organization_members",
    DeleteOrganizationMembers => "delete:organization_members",
    ReadOrganizationMemberRoles => "read:organization_member_roles",
    CreateOrganizationMemberRoles => "create:organization_member_roles",
    DeleteOrganizationMemberRoles => "delete:organization_member_roles",
    ReadAuthorizationModels => "read:authorization_models",
    CreateAuthorizationModels => "create:authorization_models",
    ReadRelationships => "read:relationships",
    UpdateRelationships => "update:relationships",
    ReadRules => "read:rules",
    CreateRules => "create:rules",
    UpdateRules => "update:rules",
    DeleteRules => "delete:rules",
    ReadRulesConfigs => "read:rules_configs",
    UpdateRulesConfigs => "update:rules_configs",
    DeleteRulesConfigs => "delete:rules_configs",
    ReadActions => "read:actions",
    CreateActions => "create:actions",
    UpdateActions => "update:actions",
    DeleteActions => "delete:actions",
}

/// Management tokens verified recently: a busy caller (a service asking for decisions) sends
/// the same token thousands of times a second, and one RSA verification per second is enough.
/// An entry is trusted for at most [`BEARER_TTL_MS`] and never past the token's `exp`; a client
/// deleted meanwhile stops working at once (each use still looks its client up in the
/// provider's cache).
#[derive(Default)]
pub struct BearerCache(
    std::sync::RwLock<HashMap<String, (std::sync::Arc<custos_oidc::BearerIdentity>, i64)>>,
);

/// How long a verified management token is trusted without verifying it again.
pub const BEARER_TTL_MS: i64 = 1_000;
const BEARER_CACHE_MAX: usize = 10_000;

impl BearerCache {
    fn get(&self, token: &str, now_ms: i64) -> Option<std::sync::Arc<custos_oidc::BearerIdentity>> {
        let map = self
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(token)
            .filter(|(_, until)| now_ms < *until)
            .map(|(id, _)| id.clone())
    }

    fn put(
        &self,
        token: &str,
        id: custos_oidc::BearerIdentity,
        now_ms: i64,
    ) -> std::sync::Arc<custos_oidc::BearerIdentity> {
        let exp_ms = id
            .claims
            .get("exp")
            .and_then(Value::as_i64)
            .map_or(now_ms, |s| s.saturating_mul(1000));
        let id = std::sync::Arc::new(id);
        let mut map = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= BEARER_CACHE_MAX {
            map.retain(|_, (_, until)| now_ms < *until);
            if map.len() >= BEARER_CACHE_MAX {
                map.clear();
            }
        }
        map.insert(
            token.to_owned(),
            (id.clone(), (now_ms + BEARER_TTL_MS).min(exp_ms)),
        );
        id
    }
}

/// Auth0's 429 for a client over its Management API rate limit. Only the first refusal of a run
/// is recorded (`api_limit`), so a flood of refused calls cannot flood the audit trail.
async fn rate_limited(
    state: &AppState,
    client_id: &str,
    meta: &custos_oidc::RequestMeta,
    info: &crate::ratelimit::RateInfo,
) -> Response {
    let p = &state.provider;
    if info.first_refusal {
        let mut ev = AuditEvent::new(EventType::ApiLimit, p.now_ms());
        ev.description = "Management API rate limit reached".to_owned();
        ev.client_id = Some(client_id.to_owned());
        ev.ip = Some(meta.ip.clone());
        ev.user_agent = Some(meta.user_agent.clone());
        ev.details = json!({"limit": info.limit, "reset": info.reset});
        if let Err(e) = p.store.append_audit(ev).await {
            tracing::error!(error = %e, "could not record a rate limit");
            return api_error(&ApiError::internal());
        }
    }
    api_error(&ApiError::new(
        429,
        "Global limit has been reached",
        Some("too_many_requests"),
    ))
}

/// Proof that the request carries a valid Management API token with scope `S`.
pub struct Authorized<S: Scope> {
    pub actor: Actor,
    _scope: PhantomData<S>,
}

impl<S: Scope> Authorized<S> {
    pub fn scope(&self) -> &'static str {
        S::NAME
    }
}

impl<S: Scope> FromRequestParts<AppState> for Authorized<S> {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Meta(meta) = match Meta::from_request_parts(parts, state).await {
            Ok(m) => m,
            Err(never) => match never {},
        };
        let p = &state.provider;
        let path = parts.uri.path().to_owned();
        let deny = |error: ApiError, client_id: Option<String>| {
            let meta = meta.clone();
            let path = path.clone();
            async move {
                let mut ev = AuditEvent::new(EventType::Fapi, p.now_ms());
                ev.description = format!("Management API access denied: {}", error.message);
                ev.client_id = client_id;
                ev.ip = Some(meta.ip.clone());
                ev.user_agent = Some(meta.user_agent.clone());
                ev.details =
                    json!({"required_scope": S::NAME, "statusCode": error.status, "path": path});
                if let Err(e) = p.store.append_audit(ev).await {
                    tracing::error!(error = %e, "could not record denied management access");
                    return api_error(&ApiError::internal());
                }
                let mut r = api_error(&error);
                if error.status == 401 {
                    r.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        axum::http::HeaderValue::from_static("Bearer realm=\"custos\""),
                    );
                }
                r
            }
        };
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(deny(ApiError::new(401, "Missing authentication", None), None).await);
        };
        // A cached token still needs its client: deleting a client ends its tokens at once
        // (the client lookup is the provider's in-memory cache, invalidated on changes).
        let cached = match state.bearers.get(token, p.now_ms()) {
            Some(id)
                if matches!(id.kind, custos_oidc::TokenKind::Client)
                    && p.client(&id.client_id).await.is_err() =>
            {
                None
            }
            other => other,
        };
        let identity = match cached {
            Some(id) => Ok(id),
            None => p
                .verify_access_token(token, Some(&p.settings.management_audience()))
                .await
                .map(|id| state.bearers.put(token, id, p.now_ms())),
        };
        let identity = match identity {
            Ok(id) => id,
            Err(custos_oidc::ProviderError::OAuth(_))
            | Err(custos_oidc::ProviderError::InvalidToken(_)) => {
                return Err(deny(
                    ApiError::new(401, "Invalid token", Some("invalid_token")),
                    None,
                )
                .await)
            }
            Err(e) => {
                tracing::error!(error = %e, "management token verification failed");
                return Err(api_error(&ApiError::internal()).into_response());
            }
        };
        // Management tokens are machine tokens (client credentials); a user's token is refused
        // here even if it somehow named this audience.
        if identity.kind != custos_oidc::TokenKind::Client {
            return Err(deny(
                ApiError::new(401, "Invalid token", Some("invalid_token")),
                Some(identity.client_id.clone()),
            )
            .await);
        }
        if let Some(limiter) = &state.limiter {
            let info = limiter.take(&identity.client_id, p.now_ms());
            if let Some(slot) = parts.extensions.get::<crate::ratelimit::RateSlot>() {
                let _ = slot.0.set(info);
            }
            if !info.allowed {
                return Err(rate_limited(state, &identity.client_id, &meta, &info).await);
            }
        }
        if !identity.has_scope(S::NAME) {
            let e = ApiError::forbidden(
                format!("Insufficient scope, expected any of: {}", S::NAME),
                "insufficient_scope",
            );
            return Err(deny(e, Some(identity.client_id.clone())).await);
        }
        Ok(Self {
            actor: Actor {
                client_id: identity.client_id.clone(),
                meta,
            },
            _scope: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_token_bodies_are_objects_of_strings_without_repeats() {
        let ok = parse_json_params(
            br#"{"grant_type":"client_credentials","audience":"a","scope":null}"#,
        );
        let ok = ok.map_err(|e| e.description).unwrap_or_default();
        assert_eq!(
            ok.get("grant_type").map(String::as_str),
            Some("client_credentials")
        );
        assert!(!ok.contains_key("scope"));
        for bad in [
            &br#"{"a":"1","a":"2"}"#[..],
            br#"{"a":1}"#,
            br#"{"a":["x"]}"#,
            br#"["a"]"#,
            br#""a""#,
            b"{",
            b"",
        ] {
            assert!(
                parse_json_params(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn form_bodies_refuse_repeats() {
        assert!(parse_form(b"a=1&b=2").is_ok());
        assert!(parse_form(b"a=1&a=2").is_err());
    }
}
