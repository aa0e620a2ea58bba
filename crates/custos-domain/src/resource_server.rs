//! APIs (resource servers) and the client grants that let machines call them.

use crate::Millis;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiScope {
    pub value: String,
    pub description: String,
}

#[derive(Debug, Clone)]
pub struct ResourceServer {
    pub id: String,
    pub name: String,
    /// The `audience` value.
    pub identifier: String,
    pub scopes: Vec<ApiScope>,
    /// `RS256`, `ES256` or `EdDSA`.
    pub signing_alg: String,
    /// Access token lifetime, seconds.
    pub token_lifetime: i64,
    pub allow_offline_access: bool,
    pub skip_consent_for_verifiable_first_party_clients: bool,
    /// The Management API itself: not editable or deletable.
    pub is_system: bool,
    /// RBAC: user tokens for this API carry only scopes the user holds as permissions.
    pub enforce_policies: bool,
    /// `access_token`, or `access_token_authz` to add a `permissions` claim.
    pub token_dialect: String,
    pub created_at: Millis,
}

impl ResourceServer {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s.value == scope)
    }
}

/// Permission for a client to obtain tokens for an API with client credentials.
#[derive(Debug, Clone)]
pub struct ClientGrant {
    pub id: String,
    pub client_id: String,
    pub audience: String,
    pub scope: Vec<String>,
    pub created_at: Millis,
}

/// The scopes of the Management API, `<verb>:<resource>` as Auth0 names them.
pub const MANAGEMENT_SCOPES: &[&str] = &[
    "read:clients",
    "create:clients",
    "update:clients",
    "delete:clients",
    "read:client_keys",
    "update:client_keys",
    "read:resource_servers",
    "create:resource_servers",
    "update:resource_servers",
    "delete:resource_servers",
    "read:client_grants",
    "create:client_grants",
    "update:client_grants",
    "delete:client_grants",
    "read:users",
    "create:users",
    "update:users",
    "delete:users",
    "read:logs",
    "read:logs_users",
    "read:signing_keys",
    "create:signing_keys",
    "update:signing_keys",
    "read:log_streams",
    "create:log_streams",
    "update:log_streams",
    "delete:log_streams",
    "read:roles",
    "create:roles",
    "update:roles",
    "delete:roles",
    "check:access",
    "read:organizations",
    "create:organizations",
    "update:organizations",
    "delete:organizations",
    "read:organization_members",
    "create:organization_members",
    "delete:organization_members",
    "read:organization_member_roles",
    "create:organization_member_roles",
    "delete:organization_member_roles",
    "read:authorization_models",
    "create:authorization_models",
    "read:relationships",
    "update:relationships",
    "read:rules",
    "create:rules",
    "update:rules",
    "delete:rules",
    "read:rules_configs",
    "update:rules_configs",
    "delete:rules_configs",
    "read:actions",
    "create:actions",
    "update:actions",
    "delete:actions",
];
