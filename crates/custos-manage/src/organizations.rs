//! `/api/v2/organizations` in Auth0's shapes: organizations, their members, and the roles members
//! hold in them. Every change records `sapi`, and membership and role changes also
//! `custos_rbac_changed`, in the same transaction.

use custos_domain::organization::{valid_metadata, valid_name, Organization};
use custos_store::StoreError;
use serde_json::{json, Map, Value};

use crate::body::Body;
use crate::roles::{members_json, role_json, user_id_list};
use crate::{ApiError, Manager, Paging};

fn not_found() -> ApiError {
    ApiError::not_found(
        "No organization found by that id or name",
        "inexistent_organization",
    )
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_body(format!("Payload validation error: '{}'.", message.into()))
}

fn conflict() -> ApiError {
    ApiError::conflict(
        "An organization with this name already exists.",
        "organization_conflict",
    )
}

pub(crate) fn organization_json(o: &Organization) -> Value {
    let mut v = json!({"id": o.id, "name": o.name, "display_name": o.display_name.clone().unwrap_or_else(|| o.name.clone())});
    if let Some(b) = &o.branding {
        v["branding"] = b.clone();
    }
    v["metadata"] = Value::Object(o.metadata.clone());
    v
}

const FIELDS: &[&str] = &["name", "display_name", "branding", "metadata"];

/// Auth0's `branding`: `logo_url` (an https URL) and `colors.primary` / `colors.page_background`
/// (hex colours); nothing else.
fn branding_of(b: &Body<'_>) -> Result<Option<Option<Value>>, ApiError> {
    match b.raw("branding") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Object(m)) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("logo_url", Value::String(u))
                        if u.starts_with("https://") && u.len() <= 2048 => {}
                    ("colors", Value::Object(c)) => {
                        for (ck, cv) in c {
                            let hex = cv.as_str().is_some_and(|s| {
                                (s.len() == 7 || s.len() == 4)
                                    && s.starts_with('#')
                                    && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
                            });
                            if !matches!(ck.as_str(), "primary" | "page_background") || !hex {
                                return Err(bad(format!(
                                    "branding.colors.{ck} must be primary or page_background, as a hex colour"
                                )));
                            }
                        }
                    }
                    _ => {
                        return Err(bad(format!(
                            "branding.{k} is not allowed (logo_url as an https URL, colors)"
                        )))
                    }
                }
            }
            Ok(Some(Some(Value::Object(m.clone()))))
        }
        Some(_) => Err(bad("branding must be an object")),
    }
}

fn metadata_of(b: &Body<'_>) -> Result<Option<Map<String, Value>>, ApiError> {
    match b.raw("metadata") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(Map::new())),
        Some(Value::Object(m)) => {
            valid_metadata(m).map_err(bad)?;
            Ok(Some(m.clone()))
        }
        Some(_) => Err(bad("metadata must be an object")),
    }
}

fn display_name_of(b: &Body<'_>) -> Result<Option<Option<String>>, ApiError> {
    let d = b.nullable_str("display_name", 255)?;
    if let Some(Some(name)) = &d {
        if name.is_empty() {
            return Err(bad("display_name must not be empty"));
        }
    }
    Ok(d)
}

