//! Roles and permissions, in Auth0's RBAC model: a permission is a scope of one API (resource
//! server, named by its identifier); a role is a named set of permissions given to users.

use crate::Millis;

/// A role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// `rol_` followed by 16 random characters.
    pub id: String,
    /// Unique in the tenant.
    pub name: String,
    pub description: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A permission: one scope of one API.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission {
    pub resource_server_identifier: String,
    pub permission_name: String,
}
