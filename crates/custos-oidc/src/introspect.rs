//! Bearer access tokens: verification (signature, issuer, audience, expiry, and revocation even
//! though they are JWTs), `/userinfo`, introspection (RFC 7662) and revocation (RFC 7009).

use custos_crypto::token_digest;
use custos_domain::audit::EventType;
use custos_domain::scope;
use custos_store::StoreError;
use serde_json::{json, Value};

use crate::claims::profile_claims;
use crate::{ClientCredentials, OAuthError, Provider, ProviderError, RequestMeta};

/// What kind of principal an access token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// A user, through the token family `grant_id`.
    User { grant_id: String },
    /// A machine (client credentials).
    Client,
}

/// A verified access token.
#[derive(Debug, Clone)]
pub struct BearerIdentity {
    pub subject: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub kind: TokenKind,
    pub claims: Value,
}

impl BearerIdentity {
    pub fn has_scope(&self, s: &str) -> bool {
        scope::contains(&self.scopes, s)
    }
}

fn invalid(d: &str) -> ProviderError {
    OAuthError::invalid_token(d).into()
}

impl Provider {
    /// Verifies an access token meant for `audience`, including that its grant (or client) has
    /// not been revoked or deleted since it was issued.
    ///
    /// `audience: None` accepts any audience of ours (introspection and revocation serve every
    /// resource server).
    pub async fn verify_access_token(
        &self,
        token: &str,
        audience: Option<&str>,
    ) -> Result<BearerIdentity, ProviderError> {
        let claims = match self.keys.verify(token).await {
            Ok(c) => c,
            Err(ProviderError::InvalidToken(why)) => return Err(invalid(why)),
            Err(e) => return Err(e),
        };
        let s = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
        if s("iss").as_deref() != Some(self.settings.issuer.as_str()) {
            return Err(invalid("wrong issuer"));
        }
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or_else(|| invalid("no exp"))?;
        if exp <= self.now_secs() {
            return Err(invalid("token expired"));
        }
        let aud_ok = match (claims.get("aud"), audience) {
            (Some(Value::String(_) | Value::Array(_)), None) => true,
            (Some(Value::String(a)), Some(wanted)) => a == wanted,
            (Some(Value::Array(a)), Some(wanted)) => a.iter().any(|x| x.as_str() == Some(wanted)),
            _ => false,
        };
        if !aud_ok {
            return Err(invalid("token is not meant for this audience"));
        }
        let subject = s("sub").ok_or_else(|| invalid("no sub"))?;
        let client_id = s("azp").ok_or_else(|| invalid("no azp"))?;
        let jti = s("jti").ok_or_else(|| invalid("no jti"))?;
        let scopes = scope::parse(&s("scope").unwrap_or_default()).unwrap_or_default();
        let kind = if s("gty").as_deref() == Some("client-credentials") {
            match self.client(&client_id).await {
                Ok(_) => TokenKind::Client,
                Err(StoreError::NotFound) => return Err(invalid("client no longer exists")),
                Err(e) => return Err(e.into()),
            }
        } else {
            let grant_id = jti
                .split_once('.')
                .map(|(g, _)| g.to_owned())
                .ok_or_else(|| invalid("malformed jti"))?;
            match self.store.get_grant(&grant_id).await {
                Ok(g) if !g.revoked && g.user_id == subject => TokenKind::User { grant_id },
                Ok(_) | Err(StoreError::NotFound) => return Err(invalid("token has been revoked")),
                Err(e) => return Err(e.into()),
            }
        };
        Ok(BearerIdentity {
            subject,
            client_id,
            scopes,
            kind,
            claims,
        })
    }

    /// OIDC UserInfo: the claims of the token's scopes.
    pub async fn userinfo(&self, token: &str) -> Result<Value, ProviderError> {
        let id = self
            .verify_access_token(token, Some(&self.settings.userinfo_audience()))
            .await?;
        if !matches!(id.kind, TokenKind::User { .. }) {
            return Err(invalid("token does not represent a user"));
        }
        let user = match self.store.get_user(&id.subject).await {
            Ok(u) if !u.blocked => u,
            Ok(_) | Err(StoreError::NotFound) => return Err(invalid("user is blocked or deleted")),
            Err(e) => return Err(e.into()),
        };
        let mut claims = profile_claims(&user, &id.scopes);
        claims.insert("sub".into(), json!(user.user_id));
        Ok(Value::Object(claims))
    }

