//! Configuration: defaults, then a TOML file (`--config`), then `CUSTOS_*` environment
//! variables (environment wins), validated once into [`Settings`].
//!
//! Only the binary reads configuration; everything else receives typed values.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{name}: {message}")]
    Invalid { name: &'static str, message: String },
}

/// Validated settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub listen: SocketAddr,
    /// Public base URL, always with a trailing slash.
    pub issuer: String,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub tls: Option<TlsFiles>,
    pub bootstrap_client: Option<(String, String)>,
    /// The master key's text; when `None`, a key file in the data directory is used.
    pub master_key: Option<String>,
    pub log_format: LogFormat,
    pub session_idle_hours: f64,
    pub session_absolute_hours: f64,
    /// How often the audit chain head is signed into a checkpoint.
    pub audit_checkpoint_seconds: u64,
    /// First retry delay of a failing log stream (doubling up to 30 s).
    pub stream_backoff_ms: u64,
    /// Continuous failure after which a log stream is suspended until an operator resumes it.
    pub stream_suspend_hours: f64,
    /// Where audit records past their retention are archived before they are purged.
    pub audit_archive_dir: PathBuf,
    /// Management API requests per second each client may make (its bucket holds as many);
    /// 0 turns the limit (and the `x-ratelimit-*` headers) off.
    pub management_rate_limit: u64,
    /// Wall-clock limit of one Rule or Action execution, milliseconds.
    pub script_timeout_ms: u64,
    /// Memory limit of one script runtime, MiB.
    pub script_memory_mb: u64,
}

impl Settings {
    /// Where the generated master key lives when `CUSTOS_MASTER_KEY` is not set.
    pub fn master_key_file(&self) -> PathBuf {
        self.data_dir.join("master.key")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The file's shape: every key optional, names as the environment variables without prefix.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    issuer: Option<String>,
    data_dir: Option<String>,
    database_url: Option<String>,
    tls_cert: Option<String>,
    tls_key: Option<String>,
    bootstrap_client_id: Option<String>,
    bootstrap_client_secret: Option<String>,
    master_key: Option<String>,
    log_format: Option<String>,
    session_idle_hours: Option<f64>,
    session_absolute_hours: Option<f64>,
    audit_checkpoint_seconds: Option<u64>,
    stream_backoff_ms: Option<u64>,
    stream_suspend_hours: Option<f64>,
    audit_archive_dir: Option<String>,
    management_rate_limit: Option<u64>,
    script_timeout_ms: Option<u64>,
    script_memory_mb: Option<u64>,
}

/// The environment variables Custos reads.
pub const ENV_VARS: &[&str] = &[
    "CUSTOS_LISTEN",
    "CUSTOS_ISSUER",
    "CUSTOS_DATA_DIR",
    "CUSTOS_DATABASE_URL",
    "CUSTOS_TLS_CERT",
    "CUSTOS_TLS_KEY",
    "CUSTOS_BOOTSTRAP_CLIENT_ID",
    "CUSTOS_BOOTSTRAP_CLIENT_SECRET",
    "CUSTOS_MASTER_KEY",
    "CUSTOS_LOG_FORMAT",
    "CUSTOS_SESSION_IDLE_HOURS",
    "CUSTOS_SESSION_ABSOLUTE_HOURS",
    "CUSTOS_AUDIT_CHECKPOINT_SECONDS",
    "CUSTOS_STREAM_BACKOFF_MS",
    "CUSTOS_STREAM_SUSPEND_HOURS",
    "CUSTOS_AUDIT_ARCHIVE_DIR",
    "CUSTOS_MANAGEMENT_RATE_LIMIT",
    "CUSTOS_SCRIPT_TIMEOUT_MS",
    "CUSTOS_SCRIPT_MEMORY_MB",
];

impl Settings {
    /// Reads the process environment and an optional file.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        #[allow(clippy::disallowed_methods)]
        let env: HashMap<String, String> = ENV_VARS
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
            .collect();
        Self::from_sources(file, &env)
    }

