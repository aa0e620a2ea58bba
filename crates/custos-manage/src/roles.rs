//! `/api/v2/roles` and `/api/v2/roles/{id}/permissions` in Auth0's shapes. A permission must be
//! a scope of an existing API. Every change records `sapi` and `custos_rbac_changed` with what
//! changed, in the same transaction.

use custos_domain::audit::{AuditEvent, EventType};
use custos_domain::role::{Permission, Role};
use custos_store::StoreError;
use serde_json::{json, Value};

use crate::body::Body;
use crate::{ApiError, Manager, Paging};

fn not_found() -> ApiError {
    ApiError::not_found("The role does not exist.", "inexistent_role")
}

pub(crate) fn role_json(r: &Role) -> Value {
    json!({"id": r.id, "name": r.name, "description": r.description})
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_body(format!("Payload validation error: '{}'.", message.into()))
}

impl Manager<'_> {
    pub(crate) fn rbac_event(&self, what: &str, details: Value) -> AuditEvent {
        let mut ev = AuditEvent::new(EventType::RbacChanged, self.provider.now_ms());
        ev.description = what.into();
        ev.client_id = Some(self.actor.client_id.clone());
        ev.ip = Some(self.actor.meta.ip.clone());
        ev.user_agent = Some(self.actor.meta.user_agent.clone());
        ev.details = details;
        ev
    }

    pub(crate) async fn find_role(&self, id: &str) -> Result<Role, ApiError> {
        self.provider.store.get_role(id).await.map_err(|e| match e {
            StoreError::NotFound => not_found(),
            other => other.into(),
        })
    }

    pub async fn create_role(&self, body: &Value) -> Result<Value, ApiError> {
        let b = Body::new(body, &["name", "description"])?;
        let name = b.required_str("name", 50)?;
        let now = self.provider.now_ms();
        let role = Role {
            id: format!("rol_{}", custos_crypto::random::alphanumeric(16)?),
            name,
            description: b.str("description", 140)?.unwrap_or_default(),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.provider.store.begin().await?;
        match tx.insert_role(&role).await {
            Err(StoreError::Conflict(_)) => {
                return Err(ApiError::conflict(
                    "A role with this name already exists.",
                    "role_conflict",
                ))
            }
            other => other?,
        }
        tx.audit(&self.success_event("create:roles", role_json(&role)))
            .await?;
        tx.audit(&self.rbac_event(
            "Role created",
            json!({"role": role_json(&role), "before": null, "after": role_json(&role)}),
        ))
        .await?;
        tx.commit().await?;
        Ok(role_json(&role))
    }

    pub async fn list_roles(
        &self,
        paging: Paging,
        name_filter: Option<&str>,
    ) -> Result<Value, ApiError> {
        let page = self
            .provider
            .store
            .list_roles(name_filter, paging.page, paging.per_page)
            .await?;
        Ok(paging.wrap(
            "roles",
            page.items.iter().map(role_json).collect(),
            page.total,
        ))
    }

    pub async fn get_role(&self, id: &str) -> Result<Value, ApiError> {
        Ok(role_json(&self.find_role(id).await?))
    }

    pub async fn update_role(&self, id: &str, body: &Value) -> Result<Value, ApiError> {
        let b = Body::new(body, &["name", "description"])?;
        let mut role = self.find_role(id).await?;
        let before = role_json(&role);
        if let Some(name) = b.str("name", 50)? {
            if name.is_empty() {
                return Err(bad("name must not be empty"));
            }
            role.name = name;
        }
        if let Some(d) = b.str("description", 140)? {
            role.description = d;
        }
        role.updated_at = self.provider.now_ms();
        let mut tx = self.provider.store.begin().await?;
        match tx.update_role(&role).await {
            Err(StoreError::Conflict(_)) => {
                return Err(ApiError::conflict(
                    "A role with this name already exists.",
                    "role_conflict",
                ))
            }
            other => other?,
        }
        let after = role_json(&role);
        tx.audit(&self.success_event("update:roles", json!({"id": id})))
            .await?;
        tx.audit(&self.rbac_event(
            "Role updated",
            json!({"role": id, "before": before, "after": after}),
        ))
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    pub async fn delete_role(&self, id: &str) -> Result<(), ApiError> {
        let role = self.find_role(id).await?;
        let permissions = self.provider.store.role_permissions(id).await?;
        let mut tx = self.provider.store.begin().await?;
        tx.delete_role(id).await?;
        tx.audit(&self.success_event("delete:roles", json!({"id": id})))
            .await?;
        tx.audit(&self.rbac_event(
            "Role deleted",
            json!({"role": id, "before": {"role": role_json(&role), "permissions": permissions_json(&permissions)}, "after": null}),
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A held permission in Auth0's shape, named with its API's name and the scope's description.
    async fn permission_json(&self, p: &Permission) -> Value {
        let server = self
            .provider
            .store
            .get_resource_server_by_identifier(&p.resource_server_identifier)
            .await
            .ok();
        json!({
            "resource_server_identifier": p.resource_server_identifier,
            "permission_name": p.permission_name,
            "resource_server_name": server.as_ref().map(|s| s.name.clone()),
            "description": server.as_ref().and_then(|s| s.scopes.iter().find(|sc| sc.value == p.permission_name).map(|sc| sc.description.clone())),
        })
    }

    /// Reads `{permissions: [{resource_server_identifier, permission_name}]}`, each checked
    /// against the scopes of its API.
    async fn permissions_of(&self, body: &Value) -> Result<Vec<Permission>, ApiError> {
        let b = Body::new(body, &["permissions"])?;
        let items = b
            .raw("permissions")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| bad("permissions must be a non-empty array"))?;
        if items.len() > 1000 {
            return Err(bad("at most 1000 permissions per request"));
        }
        let mut out = Vec::new();
        for item in items {
            let (Some(api), Some(name)) = (
                item.get("resource_server_identifier")
                    .and_then(Value::as_str),
                item.get("permission_name").and_then(Value::as_str),
            ) else {
                return Err(bad(
                    "each permission needs resource_server_identifier and permission_name",
                ));
            };
            let server = self
                .provider
                .store
                .get_resource_server_by_identifier(api)
                .await
                .map_err(|_| {
                    ApiError::not_found(
                        format!("Resource server {api} does not exist."),
                        "inexistent_resource_server",
                    )
                })?;
            if !server.has_scope(name) {
                return Err(bad(format!(
                    "permission {name} does not exist for resource server {api}"
                )));
            }
            out.push(Permission {
                resource_server_identifier: api.to_owned(),
                permission_name: name.to_owned(),
            });
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    pub async fn get_role_permissions(&self, id: &str, paging: Paging) -> Result<Value, ApiError> {
        self.find_role(id).await?;
        let all = self.provider.store.role_permissions(id).await?;
        let total = all.len() as i64;
        let mut items = Vec::new();
        let start = (paging.page * paging.per_page) as usize;
        for p in all.iter().skip(start).take(paging.per_page as usize) {
            items.push(self.permission_json(p).await);
        }
        Ok(paging.wrap("permissions", items, total))
    }

    pub async fn add_role_permissions(&self, id: &str, body: &Value) -> Result<(), ApiError> {
        self.find_role(id).await?;
        let perms = self.permissions_of(body).await?;
        let mut tx = self.provider.store.begin().await?;
        let added = tx
            .add_role_permissions(id, &perms, self.provider.now_ms())
            .await?;
        tx.audit(&self.success_event(
            "update:roles",
            json!({"id": id, "permissions_added": added}),
        ))
        .await?;
        tx.audit(&self.rbac_event(
            "Permissions added to a role",
            json!({"role": id, "added": permissions_json(&perms)}),
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn remove_role_permissions(&self, id: &str, body: &Value) -> Result<(), ApiError> {
        self.find_role(id).await?;
        let perms = self.permissions_of(body).await?;
        let mut tx = self.provider.store.begin().await?;
        let removed = tx.remove_role_permissions(id, &perms).await?;
        tx.audit(&self.success_event(
            "update:roles",
            json!({"id": id, "permissions_removed": removed}),
        ))
        .await?;
        tx.audit(&self.rbac_event(
            "Permissions removed from a role",
            json!({"role": id, "removed": permissions_json(&perms)}),
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn permissions_json(perms: &[Permission]) -> Value {
    Value::Array(
        perms
            .iter()
            .map(|p| json!({"resource_server_identifier": p.resource_server_identifier, "permission_name": p.permission_name}))
            .collect(),
    )
}

/// Users as Auth0 lists the members of a role or an organization.
pub(crate) fn members_json(rows: Vec<custos_store::MemberRow>) -> Vec<Value> {
    rows.into_iter()
        .map(|(user_id, email, name, picture)| {
            json!({"user_id": user_id, "email": email, "name": name, "picture": picture})
        })
        .collect()
}

pub(crate) fn user_id_list(body: &Value, key: &str) -> Result<Vec<String>, ApiError> {
    let b = Body::new(body, &[key])?;
    let items = b
        .raw(key)
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty() && a.len() <= 1000)
        .ok_or_else(|| bad(format!("{key} must be an array of 1 to 1000 ids")))?;
    let mut out = items
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| bad(format!("{key} must hold strings")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

impl Manager<'_> {
    pub(crate) async fn known_user(&self, id: &str) -> Result<custos_domain::user::User, ApiError> {
        self.provider
            .store
            .get_user(id)
            .await
            .map_err(|_| ApiError::not_found("The user does not exist.", "inexistent_user"))
    }

    /// `GET /api/v2/users/{id}/roles`.
    pub async fn get_user_roles(&self, id: &str, paging: Paging) -> Result<Value, ApiError> {
        self.known_user(id).await?;
        let roles = self.provider.store.user_roles(id).await?;
        let total = roles.len() as i64;
        let items = roles
            .iter()
            .skip((paging.page * paging.per_page) as usize)
            .take(paging.per_page as usize)
            .map(role_json)
            .collect();
        Ok(paging.wrap("roles", items, total))
    }

    /// `POST /api/v2/users/{id}/roles` with `{roles: [...]}`.
    pub async fn assign_user_roles(&self, id: &str, body: &Value) -> Result<(), ApiError> {
        self.known_user(id).await?;
        let roles = user_id_list(body, "roles")?;
        for r in &roles {
            self.find_role(r).await?;
        }
        let mut tx = self.provider.store.begin().await?;
        tx.assign_roles(id, &roles, self.provider.now_ms()).await?;
        tx.audit(&self.success_event(
            "update:users",
            json!({"user_id": id, "roles_assigned": roles}),
        ))
        .await?;
        let mut ev = self.rbac_event(
            "Roles assigned to a user",
            json!({"user_id": id, "assigned": roles}),
        );
        ev.user_id = Some(id.to_owned());
        tx.audit(&ev).await?;
        tx.commit().await?;
        Ok(())
    }

    /// `DELETE /api/v2/users/{id}/roles` with `{roles: [...]}`.
    pub async fn unassign_user_roles(&self, id: &str, body: &Value) -> Result<(), ApiError> {
        self.known_user(id).await?;
        let roles = user_id_list(body, "roles")?;
        let mut tx = self.provider.store.begin().await?;
        tx.unassign_roles(id, &roles).await?;
        tx.audit(&self.success_event(
            "update:users",
            json!({"user_id": id, "roles_removed": roles}),
        ))
        .await?;
        let mut ev = self.rbac_event(
            "Roles removed from a user",
            json!({"user_id": id, "removed": roles}),
        );
        ev.user_id = Some(id.to_owned());
        tx.audit(&ev).await?;
        tx.commit().await?;
        Ok(())
    }

    /// `GET /api/v2/roles/{id}/users`.
    pub async fn get_role_users(&self, id: &str, paging: Paging) -> Result<Value, ApiError> {
        self.find_role(id).await?;
        let page = self
            .provider
            .store
            .role_users(id, paging.page, paging.per_page)
            .await?;
        Ok(paging.wrap("users", members_json(page.items), page.total))
    }

    /// `POST /api/v2/roles/{id}/users` with `{users: [...]}`.
    pub async fn assign_role_users(&self, id: &str, body: &Value) -> Result<(), ApiError> {
        self.find_role(id).await?;
        let users = user_id_list(body, "users")?;
        for u in &users {
            self.known_user(u).await?;
        }
        let now = self.provider.now_ms();
        let mut tx = self.provider.store.begin().await?;
        for u in &users {
            tx.assign_roles(u, &[id.to_owned()], now).await?;
        }
        tx.audit(&self.success_event("update:roles", json!({"id": id, "users_assigned": users})))
            .await?;
        tx.audit(&self.rbac_event(
            "Users assigned to a role",
            json!({"role": id, "assigned": users}),
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// `GET /api/v2/users/{id}/permissions`: direct and role-derived, with their sources.
    pub async fn get_user_permissions(&self, id: &str, paging: Paging) -> Result<Value, ApiError> {
        self.known_user(id).await?;
        let held = self.provider.store.user_permissions(id).await?;
        // One entry per permission, listing every source (Auth0's shape).
        let mut merged: Vec<(Permission, Vec<Value>)> = Vec::new();
        for h in held {
            let source = match &h.role {
                None => json!({"source_id": "", "source_name": "", "source_type": "DIRECT"}),
                Some((rid, rname)) => {
                    json!({"source_id": rid, "source_name": rname, "source_type": "ROLE"})
                }
            };
            match merged.iter_mut().find(|(p, _)| *p == h.permission) {
                Some((_, sources)) => sources.push(source),
                None => merged.push((h.permission, vec![source])),
            }
        }
        let total = merged.len() as i64;
        let mut items = Vec::new();
        for (p, sources) in merged
            .into_iter()
            .skip((paging.page * paging.per_page) as usize)
            .take(paging.per_page as usize)
        {
            let mut v = self.permission_json(&p).await;
            v["sources"] = Value::Array(sources);
            items.push(v);
        }
        Ok(paging.wrap("permissions", items, total))
    }

    /// `POST /api/v2/users/{id}/permissions`.
    pub async fn add_user_permissions(&self, id: &str, body: &Value) -> Result<(), ApiError> {
        self.known_user(id).await?;
        let perms = self.permissions_of(body).await?;
        let mut tx = self.provider.store.begin().await?;
        tx.add_user_permissions(id, &perms, self.provider.now_ms())
            .await?;
        tx.audit(&self.success_event(
            "update:users",
            json!({"user_id": id, "permissions_added": permissions_json(&perms)}),
        ))
        .await?;
        let mut ev = self.rbac_event(
            "Permissions granted to a user",
            json!({"user_id": id, "added": permissions_json(&perms)}),
        );
        ev.user_id = Some(id.to_owned());
        tx.audit(&ev).await?;
        tx.commit().await?;
        Ok(())
    }

    /// `DELETE /api/v2/users/{id}/permissions`.
    pub async fn remove_user_permissions(&self, id: &str, body: &Value) -> Result<(), ApiError> {
        self.known_user(id).await?;
        let perms = self.permissions_of(body).await?;
        let mut tx = self.provider.store.begin().await?;
        tx.remove_user_permissions(id, &perms).await?;
        tx.audit(&self.success_event(
            "update:users",
            json!({"user_id": id, "permissions_removed": permissions_json(&perms)}),
        ))
        .await?;
        let mut ev = self.rbac_event(
            "Permissions removed from a user",
            json!({"user_id": id, "removed": permissions_json(&perms)}),
        );
        ev.user_id = Some(id.to_owned());
        tx.audit(&ev).await?;
        tx.commit().await?;
        Ok(())
    }
}