impl Manager<'_> {
    async fn find_organization(&self, id: &str) -> Result<Organization, ApiError> {
        self.provider
            .store
            .get_organization(id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => not_found(),
                other => other.into(),
            })
    }

    pub async fn create_organization(&self, body: &Value) -> Result<Value, ApiError> {
        let b = Body::new(body, FIELDS)?;
        let name = b.required_str("name", 50)?;
        if !valid_name(&name) {
            return Err(bad("name must be 1 to 50 lower-case letters, digits, '-' or '_', starting with a letter or digit"));
        }
        let now = self.provider.now_ms();
        let org = Organization {
            id: format!(
                "{}{}",
                custos_domain::organization::ORGANIZATION_ID_PREFIX,
                custos_crypto::random::alphanumeric(16)?
            ),
            name,
            display_name: display_name_of(&b)?.flatten(),
            branding: branding_of(&b)?.flatten(),
            metadata: metadata_of(&b)?.unwrap_or_default(),
            created_at: now,
            updated_at: now,
        };
        let after = organization_json(&org);
        let mut tx = self.provider.store.begin().await?;
        match tx.insert_organization(&org).await {
            Err(StoreError::Conflict(_)) => return Err(conflict()),
            other => other?,
        }
        let mut ev = self.success_event(
            "create:organizations",
            json!({"before": null, "after": after}),
        );
        ev.organization_id = Some(org.id.clone());
        tx.audit(&ev).await?;
        tx.commit().await?;
        Ok(after)
    }

    pub async fn list_organizations(&self, paging: Paging) -> Result<Value, ApiError> {
        let page = self
            .provider
            .store
            .list_organizations(paging.page, paging.per_page)
            .await?;
        Ok(paging.wrap(
            "organizations",
            page.items.iter().map(organization_json).collect(),
            page.total,
        ))
    }

    pub async fn get_organization(&self, id: &str) -> Result<Value, ApiError> {
        Ok(organization_json(&self.find_organization(id).await?))
    }

    pub async fn get_organization_by_name(&self, name: &str) -> Result<Value, ApiError> {
        match self.provider.store.get_organization_by_name(name).await {
            Ok(o) => Ok(organization_json(&o)),
            Err(StoreError::NotFound) => Err(not_found()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn update_organization(&self, id: &str, body: &Value) -> Result<Value, ApiError> {
        let b = Body::new(body, FIELDS)?;
        let mut org = self.find_organization(id).await?;
        let before = organization_json(&org);
        if let Some(name) = b.str("name", 50)? {
            if !valid_name(&name) {
                return Err(bad("name must be 1 to 50 lower-case letters, digits, '-' or '_', starting with a letter or digit"));
            }
            org.name = name;
        }
        if let Some(d) = display_name_of(&b)? {
            org.display_name = d;
        }
        if let Some(br) = branding_of(&b)? {
            org.branding = br;
        }
        if let Some(m) = metadata_of(&b)? {
            org.metadata = m;
        }
        org.updated_at = self.provider.now_ms();
        let after = organization_json(&org);
        let mut tx = self.provider.store.begin().await?;
        match tx.update_organization(&org).await {
            Err(StoreError::Conflict(_)) => return Err(conflict()),
            Err(StoreError::NotFound) => return Err(not_found()),
            other => other?,
        }
        let mut ev = self.success_event(
            "update:organizations",
            json!({"id": id, "before": before, "after": after}),
        );
        ev.organization_id = Some(id.to_owned());
        tx.audit(&ev).await?;
        tx.commit().await?;
        Ok(after)
    }

    pub async fn delete_organization(&self, id: &str) -> Result<(), ApiError> {
        let org = self.find_organization(id).await?;
        let mut tx = self.provider.store.begin().await?;
        match tx.delete_organization(id).await {
            Err(StoreError::NotFound) => return Err(not_found()),
            other => other?,
        }
        let mut ev = self.success_event(
            "delete:organizations",
            json!({"id": id, "before": organization_json(&org), "after": null}),
        );
        ev.organization_id = Some(id.to_owned());
        tx.audit(&ev).await?;
        let mut rbac = self.rbac_event(
            "Organization deleted with its memberships",
            json!({"organization_id": id}),
        );
        rbac.organization_id = Some(id.to_owned());
        tx.audit(&rbac).await?;
        tx.commit().await?;
        Ok(())
    }

    /// `GET /api/v2/organizations/{id}/members`.
    pub async fn get_members(&self, id: &str, paging: Paging) -> Result<Value, ApiError> {
        self.find_organization(id).await?;
        let page = self
            .provider
            .store
            .organization_members(id, paging.page, paging.per_page)
            .await?;
        Ok(paging.wrap("members", members_json(page.items), page.total))
    }

    /// `POST /api/v2/organizations/{id}/members` with `{members: [user ids]}`.
    pub async fn add_members(&self, id: &str, body: &Value) -> Result<(), ApiError> {
        self.find_organization(id).await?;
        let members = user_id_list(body, "members")?;
        for u in &members {
            self.known_user(u).await?;
        }
        let mut tx = self.provider.store.begin().await?;
        tx.add_members(id, &members, self.provider.now_ms()).await?;
        let mut ev = self.success_event(
            "create:organization_members",
            json!({"id": id, "members_added": members}),
        );
        ev.organization_id = Some(id.to_owned());
        tx.audit(&ev).await?;
        let mut rbac = self.rbac_event(
            "Members added to an organization",
            json!({"organization_id": id, "added": members}),
        );
        rbac.organization_id = Some(id.to_owned());
        tx.audit(&rbac).await?;
        tx.commit().await?;
        Ok(())
    }

    /// `DELETE /api/v2/organizations/{id}/members` with `{members: [user ids]}`: also takes the
    /// roles they held in the organization.
    pub async fn remove_members(&self, id: &str, body: &Value) -> Result<(), ApiError> {
        self.find_organization(id).await?;
        let members = user_id_list(body, "members")?;
        let mut tx = self.provider.store.begin().await?;
        tx.remove_members(id, &members).await?;
        let mut ev = self.success_event(
            "delete:organization_members",
            json!({"id": id, "members_removed": members}),
        );
        ev.organization_id = Some(id.to_owned());
        tx.audit(&ev).await?;
        let mut rbac = self.rbac_event(
            "Members removed from an organization",
            json!({"organization_id": id, "removed": members}),
        );
        rbac.organization_id = Some(id.to_owned());
        tx.audit(&rbac).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn known_member(&self, id: &str, user_id: &str) -> Result<(), ApiError> {
        self.find_organization(id).await?;
        if !self.provider.store.is_member(id, user_id).await? {
            return Err(ApiError::not_found(
                "The user is not a member of the organization.",
                "inexistent_member",
            ));
        }
        Ok(())
    }

    /// `GET /api/v2/organizations/{id}/members/{user_id}/roles`.
    pub async fn get_member_roles(
        &self,
        id: &str,
        user_id: &str,
        paging: Paging,
    ) -> Result<Value, ApiError> {
        self.known_member(id, user_id).await?;
        let roles = self.provider.store.member_roles(id, user_id).await?;
        let total = roles.len() as i64;
        let items = roles
            .iter()
            .skip((paging.page * paging.per_page) as usize)
            .take(paging.per_page as usize)
            .map(role_json)
            .collect();
        Ok(paging.wrap("roles", items, total))
    }

    /// `POST /api/v2/organizations/{id}/members/{user_id}/roles` with `{roles: [role ids]}`.
    pub async fn assign_member_roles(
        &self,
        id: &str,
        user_id: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        self.known_member(id, user_id).await?;
        let roles = user_id_list(body, "roles")?;
        for r in &roles {
            self.find_role(r).await?;
        }
        let mut tx = self.provider.store.begin().await?;
        tx.assign_member_roles(id, user_id, &roles, self.provider.now_ms())
            .await?;
        self.member_roles_audit(&mut tx, id, user_id, "assigned", &roles)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// `DELETE /api/v2/organizations/{id}/members/{user_id}/roles` with `{roles: [role ids]}`.
    pub async fn unassign_member_roles(
        &self,
        id: &str,
        user_id: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        self.known_member(id, user_id).await?;
        let roles = user_id_list(body, "roles")?;
        let mut tx = self.provider.store.begin().await?;
        tx.unassign_member_roles(id, user_id, &roles).await?;
        self.member_roles_audit(&mut tx, id, user_id, "removed", &roles)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn member_roles_audit(
        &self,
        tx: &mut custos_store::Tx,
        id: &str,
        user_id: &str,
        what: &str,
        roles: &[String],
    ) -> Result<(), ApiError> {
        let (scope, description) = if what == "assigned" {
            (
                "create:organization_member_roles",
                "Roles assigned to an organization member",
            )
        } else {
            (
                "delete:organization_member_roles",
                "Roles removed from an organization member",
            )
        };
        let mut ev = self.success_event(
            scope,
            json!({"id": id, "user_id": user_id, format!("roles_{what}"): roles}),
        );
        ev.organization_id = Some(id.to_owned());
        ev.user_id = Some(user_id.to_owned());
        tx.audit(&ev).await?;
        let mut rbac = self.rbac_event(
            description,
            json!({"organization_id": id, "user_id": user_id, what: roles}),
        );
        rbac.organization_id = Some(id.to_owned());
        rbac.user_id = Some(user_id.to_owned());
        tx.audit(&rbac).await?;
        Ok(())
    }

    /// `GET /api/v2/users/{id}/organizations`.
    pub async fn get_user_organizations(
        &self,
        id: &str,
        paging: Paging,
    ) -> Result<Value, ApiError> {
        self.known_user(id).await?;
        let page = self
            .provider
            .store
            .user_organizations(id, paging.page, paging.per_page)
            .await?;
        Ok(paging.wrap(
            "organizations",
            page.items.iter().map(organization_json).collect(),
            page.total,
        ))
    }
}
