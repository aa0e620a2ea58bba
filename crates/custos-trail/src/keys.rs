//! The audit checkpoint key: Ed25519, private half sealed under the master key, public half
//! published. Rotation makes a new current key and keeps old ones for verifying old checkpoints;
//! both creation and rotation are audited in the chain itself.

use std::collections::HashMap;

use custos_crypto::ed25519::Ed25519Signer;
use custos_crypto::seal::MasterKey;
use custos_domain::audit::{AuditEvent, EventType};
use custos_store::{AuditKeyRow, Store};
use serde_json::{json, Value};

use crate::{Result, TrailError};

fn context(kid: &str) -> String {
    format!("audit_key:{kid}")
}

/// Creates and stores a new current audit key, auditing the rotation with `event`.
pub async fn rotate(
    store: &Store,
    master: &MasterKey,
    now: i64,
    mut event: AuditEvent,
) -> Result<Ed25519Signer> {
    let kid = format!("audit-{}", custos_crypto::random::alphanumeric(16)?);
    let signer = Ed25519Signer::generate(&kid)?;
    let row = AuditKeyRow {
        kid: kid.clone(),
        public_key: custos_crypto::b64url(signer.public_key()),
        sealed_pkcs8: master.seal(&context(&kid), &signer.to_pkcs8()?)?,
        state: "current".into(),
        created_at: now,
        retired_at: None,
    };
    let mut tx = store.begin().await?;
    tx.rotate_audit_key(&row).await?;
    event.event_type = EventType::AuditKeyRotated;
    event.description = EventType::AuditKeyRotated.description().into();
    event.details =
        json!({"kid": kid, "public_key": row.public_key, "alg": "EdDSA", "crv": "Ed25519"});
    tx.audit(&event).await?;
    tx.commit().await?;
    Ok(signer)
}

/// The current audit key, creating the first one if there is none.
pub async fn current(store: &Store, master: &MasterKey, now: i64) -> Result<Ed25519Signer> {
    let keys = store.audit_keys().await?;
    match keys.iter().rev().find(|k| k.state == "current") {
        Some(k) => open(master, k),
        None => {
            rotate(
                store,
                master,
                now,
                AuditEvent::new(EventType::AuditKeyRotated, now),
            )
            .await
        }
    }
}

fn open(master: &MasterKey, k: &AuditKeyRow) -> Result<Ed25519Signer> {
    let der = master
        .open(&context(&k.kid), &k.sealed_pkcs8)
        .map_err(|_| TrailError::ForeignKey(k.kid.clone()))?;
    Ok(Ed25519Signer::from_pkcs8(&k.kid, &der)?)
}

/// Public keys by key id. With the master key, each key is also proven authentic: its sealed
/// private half opens and matches the public half, which someone with only database access
/// cannot forge.
pub async fn verifiers(
    store: &Store,
    master: Option<&MasterKey>,
) -> Result<HashMap<String, Vec<u8>>> {
    let mut out = HashMap::new();
    for k in store.audit_keys().await? {
        let public = custos_crypto::b64url_decode(&k.public_key)
            .ok_or_else(|| TrailError::Invalid(format!("audit key {} is malformed", k.kid)))?;
        if let Some(master) = master {
            let signer = open(master, &k)?;
            if signer.public_key() != public {
                return Err(TrailError::Invalid(format!(
                    "audit key {}'s public key does not match its private key",
                    k.kid
                )));
            }
        }
        out.insert(k.kid, public);
    }
    Ok(out)
}

/// The published audit keys as a JWK Set (OKP / Ed25519).
pub async fn jwks(store: &Store) -> Result<Value> {
    let keys: Vec<Value> = store
        .audit_keys()
        .await?
        .into_iter()
        .map(|k| {
            json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": k.public_key,
                "kid": k.kid,
                "alg": "EdDSA",
                "use": "sig",
                "status": k.state,
            })
        })
        .collect();
    Ok(json!({"keys": keys}))
}
