//! Retention: records older than the policy's retention period move, oldest first, into
//! gzip-compressed JSON-lines archive files (one record per line, every field exactly as stored,
//! with its chain hash), each named in `audit_archives` with its SHA-256 and the chain hashes at
//! both ends. Only then are they deleted, in the transaction that records the archive and its
//! own audit event. A legal hold suspends purging. `verify` accepts the gap only where an
//! archive row accounts for it, and with the archive directory re-checks the files themselves.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use custos_audit::chain::{from_hex, to_hex, Hash, GENESIS};
use custos_audit::{ChainChecker, Finding};
use custos_domain::audit::{AuditEvent, EventType};
use custos_store::{ArchiveRow, AuditPolicy, ChainRow, Store, StoreError};
use serde_json::{json, Value};

use crate::{Result, TrailError};

/// The most records one archive file holds.
const MAX_PER_FILE: i64 = 1_000_000;
const DAY_MS: i64 = 86_400_000;

/// What an archive run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing is older than the retention period.
    NothingDue,
    /// Records are due but a legal hold suspends purging.
    Held { due_through: i64 },
    /// These archives were written and their records purged.
    Archived(Vec<ArchiveRow>),
}

fn row_json(r: &ChainRow) -> Value {
    json!({
        "seq": r.seq, "log_type": r.log_type, "date": r.date, "description": r.description,
        "client_id": r.client_id, "client_name": r.client_name, "user_id": r.user_id,
        "user_name": r.user_name, "connection": r.connection, "audience": r.audience,
        "scope": r.scope, "ip": r.ip, "user_agent": r.user_agent,
        "organization_id": r.organization_id, "resource": r.resource,
        "details": r.details, "hash": r.hash,
    })
}

fn row_from(v: &Value) -> Option<ChainRow> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    Some(ChainRow {
        seq: v.get("seq")?.as_i64()?,
        log_type: s("log_type")?,
        date: v.get("date")?.as_i64()?,
        description: s("description")?,
        client_id: s("client_id"),
        client_name: s("client_name"),
        user_id: s("user_id"),
        user_name: s("user_name"),
        connection: s("connection"),
        audience: s("audience"),
        scope: s("scope"),
        ip: s("ip"),
        user_agent: s("user_agent"),
        organization_id: s("organization_id"),
        resource: s("resource"),
        details: s("details")?,
        hash: s("hash"),
    })
}

/// The hash the live log continues from, and its first sequence number, given the archives.
pub fn live_start(archives: &[ArchiveRow]) -> (i64, Option<Hash>) {
    match archives.last() {
        None => (1, Some(GENESIS)),
        Some(a) => (a.last_seq + 1, from_hex(&a.last_hash)),
    }
}

/// Archives and purges what the policy says is due.
pub async fn archive(store: &Store, dir: &Path, now: i64, event: AuditEvent) -> Result<Outcome> {
    let policy = store.audit_policy().await?;
    let cutoff = now.saturating_sub(policy.retention_days.saturating_mul(DAY_MS));
    // Only a contiguous prefix can go: everything before the first record still retained.
    let due_through = match store.audit_seq_bound(cutoff, true).await? {
        Some(first_kept) => first_kept - 1,
        None => store.audit_max_seq().await?,
    };
    let archives = store.audit_archives().await?;
    let (mut first, prev) = live_start(&archives);
    let mut prev =
        prev.ok_or_else(|| TrailError::Invalid("an archive's hash is malformed".into()))?;
    if due_through < first {
        return Ok(Outcome::NothingDue);
    }
    if policy.legal_hold {
        return Ok(Outcome::Held { due_through });
    }
    std::fs::create_dir_all(dir)?;
    let mut done = Vec::new();
    while first <= due_through {
        let last = (first + MAX_PER_FILE - 1).min(due_through);
        let name = format!("audit-{first:020}-{last:020}.jsonl.gz");
        let path = dir.join(&name);
        let tmp = dir.join(format!("{name}.partial"));
        let pins = HashMap::new();
        let mut checker = ChainChecker::new(first, prev, &pins);
        {
            let file = std::fs::File::create(&tmp)?;
            let mut gz = flate2::write::GzEncoder::new(
                std::io::BufWriter::new(file),
                flate2::Compression::default(),
            );
            let mut after = first - 1;
            while after < last {
                let rows = store.chain_rows(after, last, 20_000).await?;
                let Some(end) = rows.last().map(|r| r.seq) else {
                    break;
                };
                for r in &rows {
                    let stored = r.hash.as_deref().and_then(from_hex);
                    checker.feed(&r.entry(), stored.as_ref()).map_err(|f| {
                        TrailError::Invalid(format!("refusing to archive a broken chain: {f}"))
                    })?;
                    writeln!(gz, "{}", row_json(r))?;
                }
                after = end;
            }
            if checker.expected() <= last {
                return Err(TrailError::Invalid(format!(
                    "refusing to archive a broken chain: {}",
                    Finding::Removed {
                        seq: checker.expected(),
                        through: last
                    }
                )));
            }
            let file = gz
                .finish()?
                .into_inner()
                .map_err(|e| TrailError::Io(e.into_error()))?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        let digest = file_sha256(&path)?;
        let last_hash = checker.last_hash();
        let row = ArchiveRow {
            first_seq: first,
            last_seq: last,
            prev_hash: to_hex(&prev),
            last_hash: last_hash.clone(),
            records: last - first + 1,
            file: name.clone(),
            sha256: digest,
            created_at: now,
        };
        let mut tx = store.begin().await?;
        match tx.purge_archived(&row).await {
            Err(StoreError::Conflict("legal hold")) => return Ok(Outcome::Held { due_through }),
            other => {
                other?;
            }
        }
        let mut ev = event.clone();
        ev.event_type = EventType::AuditArchived;
        ev.description = EventType::AuditArchived.description().into();
        ev.details = json!({
            "first_log_id": format!("{first:020}"), "last_log_id": format!("{last:020}"),
            "records": row.records, "file": name, "sha256": row.sha256,
            "prev_hash": row.prev_hash, "last_hash": last_hash,
            "retention_days": policy.retention_days,
        });
        tx.audit(&ev).await?;
        tx.commit().await?;
        prev = from_hex(&row.last_hash).unwrap_or(GENESIS);
        first = last + 1;
        done.push(row);
    }
    Ok(Outcome::Archived(done))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 (hex) of a file, read in chunks.
fn file_sha256(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut f = std::fs::File::open(path)?;
    let mut h = custos_crypto::Sha256::default();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(hex(&h.finish()));
        }
        h.update(&buf[..n]);
    }
}

