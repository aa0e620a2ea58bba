//! Minting ID tokens and access tokens.

use custos_crypto::jws::Alg;
use custos_domain::client::Client;
use custos_domain::resource_server::ResourceServer;
use custos_domain::user::User;
use custos_domain::{iso8601, scope};
use serde_json::{json, Map, Value};

use crate::{Provider, ProviderError};

/// Scopes that belong to OpenID Connect rather than to an API.
pub(crate) const OIDC_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "offline_access",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "email_verified",
    "picture",
    "created_at",
];

/// Default lifetime of access tokens for `/userinfo` only (Auth0: 24 h).
const USERINFO_TOKEN_LIFETIME: i64 = 86_400;

/// What an access token is for.
pub(crate) struct AccessTokenSpec<'a> {
    pub client: &'a Client,
    pub subject: &'a str,
    pub api: Option<&'a ResourceServer>,
    pub scope: &'a [String],
    pub jti: String,
    /// `client-credentials` or `password` (Auth0's `gty`); `None` for interactive grants.
    pub gty: Option<&'a str>,
    /// The organization the login was for (`org_id`).
    pub org_id: Option<&'a str>,
    /// Claims added by Rules and Actions; never replacing a claim set above.
    pub custom: Option<&'a Value>,
}

/// Adds Rules' and Actions' claims to `claims` without replacing any already there.
pub(crate) fn add_custom(claims: &mut Map<String, Value>, custom: Option<&Value>) {
    if let Some(m) = custom.and_then(Value::as_object) {
        for (k, v) in m {
            if !claims.contains_key(k) {
                claims.insert(k.clone(), v.clone());
            }
        }
    }
}

impl Provider {
    /// Signs an access token; returns it with its lifetime in seconds.
    pub(crate) fn mint_access_token(
        &self,
        spec: &AccessTokenSpec<'_>,
    ) -> Result<(String, i64), ProviderError> {
        let now = self.now_secs();
        let openid = scope::contains(spec.scope, "openid");
        let (aud, alg, lifetime) = match spec.api {
            Some(api) => {
                let aud = if openid {
                    json!([api.identifier, self.settings.userinfo_audience()])
                } else {
                    json!(api.identifier)
                };
                (
                    aud,
                    Alg::parse(&api.signing_alg).unwrap_or(Alg::RS256),
                    api.token_lifetime,
                )
            }
            None => (
                json!(self.settings.userinfo_audience()),
                Alg::RS256,
                USERINFO_TOKEN_LIFETIME,
            ),
        };
        let mut claims = json!({
            "iss": self.settings.issuer,
            "sub": spec.subject,
            "aud": aud,
            "iat": now,
            "exp": now + lifetime,
            "scope": scope::join(spec.scope),
            "azp": spec.client.client_id,
            "jti": spec.jti,
        });
        if let Some(gty) = spec.gty {
            claims["gty"] = json!(gty);
        }
        if let Some(org) = spec.org_id {
            claims["org_id"] = json!(org);
        }
        // Auth0's `access_token_authz` dialect: the API permissions the token grants.
        if let Some(api) = spec.api.filter(|a| a.token_dialect == "access_token_authz") {
            let permissions: Vec<&String> = spec
                .scope
                .iter()
                .filter(|s| !OIDC_SCOPES.contains(&s.as_str()) && api.has_scope(s))
                .collect();
            claims["permissions"] = json!(permissions);
        }
        if let Some(m) = claims.as_object_mut() {
            add_custom(m, spec.custom);
        }
        let keys = self.keys.snapshot();
        Ok((keys.signer(alg)?.sign_jwt(&claims)?, lifetime))
    }

    /// Signs an ID token for `user`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn mint_id_token(
        &self,
        client: &Client,
        user: &User,
        scopes: &[String],
        nonce: Option<&str>,
        auth_time_ms: i64,
        sid: Option<&str>,
        org_id: Option<&str>,
        access_token: &str,
        custom: Option<&Value>,
    ) -> Result<String, ProviderError> {
        let alg = Alg::parse(&client.id_token_alg).unwrap_or(Alg::RS256);
        let now = self.now_secs();
        let mut claims = profile_claims(user, scopes);
        claims.insert("iss".into(), json!(self.settings.issuer));
        claims.insert("sub".into(), json!(user.user_id));
        claims.insert("aud".into(), json!(client.client_id));
        claims.insert("azp".into(), json!(client.client_id));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + client.id_token_lifetime));
        claims.insert("auth_time".into(), json!(auth_time_ms.div_euclid(1000)));
        claims.insert(
            "at_hash".into(),
            json!(custos_crypto::half_hash(alg, access_token)),
        );
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        if let Some(sid) = sid {
            claims.insert("sid".into(), json!(sid));
        }
        if let Some(org) = org_id {
            claims.insert("org_id".into(), json!(org));
        }
        add_custom(&mut claims, custom);
        let keys = self.keys.snapshot();
        Ok(keys.signer(alg)?.sign_jwt(&Value::Object(claims))?)
    }
}

/// Standard claims released for the granted scopes (OIDC Core §5.4).
pub(crate) fn profile_claims(user: &User, scopes: &[String]) -> Map<String, Value> {
    let mut c = Map::new();
    let has = |s: &str| scope::contains(scopes, s);
    if has("profile") {
        c.insert("name".into(), json!(user.display_name()));
        c.insert(
            "nickname".into(),
            json!(user.nickname.clone().unwrap_or_else(|| user
                .email
                .split('@')
                .next()
                .unwrap_or_default()
                .to_owned())),
        );
        if let Some(v) = &user.given_name {
            c.insert("given_name".into(), json!(v));
        }
        if let Some(v) = &user.family_name {
            c.insert("family_name".into(), json!(v));
        }
        if let Some(v) = &user.picture {
            c.insert("picture".into(), json!(v));
        }
        c.insert("updated_at".into(), json!(iso8601(user.updated_at)));
    }
    if has("email") {
        c.insert("email".into(), json!(user.email));
        c.insert("email_verified".into(), json!(user.email_verified));
    }
    c
}

/// The scopes an interactive token gets: OIDC scopes, plus those the API defines.
impl Provider {
    /// The scopes a user's token for `api` carries: OpenID scopes as requested, and the API's
    /// scopes that were requested; with RBAC on the API (`enforce_policies`), only those the
    /// user holds as permissions, directly or through roles (for a login for an organization,
    /// also through the roles they hold in it).
    pub(crate) async fn user_scopes(
        &self,
        user_id: &str,
        requested: &[String],
        api: Option<&ResourceServer>,
        organization: Option<&str>,
    ) -> Result<Vec<String>, ProviderError> {
        let mut out = granted_user_scopes(requested, api);
        if let Some(api) = api.filter(|a| a.enforce_policies) {
            let mut held = self.store.user_permissions(user_id).await?;
            if let Some(org) = organization {
                held.extend(self.store.member_permissions(org, user_id).await?);
            }
            let held: Vec<String> = held
                .into_iter()
                .filter(|h| h.permission.resource_server_identifier == api.identifier)
                .map(|h| h.permission.permission_name)
                .collect();
            out.retain(|s| OIDC_SCOPES.contains(&s.as_str()) || held.contains(s));
        }
        Ok(out)
    }
}

pub(crate) fn granted_user_scopes(
    requested: &[String],
    api: Option<&ResourceServer>,
) -> Vec<String> {
    requested
        .iter()
        .filter(|s| OIDC_SCOPES.contains(&s.as_str()) || api.is_some_and(|a| a.has_scope(s)))
        .cloned()
        .collect()
}
