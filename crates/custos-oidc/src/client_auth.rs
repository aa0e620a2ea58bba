//! Client authentication at the token, revocation and introspection endpoints:
//! `client_secret_basic`, `client_secret_post`, `private_key_jwt` and `none`. A client must use
//! the method it registered; anything else is `invalid_client`.

use custos_crypto::jws::{UnverifiedJwt, VerifyingKey};
use custos_domain::client::{AuthMethod, Client};
use custos_store::StoreError;
use serde_json::Value;

use crate::{OAuthError, Provider, ProviderError};

pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Longest lifetime we accept for a client assertion.
const MAX_ASSERTION_LIFETIME: i64 = 600;

/// The `jti`s of client assertions seen and not yet expired, so an assertion is accepted once
/// (RFC 7523 §3). Kept in memory: with several nodes an assertion could be replayed once per
/// node within its (at most ten-minute) lifetime.
#[derive(Default)]
pub(crate) struct SeenAssertions(
    std::sync::Mutex<std::collections::HashMap<(String, String), i64>>,
);

impl SeenAssertions {
    /// Records `(client, jti)` until `exp`; `false` if it was already recorded.
    fn first_use(&self, client_id: &str, jti: &str, exp: i64, now: i64) -> bool {
        let Ok(mut seen) = self.0.lock() else {
            return false;
        };
        if seen.len() > 10_000 {
            seen.retain(|_, e| *e > now);
        }
        let key = (client_id.to_owned(), jti.to_owned());
        match seen.get(&key) {
            Some(e) if *e > now => false,
            _ => {
                seen.insert(key, exp);
                true
            }
        }
    }
}

/// The credentials a request presented, as parsed from the Authorization header and the body.
#[derive(Debug, Default, Clone)]
pub struct ClientCredentials {
    /// From `Authorization: Basic`, already form-decoded (RFC 6749 §2.3.1).
    pub basic: Option<(String, custos_crypto::Secret)>,
    pub client_id: Option<String>,
    pub client_secret: Option<custos_crypto::Secret>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
}

impl ClientCredentials {
    /// The client id the request claims, from whichever place carries it.
    pub fn claimed_client_id(&self) -> Option<String> {
        if let Some((id, _)) = &self.basic {
            return Some(id.clone());
        }
        if let Some(id) = &self.client_id {
            return Some(id.clone());
        }
        // private_key_jwt may carry the id only inside the assertion (`sub`).
        let assertion = self.client_assertion.as_deref()?;
        let payload = assertion.split('.').nth(1)?;
        let claims: Value = serde_json::from_slice(&custos_crypto::b64url_decode(payload)?).ok()?;
        claims.get("sub").and_then(Value::as_str).map(str::to_owned)
    }
}

fn invalid(creds: &ClientCredentials, description: &str) -> ProviderError {
    let e = OAuthError::invalid_client(description);
    let e = if creds.basic.is_some() {
        e.with_challenge("Basic realm=\"custos\", charset=\"UTF-8\"")
    } else {
        e
    };
    ProviderError::OAuth(e)
}

impl Provider {
    /// Authenticates the client making a back-channel request.
    pub async fn authenticate_client(
        &self,
        creds: &ClientCredentials,
    ) -> Result<Client, ProviderError> {
        let presented = [
            creds.basic.is_some(),
            creds.client_secret.is_some(),
            creds.client_assertion.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if presented > 1 {
            return Err(OAuthError::invalid_request(
                "more than one client authentication method used",
            )
            .into());
        }
        let client_id = creds
            .claimed_client_id()
            .ok_or_else(|| invalid(creds, "Missing client_id"))?;
        if let (Some((basic_id, _)), Some(body_id)) = (&creds.basic, &creds.client_id) {
            if basic_id != body_id {
                return Err(invalid(
                    creds,
                    "client_id does not match the Authorization header",
                ));
            }
        }
        let client = match self.client(&client_id).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => {
                return Err(invalid(creds, "Unknown client or wrong credentials"))
            }
            Err(e) => return Err(e.into()),
        };
        let used = if creds.basic.is_some() {
            AuthMethod::ClientSecretBasic
        } else if creds.client_secret.is_some() {
            AuthMethod::ClientSecretPost
        } else if creds.client_assertion.is_some() {
            AuthMethod::PrivateKeyJwt
        } else {
            AuthMethod::None
        };
        if used != client.auth_method {
            return Err(invalid(
                creds,
                &format!(
                    "Client must authenticate with {} (got {})",
                    client.auth_method.as_str(),
                    used.as_str()
                ),
            ));
        }
        match used {
            AuthMethod::None => Ok(client),
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => {
                let presented = creds
                    .basic
                    .as_ref()
                    .map(|(_, s)| s)
                    .or(creds.client_secret.as_ref())
                    .ok_or_else(|| invalid(creds, "Missing client secret"))?;
                let stored = self
                    .client_secret(&client)?
                    .ok_or_else(|| invalid(creds, "Unknown client or wrong credentials"))?;
                if custos_crypto::ct_eq(presented.expose().as_bytes(), stored.as_bytes()) {
                    Ok(client)
                } else {
                    Err(invalid(creds, "Unknown client or wrong credentials"))
                }
            }
            AuthMethod::PrivateKeyJwt => {
                if creds.client_assertion_type.as_deref() != Some(JWT_BEARER_ASSERTION) {
                    return Err(invalid(creds, "client_assertion_type must be jwt-bearer"));
                }
                let assertion = creds.client_assertion.as_deref().unwrap_or_default();
                self.verify_assertion(&client, assertion)
                    .map_err(|why| invalid(creds, why))?;
                Ok(client)
            }
        }
    }

    fn verify_assertion(&self, client: &Client, assertion: &str) -> Result<(), &'static str> {
        let jwt = UnverifiedJwt::parse(assertion).map_err(|_| "client_assertion is malformed")?;
        let kid = jwt.kid.clone();
        let key = client
            .jwks
            .iter()
            .filter(|k| kid.is_none() || k.get("kid").and_then(Value::as_str) == kid.as_deref())
            .find_map(|k| VerifyingKey::from_jwk(k).ok())
            .ok_or("no registered key matches the client_assertion")?;
        let claims = jwt
            .verify(&key)
            .map_err(|_| "client_assertion signature is invalid")?;
        let s = |name: &str| claims.get(name).and_then(Value::as_str);
        if s("iss") != Some(&client.client_id) || s("sub") != Some(&client.client_id) {
            return Err("client_assertion iss and sub must be the client_id");
        }
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let token_endpoint = self.settings.token_endpoint();
        if !audiences
            .iter()
            .any(|a| *a == token_endpoint || *a == self.settings.issuer)
        {
            return Err("client_assertion aud must be the token endpoint or the issuer");
        }
        let now = self.now_secs();
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or("client_assertion has no exp")?;
        if exp <= now || exp > now + MAX_ASSERTION_LIFETIME {
            return Err("client_assertion is expired or lives too long");
        }
        let jti = s("jti")
            .filter(|j| !j.is_empty() && j.len() <= 256)
            .ok_or("client_assertion has no jti")?;
        if !self.assertions.first_use(&client.client_id, jti, exp, now) {
            return Err("client_assertion was already used");
        }
        Ok(())
    }
}
