//! Organizations: business customers inside one tenant (Auth0 Organizations), such as the clinics
//! of a hospital network. Users are members; members hold roles within an organization; a login
//! may be made "for" an organization, and its tokens then say so (`org_id`).

use crate::Millis;

/// An organization.
#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    /// `org_` followed by 16 random characters.
    pub id: String,
    /// Unique in the tenant; see [`valid_name`].
    pub name: String,
    pub display_name: Option<String>,
    /// Auth0's `branding` object (`logo_url`, `colors`), kept as given.
    pub branding: Option<serde_json::Value>,
    /// String values only, at most 25 keys (Auth0's rule).
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// The prefix of organization ids, which tells an id from a name in `organization=`.
pub const ORGANIZATION_ID_PREFIX: &str = "org_";

/// Auth0's rule for organization names: 1–50 characters, lower-case letters, digits, `-` and
/// `_`, starting with a letter or digit.
pub fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 50
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_')
}

/// Auth0's rule for organization metadata: at most 25 keys of at most 255 characters, each
/// with a string value of at most 255 characters.
pub fn valid_metadata(m: &serde_json::Map<String, serde_json::Value>) -> Result<(), String> {
    if m.len() > 25 {
        return Err("metadata has more than 25 keys".into());
    }
    for (k, v) in m {
        if k.is_empty() || k.chars().count() > 255 {
            return Err(format!("metadata key '{k}' must be 1 to 255 characters"));
        }
        match v.as_str() {
            Some(s) if s.chars().count() <= 255 => {}
            Some(_) => return Err(format!("metadata.{k} is longer than 255 characters")),
            None => return Err(format!("metadata.{k} must be a string")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["clinic-north", "a", "st_marys", "7th-ward"] {
            assert!(valid_name(ok), "{ok}");
        }
        let long = "a".repeat(51);
        for bad in [
            "",
            "Clinic",
            "-north",
            "_x",
            "north clinic",
            "é",
            long.as_str(),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn metadata() {
        let m = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
        assert!(valid_metadata(&m(serde_json::json!({"region": "north"}))).is_ok());
        assert!(valid_metadata(&m(serde_json::json!({"beds": 40}))).is_err());
        assert!(valid_metadata(&m(serde_json::json!({"x": "y".repeat(256)}))).is_err());
        let many: serde_json::Map<_, _> = (0..26)
            .map(|i| (format!("k{i}"), serde_json::json!("v")))
            .collect();
        assert!(valid_metadata(&many).is_err());
    }
}
