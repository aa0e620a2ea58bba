//! `fetch(url, {method, headers, body})` for a script that declared HTTPS hosts (see
//! [`crate::AllowList`]). Without a declaration there is no `fetch` at all.
//!
//! Native like the rest of the host surface. The checks are the host's, out of the script's
//! reach: the URL parses, is `https`, carries no credentials, and its `host[:port]` is one the
//! script declared; at most [`MAX_REQUESTS`] requests per execution; the request's timeout is
//! the time left before the execution's deadline. The request itself is a blocking call to the
//! host's [`Network`] made inside the native function: the interrupt handler cannot stop a
//! script while it waits, so that timeout is what bounds the wait, and a response that comes
//! back after the deadline still ends the execution as timed out.
//!
//! Every failure (a refused URL, a network error, a timeout) rejects the returned promise with
//! a `TypeError`, as Node.js's `fetch` does; a script that does not catch it fails, and a
//! failed script denies.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use custos_rules::{HttpRequest, HttpResponse, Network};
use rquickjs::function::Opt;
use rquickjs::{Ctx, Exception, Function, Object, Promise, Value};

use crate::directive::{AllowList, DIRECTIVE};
use crate::host::{caught, to_text};
use crate::sandbox::Watch;

/// Requests one execution may make.
pub const MAX_REQUESTS: u32 = 5;

/// What a call to `fetch` comes to: a response, or the message of the `TypeError` its promise
/// is rejected with.
type Outcome = Result<(HttpResponse, String), String>;

/// Defines the global `fetch` when the script declared hosts. With no `network`, `fetch`
/// exists but every call is rejected (the server was not given network access).
pub(crate) fn install<'js>(
    ctx: &Ctx<'js>,
    allowed: &AllowList,
    network: Option<&Arc<dyn Network>>,
    watch: &Watch,
) -> rquickjs::Result<()> {
    if allowed.is_empty() {
        return Ok(());
    }
    let allowed = Rc::new(allowed.clone());
    let network = network.cloned();
    let watch = watch.clone();
    let sent = Cell::new(0u32);
    let fetch = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>,
              resource: Opt<Value<'js>>,
              init: Opt<Value<'js>>|
              -> rquickjs::Result<Promise<'js>> {
            let (promise, resolve, reject) = ctx.promise()?;
            let outcome = match read_request(&ctx, resource.0, init.0, &watch)? {
                Err(message) => Err(message),
                Ok(request) => send(request, &allowed, network.as_deref(), &sent, &watch),
            };
            match outcome {
                Ok((response, url)) => {
                    let response = response_object(&ctx, response, url, &watch)?;
                    resolve.call::<_, ()>((response,))?;
                }
                Err(message) => {
                    let error = type_error(&ctx, &message)?;
                    reject.call::<_, ()>((error,))?;
                }
            }
            Ok(promise)
        },
    )?;
    ctx.globals().set("fetch", fetch)
}

/// Checks the request against the script's declaration and the execution's limits, then sends
/// it.
fn send(
    mut request: HttpRequest,
    allowed: &AllowList,
    network: Option<&dyn Network>,
    sent: &Cell<u32>,
    watch: &Watch,
) -> Outcome {
    let url = url::Url::parse(&request.url).map_err(|_| "fetch: the URL does not parse")?;
    if url.scheme() != "https" {
        return Err(format!(
            "fetch: only https URLs are allowed, not {}:",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("fetch: URLs with credentials are not allowed".to_owned());
    }
    let host = url.host_str().ok_or("fetch: the URL has no host")?;
    // `port()` is `None` for 443, as in the normalised allow-list.
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    if !allowed.permits(&authority) {
        return Err(format!(
            "fetch: {authority} is not in the script's allow-list (declare it with a line `// {DIRECTIVE} {authority}`)"
        ));
    }
    let network = network.ok_or("fetch: network access is not configured")?;
    if sent.get() >= MAX_REQUESTS {
        return Err(format!(
            "fetch: a script may make at most {MAX_REQUESTS} requests per execution"
        ));
    }
    sent.set(sent.get() + 1);
    let left = watch.remaining();
    if left.is_zero() {
        return Err("fetch: the script's time is up".to_owned());
    }
    request.url = url.into();
    network
        .fetch(&request, left)
        .map(|response| (response, request.url))
        .map_err(|error| format!("fetch to {authority} failed: {error}"))
}

/// The request the script asked for, or why it is not one. A getter of the options that throws
/// makes `fetch` throw (so an interrupt is never swallowed).
fn read_request<'js>(
    ctx: &Ctx<'js>,
    resource: Option<Value<'js>>,
    init: Option<Value<'js>>,
    watch: &Watch,
) -> rquickjs::Result<Result<HttpRequest, String>> {
    let given = |value: &Value<'js>| !value.is_undefined() && !value.is_null();
    let url = match resource.filter(given) {
        Some(value) => to_text(ctx, value, watch)?,
        None => None,
    };
    let Some(url) = url else {
        return Ok(Err("fetch: a URL is required".to_owned()));
    };
    let mut request = HttpRequest {
        method: "GET".to_owned(),
        url,
        headers: Vec::new(),
        body: None,
    };
    let Some(init) = init.filter(given) else {
        return Ok(Ok(request));
    };
    let Some(init) = init.as_object() else {
        return Ok(Err("fetch: the options must be an object".to_owned()));
    };
    let method: Value = init.get("method")?;
    if given(&method) {
        match to_text(ctx, method, watch)? {
            Some(method) => request.method = method.to_ascii_uppercase(),
            None => return Ok(Err("fetch: the method must be a string".to_owned())),
        }
    }
    let headers: Value = init.get("headers")?;
    if given(&headers) {
        match header_list(ctx, headers)? {
            Ok(headers) => request.headers = headers,
            Err(message) => return Ok(Err(message)),
        }
    }
    let body: Value = init.get("body")?;
    if given(&body) {
        match body.as_string() {
            Some(text) => request.body = Some(text.to_string()?),
            None => {
                return Ok(Err(
                    "fetch: the body must be a string (use JSON.stringify for JSON)".to_owned(),
                ))
            }
        }
    }
    if request.body.is_some() && matches!(request.method.as_str(), "GET" | "HEAD") {
        return Ok(Err(
            "fetch: a GET or HEAD request cannot have a body".to_owned()
        ));
    }
    Ok(Ok(request))
}

/// `headers` as name/value pairs: an object of names to values, or an array of `[name, value]`
/// pairs. Read through the engine's own `JSON.stringify`, so only plain data counts.
fn header_list<'js>(
    ctx: &Ctx<'js>,
    headers: Value<'js>,
) -> rquickjs::Result<Result<Vec<(String, String)>, String>> {
    const SHAPE: &str =
        "fetch: headers must be an object of names to values, or [name, value] pairs";
    let text = match ctx.json_stringify(headers)? {
        Some(text) => text.to_string()?,
        None => return Ok(Err(SHAPE.to_owned())),
    };
    let scalar = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Number(number) => Some(number.to_string()),
        serde_json::Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    };
    let pairs: Option<Vec<(String, String)>> = match serde_json::from_str(&text) {
        Ok(serde_json::Value::Object(map)) => map
            .iter()
            .map(|(name, value)| scalar(value).map(|value| (name.clone(), value)))
            .collect(),
        Ok(serde_json::Value::Array(items)) => items
            .iter()
            .map(|item| match item.as_array().map(Vec::as_slice) {
                Some([serde_json::Value::String(name), value]) => {
                    scalar(value).map(|value| (name.clone(), value))
                }
                _ => None,
            })
            .collect(),
        _ => None,
    };
    Ok(pairs.ok_or_else(|| SHAPE.to_owned()))
}

