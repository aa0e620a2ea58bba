//! The rules and actions interface: what customers' code receives (trigger inputs), what it
//! may decide (continue, deny, claims, metadata), the limits it runs under, and the two
//! pipelines that run it — the login pipeline (`post-login`, and Rules) and the access-check
//! pipeline (the decision API).
//!
//! This crate never links a JavaScript engine: an [`Engine`] is handed in by the binary (the
//! `custos-rules-js` sandbox). It never writes to the store either: a pipeline returns its
//! decision, the claims, the metadata changes and one audit record per execution, and the
//! caller writes them in the transaction of the login or the decision they belong to.
//!
//! Fail closed: an execution that errs, times out, or returns something unusable denies.
//!
//! Scripts reach the network only through a [`Network`] the binary hands to the engine, and
//! only for HTTPS hosts the script itself declares; [`HttpsNetwork`] is the one the server
//! uses.

mod network;
mod pipeline;

use std::time::Duration;

pub use custos_domain::extensibility::TRIGGERS;
use serde_json::{Map, Value};

pub use network::{HttpsNetwork, MAX_REQUEST_BODY, MAX_RESPONSE_BODY};
pub use pipeline::{
    action_secret_context, claim_allowed, rules_config_context, user_profile, CheckInput, Evidence,
    Extensions, LoginInput, PipelineResult, Verdict,
};

/// A script rejected at save time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    /// The engine's message, with the position when it has one.
    pub message: String,
    pub line: Option<u32>,
    pub column: Option<u32>,
}

/// How a legacy Rule ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleEnd {
    /// `callback(null, user, context)`.
    Continue {
        user: Value,
        context: Value,
    },
    /// `callback(error)`; `unauthorized` for an `UnauthorizedError`.
    Denied {
        message: String,
        unauthorized: bool,
    },
    Failed {
        error: String,
    },
    TimedOut,
}

/// What an Action asked for, applied only if every script of the pipeline continues.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    pub id_token_claims: Map<String, Value>,
    pub access_token_claims: Map<String, Value>,
    /// `api.user.setAppMetadata(k, v)`; `null` removes the key.
    pub app_metadata: Map<String, Value>,
    pub user_metadata: Map<String, Value>,
    /// `api.multifactor.enable(provider, options)`, recorded for the MFA work.
    pub multifactor: Option<Value>,
    /// `api.cache.set`: key → `{"value", "ttl_ms"}`.
    pub cache_set: Map<String, Value>,
    pub cache_delete: Vec<String>,
}

/// How an Action ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionEnd {
    Continue(Effects),
    Denied {
        reason: String,
        code: Option<String>,
        user_message: Option<String>,
    },
    Failed {
        error: String,
    },
    TimedOut,
}

/// One execution's evidence besides its end.
#[derive(Debug, Clone, PartialEq)]
pub struct Run<E> {
    pub end: E,
    /// `console.log` output, size-capped by the engine.
    pub logs: String,
    pub duration: Duration,
}

/// A request a script makes with `fetch`.
///
/// `Debug` shows header names and the body's size, never header values or the body: they may
/// carry credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Upper-case, as the script wrote it (`GET`, `POST`, …).
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// The response to an [`HttpRequest`]: the status, the headers (names lower-case) and the
/// body as text (invalid UTF-8 replaced). `Debug` leaves out header values and the body.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Header names only, for `Debug`.
struct Names<'a>(&'a [(String, String)]);

impl std::fmt::Debug for Names<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| name))
            .finish()
    }
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &Names(&self.headers))
            .field("body_bytes", &self.body.as_ref().map(String::len))
            .finish()
    }
}

impl std::fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &Names(&self.headers))
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// The network as scripts see it, engine-free. The engine checks a request against the
/// script's declared hosts and its own limits first; an implementation applies its own policy
/// on top (scheme, sizes, redirects).
pub trait Network: Send + Sync + 'static {
    /// Sends `request` and reads the whole response, within `timeout` for the whole exchange.
    /// Blocking: it is called from the script's (blocking) thread, never from an async
    /// worker. The error is a sentence for the script's rejection and the audit record; it
    /// never contains a header value or a body.
    fn fetch(&self, request: &HttpRequest, timeout: Duration) -> Result<HttpResponse, String>;
}

impl<E> Run<E> {
    /// A run that never started (the engine could not be set up): its end, no logs, no time.
    pub fn not_started(end: E) -> Self {
        Self {
            end,
            logs: String::new(),
            duration: Duration::ZERO,
        }
    }
}

/// A script engine. Its `run_*` methods block (they run the script to its end or its time
/// limit) and are only ever called on blocking threads, never on the async runtime's workers.
pub trait Engine: Send + Sync + 'static {
    /// The engine's name and version, for audit records.
    fn name(&self) -> &'static str;
    /// The time limit of one execution.
    fn time_limit(&self) -> Duration;
    /// Whether a Rule compiles (`function (user, context, callback) { … }`).
    fn check_rule(&self, script: &str) -> Result<(), SyntaxError>;
    /// Whether an Action module compiles.
    fn check_action(&self, code: &str) -> Result<(), SyntaxError>;
    fn run_rule(
        &self,
        script: &str,
        user: &Value,
        context: &Value,
        configuration: &Value,
    ) -> Run<RuleEnd>;
    fn run_action(
        &self,
        code: &str,
        trigger: &str,
        event: &Value,
        cache: &Map<String, Value>,
    ) -> Run<ActionEnd>;
    /// Gets this thread ready for its next execution (called after a result has been handed
    /// on, so the work is off the next request's path). Optional.
    fn prepare(&self) {}
}

/// The engine of a server built without one: nothing saves, and nothing that exists runs
/// (every execution fails, so every pipeline with scripts denies).
#[derive(Debug, Default)]
pub struct NoEngine;

impl NoEngine {
    const MESSAGE: &'static str = "this server has no script engine";
}

impl Engine for NoEngine {
    fn name(&self) -> &'static str {
        "none"
    }
    fn time_limit(&self) -> Duration {
        Duration::ZERO
    }
    fn check_rule(&self, _: &str) -> Result<(), SyntaxError> {
        Err(SyntaxError {
            message: Self::MESSAGE.into(),
            line: None,
            column: None,
        })
    }
    fn check_action(&self, code: &str) -> Result<(), SyntaxError> {
        self.check_rule(code)
    }
    fn run_rule(&self, _: &str, _: &Value, _: &Value, _: &Value) -> Run<RuleEnd> {
        Run::not_started(RuleEnd::Failed {
            error: Self::MESSAGE.into(),
        })
    }
    fn run_action(&self, _: &str, _: &str, _: &Value, _: &Map<String, Value>) -> Run<ActionEnd> {
        Run::not_started(ActionEnd::Failed {
            error: Self::MESSAGE.into(),
        })
    }
}
