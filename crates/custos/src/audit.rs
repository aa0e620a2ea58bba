//! `custos audit …`: verify the chain, make and export checkpoints, export records, rotate the
//! audit key. Same configuration as `serve` (`CUSTOS_DATA_DIR`, `CUSTOS_DATABASE_URL`).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Subcommand;
use custos_audit::Checkpoint;
use custos_config::Settings;
use custos_domain::audit::{AuditEvent, EventType};
use custos_domain::{Clock as _, SystemClock};
use custos_store::Store;
use custos_trail::export::{self, Format};
use custos_trail::verify::{verify, VerifyOptions};
use serde_json::{json, Value};

use crate::boot;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain and signed checkpoints; exit 0 when intact, 1 otherwise, naming
    /// the first record modified, removed, inserted or reordered.
    Verify {
        /// First log_id (or sequence number) to check; default the first record.
        #[arg(long)]
        from: Option<String>,
        /// Last log_id (or sequence number) to check; default the newest record.
        #[arg(long)]
        to: Option<String>,
        /// A checkpoint kept outside the database (a checkpoint JSON, an array of them, or an
        /// export manifest); repeatable.
        #[arg(long = "checkpoint", value_name = "FILE")]
        checkpoints: Vec<PathBuf>,
        /// Parallel readers.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Do not re-check archive files (their rows are still accounted for).
        #[arg(long)]
        skip_archives: bool,
    },
    /// Archive and purge records past the retention period now (`serve` does it daily).
    Archive,
    /// Show or change the retention policy and legal hold.
    Retention {
        /// Keep records in the database this many days (default 2557, about 7 years).
        #[arg(long)]
        days: Option<i64>,
        /// Suspend (on) or allow (off) purging.
        #[arg(long, value_parser = ["on", "off"])]
        legal_hold: Option<String>,
        /// Why the hold was placed (recorded in the trail).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Sign a checkpoint of the current chain head now and print it (JSON), to keep elsewhere.
    Checkpoint {
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Export records with a manifest carrying the checkpoint that proves the export complete.
    Export {
        /// First record: a log_id or an ISO 8601 date (UTC); default the first record.
        #[arg(long)]
        from: Option<String>,
        /// Last record: a log_id or an ISO 8601 date (a date alone includes its whole day).
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_parser = ["jsonl", "csv", "cef"], default_value = "jsonl")]
        format: String,
        /// Output file (default standard output).
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Manifest file (default `<output>.manifest.json`, or standard error with stdout).
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
    },
    /// Create a new audit checkpoint key; old keys keep verifying old checkpoints.
    RotateKey,
    /// Print the audit checkpoint public keys (JWK Set).
    Keys,
}

fn parse_seq(v: &str, name: &str) -> anyhow::Result<i64> {
    v.parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .with_context(|| format!("--{name} must be a log_id"))
}

fn read_checkpoints(path: &PathBuf) -> anyhow::Result<Vec<Checkpoint>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let items = match v {
        Value::Array(a) => a,
        Value::Object(ref m) if m.contains_key("checkpoint") => vec![m["checkpoint"].clone()],
        other => vec![other],
    };
    items
        .into_iter()
        .map(|i| {
            serde_json::from_value(i)
                .with_context(|| format!("{} does not hold a checkpoint", path.display()))
        })
        .collect()
}

fn cli_event() -> AuditEvent {
    let mut ev = AuditEvent::new(EventType::ConfigChanged, SystemClock.now_ms());
    ev.client_id = Some("cli".into());
    ev.ip = Some("127.0.0.1".into());
    ev.user_agent = Some(format!("custos-cli/{}", env!("CARGO_PKG_VERSION")));
    ev
}

