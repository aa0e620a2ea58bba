//! The `api` object an Action's handler gets, per trigger, and what its calls record.
//!
//! Every method is a native function that records into a [`Recorder`] the script cannot reach.
//! Values are converted to JSON when the method is called, by the engine's own
//! `JSON.stringify`; a value with no JSON form fails the execution (and throws a `TypeError`,
//! so the handler does not go on as if the call had worked).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use rquickjs::function::Opt;
use rquickjs::{Ctx, Exception, Function, Object, Value};
use serde_json::{Map, Value as Json};

use crate::compile::describe_value;
use crate::host::{caught, to_text, Pin};
use crate::sandbox::Watch;

/// The triggers an Action runs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trigger {
    PostLogin,
    CredentialsExchange,
    PreUserRegistration,
    PostUserRegistration,
    PostChangePassword,
    AccessCheck,
}

impl Trigger {
    const ALL: [(Self, &'static str, &'static str); 6] = [
        (Self::PostLogin, "post-login", "onExecutePostLogin"),
        (
            Self::CredentialsExchange,
            "credentials-exchange",
            "onExecuteCredentialsExchange",
        ),
        (
            Self::PreUserRegistration,
            "pre-user-registration",
            "onExecutePreUserRegistration",
        ),
        (
            Self::PostUserRegistration,
            "post-user-registration",
            "onExecutePostUserRegistration",
        ),
        (
            Self::PostChangePassword,
            "post-change-password",
            "onExecutePostChangePassword",
        ),
        (Self::AccessCheck, "access-check", "onExecuteAccessCheck"),
    ];

    pub(super) fn from_id(id: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(_, known, _)| *known == id)
            .map(|(trigger, _, _)| *trigger)
    }

    fn entry(self) -> (Self, &'static str, &'static str) {
        Self::ALL
            .into_iter()
            .find(|(trigger, _, _)| *trigger == self)
            .unwrap_or((self, "", ""))
    }

    /// The trigger's id, as Auth0 names it.
    pub(super) fn id(self) -> &'static str {
        self.entry().1
    }

    /// The export the trigger calls.
    pub(super) fn handler(self) -> &'static str {
        self.entry().2
    }
}

/// What an Action asked for besides allowing or denying. The host applies it only when the
/// execution ends as `Continue`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    /// `api.idToken.setCustomClaim(name, value)`; the last call for a name counts, and
    /// `undefined` takes back an earlier call.
    pub id_token_claims: Map<String, Json>,
    /// `api.accessToken.setCustomClaim(name, value)`, as for the ID token.
    pub access_token_claims: Map<String, Json>,
    /// `api.user.setAppMetadata(name, value)`; `Null` (from `null` or `undefined`) removes the
    /// key from the user's `app_metadata`.
    pub app_metadata: Map<String, Json>,
    /// `api.user.setUserMetadata(name, value)`, as for `app_metadata`.
    pub user_metadata: Map<String, Json>,
    /// `api.multifactor.enable(provider, options)`: `{"provider": …, "options": {…}}`; the last
    /// call counts.
    pub multifactor: Option<Json>,
    /// `api.cache.set(key, value, options)`: key → `{"value": string, "ttl_ms": number|null,
    /// "expires_at": number|null}` (milliseconds; `expires_at` since the Unix epoch). The host
    /// stores the entry until the earlier of the two, or for its default time if both are
    /// null. TTLs above 24 hours are refused here; `expires_at` is the host's to cap.
    pub cache_set: Map<String, Json>,
    /// `api.cache.delete(key)`, each key once, in call order. A key set again after its
    /// deletion is only in `cache_set`.
    pub cache_delete: Vec<String>,
}

/// A call to a deny method.
#[derive(Debug)]
pub(super) struct Denial {
    pub(super) reason: String,
    pub(super) code: Option<String>,
    pub(super) user_message: Option<String>,
}

/// Auth0's limits on an Action's cache.
const CACHE_KEY_BYTES: usize = 64;
const CACHE_VALUE_BYTES: usize = 4096;
const CACHE_ENTRIES: usize = 20;
const CACHE_MAX_TTL_MS: f64 = 24.0 * 60.0 * 60.0 * 1000.0;

/// Everything the `api` recorded during one execution.
#[derive(Debug, Default)]
pub(super) struct Recorder {
    /// The first deny.
    pub(super) denial: Option<Denial>,
    /// The first value the `api` refused.
    pub(super) failure: Option<String>,
    pub(super) effects: Effects,
    /// The cache as the execution started.
    stored: Map<String, Json>,
}

