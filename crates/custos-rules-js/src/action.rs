//! Auth0 Actions: a CommonJS module exporting `onExecute<Trigger>(event, api)`, run once per
//! trigger (login, client-credentials exchange, registration, password change, access check).

mod api;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rquickjs::function::This;
use rquickjs::promise::PromiseState;
use rquickjs::{Ctx, Exception, Function, Object, Promise, Value};

use crate::compile::{check, describe_error, describe_value, load_function, ScriptError, Wrapping};
use crate::directive::AllowList;
use crate::host::{install_console, LogBuffer, Pin};
use crate::sandbox::{Ended, Sandbox, Watch};

pub use api::Effects;
use api::{Recorder, Trigger};

/// The trigger ids [`run_action`] accepts, as Auth0 names them (`access-check` is Custos' own:
/// its authorization decision API runs it).
pub const ACTION_TRIGGERS: &[&str] = custos_rules::TRIGGERS;

/// What an Action decided.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionOutcome {
    /// The handler settled without calling a deny: the trigger goes on with these effects.
    Continue(Effects),
    /// The handler called `api.access.deny` (or, before registration, `api.validation.error`).
    /// The first call counts; the effects recorded by the execution are dropped.
    Denied {
        reason: String,
        /// The error code the caller asked for: `credentials-exchange`'s `deny(code, reason)`
        /// and `validation.error(code, message)`; `None` for the others.
        code: Option<String>,
        /// The text meant for the end user (`pre-user-registration`).
        user_message: Option<String>,
    },
    /// The module or its handler threw or rejected, its promise never settled, it exported no
    /// handler for the trigger, or it passed a value that is not JSON to the `api`.
    Failed { error: String },
    /// The time limit passed before the handler settled.
    TimedOut,
}

impl ActionOutcome {
    /// Whether the trigger may go on. Only `Continue` allows; everything else denies.
    pub fn allows(&self) -> bool {
        matches!(self, Self::Continue(_))
    }
}

/// One execution of an Action: the decision and the evidence for its audit record.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionExecution {
    pub outcome: ActionOutcome,
    /// `console.log` output, one line per call, capped at the sandbox's `log_bytes`.
    pub logs: String,
    pub duration: Duration,
}

/// An Action is evaluated as the body of a function, as Node.js loads a CommonJS module: its
/// top-level declarations stay its own and it may `return` early. The prefix has no newline,
/// so only the first line's columns move.
const MODULE: Wrapping = Wrapping {
    prefix: "(function (exports, require, module) {",
    suffix: "\n})",
    file: "action.js",
};

/// Checks that an Action's code parses, without running any of it.
///
/// Syntax errors carry the line and column in the code as written. Code that escapes the
/// module wrapper runs here under the default limits, in a throw-away runtime.
pub fn compile_action_check(code: &str) -> Result<(), ScriptError> {
    AllowList::parse(code).map_err(ScriptError::from)?;
    check(&MODULE, code).map_err(|error| match error {
        ScriptError::NotAFunction { .. } => {
            ScriptError::Load("the code does not load as a module".to_owned())
        }
        other => other,
    })
}

/// Runs an Action's handler for `trigger` (an id of [`ACTION_TRIGGERS`]) with `event`, the
/// trigger's input as the host builds it (`event.user`, `event.client`, `event.request`,
/// `event.secrets`, …), and `cache`, the Action's cache entries (key → `{"value": string,
/// "expires_at": ms}`, expired ones already left out).
///
/// The handler may be sync or async. Only a handler that settles in time, without throwing or
/// rejecting and without calling a deny, ends as [`ActionOutcome::Continue`].
///
/// Code that declares HTTPS hosts (`// @custos-allow-https …`, see [`AllowList`]) gets a
/// `fetch` through the sandbox's network; a malformed declaration fails the execution.
pub fn run_action(
    sandbox: &Sandbox,
    code: &str,
    trigger: &str,
    event: &serde_json::Value,
    cache: &serde_json::Map<String, serde_json::Value>,
) -> ActionExecution {
    let started = Instant::now();
    let logs = Rc::new(RefCell::new(LogBuffer::new(sandbox.limits().log_bytes)));
    let outcome = match (Trigger::from_id(trigger), AllowList::parse(code)) {
        (None, _) => ActionOutcome::Failed {
            error: format!(
                "unknown trigger '{trigger}'; Actions run for {}",
                ACTION_TRIGGERS.join(", ")
            ),
        },
        (_, Err(error)) => ActionOutcome::Failed {
            error: error.to_string(),
        },
        (Some(trigger), Ok(allowed)) => {
            let recorder = Rc::new(RefCell::new(Recorder::new(cache)));
            let ended = sandbox.execute(|ctx, watch| {
                let host = Host {
                    recorder: &recorder,
                    logs: &logs,
                    allowed: &allowed,
                    sandbox,
                    watch,
                };
                run_in(&ctx, code, trigger, event, &host)
            });
            let recorded = std::mem::take(&mut *recorder.borrow_mut());
            decide(ended, recorded)
        }
    };
    let logs = logs.borrow().text().to_owned();
    ActionExecution {
        outcome,
        logs,
        duration: started.elapsed(),
    }
}

