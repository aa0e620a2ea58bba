//! Compact JWS (RFC 7515) signing and verification for JWTs.
//!
//! Private keys are parsed once into aws-lc-rs key pairs and kept for the life of the key, and
//! the protected header is encoded once per key: signing a token costs one serialisation and one
//! signature. Public keys used for verification are likewise parsed once (`ParsedPublicKey`).

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ParsedPublicKey, RsaKeyPair,
    RsaPublicKeyComponents,
};
use serde::Serialize;
use serde_json::{json, Value};

use crate::{b64url, b64url_decode, CryptoError};

/// The algorithms Custos signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::upper_case_acronyms)]
pub enum Alg {
    RS256,
    ES256,
    EdDSA,
}

impl Alg {
    pub const ALL: [Alg; 3] = [Alg::RS256, Alg::ES256, Alg::EdDSA];

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "RS256" => Some(Alg::RS256),
            "ES256" => Some(Alg::ES256),
            "EdDSA" => Some(Alg::EdDSA),
            _ => None,
        }
    }
}

enum PrivateKey {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private signing key with its key id, ready to sign.
pub struct SigningKey {
    kid: String,
    alg: Alg,
    key: PrivateKey,
    header_b64: String,
    public_jwk: Value,
    verifier: VerifyingKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a new key pair (RSA 2048, P-256 or Ed25519).
    pub fn generate(alg: Alg, kid: impl Into<String>) -> Result<Self, CryptoError> {
        let pkcs8 = match alg {
            Alg::RS256 => RsaKeyPair::generate(KeySize::Rsa2048)
                .and_then(|k| k.as_der().map(|d| d.as_ref().to_vec()))
                .map_err(|_| CryptoError::KeyGeneration)?,
            Alg::ES256 => EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                .and_then(|k| k.to_pkcs8v1())
                .map(|d| d.as_ref().to_vec())
                .map_err(|_| CryptoError::KeyGeneration)?,
            Alg::EdDSA => Ed25519KeyPair::generate()
                .and_then(|k| k.to_pkcs8v1())
                .map(|d| d.as_ref().to_vec())
                .map_err(|_| CryptoError::KeyGeneration)?,
        };
        Self::from_pkcs8(alg, kid, &pkcs8)
    }

    /// Loads a key from its PKCS#8 DER encoding.
    pub fn from_pkcs8(alg: Alg, kid: impl Into<String>, der: &[u8]) -> Result<Self, CryptoError> {
        let kid = kid.into();
        let (key, jwk) = match alg {
            Alg::RS256 => {
                let k = RsaKeyPair::from_pkcs8(der).map_err(|_| CryptoError::InvalidKey)?;
                let public = k.public_key();
                let jwk = json!({
                    "kty": "RSA",
                    "n": b64url(public.modulus().big_endian_without_leading_zero()),
                    "e": b64url(public.exponent().big_endian_without_leading_zero()),
                });
                (PrivateKey::Rsa(k), jwk)
            }
            Alg::ES256 => {
                let k = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|_| CryptoError::InvalidKey)?;
                // Uncompressed SEC1 point: 0x04 ‖ x ‖ y.
                let point = k.public_key().as_ref();
                if point.len() != 65 {
                    return Err(CryptoError::InvalidKey);
                }
                let jwk = json!({
                    "kty": "EC",
                    "crv": "P-256",
                    "x": b64url(&point[1..33]),
                    "y": b64url(&point[33..65]),
                });
                (PrivateKey::Ec(k), jwk)
            }
            Alg::EdDSA => {
                let k = Ed25519KeyPair::from_pkcs8(der).map_err(|_| CryptoError::InvalidKey)?;
                let jwk = json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": b64url(k.public_key().as_ref()),
                });
                (PrivateKey::Ed(k), jwk)
            }
        };
        let mut public_jwk = jwk;
        if let Value::Object(map) = &mut public_jwk {
            map.insert("kid".into(), Value::String(kid.clone()));
            map.insert("alg".into(), Value::String(alg.as_str().into()));
            map.insert("use".into(), Value::String("sig".into()));
        }
        let verifier = VerifyingKey::from_jwk(&public_jwk)?;
        let header = json!({"alg": alg.as_str(), "typ": "JWT", "kid": kid});
        let header_b64 = b64url(serde_json::to_vec(&header).map_err(|_| CryptoError::Signing)?);
        Ok(Self {
            kid,
            alg,
            key,
            header_b64,
            public_jwk,
            verifier,
            rng: SystemRandom::new(),
        })
    }

    /// The PKCS#8 DER encoding of the private key, to be sealed before storage.
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, CryptoError> {
        match &self.key {
            PrivateKey::Rsa(k) => k.as_der().map(|d| d.as_ref().to_vec()),
            PrivateKey::Ec(k) => k.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
            PrivateKey::Ed(k) => k.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
        }
        .map_err(|_| CryptoError::InvalidKey)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The public key as a JWK with `kid`, `alg` and `use`.
    pub fn public_jwk(&self) -> &Value {
        &self.public_jwk
    }

    /// The matching verification key.
    pub fn verifier(&self) -> &VerifyingKey {
        &self.verifier
    }

    /// Signs `claims` as a compact JWS.
    pub fn sign_jwt(&self, claims: &impl Serialize) -> Result<String, CryptoError> {
        let payload = serde_json::to_vec(claims).map_err(|_| CryptoError::Signing)?;
        let mut token = String::with_capacity(self.header_b64.len() + payload.len() * 4 / 3 + 400);
        token.push_str(&self.header_b64);
        token.push('.');
        token.push_str(&b64url(&payload));
        let sig = match &self.key {
            PrivateKey::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &self.rng,
                    token.as_bytes(),
                    &mut sig,
                )
                .map_err(|_| CryptoError::Signing)?;
                sig
            }
            PrivateKey::Ec(k) => k
                .sign(&self.rng, token.as_bytes())
                .map_err(|_| CryptoError::Signing)?
                .as_ref()
                .to_vec(),
            PrivateKey::Ed(k) => k.sign(token.as_bytes()).as_ref().to_vec(),
        };
        token.push('.');
        token.push_str(&b64url(sig));
        Ok(token)
    }
}