impl Recorder {
    pub(super) fn new(cache: &Map<String, Json>) -> Self {
        Self {
            stored: cache.clone(),
            ..Self::default()
        }
    }

    fn deny(&mut self, denial: Denial) {
        if self.denial.is_none() {
            self.denial = Some(denial);
        }
    }

    fn fail(&mut self, error: &str) {
        if self.failure.is_none() {
            self.failure = Some(error.to_owned());
        }
    }

    /// The entry for `key` as this execution sees it: `(value, expires_at)`.
    fn cache_get(&self, key: &str) -> Option<(String, Option<f64>)> {
        if self
            .effects
            .cache_delete
            .iter()
            .any(|deleted| deleted == key)
        {
            return None;
        }
        let entry = self
            .effects
            .cache_set
            .get(key)
            .or_else(|| self.stored.get(key))?;
        let value = entry.get("value")?.as_str()?.to_owned();
        Some((value, entry.get("expires_at").and_then(Json::as_f64)))
    }

    fn cache_set(
        &mut self,
        key: &str,
        value: &str,
        ttl_ms: Option<u64>,
        expires_at: Option<u64>,
    ) -> Result<(), &'static str> {
        let mut live: BTreeSet<&str> = self
            .stored
            .keys()
            .map(String::as_str)
            .filter(|stored| !self.effects.cache_delete.iter().any(|d| d == stored))
            .collect();
        live.extend(self.effects.cache_set.keys().map(String::as_str));
        if !live.contains(key) && live.len() >= CACHE_ENTRIES {
            return Err("quota_exceeded");
        }
        self.effects.cache_delete.retain(|deleted| deleted != key);
        self.effects.cache_set.insert(
            key.to_owned(),
            serde_json::json!({ "value": value, "ttl_ms": ttl_ms, "expires_at": expires_at }),
        );
        Ok(())
    }

    fn cache_delete(&mut self, key: &str) {
        self.effects.cache_set.remove(key);
        if !self
            .effects
            .cache_delete
            .iter()
            .any(|deleted| deleted == key)
        {
            self.effects.cache_delete.push(key.to_owned());
        }
    }
}

/// Builds the `api` object for `trigger`. `api` (pinned for the execution by the caller) is
/// what the setters return, so calls chain as in Auth0.
pub(super) fn build<'js>(
    ctx: &Ctx<'js>,
    trigger: Trigger,
    recorder: &Rc<RefCell<Recorder>>,
    api: &Pin<'js>,
    watch: &Watch,
) -> rquickjs::Result<Object<'js>> {
    let kit = Kit {
        ctx,
        recorder,
        api,
        watch,
    };
    let object = Object::new(ctx.clone())?;
    let namespace = |name: &str, methods: Vec<(&str, Function<'js>)>| -> rquickjs::Result<()> {
        let namespace = Object::new(ctx.clone())?;
        for (method, function) in methods {
            namespace.set(method, function)?;
        }
        object.set(name, namespace)
    };
    match trigger {
        Trigger::PostLogin => {
            namespace("access", vec![("deny", kit.deny(DenyShape::Reason)?)])?;
            namespace(
                "idToken",
                vec![("setCustomClaim", kit.set_entry(Entry::IdClaim)?)],
            )?;
            namespace(
                "accessToken",
                vec![("setCustomClaim", kit.set_entry(Entry::AccessClaim)?)],
            )?;
            namespace(
                "user",
                vec![
                    ("setAppMetadata", kit.set_entry(Entry::AppMetadata)?),
                    ("setUserMetadata", kit.set_entry(Entry::UserMetadata)?),
                ],
            )?;
            namespace("multifactor", vec![("enable", kit.enable_multifactor()?)])?;
        }
        Trigger::CredentialsExchange => {
            namespace("access", vec![("deny", kit.deny(DenyShape::CodeReason)?)])?;
            namespace(
                "accessToken",
                vec![("setCustomClaim", kit.set_entry(Entry::AccessClaim)?)],
            )?;
        }
        Trigger::PreUserRegistration => {
            namespace(
                "access",
                vec![("deny", kit.deny(DenyShape::ReasonUserMessage)?)],
            )?;
            namespace(
                "user",
                vec![
                    ("setAppMetadata", kit.set_entry(Entry::AppMetadata)?),
                    ("setUserMetadata", kit.set_entry(Entry::UserMetadata)?),
                ],
            )?;
            namespace(
                "validation",
                vec![("error", kit.deny(DenyShape::Validation)?)],
            )?;
        }
        Trigger::AccessCheck => {
            namespace("access", vec![("deny", kit.deny(DenyShape::Reason)?)])?;
        }
        Trigger::PostUserRegistration | Trigger::PostChangePassword => {}
    }
    namespace(
        "cache",
        vec![
            ("get", kit.cache_get()?),
            ("set", kit.cache_set()?),
            ("delete", kit.cache_delete()?),
        ],
    )?;
    Ok(object)
}

