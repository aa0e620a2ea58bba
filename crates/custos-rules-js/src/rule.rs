//! Auth0 legacy Rules: `function (user, context, callback)`, run once per login or check.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use rquickjs::convert::Coerced;
use rquickjs::function::Opt;
use rquickjs::{Ctx, Exception, FromJs, Function, Object, Value};

use crate::compile::{describe_error, describe_value, load_function, ScriptError, RULE};
use crate::directive::AllowList;
use crate::host::{install_console, recover, to_text, LogBuffer, Pin};
use crate::sandbox::{Ended, Sandbox, Watch};

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

/// Runs an Auth0 legacy Rule against `user` and `context`, with `configuration` (the
/// tenant's rule settings and secrets) as the global `configuration`.
///
/// The script must be `function (user, context, callback) { … }`; it may call back
/// synchronously or from a promise. Anything but a timely `callback(null, user, context)`
/// with JSON values ends as a denial of some kind.
///
/// A script that declares HTTPS hosts (`// @custos-allow-https …`, see [`AllowList`]) gets a
/// `fetch` through the sandbox's network; a malformed declaration fails the execution.
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
    let allowed = match AllowList::parse(script) {
        Ok(allowed) => allowed,
        Err(error) => {
            return Execution {
                outcome: RuleOutcome::Failed {
                    error: error.to_string(),
                },
                logs: String::new(),
                duration: started.elapsed(),
            }
        }
    };
    let ended = sandbox.execute(|ctx, watch| {
        let host = Host {
            logs: &logs,
            reply: &reply,
            allowed: &allowed,
            sandbox,
            watch,
        };
        run_in(&ctx, script, [user, context, configuration], &host)
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
    let logs = logs.borrow().text().to_owned();
    Execution {
        outcome,
        logs,
        duration: started.elapsed(),
    }
}

/// What the host gives one execution of a rule.
struct Host<'a> {
    logs: &'a Rc<RefCell<LogBuffer>>,
    reply: &'a Rc<RefCell<Option<Reply>>>,
    allowed: &'a AllowList,
    sandbox: &'a Sandbox,
    watch: &'a Watch,
}

/// Runs the rule inside the fresh context until it calls back or has nothing left to do.
fn run_in<'js>(
    ctx: &Ctx<'js>,
    script: &str,
    [user, context, configuration]: [&serde_json::Value; 3],
    host: &Host<'_>,
) -> Result<(), String> {
    let Host {
        logs,
        reply,
        allowed,
        sandbox,
        watch,
    } = *host;
    let fail = |error: rquickjs::Error| describe_error(ctx, error);
    // Everything the script may rely on is in place before its first line runs, so it cannot
    // swap out what `callback` uses; `callback` itself is a native function.
    install_console(ctx, logs, watch).map_err(fail)?;
    crate::fetch::install(ctx, allowed, sandbox.network(), watch).map_err(fail)?;
    let (prototype, _unpin) = Pin::new();
    let unauthorized = unauthorized_error(ctx, &prototype).map_err(fail)?;
    ctx.globals()
        .set("UnauthorizedError", unauthorized)
        .map_err(fail)?;
    let callback = callback(ctx, reply, &prototype, watch).map_err(fail)?;

    let to_js = |value: &serde_json::Value| -> Result<Value<'js>, String> {
        ctx.json_parse(value.to_string()).map_err(fail)
    };
    ctx.globals()
        .set("configuration", to_js(configuration)?)
        .map_err(fail)?;
    let rule = load_function(ctx, &RULE, script).map_err(|error| match error {
        ScriptError::Syntax { .. } | ScriptError::NotAFunction { .. } => error.to_string(),
        ScriptError::Load(message) | ScriptError::Engine(message) => message,
    })?;
    rule.call::<_, Value>((to_js(user)?, to_js(context)?, callback))
        .map_err(fail)?;

    // A rule may call back from a promise: run queued jobs until it has, or until there is
    // nothing left to run. Each job is also bounded by the interrupt handler.
    while reply.borrow().is_none() && !watch.passed() && ctx.execute_pending_job() {}
    // An async rule that threw (a `fetch` that was refused, say) never calls back: say why.
    if reply.borrow().is_none() {
        if let Some(reason) = watch.unhandled_rejection(ctx) {
            let reason = if reason.is_undefined() {
                "unhandled promise rejection".to_owned()
            } else {
                format!(
                    "unhandled promise rejection: {}",
                    describe_value(ctx, reason)
                )
            };
            return Err(format!(
                "the rule finished without calling callback ({reason})"
            ));
        }
    }
    Ok(())
}

