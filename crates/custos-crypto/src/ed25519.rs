//! Detached Ed25519 signatures over raw messages, for audit checkpoints: a signature anyone
//! holding the published public key can check, without JOSE framing.

use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};

use crate::CryptoError;

/// An Ed25519 private key with its id.
pub struct Ed25519Signer {
    kid: String,
    key: Ed25519KeyPair,
}

impl std::fmt::Debug for Ed25519Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed25519Signer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Ed25519Signer {
    /// A fresh key pair from the OS CSPRNG.
    pub fn generate(kid: impl Into<String>) -> Result<Self, CryptoError> {
        let key = Ed25519KeyPair::generate().map_err(|_| CryptoError::KeyGeneration)?;
        Ok(Self {
            kid: kid.into(),
            key,
        })
    }

    /// Loads a key from its PKCS#8 DER encoding.
    pub fn from_pkcs8(kid: impl Into<String>, der: &[u8]) -> Result<Self, CryptoError> {
        let key = Ed25519KeyPair::from_pkcs8(der).map_err(|_| CryptoError::InvalidKey)?;
        Ok(Self {
            kid: kid.into(),
            key,
        })
    }

    /// The PKCS#8 DER encoding, to be sealed before storage.
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, CryptoError> {
        self.key
            .to_pkcs8v1()
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| CryptoError::InvalidKey)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> Vec<u8> {
        self.key.public_key().as_ref().to_vec()
    }

    /// A 64-byte signature over `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key.sign(message).as_ref().to_vec()
    }
}

/// Whether `sig` is a valid Ed25519 signature of `message` under the 32-byte `public_key`.
pub fn verify(public_key: &[u8], message: &[u8], sig: &[u8]) -> bool {
    UnparsedPublicKey::new(&signature::ED25519, public_key)
        .verify(message, sig)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_and_rejects_changes() -> Result<(), CryptoError> {
        let k = Ed25519Signer::generate("a1")?;
        let sig = k.sign(b"checkpoint 10");
        assert!(verify(&k.public_key(), b"checkpoint 10", &sig));
        assert!(!verify(&k.public_key(), b"checkpoint 11", &sig));
        let other = Ed25519Signer::generate("a2")?;
        assert!(!verify(&other.public_key(), b"checkpoint 10", &sig));
        let again = Ed25519Signer::from_pkcs8("a1", &k.to_pkcs8()?)?;
        assert_eq!(again.public_key(), k.public_key());
        assert!(!format!("{k:?}").contains("key:"));
        Ok(())
    }
}
