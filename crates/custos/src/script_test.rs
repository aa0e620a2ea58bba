//! `custos actions test FILE --trigger T --event event.json`: runs an Action locally, in the
//! same sandbox and with the same limits as the server, against a sample event, and prints
//! what it decided (outcome, claims, metadata, cache, logs) as JSON. Nothing is stored.

use std::path::Path;

use anyhow::{bail, Context};
use custos_domain::extensibility::TRIGGERS;
use custos_rules::{claim_allowed, ActionEnd, Engine};
use serde_json::{json, Map, Value};

/// A sample event with the fields most scripts read, used where `--event` is not given.
fn sample_event() -> Value {
    json!({
        "user": {
            "user_id": "auth0|0123456789abcdef01234567",
            "email": "house@clinic.example",
            "email_verified": true,
            "name": "Gregory House",
            "app_metadata": {"roles": ["doctor"]},
            "user_metadata": {},
            "identities": [{"provider": "auth0", "connection": "Username-Password-Authentication", "isSocial": false}],
        },
        "client": {"client_id": "sample-client", "name": "Sample app", "metadata": {}},
        "connection": {"name": "Username-Password-Authentication", "strategy": "auth0"},
        "request": {"ip": "127.0.0.1", "user_agent": "custos actions test", "hostname": "localhost", "query": {}, "body": {}},
        "authorization": {"roles": []},
        "stats": {"logins_count": 1},
        "secrets": {},
        "tenant": {"id": "custos"},
    })
}

/// Runs the test; `Ok(true)` when the script let the flow continue.
pub fn run(
    file: &Path,
    trigger: &str,
    event: Option<&Path>,
    limits: custos_rules_js::Limits,
) -> anyhow::Result<bool> {
    if !TRIGGERS.contains(&trigger) {
        bail!(
            "unknown trigger '{trigger}'; one of: {}",
            TRIGGERS.join(", ")
        );
    }
    let code =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let event: Value = match event {
        Some(p) => serde_json::from_str(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("{} is not JSON", p.display()))?,
        None => sample_event(),
    };
    if !event.is_object() {
        bail!("the event must be a JSON object");
    }
    let network = custos_rules::HttpsNetwork::new(None)
        .map_err(|e| anyhow::anyhow!("starting the HTTPS client: {e}"))?;
    // A script reaches only the hosts it declares (`// @custos-allow-https host`), as on the
    // server.
    let engine = custos_rules_js::JsEngine::new(limits).with_network(std::sync::Arc::new(network));
    if let Err(e) = engine.check_action(&code) {
        bail!("{}: {}", file.display(), e.message);
    }
    let run = engine.run_action(&code, trigger, &event, &Map::new());
    let mut out = json!({
        "trigger": trigger,
        "duration_ms": run.duration.as_secs_f64() * 1000.0,
        "logs": run.logs,
    });
    let allowed = matches!(run.end, ActionEnd::Continue(_));
    let details = match run.end {
        ActionEnd::Continue(e) => {
            let (id, id_dropped) = split_claims(e.id_token_claims);
            let (access, access_dropped) = split_claims(e.access_token_claims);
            let mut dropped = id_dropped;
            dropped.extend(access_dropped);
            json!({
                "outcome": "continued",
                "id_token_claims": id,
                "access_token_claims": access,
                "dropped_claims": dropped,
                "app_metadata": e.app_metadata,
                "user_metadata": e.user_metadata,
                "multifactor": e.multifactor,
                "cache": {"set": e.cache_set, "delete": e.cache_delete},
            })
        }
        ActionEnd::Denied {
            reason,
            code,
            user_message,
        } => {
            json!({"outcome": "denied", "reason": reason, "code": code, "user_message": user_message})
        }
        ActionEnd::Failed { error } => json!({"outcome": "failed", "error": error}),
        ActionEnd::TimedOut => {
            json!({"outcome": "timed_out", "error": format!("the script ran past its {} ms limit", engine.time_limit().as_millis())})
        }
    };
    if let (Some(o), Value::Object(d)) = (out.as_object_mut(), details) {
        o.extend(d);
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(allowed)
}

/// The claims the server would put in a token, and the names it would refuse.
fn split_claims(claims: Map<String, Value>) -> (Map<String, Value>, Vec<String>) {
    let mut kept = Map::new();
    let mut dropped = Vec::new();
    for (k, v) in claims {
        if claim_allowed(&k) {
            kept.insert(k, v);
        } else {
            dropped.push(k);
        }
    }
    (kept, dropped)
}