    /// Builds settings from a file and an explicit environment map (testable).
    pub fn from_sources(
        file: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let fc: FileConfig = match file {
            None => FileConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?
            }
        };
        let pick = |name: &str, from_file: Option<String>| -> Option<String> {
            env.get(name)
                .cloned()
                .filter(|v| !v.is_empty())
                .or(from_file)
        };
        let listen_text =
            pick("CUSTOS_LISTEN", fc.listen).unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen_text.parse().map_err(|_| ConfigError::Invalid {
            name: "CUSTOS_LISTEN",
            message: format!("'{listen_text}' is not an address like 127.0.0.1:8080"),
        })?;
        let tls_cert = pick("CUSTOS_TLS_CERT", fc.tls_cert);
        let tls_key = pick("CUSTOS_TLS_KEY", fc.tls_key);
        let tls = match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.into(),
                key: key.into(),
            }),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid {
                    name: "CUSTOS_TLS_CERT",
                    message: "CUSTOS_TLS_CERT and CUSTOS_TLS_KEY must be set together".into(),
                })
            }
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut issuer =
            pick("CUSTOS_ISSUER", fc.issuer).unwrap_or_else(|| format!("{scheme}://{listen}/"));
        if !issuer.ends_with('/') {
            issuer.push('/');
        }
        if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                name: "CUSTOS_ISSUER",
                message: format!("'{issuer}' must be an http(s) URL"),
            });
        }
        let data_dir: PathBuf = pick("CUSTOS_DATA_DIR", fc.data_dir)
            .unwrap_or_else(|| "./custos-data".into())
            .into();
        let database_url = pick("CUSTOS_DATABASE_URL", fc.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("custos.db").display()));
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid {
                name: "CUSTOS_DATABASE_URL",
                message: "must start with sqlite:// or postgres://".into(),
            });
        }
        let bootstrap_client = match (
            pick("CUSTOS_BOOTSTRAP_CLIENT_ID", fc.bootstrap_client_id),
            pick("CUSTOS_BOOTSTRAP_CLIENT_SECRET", fc.bootstrap_client_secret),
        ) {
            (Some(id), Some(secret)) => {
                if secret.len() < 16 {
                    return Err(ConfigError::Invalid {
                        name: "CUSTOS_BOOTSTRAP_CLIENT_SECRET",
                        message: "must be at least 16 characters".into(),
                    });
                }
                Some((id, secret))
            }
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid {
                    name: "CUSTOS_BOOTSTRAP_CLIENT_ID",
                    message: "CUSTOS_BOOTSTRAP_CLIENT_ID and CUSTOS_BOOTSTRAP_CLIENT_SECRET must be set together".into(),
                })
            }
        };
        let log_format = match pick("CUSTOS_LOG_FORMAT", fc.log_format).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "CUSTOS_LOG_FORMAT",
                    message: format!("'{other}' is not text or json"),
                })
            }
        };
        let hours = |name: &'static str,
                     from_file: Option<f64>,
                     default: f64|
         -> Result<f64, ConfigError> {
            let v = match env.get(name) {
                Some(t) => t.parse::<f64>().map_err(|_| ConfigError::Invalid {
                    name,
                    message: format!("'{t}' is not a number of hours"),
                })?,
                None => from_file.unwrap_or(default),
            };
            if v > 0.0 && v <= 8760.0 {
                Ok(v)
            } else {
                Err(ConfigError::Invalid {
                    name,
                    message: "must be between 0 and 8760 hours".into(),
                })
            }
        };
        let whole = |name: &'static str,
                     from_file: Option<u64>,
                     default: u64,
                     range: std::ops::RangeInclusive<u64>|
         -> Result<u64, ConfigError> {
            let v = match env.get(name) {
                Some(t) => t.parse::<u64>().map_err(|_| ConfigError::Invalid {
                    name,
                    message: format!("'{t}' is not a whole number"),
                })?,
                None => from_file.unwrap_or(default),
            };
            if range.contains(&v) {
                Ok(v)
            } else {
                Err(ConfigError::Invalid {
                    name,
                    message: format!("must be between {} and {}", range.start(), range.end()),
                })
            }
        };
        let audit_archive_dir: PathBuf = pick("CUSTOS_AUDIT_ARCHIVE_DIR", fc.audit_archive_dir)
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("audit-archive"));
        Ok(Self {
            script_timeout_ms: whole(
                "CUSTOS_SCRIPT_TIMEOUT_MS",
                fc.script_timeout_ms,
                100,
                1..=20_000,
            )?,
            script_memory_mb: whole("CUSTOS_SCRIPT_MEMORY_MB", fc.script_memory_mb, 32, 4..=1024)?,
            management_rate_limit: whole(
                "CUSTOS_MANAGEMENT_RATE_LIMIT",
                fc.management_rate_limit,
                1_000,
                0..=10_000_000,
            )?,
            audit_archive_dir,
            audit_checkpoint_seconds: whole(
                "CUSTOS_AUDIT_CHECKPOINT_SECONDS",
                fc.audit_checkpoint_seconds,
                10,
                1..=86_400,
            )?,
            stream_backoff_ms: whole(
                "CUSTOS_STREAM_BACKOFF_MS",
                fc.stream_backoff_ms,
                500,
                10..=30_000,
            )?,
            stream_suspend_hours: hours(
                "CUSTOS_STREAM_SUSPEND_HOURS",
                fc.stream_suspend_hours,
                168.0,
            )?,
            listen,
            issuer,
            data_dir,
            database_url,
            tls,
            bootstrap_client,
            master_key: pick("CUSTOS_MASTER_KEY", fc.master_key),
            log_format,
            session_idle_hours: hours("CUSTOS_SESSION_IDLE_HOURS", fc.session_idle_hours, 72.0)?,
            session_absolute_hours: hours(
                "CUSTOS_SESSION_ABSOLUTE_HOURS",
                fc.session_absolute_hours,
                168.0,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults() -> Result<(), ConfigError> {
        let s = Settings::from_sources(None, &env(&[]))?;
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.issuer, "http://127.0.0.1:8080/");
        assert_eq!(s.database_url, "sqlite://./custos-data/custos.db");
        assert_eq!(s.session_idle_hours, 72.0);
        Ok(())
    }

    #[test]
    fn env_beats_file() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("custos.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nissuer = \"https://file.example/\"\n",
        )?;
        let s = Settings::from_sources(
            Some(&path),
            &env(&[("CUSTOS_ISSUER", "https://env.example")]),
        )?;
        assert_eq!(s.listen.to_string(), "127.0.0.1:9000");
        assert_eq!(s.issuer, "https://env.example/");
        Ok(())
    }

    #[test]
    fn invalid_values_are_named() {
        for (k, v) in [
            ("CUSTOS_LISTEN", "nope"),
            ("CUSTOS_DATABASE_URL", "mysql://x"),
            ("CUSTOS_LOG_FORMAT", "xml"),
            ("CUSTOS_TLS_CERT", "/only/cert.pem"),
            ("CUSTOS_BOOTSTRAP_CLIENT_ID", "only-id"),
            ("CUSTOS_SESSION_IDLE_HOURS", "-1"),
            ("CUSTOS_ISSUER", "ftp://x/"),
        ] {
            let err = Settings::from_sources(None, &env(&[(k, v)])).err();
            assert!(err.is_some(), "{k}={v} accepted");
        }
    }

    #[test]
    fn unknown_file_keys_are_refused() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("custos.toml");
        std::fs::write(&path, "lissen = \"x\"\n")?;
        assert!(matches!(
            Settings::from_sources(Some(&path), &env(&[])),
            Err(ConfigError::Parse { .. })
        ));
        Ok(())
    }
}
