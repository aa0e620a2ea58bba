//! Verification: walks records in sequence order and reports the first one that breaks the
//! chain. Each record is checked against its own stored hash and its predecessor's, so a range
//! can be checked on its own (given the hash of the record before it) and ranges in parallel.

use std::collections::HashMap;
use std::fmt;

use crate::chain::{entry_hash, to_hex, Entry, Hash};

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The record does not match its hash or its predecessor's: its content or hash was edited,
    /// or records were inserted or reordered here.
    Mismatch { seq: i64 },
    /// The record with this sequence number (and possibly more after it) is missing.
    Removed { seq: i64, through: i64 },
    /// A record carries no chain hash at all (written outside Custos).
    Unchained { seq: i64 },
    /// A signed checkpoint no longer matches the chain: records up to it were rewritten with
    /// recomputed hashes. The first rewritten record lies in `after + 1 ..= seq`.
    Rewritten { after: i64, seq: i64 },
    /// A checkpoint's signature is invalid or its key unknown.
    BadCheckpoint { seq: i64, reason: String },
    /// An archive of purged records is missing, altered, or does not chain.
    BadArchive { seq: i64, reason: String },
}

fn log_id(seq: i64) -> String {
    format!("{seq:020}")
}

impl Finding {
    /// The sequence number of the first bad record.
    pub fn seq(&self) -> i64 {
        match self {
            Finding::Mismatch { seq }
            | Finding::Removed { seq, .. }
            | Finding::Unchained { seq }
            | Finding::BadCheckpoint { seq, .. }
            | Finding::BadArchive { seq, .. } => *seq,
            Finding::Rewritten { after, .. } => after + 1,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Mismatch { seq } => write!(
                f,
                "record seq {seq} (log_id {}) does not match the hash chain: it was modified, or records were inserted or reordered at this position",
                log_id(*seq)
            ),
            Finding::Removed { seq, through } if seq == through => write!(
                f,
                "record seq {seq} (log_id {}) was removed",
                log_id(*seq)
            ),
            Finding::Removed { seq, through } => write!(
                f,
                "records seq {seq} (log_id {}) through {through} were removed",
                log_id(*seq)
            ),
            Finding::Unchained { seq } => write!(
                f,
                "record seq {seq} (log_id {}) has no chain hash: it was inserted outside Custos",
                log_id(*seq)
            ),
            Finding::Rewritten { after, seq } => write!(
                f,
                "the signed checkpoint at seq {seq} no longer matches: records after seq {after} up to seq {seq} (from log_id {}) were rewritten",
                log_id(after + 1)
            ),
            Finding::BadCheckpoint { seq, reason } => {
                write!(f, "checkpoint at seq {seq} is not valid: {reason}")
            }
            Finding::BadArchive { seq, reason } => write!(
                f,
                "the archive starting at seq {seq} (log_id {}) is not valid: {reason}",
                log_id(*seq)
            ),
        }
    }
}

/// Checks one contiguous range of records fed in ascending sequence order.
pub struct ChainChecker<'a> {
    expected: i64,
    prev: Hash,
    /// Verified checkpoints: sequence number → (hash, previous checkpoint's sequence number).
    pins: &'a HashMap<i64, (Hash, i64)>,
    checked: u64,
}

impl<'a> ChainChecker<'a> {
    /// A checker for records starting at `first_seq`, whose predecessor has hash `prev`.
    pub fn new(first_seq: i64, prev: Hash, pins: &'a HashMap<i64, (Hash, i64)>) -> Self {
        Self {
            expected: first_seq,
            prev,
            pins,
            checked: 0,
        }
    }

    /// Checks the next record with its stored hash (`None` when the column is empty).
    pub fn feed(&mut self, entry: &Entry<'_>, stored: Option<&Hash>) -> Result<(), Finding> {
        if entry.seq != self.expected {
            return Err(Finding::Removed {
                seq: self.expected,
                through: entry.seq - 1,
            });
        }
        let stored = stored.ok_or(Finding::Unchained { seq: entry.seq })?;
        if entry_hash(&self.prev, entry) != *stored {
            return Err(Finding::Mismatch { seq: entry.seq });
        }
        if let Some((pinned, after)) = self.pins.get(&entry.seq) {
            if pinned != stored {
                return Err(Finding::Rewritten {
                    after: *after,
                    seq: entry.seq,
                });
            }
        }
        self.prev = *stored;
        self.expected += 1;
        self.checked += 1;
        Ok(())
    }

