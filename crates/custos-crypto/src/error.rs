use thiserror::Error;

/// Failures of cryptographic operations. Messages never contain key material or secrets.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("key generation failed")]
    KeyGeneration,
    #[error("key material is malformed or unsupported")]
    InvalidKey,
    #[error("signing failed")]
    Signing,
    #[error("token is malformed")]
    MalformedToken,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token algorithm is not accepted")]
    AlgorithmNotAllowed,
    #[error("password hashing failed")]
    PasswordHash,
    #[error("decryption failed: wrong master key or tampered data")]
    Decrypt,
    #[error("operating system random source failed")]
    Random,
}
