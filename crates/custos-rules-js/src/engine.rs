//! [`JsEngine`]: this sandbox behind `custos-rules`' engine interface, with one sandbox per
//! thread (QuickJS runtimes are single-threaded) reused across executions.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use custos_rules::{ActionEnd, Effects, Engine, Network, RuleEnd, Run, SyntaxError};
use serde_json::{Map, Value};

use crate::{Limits, RuleOutcome, Sandbox, ScriptError};

thread_local! {
    /// This thread's sandboxes, one per set of limits and network (a process may run engines
    /// with different limits, as the tests do).
    static SANDBOXES: RefCell<Vec<Sandbox>> = const { RefCell::new(Vec::new()) };
}

/// The QuickJS engine for Rules and Actions.
#[derive(Clone, Default)]
pub struct JsEngine {
    limits: Limits,
    network: Option<Arc<dyn Network>>,
}

impl std::fmt::Debug for JsEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsEngine")
            .field("limits", &self.limits)
            .field("network", &self.network.is_some())
            .finish()
    }
}

impl JsEngine {
    /// An engine whose scripts have no network: a script that declares HTTPS hosts gets a
    /// `fetch` that always rejects.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            network: None,
        }
    }

    /// This engine, with `network` for the scripts that declare HTTPS hosts
    /// (`// @custos-allow-https …`); the others still get no `fetch` at all.
    pub fn with_network(mut self, network: Arc<dyn Network>) -> Self {
        self.network = Some(network);
        self
    }

    /// Whether `sandbox` was made for this engine: the same limits and the same network.
    fn fits(&self, sandbox: &Sandbox) -> bool {
        let same_network = match (sandbox.network(), &self.network) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        *sandbox.limits() == self.limits && same_network
    }

    /// Runs `f` with this thread's sandbox for this engine, creating it on first use.
    fn with_sandbox<T>(
        &self,
        f: impl FnOnce(&Sandbox) -> T,
        failed: impl FnOnce(String) -> T,
    ) -> T {
        SANDBOXES.with(|cell| {
            let mut sandboxes = cell.borrow_mut();
            let index = match sandboxes.iter().position(|s| self.fits(s)) {
                Some(i) => i,
                None => match Sandbox::new(self.limits.clone()) {
                    Ok(s) => {
                        let s = match &self.network {
                            Some(network) => s.with_network(Arc::clone(network)),
                            None => s,
                        };
                        sandboxes.push(s);
                        sandboxes.len() - 1
                    }
                    Err(e) => return failed(e.to_string()),
                },
            };
            f(&sandboxes[index])
        })
    }
}

fn syntax(e: ScriptError) -> SyntaxError {
    match e {
        ScriptError::Syntax {
            ref message,
            line,
            column,
        } => SyntaxError {
            message: format!("{message} (line {line}, column {column})"),
            line: Some(line),
            column: Some(column),
        },
        other => SyntaxError {
            message: other.to_string(),
            line: None,
            column: None,
        },
    }
}

impl Engine for JsEngine {
    fn prepare(&self) {
        self.with_sandbox(
            |sandbox| {
                // A failure here shows again, and is reported, at the next execution.
                let _ = sandbox.prepare();
            },
            |_| (),
        );
    }

    fn name(&self) -> &'static str {
        "quickjs"
    }

    fn time_limit(&self) -> Duration {
        self.limits.time
    }

    fn check_rule(&self, script: &str) -> Result<(), SyntaxError> {
        crate::compile_check(script).map_err(syntax)
    }

    fn check_action(&self, code: &str) -> Result<(), SyntaxError> {
        crate::compile_action_check(code).map_err(syntax)
    }

    fn run_rule(
        &self,
        script: &str,
        user: &Value,
        context: &Value,
        configuration: &Value,
    ) -> Run<RuleEnd> {
        self.with_sandbox(
            |sandbox| {
                let e = crate::run_rule(sandbox, script, user, context, configuration);
                let end = match e.outcome {
                    RuleOutcome::Continue { user, context } => RuleEnd::Continue { user, context },
                    RuleOutcome::Denied {
                        message,
                        unauthorized,
                    } => RuleEnd::Denied {
                        message,
                        unauthorized,
                    },
                    RuleOutcome::Failed { error } => RuleEnd::Failed { error },
                    RuleOutcome::TimedOut => RuleEnd::TimedOut,
                };
                Run {
                    end,
                    logs: e.logs,
                    duration: e.duration,
                }
            },
            |error| Run::not_started(RuleEnd::Failed { error }),
        )
    }

    fn run_action(
        &self,
        code: &str,
        trigger: &str,
        event: &Value,
        cache: &Map<String, Value>,
    ) -> Run<ActionEnd> {
        self.with_sandbox(
            |sandbox| {
                let e = crate::run_action(sandbox, code, trigger, event, cache);
                let end = match e.outcome {
                    crate::ActionOutcome::Continue(x) => ActionEnd::Continue(Effects {
                        id_token_claims: x.id_token_claims,
                        access_token_claims: x.access_token_claims,
                        app_metadata: x.app_metadata,
                        user_metadata: x.user_metadata,
                        multifactor: x.multifactor,
                        cache_set: x.cache_set,
                        cache_delete: x.cache_delete,
                    }),
                    crate::ActionOutcome::Denied {
                        reason,
                        code,
                        user_message,
                    } => ActionEnd::Denied {
                        reason,
                        code,
                        user_message,
                    },
                    crate::ActionOutcome::Failed { error } => ActionEnd::Failed { error },
                    crate::ActionOutcome::TimedOut => ActionEnd::TimedOut,
                };
                Run {
                    end,
                    logs: e.logs,
                    duration: e.duration,
                }
            },
            |error| Run::not_started(ActionEnd::Failed { error }),
        )
    }
}
