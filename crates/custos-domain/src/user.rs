//! Users of the `Username-Password-Authentication` database connection.

use crate::Millis;

/// The one database connection this version has, named as Auth0 names its default.
pub const DB_CONNECTION: &str = "Username-Password-Authentication";
/// Prefix of database users' ids (`auth0|<id>`).
pub const USER_ID_PREFIX: &str = "auth0|";

#[derive(Debug, Clone)]
pub struct User {
    pub user_id: String,
    /// Lower-cased.
    pub email: String,
    pub email_verified: bool,
    pub name: Option<String>,
    pub nickname: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub picture: Option<String>,
    /// argon2id PHC string; `None` for users without a password.
    pub password_hash: Option<String>,
    pub app_metadata: serde_json::Value,
    pub user_metadata: serde_json::Value,
    pub blocked: bool,
    pub logins_count: i64,
    pub last_login: Option<Millis>,
    pub last_ip: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl User {
    /// The display name: `name`, else the email.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.email)
    }
}

/// Normalises and checks an email: trimmed, lower-cased, at most 254 characters, one `@` with
/// non-empty local part and a dotted domain, no whitespace or control characters.
pub fn normalize_email(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    if email.is_empty()
        || email.len() > 254
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    let (local, domain) = email.split_once('@')?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return None;
    }
    Some(email)
}

/// Password policy "good" as Auth0 names it: at least 8 characters, and at most 256 bytes so a
/// huge body cannot make hashing expensive; no further composition rules (NIST 800-63B).
pub fn password_acceptable(password: &str) -> bool {
    password.chars().count() >= 8 && password.len() <= 256
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<&str>) {
        assert_eq!(normalize_email(input).as_deref(), expected, "{input:?}");
    }

    #[test]
    fn emails() {
        check("Alice@Example.COM ", Some("alice@example.com"));
        check("a'b+c@x.org", Some("a'b+c@x.org"));
        check("ünï@bücher.de", Some("ünï@bücher.de"));
        check("no-at-sign", None);
        check("@x.org", None);
        check("a@b", None);
        check("a@@b.org", None);
        check("a b@c.org", None);
        check(&format!("{}@x.org", "a".repeat(250)), None);
    }

    #[test]
    fn passwords() {
        assert!(!password_acceptable("short"));
        assert!(password_acceptable("long enough"));
        assert!(!password_acceptable(&"x".repeat(300)));
    }
}