/// Changes the policy (audited, before and after).
pub async fn set_policy(
    store: &Store,
    retention_days: Option<i64>,
    legal_hold: Option<(bool, Option<String>)>,
    now: i64,
    mut event: AuditEvent,
) -> Result<AuditPolicy> {
    let before = store.audit_policy().await?;
    let mut after = before.clone();
    if let Some(days) = retention_days {
        if !(1..=36_500).contains(&days) {
            return Err(TrailError::Invalid(
                "retention must be between 1 and 36500 days".into(),
            ));
        }
        after.retention_days = days;
    }
    if let Some((hold, reason)) = legal_hold {
        after.legal_hold = hold;
        after.hold_reason = if hold { reason } else { None };
    }
    after.updated_at = now;
    let mut tx = store.begin().await?;
    tx.set_audit_policy(&after).await?;
    event.event_type = EventType::ConfigChanged;
    event.description = "Audit retention policy changed".into();
    let shape = |p: &AuditPolicy| json!({"retention_days": p.retention_days, "legal_hold": p.legal_hold, "hold_reason": p.hold_reason});
    event.details = json!({"audit_policy": {"before": shape(&before), "after": shape(&after)}});
    tx.audit(&event).await?;
    tx.commit().await?;
    Ok(after)
}

/// Re-checks one archive file against its row: checksum, then the chain through it.
pub fn check_file(
    dir: &Path,
    a: &ArchiveRow,
    pins: &HashMap<i64, (Hash, i64)>,
) -> std::result::Result<u64, Finding> {
    let bad = |reason: String| Finding::BadArchive {
        seq: a.first_seq,
        reason,
    };
    let path: PathBuf = dir.join(&a.file);
    if file_sha256(&path).map_err(|e| bad(format!("{}: {e}", a.file)))? != a.sha256 {
        return Err(bad(format!(
            "{} does not match its recorded SHA-256",
            a.file
        )));
    }
    let file = std::fs::File::open(&path).map_err(|e| bad(format!("{}: {e}", a.file)))?;
    let prev = from_hex(&a.prev_hash).ok_or_else(|| bad("malformed hash".into()))?;
    let mut checker = ChainChecker::new(a.first_seq, prev, pins);
    let reader =
        std::io::BufReader::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    for line in reader.lines() {
        let line = line.map_err(|e| bad(format!("{}: {e}", a.file)))?;
        let row = serde_json::from_str::<Value>(&line)
            .ok()
            .as_ref()
            .and_then(row_from)
            .ok_or_else(|| bad(format!("{} holds a malformed line", a.file)))?;
        let stored = row.hash.as_deref().and_then(from_hex);
        checker.feed(&row.entry(), stored.as_ref())?;
    }
    if checker.expected() != a.last_seq + 1 || checker.last_hash() != a.last_hash {
        return Err(bad(format!(
            "{} does not end at seq {} with the recorded hash",
            a.file, a.last_seq
        )));
    }
    Ok(checker.checked())
}
