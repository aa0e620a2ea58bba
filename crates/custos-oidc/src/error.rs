use custos_crypto::CryptoError;
use custos_store::StoreError;
use thiserror::Error;

/// An OAuth 2.0 / OIDC protocol error as RFC 6749 §5.2 and OIDC Core §3.1.2.6 shape it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
    /// HTTP status when answered directly (not by redirect).
    pub status: u16,
    /// `WWW-Authenticate` challenge for 401 answers.
    pub challenge: Option<String>,
}

impl OAuthError {
    fn new(error: &'static str, status: u16, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
            status,
            challenge: None,
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", 400, d)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new("invalid_client", 401, d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", 400, d)
    }
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new("unauthorized_client", 400, d)
    }
    pub fn unsupported_grant_type(d: impl Into<String>) -> Self {
        Self::new("unsupported_grant_type", 400, d)
    }
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new("invalid_scope", 400, d)
    }
    /// A denial by a Rule or Action: `unauthorized` (a Rule's `UnauthorizedError`) or
    /// `access_denied`.
    pub fn denied_by_script(error: &'static str, d: impl Into<String>) -> Self {
        Self::new(error, 403, d)
    }
    pub fn access_denied(d: impl Into<String>) -> Self {
        Self::new("access_denied", 403, d)
    }
    pub fn unsupported_response_type(d: impl Into<String>) -> Self {
        Self::new("unsupported_response_type", 400, d)
    }
    pub fn login_required(d: impl Into<String>) -> Self {
        Self::new("login_required", 400, d)
    }
    pub fn invalid_token(d: impl Into<String>) -> Self {
        let d = d.into();
        let mut e = Self::new("invalid_token", 401, d.clone());
        e.challenge = Some(format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            d.replace('"', "'")
        ));
        e
    }
    pub fn with_challenge(mut self, challenge: &str) -> Self {
        self.challenge = Some(challenge.to_owned());
        self
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.description)
    }
}

/// Everything the provider can fail with. Only `OAuth` and `InvalidToken` reach clients with
/// their text; the others become `server_error` and are logged.
#[derive(Debug, Error)]
pub enum ProviderError {
    #[error("{0}")]
    OAuth(OAuthError),
    #[error("invalid token: {0}")]
    InvalidToken(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl From<OAuthError> for ProviderError {
    fn from(e: OAuthError) -> Self {
        ProviderError::OAuth(e)
    }
}