/// A public key for verification, parsed once.
pub struct VerifyingKey {
    kid: Option<String>,
    /// JOSE algorithm names this key verifies.
    algs: &'static [&'static str],
    keys: Vec<(&'static str, ParsedPublicKey)>,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("algs", &self.algs)
            .finish()
    }
}

fn jwk_field(jwk: &Value, name: &str) -> Result<Vec<u8>, CryptoError> {
    jwk.get(name)
        .and_then(Value::as_str)
        .and_then(b64url_decode)
        .ok_or(CryptoError::InvalidKey)
}

impl VerifyingKey {
    /// Parses a public JWK (RSA, EC P-256 or Ed25519). If the JWK names an `alg`, only that
    /// algorithm is accepted with it.
    pub fn from_jwk(jwk: &Value) -> Result<Self, CryptoError> {
        let kid = jwk.get("kid").and_then(Value::as_str).map(str::to_owned);
        let pinned = jwk.get("alg").and_then(Value::as_str);
        let mut keys = Vec::new();
        let (algs, kty_algs): (&'static [&'static str], Vec<_>) =
            match jwk.get("kty").and_then(Value::as_str) {
                Some("RSA") => {
                    let n = jwk_field(jwk, "n")?;
                    let e = jwk_field(jwk, "e")?;
                    let c = RsaPublicKeyComponents { n: &n, e: &e };
                    (
                        &["RS256", "RS384", "PS256"],
                        vec![
                            (
                                "RS256",
                                c.to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256),
                            ),
                            (
                                "RS384",
                                c.to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA384),
                            ),
                            (
                                "PS256",
                                c.to_parsed_public_key(&signature::RSA_PSS_2048_8192_SHA256),
                            ),
                        ],
                    )
                }
                Some("EC") if jwk.get("crv").and_then(Value::as_str) == Some("P-256") => {
                    let mut point = vec![4u8];
                    let x = jwk_field(jwk, "x")?;
                    let y = jwk_field(jwk, "y")?;
                    if x.len() != 32 || y.len() != 32 {
                        return Err(CryptoError::InvalidKey);
                    }
                    point.extend_from_slice(&x);
                    point.extend_from_slice(&y);
                    (
                        &["ES256"],
                        vec![(
                            "ES256",
                            ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point),
                        )],
                    )
                }
                Some("OKP") if jwk.get("crv").and_then(Value::as_str) == Some("Ed25519") => {
                    let x = jwk_field(jwk, "x")?;
                    (
                        &["EdDSA"],
                        vec![("EdDSA", ParsedPublicKey::new(&signature::ED25519, x))],
                    )
                }
                _ => return Err(CryptoError::InvalidKey),
            };
        for (alg, parsed) in kty_algs {
            if pinned.is_none_or(|p| p == alg) {
                keys.push((alg, parsed.map_err(|_| CryptoError::InvalidKey)?));
            }
        }
        if keys.is_empty() {
            return Err(CryptoError::InvalidKey);
        }
        Ok(Self { kid, algs, keys })
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    fn verify(&self, alg: &str, message: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        let (_, key) = self
            .keys
            .iter()
            .find(|(a, _)| *a == alg)
            .ok_or(CryptoError::AlgorithmNotAllowed)?;
        key.verify_sig(message, sig)
            .map_err(|_| CryptoError::BadSignature)
    }
}

