//! Roles and their permissions.

use custos_domain::role::{Permission, Role};
use sqlx::any::AnyRow;

use crate::{get_i64, get_str, Page, Result, Store, StoreError, Tx};

pub(crate) fn role(r: &AnyRow) -> Result<Role> {
    Ok(Role {
        id: get_str(r, "id")?,
        name: get_str(r, "name")?,
        description: get_str(r, "description")?,
        created_at: get_i64(r, "created_at")?,
        updated_at: get_i64(r, "updated_at")?,
    })
}

impl Tx {
    pub async fn insert_role(&mut self, r: &Role) -> Result<()> {
        sqlx::query("INSERT INTO roles (id, name, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&r.id)
            .bind(&r.name)
            .bind(&r.description)
            .bind(r.created_at)
            .bind(r.updated_at)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn update_role(&mut self, r: &Role) -> Result<()> {
        let done = sqlx::query(
            "UPDATE roles SET name = $1, description = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(&r.name)
        .bind(&r.description)
        .bind(r.updated_at)
        .bind(&r.id)
        .execute(self.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Deletes the role, its permissions and its assignments (in organizations too).
    pub async fn delete_role(&mut self, id: &str) -> Result<()> {
        for table in [
            "role_permissions",
            "user_roles",
            "organization_member_roles",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE role_id = $1"))
                .bind(id)
                .execute(self.conn())
                .await?;
        }
        let done = sqlx::query("DELETE FROM roles WHERE id = $1")
            .bind(id)
            .execute(self.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Adds permissions (those already present are left as they are); returns how many were new.
    pub async fn add_role_permissions(
        &mut self,
        role_id: &str,
        perms: &[Permission],
        at: i64,
    ) -> Result<u64> {
        self.add_permissions("role_permissions", "role_id", role_id, perms, at)
            .await
    }

    /// Removes permissions; returns how many were there.
    pub async fn remove_role_permissions(
        &mut self,
        role_id: &str,
        perms: &[Permission],
    ) -> Result<u64> {
        self.remove_permissions("role_permissions", "role_id", role_id, perms)
            .await
    }
}

impl Store {
    pub async fn get_role(&self, id: &str) -> Result<Role> {
        let r = sqlx::query("SELECT * FROM roles WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        role(&r)
    }

    /// Roles by name, optionally only those whose name contains `name_filter`
    /// (case-insensitive, as Auth0's `name_filter`).
    pub async fn list_roles(
        &self,
        name_filter: Option<&str>,
        page: i64,
        per_page: i64,
    ) -> Result<Page<Role>> {
        let pattern = format!(
            "%{}%",
            name_filter
                .unwrap_or_default()
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let filter = "WHERE LOWER(name) LIKE $1 ESCAPE '\\'";
        let rows = sqlx::query(&format!(
            "SELECT * FROM roles {filter} ORDER BY name, id LIMIT $2 OFFSET $3"
        ))
        .bind(&pattern)
        .bind(per_page)
        .bind(page * per_page)
        .fetch_all(&self.read)
        .await?;
        let (total,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM roles {filter}"))
            .bind(&pattern)
            .fetch_one(&self.read)
            .await?;
        Ok(Page {
            items: rows.iter().map(role).collect::<Result<_>>()?,
            total,
        })
    }

    /// The role's permissions, ordered by API and name.
    pub async fn role_permissions(&self, role_id: &str) -> Result<Vec<Permission>> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT resource_server_identifier, permission_name FROM role_permissions WHERE role_id = $1 ORDER BY resource_server_identifier, permission_name")
            .bind(role_id)
            .fetch_all(&self.read)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(resource_server_identifier, permission_name)| Permission {
                resource_server_identifier,
                permission_name,
            })
            .collect())
    }
}

/// A permission a user holds, and where from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldPermission {
    pub permission: Permission,
    /// `None` when granted directly; the role's `(id, name)` otherwise.
    pub role: Option<(String, String)>,
}

impl Tx {
    /// Assigns roles to a user; returns how many were new.
    pub async fn assign_roles(
        &mut self,
        user_id: &str,
        role_ids: &[String],
        at: i64,
    ) -> Result<u64> {
        self.each_link("INSERT INTO user_roles (user_id, role_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (user_id, role_id) DO NOTHING", &[user_id], role_ids, Some(at))
            .await
    }

    /// Removes roles from a user; returns how many were assigned.
    pub async fn unassign_roles(&mut self, user_id: &str, role_ids: &[String]) -> Result<u64> {
        self.each_link(
            "DELETE FROM user_roles WHERE user_id = $1 AND role_id = $2",
            &[user_id],
            role_ids,
            None,
        )
        .await
    }

    /// Grants permissions directly to a user; returns how many were new.
    pub async fn add_user_permissions(
        &mut self,
        user_id: &str,
        perms: &[Permission],
        at: i64,
    ) -> Result<u64> {
        self.add_permissions("user_permissions", "user_id", user_id, perms, at)
            .await
    }

    /// Removes direct permissions; returns how many were there.
    pub async fn remove_user_permissions(
        &mut self,
        user_id: &str,
        perms: &[Permission],
    ) -> Result<u64> {
        self.remove_permissions("user_permissions", "user_id", user_id, perms)
            .await
    }

    /// `table` is `role_permissions` or `user_permissions`, owned through `owner_col`.
    async fn add_permissions(
        &mut self,
        table: &str,
        owner_col: &str,
        owner: &str,
        perms: &[Permission],
        at: i64,
    ) -> Result<u64> {
        let sql = format!("INSERT INTO {table} ({owner_col}, resource_server_identifier, permission_name, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT ({owner_col}, resource_server_identifier, permission_name) DO NOTHING");
        let mut added = 0;
        for p in perms {
            let done = sqlx::query(&sql)
                .bind(owner)
                .bind(&p.resource_server_identifier)
                .bind(&p.permission_name)
                .bind(at)
                .execute(self.conn())
                .await?;
            added += done.rows_affected();
        }
        Ok(added)
    }

    async fn remove_permissions(
        &mut self,
        table: &str,
        owner_col: &str,
        owner: &str,
        perms: &[Permission],
    ) -> Result<u64> {
        let sql = format!("DELETE FROM {table} WHERE {owner_col} = $1 AND resource_server_identifier = $2 AND permission_name = $3");
        let mut removed = 0;
        for p in perms {
            let done = sqlx::query(&sql)
                .bind(owner)
                .bind(&p.resource_server_identifier)
                .bind(&p.permission_name)
                .execute(self.conn())
                .await?;
            removed += done.rows_affected();
        }
        Ok(removed)
    }
}

impl Store {
    /// The roles assigned to a user, by name.
    pub async fn user_roles(&self, user_id: &str) -> Result<Vec<Role>> {
        let rows = sqlx::query("SELECT r.* FROM roles r JOIN user_roles ur ON ur.role_id = r.id WHERE ur.user_id = $1 ORDER BY r.name, r.id")
            .bind(user_id)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(role).collect()
    }

    /// The users a role is assigned to.
    pub async fn role_users(
        &self,
        role_id: &str,
        page: i64,
        per_page: i64,
    ) -> Result<Page<crate::MemberRow>> {
        let rows: Vec<crate::MemberRow> = sqlx::query_as("SELECT u.user_id, u.email, u.name, u.picture FROM users u JOIN user_roles ur ON ur.user_id = u.user_id WHERE ur.role_id = $1 ORDER BY u.user_id LIMIT $2 OFFSET $3")
            .bind(role_id)
            .bind(per_page)
            .bind(page * per_page)
            .fetch_all(&self.read)
            .await?;
        let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM user_roles WHERE role_id = $1")
            .bind(role_id)
            .fetch_one(&self.read)
            .await?;
        Ok(Page { items: rows, total })
    }

    /// Every permission a user holds, directly or through roles, each with its source.
    pub async fn user_permissions(&self, user_id: &str) -> Result<Vec<HeldPermission>> {
        let rows: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT resource_server_identifier, permission_name, CAST(NULL AS TEXT) AS role_id, CAST(NULL AS TEXT) AS role_name FROM user_permissions WHERE user_id = $1 \
             UNION ALL \
             SELECT rp.resource_server_identifier, rp.permission_name, r.id, r.name FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = $1 \
             ORDER BY 1, 2, 3 NULLS FIRST",
        )
        .bind(user_id)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(api, name, role_id, role_name)| HeldPermission {
                permission: Permission {
                    resource_server_identifier: api,
                    permission_name: name,
                },
                role: role_id.zip(role_name),
            })
            .collect())
    }
}
