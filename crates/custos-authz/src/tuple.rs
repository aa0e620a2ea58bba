//! Relationship tuples: the string forms of objects and users, and validation of a tuple
//! against a model.
//!
//! Forms: object `type:id`; user `type:id`, `type:*` (every object of the type) or
//! `type:id#relation` (a userset). The type is everything before the first `:`; ids may
//! contain `|`, `@`, `.`, `-`, `_` and `:` but no `#` and no whitespace, and `*` alone is the
//! wildcard.

use crate::model::{valid_name, Allowed, AuthorizationModel};

/// One relationship: `user` is `relation` of `object`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct TupleKey {
    pub user: String,
    pub relation: String,
    pub object: String,
}

impl TupleKey {
    pub fn new(
        user: impl Into<String>,
        relation: impl Into<String>,
        object: impl Into<String>,
    ) -> Self {
        TupleKey {
            user: user.into(),
            relation: relation.into(),
            object: object.into(),
        }
    }
}

impl std::fmt::Display for TupleKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}@{}", self.object, self.relation, self.user)
    }
}

/// Why a tuple does not fit a model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TupleError {
    #[error("invalid object {0:?}: expected \"type:id\"")]
    InvalidObject(String),
    #[error("invalid user {0:?}: expected \"type:id\", \"type:*\" or \"type:id#relation\"")]
    InvalidUser(String),
    #[error("invalid relation name {0:?}")]
    InvalidRelation(String),
    #[error("type {0:?} is not defined in the authorization model")]
    UnknownType(String),
    #[error("relation {relation:?} is not defined on type {ty:?}")]
    UnknownRelation { ty: String, relation: String },
    #[error("{ty}#{relation} cannot be assigned directly (its definition has no [types])")]
    NotDirectlyAssignable { ty: String, relation: String },
    #[error(
        "{ty}#{relation} does not accept users of the form {user_form:?} (allowed: {allowed})"
    )]
    UserTypeNotAllowed {
        ty: String,
        relation: String,
        user_form: String,
        allowed: String,
    },
}

/// A parsed user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UserRef<'a> {
    /// `type:id`; `object` is the whole string.
    Object { ty: &'a str, object: &'a str },
    /// `type:*`; `object` is the whole string.
    Wildcard { ty: &'a str, object: &'a str },
    /// `type:id#relation`.
    Userset {
        ty: &'a str,
        object: &'a str,
        relation: &'a str,
    },
}

impl<'a> UserRef<'a> {
    pub(crate) fn ty(&self) -> &'a str {
        match *self {
            UserRef::Object { ty, .. }
            | UserRef::Wildcard { ty, .. }
            | UserRef::Userset { ty, .. } => ty,
        }
    }
    /// The object part (`type:id`, or `type:*`).
    pub(crate) fn object(&self) -> &'a str {
        match *self {
            UserRef::Object { object, .. }
            | UserRef::Wildcard { object, .. }
            | UserRef::Userset { object, .. } => object,
        }
    }
    pub(crate) fn relation(&self) -> Option<&'a str> {
        match *self {
            UserRef::Userset { relation, .. } => Some(relation),
            _ => None,
        }
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 256
        && !id
            .chars()
            .any(|c| c == '#' || c.is_whitespace() || c.is_control())
}

/// `type:id` → (type, id). The wildcard id `*` is not an object.
pub(crate) fn parse_object(s: &str) -> Option<(&str, &str)> {
    let (ty, id) = s.split_once(':')?;
    (valid_name(ty) && valid_id(id) && id != "*").then_some((ty, id))
}

pub(crate) fn parse_user(s: &str) -> Option<UserRef<'_>> {
    if let Some((object, relation)) = s.split_once('#') {
        let (ty, _) = parse_object(object)?;
        return valid_name(relation).then_some(UserRef::Userset {
            ty,
            object,
            relation,
        });
    }
    let (ty, id) = s.split_once(':')?;
    if !valid_name(ty) {
        return None;
    }
    if id == "*" {
        return Some(UserRef::Wildcard { ty, object: s });
    }
    valid_id(id).then_some(UserRef::Object { ty, object: s })
}

/// Checks that `t` may be written under `model`: the object's type exists, the relation is
/// defined on it and directly assignable, and the user's form is one of the relation's
/// `directly_related_user_types` (plain type, wildcard or userset).
pub fn validate_tuple(model: &AuthorizationModel, t: &TupleKey) -> Result<(), TupleError> {
    let (oty, _) =
        parse_object(&t.object).ok_or_else(|| TupleError::InvalidObject(t.object.clone()))?;
    if !valid_name(&t.relation) {
        return Err(TupleError::InvalidRelation(t.relation.clone()));
    }
    let user = parse_user(&t.user).ok_or_else(|| TupleError::InvalidUser(t.user.clone()))?;
    let ti = model
        .type_idx(oty)
        .ok_or_else(|| TupleError::UnknownType(oty.into()))?;
    let ri = model
        .rel_idx_by_str(ti, &t.relation)
        .ok_or_else(|| TupleError::UnknownRelation {
            ty: oty.into(),
            relation: t.relation.clone(),
        })?;
    let Some(rd) = model.rel(ti, ri) else {
        return Err(TupleError::UnknownRelation {
            ty: oty.into(),
            relation: t.relation.clone(),
        });
    };
    if rd.allowed.is_empty() {
        return Err(TupleError::NotDirectlyAssignable {
            ty: oty.into(),
            relation: t.relation.clone(),
        });
    }
    let uty = model
        .type_idx(user.ty())
        .ok_or_else(|| TupleError::UnknownType(user.ty().into()))?;
    let ok = match user {
        UserRef::Object { .. } => rd.allowed.contains(&Allowed::Type(uty)),
        UserRef::Wildcard { .. } => rd.allowed.contains(&Allowed::Wildcard(uty)),
        UserRef::Userset { relation, .. } => {
            let n = model
                .name_idx(relation)
                .filter(|&n| model.rel_idx(uty, n).is_some())
                .ok_or_else(|| TupleError::UnknownRelation {
                    ty: user.ty().into(),
                    relation: relation.into(),
                })?;
            rd.allowed.contains(&Allowed::Userset(uty, n))
        }
    };
    if ok {
        return Ok(());
    }
    let user_form = match user {
        UserRef::Object { ty, .. } => ty.to_string(),
        UserRef::Wildcard { ty, .. } => format!("{ty}:*"),
        UserRef::Userset { ty, relation, .. } => format!("{ty}#{relation}"),
    };
    Err(TupleError::UserTypeNotAllowed {
        ty: oty.into(),
        relation: t.relation.clone(),
        user_form,
        allowed: describe_allowed(model, &rd.allowed),
    })
}

