//! Audit events with Auth0's log type codes. Every state change and every authentication or
//! token outcome produces exactly one of these, written in the same transaction as the change.

use crate::Millis;

/// Auth0 log event type codes used by Custos.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Successful login.
    S,
    /// Failed login (other reasons).
    F,
    /// Failed login: wrong password.
    Fp,
    /// Failed login: invalid email/username.
    Fu,
    /// Successful signup.
    Ss,
    /// Failed signup.
    Fs,
    /// Successful logout.
    Slo,
    /// Success exchange: client credentials for access token.
    Seccft,
    /// Failed exchange: client credentials for access token.
    Feccft,
    /// Success exchange: authorization code for access token.
    Seacft,
    /// Failed exchange: authorization code for access token.
    Feacft,
    /// Success exchange: refresh token for access token.
    Sertft,
    /// Failed exchange: refresh token for access token.
    Fertft,
    /// Failed exchange: rotating refresh token reused.
    Ferrt,
    /// Success exchange: password for access token.
    Sepft,
    /// Failed exchange: password for access token.
    Fepft,
    /// Successful management API operation.
    Sapi,
    /// Failed management API operation.
    Fapi,
    /// Refresh token revoked.
    Srrt,
    /// Failed silent authentication (prompt=none).
    Fsa,
    /// Successful silent authentication (prompt=none).
    Ssa,
}

impl EventType {
    pub const ALL: [EventType; 21] = [
        EventType::S,
        EventType::F,
        EventType::Fp,
        EventType::Fu,
        EventType::Ss,
        EventType::Fs,
        EventType::Slo,
        EventType::Seccft,
        EventType::Feccft,
        EventType::Seacft,
        EventType::Feacft,
        EventType::Sertft,
        EventType::Fertft,
        EventType::Ferrt,
        EventType::Sepft,
        EventType::Fepft,
        EventType::Sapi,
        EventType::Fapi,
        EventType::Srrt,
        EventType::Fsa,
        EventType::Ssa,
    ];

    /// The type with this Auth0 code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }

    pub fn code(self) -> &'static str {
        match self {
            EventType::S => "s",
            EventType::F => "f",
            EventType::Fp => "fp",
            EventType::Fu => "fu",
            EventType::Ss => "ss",
            EventType::Fs => "fs",
            EventType::Slo => "slo",
            EventType::Seccft => "seccft",
            EventType::Feccft => "feccft",
            EventType::Seacft => "seacft",
            EventType::Feacft => "feacft",
            EventType::Sertft => "sertft",
            EventType::Fertft => "fertft",
            EventType::Ferrt => "ferrt",
            EventType::Sepft => "sepft",
            EventType::Fepft => "fepft",
            EventType::Sapi => "sapi",
            EventType::Fapi => "fapi",
            EventType::Srrt => "srrt",
            EventType::Fsa => "fsa",
            EventType::Ssa => "ssa",
        }
    }

    /// Auth0's default description for the code.
    pub fn description(self) -> &'static str {
        match self {
            EventType::S => "Successful login",
            EventType::F => "Failed login",
            EventType::Fp => "Wrong email or password.",
            EventType::Fu => "Wrong email or password.",
            EventType::Ss => "Successful signup",
            EventType::Fs => "Failed signup",
            EventType::Slo => "User successfully logged out",
            EventType::Seccft => "Client Credentials for Access Token",
            EventType::Feccft => "Failed exchange of Client Credentials for Access Token",
            EventType::Seacft => "Authorization Code for Access Token",
            EventType::Feacft => "Failed exchange of Authorization Code for Access Token",
            EventType::Sertft => "Refresh Token for Access Token",
            EventType::Fertft => "Failed exchange of Refresh Token for Access Token",
            EventType::Ferrt => {
                "Unsuccessful Refresh Token exchange, reused refresh token detected"
            }
            EventType::Sepft => "Password for Access Token",
            EventType::Fepft => "Failed exchange of Password for Access Token",
            EventType::Sapi => "Success API Operation",
            EventType::Fapi => "Failed API Operation",
            EventType::Srrt => "Successful Refresh Token revocation",
            EventType::Fsa => "Failed Silent Auth",
            EventType::Ssa => "Successful Silent Auth",
        }
    }
}

/// One audit record, before storage assigns its `log_id`.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub event_type: EventType,
    pub date: Millis,
    pub description: String,
    pub client_id: Option<String>,
    pub client_name: Option<String>,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub connection: Option<String>,
    pub audience: Option<String>,
    pub scope: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Type-specific details. Never passwords, secrets, tokens or hashes.
    pub details: serde_json::Value,
}

impl AuditEvent {
    pub fn new(event_type: EventType, date: Millis) -> Self {
        Self {
            event_type,
            date,
            description: event_type.description().to_owned(),
            client_id: None,
            client_name: None,
            user_id: None,
            user_name: None,
            connection: None,
            audience: None,
            scope: None,
            ip: None,
            user_agent: None,
            details: serde_json::Value::Object(Default::default()),
        }
    }
}

/// A stored audit record.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub seq: i64,
    pub event: AuditEvent,
}

impl AuditRecord {
    /// Auth0's `log_id`: sortable and stable. Zero-padded storage sequence.
    pub fn log_id(&self) -> String {
        format!("{:020}", self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        for t in EventType::ALL {
            assert_eq!(EventType::from_code(t.code()), Some(t));
        }
        let mut codes: Vec<_> = EventType::ALL.iter().map(|t| t.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), EventType::ALL.len());
        assert_eq!(EventType::from_code("nope"), None);
    }
}
