//! Exports of a range of the log (JSONL, CSV, CEF), each with a manifest carrying a checkpoint
//! signed over the last exported record, which proves the export complete and unaltered: the
//! records chain from `prev_hash` to the checkpoint's hash. Exporting verifies the range first
//! and refuses to attest to a broken chain; every export is itself audited.

use std::collections::HashMap;
use std::io::Write;

use custos_audit::chain::{from_hex, GENESIS};
use custos_audit::{format, ChainChecker, Checkpoint, Finding};
use custos_crypto::ed25519::Ed25519Signer;
use custos_domain::audit::{AuditEvent, EventType};
use custos_store::Store;
use serde_json::{json, Value};

use crate::{Result, TrailError};

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Csv,
    Cef,
}

impl Format {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "jsonl" => Some(Format::Jsonl),
            "csv" => Some(Format::Csv),
            "cef" => Some(Format::Cef),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Cef => "cef",
        }
    }
}

/// Resolves `--from`/`--to` values: a 20-digit `log_id` or sequence number, or an ISO 8601
/// date / date-time (UTC). Returns the sequence range, inclusive, or `None` if empty.
pub async fn resolve_range(
    store: &Store,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Option<(i64, i64)>> {
    let max = store.audit_max_seq().await?;
    let first = match from {
        None => 1,
        Some(v) => match v.parse::<i64>() {
            Ok(seq) => seq.max(1),
            Err(_) => {
                let ms = custos_domain::parse_iso8601(v)
                    .or_else(|| custos_domain::parse_iso8601(&format!("{v}T00:00:00Z")))
                    .ok_or_else(|| {
                        TrailError::Invalid(format!(
                            "--from {v}: expected a log_id or an ISO 8601 date"
                        ))
                    })?;
                match store.audit_seq_bound(ms, true).await? {
                    Some(s) => s,
                    None => return Ok(None),
                }
            }
        },
    };
    let last = match to {
        None => max,
        Some(v) => match v.parse::<i64>() {
            Ok(seq) => seq.min(max),
            Err(_) => {
                let ms = custos_domain::parse_iso8601(v)
                    .or_else(|| {
                        // A date alone includes its whole day.
                        custos_domain::parse_iso8601(&format!("{v}T23:59:59.999Z"))
                    })
                    .ok_or_else(|| {
                        TrailError::Invalid(format!(
                            "--to {v}: expected a log_id or an ISO 8601 date"
                        ))
                    })?;
                match store.audit_seq_bound(ms, false).await? {
                    Some(s) => s,
                    None => return Ok(None),
                }
            }
        },
    };
    Ok((first <= last).then_some((first, last)))
}

/// Writes records `first..=last` to `out` and returns the manifest.
pub async fn export(
    store: &Store,
    signer: &Ed25519Signer,
    now: i64,
    range: Option<(i64, i64)>,
    fmt: Format,
    out: &mut (dyn Write + Send),
    mut event: AuditEvent,
) -> Result<Value> {
    let mut hasher = Sha256Writer::default();
    let mut count = 0u64;
    let (mut prev_hash, mut last_hash) = (String::new(), String::new());
    if fmt == Format::Csv {
        hasher.write(out, format::CSV_HEADER.as_bytes())?;
    }
    if let Some((first, last)) = range {
        let prev = match first {
            1 => GENESIS,
            n => store
                .audit_hash(n - 1)
                .await?
                .flatten()
                .and_then(|h| from_hex(&h))
                .ok_or(TrailError::Invalid(format!(
                    "the chain is broken: {}",
                    Finding::Removed {
                        seq: n - 1,
                        through: n - 1
                    }
                )))?,
        };
        prev_hash = custos_audit::chain::to_hex(&prev);
        let pins = HashMap::new();
        let mut checker = ChainChecker::new(first, prev, &pins);
        let mut after = first - 1;
        loop {
            let rows = store.chain_rows(after, last, 5000).await?;
            let Some(end) = rows.last().map(|r| r.seq) else {
                break;
            };
            let records = store.audit_records(after, end, 5000).await?;
            for (row, rec) in rows.iter().zip(&records) {
                let stored = row.hash.as_deref().and_then(from_hex);
                checker
                    .feed(&row.entry(), stored.as_ref())
                    .map_err(|f| TrailError::Invalid(format!("the chain is broken: {f}")))?;
                let line = match fmt {
                    Format::Jsonl => {
                        let mut v = format::log_json(rec);
                        v["chain_hash"] = json!(row.hash);
                        format!("{v}\n")
                    }
                    Format::Csv => format::csv_row(rec),
                    Format::Cef => format::cef_line(rec, env!("CARGO_PKG_VERSION")),
                };
                hasher.write(out, line.as_bytes())?;
                count += 1;
            }
            after = end;
        }
        if checker.expected() <= last {
            return Err(TrailError::Invalid(format!(
                "the chain is broken: {}",
                Finding::Removed {
                    seq: checker.expected(),
                    through: last
                }
            )));
        }
        last_hash = checker.last_hash();
    }
    out.flush()?;
    let checkpoint = match (range, from_hex(&last_hash)) {
        (Some((_, last)), Some(h)) => Some(Checkpoint::sign(signer, last, &h, now)),
        _ => None,
    };
    let manifest = json!({
        "format": fmt.as_str(),
        "from_log_id": range.map(|r| format!("{:020}", r.0)),
        "to_log_id": range.map(|r| format!("{:020}", r.1)),
        "records": count,
        "sha256": hex_digest(hasher.finish()),
        "prev_hash": prev_hash,
        "last_hash": last_hash,
        "checkpoint": checkpoint,
        "exported_at": custos_domain::iso8601(now),
    });
    event.event_type = EventType::AuditExported;
    event.description = EventType::AuditExported.description().into();
    event.details = manifest.clone();
    store.append_audit(event).await?;
    Ok(manifest)
}

fn hex_digest(bytes: [u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Streams output through SHA-256 so the manifest can name the file's digest.
#[derive(Default)]
struct Sha256Writer(custos_crypto::Sha256);

impl Sha256Writer {
    fn write(&mut self, out: &mut (dyn Write + Send), bytes: &[u8]) -> Result<()> {
        out.write_all(bytes)?;
        self.0.update(bytes);
        Ok(())
    }

    fn finish(self) -> [u8; 32] {
        self.0.finish()
    }
}
