//! Runs the audit trail around the store: the audit checkpoint key, periodic signed
//! checkpoints, verification of the whole log or a range (in parallel), exports that carry the
//! checkpoint proving them complete, and at-least-once delivery of every record to log streams
//! (webhooks, Splunk HEC, Datadog, syslog over TCP/TLS).
//!
//! Evidence logic (hashing, signing formats, finding the first bad record) lives in the pure
//! `custos-audit` crate; this crate only moves bytes between it, the store and the network. It
//! never knows HTTP routing or the Management API's shapes, and delivery never blocks an
//! append: workers read committed records behind their own durable cursors.

pub mod checkpoints;
pub mod export;
pub mod jobs;
pub mod keys;
pub mod retention;
pub mod streams;
pub mod verify;

use thiserror::Error;

/// Failures of trail operations. Messages never carry secrets.
#[derive(Debug, Error)]
pub enum TrailError {
    #[error(transparent)]
    Store(#[from] custos_store::StoreError),
    #[error("cryptography failed: {0}")]
    Crypto(#[from] custos_crypto::CryptoError),
    #[error("no audit key: run `custos serve` once or `custos audit rotate-key`")]
    NoKey,
    #[error("audit key {0} cannot be opened with this master key")]
    ForeignKey(String),
    #[error("{0}")]
    Invalid(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = TrailError> = std::result::Result<T, E>;

use std::sync::Arc;
use std::time::Duration;

use custos_crypto::ed25519::Ed25519Signer;
use custos_crypto::seal::MasterKey;
use custos_domain::Clock;
use custos_store::Store;

/// What the runtime needs besides the store, master key and clock.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub checkpoint_every: Duration,
    pub streams: streams::StreamSettings,
    /// Where records past retention are archived; `None` disables the daily archive run.
    pub archive_dir: Option<std::path::PathBuf>,
    /// Where export jobs write their files.
    pub exports_dir: std::path::PathBuf,
}

/// The trail's background work for one server process: checkpoints and stream delivery.
pub struct Runtime {
    pub streams: Arc<streams::Streams>,
    pub exports: Arc<jobs::Exports>,
    pub signer: Arc<Ed25519Signer>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: tokio::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Runtime {
    /// Loads (creating on first use) the audit key and starts the background tasks.
    pub async fn start(
        store: Store,
        master: Arc<MasterKey>,
        clock: Arc<dyn Clock>,
        config: RuntimeConfig,
    ) -> Result<Self> {
        let RuntimeConfig {
            checkpoint_every,
            streams: stream_settings,
            archive_dir,
            exports_dir,
        } = config;
        let signer = Arc::new(keys::current(&store, &master, clock.now_ms()).await?);
        let exports = Arc::new(jobs::Exports::new(
            store.clone(),
            signer.clone(),
            clock.clone(),
            exports_dir,
        ));
        let streams = streams::Streams::new(store.clone(), master, clock.clone(), stream_settings)?;
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let (store_for_retention, clock_for_retention) = (store.clone(), clock.clone());
        let mut tasks = vec![
            tokio::spawn(checkpoints::run(
                store,
                signer.clone(),
                clock,
                checkpoint_every,
                stop_rx.clone(),
            )),
            tokio::spawn(streams.clone().run(stop_rx.clone())),
        ];
        if let Some(dir) = archive_dir {
            tasks.push(tokio::spawn(retention_loop(
                store_for_retention,
                dir,
                clock_for_retention,
                stop_rx,
            )));
        }
        Ok(Self {
            streams,
            exports,
            signer,
            stop,
            tasks: tokio::sync::Mutex::new(tasks),
        })
    }

    /// Stops the tasks, writing a final checkpoint.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        for t in self.tasks.lock().await.drain(..) {
            let _ = t.await;
        }
    }
}

/// Archives what is past retention a minute after start-up and then daily.
async fn retention_loop(
    store: Store,
    dir: std::path::PathBuf,
    clock: Arc<dyn Clock>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut wait = Duration::from_secs(60);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        wait = Duration::from_secs(24 * 3600);
        let mut ev = custos_domain::audit::AuditEvent::new(
            custos_domain::audit::EventType::AuditArchived,
            clock.now_ms(),
        );
        ev.client_id = Some("system".into());
        match retention::archive(&store, &dir, clock.now_ms(), ev).await {
            Ok(retention::Outcome::Archived(rows)) => {
                tracing::info!(
                    archives = rows.len(),
                    "archived audit records past retention"
                )
            }
            Ok(retention::Outcome::Held { due_through }) => {
                tracing::info!(due_through, "legal hold: audit records past retention kept")
            }
            Ok(retention::Outcome::NothingDue) => {}
            Err(e) => tracing::error!(error = %e, "audit archive failed"),
        }
    }
}
