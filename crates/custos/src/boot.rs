//! Start-up: settings → data directory → master key → store → provider → bootstrap client.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use custos_config::{LogFormat, Settings};
use custos_crypto::seal::MasterKey;
use custos_domain::session::SessionPolicy;
use custos_domain::SystemClock;
use custos_oidc::{Provider, ProviderSettings};
use custos_store::Store;

pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUSTOS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Reads the master key from settings, or from (creating if needed) the key file.
pub fn master_key(settings: &Settings) -> anyhow::Result<MasterKey> {
    if let Some(text) = &settings.master_key {
        return MasterKey::from_text(text)
            .context("CUSTOS_MASTER_KEY must be 32 bytes as 64 hex characters");
    }
    let path = settings.master_key_file();
    if !path.exists() {
        write_private(&path, &MasterKey::generate_text()?)?;
        tracing::info!(path = %path.display(), "generated a new master key");
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    MasterKey::from_text(&text)
        .with_context(|| format!("{} does not hold a valid master key", path.display()))
}

/// The master key if one exists (never creates one): read-only commands use it to prove the
/// audit keys authentic, and work without it.
pub fn existing_master_key(settings: &Settings) -> anyhow::Result<Option<MasterKey>> {
    if settings.master_key.is_some() || settings.master_key_file().exists() {
        return master_key(settings).map(Some);
    }
    Ok(None)
}

/// Writes a file readable only by its owner (0600).
fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// Everything a command needs.
pub struct Booted {
    pub provider: Arc<Provider>,
    /// Bootstrap credentials generated now (shown once), if any.
    pub generated_bootstrap: Option<(String, String)>,
}

/// Opens (creating on first use) the data directory, database, keys and bootstrap client.
pub async fn boot(settings: &Settings, issuer: &str) -> anyhow::Result<Booted> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
    let master = Arc::new(master_key(settings)?);
    let store = Store::connect(&settings.database_url)
        .await
        .with_context(|| "opening the database")?;
    // Scripts reach only the HTTPS hosts they declare (`// @custos-allow-https …`).
    let network = custos_rules::HttpsNetwork::new(None)
        .map_err(anyhow::Error::msg)
        .context("starting the scripts' network client")?;
    let provider = Provider::new(
        store,
        Arc::new(SystemClock),
        master,
        ProviderSettings {
            issuer: issuer.to_owned(),
            session: SessionPolicy::from_hours(
                settings.session_idle_hours,
                settings.session_absolute_hours,
            ),
        },
    )
    .await
    .context("starting the identity provider")?
    .with_engine(Arc::new(
        custos_rules_js::JsEngine::new(custos_rules_js::Limits {
            time: std::time::Duration::from_millis(settings.script_timeout_ms),
            memory: usize::try_from(settings.script_memory_mb)
                .unwrap_or(32)
                .saturating_mul(1024 * 1024),
            ..Default::default()
        })
        .with_network(Arc::new(network)),
    ));
    let mut generated_bootstrap = None;
    match &settings.bootstrap_client {
        Some((id, secret)) => {
            custos_oidc::bootstrap::ensure_bootstrap_client(&provider, id, secret).await?;
        }
        None => {
            if !provider.store.has_system_client().await? {
                let id = custos_crypto::random::alphanumeric(32)?;
                let secret = custos_crypto::b64url(custos_crypto::random::bytes::<48>()?);
                custos_oidc::bootstrap::ensure_bootstrap_client(&provider, &id, &secret).await?;
                generated_bootstrap = Some((id, secret));
            }
        }
    }
    Ok(Booted {
        provider: Arc::new(provider),
        generated_bootstrap,
    })
}

pub fn print_bootstrap(issuer: &str, creds: &(String, String)) {
    println!("Bootstrap Management API client (shown once; store it now):");
    println!("  client_id:     {}", creds.0);
    println!("  client_secret: {}", creds.1);
    println!("  audience:      {issuer}api/v2/");
}

pub fn check_tls(settings: &Settings) -> anyhow::Result<()> {
    if let Some(tls) = &settings.tls {
        for p in [&tls.cert, &tls.key] {
            if !p.exists() {
                bail!("TLS file {} does not exist", p.display());
            }
        }
    }
    Ok(())
}

/// The stream-delivery settings from the configuration.
pub fn stream_settings(settings: &Settings) -> custos_trail::streams::StreamSettings {
    custos_trail::streams::StreamSettings {
        backoff_base: std::time::Duration::from_millis(settings.stream_backoff_ms),
        suspend_after: std::time::Duration::from_secs_f64(settings.stream_suspend_hours * 3600.0),
        hostname: url::Url::parse(&settings.issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "custos".into()),
        ..Default::default()
    }
}

/// Starts the audit trail's background work: checkpoints and log-stream delivery.
pub async fn start_trail(
    settings: &Settings,
    provider: &Provider,
) -> anyhow::Result<custos_trail::Runtime> {
    custos_trail::Runtime::start(
        provider.store.clone(),
        provider.master.clone(),
        provider.clock.clone(),
        custos_trail::RuntimeConfig {
            checkpoint_every: std::time::Duration::from_secs(settings.audit_checkpoint_seconds),
            streams: stream_settings(settings),
            archive_dir: Some(settings.audit_archive_dir.clone()),
            exports_dir: settings.data_dir.join("exports"),
        },
    )
    .await
    .context("starting the audit trail")
}
