//! The sandbox: one QuickJS runtime with its limits, reused across executions, and a fresh
//! context per execution.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use rquickjs::context::intrinsic;
use rquickjs::{Context, Ctx, Runtime};

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

/// The deadline shared between an execution and the runtime's interrupt handler.
#[derive(Default)]
struct Watchdog {
    deadline: Cell<Option<Instant>>,
    fired: Cell<bool>,
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
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The language built-ins a script gets. `Eval` is what lets the host evaluate source at all;
/// Proxy, typed arrays, WeakRef, `performance` and DOMException are left out: Rules have no
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
        })
    }

    /// The limits this sandbox applies.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Runs `f` in a fresh context under the time limit; `f` gets a probe telling whether the
    /// deadline has passed, for its loop over pending promise jobs. Whatever it leaves behind
    /// (globals, pending jobs, a runtime exhausted by a hostile script) never reaches the
    /// next run.
    pub(crate) fn execute<T>(
        &self,
        f: impl for<'js> FnOnce(Ctx<'js>, &dyn Fn() -> bool) -> T,
    ) -> Result<Ended<T>, SandboxError> {
        let runtime = self.runtime.borrow().clone();
        let context =
            Context::custom::<Intrinsics>(&runtime).map_err(|e| SandboxError(e.to_string()))?;
        self.watchdog.fired.set(false);
        let deadline = Instant::now() + self.limits.time;
        self.watchdog.deadline.set(Some(deadline));
        let passed = || Instant::now() >= deadline;
        let value = context.with(|ctx| f(ctx, &passed));
        self.watchdog.deadline.set(None);
        let timed_out = self.watchdog.fired.get() || passed();
        drop(context);
        // A runtime that was interrupted, still holds jobs of the dropped context, or is
        // close to its memory limit is replaced rather than trusted with the next script.
        let usage = runtime.memory_usage();
        let exhausted = usize::try_from(usage.malloc_size)
            .map(|used| used > self.limits.memory / 2)
            .unwrap_or(true);
        if timed_out || runtime.is_job_pending() || exhausted {
            drop(runtime);
            *self.runtime.borrow_mut() = new_runtime(&self.limits, &self.watchdog)?;
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
