//! The OpenID Provider metadata document.

use std::sync::Arc;

use serde_json::json;

use crate::{ProviderError, ProviderSettings};

pub(crate) fn document(s: &ProviderSettings) -> Result<Arc<[u8]>, ProviderError> {
    let i = &s.issuer;
    let doc = json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}authorize"),
        "token_endpoint": format!("{i}oauth/token"),
        "userinfo_endpoint": format!("{i}userinfo"),
        "jwks_uri": format!("{i}.well-known/jwks.json"),
        "revocation_endpoint": format!("{i}oauth/revoke"),
        "introspection_endpoint": format!("{i}oauth/introspect"),
        "end_session_endpoint": format!("{i}oidc/logout"),
        "scopes_supported": ["openid", "profile", "offline_access", "name", "given_name", "family_name", "nickname", "email", "email_verified", "picture", "created_at"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token", "password"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "RS384", "PS256", "ES256", "EdDSA"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["aud", "auth_time", "created_at", "email", "email_verified", "exp", "family_name", "given_name", "iat", "iss", "name", "nickname", "picture", "sub", "sid", "nonce", "at_hash", "azp"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "require_request_uri_registration": false,
        "prompt_values_supported": ["none", "login"],
    });
    serde_json::to_vec(&doc)
        .map(Into::into)
        .map_err(|_| ProviderError::Internal("discovery encoding"))
}
