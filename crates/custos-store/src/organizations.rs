//! Organizations, their members and the members' roles.

use custos_domain::organization::Organization;
use custos_domain::role::Role;
use sqlx::any::AnyRow;

use crate::roles::HeldPermission;
use crate::{get_i64, get_json, get_opt_str, get_str, Page, Result, Store, StoreError, Tx};

fn organization(r: &AnyRow) -> Result<Organization> {
    let metadata = match get_json(r, "metadata")? {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    let branding = match get_opt_str(r, "branding")? {
        Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
            StoreError::Corrupt(format!("organizations.branding is not JSON: {e}"))
        })?),
        None => None,
    };
    Ok(Organization {
        id: get_str(r, "id")?,
        name: get_str(r, "name")?,
        display_name: get_opt_str(r, "display_name")?,
        branding,
        metadata,
        created_at: get_i64(r, "created_at")?,
        updated_at: get_i64(r, "updated_at")?,
    })
}

/// A member as Auth0 lists them: `(user_id, email, name, picture)`.
pub type MemberRow = (String, String, Option<String>, Option<String>);

impl Tx {
    pub async fn insert_organization(&mut self, o: &Organization) -> Result<()> {
        sqlx::query("INSERT INTO organizations (id, name, display_name, branding, metadata, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&o.id)
            .bind(&o.name)
            .bind(&o.display_name)
            .bind(o.branding.as_ref().map(|b| b.to_string()))
            .bind(serde_json::Value::Object(o.metadata.clone()).to_string())
            .bind(o.created_at)
            .bind(o.updated_at)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn update_organization(&mut self, o: &Organization) -> Result<()> {
        let done = sqlx::query("UPDATE organizations SET name = $1, display_name = $2, branding = $3, metadata = $4, updated_at = $5 WHERE id = $6")
            .bind(&o.name)
            .bind(&o.display_name)
            .bind(o.branding.as_ref().map(|b| b.to_string()))
            .bind(serde_json::Value::Object(o.metadata.clone()).to_string())
            .bind(o.updated_at)
            .bind(&o.id)
            .execute(self.conn())
            .await?;
        crate::expect_one(done)
    }

    /// Deletes the organization with its memberships and member roles.
    pub async fn delete_organization(&mut self, id: &str) -> Result<()> {
        for table in ["organization_member_roles", "organization_members"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE organization_id = $1"))
                .bind(id)
                .execute(self.conn())
                .await?;
        }
        let done = sqlx::query("DELETE FROM organizations WHERE id = $1")
            .bind(id)
            .execute(self.conn())
            .await?;
        crate::expect_one(done)
    }

    /// Adds members; returns how many were new.
    pub async fn add_members(&mut self, org_id: &str, user_ids: &[String], at: i64) -> Result<u64> {
        self.each_link("INSERT INTO organization_members (organization_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (organization_id, user_id) DO NOTHING", &[org_id], user_ids, Some(at))
            .await
    }

    /// Removes members and their roles in the organization; returns how many were members.
    pub async fn remove_members(&mut self, org_id: &str, user_ids: &[String]) -> Result<u64> {
        let mut removed = 0;
        for u in user_ids {
            sqlx::query(
                "DELETE FROM organization_member_roles WHERE organization_id = $1 AND user_id = $2",
            )
            .bind(org_id)
            .bind(u)
            .execute(self.conn())
            .await?;
            let done = sqlx::query(
                "DELETE FROM organization_members WHERE organization_id = $1 AND user_id = $2",
            )
            .bind(org_id)
            .bind(u)
            .execute(self.conn())
            .await?;
            removed += done.rows_affected();
        }
        Ok(removed)
    }

    /// Gives a member roles in the organization; returns how many were new.
    pub async fn assign_member_roles(
        &mut self,
        org_id: &str,
        user_id: &str,
        role_ids: &[String],
        at: i64,
    ) -> Result<u64> {
        self.each_link("INSERT INTO organization_member_roles (organization_id, user_id, role_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (organization_id, user_id, role_id) DO NOTHING", &[org_id, user_id], role_ids, Some(at))
            .await
    }

    /// Takes roles from a member; returns how many they held.
    pub async fn unassign_member_roles(
        &mut self,
        org_id: &str,
        user_id: &str,
        role_ids: &[String],
    ) -> Result<u64> {
        self.each_link("DELETE FROM organization_member_roles WHERE organization_id = $1 AND user_id = $2 AND role_id = $3", &[org_id, user_id], role_ids, None)
            .await
    }
}

impl Store {
    pub async fn get_organization(&self, id: &str) -> Result<Organization> {
        let row = sqlx::query("SELECT * FROM organizations WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        organization(&row)
    }

    pub async fn get_organization_by_name(&self, name: &str) -> Result<Organization> {
        let row = sqlx::query("SELECT * FROM organizations WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        organization(&row)
    }

    /// Organizations by name.
    pub async fn list_organizations(&self, page: i64, per_page: i64) -> Result<Page<Organization>> {
        let rows = sqlx::query("SELECT * FROM organizations ORDER BY name LIMIT $1 OFFSET $2")
            .bind(per_page)
            .bind(page * per_page)
            .fetch_all(&self.read)
            .await?;
        let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM organizations")
            .fetch_one(&self.read)
            .await?;
        Ok(Page {
            items: rows.iter().map(organization).collect::<Result<_>>()?,
            total,
        })
    }

    /// The organizations a user belongs to, by name.
    pub async fn user_organizations(
        &self,
        user_id: &str,
        page: i64,
        per_page: i64,
    ) -> Result<Page<Organization>> {
        let rows = sqlx::query("SELECT o.* FROM organizations o JOIN organization_members m ON m.organization_id = o.id WHERE m.user_id = $1 ORDER BY o.name LIMIT $2 OFFSET $3")
            .bind(user_id)
            .bind(per_page)
            .bind(page * per_page)
            .fetch_all(&self.read)
            .await?;
        let (total,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM organization_members WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(&self.read)
                .await?;
        Ok(Page {
            items: rows.iter().map(organization).collect::<Result<_>>()?,
            total,
        })
    }

    pub async fn is_member(&self, org_id: &str, user_id: &str) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT 1 FROM organization_members WHERE organization_id = $1 AND user_id = $2",
        )
        .bind(org_id)
        .bind(user_id)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.is_some())
    }

    /// An organization's members, by user id.
    pub async fn organization_members(
        &self,
        org_id: &str,
        page: i64,
        per_page: i64,
    ) -> Result<Page<MemberRow>> {
        let rows: Vec<MemberRow> = sqlx::query_as("SELECT u.user_id, u.email, u.name, u.picture FROM users u JOIN organization_members m ON m.user_id = u.user_id WHERE m.organization_id = $1 ORDER BY u.user_id LIMIT $2 OFFSET $3")
            .bind(org_id)
            .bind(per_page)
            .bind(page * per_page)
            .fetch_all(&self.read)
            .await?;
        let (total,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM organization_members WHERE organization_id = $1")
                .bind(org_id)
                .fetch_one(&self.read)
                .await?;
        Ok(Page { items: rows, total })
    }

    /// The roles a member holds in an organization, by name.
    pub async fn member_roles(&self, org_id: &str, user_id: &str) -> Result<Vec<Role>> {
        let rows = sqlx::query("SELECT r.* FROM roles r JOIN organization_member_roles mr ON mr.role_id = r.id WHERE mr.organization_id = $1 AND mr.user_id = $2 ORDER BY r.name, r.id")
            .bind(org_id)
            .bind(user_id)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(crate::roles::role).collect()
    }

    /// The permissions a member holds through roles in the organization (in addition to those
    /// of [`Store::user_permissions`]).
    pub async fn member_permissions(
        &self,
        org_id: &str,
        user_id: &str,
    ) -> Result<Vec<HeldPermission>> {
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT rp.resource_server_identifier, rp.permission_name, r.id, r.name FROM organization_member_roles mr JOIN role_permissions rp ON rp.role_id = mr.role_id JOIN roles r ON r.id = mr.role_id WHERE mr.organization_id = $1 AND mr.user_id = $2 ORDER BY 1, 2, 3",
        )
        .bind(org_id)
        .bind(user_id)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(api, name, role_id, role_name)| HeldPermission {
                permission: custos_domain::role::Permission {
                    resource_server_identifier: api,
                    permission_name: name,
                },
                role: Some((role_id, role_name)),
            })
            .collect())
    }
}
