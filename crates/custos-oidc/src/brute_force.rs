//! Brute-force protection, as Auth0 does it: ten consecutive wrong passwords for one account
//! from one IP address block that address for that account (`limit_wc`), until a successful
//! password change or an administrator lifts the block (`DELETE /api/v2/user-blocks/{id}`).
//! A successful login resets the count for its address. Each counted failure commits with its
//! own audit record.

use custos_domain::audit::{AuditEvent, EventType};
use custos_domain::user::User;
use serde_json::json;

use crate::{Provider, ProviderError};

/// Consecutive wrong passwords from one address that block it for the account.
pub const THRESHOLD: i64 = 10;

/// What a blocked login is told (Auth0's wording).
pub const BLOCKED: &str =
    "Your account has been blocked after multiple consecutive login attempts.";

impl Provider {
    /// Whether `user` may not log in from `ip`.
    pub(crate) async fn login_blocked(&self, user: &User, ip: &str) -> Result<bool, ProviderError> {
        Ok(self.store.login_blocked(&user.user_id, ip).await?)
    }

    /// Records a wrong password for an existing `user` (`failure` is its audit record, `fp` or
    /// `fepft`) and, at the threshold, the block (`limit_wc`), in one transaction. Returns
    /// whether the address is now blocked.
    pub(crate) async fn wrong_password(
        &self,
        user: &User,
        ip: &str,
        failure: AuditEvent,
    ) -> Result<bool, ProviderError> {
        let now = self.now_ms();
        let mut tx = self.store.begin().await?;
        let blocked = tx
            .record_login_failure(&user.user_id, ip, now, THRESHOLD)
            .await?;
        tx.audit(&failure).await?;
        if blocked {
            let mut ev = failure.clone();
            ev.event_type = EventType::LimitWc;
            ev.description = format!(
                "Blocked: {THRESHOLD} consecutive failed login attempts for this account from {ip}"
            );
            ev.details = json!({"ip": ip, "failures": THRESHOLD});
            tx.audit(&ev).await?;
        }
        tx.commit().await?;
        Ok(blocked)
    }
}
