//! The sandbox: one QuickJS runtime with its limits, reused across executions, and a fresh
//! context per execution.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use custos_rules::Network;
use rquickjs::context::intrinsic;
use rquickjs::{Context, Ctx, Persistent, Runtime, Value};

/// The limits every execution runs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time an execution may take, pending promise jobs included.
    pub time: Duration,
    /// Bytes the engine may allocate (the runtime's heap, all of it).
    pub memory: usize,
    /// Bytes of native stack the engine may use; deep recursion ends with a `RangeError`.
    pub stack: usize,
    /// Bytes of `console.log` output kept; the rest is dropped and marked as truncated.
    pub log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            time: Duration::from_millis(100),
            memory: 32 * 1024 * 1024,
            // Half of the 2 MiB a Rust thread gets by default, so the engine's own check
            // fires long before the thread's guard page.
            stack: 512 * 1024,
            log_bytes: 4 * 1024,
        }
    }
}

/// The engine could not be started at all (out of memory before any script ran).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the JavaScript engine could not be started: {0}")]
pub struct SandboxError(pub String);

/// A rejected promise nobody handled (yet), and its reason.
type Rejection = (Persistent<Value<'static>>, Persistent<Value<'static>>);

/// What the runtime's callbacks share with the execution in progress: the deadline the
/// interrupt handler enforces, and the rejections the promise rejection tracker has seen.
#[derive(Default)]
struct Watchdog {
    deadline: Cell<Option<Instant>>,
    fired: Cell<bool>,
    /// Promises rejected with no handler during the execution, until one is attached. Emptied
    /// when the execution ends.
    unhandled: RefCell<Vec<Rejection>>,
    /// More rejections went unhandled than `unhandled` keeps.
    overflowed: Cell<bool>,
}

impl Watchdog {
    /// Rejections kept per execution; past that, only the fact that there were more.
    const KEPT_REJECTIONS: usize = 256;

    fn track<'js>(&self, ctx: &Ctx<'js>, promise: Value<'js>, reason: Value<'js>, handled: bool) {
        let mut unhandled = self.unhandled.borrow_mut();
        if handled {
            unhandled.retain(|(kept, _)| {
                kept.clone()
                    .restore(ctx)
                    .map_or(true, |kept| kept != promise)
            });
        } else if unhandled.len() < Self::KEPT_REJECTIONS {
            unhandled.push((
                Persistent::save(ctx, promise),
                Persistent::save(ctx, reason),
            ));
        } else {
            self.overflowed.set(true);
        }
    }

    fn forget_rejections(&self) {
        let kept = std::mem::take(&mut *self.unhandled.borrow_mut());
        drop(kept);
        self.overflowed.set(false);
    }
}

/// One execution as the host functions a script calls see it: they must not swallow the
/// interrupt that ends a script whose time is up, and an Action must not end well with a
/// rejection nobody handled.
#[derive(Clone)]
pub(crate) struct Watch {
    at: Instant,
    watchdog: Rc<Watchdog>,
}

impl Watch {
    /// Whether the execution's time is up (or the interrupt handler has already fired).
    pub(crate) fn passed(&self) -> bool {
        self.watchdog.fired.get() || Instant::now() >= self.at
    }

    /// The time left before the deadline; zero once it has passed.
    pub(crate) fn remaining(&self) -> Duration {
        if self.watchdog.fired.get() {
            return Duration::ZERO;
        }
        self.at.saturating_duration_since(Instant::now())
    }

    /// The reason of a promise rejected during this execution that still has no handler
    /// (`undefined` if there were too many to keep), as Node.js would report it.
    pub(crate) fn unhandled_rejection<'js>(&self, ctx: &Ctx<'js>) -> Option<Value<'js>> {
        let first = self.watchdog.unhandled.borrow().first().cloned();
        match first {
            Some((_, reason)) => Some(
                reason
                    .restore(ctx)
                    .unwrap_or_else(|_| Value::new_undefined(ctx.clone())),
            ),
            None if self.watchdog.overflowed.get() => Some(Value::new_undefined(ctx.clone())),
            None => None,
        }
    }
}

/// A reusable JavaScript runtime with its limits.
///
/// A `Sandbox` is neither `Send` nor `Sync` (QuickJS runtimes are single-threaded): keep one
/// per worker thread (for instance in a `thread_local!` on a blocking pool), never on the
/// async runtime's worker threads.
pub struct Sandbox {
    limits: Limits,
    runtime: RefCell<Runtime>,
    watchdog: Rc<Watchdog>,
    /// A fresh context made ahead of time by [`Sandbox::prepare`]. No script has run in it;
    /// the next execution takes it, and no context is ever used twice.
    ready: RefCell<Option<Context>>,
    /// What `fetch` uses, for scripts that declare HTTPS hosts; none means no network.
    network: Option<Arc<dyn Network>>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Kept rejections hold values of a context: they go before the runtime does (they are
        // only left here if an execution unwound).
        self.watchdog.forget_rejections();
        self.ready.get_mut().take();
    }
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("limits", &self.limits)
            .field("network", &self.network.is_some())
            .finish_non_exhaustive()
    }
}

/// The language built-ins a script gets. `Eval` is what lets the host evaluate source at all;
/// Proxy, typed arrays, WeakRef, `performance` and DOMException are left out: scripts have no
/// use for them, and a context without them costs less than half as much to create.
type Intrinsics = (
    intrinsic::Eval,
    intrinsic::Date,
    intrinsic::RegExpCompiler,
    intrinsic::RegExp,
    intrinsic::Json,
    intrinsic::MapSet,
    intrinsic::Promise,
);

