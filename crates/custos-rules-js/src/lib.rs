//! Customers' JavaScript, run in a sandbox: the QuickJS engine (through `rquickjs`) with a
//! wall-clock limit, a memory limit, a stack limit, captured and size-capped `console.log`
//! output, and nothing of the host reachable from a script (no `require` that loads anything,
//! no `process`, file system or environment). No network either, unless the script declares
//! HTTPS hosts in its own text (`// @custos-allow-https api.example.com`, see [`AllowList`])
//! and the sandbox was given a [`custos_rules::Network`]: then, and only then, it gets a
//! `fetch` limited to those hosts, [`MAX_REQUESTS`] requests and the time left.
//!
//! [`compile_check`] and [`compile_action_check`] reject a script with a syntax error at save
//! time, with its line and column. [`run_rule`] runs an Auth0 legacy Rule
//! (`function (user, context, callback)`) and reports what it decided as an [`Execution`];
//! [`run_action`] runs an Auth0 Action (a CommonJS module exporting
//! `onExecute<Trigger>(event, api)`) and reports an [`ActionExecution`] with the [`Effects`] its
//! `api` calls asked for. Every execution gets a fresh JavaScript context, so one execution
//! never sees another's globals; [`Sandbox::prepare`] makes that context ahead of time, off the
//! latency path.
//!
//! This crate never does IO besides running the engine: no SQL, no HTTP client, no async
//! runtime, no clock of its own (cache expiry is left to the host); a script's requests go to
//! the `Network` the host handed in. A failing or timed-out script never
//! ends as [`RuleOutcome::Continue`] or [`ActionOutcome::Continue`] (fail closed).

mod action;
mod compile;
mod directive;
mod engine;
mod fetch;
mod host;
mod rule;
mod sandbox;

pub use action::{
    compile_action_check, run_action, ActionExecution, ActionOutcome, Effects, ACTION_TRIGGERS,
};
pub use compile::{compile_check, ScriptError};
pub use directive::{AllowList, DirectiveError, DIRECTIVE};
pub use engine::JsEngine;
pub use fetch::MAX_REQUESTS;
pub use rule::{run_rule, Execution, RuleOutcome};
pub use sandbox::{Limits, Sandbox, SandboxError};
