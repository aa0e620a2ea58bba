//! Password hashing with argon2id at OWASP's recommended parameters (m=19456 KiB, t=2, p=1),
//! stored as PHC strings so parameters can be raised later without breaking old hashes.
//!
//! Hashing takes tens of milliseconds of CPU by design: callers run it off the async runtime.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

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
        Ok(())
    }
}
