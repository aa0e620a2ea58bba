//! The signing keys in memory: one current key per algorithm for signing, every published key
//! (next, current, previous) for verification, and the JWKS document as ready bytes.
//!
//! Rotation (`next` → `current` → `previous`, old `previous` → `revoked`) keeps tokens signed
//! with the outgoing key verifiable until the following rotation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use custos_crypto::jws::{Alg, SigningKey, UnverifiedJwt, VerifyingKey};
use custos_crypto::seal::MasterKey;
use custos_domain::audit::{AuditEvent, EventType};
use custos_domain::keys::{KeyRecord, KeyState};
use custos_store::Store;
use serde_json::{json, Value};

use crate::ProviderError;

/// An immutable snapshot of the key set.
pub struct KeySet {
    current: HashMap<Alg, Arc<SigningKey>>,
    verifiers: HashMap<String, Arc<SigningKey>>,
    jwks: Arc<[u8]>,
}

impl KeySet {
    pub fn signer(&self, alg: Alg) -> Result<&Arc<SigningKey>, ProviderError> {
        self.current
            .get(&alg)
            .ok_or(ProviderError::Internal("no current signing key"))
    }

    pub fn jwks(&self) -> Arc<[u8]> {
        self.jwks.clone()
    }

    fn verifier(&self, kid: &str) -> Option<&VerifyingKey> {
        self.verifiers.get(kid).map(|k| k.verifier())
    }
}

/// The live key set, swapped whole on rotation.
pub struct KeyRing {
    store: Store,
    master: Arc<MasterKey>,
    set: RwLock<Arc<KeySet>>,
    /// When an unknown `kid` last caused a reload: tokens with made-up key ids must not make
    /// every request re-read and re-parse the keys.
    last_lookup_reload: Mutex<Option<Instant>>,
}

/// Least time between reloads caused by unknown key ids.
const LOOKUP_RELOAD_INTERVAL: Duration = Duration::from_secs(5);

fn seal_context(kid: &str) -> String {
    format!("signing-key:{kid}")
}

impl KeyRing {
    /// Loads keys from the store, creating a current and a next key per algorithm when missing.
    pub async fn load(
        store: Store,
        master: Arc<MasterKey>,
        now: i64,
    ) -> Result<Self, ProviderError> {
        let mut records = store.list_keys().await?;
        let missing: Vec<Alg> = Alg::ALL
            .into_iter()
            .filter(|alg| {
                !records
                    .iter()
                    .any(|r| r.alg == alg.as_str() && r.state == KeyState::Current)
            })
            .collect();
        if !missing.is_empty() {
            let mut tx = store.begin().await?;
            for alg in &missing {
                for state in [KeyState::Current, KeyState::Next] {
                    let rec = new_key(&master, *alg, state, now)?;
                    tx.insert_key(&rec).await?;
                }
            }
            let mut ev = AuditEvent::new(EventType::Sapi, now);
            ev.description = "Create signing keys".into();
            ev.details = json!({"algs": missing.iter().map(|a| a.as_str()).collect::<Vec<_>>()});
            tx.audit(&ev).await?;
            tx.commit().await?;
            records = store.list_keys().await?;
        }
        let set = build(&master, &records)?;
        Ok(Self {
            store,
            master,
            set: RwLock::new(Arc::new(set)),
            last_lookup_reload: Mutex::new(None),
        })
    }

