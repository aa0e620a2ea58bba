//! Auth0 legacy Rules: `function (user, context, callback)`, run once per login or check.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rquickjs::{Ctx, Function, Value};

use crate::compile::{describe_value, load_function, ScriptError};
use crate::sandbox::{Ended, Sandbox};

/// What a Rule decided.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleOutcome {
    /// `callback(null, user, context)`: the login or check goes on with these values; the
    /// context carries the namespaced claims added to `idToken` and `accessToken`.
    Continue {
        user: serde_json::Value,
        context: serde_json::Value,
    },
    /// `callback(error)`: the script denied. `unauthorized` is true for an
    /// `UnauthorizedError` (Auth0's `error=unauthorized`), false for any other error.
    Denied { message: String, unauthorized: bool },
    /// The script threw, never called back, or called back with values that are not JSON.
    Failed { error: String },
    /// The time limit passed before the script called back.
    TimedOut,
}

impl RuleOutcome {
    /// Whether the pipeline may go on. Only `Continue` allows; everything else denies.
    pub fn allows(&self) -> bool {
        matches!(self, Self::Continue { .. })
    }
}

/// One execution of a Rule: the decision and the evidence for its audit record.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    pub outcome: RuleOutcome,
    /// `console.log` output, one line per call, capped at the sandbox's `log_bytes`.
    pub logs: String,
    pub duration: Duration,
}

/// What the script passed to `callback`, recorded by the native side.
enum Reply {
    Continue {
        user: Option<String>,
        context: Option<String>,
    },
    Deny {
        message: String,
        unauthorized: bool,
    },
}

/// Sets up the globals a Rule sees and returns its `callback`. It runs before the script,
/// so the script cannot swap out the `JSON.stringify` or `UnauthorizedError` the callback
/// relies on; the native `done` and `log` are reachable only through closures.
const PRELUDE: &str = r#"(function (done, log) {
  'use strict';
  const stringify = JSON.stringify;
  const toText = String;
  class UnauthorizedError extends Error {
    constructor(message) { super(message); this.name = 'UnauthorizedError'; }
  }
  const show = (value) => {
    if (typeof value === 'string') return value;
    try {
      const text = stringify(value);
      return text === undefined ? toText(value) : text;
    } catch (e) {
      return '[unprintable]';
    }
  };
  const write = (...values) => { let line = ''; for (let i = 0; i < values.length; i++) { line += (i ? ' ' : '') + show(values[i]); } log(line); };
  globalThis.console = { log: write, info: write, warn: write, error: write, debug: write };
  globalThis.UnauthorizedError = UnauthorizedError;
  let called = false;
  return function callback(error, user, context) {
    if (called) return;
    called = true;
    if (error === null || error === undefined) {
      done(0, stringify(user), stringify(context));
      return;
    }
    let message;
    try {
      message = (typeof error === 'object' || typeof error === 'function') && typeof error.message === 'string'
        ? error.message
        : toText(error);
    } catch (e) {
      message = 'denied';
    }
    done(error instanceof UnauthorizedError ? 2 : 1, message, null);
  };
})"#;

/// Runs an Auth0 legacy Rule against `user` and `context`, with `configuration` (the
/// tenant's rule settings and secrets) as the global `configuration`.
///
/// The script must be `function (user, context, callback) { … }`; it may call back
/// synchronously or from a promise. Anything but a timely `callback(null, user, context)`
/// with JSON values ends as a denial of some kind.
pub fn run_rule(
    sandbox: &Sandbox,
    script: &str,
    user: &serde_json::Value,
    context: &serde_json::Value,
    configuration: &serde_json::Value,
) -> Execution {
    let started = Instant::now();
    let logs = Rc::new(RefCell::new(LogBuffer::new(sandbox.limits().log_bytes)));
    let reply: Rc<RefCell<Option<Reply>>> = Rc::new(RefCell::new(None));
    let ended = sandbox.execute(|ctx, deadline_passed| {
        run_in(
            &ctx,
            script,
            [user, context, configuration],
            &logs,
            &reply,
            deadline_passed,
        )
    });
    let outcome = match ended {
        Err(error) => RuleOutcome::Failed {
            error: error.to_string(),
        },
        Ok(Ended::TimedOut) => RuleOutcome::TimedOut,
        Ok(Ended::Returned(Err(error))) => RuleOutcome::Failed { error },
        Ok(Ended::Returned(Ok(()))) => match reply.borrow_mut().take() {
            None => RuleOutcome::Failed {
                error: "the rule finished without calling callback".to_owned(),
            },
            Some(reply) => decide(reply),
        },
    };
    let logs = logs.borrow().text.clone();
    Execution {
        outcome,
        logs,
        duration: started.elapsed(),
    }
}

