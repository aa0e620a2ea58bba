//! Customers' JavaScript, run in a sandbox: the QuickJS engine (through `rquickjs`) with a
//! wall-clock limit, a memory limit, a stack limit, captured and size-capped `console.log`
//! output, and nothing of the host reachable from a script (no `require`, `process`, file
//! system, environment or network).
//!
//! [`compile_check`] rejects a script with a syntax error at save time, with its line and
//! column; [`run_rule`] runs an Auth0 legacy Rule (`function (user, context, callback)`) and
//! reports what it decided as an [`Execution`]. Every execution gets a fresh JavaScript
//! context, so one execution never sees another's globals.
//!
//! This crate never does IO besides running the engine: no SQL, no HTTP, no async runtime.
//! A failing or timed-out script never ends as [`RuleOutcome::Continue`] (fail closed).

mod compile;
mod rule;
mod sandbox;

pub use compile::{compile_check, ScriptError};
pub use rule::{run_rule, Execution, RuleOutcome};
pub use sandbox::{Limits, Sandbox, SandboxError};