    pub fn snapshot(&self) -> Arc<KeySet> {
        match self.set.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads the keys from the store (another node may have rotated).
    pub async fn reload(&self) -> Result<(), ProviderError> {
        let set = build(&self.master, &self.store.list_keys().await?)?;
        match self.set.write() {
            Ok(mut g) => *g = Arc::new(set),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(set),
        }
        Ok(())
    }

    /// Rotates every algorithm's keys, recording the rotation in the audit trail with `event`.
    pub async fn rotate(&self, now: i64, mut event: AuditEvent) -> Result<(), ProviderError> {
        let mut tx = self.store.begin().await?;
        let records = tx.list_keys().await?;
        let mut rotated = Vec::new();
        for alg in Alg::ALL {
            let of = |state| {
                records
                    .iter()
                    .filter(move |r: &&KeyRecord| r.alg == alg.as_str() && r.state == state)
            };
            for r in of(KeyState::Previous) {
                tx.set_key_state(&r.kid, KeyState::Previous, KeyState::Revoked, now)
                    .await?;
            }
            for r in of(KeyState::Current) {
                tx.set_key_state(&r.kid, KeyState::Current, KeyState::Previous, now)
                    .await?;
            }
            for r in of(KeyState::Next) {
                tx.set_key_state(&r.kid, KeyState::Next, KeyState::Current, now)
                    .await?;
                rotated.push(r.kid.clone());
            }
            let next = new_key(&self.master, alg, KeyState::Next, now)?;
            tx.insert_key(&next).await?;
        }
        event.details = json!({"new_current_kids": rotated});
        tx.audit(&event).await?;
        // Custos' own code, so a SIEM can alert on key rotation without parsing `sapi` details.
        let mut rotation = event.clone();
        rotation.event_type = EventType::SigningKeyRotated;
        rotation.description = EventType::SigningKeyRotated.description().into();
        tx.audit(&rotation).await?;
        tx.commit().await?;
        self.reload().await
    }

    /// Verifies a JWT signed by one of our published keys; returns its claims. Signature only:
    /// the caller checks `iss`, `aud`, `exp` and revocation.
    pub async fn verify(&self, token: &str) -> Result<Value, ProviderError> {
        let jwt = UnverifiedJwt::parse(token)
            .map_err(|_| ProviderError::InvalidToken("malformed token"))?;
        let kid = jwt
            .kid
            .clone()
            .ok_or(ProviderError::InvalidToken("token has no kid"))?;
        let set = self.snapshot();
        if let Some(v) = set.verifier(&kid) {
            return jwt
                .verify(v)
                .map_err(|_| ProviderError::InvalidToken("invalid signature"));
        }
        // Unknown kid: maybe another node rotated. Reload (at most every few seconds), retry.
        let due = match self.last_lookup_reload.lock() {
            Ok(mut last) => {
                let due = last.is_none_or(|t| t.elapsed() >= LOOKUP_RELOAD_INTERVAL);
                if due {
                    *last = Some(Instant::now());
                }
                due
            }
            Err(_) => false,
        };
        if !due {
            return Err(ProviderError::InvalidToken("unknown signing key"));
        }
        self.reload().await?;
        let set = self.snapshot();
        let v = set
            .verifier(&kid)
            .ok_or(ProviderError::InvalidToken("unknown signing key"))?;
        jwt.verify(v)
            .map_err(|_| ProviderError::InvalidToken("invalid signature"))
    }
}

fn new_key(
    master: &MasterKey,
    alg: Alg,
    state: KeyState,
    now: i64,
) -> Result<KeyRecord, ProviderError> {
    let kid = custos_crypto::random::alphanumeric(22)?;
    let key = SigningKey::generate(alg, kid.clone())?;
    let sealed = master.seal(&seal_context(&kid), &key.to_pkcs8()?)?;
    Ok(KeyRecord {
        kid,
        alg: alg.as_str().to_owned(),
        state,
        sealed_pkcs8: sealed,
        created_at: now,
        rotated_at: None,
    })
}

fn build(master: &MasterKey, records: &[KeyRecord]) -> Result<KeySet, ProviderError> {
    let mut current = HashMap::new();
    let mut verifiers = HashMap::new();
    let mut jwks = Vec::new();
    for r in records {
        if r.state == KeyState::Revoked {
            continue;
        }
        let alg =
            Alg::parse(&r.alg).ok_or(ProviderError::Internal("stored key has unknown alg"))?;
        let der = master.open(&seal_context(&r.kid), &r.sealed_pkcs8)?;
        let key = Arc::new(SigningKey::from_pkcs8(alg, r.kid.clone(), &der)?);
        jwks.push(key.public_jwk().clone());
        if r.state == KeyState::Current {
            current.insert(alg, key.clone());
        }
        verifiers.insert(r.kid.clone(), key);
    }
    let doc = serde_json::to_vec(&json!({ "keys": jwks }))
        .map_err(|_| ProviderError::Internal("jwks encoding"))?;
    Ok(KeySet {
        current,
        verifiers,
        jwks: doc.into(),
    })
}