/// Runs the rule inside the fresh context until it calls back or has nothing left to do.
fn run_in<'js>(
    ctx: &Ctx<'js>,
    script: &str,
    [user, context, configuration]: [&serde_json::Value; 3],
    logs: &Rc<RefCell<LogBuffer>>,
    reply: &Rc<RefCell<Option<Reply>>>,
    deadline_passed: &dyn Fn() -> bool,
) -> Result<(), String> {
    let fail = |error: rquickjs::Error| -> String {
        if error.is_exception() {
            describe_value(ctx, ctx.catch())
        } else {
            error.to_string()
        }
    };
    let done = {
        let reply = Rc::clone(reply);
        Function::new(
            ctx.clone(),
            move |kind: i32, first: Option<String>, second: Option<String>| {
                let mut slot = reply.borrow_mut();
                if slot.is_some() {
                    return;
                }
                *slot = Some(match kind {
                    0 => Reply::Continue {
                        user: first,
                        context: second,
                    },
                    _ => Reply::Deny {
                        message: first.unwrap_or_default(),
                        unauthorized: kind == 2,
                    },
                });
            },
        )
        .map_err(fail)?
    };
    let log = {
        let logs = Rc::clone(logs);
        Function::new(ctx.clone(), move |line: String| {
            logs.borrow_mut().push(&line);
        })
        .map_err(fail)?
    };
    let prelude: Function = ctx.eval(PRELUDE).map_err(fail)?;
    let callback: Function = prelude.call((done, log)).map_err(fail)?;

    let to_js = |value: &serde_json::Value| -> Result<Value<'js>, String> {
        ctx.json_parse(value.to_string()).map_err(fail)
    };
    ctx.globals()
        .set("configuration", to_js(configuration)?)
        .map_err(fail)?;
    let rule = load_function(ctx, script).map_err(|error| match error {
        ScriptError::Syntax { .. } | ScriptError::NotAFunction { .. } => error.to_string(),
        ScriptError::Load(message) | ScriptError::Engine(message) => message,
    })?;
    rule.call::<_, Value>((to_js(user)?, to_js(context)?, callback))
        .map_err(fail)?;

    // A rule may call back from a promise: run queued jobs until it has, or until there is
    // nothing left to run. Each job is also bounded by the interrupt handler.
    while reply.borrow().is_none() && !deadline_passed() && ctx.execute_pending_job() {}
    Ok(())
}

fn decide(reply: Reply) -> RuleOutcome {
    match reply {
        Reply::Deny {
            message,
            unauthorized,
        } => RuleOutcome::Denied {
            message,
            unauthorized,
        },
        Reply::Continue { user, context } => {
            let parse = |what: &str, text: Option<String>| match text
                .as_deref()
                .map(serde_json::from_str::<serde_json::Value>)
            {
                Some(Ok(value)) if value.is_object() => Ok(value),
                _ => Err(RuleOutcome::Failed {
                    error: format!("callback was called without a {what} object"),
                }),
            };
            match (parse("user", user), parse("context", context)) {
                (Ok(user), Ok(context)) => RuleOutcome::Continue { user, context },
                (Err(failed), _) | (_, Err(failed)) => failed,
            }
        }
    }
}

/// `console.log` output, kept up to a byte limit.
struct LogBuffer {
    text: String,
    limit: usize,
    truncated: bool,
}

impl LogBuffer {
    const MARK: &'static str = "[log truncated]\n";

    fn new(limit: usize) -> Self {
        Self {
            text: String::new(),
            limit,
            truncated: false,
        }
    }

    fn push(&mut self, line: &str) {
        if self.truncated {
            return;
        }
        let room = self.limit.saturating_sub(self.text.len());
        if line.len() < room {
            self.text.push_str(line);
            self.text.push('\n');
            return;
        }
        let mut cut = room;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        self.text.push_str(&line[..cut]);
        self.text.push('\n');
        self.text.push_str(Self::MARK);
        self.truncated = true;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
