//! Login sessions (the SSO cookie) with idle and absolute lifetimes: HIPAA's automatic logoff.

use crate::Millis;

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub auth_time: Millis,
    pub last_seen_at: Millis,
    pub expires_at: Millis,
    pub idle_expires_at: Millis,
    pub revoked: bool,
    pub ip: String,
    pub user_agent: String,
}

impl Session {
    pub fn is_active(&self, now: Millis) -> bool {
        !self.revoked && now < self.expires_at && now < self.idle_expires_at
    }
}

/// Session lifetimes, from tenant settings (hours in Auth0's API, milliseconds here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub idle: Millis,
    pub absolute: Millis,
}

impl SessionPolicy {
    pub fn from_hours(idle_hours: f64, absolute_hours: f64) -> Self {
        let ms = |h: f64| (h * 3_600_000.0) as Millis;
        Self {
            idle: ms(idle_hours),
            absolute: ms(absolute_hours),
        }
    }
}
