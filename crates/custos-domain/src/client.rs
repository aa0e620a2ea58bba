//! Applications (OAuth clients) and their protocol settings, with Auth0's names.

use crate::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppType {
    Native,
    Spa,
    RegularWeb,
    NonInteractive,
}

impl AppType {
    pub fn as_str(self) -> &'static str {
        match self {
            AppType::Native => "native",
            AppType::Spa => "spa",
            AppType::RegularWeb => "regular_web",
            AppType::NonInteractive => "non_interactive",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "native" => AppType::Native,
            "spa" => AppType::Spa,
            "regular_web" => AppType::RegularWeb,
            "non_interactive" => AppType::NonInteractive,
            _ => return None,
        })
    }
}

/// How a client authenticates at the token endpoint (`token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    None,
    ClientSecretPost,
    ClientSecretBasic,
    PrivateKeyJwt,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => AuthMethod::None,
            "client_secret_post" => AuthMethod::ClientSecretPost,
            "client_secret_basic" => AuthMethod::ClientSecretBasic,
            "private_key_jwt" => AuthMethod::PrivateKeyJwt,
            _ => return None,
        })
    }
    /// Whether clients using this method hold a shared secret.
    pub fn uses_secret(self) -> bool {
        matches!(
            self,
            AuthMethod::ClientSecretPost | AuthMethod::ClientSecretBasic
        )
    }
}

pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
pub const GRANT_PASSWORD: &str = "password";
pub const KNOWN_GRANTS: [&str; 4] = [
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_REFRESH_TOKEN,
    GRANT_PASSWORD,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationType {
    Rotating,
    NonRotating,
}

impl RotationType {
    pub fn as_str(self) -> &'static str {
        match self {
            RotationType::Rotating => "rotating",
            RotationType::NonRotating => "non-rotating",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "rotating" => Some(RotationType::Rotating),
            "non-rotating" => Some(RotationType::NonRotating),
            _ => None,
        }
    }
}

/// `client.refresh_token` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenPolicy {
    pub rotation_type: RotationType,
    /// `expiring` (true) or `non-expiring`.
    pub expiring: bool,
    /// Absolute lifetime, seconds.
    pub token_lifetime: i64,
    /// Idle lifetime, seconds.
    pub idle_token_lifetime: i64,
    /// Seconds during which the immediately previous rotating token may still be used.
    pub leeway: i64,
}

impl Default for RefreshTokenPolicy {
    fn default() -> Self {
        Self {
            rotation_type: RotationType::Rotating,
            expiring: true,
            token_lifetime: 2_592_000,
            idle_token_lifetime: 1_296_000,
            leeway: 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub description: String,
    pub app_type: AppType,
    pub is_first_party: bool,
    pub auth_method: AuthMethod,
    /// The client secret sealed under the master key; `None` for public and key-based clients.
    pub sealed_secret: Option<String>,
    pub grant_types: Vec<String>,
    pub callbacks: Vec<String>,
    pub allowed_logout_urls: Vec<String>,
    /// ID token signing algorithm (`jwt_configuration.alg`).
    pub id_token_alg: String,
    /// ID token lifetime, seconds (`jwt_configuration.lifetime_in_seconds`).
    pub id_token_lifetime: i64,
    pub refresh_token: RefreshTokenPolicy,
    /// Public keys (JWK set members) for `private_key_jwt`.
    pub jwks: Vec<serde_json::Value>,
    pub client_metadata: serde_json::Value,
    /// A system client (the bootstrap management client) cannot be deleted over the API.
    pub is_system: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Client {
    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    pub fn is_public(&self) -> bool {
        self.auth_method == AuthMethod::None
    }

    /// Exact string match against the registered callbacks (no wildcards, no normalisation),
    /// which is what OAuth 2.0 Security BCP requires.
    pub fn has_callback(&self, redirect_uri: &str) -> bool {
        self.callbacks.iter().any(|c| c == redirect_uri)
    }

    pub fn has_logout_url(&self, url: &str) -> bool {
        self.allowed_logout_urls.iter().any(|c| c == url)
    }
}

/// Whether a callback URL is acceptable to register: absolute, no fragment, https or a
/// loopback/custom scheme (native apps, RFC 8252).
pub fn is_valid_callback(uri: &str) -> bool {
    let Ok(url) = url::Url::parse(uri) else {
        return false;
    };
    if url.fragment().is_some() || uri.contains('*') {
        return false;
    }
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => matches!(
            url.host_str(),
            Some("localhost") | Some("127.0.0.1") | Some("[::1]")
        ),
        "javascript" | "data" | "file" | "vbscript" => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(uri: &str, ok: bool) {
        assert_eq!(is_valid_callback(uri), ok, "{uri}");
    }

    #[test]
    fn callbacks() {
        check("https://app.example.com/cb", true);
        check("http://127.0.0.1:8080/cb", true);
        check("http://localhost/cb", true);
        check("com.example.app:/oauth2redirect", true);
        check("http://app.example.com/cb", false);
        check("https://app.example.com/cb#frag", false);
        check("https://*.example.com/cb", false);
        check("javascript:alert(1)", false);
        check("/relative", false);
        check("", false);
    }
}
