//! Password hashing with argon2id at OWASP's recommended parameters (m=19456 KiB, t=2, p=1),
//! stored as PHC strings so parameters can be raised later without breaking old hashes.
//!
//! Hashing takes tens of milliseconds of CPU by design: callers run it off the async runtime.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::{random, CryptoError};

fn hasher() -> Result<Argon2<'static>, CryptoError> {
    let params = Params::new(19_456, 2, 1, None).map_err(|_| CryptoError::PasswordHash)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub fn hash(password: &str) -> Result<String, CryptoError> {
    let salt_bytes = random::bytes::<16>()?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|_| CryptoError::PasswordHash)?;
    Ok(hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|_| CryptoError::PasswordHash)?
        .to_string())
}

/// Verifies a password against a stored PHC string. A malformed hash verifies nothing.
pub fn verify(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let Ok(h) = hasher() else { return false };
    h.verify_password(password.as_bytes(), &parsed).is_ok()
}

/// Reusable argon2 working memory (19 MiB at the default parameters). Verifying into memory
/// that is already mapped avoids allocating and page-faulting 19 MiB per login, about a fifth
/// of the cost of a verification on this class of machine.
pub struct Memory(Vec<Block>);

impl Memory {
    pub fn new() -> Self {
        Self(vec![Block::default(); 19_456])
    }
}

impl Default for Memory {
    fn default() -> Self {
        Self::new()
    }
}

/// Like [`verify`], but computing in `memory`. Hashes whose parameters need more memory than
/// `memory` holds are verified with a fresh allocation.
pub fn verify_with(password: &str, phc: &str, memory: &mut Memory) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(expected), Some(salt)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
        parsed.hash,
        parsed.salt,
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let blocks = params.block_count();
    if blocks > memory.0.len() {
        return verify(password, phc);
    }
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let ok = Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt,
            &mut out,
            &mut memory.0[..blocks],
        )
        .is_ok();
    ok && crate::ct_eq(&out, expected.as_bytes())
}

/// A hash of a random password, verified against when the account does not exist so that the
/// response time does not reveal which emails are registered.
pub fn dummy_hash() -> Result<String, CryptoError> {
    hash(&random::token()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() -> Result<(), CryptoError> {
        let h = hash("correct horse")?;
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("correct horsf", &h));
        assert!(!verify("correct horse", "not a phc string"));
        // The reusable-memory path agrees with the allocating one, on repeated use.
        let mut memory = Memory::new();
        for _ in 0..2 {
            assert!(verify_with("correct horse", &h, &mut memory));
            assert!(!verify_with("correct horsf", &h, &mut memory));
        }
        assert!(!verify_with(
            "correct horse",
            "not a phc string",
            &mut memory
        ));
        assert!(!verify_with(
            "x",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$",
            &mut memory
        ));
        Ok(())
    }
}