/// How an execution inside the sandbox ended, before the caller interprets it.
pub(crate) enum Ended<T> {
    /// The closure returned.
    Returned(T),
    /// The deadline passed (the interrupt handler fired, or pending jobs outlived it).
    TimedOut,
}

impl Sandbox {
    /// A sandbox with the given limits.
    pub fn new(limits: Limits) -> Result<Self, SandboxError> {
        let watchdog = Rc::new(Watchdog::default());
        let runtime = new_runtime(&limits, &watchdog)?;
        Ok(Self {
            limits,
            runtime: RefCell::new(runtime),
            watchdog,
            ready: RefCell::new(None),
            network: None,
        })
    }

    /// This sandbox, giving scripts that declare HTTPS hosts (`// @custos-allow-https …`)
    /// a `fetch` through `network`. Without it, such scripts get a `fetch` that always rejects.
    pub fn with_network(mut self, network: Arc<dyn Network>) -> Self {
        self.network = Some(network);
        self
    }

    /// The limits this sandbox applies.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The network scripts may use, if any.
    pub fn network(&self) -> Option<&Arc<dyn Network>> {
        self.network.as_ref()
    }

    /// Bytes the engine holds right now (its heap, as QuickJS counts it, including a context
    /// made by [`Sandbox::prepare`]). Between executions this is what an idle sandbox costs.
    pub fn heap_bytes(&self) -> u64 {
        u64::try_from(self.runtime.borrow().memory_usage().malloc_size).unwrap_or(0)
    }

    /// Does now the work the next execution would otherwise start with: collects what the
    /// last execution left behind, replaces the runtime if it is close to its memory limit, and
    /// creates the fresh context the next execution will run in. Call it after an execution's
    /// result has been handed on (it takes about as long as creating a context), so the next
    /// execution's latency does not include it. Calling it again before an execution does
    /// nothing; not calling it is fine too.
    ///
    /// The context made here has run no script; an execution takes it out, so it is used once.
    pub fn prepare(&self) -> Result<(), SandboxError> {
        if self.ready.borrow().is_some() {
            return Ok(());
        }
        let context = self.fresh_context()?;
        *self.ready.borrow_mut() = Some(context);
        Ok(())
    }

    /// Collects garbage, checks the runtime's health, and creates a context in it.
    fn fresh_context(&self) -> Result<Context, SandboxError> {
        let runtime = self.runtime.borrow().clone();
        // Dropped contexts leave cycles behind until the collector runs; running it here
        // (rather than at an allocation in the middle of the next script) keeps it out of the
        // next execution and makes the memory figure below exact.
        runtime.run_gc();
        let usage = runtime.memory_usage();
        let exhausted = usize::try_from(usage.malloc_size)
            .map(|used| used > self.limits.memory / 2)
            .unwrap_or(true);
        let runtime = if exhausted {
            drop(runtime);
            self.replace_runtime()?
        } else {
            runtime
        };
        Context::custom::<Intrinsics>(&runtime).map_err(|e| SandboxError(e.to_string()))
    }

    /// Throws the runtime away (with any prepared context) and starts a new one.
    fn replace_runtime(&self) -> Result<Runtime, SandboxError> {
        self.ready.borrow_mut().take();
        let runtime = new_runtime(&self.limits, &self.watchdog)?;
        *self.runtime.borrow_mut() = runtime.clone();
        Ok(runtime)
    }

    /// Runs `f` in a fresh context under the time limit; `f` gets the execution's [`Watch`],
    /// for its loop over pending promise jobs and for the host functions it installs. Whatever
    /// it leaves behind (globals, pending jobs, a runtime exhausted by a hostile script) never
    /// reaches the next run.
    pub(crate) fn execute<T>(
        &self,
        f: impl for<'js> FnOnce(Ctx<'js>, &Watch) -> T,
    ) -> Result<Ended<T>, SandboxError> {
        let prepared = self.ready.borrow_mut().take();
        let context = match prepared {
            Some(context) => context,
            None => self.fresh_context()?,
        };
        let runtime = self.runtime.borrow().clone();
        self.watchdog.fired.set(false);
        self.watchdog.forget_rejections();
        let watch = Watch {
            at: Instant::now() + self.limits.time,
            watchdog: Rc::clone(&self.watchdog),
        };
        self.watchdog.deadline.set(Some(watch.at));
        let value = context.with(|ctx| f(ctx, &watch));
        self.watchdog.deadline.set(None);
        let timed_out = watch.passed();
        self.watchdog.forget_rejections();
        drop(context);
        // A runtime that was interrupted, or still holds jobs of the dropped context, is
        // replaced rather than trusted with the next script. (Memory is checked before the
        // next context is made, after the collector has run.)
        if timed_out || runtime.is_job_pending() {
            drop(runtime);
            self.replace_runtime()?;
        }
        Ok(if timed_out {
            Ended::TimedOut
        } else {
            Ended::Returned(value)
        })
    }
}

fn new_runtime(limits: &Limits, watchdog: &Rc<Watchdog>) -> Result<Runtime, SandboxError> {
    let runtime = Runtime::new().map_err(|e| SandboxError(e.to_string()))?;
    runtime.set_memory_limit(limits.memory);
    runtime.set_max_stack_size(limits.stack);
    let tracker = Rc::clone(watchdog);
    runtime.set_host_promise_rejection_tracker(Some(Box::new(
        move |ctx, promise, reason, handled| tracker.track(&ctx, promise, reason, handled),
    )));
    let watchdog = Rc::clone(watchdog);
    runtime.set_interrupt_handler(Some(Box::new(move || match watchdog.deadline.get() {
        Some(deadline) if Instant::now() >= deadline => {
            watchdog.fired.set(true);
            true
        }
        _ => false,
    })));
    Ok(runtime)
}
