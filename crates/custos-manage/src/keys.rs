//! `/api/v2/keys/signing`.

use custos_domain::audit::{AuditEvent, EventType};
use custos_domain::iso8601;
use custos_domain::keys::KeyState;
use serde_json::{json, Value};

use crate::{ApiError, Manager};

impl Manager<'_> {
    pub async fn list_signing_keys(&self) -> Result<Value, ApiError> {
        let keys = self.provider.store.list_keys().await?;
        let jwks: Value = serde_json::from_slice(&self.provider.jwks()).unwrap_or_default();
        let jwk_of = |kid: &str| {
            jwks["keys"]
                .as_array()
                .and_then(|a| a.iter().find(|k| k["kid"] == kid).cloned())
        };
        Ok(Value::Array(
            keys.iter()
                .map(|k| {
                    let mut v = json!({
                        "kid": k.kid,
                        "alg": k.alg,
                        "current": k.state == KeyState::Current,
                        "next": k.state == KeyState::Next,
                        "previous": k.state == KeyState::Previous,
                        "revoked": k.state == KeyState::Revoked,
                        "created_at": iso8601(k.created_at),
                    });
                    if let Some(jwk) = jwk_of(&k.kid) {
                        v["jwk"] = jwk;
                    }
                    v
                })
                .collect(),
        ))
    }

    /// Rotates every algorithm's signing key. Returns the new current RS256 key id, as Auth0
    /// returns one `kid`, plus every algorithm's.
    pub async fn rotate_signing_keys(&self) -> Result<Value, ApiError> {
        let mut ev = AuditEvent::new(EventType::Sapi, self.provider.now_ms());
        ev.description = "Management API: rotate signing keys".into();
        ev.client_id = Some(self.actor.client_id.clone());
        ev.ip = Some(self.actor.meta.ip.clone());
        ev.user_agent = Some(self.actor.meta.user_agent.clone());
        self.provider
            .keys
            .rotate(self.provider.now_ms(), ev)
            .await?;
        let current: Vec<Value> = self
            .provider
            .store
            .list_keys()
            .await?
            .into_iter()
            .filter(|k| k.state == KeyState::Current)
            .map(|k| json!({"kid": k.kid, "alg": k.alg}))
            .collect();
        let kid = current
            .iter()
            .find(|k| k["alg"] == "RS256")
            .map(|k| k["kid"].clone())
            .unwrap_or(Value::Null);
        Ok(json!({"kid": kid, "keys": current}))
    }
}
