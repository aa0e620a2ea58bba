//! At-rest encryption of secrets (signing keys, client secrets) with AES-256-GCM under the
//! master key. Sealed values are `v1.` + base64url(nonce ‖ ciphertext ‖ tag).

use aws_lc_rs::aead::{Aad, RandomizedNonceKey, AES_256_GCM, NONCE_LEN};

use crate::{b64url, b64url_decode, CryptoError};

/// The key that encrypts secrets at rest.
pub struct MasterKey(RandomizedNonceKey);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// From 32 raw key bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != 32 {
            return Err(CryptoError::InvalidKey);
        }
        RandomizedNonceKey::new(&AES_256_GCM, bytes)
            .map(Self)
            .map_err(|_| CryptoError::InvalidKey)
    }

    /// From its text form: 64 hex characters or base64url of 32 bytes.
    pub fn from_text(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        let bytes = hex::decode(text)
            .ok()
            .or_else(|| b64url_decode(text))
            .ok_or(CryptoError::InvalidKey)?;
        Self::from_bytes(&bytes)
    }

    /// A fresh random key in text form (hex), for a new data directory.
    pub fn generate_text() -> Result<String, CryptoError> {
        Ok(hex::encode(crate::random::bytes::<32>()?))
    }

    /// Encrypts `plaintext`; `context` binds the ciphertext to its purpose (e.g. the row id) so
    /// a sealed value cannot be moved to another row.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<String, CryptoError> {
        let mut in_out = plaintext.to_vec();
        let nonce = self
            .0
            .seal_in_place_append_tag(Aad::from(context.as_bytes()), &mut in_out)
            .map_err(|_| CryptoError::Signing)?;
        let mut out = nonce.as_ref().to_vec();
        out.extend_from_slice(&in_out);
        Ok(format!("v1.{}", b64url(out)))
    }

    /// Decrypts a value produced by [`MasterKey::seal`] with the same `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, CryptoError> {
        let body = sealed.strip_prefix("v1.").ok_or(CryptoError::Decrypt)?;
        let raw = b64url_decode(body).ok_or(CryptoError::Decrypt)?;
        if raw.len() < NONCE_LEN {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce = aws_lc_rs::aead::Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| CryptoError::Decrypt)?;
        let mut in_out = ct.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut in_out)
            .map_err(|_| CryptoError::Decrypt)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_tamper() -> Result<(), CryptoError> {
        let key = MasterKey::from_text(&MasterKey::generate_text()?)?;
        let sealed = key.seal("client:abc", b"s3cret")?;
        assert!(!sealed.contains("s3cret"));
        assert_eq!(key.open("client:abc", &sealed)?, b"s3cret");
        assert_eq!(key.open("client:xyz", &sealed), Err(CryptoError::Decrypt));
        let other = MasterKey::from_text(&MasterKey::generate_text()?)?;
        assert_eq!(other.open("client:abc", &sealed), Err(CryptoError::Decrypt));
        assert_eq!(key.open("client:abc", "v1.AAAA"), Err(CryptoError::Decrypt));
        assert!(MasterKey::from_text("short").is_err());
        Ok(())
    }
}
