//! Cryptography for Custos: signing keys and JWS/JWT, password hashing, random tokens, PKCE,
//! constant-time comparison and at-rest encryption.
//!
//! Every primitive comes from a vetted library (aws-lc-rs for signatures, digests, AES-GCM;
//! RustCrypto's `argon2` for passwords; the OS CSPRNG through `getrandom`). This crate never
//! performs IO and never implements a primitive itself: it only composes them into the formats
//! Custos speaks (compact JWS, PHC strings, base64url tokens).

pub mod ed25519;
mod error;
pub mod jws;
pub mod password;
pub mod pkce;
pub mod random;
pub mod seal;
mod secret;

pub use error::CryptoError;
pub use secret::Secret;

use aws_lc_rs::digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Base64url without padding, the encoding of every JOSE and OAuth value.
pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding; `None` on any malformed input.
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// SHA-256 of `data`.
pub fn sha256(data: impl AsRef<[u8]>) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data.as_ref());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Incremental SHA-256, for digests of data too large to hold at once (exports, archives).
pub struct Sha256(digest::Context);

impl Default for Sha256 {
    fn default() -> Self {
        Self(digest::Context::new(&digest::SHA256))
    }
}

impl Sha256 {
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub fn finish(self) -> [u8; 32] {
        let d = self.0.finish();
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }
}

/// The lookup key under which an opaque credential (refresh token, code, session id) is stored:
/// base64url(SHA-256(token)). The token itself is never stored.
pub fn token_digest(token: &str) -> String {
    b64url(sha256(token.as_bytes()))
}

/// OIDC `at_hash` / `c_hash`: the left half of the hash of the ASCII value, base64url encoded,
/// with the hash matching the signing algorithm (SHA-256 for RS256/ES256; SHA-512 for EdDSA
/// following OIDC's rule for Ed25519).
pub fn half_hash(alg: jws::Alg, value: &str) -> String {
    let algorithm = match alg {
        jws::Alg::RS256 | jws::Alg::ES256 => &digest::SHA256,
        jws::Alg::EdDSA => &digest::SHA512,
    };
    let d = digest::digest(algorithm, value.as_bytes());
    let bytes = d.as_ref();
    b64url(&bytes[..bytes.len() / 2])
}

/// Compares two secrets in time independent of where they differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    // Length is not secret (all our secrets have fixed-length encodings); content is.
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_sha256_matches_one_shot() {
        let mut h = Sha256::default();
        h.update(b"hello ");
        h.update(b"world");
        assert_eq!(h.finish(), sha256(b"hello world"));
    }

    #[test]
    fn ct_eq_matches_plain_equality() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
        assert!(ct_eq(b"", b""));
    }

    #[test]
    fn at_hash_matches_oidc_example() {
        // OpenID Connect Core, A.3: access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
        // has at_hash "77QmUPtjPfzWtF2AnpK9RQ" under RS256.
        assert_eq!(
            half_hash(
                jws::Alg::RS256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    #[test]
    fn b64url_round_trips_and_rejects_garbage() {
        assert_eq!(
            b64url_decode(&b64url(b"\x00\xff\x10")),
            Some(vec![0, 255, 16])
        );
        assert_eq!(b64url_decode("not base64!"), None);
    }
}