/// The arguments of a deny method.
#[derive(Clone, Copy)]
enum DenyShape {
    /// `deny(reason)`: post-login, access-check.
    Reason,
    /// `deny(code, reason)`: credentials-exchange.
    CodeReason,
    /// `deny(reason, userMessage)`: pre-user-registration.
    ReasonUserMessage,
    /// `validation.error(code, message)`: pre-user-registration; the message is for the user.
    Validation,
}

/// What a setter of the `api` records into.
#[derive(Clone, Copy)]
enum Entry {
    IdClaim,
    AccessClaim,
    AppMetadata,
    UserMetadata,
}

impl Entry {
    fn method(self) -> &'static str {
        match self {
            Entry::IdClaim => "api.idToken.setCustomClaim",
            Entry::AccessClaim => "api.accessToken.setCustomClaim",
            Entry::AppMetadata => "api.user.setAppMetadata",
            Entry::UserMetadata => "api.user.setUserMetadata",
        }
    }

    fn is_claim(self) -> bool {
        matches!(self, Entry::IdClaim | Entry::AccessClaim)
    }
}

/// A value passed to the `api`, as JSON.
enum Converted {
    /// `undefined` (or no argument).
    Undefined,
    Json(Json),
    /// No JSON form; the text says why.
    Refused(String),
}

/// What every native method needs, cloned into its closure.
struct Kit<'a, 'js> {
    ctx: &'a Ctx<'js>,
    recorder: &'a Rc<RefCell<Recorder>>,
    api: &'a Pin<'js>,
    watch: &'a Watch,
}

