//! The hash chain: `hash(n) = SHA-256("custos-audit-v1" ‖ hash(n-1) ‖ canonical(record n))`,
//! with `hash(0)` = 32 zero bytes. The canonical encoding length-prefixes every field, so no
//! two different records encode alike, and it covers the sequence number, so moving a record
//! to another position changes its hash.

use custos_domain::audit::AuditEvent;

/// A chain hash.
pub type Hash = [u8; 32];

/// The hash before the first record.
pub const GENESIS: Hash = [0u8; 32];

const DOMAIN: &[u8] = b"custos-audit-v1";

/// One record as stored, borrowed: the exact stored text of every field, so that hashing what
/// was read back gives the hash computed when it was written.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub seq: i64,
    pub log_type: &'a str,
    pub date: i64,
    pub description: &'a str,
    pub client_id: Option<&'a str>,
    pub client_name: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub user_name: Option<&'a str>,
    pub connection: Option<&'a str>,
    pub audience: Option<&'a str>,
    pub scope: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub organization_id: Option<&'a str>,
    pub resource: Option<&'a str>,
    /// The details JSON exactly as stored.
    pub details: &'a str,
}

impl<'a> Entry<'a> {
    /// The entry of event `e` stored at `seq`, whose details were serialised as `details`.
    pub fn of(seq: i64, e: &'a AuditEvent, details: &'a str) -> Self {
        Self {
            seq,
            log_type: e.event_type.code(),
            date: e.date,
            description: &e.description,
            client_id: e.client_id.as_deref(),
            client_name: e.client_name.as_deref(),
            user_id: e.user_id.as_deref(),
            user_name: e.user_name.as_deref(),
            connection: e.connection.as_deref(),
            audience: e.audience.as_deref(),
            scope: e.scope.as_deref(),
            ip: e.ip.as_deref(),
            user_agent: e.user_agent.as_deref(),
            organization_id: e.organization_id.as_deref(),
            resource: e.resource.as_deref(),
            details,
        }
    }
}

fn put(buf: &mut Vec<u8>, field: Option<&str>) {
    match field {
        None => buf.push(0),
        Some(s) => {
            buf.push(1);
            buf.extend_from_slice(&(s.len() as u64).to_be_bytes());
            buf.extend_from_slice(s.as_bytes());
        }
    }
}

/// The canonical byte encoding of an entry.
pub fn canonical(e: &Entry<'_>, buf: &mut Vec<u8>) {
    buf.extend_from_slice(&e.seq.to_be_bytes());
    put(buf, Some(e.log_type));
    buf.extend_from_slice(&e.date.to_be_bytes());
    for f in [
        Some(e.description),
        e.client_id,
        e.client_name,
        e.user_id,
        e.user_name,
        e.connection,
        e.audience,
        e.scope,
        e.ip,
        e.user_agent,
        e.organization_id,
        e.resource,
        Some(e.details),
    ] {
        put(buf, f);
    }
}

/// The chain hash of `e` following `prev`.
pub fn entry_hash(prev: &Hash, e: &Entry<'_>) -> Hash {
    let mut buf = Vec::with_capacity(256 + e.details.len());
    buf.extend_from_slice(DOMAIN);
    buf.extend_from_slice(prev);
    canonical(e, &mut buf);
    custos_crypto::sha256(&buf)
}

/// Hex text of a hash, as stored.
pub fn to_hex(h: &Hash) -> String {
    hex::encode(h)
}

/// A hash from its stored hex text.
pub fn from_hex(text: &str) -> Option<Hash> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64, details: &str) -> Entry<'_> {
        Entry {
            seq,
            log_type: "s",
            date: 1,
            description: "Successful login",
            client_id: Some("c"),
            client_name: None,
            user_id: Some("u"),
            user_name: None,
            connection: None,
            audience: None,
            scope: None,
            ip: None,
            user_agent: None,
            organization_id: None,
            resource: None,
            details,
        }
    }

    #[test]
    fn hash_covers_position_content_and_predecessor() {
        let a = entry_hash(&GENESIS, &entry(1, "{}"));
        assert_ne!(a, entry_hash(&GENESIS, &entry(2, "{}")));
        assert_ne!(a, entry_hash(&GENESIS, &entry(1, "{ }")));
        assert_ne!(a, entry_hash(&[1u8; 32], &entry(1, "{}")));
        assert_eq!(a, entry_hash(&GENESIS, &entry(1, "{}")));
        assert_eq!(from_hex(&to_hex(&a)), Some(a));
        assert_eq!(from_hex("zz"), None);
    }

    #[test]
    fn moving_text_between_fields_changes_the_hash() {
        let mut x = entry(1, "{}");
        x.client_name = Some("ab");
        x.user_name = None;
        let mut y = entry(1, "{}");
        y.client_name = Some("a");
        y.user_name = Some("b");
        let mut z = entry(1, "{}");
        z.client_name = None;
        z.user_name = Some("ab");
        let h = |e: &Entry<'_>| entry_hash(&GENESIS, e);
        assert_ne!(h(&x), h(&y));
        assert_ne!(h(&x), h(&z));
        assert_ne!(h(&y), h(&z));
    }
}