/// A JWS split into its parts, not yet verified.
#[derive(Debug)]
pub struct UnverifiedJwt<'a> {
    pub alg: String,
    pub kid: Option<String>,
    pub typ: Option<String>,
    signing_input: &'a str,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

/// Most tokens we accept are a few KiB; refuse anything absurd before decoding.
const MAX_TOKEN_LEN: usize = 16 * 1024;

impl<'a> UnverifiedJwt<'a> {
    /// Splits and decodes a compact JWS. Rejects `alg: none`, unknown `crit`, and malformed parts.
    pub fn parse(token: &'a str) -> Result<Self, CryptoError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(CryptoError::MalformedToken);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(CryptoError::MalformedToken);
        };
        let header: Value = b64url_decode(h)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(CryptoError::MalformedToken)?;
        if header.get("crit").is_some() {
            return Err(CryptoError::MalformedToken);
        }
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(CryptoError::MalformedToken)?
            .to_owned();
        if alg == "none" {
            return Err(CryptoError::AlgorithmNotAllowed);
        }
        let payload = b64url_decode(p).ok_or(CryptoError::MalformedToken)?;
        let signature = b64url_decode(s).ok_or(CryptoError::MalformedToken)?;
        Ok(Self {
            kid: header.get("kid").and_then(Value::as_str).map(str::to_owned),
            typ: header.get("typ").and_then(Value::as_str).map(str::to_owned),
            alg,
            signing_input: &token[..h.len() + 1 + p.len()],
            payload,
            signature,
        })
    }

    /// Verifies the signature with `key` and returns the claims object.
    pub fn verify(self, key: &VerifyingKey) -> Result<Value, CryptoError> {
        if !key.algs.contains(&self.alg.as_str()) {
            return Err(CryptoError::AlgorithmNotAllowed);
        }
        key.verify(&self.alg, self.signing_input.as_bytes(), &self.signature)?;
        let claims: Value =
            serde_json::from_slice(&self.payload).map_err(|_| CryptoError::MalformedToken)?;
        if !claims.is_object() {
            return Err(CryptoError::MalformedToken);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_every_alg() -> Result<(), CryptoError> {
        for alg in Alg::ALL {
            let key = SigningKey::generate(alg, format!("k-{}", alg.as_str()))?;
            let token = key.sign_jwt(&json!({"sub": "auth0|1", "n": 1}))?;
            let parsed = UnverifiedJwt::parse(&token)?;
            assert_eq!(parsed.alg, alg.as_str());
            assert_eq!(parsed.kid.as_deref(), Some(key.kid()));
            let claims = parsed.verify(key.verifier())?;
            assert_eq!(claims["sub"], "auth0|1");

            // A key loaded back from its PKCS#8 and from its public JWK verifies the same token.
            let reloaded = SigningKey::from_pkcs8(alg, key.kid(), &key.to_pkcs8()?)?;
            assert_eq!(reloaded.public_jwk(), key.public_jwk());
            let from_jwk = VerifyingKey::from_jwk(key.public_jwk())?;
            assert!(UnverifiedJwt::parse(&token)?.verify(&from_jwk).is_ok());

            // Tampering with the payload breaks the signature.
            let mut parts: Vec<&str> = token.split('.').collect();
            let forged = b64url(br#"{"sub":"auth0|2","n":1}"#);
            parts[1] = &forged;
            let tampered = parts.join(".");
            assert_eq!(
                UnverifiedJwt::parse(&tampered)?
                    .verify(key.verifier())
                    .err(),
                Some(CryptoError::BadSignature)
            );
        }
        Ok(())
    }

    #[test]
    fn key_of_another_alg_is_refused() -> Result<(), CryptoError> {
        let es = SigningKey::generate(Alg::ES256, "es")?;
        let ed = SigningKey::generate(Alg::EdDSA, "ed")?;
        let token = es.sign_jwt(&json!({"a": 1}))?;
        assert_eq!(
            UnverifiedJwt::parse(&token)?.verify(ed.verifier()).err(),
            Some(CryptoError::AlgorithmNotAllowed)
        );
        Ok(())
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            "e30.e30.",
            "!!.e30.AA",
            &"a".repeat(20000),
        ] {
            assert!(UnverifiedJwt::parse(bad).is_err(), "{bad:.20}");
        }
        let none = format!("{}.{}.", b64url(br#"{"alg":"none"}"#), b64url(b"{}"));
        assert_eq!(
            UnverifiedJwt::parse(&none).err(),
            Some(CryptoError::AlgorithmNotAllowed)
        );
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,300}") {
            let _ = UnverifiedJwt::parse(&s);
        }
    }
}
