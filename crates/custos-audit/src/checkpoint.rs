//! Signed checkpoints: an Ed25519 signature by the audit key over (sequence number, chain hash,
//! date, key id). A checkpoint kept outside the database (in the SIEM, on paper) pins the
//! whole history up to its record: rewriting any earlier record, even with every later hash
//! recomputed, no longer matches it, and without the audit key no new checkpoint can be made.

use custos_crypto::ed25519::{self, Ed25519Signer};
use serde::{Deserialize, Serialize};

use crate::chain::{to_hex, Hash};

/// A signed checkpoint, also the JSON document `custos audit checkpoint` exports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Sequence number of the last record covered.
    pub seq: i64,
    /// Chain hash of that record (hex).
    pub hash: String,
    /// When the checkpoint was made, milliseconds since the Unix epoch.
    pub date: i64,
    /// Id of the audit key that signed it.
    pub kid: String,
    /// Ed25519 signature (base64url) over [`Checkpoint::message`].
    pub signature: String,
}

impl Checkpoint {
    /// The bytes signed: a fixed, line-separated text so other tools can check it too.
    pub fn message(seq: i64, hash: &str, date: i64, kid: &str) -> Vec<u8> {
        format!("custos-audit-checkpoint-v1\n{seq}\n{hash}\n{date}\n{kid}").into_bytes()
    }

    /// Signs the chain state at `seq`.
    pub fn sign(signer: &Ed25519Signer, seq: i64, hash: &Hash, date: i64) -> Self {
        let hash = to_hex(hash);
        let signature =
            custos_crypto::b64url(signer.sign(&Self::message(seq, &hash, date, signer.kid())));
        Self {
            seq,
            hash,
            date,
            kid: signer.kid().to_owned(),
            signature,
        }
    }

    /// Whether the signature is valid under the 32-byte Ed25519 `public_key`.
    pub fn signature_valid(&self, public_key: &[u8]) -> bool {
        let Some(sig) = custos_crypto::b64url_decode(&self.signature) else {
            return false;
        };
        ed25519::verify(
            public_key,
            &Self::message(self.seq, &self.hash, self.date, &self.kid),
            &sig,
        )
    }

    /// The `log_id` of the record it covers.
    pub fn log_id(&self) -> String {
        format!("{:020}", self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_covers_every_field() -> Result<(), custos_crypto::CryptoError> {
        let k = Ed25519Signer::generate("ak1")?;
        let c = Checkpoint::sign(&k, 42, &[7u8; 32], 1000);
        let pk = k.public_key();
        assert!(c.signature_valid(&pk));
        let mut bad = c.clone();
        bad.seq = 41;
        assert!(!bad.signature_valid(&pk));
        let mut bad = c.clone();
        bad.hash = to_hex(&[8u8; 32]);
        assert!(!bad.signature_valid(&pk));
        let mut bad = c.clone();
        bad.date = 1001;
        assert!(!bad.signature_valid(&pk));
        let mut bad = c.clone();
        bad.signature = "x".into();
        assert!(!bad.signature_valid(&pk));
        let text = serde_json::to_string(&c).map_err(|_| custos_crypto::CryptoError::Signing)?;
        let back: Checkpoint =
            serde_json::from_str(&text).map_err(|_| custos_crypto::CryptoError::Signing)?;
        assert_eq!(back, c);
        Ok(())
    }
}
