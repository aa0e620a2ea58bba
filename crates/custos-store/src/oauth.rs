//! Protocol state: sessions, login transactions, authorization codes, token families (grants)
//! and refresh tokens.

use custos_domain::oauth::{AuthCode, AuthRequest, Grant, RefreshToken};
use custos_domain::session::Session;
use sqlx::any::AnyRow;

use crate::{
    get_bool, get_i64, get_json, get_opt_i64, get_opt_str, get_str, get_strings, to_json, Result,
    Store, StoreError, Tx,
};

fn request_from_json(v: &serde_json::Value) -> Result<AuthRequest> {
    AuthRequest::from_json(v).ok_or_else(|| StoreError::Corrupt("auth request".into()))
}

fn session(row: &AnyRow) -> Result<Session> {
    Ok(Session {
        id: get_str(row, "id")?,
        user_id: get_str(row, "user_id")?,
        auth_time: get_i64(row, "auth_time")?,
        last_seen_at: get_i64(row, "last_seen_at")?,
        expires_at: get_i64(row, "expires_at")?,
        idle_expires_at: get_i64(row, "idle_expires_at")?,
        revoked: get_bool(row, "revoked")?,
        ip: get_str(row, "ip")?,
        user_agent: get_str(row, "user_agent")?,
    })
}

fn grant(row: &AnyRow) -> Result<Grant> {
    Ok(Grant {
        id: get_str(row, "id")?,
        client_id: get_str(row, "client_id")?,
        user_id: get_str(row, "user_id")?,
        session_id: get_opt_str(row, "session_id")?,
        audience: get_opt_str(row, "audience")?,
        scope: get_strings(row, "scope")?,
        auth_time: get_i64(row, "auth_time")?,
        created_at: get_i64(row, "created_at")?,
        revoked: get_bool(row, "revoked")?,
        organization_id: get_opt_str(row, "organization_id")?,
        custom_claims: opt_json(row, "custom_claims")?,
    })
}

fn opt_json(row: &AnyRow, col: &str) -> Result<Option<serde_json::Value>> {
    match get_opt_str(row, col)? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("{col}: {e}"))),
    }
}

fn refresh_token(row: &AnyRow) -> Result<RefreshToken> {
    Ok(RefreshToken {
        digest: get_str(row, "digest")?,
        grant_id: get_str(row, "grant_id")?,
        created_at: get_i64(row, "created_at")?,
        expires_at: get_opt_i64(row, "expires_at")?,
        last_used_at: get_i64(row, "last_used_at")?,
        rotated_at: get_opt_i64(row, "rotated_at")?,
        replaced_by: get_opt_str(row, "replaced_by")?,
        revoked: get_bool(row, "revoked")?,
    })
}