    /// RFC 7662 introspection for an authenticated client. Refresh tokens are only disclosed to
    /// the client they were issued to.
    pub async fn introspect(
        &self,
        creds: &ClientCredentials,
        token: &str,
        hint: Option<&str>,
    ) -> Result<Value, ProviderError> {
        let client = self.authenticate_client(creds).await?;
        if client.is_public() {
            return Err(
                OAuthError::invalid_client("Public clients cannot introspect tokens").into(),
            );
        }
        let inactive = json!({"active": false});
        if token.is_empty() {
            return Ok(inactive);
        }
        // Refresh tokens are base64url without dots; JWT access tokens have two.
        if hint != Some("refresh_token") && token.contains('.') {
            return match self.verify_access_token(token, None).await {
                Ok(id) => {
                    let mut out = id.claims;
                    if let Some(map) = out.as_object_mut() {
                        map.insert("active".into(), json!(true));
                        map.insert("client_id".into(), json!(id.client_id));
                        map.insert("token_type".into(), json!("Bearer"));
                    }
                    Ok(out)
                }
                Err(ProviderError::OAuth(_) | ProviderError::InvalidToken(_)) => Ok(inactive),
                Err(e) => Err(e),
            };
        }
        // Only "not found" means inactive; a storage failure is an error, never an answer.
        let rt = match self.store.get_refresh_token(&token_digest(token)).await {
            Ok(rt) => rt,
            Err(StoreError::NotFound) => return Ok(inactive),
            Err(e) => return Err(e.into()),
        };
        let grant = match self.store.get_grant(&rt.grant_id).await {
            Ok(g) => g,
            Err(StoreError::NotFound) => return Ok(inactive),
            Err(e) => return Err(e.into()),
        };
        let now = self.now_ms();
        let usable = !rt.revoked
            && !grant.revoked
            && rt.rotated_at.is_none()
            && rt.expires_at.is_none_or(|e| now < e);
        if !usable || grant.client_id != client.client_id {
            return Ok(inactive);
        }
        let mut out = json!({
            "active": true,
            "token_type": "refresh_token",
            "client_id": grant.client_id,
            "sub": grant.user_id,
            "scope": scope::join(&grant.scope),
            "iat": rt.created_at / 1000,
            "iss": self.settings.issuer,
        });
        if let Some(exp) = rt.expires_at {
            out["exp"] = json!(exp / 1000);
        }
        Ok(out)
    }

    /// RFC 7009 revocation. Unknown or foreign tokens are answered with success, as the RFC
    /// requires; what was revoked is recorded.
    pub async fn revoke(
        &self,
        creds: &ClientCredentials,
        token: &str,
        meta: &RequestMeta,
    ) -> Result<(), ProviderError> {
        let client = self.authenticate_client(creds).await?;
        if token.is_empty() {
            return Err(OAuthError::invalid_request("Missing required parameter: token").into());
        }
        // A storage failure must surface: answering 200 would claim a revocation that did not
        // happen.
        let grant_id = match self.store.get_refresh_token(&token_digest(token)).await {
            Ok(rt) => Some(rt.grant_id),
            Err(StoreError::NotFound) => match self.verify_access_token(token, None).await {
                Ok(BearerIdentity {
                    kind: TokenKind::User { grant_id },
                    ..
                }) => Some(grant_id),
                Ok(_) | Err(ProviderError::OAuth(_) | ProviderError::InvalidToken(_)) => None,
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e.into()),
        };
        let grant = match grant_id {
            Some(gid) => match self.store.get_grant(&gid).await {
                Ok(g) => Some(g).filter(|g| g.client_id == client.client_id),
                Err(StoreError::NotFound) => None,
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let mut ev = self.event(EventType::Srrt, &client, meta);
        match grant {
            Some(g) => {
                ev.user_id = Some(g.user_id.clone());
                ev.details = json!({"grant_id": g.id});
                let mut tx = self.store.begin().await?;
                tx.revoke_grant(&g.id).await?;
                tx.audit(&ev).await?;
                tx.commit().await?;
            }
            None => {
                ev.description = "Revocation request for an unknown token; nothing revoked".into();
                self.store.append_audit(ev).await?;
            }
        }
        Ok(())
    }
}
