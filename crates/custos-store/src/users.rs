//! Users of the database connection.

use custos_domain::user::User;
use sqlx::any::AnyRow;

use crate::{
    get_bool, get_i64, get_json, get_opt_i64, get_opt_str, get_str, Page, Result, Store,
    StoreError, Tx,
};

fn user(row: &AnyRow) -> Result<User> {
    Ok(User {
        user_id: get_str(row, "user_id")?,
        email: get_str(row, "email")?,
        email_verified: get_bool(row, "email_verified")?,
        name: get_opt_str(row, "name")?,
        nickname: get_opt_str(row, "nickname")?,
        given_name: get_opt_str(row, "given_name")?,
        family_name: get_opt_str(row, "family_name")?,
        picture: get_opt_str(row, "picture")?,
        password_hash: get_opt_str(row, "password_hash")?,
        app_metadata: get_json(row, "app_metadata")?,
        user_metadata: get_json(row, "user_metadata")?,
        blocked: get_bool(row, "blocked")?,
        logins_count: get_i64(row, "logins_count")?,
        last_login: get_opt_i64(row, "last_login")?,
        last_ip: get_opt_str(row, "last_ip")?,
        created_at: get_i64(row, "created_at")?,
        updated_at: get_i64(row, "updated_at")?,
    })
}

/// The fields a profile update may change; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct UserPatch {
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<Option<String>>,
    pub nickname: Option<Option<String>>,
    pub given_name: Option<Option<String>>,
    pub family_name: Option<Option<String>>,
    pub picture: Option<Option<String>>,
    pub password_hash: Option<String>,
    pub app_metadata: Option<serde_json::Value>,
    pub user_metadata: Option<serde_json::Value>,
    pub blocked: Option<bool>,
}

impl UserPatch {
    pub fn apply(self, u: &mut User) {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = self.$f { u.$f = v; } )* };
        }
        set!(
            email,
            email_verified,
            name,
            nickname,
            given_name,
            family_name,
            picture,
            app_metadata,
            user_metadata,
            blocked
        );
        if let Some(h) = self.password_hash {
            u.password_hash = Some(h);
        }
    }
}

