//! What the host puts in a script's context, shared by Rules and Actions: `console`, and the
//! helpers its native functions use.
//!
//! Everything here is native (Rust closures), not a JavaScript prelude: parsing JavaScript
//! costs QuickJS about 25–30 ns a byte, so a prelude of a few kilobytes evaluated in every
//! fresh context cost more than the customer's script (see `benches/engine.rs`). Native
//! functions also keep what they record out of the script's reach: it lives in Rust, and the
//! JSON they produce comes from the engine's own `JSON.stringify`, not the global a script
//! may have replaced.
//!
//! Closures never capture a JavaScript value: QuickJS's collector cannot see into them, so a
//! captured value that leads back to its function would never be freed. A value a native
//! function needs (the `api` object, a prototype) sits in a [`Pin`] that is emptied when the
//! execution ends.

use std::cell::RefCell;
use std::rc::Rc;

use rquickjs::convert::Coerced;
use rquickjs::function::Rest;
use rquickjs::{Ctx, FromJs, Function, Object, Value};

use crate::sandbox::Watch;

/// A JavaScript object held by Rust for the length of one execution.
pub(crate) struct Pin<'js>(Rc<RefCell<Option<Object<'js>>>>);

impl<'js> Pin<'js> {
    /// An empty pin and the guard that empties it (and every clone of it) when dropped.
    pub(crate) fn new() -> (Self, Unpin<'js>) {
        let pin = Self(Rc::new(RefCell::new(None)));
        let guard = Unpin(pin.clone());
        (pin, guard)
    }

    pub(crate) fn set(&self, object: Object<'js>) {
        *self.0.borrow_mut() = Some(object);
    }

    pub(crate) fn get(&self) -> Option<Object<'js>> {
        self.0.borrow().clone()
    }
}

impl Clone for Pin<'_> {
    fn clone(&self) -> Self {
        Self(Rc::clone(&self.0))
    }
}

/// Empties a [`Pin`] when the execution's scope ends, on every path out of it.
pub(crate) struct Unpin<'js>(Pin<'js>);

impl Drop for Unpin<'_> {
    fn drop(&mut self) {
        let released = self.0 .0.borrow_mut().take();
        drop(released);
    }
}

/// After a call into the engine failed inside a native function: takes the thrown value so
/// the native function can carry on, unless the execution's time is up, in which case the
/// (uncatchable) interrupt is thrown again so the script ends.
pub(crate) fn caught<'js>(
    ctx: &Ctx<'js>,
    error: rquickjs::Error,
    watch: &Watch,
) -> rquickjs::Result<Value<'js>> {
    if !error.is_exception() {
        return Err(error);
    }
    let thrown = ctx.catch();
    if thrown.is_uncatchable_error() || watch.passed() {
        return Err(ctx.throw(thrown));
    }
    Ok(thrown)
}

/// [`caught`], dropping the thrown value.
pub(crate) fn recover(
    ctx: &Ctx<'_>,
    error: rquickjs::Error,
    watch: &Watch,
) -> rquickjs::Result<()> {
    caught(ctx, error, watch).map(drop)
}

/// `String(value)`, or `None` if that throws (a symbol, a `toString` that throws).
pub(crate) fn to_text<'js>(
    ctx: &Ctx<'js>,
    value: Value<'js>,
    watch: &Watch,
) -> rquickjs::Result<Option<String>> {
    if let Some(text) = value.as_string() {
        return text.to_string().map(Some);
    }
    match Coerced::<String>::from_js(ctx, value) {
        Ok(Coerced(text)) => Ok(Some(text)),
        Err(error) => recover(ctx, error, watch).map(|()| None),
    }
}

/// `console.log` output, kept up to a byte limit.
pub(crate) struct LogBuffer {
    text: String,
    limit: usize,
    truncated: bool,
}

impl LogBuffer {
    const MARK: &'static str = "[log truncated]\n";

    pub(crate) fn new(limit: usize) -> Self {
        Self {
            text: String::new(),
            limit,
            truncated: false,
        }
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
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

/// Installs `console` (`log`, `info`, `warn`, `error`, `debug`), each call one line of `logs`.
pub(crate) fn install_console<'js>(
    ctx: &Ctx<'js>,
    logs: &Rc<RefCell<LogBuffer>>,
    watch: &Watch,
) -> rquickjs::Result<()> {
    let write = {
        let logs = Rc::clone(logs);
        let watch = watch.clone();
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, values: Rest<Value<'js>>| -> rquickjs::Result<()> {
                if logs.borrow().truncated {
                    return Ok(());
                }
                let mut line = String::new();
                for (i, value) in values.0.into_iter().enumerate() {
                    if i > 0 {
                        line.push(' ');
                    }
                    line.push_str(&show(&ctx, value, &watch)?);
                }
                logs.borrow_mut().push(&line);
                Ok(())
            },
        )?
    };
    let console = Object::new(ctx.clone())?;
    for name in ["log", "info", "warn", "error", "debug"] {
        console.set(name, write.clone())?;
    }
    ctx.globals().set("console", console)
}

/// A value as `console.log` shows it: strings as they are, other values as JSON, and what JSON
/// cannot show (`undefined`, functions, symbols) as `String(value)`.
fn show<'js>(ctx: &Ctx<'js>, value: Value<'js>, watch: &Watch) -> rquickjs::Result<String> {
    const UNPRINTABLE: &str = "[unprintable]";
    if let Some(text) = value.as_string() {
        return text.to_string();
    }
    if let Some(symbol) = value.as_symbol() {
        let description = symbol
            .description()
            .ok()
            .and_then(|d| d.as_string().and_then(|s| s.to_string().ok()))
            .unwrap_or_default();
        return Ok(format!("Symbol({description})"));
    }
    match ctx.json_stringify(value.clone()) {
        Ok(Some(text)) => text.to_string(),
        Ok(None) => Ok(to_text(ctx, value, watch)?.unwrap_or_else(|| UNPRINTABLE.to_owned())),
        Err(error) => recover(ctx, error, watch).map(|()| UNPRINTABLE.to_owned()),
    }
}