impl<'js> Kit<'_, 'js> {
    fn parts(&self) -> (Rc<RefCell<Recorder>>, Pin<'js>, Watch) {
        (
            Rc::clone(self.recorder),
            self.api.clone(),
            self.watch.clone(),
        )
    }

    fn deny(&self, shape: DenyShape) -> rquickjs::Result<Function<'js>> {
        let (recorder, api, watch) = self.parts();
        Function::new(
            self.ctx.clone(),
            move |ctx: Ctx<'js>,
                  first: Opt<Value<'js>>,
                  second: Opt<Value<'js>>|
                  -> rquickjs::Result<Value<'js>> {
                let first = text(&ctx, first, &watch)?;
                let second = text(&ctx, second, &watch)?;
                let denial = match shape {
                    DenyShape::Reason => Denial {
                        reason: first.unwrap_or_default(),
                        code: None,
                        user_message: None,
                    },
                    DenyShape::CodeReason => Denial {
                        reason: second.unwrap_or_default(),
                        code: first,
                        user_message: None,
                    },
                    DenyShape::ReasonUserMessage => Denial {
                        reason: first.unwrap_or_default(),
                        code: None,
                        user_message: second,
                    },
                    DenyShape::Validation => Denial {
                        reason: second.clone().unwrap_or_default(),
                        code: first,
                        user_message: second,
                    },
                };
                recorder.borrow_mut().deny(denial);
                Ok(returned(&ctx, &api))
            },
        )
    }

    /// `setCustomClaim(name, value)` and `setAppMetadata` / `setUserMetadata(name, value)`:
    /// one entry of one of the recorded maps. `undefined` removes a claim; for metadata it is
    /// recorded as `null`, which removes the key when the flow's changes are written.
    fn set_entry(&self, entry: Entry) -> rquickjs::Result<Function<'js>> {
        let (recorder, api, watch) = self.parts();
        Function::new(
            self.ctx.clone(),
            move |ctx: Ctx<'js>,
                  name: Opt<Value<'js>>,
                  value: Opt<Value<'js>>|
                  -> rquickjs::Result<Value<'js>> {
                let name = text(&ctx, name, &watch)?.unwrap_or_default();
                let json = match convert(&ctx, value, &watch)? {
                    Converted::Undefined => None,
                    Converted::Json(json) => Some(json),
                    Converted::Refused(why) => {
                        let error = format!(
                            "{}('{name}', …): the value is not JSON-serialisable ({why})",
                            entry.method()
                        );
                        return Err(refuse(&ctx, &recorder, &error));
                    }
                };
                let mut recorded = recorder.borrow_mut();
                let effects = &mut recorded.effects;
                let map = match entry {
                    Entry::IdClaim => &mut effects.id_token_claims,
                    Entry::AccessClaim => &mut effects.access_token_claims,
                    Entry::AppMetadata => &mut effects.app_metadata,
                    Entry::UserMetadata => &mut effects.user_metadata,
                };
                match json {
                    Some(json) => {
                        map.insert(name, json);
                    }
                    None if entry.is_claim() => {
                        map.remove(&name);
                    }
                    None => {
                        map.insert(name, Json::Null);
                    }
                }
                Ok(returned(&ctx, &api))
            },
        )
    }

    fn enable_multifactor(&self) -> rquickjs::Result<Function<'js>> {
        let (recorder, api, watch) = self.parts();
        Function::new(
            self.ctx.clone(),
            move |ctx: Ctx<'js>,
                  provider: Opt<Value<'js>>,
                  options: Opt<Value<'js>>|
                  -> rquickjs::Result<Value<'js>> {
                let provider = text(&ctx, provider, &watch)?.unwrap_or_default();
                let options = match convert(&ctx, options, &watch)? {
                    Converted::Undefined | Converted::Json(Json::Null) => Json::Object(Map::new()),
                    Converted::Json(json) => json,
                    Converted::Refused(why) => {
                        let error = format!(
                            "api.multifactor.enable('{provider}', …): the options are not \
                             JSON-serialisable ({why})"
                        );
                        return Err(refuse(&ctx, &recorder, &error));
                    }
                };
                recorder.borrow_mut().effects.multifactor =
                    Some(serde_json::json!({ "provider": provider, "options": options }));
                Ok(returned(&ctx, &api))
            },
        )
    }

    fn cache_get(&self) -> rquickjs::Result<Function<'js>> {
        let (recorder, _, watch) = self.parts();
        Function::new(
            self.ctx.clone(),
            move |ctx: Ctx<'js>, key: Opt<Value<'js>>| -> rquickjs::Result<Value<'js>> {
                let Some(key) = text(&ctx, key, &watch)? else {
                    return Ok(Value::new_undefined(ctx));
                };
                let found = recorder.borrow().cache_get(&key);
                let Some((value, expires_at)) = found else {
                    return Ok(Value::new_undefined(ctx));
                };
                let entry = Object::new(ctx.clone())?;
                entry.set("value", value)?;
                if let Some(expires_at) = expires_at {
                    entry.set("expires_at", expires_at)?;
                }
                Ok(entry.into_value())
            },
        )
    }

    fn cache_set(&self) -> rquickjs::Result<Function<'js>> {
        let (recorder, _, watch) = self.parts();
        Function::new(
            self.ctx.clone(),
            move |ctx: Ctx<'js>,
                  key: Opt<Value<'js>>,
                  value: Opt<Value<'js>>,
                  options: Opt<Value<'js>>|
                  -> rquickjs::Result<Object<'js>> {
                let checked = (|| -> rquickjs::Result<Result<_, &'static str>> {
                    let key = key.0.as_ref().and_then(Value::as_string);
                    let value = value.0.as_ref().and_then(Value::as_string);
                    let (Some(key), Some(value)) = (key, value) else {
                        return Ok(Err("invalid_argument"));
                    };
                    let (key, value) = (key.to_string()?, value.to_string()?);
                    if key.is_empty()
                        || key.len() > CACHE_KEY_BYTES
                        || value.len() > CACHE_VALUE_BYTES
                    {
                        return Ok(Err("invalid_argument"));
                    }
                    let Some((ttl, expires_at)) = cache_options(&ctx, options.0, &watch)? else {
                        return Ok(Err("invalid_argument"));
                    };
                    Ok(Ok((key, value, ttl, expires_at)))
                })()?;
                let result = checked.and_then(|(key, value, ttl, expires_at)| {
                    recorder
                        .borrow_mut()
                        .cache_set(&key, &value, ttl, expires_at)
                });
                let answer = Object::new(ctx.clone())?;
                match result {
                    Ok(()) => answer.set("type", "success")?,
                    Err(code) => {
                        answer.set("type", "error")?;
                        answer.set("code", code)?;
                    }
                }
                Ok(answer)
            },
        )
    }

    fn cache_delete(&self) -> rquickjs::Result<Function<'js>> {
        let (recorder, _, watch) = self.parts();
        Function::new(
            self.ctx.clone(),
            move |ctx: Ctx<'js>, key: Opt<Value<'js>>| -> rquickjs::Result<Object<'js>> {
                let answer = Object::new(ctx.clone())?;
                match text(&ctx, key, &watch)? {
                    Some(key) => {
                        recorder.borrow_mut().cache_delete(&key);
                        answer.set("type", "success")?;
                    }
                    None => {
                        answer.set("type", "error")?;
                        answer.set("code", "invalid_argument")?;
                    }
                }
                Ok(answer)
            },
        )
    }
}