impl Store {
    pub async fn get_user(&self, user_id: &str) -> Result<User> {
        let row = sqlx::query("SELECT * FROM users WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        user(&row)
    }

    pub async fn find_user_by_email(&self, email: &str) -> Result<User> {
        let row = sqlx::query("SELECT * FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        user(&row)
    }

    pub async fn list_users(&self, page: i64, per_page: i64) -> Result<Page<User>> {
        self.search_users(None, None, page, per_page).await
    }

    /// Users matching a translated search (`$n` placeholders from 1), ordered by `sort`
    /// (`(column from USER_FIELDS, descending)`; default: creation order).
    pub async fn search_users(
        &self,
        search: Option<&(String, Vec<crate::search::Bind>)>,
        sort: Option<(&str, bool)>,
        page: i64,
        per_page: i64,
    ) -> Result<Page<User>> {
        let (where_clause, binds) = match search {
            Some((sql, binds)) => (format!("WHERE {sql}"), binds.clone()),
            None => (String::new(), Vec::new()),
        };
        let order = match sort {
            Some((col, desc)) if crate::search::USER_FIELDS.iter().any(|f| f.column == col) => {
                format!("{col} {}, user_id", if desc { "DESC" } else { "ASC" })
            }
            _ => "created_at, user_id".to_owned(),
        };
        let sql = format!(
            "SELECT * FROM users {where_clause} ORDER BY {order} LIMIT {} OFFSET {}",
            per_page.clamp(0, 100),
            page.max(0) * per_page.clamp(0, 100)
        );
        let rows = crate::audit::bind_all(sqlx::query(&sql), &binds)
            .fetch_all(&self.read)
            .await?;
        let count_sql = format!("SELECT COUNT(*) FROM users {where_clause}");
        let row = crate::audit::bind_all(sqlx::query(&count_sql), &binds)
            .fetch_one(&self.read)
            .await?;
        Ok(Page {
            items: rows.iter().map(user).collect::<Result<_>>()?,
            total: sqlx::Row::try_get::<i64, _>(&row, 0)?,
        })
    }
}

impl Tx {
    pub async fn insert_user(&mut self, u: &User) -> Result<()> {
        self.touched_users = true;
        sqlx::query("INSERT INTO users (user_id, email, email_verified, name, nickname, given_name, family_name, picture, password_hash, app_metadata, user_metadata, blocked, logins_count, last_login, last_ip, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)")
            .bind(&u.user_id)
            .bind(&u.email)
            .bind(i64::from(u.email_verified))
            .bind(&u.name)
            .bind(&u.nickname)
            .bind(&u.given_name)
            .bind(&u.family_name)
            .bind(&u.picture)
            .bind(&u.password_hash)
            .bind(u.app_metadata.to_string())
            .bind(u.user_metadata.to_string())
            .bind(i64::from(u.blocked))
            .bind(u.logins_count)
            .bind(u.last_login)
            .bind(&u.last_ip)
            .bind(u.created_at)
            .bind(u.updated_at)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Sets a user's `app_metadata` and `user_metadata` (what Actions changed after a login).
    pub async fn set_user_metadata(
        &mut self,
        user_id: &str,
        app_metadata: &serde_json::Value,
        user_metadata: &serde_json::Value,
        at: i64,
    ) -> Result<()> {
        self.touched_users = true;
        let r = sqlx::query(
            "UPDATE users SET app_metadata = $2, user_metadata = $3, updated_at = $4 WHERE user_id = $1",
        )
        .bind(user_id)
        .bind(app_metadata.to_string())
        .bind(user_metadata.to_string())
        .bind(at)
        .execute(self.conn())
        .await?;
        crate::expect_one(r)
    }

    /// Writes every mutable field of `u`.
    pub async fn update_user(&mut self, u: &User) -> Result<()> {
        self.touched_users = true;
        let r = sqlx::query("UPDATE users SET email=$2, email_verified=$3, name=$4, nickname=$5, given_name=$6, family_name=$7, picture=$8, password_hash=$9, app_metadata=$10, user_metadata=$11, blocked=$12, logins_count=$13, last_login=$14, last_ip=$15, updated_at=$16 WHERE user_id=$1")
            .bind(&u.user_id)
            .bind(&u.email)
            .bind(i64::from(u.email_verified))
            .bind(&u.name)
            .bind(&u.nickname)
            .bind(&u.given_name)
            .bind(&u.family_name)
            .bind(&u.picture)
            .bind(&u.password_hash)
            .bind(u.app_metadata.to_string())
            .bind(u.user_metadata.to_string())
            .bind(i64::from(u.blocked))
            .bind(u.logins_count)
            .bind(u.last_login)
            .bind(&u.last_ip)
            .bind(u.updated_at)
            .execute(self.conn())
            .await?;
        crate::expect_one(r)
    }

    pub async fn record_login(&mut self, user_id: &str, at: i64, ip: &str) -> Result<()> {
        let r = sqlx::query("UPDATE users SET logins_count = logins_count + 1, last_login = $2, last_ip = $3 WHERE user_id = $1")
            .bind(user_id)
            .bind(at)
            .bind(ip)
            .execute(self.conn())
            .await?;
        crate::expect_one(r)?;
        // A successful login resets brute-force counting from that address.
        sqlx::query("DELETE FROM login_failures WHERE user_id = $1 AND ip = $2")
            .bind(user_id)
            .bind(ip)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Counts a wrong password for `user_id` from `ip`; returns true when this failure reaches
    /// `threshold` and blocks the address for the user.
    pub async fn record_login_failure(
        &mut self,
        user_id: &str,
        ip: &str,
        at: i64,
        threshold: i64,
    ) -> Result<bool> {
        sqlx::query("INSERT INTO login_failures (user_id, ip, failures, blocked_at, updated_at) VALUES ($1, $2, 1, NULL, $3) ON CONFLICT (user_id, ip) DO UPDATE SET failures = login_failures.failures + 1, updated_at = $3")
            .bind(user_id)
            .bind(ip)
            .bind(at)
            .execute(self.conn())
            .await?;
        let r = sqlx::query("UPDATE login_failures SET blocked_at = $3 WHERE user_id = $1 AND ip = $2 AND blocked_at IS NULL AND failures >= $4")
            .bind(user_id)
            .bind(ip)
            .bind(at)
            .bind(threshold)
            .execute(self.conn())
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Lifts every brute-force block of the user (password changed, or an administrator).
    pub async fn clear_login_failures(&mut self, user_id: &str) -> Result<u64> {
        let r = sqlx::query("DELETE FROM login_failures WHERE user_id = $1")
            .bind(user_id)
            .execute(self.conn())
            .await?;
        Ok(r.rows_affected())
    }

    pub async fn delete_user(&mut self, user_id: &str) -> Result<()> {
        self.touched_users = true;
        for table in [
            "user_roles",
            "user_permissions",
            "login_failures",
            "organization_member_roles",
            "organization_members",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                .bind(user_id)
                .execute(self.conn())
                .await?;
        }
        // Token families reference the user; refresh tokens cascade from them.
        let r = sqlx::query("DELETE FROM users WHERE user_id = $1")
            .bind(user_id)
            .execute(self.conn())
            .await?;
        crate::expect_one(r)
    }
}

impl Store {
    /// Whether brute-force protection blocks `user_id` from `ip`.
    pub async fn login_blocked(&self, user_id: &str, ip: &str) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT 1 FROM login_failures WHERE user_id = $1 AND ip = $2 AND blocked_at IS NOT NULL",
        )
        .bind(user_id)
        .bind(ip)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.is_some())
    }

    /// The addresses brute-force protection blocks for `user_id`.
    pub async fn login_blocks(&self, user_id: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT ip FROM login_failures WHERE user_id = $1 AND blocked_at IS NOT NULL ORDER BY ip",
        )
        .bind(user_id)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(|(ip,)| ip).collect())
    }
}