    /// Records checked so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The sequence number the next record must have.
    pub fn expected(&self) -> i64 {
        self.expected
    }

    /// The hash of the last record checked.
    pub fn last_hash(&self) -> String {
        to_hex(&self.prev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::GENESIS;

    struct Row {
        seq: i64,
        details: String,
        hash: Hash,
    }

    fn entry(r: &Row) -> Entry<'_> {
        Entry {
            seq: r.seq,
            log_type: "sapi",
            date: 5,
            description: "d",
            client_id: None,
            client_name: None,
            user_id: None,
            user_name: None,
            connection: None,
            audience: None,
            scope: None,
            ip: None,
            user_agent: None,
            organization_id: None,
            resource: None,
            details: &r.details,
        }
    }

    fn chain(n: i64) -> Vec<Row> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let mut r = Row {
                    seq,
                    details: format!("{{\"n\":{seq}}}"),
                    hash: GENESIS,
                };
                r.hash = entry_hash(&prev, &entry(&r));
                prev = r.hash;
                r
            })
            .collect()
    }

    fn check(rows: &[Row], pins: &HashMap<i64, (Hash, i64)>) -> Result<u64, Finding> {
        let mut c = ChainChecker::new(1, GENESIS, pins);
        for r in rows {
            c.feed(&entry(r), Some(&r.hash))?;
        }
        Ok(c.checked())
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(check(&chain(10), &HashMap::new()), Ok(10));
    }

    #[test]
    fn edits_removals_reorders_and_inserts_are_named() {
        let none = HashMap::new();
        let mut rows = chain(10);
        rows[4].details = "{\"n\":99}".into();
        assert_eq!(check(&rows, &none), Err(Finding::Mismatch { seq: 5 }));

        let mut rows = chain(10);
        rows.remove(6);
        assert_eq!(
            check(&rows, &none),
            Err(Finding::Removed { seq: 7, through: 7 })
        );

        // Reordering: swap the content (and hashes) of records 3 and 8, keeping positions.
        let mut rows = chain(10);
        let (a, b) = (rows[2].details.clone(), rows[2].hash);
        rows[2].details = rows[7].details.clone();
        rows[2].hash = rows[7].hash;
        rows[7].details = a;
        rows[7].hash = b;
        assert_eq!(check(&rows, &none), Err(Finding::Mismatch { seq: 3 }));

        // Insertion: a forged record at position 4, later records renumbered.
        let mut rows = chain(10);
        rows.insert(
            3,
            Row {
                seq: 4,
                details: "{}".into(),
                hash: [9u8; 32],
            },
        );
        for (i, r) in rows.iter_mut().enumerate() {
            r.seq = i as i64 + 1;
        }
        assert_eq!(check(&rows, &none), Err(Finding::Mismatch { seq: 4 }));
    }

    #[test]
    fn a_recomputed_chain_is_caught_by_a_checkpoint() {
        let rows = chain(10);
        let mut pins = HashMap::new();
        pins.insert(8, (rows[7].hash, 0));
        // Rewrite record 5 and recompute every later hash: the chain alone looks intact.
        let mut forged = chain(10);
        forged[4].details = "{\"n\":-1}".into();
        let mut prev = forged[3].hash;
        for r in forged.iter_mut().skip(4) {
            r.hash = entry_hash(&prev, &entry(r));
            prev = r.hash;
        }
        assert_eq!(check(&forged, &HashMap::new()), Ok(10));
        assert_eq!(
            check(&forged, &pins),
            Err(Finding::Rewritten { after: 0, seq: 8 })
        );
        assert!(Finding::Rewritten { after: 0, seq: 8 }
            .to_string()
            .contains("00000000000000000001"));
    }
}