/// `{ ttl, expires_at }` of `api.cache.set`, in whole milliseconds; `None` if either is not a
/// positive number (or the TTL is over 24 hours).
fn cache_options<'js>(
    ctx: &Ctx<'js>,
    options: Option<Value<'js>>,
    watch: &Watch,
) -> rquickjs::Result<Option<(Option<u64>, Option<u64>)>> {
    let Some(options) = options.filter(|o| !o.is_undefined() && !o.is_null()) else {
        return Ok(Some((None, None)));
    };
    let Some(options) = options.as_object() else {
        return Ok(None);
    };
    let read = |name: &str, max: f64| -> rquickjs::Result<Option<Option<u64>>> {
        let value = match options.get::<_, Value>(name) {
            Ok(value) => value,
            Err(error) => {
                caught(ctx, error, watch)?;
                return Ok(None);
            }
        };
        if value.is_undefined() {
            return Ok(Some(None));
        }
        Ok(match value.as_number() {
            // Truncation is meant: Auth0 counts whole milliseconds.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Some(number) if number.is_finite() && number >= 1.0 && number <= max => {
                Some(Some(number as u64))
            }
            _ => None,
        })
    };
    let Some(ttl) = read("ttl", CACHE_MAX_TTL_MS)? else {
        return Ok(None);
    };
    let Some(expires_at) = read("expires_at", f64::MAX)? else {
        return Ok(None);
    };
    Ok(Some((ttl, expires_at)))
}

/// What a setter returns: `api`, so calls chain.
fn returned<'js>(ctx: &Ctx<'js>, api: &Pin<'js>) -> Value<'js> {
    api.get()
        .map(Object::into_value)
        .unwrap_or_else(|| Value::new_undefined(ctx.clone()))
}

/// An argument as text (`String(value)`), `None` if absent, `undefined`, or not convertible.
fn text<'js>(
    ctx: &Ctx<'js>,
    value: Opt<Value<'js>>,
    watch: &Watch,
) -> rquickjs::Result<Option<String>> {
    match value.0 {
        Some(value) if !value.is_undefined() => to_text(ctx, value, watch),
        _ => Ok(None),
    }
}

/// An argument as JSON, through the engine's own `JSON.stringify`.
fn convert<'js>(
    ctx: &Ctx<'js>,
    value: Opt<Value<'js>>,
    watch: &Watch,
) -> rquickjs::Result<Converted> {
    let Some(value) = value.0.filter(|v| !v.is_undefined()) else {
        return Ok(Converted::Undefined);
    };
    if value.is_function() {
        return Ok(Converted::Refused("it is a function".to_owned()));
    }
    if value.is_symbol() {
        return Ok(Converted::Refused("it is a symbol".to_owned()));
    }
    match ctx.json_stringify(value) {
        Ok(Some(text)) => Ok(match serde_json::from_str(&text.to_string()?) {
            Ok(json) => Converted::Json(json),
            Err(error) => Converted::Refused(error.to_string()),
        }),
        Ok(None) => Ok(Converted::Refused("it has no JSON form".to_owned())),
        Err(error) => {
            let thrown = caught(ctx, error, watch)?;
            Ok(Converted::Refused(describe_value(ctx, thrown)))
        }
    }
}

/// Records that the `api` refused a value (failing the execution) and throws a `TypeError`.
fn refuse(ctx: &Ctx<'_>, recorder: &Rc<RefCell<Recorder>>, error: &str) -> rquickjs::Error {
    recorder.borrow_mut().fail(error);
    Exception::throw_type(ctx, error)
}
