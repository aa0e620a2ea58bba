//! Customers' code: legacy Rules (`function (user, context, callback)`), their shared
//! configuration (`configuration.KEY`), and Actions (`exports.onExecutePostLogin = …`) with
//! their versions and the ordered bindings that attach deployed versions to a trigger.
//!
//! Secret values (rules configuration values, action secrets) are held here only sealed: the
//! store never sees them in clear, and they never leave the Management API.

use crate::Millis;

/// A legacy Rule. Enabled rules run in ascending `order` in the login and access-check
/// pipelines, before any Action.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// `rul_` followed by 16 random characters.
    pub id: String,
    /// Unique in the tenant; see [`valid_rule_name`].
    pub name: String,
    pub script: String,
    /// Unique among rules; lower runs first.
    pub order: i64,
    pub enabled: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// The prefix of rule ids.
pub const RULE_ID_PREFIX: &str = "rul_";

/// A rules configuration entry (`configuration[key]` in every rule). The value is sealed.
#[derive(Debug, Clone, PartialEq)]
pub struct RulesConfig {
    pub key: String,
    pub sealed_value: String,
    pub updated_at: Millis,
}

/// The triggers customers' code can be bound to. `access-check` is Custos's own: it runs in
/// the decision API (`/api/v2/check`).
pub const TRIGGERS: &[&str] = &[
    "post-login",
    "credentials-exchange",
    "pre-user-registration",
    "post-user-registration",
    "post-change-password",
    "access-check",
];

/// The one trigger version Custos implements, as Auth0 names it.
pub const TRIGGER_VERSION: &str = "v3";

/// A sealed Action secret (`event.secrets[name]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ActionSecret {
    pub name: String,
    pub sealed_value: String,
    pub updated_at: Millis,
}

/// An Action: its draft (the code being edited) and its secrets.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// A random UUID, as Auth0's action ids are.
    pub id: String,
    /// Unique in the tenant.
    pub name: String,
    /// Trigger ids from [`TRIGGERS`] (one, in practice).
    pub supported_triggers: Vec<String>,
    /// The draft code.
    pub code: String,
    /// Auth0's runtime label (`node18`, `node22`), kept for the shapes; Custos runs every
    /// action in its own sandbox whatever it says.
    pub runtime: String,
    /// Auth0's `dependencies` (`[{name, version}]`), kept as given; npm packages are not
    /// available in the sandbox.
    pub dependencies: serde_json::Value,
    pub secrets: Vec<ActionSecret>,
    /// The number of the deployed version, if any.
    pub deployed_version: Option<i64>,
    /// Whether the draft equals the deployed version.
    pub all_changes_deployed: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A deployed (or formerly deployed) snapshot of an Action's code. Versions are immutable.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionVersion {
    pub id: String,
    pub action_id: String,
    /// 1, 2, 3… per action.
    pub number: i64,
    pub code: String,
    pub runtime: String,
    pub supported_triggers: Vec<String>,
    pub dependencies: serde_json::Value,
    /// Whether this is the action's deployed version.
    pub deployed: bool,
    pub created_at: Millis,
}

/// An Action bound to a trigger, at a position (0 first).
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerBinding {
    pub id: String,
    pub trigger_id: String,
    pub action_id: String,
    pub display_name: String,
    pub position: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// What a trigger runs, in order: a bound action's deployed code and its secrets.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundAction {
    pub binding_id: String,
    pub action_id: String,
    pub action_name: String,
    pub version_id: String,
    pub version_number: i64,
    pub code: String,
    pub secrets: Vec<ActionSecret>,
}

/// Auth0's rule for rule and action names: 1–255 characters of letters, digits, spaces, `-`
/// and `_`, not starting or ending with a space.
pub fn valid_name(name: &str) -> bool {
    let len = name.chars().count();
    (1..=255).contains(&len)
        && !name.starts_with(' ')
        && !name.ends_with(' ')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || c == '-' || c == '_')
}

/// Auth0's rule for rules configuration keys and secret names: 1–128 characters of letters,
/// digits, `_` and `-`, starting with a letter or `_`.
pub fn valid_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphabetic() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
}

/// Largest accepted script (rule or action code), as Auth0's 100 KB.
pub const MAX_SCRIPT_BYTES: usize = 100 * 1024;

/// Largest accepted secret or configuration value.
pub const MAX_SECRET_BYTES: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["seed rule", "HIPAA-training_gate", "a"] {
            assert!(valid_name(ok), "{ok}");
        }
        let long = "a".repeat(256);
        for bad in ["", " x", "x ", "a/b", "<script>", long.as_str()] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn keys() {
        for ok in ["API_KEY", "_x", "slack-hook"] {
            assert!(valid_key(ok), "{ok}");
        }
        let long = "a".repeat(129);
        for bad in ["", "1x", "a b", "a.b", long.as_str()] {
            assert!(!valid_key(bad), "{bad}");
        }
    }
}