fn decide(
    ended: Result<Ended<Result<(), String>>, crate::SandboxError>,
    recorded: Recorder,
) -> ActionOutcome {
    match ended {
        Err(error) => ActionOutcome::Failed {
            error: error.to_string(),
        },
        Ok(Ended::TimedOut) => ActionOutcome::TimedOut,
        // A value refused by the `api` is the cause even if the script caught that error and
        // then failed otherwise.
        Ok(Ended::Returned(result)) => match (recorded.failure, result) {
            (Some(error), _) | (None, Err(error)) => ActionOutcome::Failed { error },
            (None, Ok(())) => match recorded.denial {
                Some(denial) => ActionOutcome::Denied {
                    reason: denial.reason,
                    code: denial.code,
                    user_message: denial.user_message,
                },
                None => ActionOutcome::Continue(recorded.effects),
            },
        },
    }
}

/// What the host gives one execution of an Action.
struct Host<'a> {
    recorder: &'a Rc<RefCell<Recorder>>,
    logs: &'a Rc<RefCell<LogBuffer>>,
    allowed: &'a AllowList,
    sandbox: &'a Sandbox,
    watch: &'a Watch,
}

/// Loads the module and runs its handler in the fresh context until the handler's promise has
/// settled and the jobs it queued have run.
fn run_in<'js>(
    ctx: &Ctx<'js>,
    code: &str,
    trigger: Trigger,
    event: &serde_json::Value,
    host: &Host<'_>,
) -> Result<(), String> {
    let Host {
        recorder,
        logs,
        allowed,
        sandbox,
        watch,
    } = *host;
    let fail = |error: rquickjs::Error| describe_error(ctx, error);
    // Everything the module may rely on is in place before its first line runs.
    install_console(ctx, logs, watch).map_err(fail)?;
    crate::fetch::install(ctx, allowed, sandbox.network(), watch).map_err(fail)?;
    let promise_class: Object = ctx.globals().get("Promise").map_err(fail)?;
    let resolve: Function = promise_class.get("resolve").map_err(fail)?;
    let (api_pin, _unpin) = Pin::new();
    let api = api::build(ctx, trigger, recorder, &api_pin, watch).map_err(fail)?;
    api_pin.set(api.clone());
    let event = ctx.json_parse(event.to_string()).map_err(fail)?;

    let module_function = load_function(ctx, &MODULE, code).map_err(|error| match error {
        ScriptError::Syntax { .. } => error.to_string(),
        ScriptError::NotAFunction { .. } => "the code does not load as a module".to_owned(),
        ScriptError::Load(message) | ScriptError::Engine(message) => message,
    })?;
    let exports = Object::new(ctx.clone()).map_err(fail)?;
    let module = Object::new(ctx.clone()).map_err(fail)?;
    module.set("exports", exports.clone()).map_err(fail)?;
    let require = require(ctx).map_err(fail)?;
    module_function
        .call::<_, Value>((This(exports.clone()), exports, require, module.clone()))
        .map_err(fail)?;

    let name = trigger.handler();
    let exports: Value = module.get("exports").map_err(fail)?;
    let handler = match exports.as_object() {
        Some(object) => object.get::<_, Value>(name).map_err(fail)?,
        None => Value::new_undefined(ctx.clone()),
    };
    let Some(handler) = handler.into_function() else {
        return Err(format!(
            "the action does not export {name}, which the {} trigger runs",
            trigger.id()
        ));
    };
    let returned: Value = handler.call((This(exports), event, api)).map_err(fail)?;
    // `Promise.resolve` as it was before the module ran: it settles at once for a plain value
    // and follows a promise or a thenable.
    let settled: Promise = resolve
        .call((This(promise_class), returned))
        .map_err(fail)?;

    // Run queued jobs until there are none left: the handler's own, and those it queued
    // without awaiting them (Node.js would run them before Auth0 looks at the result), so a
    // deny in a forgotten `.then` still counts. Each job is also bounded by the interrupt
    // handler.
    while !watch.passed() && ctx.execute_pending_job() {}
    match settled.state() {
        PromiseState::Resolved => {}
        PromiseState::Pending => return Err("the action's promise never settled".to_owned()),
        PromiseState::Rejected => {
            return Err(match settled.result::<Value>() {
                Some(Err(error)) => fail(error),
                _ => "the action's promise was rejected".to_owned(),
            })
        }
    }
    // Node.js ends the process on a rejection nobody handles, and Auth0 fails the Action; a
    // detached chain that failed (even for lack of memory) must not pass for a success.
    match watch.unhandled_rejection(ctx) {
        None => Ok(()),
        Some(reason) if reason.is_undefined() => Err("unhandled promise rejection".to_owned()),
        Some(reason) => Err(format!(
            "unhandled promise rejection: {}",
            describe_value(ctx, reason)
        )),
    }
}

/// `require`: present, as Node.js modules expect, but it loads nothing.
fn require<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Function<'js>> {
    Function::new(
        ctx.clone(),
        |ctx: Ctx<'js>, name: rquickjs::function::Opt<Value<'js>>| -> rquickjs::Result<()> {
            let name = name
                .0
                .and_then(|value| value.as_string().and_then(|s| s.to_string().ok()))
                .unwrap_or_default();
            Err(Exception::throw_message(
                &ctx,
                &format!("require('{name}'): modules are not available in the Custos sandbox"),
            ))
        },
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
