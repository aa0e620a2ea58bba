//! Authorization-code flow state: login transactions, codes, token families (grants) and
//! refresh tokens.

use crate::Millis;

/// `response_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    FormPost,
}

impl ResponseMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::FormPost => "form_post",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "query" => Some(ResponseMode::Query),
            "form_post" => Some(ResponseMode::FormPost),
            _ => None,
        }
    }
}

/// A validated authorization request waiting for the user to log in.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub scope: Vec<String>,
    pub audience: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub max_age: Option<i64>,
    /// The organization (id) the login is for, from `organization=`.
    pub organization: Option<String>,
}

impl AuthRequest {
    /// A JSON encoding for storage and for sealed login transactions (not a wire format).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "response_mode": self.response_mode.as_str(),
            "scope": self.scope,
            "audience": self.audience,
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": self.code_challenge,
            "max_age": self.max_age,
            "organization": self.organization,
        })
    }

    pub fn from_json(v: &serde_json::Value) -> Option<Self> {
        let s = |k: &str| v[k].as_str().map(str::to_owned);
        Some(Self {
            client_id: s("client_id")?,
            redirect_uri: s("redirect_uri")?,
            response_mode: ResponseMode::parse(v["response_mode"].as_str()?)?,
            scope: v["scope"]
                .as_array()?
                .iter()
                .map(|x| x.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()?,
            audience: s("audience"),
            state: s("state"),
            nonce: s("nonce"),
            code_challenge: s("code_challenge"),
            max_age: v["max_age"].as_i64(),
            organization: s("organization"),
        })
    }
}

/// An authorization request in flight between `/authorize` and the login form's POST. It is
/// not stored: it travels sealed (encrypted and authenticated) in the login page's `state`.
#[derive(Debug, Clone)]
pub struct LoginTransaction {
    pub request: AuthRequest,
    /// The anti-CSRF token the login form must echo, also set as a cookie.
    pub csrf: String,
    pub expires_at: Millis,
}

impl LoginTransaction {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"request": self.request.to_json(), "csrf": self.csrf, "exp": self.expires_at})
    }

    pub fn from_json(v: &serde_json::Value) -> Option<Self> {
        Some(Self {
            request: AuthRequest::from_json(&v["request"])?,
            csrf: v["csrf"].as_str()?.to_owned(),
            expires_at: v["exp"].as_i64()?,
        })
    }
}

/// An issued authorization code (stored by digest, single use).
#[derive(Debug, Clone)]
pub struct AuthCode {
    pub code_digest: String,
    pub request: AuthRequest,
    pub user_id: String,
    pub session_id: String,
    pub auth_time: Millis,
    pub expires_at: Millis,
    /// The grant created when the code was redeemed: revoked if the code is replayed.
    pub grant_id: Option<String>,
    pub used: bool,
    /// Claims added by Rules and Actions at login: `{"id_token": {…}, "access_token": {…}}`.
    pub custom_claims: Option<serde_json::Value>,
}

/// A token family: everything issued from one code (or one password grant). Revoking it
/// invalidates its refresh tokens and makes its access tokens fail at `/userinfo` and
/// introspection.
#[derive(Debug, Clone)]
pub struct Grant {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub session_id: Option<String>,
    pub audience: Option<String>,
    pub scope: Vec<String>,
    pub auth_time: Millis,
    pub created_at: Millis,
    pub revoked: bool,
    /// The organization the login was for (`org_id` in its tokens).
    pub organization_id: Option<String>,
    /// Claims added by Rules and Actions at login, carried into refreshed tokens.
    pub custom_claims: Option<serde_json::Value>,
}

#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub digest: String,
    pub grant_id: String,
    pub created_at: Millis,
    /// Absolute expiry (`None`: non-expiring).
    pub expires_at: Option<Millis>,
    pub last_used_at: Millis,
    /// Set when a rotating token has been exchanged for its successor.
    pub rotated_at: Option<Millis>,
    /// The digest of the token it was exchanged for.
    pub replaced_by: Option<String>,
    pub revoked: bool,
}

/// Lifetime of an authorization code (RFC 6749 recommends at most ten minutes).
pub const CODE_LIFETIME_MS: Millis = 60_000;
/// Lifetime of a login transaction (time to fill in the login form).
pub const LOGIN_TRANSACTION_LIFETIME_MS: Millis = 30 * 60_000;