/// `UnauthorizedError`, a subclass of `Error` whose instances deny with Auth0's
/// `error=unauthorized`. Its prototype is pinned for `callback`'s `instanceof` test, so a script
/// that replaces the global changes nothing there.
fn unauthorized_error<'js>(ctx: &Ctx<'js>, pin: &Pin<'js>) -> rquickjs::Result<Function<'js>> {
    let error: Object = ctx.globals().get("Error")?;
    let error_prototype: Object = error.get("prototype")?;
    let prototype = Object::new(ctx.clone())?;
    prototype.set_prototype(Some(&error_prototype))?;
    prototype.set("name", "UnauthorizedError")?;
    pin.set(prototype.clone());
    let pin = pin.clone();
    let constructor = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, message: Opt<Value<'js>>| -> rquickjs::Result<Object<'js>> {
            let message = match message.0 {
                Some(value) if !value.is_undefined() => Coerced::<String>::from_js(&ctx, value)?.0,
                _ => String::new(),
            };
            let error = Exception::from_message(ctx, &message)?.into_object();
            if let Some(prototype) = pin.get() {
                error.set_prototype(Some(&prototype))?;
            }
            Ok(error)
        },
    )?
    .with_constructor(true);
    constructor.set("prototype", prototype.clone())?;
    prototype.set("constructor", constructor.clone())?;
    Ok(constructor)
}

/// The `callback` passed to the rule. Only its first call counts.
fn callback<'js>(
    ctx: &Ctx<'js>,
    reply: &Rc<RefCell<Option<Reply>>>,
    unauthorized: &Pin<'js>,
    watch: &Watch,
) -> rquickjs::Result<Function<'js>> {
    let reply = Rc::clone(reply);
    let unauthorized = unauthorized.clone();
    let watch = watch.clone();
    let called = Cell::new(false);
    Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>,
              error: Opt<Value<'js>>,
              user: Opt<Value<'js>>,
              context: Opt<Value<'js>>|
              -> rquickjs::Result<()> {
            if called.replace(true) {
                return Ok(());
            }
            let error = error.0.filter(|e| !e.is_null() && !e.is_undefined());
            let recorded = match error {
                None => {
                    let json = |value: Option<Value<'js>>| -> rquickjs::Result<Option<String>> {
                        let value = value.unwrap_or_else(|| Value::new_undefined(ctx.clone()));
                        ctx.json_stringify(value)?
                            .map(|text| text.to_string())
                            .transpose()
                    };
                    let user = json(user.0)?;
                    let context = json(context.0)?;
                    Reply::Continue { user, context }
                }
                Some(error) => Reply::Deny {
                    message: deny_message(&ctx, &error, &watch)?,
                    unauthorized: unauthorized
                        .get()
                        .is_some_and(|prototype| inherits(&error, &prototype)),
                },
            };
            let mut slot = reply.borrow_mut();
            if slot.is_none() {
                *slot = Some(recorded);
            }
            Ok(())
        },
    )
}

/// The text of a denial: the error's `message` if it is a string, else `String(error)`.
fn deny_message<'js>(
    ctx: &Ctx<'js>,
    error: &Value<'js>,
    watch: &Watch,
) -> rquickjs::Result<String> {
    if let Some(object) = error.as_object() {
        match object.get::<_, Value>("message") {
            Ok(message) if message.is_string() => {
                if let Some(text) = message.as_string() {
                    return text.to_string();
                }
            }
            Ok(_) => {}
            Err(thrown) => {
                recover(ctx, thrown, watch)?;
                return Ok("denied".to_owned());
            }
        }
    }
    Ok(to_text(ctx, error.clone(), watch)?.unwrap_or_else(|| "denied".to_owned()))
}

/// `value instanceof C` for the class whose prototype is `prototype`, by walking the prototype
/// chain (which runs no script code: the sandbox has no `Proxy`).
fn inherits<'js>(value: &Value<'js>, prototype: &Object<'js>) -> bool {
    let mut current = value.as_object().and_then(Object::get_prototype);
    while let Some(object) = current {
        if object == *prototype {
            return true;
        }
        current = object.get_prototype();
    }
    false
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
