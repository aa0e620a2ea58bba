//! Periodic signed checkpoints of the chain head.

use std::sync::Arc;
use std::time::Duration;

use custos_audit::chain::from_hex;
use custos_audit::Checkpoint;
use custos_crypto::ed25519::Ed25519Signer;
use custos_domain::Clock;
use custos_store::Store;

use crate::{Result, TrailError};

/// Signs the current head if it moved since the last checkpoint; returns the newest checkpoint.
pub async fn checkpoint(
    store: &Store,
    signer: &Ed25519Signer,
    now: i64,
) -> Result<Option<Checkpoint>> {
    let (seq, hash) = store.audit_head().await?;
    let latest = store.latest_checkpoint().await?;
    if seq == 0 || latest.as_ref().is_some_and(|c| c.seq >= seq) {
        return Ok(latest);
    }
    let hash = from_hex(&hash).ok_or_else(|| TrailError::Invalid("audit head hash".into()))?;
    let c = Checkpoint::sign(signer, seq, &hash, now);
    match store.insert_checkpoint(&c).await {
        // Another node checkpointed the same head first: its checkpoint serves.
        Err(custos_store::StoreError::Conflict(_)) => {
            store.latest_checkpoint().await.map_err(Into::into)
        }
        other => other.map(|()| Some(c)).map_err(Into::into),
    }
}

/// Checkpoints every `interval` until `stop` fires, and once more on the way out.
pub async fn run(
    store: Store,
    signer: Arc<Ed25519Signer>,
    clock: Arc<dyn Clock>,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => {
                if let Err(e) = checkpoint(&store, &signer, clock.now_ms()).await {
                    tracing::error!(error = %e, "final audit checkpoint failed");
                }
                return;
            }
        }
        if let Err(e) = checkpoint(&store, &signer, clock.now_ms()).await {
            tracing::error!(error = %e, "audit checkpoint failed");
        }
    }
}