pub async fn run(s: Settings, cmd: &AuditCommand) -> anyhow::Result<()> {
    boot::init_logging(s.log_format);
    match cmd {
        AuditCommand::Verify {
            from,
            to,
            checkpoints,
            threads,
            json: as_json,
            skip_archives,
        } => {
            let mut external = Vec::new();
            for p in checkpoints {
                external.extend(read_checkpoints(p)?);
            }
            let opts = VerifyOptions {
                from: from.as_deref().map(|v| parse_seq(v, "from")).transpose()?,
                to: to.as_deref().map(|v| parse_seq(v, "to")).transpose()?,
                external,
                threads: (*threads).clamp(1, 64),
                archive_dir: (!*skip_archives && s.audit_archive_dir.exists())
                    .then(|| s.audit_archive_dir.clone()),
            };
            // Verification only reads: it never creates a master key or an audit key.
            let master = boot::existing_master_key(&s)?;
            let store = Store::connect(&s.database_url)
                .await
                .context("opening the database")?;
            let started = std::time::Instant::now();
            let report = verify(&store, master.as_ref(), &opts).await;
            store.close().await;
            let report = report?;
            let elapsed = started.elapsed();
            if *as_json {
                println!(
                    "{}",
                    json!({
                        "intact": report.finding.is_none(),
                        "from_log_id": format!("{:020}", report.from),
                        "to_log_id": format!("{:020}", report.to),
                        "records": report.records,
                        "checkpoints": report.checkpoints,
                        "archives": report.archives,
                        "archived_records_rechecked": report.archived_records,
                        "head_seq": report.head,
                        "first_bad_seq": report.finding.as_ref().map(|f| f.seq()),
                        "first_bad_log_id": report.finding.as_ref().map(|f| format!("{:020}", f.seq())),
                        "problem": report.finding.as_ref().map(|f| f.to_string()),
                        "keys_authenticated": master.is_some(),
                        "elapsed_ms": elapsed.as_millis() as u64,
                    })
                );
            }
            match &report.finding {
                None => {
                    if !*as_json {
                        println!(
                            "audit log intact: {} records (seq {}..{}), {} checkpoints, {} archives ({} archived records re-checked) verified in {:.2?}",
                            report.records, report.from, report.to, report.checkpoints, report.archives, report.archived_records, elapsed
                        );
                    }
                    Ok(())
                }
                Some(f) => bail!(
                    "audit log TAMPERED at seq {} (log_id {:020}): {f}",
                    f.seq(),
                    f.seq()
                ),
            }
        }
        AuditCommand::Checkpoint { output } => {
            let booted = boot::boot(&s, &s.issuer).await?;
            let store = booted.provider.store.clone();
            let signer =
                custos_trail::keys::current(&store, &booted.provider.master, SystemClock.now_ms())
                    .await?;
            let c = custos_trail::checkpoints::checkpoint(&store, &signer, SystemClock.now_ms())
                .await?;
            store.close().await;
            let c = c.context("the audit log is empty: nothing to checkpoint")?;
            let text = serde_json::to_string_pretty(&c)?;
            match output {
                Some(p) => std::fs::write(p, format!("{text}\n"))
                    .with_context(|| format!("writing {}", p.display()))?,
                None => println!("{text}"),
            }
            Ok(())
        }
        AuditCommand::Export {
            from,
            to,
            format,
            output,
            manifest,
        } => {
            let fmt = Format::parse(format).context("--format must be jsonl, csv or cef")?;
            let booted = boot::boot(&s, &s.issuer).await?;
            let store = booted.provider.store.clone();
            let now = SystemClock.now_ms();
            let signer = custos_trail::keys::current(&store, &booted.provider.master, now).await?;
            let range = export::resolve_range(&store, from.as_deref(), to.as_deref()).await?;
            let mut out: Box<dyn std::io::Write + Send> = match output {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("creating {}", p.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout())),
            };
            let mut ev = cli_event();
            ev.description = "Audit export".into();
            let m = export::export(&store, &signer, now, range, fmt, &mut *out, ev).await;
            store.close().await;
            let m = m?;
            drop(out);
            let text = serde_json::to_string_pretty(&m)?;
            match (manifest, output) {
                (Some(p), _) => std::fs::write(p, format!("{text}\n"))?,
                (None, Some(o)) => {
                    let mut p = o.clone().into_os_string();
                    p.push(".manifest.json");
                    std::fs::write(PathBuf::from(p), format!("{text}\n"))?;
                }
                (None, None) => {
                    let _ = writeln!(std::io::stderr(), "{text}");
                }
            }
            Ok(())
        }
        AuditCommand::Archive => {
            let booted = boot::boot(&s, &s.issuer).await?;
            let store = booted.provider.store.clone();
            let mut ev = cli_event();
            ev.event_type = EventType::AuditArchived;
            let r = custos_trail::retention::archive(
                &store,
                &s.audit_archive_dir,
                SystemClock.now_ms(),
                ev,
            )
            .await;
            store.close().await;
            match r? {
                custos_trail::retention::Outcome::NothingDue => {
                    println!("nothing is past the retention period")
                }
                custos_trail::retention::Outcome::Held { due_through } => println!(
                    "legal hold: records through log_id {due_through:020} are due but kept"
                ),
                custos_trail::retention::Outcome::Archived(rows) => {
                    for a in rows {
                        println!(
                            "archived log_id {:020}..{:020} ({} records) to {} (sha256 {})",
                            a.first_seq,
                            a.last_seq,
                            a.records,
                            s.audit_archive_dir.join(&a.file).display(),
                            a.sha256
                        );
                    }
                }
            }
            Ok(())
        }
        AuditCommand::Retention {
            days,
            legal_hold,
            reason,
        } => {
            let booted = boot::boot(&s, &s.issuer).await?;
            let store = booted.provider.store.clone();
            let r = if days.is_none() && legal_hold.is_none() {
                store.audit_policy().await.map_err(anyhow::Error::from)
            } else {
                custos_trail::retention::set_policy(
                    &store,
                    *days,
                    legal_hold.as_deref().map(|h| (h == "on", reason.clone())),
                    SystemClock.now_ms(),
                    cli_event(),
                )
                .await
                .map_err(anyhow::Error::from)
            };
            store.close().await;
            let p = r?;
            println!(
                "{}",
                json!({"retention_days": p.retention_days, "legal_hold": p.legal_hold, "hold_reason": p.hold_reason})
            );
            Ok(())
        }
        AuditCommand::RotateKey => {
            let booted = boot::boot(&s, &s.issuer).await?;
            let store = booted.provider.store.clone();
            let mut ev = cli_event();
            ev.event_type = EventType::AuditKeyRotated;
            let signer = custos_trail::keys::rotate(
                &store,
                &booted.provider.master,
                SystemClock.now_ms(),
                ev,
            )
            .await;
            store.close().await;
            let signer = signer?;
            println!(
                "{}",
                json!({"kid": signer.kid(), "public_key": custos_crypto::b64url(signer.public_key())})
            );
            Ok(())
        }
        AuditCommand::Keys => {
            let store = Store::connect(&s.database_url)
                .await
                .context("opening the database")?;
            let keys = custos_trail::keys::jwks(&store).await;
            store.close().await;
            println!("{}", serde_json::to_string_pretty(&keys?)?);
            Ok(())
        }
    }
}
