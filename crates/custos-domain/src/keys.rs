//! Signing keys and their rotation states (Auth0: current, next, previous, revoked).

use crate::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Next,
    Current,
    Previous,
    Revoked,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Current => "current",
            KeyState::Previous => "previous",
            KeyState::Revoked => "revoked",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "next" => KeyState::Next,
            "current" => KeyState::Current,
            "previous" => KeyState::Previous,
            "revoked" => KeyState::Revoked,
            _ => return None,
        })
    }
}

/// A stored signing key: the private key is sealed under the master key.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub kid: String,
    pub alg: String,
    pub state: KeyState,
    pub sealed_pkcs8: String,
    pub created_at: Millis,
    pub rotated_at: Option<Millis>,
}