/// A `TypeError` made by the engine itself (not by the global a script may have replaced).
fn type_error<'js>(ctx: &Ctx<'js>, message: &str) -> rquickjs::Result<Value<'js>> {
    let _ = Exception::throw_type(ctx, "");
    let error = ctx.catch();
    if let Some(object) = error.as_object() {
        // Set afterwards: the engine's own constructor truncates long messages.
        object.set("message", message)?;
    }
    Ok(error)
}

/// The response as a script sees it: `status`, `ok`, `url`, `redirected`, `headers.get(name)` /
/// `headers.has(name)` (case-insensitive; repeated headers joined with ", "), and `text()` and
/// `json()`, which resolve at once (the body has already been read).
fn response_object<'js>(
    ctx: &Ctx<'js>,
    response: HttpResponse,
    url: String,
    watch: &Watch,
) -> rquickjs::Result<Object<'js>> {
    let object = Object::new(ctx.clone())?;
    object.set("status", response.status)?;
    object.set("url", url)?;
    object.set("ok", (200..=299).contains(&response.status))?;
    object.set("redirected", false)?;
    object.set("headers", headers_object(ctx, response.headers, watch)?)?;
    let body: Rc<str> = response.body.into();
    let text = {
        let body = Rc::clone(&body);
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>| -> rquickjs::Result<Promise<'js>> {
                let (promise, resolve, _) = ctx.promise()?;
                resolve.call::<_, ()>((&*body,))?;
                Ok(promise)
            },
        )?
    };
    let json = {
        let watch = watch.clone();
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>| -> rquickjs::Result<Promise<'js>> {
                let (promise, resolve, reject) = ctx.promise()?;
                match ctx.json_parse(body.to_string()) {
                    Ok(value) => resolve.call::<_, ()>((value,))?,
                    Err(error) => {
                        // A `SyntaxError`, as `JSON.parse` throws; an interrupt goes on up.
                        let thrown = caught(&ctx, error, &watch)?;
                        reject.call::<_, ()>((thrown,))?;
                    }
                }
                Ok(promise)
            },
        )?
    };
    object.set("text", text)?;
    object.set("json", json)?;
    Ok(object)
}

fn headers_object<'js>(
    ctx: &Ctx<'js>,
    headers: Vec<(String, String)>,
    watch: &Watch,
) -> rquickjs::Result<Object<'js>> {
    let headers = Rc::new(headers);
    let lookup = |headers: &[(String, String)], name: &str| -> Option<String> {
        let values: Vec<&str> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    };
    let get = {
        let headers = Rc::clone(&headers);
        let watch = watch.clone();
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, name: Opt<Value<'js>>| -> rquickjs::Result<Value<'js>> {
                let name = match name.0 {
                    Some(name) => to_text(&ctx, name, &watch)?.unwrap_or_default(),
                    None => String::new(),
                };
                match lookup(&headers, &name) {
                    Some(value) => Ok(rquickjs::String::from_str(ctx, &value)?.into_value()),
                    None => Ok(Value::new_null(ctx)),
                }
            },
        )?
    };
    let has = {
        let watch = watch.clone();
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, name: Opt<Value<'js>>| -> rquickjs::Result<bool> {
                let name = match name.0 {
                    Some(name) => to_text(&ctx, name, &watch)?.unwrap_or_default(),
                    None => String::new(),
                };
                Ok(lookup(&headers, &name).is_some())
            },
        )?
    };
    let object = Object::new(ctx.clone())?;
    object.set("get", get)?;
    object.set("has", has)?;
    Ok(object)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
