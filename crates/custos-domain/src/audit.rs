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
    /// Blocked by brute-force protection (too many wrong passwords).
    LimitWc,
    /// Rate limit reached on the Management API.
    ApiLimit,
    /// Successful password change.
    Scp,
    /// Failed password change.
    Fcp,
    /// Custos: an access decision allowed the request.
    AccessAllowed,
    /// Custos: an access decision denied the request.
    AccessDenied,
    /// Custos: a rule or action ran.
    RuleExecuted,
    /// Custos: a rule or action failed (error, timeout, limit).
    RuleFailed,
    /// Custos: roles or permissions changed (a role, its permissions, or its members).
    RbacChanged,
    /// Custos: the authorization model or relationship tuples changed.
    AuthzChanged,
    /// Custos: a token signing key was rotated.
    SigningKeyRotated,
    /// Custos: the audit checkpoint key was created or rotated.
    AuditKeyRotated,
    /// Custos: tenant configuration changed (log streams, retention, legal hold).
    ConfigChanged,
    /// Custos: audit records were exported.
    AuditExported,
    /// Custos: old audit records were archived and purged under the retention policy.
    AuditArchived,
}

impl EventType {
    pub const ALL: [EventType; 36] = [
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
        EventType::LimitWc,
        EventType::ApiLimit,
        EventType::Scp,
        EventType::Fcp,
        EventType::AccessAllowed,
        EventType::AccessDenied,
        EventType::RuleExecuted,
        EventType::RuleFailed,
        EventType::RbacChanged,
        EventType::AuthzChanged,
        EventType::SigningKeyRotated,
        EventType::AuditKeyRotated,
        EventType::ConfigChanged,
        EventType::AuditExported,
        EventType::AuditArchived,
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
            EventType::LimitWc => "limit_wc",
            EventType::ApiLimit => "api_limit",
            EventType::Scp => "scp",
            EventType::Fcp => "fcp",
            EventType::AccessAllowed => "custos_access_allowed",
            EventType::AccessDenied => "custos_access_denied",
            EventType::RuleExecuted => "custos_rule_executed",
            EventType::RuleFailed => "custos_rule_failed",
            EventType::RbacChanged => "custos_rbac_changed",
            EventType::AuthzChanged => "custos_authz_changed",
            EventType::SigningKeyRotated => "custos_signing_key_rotated",
            EventType::AuditKeyRotated => "custos_audit_key_rotated",
            EventType::ConfigChanged => "custos_config_changed",
            EventType::AuditExported => "custos_audit_exported",
            EventType::AuditArchived => "custos_audit_archived",
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
            EventType::LimitWc => "Blocked Account",
            EventType::ApiLimit => "Rate Limit on the Authentication or Management APIs",
            EventType::Scp => "Successful change password",
            EventType::Fcp => "Failed change password",
            EventType::AccessAllowed => "Access allowed",
            EventType::AccessDenied => "Access denied",
            EventType::RuleExecuted => "Rule executed",
            EventType::RuleFailed => "Rule execution failed",
            EventType::RbacChanged => "Roles or permissions changed",
            EventType::AuthzChanged => "Authorization model or relationships changed",
            EventType::SigningKeyRotated => "Signing key rotated",
            EventType::AuditKeyRotated => "Audit checkpoint key rotated",
            EventType::ConfigChanged => "Configuration changed",
            EventType::AuditExported => "Audit records exported",
            EventType::AuditArchived => "Audit records archived",
        }
    }

    /// The log-stream filter category (Auth0's names; Custos' own codes under `custos.*`).
    pub fn category(self) -> &'static str {
        use EventType::*;
        match self {
            S | Ssa => "auth.login.success",
            F | Fp | Fu | Fsa => "auth.login.fail",
            Ss => "auth.signup.success",
            Fs => "auth.signup.fail",
            Slo => "auth.logout.success",
            Seccft | Seacft | Sertft | Sepft | Srrt => "auth.token_exchange.success",
            Feccft | Feacft | Fertft | Ferrt | Fepft => "auth.token_exchange.fail",
            Sapi => "management.success",
            Fapi => "management.fail",
            LimitWc | Fcp => "user.fail",
            ApiLimit => "system.notification",
            Scp => "user.success",
            AccessAllowed | AccessDenied => "custos.access",
            RuleExecuted | RuleFailed => "custos.rules",
            RbacChanged | AuthzChanged | SigningKeyRotated | AuditKeyRotated | ConfigChanged
            | AuditExported | AuditArchived => "custos.admin",
        }
    }
}

/// Every category [`EventType::category`] yields, for validating stream filters.
pub const CATEGORIES: &[&str] = &[
    "auth.login.success",
    "auth.login.fail",
    "auth.signup.success",
    "auth.signup.fail",
    "auth.logout.success",
    "auth.token_exchange.success",
    "auth.token_exchange.fail",
    "management.success",
    "system.notification",
    "management.fail",
    "user.success",
    "user.fail",
    "custos.access",
    "custos.rules",
    "custos.admin",
];

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
    /// The organization (B2B tenant) the event happened in, when there is one.
    pub organization_id: Option<String>,
    /// The protected resource an access decision concerned (`type:id`, e.g. `patient:123`), so
    /// "every access to patient X's records" is one indexed query.
    pub resource: Option<String>,
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
            organization_id: None,
            resource: None,
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
        for t in EventType::ALL {
            assert!(CATEGORIES.contains(&t.category()), "{t:?}");
        }
    }
}