impl Store {
    pub async fn get_session(&self, id: &str) -> Result<Session> {
        let row = sqlx::query("SELECT * FROM sessions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        session(&row)
    }

    pub async fn get_grant(&self, id: &str) -> Result<Grant> {
        let row = sqlx::query("SELECT * FROM grants WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        grant(&row)
    }

    pub async fn get_refresh_token(&self, digest: &str) -> Result<RefreshToken> {
        let row = sqlx::query("SELECT * FROM refresh_tokens WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        refresh_token(&row)
    }
}

impl Tx {
    pub async fn insert_session(&mut self, s: &Session) -> Result<()> {
        sqlx::query("INSERT INTO sessions (id, user_id, auth_time, last_seen_at, expires_at, idle_expires_at, revoked, ip, user_agent) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)")
            .bind(&s.id)
            .bind(&s.user_id)
            .bind(s.auth_time)
            .bind(s.last_seen_at)
            .bind(s.expires_at)
            .bind(s.idle_expires_at)
            .bind(i64::from(s.revoked))
            .bind(&s.ip)
            .bind(&s.user_agent)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Extends a session's idle deadline.
    pub async fn touch_session(&mut self, id: &str, now: i64, idle_expires_at: i64) -> Result<()> {
        let r = sqlx::query("UPDATE sessions SET last_seen_at = $2, idle_expires_at = $3 WHERE id = $1 AND revoked = 0")
            .bind(id)
            .bind(now)
            .bind(idle_expires_at)
            .execute(self.conn())
            .await?;
        crate::expect_one(r)
    }

    /// Revokes a session and every token family issued under it. Returns the number of
    /// families revoked.
    pub async fn revoke_session(&mut self, id: &str) -> Result<u64> {
        sqlx::query("UPDATE sessions SET revoked = 1 WHERE id = $1")
            .bind(id)
            .execute(self.conn())
            .await?;
        let r = sqlx::query("UPDATE grants SET revoked = 1 WHERE session_id = $1 AND revoked = 0")
            .bind(id)
            .execute(self.conn())
            .await?;
        sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE grant_id IN (SELECT id FROM grants WHERE session_id = $1)")
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(r.rows_affected())
    }

    /// Revokes every session and token family of a user (blocking, password change).
    pub async fn revoke_user_access(&mut self, user_id: &str) -> Result<()> {
        sqlx::query("UPDATE sessions SET revoked = 1 WHERE user_id = $1")
            .bind(user_id)
            .execute(self.conn())
            .await?;
        sqlx::query("UPDATE grants SET revoked = 1 WHERE user_id = $1")
            .bind(user_id)
            .execute(self.conn())
            .await?;
        sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE grant_id IN (SELECT id FROM grants WHERE user_id = $1)")
            .bind(user_id)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn insert_code(&mut self, c: &AuthCode) -> Result<()> {
        sqlx::query("INSERT INTO auth_codes (code_digest, request, user_id, session_id, auth_time, expires_at, grant_id, used, custom_claims) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)")
            .bind(&c.code_digest)
            .bind(c.request.to_json().to_string())
            .bind(&c.user_id)
            .bind(&c.session_id)
            .bind(c.auth_time)
            .bind(c.expires_at)
            .bind(&c.grant_id)
            .bind(i64::from(c.used))
            .bind(c.custom_claims.as_ref().map(|v| v.to_string()))
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Reads a code inside the transaction.
    pub async fn get_code(&mut self, digest: &str) -> Result<AuthCode> {
        let row = sqlx::query("SELECT * FROM auth_codes WHERE code_digest = $1")
            .bind(digest)
            .fetch_optional(self.conn())
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(AuthCode {
            code_digest: get_str(&row, "code_digest")?,
            request: request_from_json(&get_json(&row, "request")?)?,
            user_id: get_str(&row, "user_id")?,
            session_id: get_str(&row, "session_id")?,
            auth_time: get_i64(&row, "auth_time")?,
            expires_at: get_i64(&row, "expires_at")?,
            grant_id: get_opt_str(&row, "grant_id")?,
            used: get_bool(&row, "used")?,
            custom_claims: opt_json(&row, "custom_claims")?,
        })
    }

    /// Marks a code used and links it to its grant; `false` if it was already used (replay).
    pub async fn redeem_code(&mut self, digest: &str, grant_id: &str) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE auth_codes SET used = 1, grant_id = $2 WHERE code_digest = $1 AND used = 0",
        )
        .bind(digest)
        .bind(grant_id)
        .execute(self.conn())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn insert_grant(&mut self, g: &Grant) -> Result<()> {
        sqlx::query("INSERT INTO grants (id, client_id, user_id, session_id, audience, scope, auth_time, created_at, revoked, organization_id, custom_claims) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)")
            .bind(&g.id)
            .bind(&g.client_id)
            .bind(&g.user_id)
            .bind(&g.session_id)
            .bind(&g.audience)
            .bind(to_json(&g.scope))
            .bind(g.auth_time)
            .bind(g.created_at)
            .bind(i64::from(g.revoked))
            .bind(&g.organization_id)
            .bind(g.custom_claims.as_ref().map(|v| v.to_string()))
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Revokes a token family: the grant and all its refresh tokens.
    pub async fn revoke_grant(&mut self, grant_id: &str) -> Result<()> {
        sqlx::query("UPDATE grants SET revoked = 1 WHERE id = $1")
            .bind(grant_id)
            .execute(self.conn())
            .await?;
        sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE grant_id = $1")
            .bind(grant_id)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn insert_refresh_token(&mut self, t: &RefreshToken) -> Result<()> {
        sqlx::query("INSERT INTO refresh_tokens (digest, grant_id, created_at, expires_at, last_used_at, rotated_at, revoked) VALUES ($1,$2,$3,$4,$5,$6,$7)")
            .bind(&t.digest)
            .bind(&t.grant_id)
            .bind(t.created_at)
            .bind(t.expires_at)
            .bind(t.last_used_at)
            .bind(t.rotated_at)
            .bind(i64::from(t.revoked))
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Marks a rotating refresh token as exchanged for `successor` (a digest); `false` if it
    /// already was (reuse).
    pub async fn rotate_refresh_token(
        &mut self,
        digest: &str,
        now: i64,
        successor: &str,
    ) -> Result<bool> {
        let r = sqlx::query("UPDATE refresh_tokens SET rotated_at = $2, last_used_at = $2, replaced_by = $3 WHERE digest = $1 AND rotated_at IS NULL AND revoked = 0")
            .bind(digest)
            .bind(now)
            .bind(successor)
            .execute(self.conn())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn touch_refresh_token(&mut self, digest: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE refresh_tokens SET last_used_at = $2 WHERE digest = $1")
            .bind(digest)
            .bind(now)
            .execute(self.conn())
            .await?;
        Ok(())
    }
}
