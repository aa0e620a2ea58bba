//! `custos audit verify`: checks the chain over the whole log or a range, in parallel, against
//! every signed checkpoint (stored ones and any kept elsewhere), and names the first record that
//! was modified, removed, inserted or reordered.

use std::collections::HashMap;
use std::sync::Arc;

use custos_audit::chain::{from_hex, Hash, GENESIS};
use custos_audit::{Checkpoint, Finding};
use custos_crypto::seal::MasterKey;
use custos_store::Store;

use crate::Result;

/// What to verify.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// First sequence number to check (default 1).
    pub from: Option<i64>,
    /// Last sequence number to check (default: the newest record).
    pub to: Option<i64>,
    /// Checkpoints kept outside the database.
    pub external: Vec<Checkpoint>,
    /// Parallel readers.
    pub threads: usize,
    /// Where archived records are; when given, archive files are re-checked too.
    pub archive_dir: Option<std::path::PathBuf>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            from: None,
            to: None,
            external: Vec::new(),
            threads: 2,
            archive_dir: None,
        }
    }
}

/// The outcome.
#[derive(Debug, Clone)]
pub struct Report {
    pub from: i64,
    pub to: i64,
    pub records: u64,
    pub checkpoints: usize,
    /// Archives accounted for (and, with `archive_dir`, re-checked).
    pub archives: usize,
    pub archived_records: u64,
    pub head: i64,
    pub finding: Option<Finding>,
}

fn earliest(a: Option<Finding>, b: Option<Finding>) -> Option<Finding> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.seq() < a.seq() { b } else { a }),
        (a, b) => a.or(b),
    }
}

async fn stored_hash(
    store: &Store,
    seq: i64,
    archived: Option<(i64, Hash)>,
) -> Result<std::result::Result<Hash, Finding>> {
    if seq == 0 {
        return Ok(Ok(GENESIS));
    }
    if let Some((last, hash)) = archived {
        if seq == last {
            return Ok(Ok(hash));
        }
    }
    Ok(match store.audit_hash(seq).await? {
        None => Err(Finding::Removed { seq, through: seq }),
        Some(None) => Err(Finding::Unchained { seq }),
        Some(Some(h)) => from_hex(&h).ok_or(Finding::Mismatch { seq }),
    })
}

async fn check_range(
    store: Store,
    first: i64,
    last: i64,
    pins: Arc<HashMap<i64, (Hash, i64)>>,
    archived: Option<(i64, Hash)>,
) -> Result<(u64, Option<Finding>)> {
    let prev = match stored_hash(&store, first - 1, archived).await? {
        Ok(h) => h,
        Err(Finding::Removed { seq, .. }) => {
            // The predecessor is gone: say how far the removal runs into this range.
            let next = store.chain_rows(first - 1, last, 1).await?;
            let through = next.first().map_or(last, |r| r.seq - 1);
            return Ok((0, Some(Finding::Removed { seq, through })));
        }
        Err(f) => return Ok((0, Some(f))),
    };
    Ok(store.verify_chain_range(first, last, prev, pins).await?)
}

/// Verifies the log. `master` (when available) also proves the audit keys authentic.
pub async fn verify(
    store: &Store,
    master: Option<&MasterKey>,
    opts: &VerifyOptions,
) -> Result<Report> {
    let (head, _) = store.audit_head().await?;
    let max = store.audit_max_seq().await?;
    let keys = crate::keys::verifiers(store, master).await?;
    let mut finding = None;

    // Checkpoints: each must be signed by a known key; together they pin the chain.
    let mut all = store.checkpoints().await?;
    all.extend(opts.external.iter().cloned());
    all.sort_by_key(|c| c.seq);
    let mut pins: HashMap<i64, (Hash, i64)> = HashMap::new();
    let mut previous = 0;
    for c in &all {
        let valid = keys.get(&c.kid).is_some_and(|pk| c.signature_valid(pk));
        let hash = from_hex(&c.hash);
        match (valid, hash) {
            (true, Some(h)) => {
                if c.seq > max.max(head) || c.seq > max {
                    finding = earliest(
                        finding,
                        Some(Finding::Removed {
                            seq: max + 1,
                            through: c.seq,
                        }),
                    );
                }
                pins.insert(c.seq, (h, previous));
                previous = c.seq;
            }
            _ => {
                let reason = if keys.contains_key(&c.kid) {
                    "signature does not verify".to_owned()
                } else {
                    format!("signed by unknown key {}", c.kid)
                };
                finding = earliest(finding, Some(Finding::BadCheckpoint { seq: c.seq, reason }));
            }
        }
    }

    // The head names the last record written; fewer records means the tail was removed, more
    // means records were added outside Custos.
    if head > max {
        finding = earliest(
            finding,
            Some(Finding::Removed {
                seq: max + 1,
                through: head,
            }),
        );
    } else if max > head {
        finding = earliest(finding, Some(Finding::Mismatch { seq: head + 1 }));
    }

    // Purged records are accounted for by archive rows, contiguous from the first record.
    let archives = store.audit_archives().await?;
    let mut expected_first = 1;
    let mut expected_prev = GENESIS;
    let mut archived_records = 0;
    for a in &archives {
        if a.first_seq != expected_first {
            finding = earliest(
                finding,
                Some(Finding::Removed {
                    seq: expected_first,
                    through: a.first_seq - 1,
                }),
            );
        }
        if from_hex(&a.prev_hash) != Some(expected_prev) {
            finding = earliest(
                finding,
                Some(Finding::BadArchive {
                    seq: a.first_seq,
                    reason: "it does not continue the previous archive's chain".into(),
                }),
            );
        }
        if let Some(dir) = &opts.archive_dir {
            match crate::retention::check_file(dir, a, &pins) {
                Ok(n) => archived_records += n,
                Err(f) => finding = earliest(finding, Some(f)),
            }
        }
        expected_first = a.last_seq + 1;
        expected_prev = from_hex(&a.last_hash).unwrap_or([0xff; 32]);
    }
    let archived = archives.last().map(|a| (a.last_seq, expected_prev));

    let from = opts.from.unwrap_or(expected_first).max(expected_first);
    let to = opts.to.unwrap_or(max).min(max);
    let pins = Arc::new(pins);
    let mut records = 0;
    if from <= to {
        let threads = opts.threads.max(1) as i64;
        let span = (to - from + threads) / threads;
        let mut tasks = Vec::new();
        let mut start = from;
        while start <= to {
            let end = (start + span - 1).min(to);
            tasks.push(tokio::spawn(check_range(
                store.clone(),
                start,
                end,
                pins.clone(),
                archived,
            )));
            start = end + 1;
        }
        let mut found: Option<Finding> = None;
        for t in tasks {
            let (n, f) = t
                .await
                .map_err(|e| crate::TrailError::Invalid(format!("verifier task failed: {e}")))??;
            records += n;
            // Ranges are checked in order: a removal running to the end of one range and on
            // from the start of the next is one removal.
            found = match (found, f) {
                (
                    Some(Finding::Removed { seq, through }),
                    Some(Finding::Removed {
                        seq: next,
                        through: to,
                    }),
                ) if next <= through + 1 => Some(Finding::Removed { seq, through: to }),
                (Some(a), _) => Some(a),
                (None, f) => f,
            };
        }
        finding = earliest(finding, found);
    }
    Ok(Report {
        from,
        to,
        records,
        checkpoints: all.len(),
        archives: archives.len(),
        archived_records,
        head,
        finding,
    })
}