fn describe_allowed(model: &AuthorizationModel, allowed: &[Allowed]) -> String {
    let parts: Vec<String> = allowed
        .iter()
        .map(|a| match *a {
            Allowed::Type(t) => model.type_name(t).to_string(),
            Allowed::Wildcard(t) => format!("{}:*", model.type_name(t)),
            Allowed::Userset(t, n) => {
                format!(
                    "{}#{}",
                    model.type_name(t),
                    model.names.get(n as usize).map_or("", |s| s)
                )
            }
        })
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model() -> AuthorizationModel {
        let v = json!({
          "schema_version": "1.1",
          "type_definitions": [
            {"type": "user"},
            {"type": "group", "relations": {"member": {"this": {}}},
             "metadata": {"relations": {"member": {"directly_related_user_types": [
                {"type": "user"}, {"type": "user", "wildcard": {}}, {"type": "group", "relation": "member"}]}}}},
            {"type": "doc", "relations": {"owner": {"this": {}}, "viewer": {"computedUserset": {"relation": "owner"}}},
             "metadata": {"relations": {"owner": {"directly_related_user_types": [{"type": "user"}]}}}}
          ]
        });
        match AuthorizationModel::from_json(&v) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn parses_forms() {
        assert_eq!(
            parse_object("user:auth0|a.b-c_d@x"),
            Some(("user", "auth0|a.b-c_d@x"))
        );
        assert_eq!(parse_object("doc:a:b"), Some(("doc", "a:b")));
        assert_eq!(parse_object("doc:*"), None);
        assert_eq!(parse_object("doc:"), None);
        assert_eq!(parse_object(":x"), None);
        assert_eq!(parse_object("doc:a#b"), None);
        assert_eq!(parse_object("doc:a b"), None);
        assert_eq!(
            parse_user("user:*"),
            Some(UserRef::Wildcard {
                ty: "user",
                object: "user:*"
            })
        );
        assert_eq!(
            parse_user("group:3#member"),
            Some(UserRef::Userset {
                ty: "group",
                object: "group:3",
                relation: "member"
            })
        );
        assert_eq!(parse_user("group:3#"), None);
        assert_eq!(parse_user("group:*#member"), None);
        assert_eq!(parse_user("nocolon"), None);
    }

    #[test]
    fn validates_tuples() {
        let m = model();
        let check = |u: &str, r: &str, o: &str| validate_tuple(&m, &TupleKey::new(u, r, o));
        assert_eq!(check("user:auth0|abc", "member", "group:1"), Ok(()));
        assert_eq!(check("user:*", "member", "group:1"), Ok(()));
        assert_eq!(check("group:2#member", "member", "group:1"), Ok(()));
        assert_eq!(check("user:a", "owner", "doc:1"), Ok(()));
        assert!(matches!(
            check("user:*", "owner", "doc:1"),
            Err(TupleError::UserTypeNotAllowed { .. })
        ));
        assert!(matches!(
            check("group:2#member", "owner", "doc:1"),
            Err(TupleError::UserTypeNotAllowed { .. })
        ));
        assert!(matches!(
            check("user:a", "viewer", "doc:1"),
            Err(TupleError::NotDirectlyAssignable { .. })
        ));
        assert!(matches!(
            check("user:a", "editor", "doc:1"),
            Err(TupleError::UnknownRelation { .. })
        ));
        assert!(
            matches!(check("user:a", "owner", "folder:1"), Err(TupleError::UnknownType(t)) if t == "folder")
        );
        assert!(
            matches!(check("robot:a", "owner", "doc:1"), Err(TupleError::UnknownType(t)) if t == "robot")
        );
        assert!(matches!(
            check("group:2#admin", "member", "group:1"),
            Err(TupleError::UnknownRelation { .. })
        ));
        assert!(matches!(
            check("user:a", "owner", "doc"),
            Err(TupleError::InvalidObject(_))
        ));
        assert!(matches!(
            check("a", "owner", "doc:1"),
            Err(TupleError::InvalidUser(_))
        ));
        assert!(matches!(
            check("user:a", "own er", "doc:1"),
            Err(TupleError::InvalidRelation(_))
        ));
        let e = check("user:*", "owner", "doc:1")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            e,
            "doc#owner does not accept users of the form \"user:*\" (allowed: user)"
        );
    }
}
