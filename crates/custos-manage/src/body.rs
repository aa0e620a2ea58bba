//! Typed reading of JSON request bodies, with Auth0's validation messages.

use serde_json::{Map, Value};

use crate::ApiError;

/// A JSON object body whose properties are checked against an allow-list.
pub(crate) struct Body<'a>(&'a Map<String, Value>);

fn invalid(msg: String) -> ApiError {
    ApiError::bad_body(format!("Payload validation error: {msg}"))
}

impl<'a> Body<'a> {
    pub fn new(v: &'a Value, allowed: &[&str]) -> Result<Self, ApiError> {
        let map = v
            .as_object()
            .ok_or_else(|| invalid("'Expected type object but found another type'.".into()))?;
        if let Some(extra) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(invalid(format!(
                "'Additional properties not allowed: {extra}'."
            )));
        }
        Ok(Self(map))
    }

    pub fn str(&self, key: &str, max: usize) -> Result<Option<String>, ApiError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::String(s))
                if s.chars().count() <= max && !s.chars().any(|c| c.is_control() && c != '\n') =>
            {
                Ok(Some(s.clone()))
            }
            Some(Value::String(_)) => Err(invalid(format!(
                "'String is too long or has control characters' on property {key}."
            ))),
            Some(_) => Err(invalid(format!(
                "'Expected type string' on property {key}."
            ))),
        }
    }

    /// Source code (a rule's script, an action's code): any text up to `max_bytes` bytes of
    /// UTF-8, tabs and line breaks included, but no other control characters.
    pub fn code(&self, key: &str, max_bytes: usize) -> Result<Option<String>, ApiError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.len() > max_bytes => Err(invalid(format!(
                "'String is too long (more than {max_bytes} bytes)' on property {key}."
            ))),
            Some(Value::String(s))
                if s.chars()
                    .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) =>
            {
                Err(invalid(format!(
                    "'String has control characters' on property {key}."
                )))
            }
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(format!(
                "'Expected type string' on property {key}."
            ))),
        }
    }

    /// A string that may be `null` (clearing the field): `Some(None)`.
    pub fn nullable_str(&self, key: &str, max: usize) -> Result<Option<Option<String>>, ApiError> {
        match self.0.get(key) {
            Some(Value::Null) => Ok(Some(None)),
            _ => Ok(self.str(key, max)?.map(Some)),
        }
    }

    pub fn required_str(&self, key: &str, max: usize) -> Result<String, ApiError> {
        self.str(key, max)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid(format!("'Missing required property: {key}'.")))
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(invalid(format!(
                "'Expected type boolean' on property {key}."
            ))),
        }
    }

    pub fn int(&self, key: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .filter(|n| (min..=max).contains(n))
                .map(Some)
                .ok_or_else(|| {
                    invalid(format!(
                        "'Expected integer between {min} and {max}' on property {key}."
                    ))
                }),
        }
    }

    pub fn strings(
        &self,
        key: &str,
        max_items: usize,
        max_len: usize,
    ) -> Result<Option<Vec<String>>, ApiError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) if items.len() <= max_items => items
                .iter()
                .map(|i| match i {
                    Value::String(s) if s.len() <= max_len => Ok(s.clone()),
                    _ => Err(invalid(format!(
                        "'Expected array of strings' on property {key}."
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(invalid(format!(
                "'Expected array of at most {max_items} strings' on property {key}."
            ))),
        }
    }

    pub fn object(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, ApiError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(invalid(format!(
                "'Expected type object' on property {key}."
            ))),
        }
    }

    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.0.get(key)
    }
}

/// Auth0's metadata merge: top-level properties are replaced, `null` removes one.
pub(crate) fn merge_metadata(current: &Value, patch: &Map<String, Value>) -> Value {
    let mut out = current.as_object().cloned().unwrap_or_default();
    for (k, v) in patch {
        if v.is_null() {
            out.remove(k);
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// Metadata property names may not contain `.` or start with `$` (Auth0's rule), and the whole
/// document stays under 16 KiB.
pub(crate) fn check_metadata(key: &str, m: &Map<String, Value>) -> Result<(), ApiError> {
    if m.keys()
        .any(|k| k.contains('.') || k.starts_with('$') || k.is_empty())
    {
        return Err(invalid(format!(
            "'Property names may not contain . or start with $' on property {key}."
        )));
    }
    if Value::Object(m.clone()).to_string().len() > 16 * 1024 {
        return Err(invalid(format!(
            "'Metadata is larger than 16 KiB' on property {key}."
        )));
    }
    Ok(())
}
