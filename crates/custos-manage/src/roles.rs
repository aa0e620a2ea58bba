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

fn role_json(r: &Role) -> Value {
    json!({"id": r.id, "name": r.name, "description": r.description})
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_body(format!("Payload validation error: '{}'.", message.into()))
}

impl Manager<'_> {
    fn rbac_event(&self, what: &str, details: Value) -> AuditEvent {
        let mut ev = AuditEvent::new(EventType::RbacChanged, self.provider.now_ms());
        ev.description = what.into();
        ev.client_id = Some(self.actor.client_id.clone());
        ev.ip = Some(self.actor.meta.ip.clone());
        ev.user_agent = Some(self.actor.meta.user_agent.clone());
        ev.details = details;
        ev
    }

    async fn find_role(&self, id: &str) -> Result<Role, ApiError> {
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
            let server = self
                .provider
                .store
                .get_resource_server_by_identifier(&p.resource_server_identifier)
                .await
                .ok();
            items.push(json!({
                "resource_server_identifier": p.resource_server_identifier,
                "permission_name": p.permission_name,
                "resource_server_name": server.as_ref().map(|s| s.name.clone()),
                "description": server.as_ref().and_then(|s| s.scopes.iter().find(|sc| sc.value == p.permission_name).map(|sc| sc.description.clone())),
            }));
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
