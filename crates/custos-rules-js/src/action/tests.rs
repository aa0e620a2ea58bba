//! Action decisions per trigger, the `api`'s records, and the hostile cases Rules are held to.

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::*;
use crate::sandbox::Limits;

fn sandbox() -> Sandbox {
    Sandbox::new(Limits::default()).unwrap()
}

fn event() -> Value {
    json!({
        "user": {
            "user_id": "auth0|123",
            "email": "ada@example.com",
            "app_metadata": { "department": "cardiology", "hipaa_training_completed_at": "2026-01-05" },
            "user_metadata": {}
        },
        "client": { "client_id": "client-1", "name": "Records" },
        "request": { "ip": "203.0.113.7", "hostname": "id.example.com" },
        "secrets": { "API_KEY": "s3cret" },
        "transaction": { "requested_scopes": ["openid"] }
    })
}

fn run_on(sandbox: &Sandbox, code: &str, trigger: &str, event: &Value) -> ActionExecution {
    run_action(sandbox, code, trigger, event, &Map::new())
}

fn run(code: &str, trigger: &str) -> ActionExecution {
    run_on(&sandbox(), code, trigger, &event())
}

fn post_login(body: &str) -> ActionOutcome {
    let code = format!("exports.onExecutePostLogin = async (event, api) => {{ {body} }};");
    run(&code, "post-login").outcome
}

fn effects(outcome: ActionOutcome) -> Effects {
    match outcome {
        ActionOutcome::Continue(effects) => effects,
        other => panic!("expected Continue, got {other:?}"),
    }
}

fn failed(outcome: &ActionOutcome) -> &str {
    match outcome {
        ActionOutcome::Failed { error } => error,
        other => panic!("expected Failed, got {other:?}"),
    }
}

fn denied(reason: &str, code: Option<&str>, user_message: Option<&str>) -> ActionOutcome {
    ActionOutcome::Denied {
        reason: reason.to_owned(),
        code: code.map(str::to_owned),
        user_message: user_message.map(str::to_owned),
    }
}

/// Hostile code must end quickly and never allow.
fn contained(body: &str) -> ActionOutcome {
    let started = Instant::now();
    let outcome = post_login(body);
    assert!(!outcome.allows(), "{body} allowed: {outcome:?}");
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{body} took {:?}",
        started.elapsed()
    );
    outcome
}

const HIPAA: &str = "exports.onExecutePostLogin = async (event, api) => { if (!event.user.app_metadata || !event.user.app_metadata.hipaa_training_completed_at) { api.access.deny('HIPAA training required'); } }";

#[test]
fn the_hipaa_example() {
    let sandbox = sandbox();
    let trained = run_on(&sandbox, HIPAA, "post-login", &event());
    assert_eq!(trained.outcome, ActionOutcome::Continue(Effects::default()));

    let mut untrained = event();
    untrained["user"]["app_metadata"] = json!({ "department": "cardiology" });
    let execution = run_on(&sandbox, HIPAA, "post-login", &untrained);
    assert_eq!(
        execution.outcome,
        denied("HIPAA training required", None, None)
    );

    let mut bare = event();
    bare["user"].as_object_mut().unwrap().remove("app_metadata");
    let execution = run_on(&sandbox, HIPAA, "post-login", &bare);
    assert!(!execution.outcome.allows());
}

#[test]
fn claim_enrichment_from_app_metadata() {
    let code = r#"
const NAMESPACE = 'https://example.com';
exports.onExecutePostLogin = async (event, api) => {
  const { department } = event.user.app_metadata || {};
  if (department) {
    api.idToken.setCustomClaim(`${NAMESPACE}/department`, department);
    api.accessToken.setCustomClaim(`${NAMESPACE}/department`, department);
  }
};"#;
    let effects = effects(run(code, "post-login").outcome);
    assert_eq!(
        effects.id_token_claims["https://example.com/department"],
        "cardiology"
    );
    assert_eq!(
        effects.access_token_claims["https://example.com/department"],
        "cardiology"
    );
}

#[test]
fn module_shapes() {
    let shapes = [
        "exports.onExecutePostLogin = async (event, api) => { api.idToken.setCustomClaim('k', 1); };",
        "module.exports = { onExecutePostLogin: async (event, api) => { api.idToken.setCustomClaim('k', 1); } };",
        "module.exports.onExecutePostLogin = function (event, api) { api.idToken.setCustomClaim('k', 1); };",
        "'use strict';\nasync function onExecutePostLogin(event, api) { api.idToken.setCustomClaim('k', 1); }\nmodule.exports = { onExecutePostLogin };",
        "exports.onExecutePostLogin = (event, api) => Promise.resolve().then(() => api.idToken.setCustomClaim('k', 1));",
        "exports.onExecutePostLogin = (event, api) => ({ then(resolve) { api.idToken.setCustomClaim('k', 1); resolve(); } });",
    ];
    for code in shapes {
        let effects = effects(run(code, "post-login").outcome);
        assert_eq!(effects.id_token_claims["k"], 1, "{code}");
    }
}

#[test]
fn post_login_api() {
    let effects = effects(post_login(
        r#"
        const same = api.idToken.setCustomClaim('a', { nested: [1, 'two', null] });
        if (same !== api) throw new Error('setters must return api');
        api.accessToken.setCustomClaim('scope_hint', 'read')
           .user.setAppMetadata('plan', 'gold')
           .user.setAppMetadata('legacy', undefined)
           .user.setAppMetadata('old', null)
           .user.setUserMetadata('theme', 'dark');
        api.idToken.setCustomClaim('gone', 1);
        api.idToken.setCustomClaim('gone', undefined);
        api.multifactor.enable('duo', { allowRememberBrowser: false });
        api.multifactor.enable('any', { allowRememberBrowser: true, providerOptions: { x: 1 } });
        "#,
    ));
    assert_eq!(
        Value::Object(effects.id_token_claims),
        json!({ "a": { "nested": [1, "two", null] } })
    );
    assert_eq!(
        Value::Object(effects.access_token_claims),
        json!({ "scope_hint": "read" })
    );
    assert_eq!(
        Value::Object(effects.app_metadata),
        json!({ "plan": "gold", "legacy": null, "old": null })
    );
    assert_eq!(
        Value::Object(effects.user_metadata),
        json!({ "theme": "dark" })
    );
    assert_eq!(
        effects.multifactor,
        Some(
            json!({ "provider": "any", "options": { "allowRememberBrowser": true, "providerOptions": { "x": 1 } } })
        )
    );
}

#[test]
fn each_trigger_has_its_api() {
    let probe = |trigger: &str, handler: &str| {
        let code = format!(
            "exports.{handler} = async (event, api) => {{
               const shape = {{}};
               for (const [k, v] of Object.entries(api)) shape[k] = Object.keys(v).sort().join(',');
               api.cache.set('shape', JSON.stringify(shape));
             }};"
        );
        let effects = effects(run(&code, trigger).outcome);
        let text = effects.cache_set["shape"]["value"]
            .as_str()
            .unwrap()
            .to_owned();
        serde_json::from_str::<Value>(&text).unwrap()
    };
    let cache = "delete,get,set";
    assert_eq!(
        probe("post-login", "onExecutePostLogin"),
        json!({ "access": "deny", "idToken": "setCustomClaim", "accessToken": "setCustomClaim",
                "user": "setAppMetadata,setUserMetadata", "multifactor": "enable", "cache": cache })
    );
    assert_eq!(
        probe("credentials-exchange", "onExecuteCredentialsExchange"),
        json!({ "access": "deny", "accessToken": "setCustomClaim", "cache": cache })
    );
    assert_eq!(
        probe("pre-user-registration", "onExecutePreUserRegistration"),
        json!({ "access": "deny", "user": "setAppMetadata,setUserMetadata", "validation": "error", "cache": cache })
    );
    assert_eq!(
        probe("post-user-registration", "onExecutePostUserRegistration"),
        json!({ "cache": cache })
    );
    assert_eq!(
        probe("post-change-password", "onExecutePostChangePassword"),
        json!({ "cache": cache })
    );
    assert_eq!(
        probe("access-check", "onExecuteAccessCheck"),
        json!({ "access": "deny", "cache": cache })
    );
}

#[test]
fn deny_variants() {
    let cases: &[(&str, &str, &str, ActionOutcome)] = &[
        (
            "post-login",
            "onExecutePostLogin",
            "api.access.deny('no access')",
            denied("no access", None, None),
        ),
        (
            "credentials-exchange",
            "onExecuteCredentialsExchange",
            "api.access.deny('invalid_scope', 'scope not allowed')",
            denied("scope not allowed", Some("invalid_scope"), None),
        ),
        (
            "pre-user-registration",
            "onExecutePreUserRegistration",
            "api.access.deny('blocked domain', 'Please use your work email')",
            denied("blocked domain", None, Some("Please use your work email")),
        ),
        (
            "pre-user-registration",
            "onExecutePreUserRegistration",
            "api.validation.error('invalid_email', 'That email cannot sign up')",
            denied(
                "That email cannot sign up",
                Some("invalid_email"),
                Some("That email cannot sign up"),
            ),
        ),
        (
            "access-check",
            "onExecuteAccessCheck",
            "api.access.deny('outside office hours')",
            denied("outside office hours", None, None),
        ),
        // The first deny wins; effects are dropped; the handler may go on and return.
        (
            "post-login",
            "onExecutePostLogin",
            "api.idToken.setCustomClaim('a', 1); api.access.deny('first'); api.access.deny('second'); return 'done';",
            denied("first", None, None),
        ),
        // A deny from a job the handler did not await still counts.
        (
            "post-login",
            "onExecutePostLogin",
            "Promise.resolve().then(() => api.access.deny('later'));",
            denied("later", None, None),
        ),
        // Deny returns api, like the setters.
        (
            "post-login",
            "onExecutePostLogin",
            "api.access.deny('chained').idToken.setCustomClaim('x', 1);",
            denied("chained", None, None),
        ),
    ];
    for (trigger, handler, body, expected) in cases {
        let code = format!("exports.{handler} = async (event, api) => {{ {body} }};");
        assert_eq!(&run(&code, trigger).outcome, expected, "{trigger}: {body}");
    }
}

#[test]
fn unhandled_rejections_fail_the_execution() {
    let outcome = post_login("Promise.reject(new Error('detached'));");
    assert_eq!(
        failed(&outcome),
        "unhandled promise rejection: Error: detached"
    );
    let outcome = post_login("(async () => { await null; throw new TypeError('later'); })();");
    assert_eq!(
        failed(&outcome),
        "unhandled promise rejection: TypeError: later"
    );
    // Handled late, as Node.js allows within the same turn, is fine.
    let outcome =
        post_login("const p = Promise.reject(new Error('x')); await null; p.catch(() => {});");
    assert!(outcome.allows(), "{outcome:?}");
    // A detached chain that runs out of memory does not pass for a success.
    let sandbox = Sandbox::new(Limits {
        time: Duration::from_secs(2),
        ..Limits::default()
    })
    .unwrap();
    let execution = run_on(
        &sandbox,
        "exports.onExecutePostLogin = async () => { const f = () => Promise.resolve().then(f); f(); };",
        "post-login",
        &event(),
    );
    assert!(!execution.outcome.allows(), "{:?}", execution.outcome);
}

#[test]
fn a_throw_after_a_deny_is_a_failure() {
    let outcome = post_login("api.access.deny('no'); throw new Error('then broke');");
    assert_eq!(failed(&outcome), "Error: then broke");
}

#[test]
fn the_event_arrives_as_given() {
    let effects = effects(post_login(
        "api.idToken.setCustomClaim('echo', [event.user.email, event.client.client_id, event.request.ip, event.secrets.API_KEY, event.transaction.requested_scopes]);",
    ));
    assert_eq!(
        effects.id_token_claims["echo"],
        json!([
            "ada@example.com",
            "client-1",
            "203.0.113.7",
            "s3cret",
            ["openid"]
        ])
    );
}

#[test]
fn values_that_are_not_json_fail_the_execution() {
    let cases = [
        ("api.idToken.setCustomClaim('f', () => 1);", "a function"),
        (
            "const a = {}; a.self = a; api.accessToken.setCustomClaim('cycle', a);",
            "circular",
        ),
        ("api.user.setAppMetadata('s', Symbol('x'));", "a symbol"),
        (
            "try { api.user.setUserMetadata('f', function () {}); } catch (e) {} api.idToken.setCustomClaim('ok', 1);",
            "a function",
        ),
        (
            "api.multifactor.enable('duo', { get bad() { throw new Error('nope'); } });",
            "nope",
        ),
    ];
    for (body, why) in cases {
        let outcome = post_login(body);
        let error = failed(&outcome);
        assert!(error.contains("not JSON-serialisable"), "{body}: {error}");
        assert!(error.contains(why), "{body}: {error}");
    }
}

#[test]
fn cache_get_set_delete() {
    let mut cache = Map::new();
    cache.insert(
        "token".into(),
        json!({ "value": "abc", "expires_at": 1_900_000_000_000_u64 }),
    );
    cache.insert(
        "stale".into(),
        json!({ "value": "old", "expires_at": 1_800_000_000_000_u64 }),
    );
    let code = r#"exports.onExecutePostLogin = async (event, api) => {
      const seen = [];
      const t = api.cache.get('token');
      seen.push(t.value, t.expires_at, typeof api.cache.get('missing'));
      seen.push(api.cache.set('fresh', 'v1', { ttl: 60000 }).type);
      seen.push(api.cache.get('fresh').value);
      seen.push(api.cache.set('until', 'v2', { expires_at: 1950000000000 }).type);
      seen.push(api.cache.get('until').expires_at);
      seen.push(api.cache.delete('stale').type, typeof api.cache.get('stale'));
      seen.push(api.cache.set('plain', 'v3').type);
      api.cache.set('temp', 'x');
      api.cache.delete('temp');
      api.idToken.setCustomClaim('seen', seen);
    };"#;
    let execution = run_action(&sandbox(), code, "post-login", &event(), &cache);
    let effects = effects(execution.outcome);
    assert_eq!(
        effects.id_token_claims["seen"],
        json!([
            "abc",
            1_900_000_000_000_u64,
            "undefined",
            "success",
            "v1",
            "success",
            1_950_000_000_000_u64,
            "success",
            "undefined",
            "success"
        ])
    );
    assert_eq!(
        Value::Object(effects.cache_set),
        json!({
            "fresh": { "value": "v1", "ttl_ms": 60000, "expires_at": null },
            "until": { "value": "v2", "ttl_ms": null, "expires_at": 1_950_000_000_000_u64 },
            "plain": { "value": "v3", "ttl_ms": null, "expires_at": null }
        })
    );
    assert_eq!(effects.cache_delete, ["stale", "temp"]);
}

#[test]
fn cache_limits() {
    let code = r#"exports.onExecutePostLogin = async (event, api) => {
      const r = (x) => x.type === 'success' ? 'ok' : x.code;
      const results = [
        r(api.cache.set('k'.repeat(65), 'v')),
        r(api.cache.set('k'.repeat(64), 'v')),
        r(api.cache.set('big', 'v'.repeat(4097))),
        r(api.cache.set('fits', 'v'.repeat(4096))),
        r(api.cache.set('n', 42)),
        r(api.cache.set(7, 'v')),
        r(api.cache.set('ttl0', 'v', { ttl: 0 })),
        r(api.cache.set('ttl-long', 'v', { ttl: 25 * 3600 * 1000 })),
        r(api.cache.set('ttl-nan', 'v', { ttl: 'soon' })),
        r(api.cache.set('opts', 'v', 5)),
      ];
      for (let i = 0; results.length < 40; i++) results.push(r(api.cache.set('e' + i, 'v')));
      api.idToken.setCustomClaim('results', results);
    };"#;
    let effects = effects(run(code, "post-login").outcome);
    let results = effects.id_token_claims["results"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        results[..10],
        [
            "invalid_argument",
            "ok",
            "invalid_argument",
            "ok",
            "invalid_argument",
            "invalid_argument",
            "invalid_argument",
            "invalid_argument",
            "invalid_argument",
            "invalid_argument"
        ]
    );
    // Two entries are already set; 18 more fit, the rest exceed the quota.
    let ok = results[10..].iter().filter(|r| *r == "ok").count();
    assert_eq!(ok, 18);
    assert!(results[28..].iter().all(|r| r == "quota_exceeded"));
    assert_eq!(effects.cache_set.len(), 20);
}

#[test]
fn sync_and_async_handlers() {
    let cases = [
        "exports.onExecutePostLogin = (event, api) => { api.idToken.setCustomClaim('n', 42); };",
        "exports.onExecutePostLogin = async (event, api) => { const n = await Promise.resolve(21); await null; api.idToken.setCustomClaim('n', n * 2); };",
        "exports.onExecutePostLogin = async (event, api) => { const n = await new Promise((resolve) => resolve(42)); api.idToken.setCustomClaim('n', n); };",
    ];
    for code in cases {
        let effects = effects(run(code, "post-login").outcome);
        assert_eq!(effects.id_token_claims["n"], 42, "{code}");
    }
}

#[test]
fn failures() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "exports.onExecutePostLogin = async () => { throw new TypeError('boom'); };",
            "post-login",
            "TypeError: boom",
        ),
        (
            "exports.onExecutePostLogin = () => Promise.reject(new Error('rejected'));",
            "post-login",
            "Error: rejected",
        ),
        (
            "exports.onExecutePostLogin = async () => { await new Promise(() => {}); };",
            "post-login",
            "the action's promise never settled",
        ),
        (
            "exports.onExecutePostLogin = async () => {};",
            "credentials-exchange",
            "the action does not export onExecuteCredentialsExchange, which the credentials-exchange trigger runs",
        ),
        (
            "module.exports = 42;",
            "post-login",
            "the action does not export onExecutePostLogin, which the post-login trigger runs",
        ),
        (
            "exports.onExecutePostLogin = 'not a function';",
            "post-login",
            "the action does not export onExecutePostLogin, which the post-login trigger runs",
        ),
        (
            "throw new Error('at load');",
            "post-login",
            "Error: at load",
        ),
        (
            "exports.onExecutePostLogin = async () => {};",
            "pre-login",
            "unknown trigger 'pre-login'; Actions run for post-login, credentials-exchange, pre-user-registration, post-user-registration, post-change-password, access-check",
        ),
    ];
    for (code, trigger, expected) in cases {
        let outcome = run(code, trigger).outcome;
        assert_eq!(failed(&outcome), *expected, "{code}");
    }
}

#[test]
fn require_and_host_globals() {
    let outcome = contained("require('fs');");
    assert_eq!(
        failed(&outcome),
        "Error: require('fs'): modules are not available in the Custos sandbox"
    );
    let outcome = run(
        "const axios = require('axios'); exports.onExecutePostLogin = async () => {};",
        "post-login",
    )
    .outcome;
    assert!(failed(&outcome).contains("modules are not available"));

    let outcome = contained("api.idToken.setCustomClaim('env', process.env);");
    assert!(failed(&outcome).contains("process"), "{outcome:?}");

    let effects = effects(post_login(
        "api.idToken.setCustomClaim('types', [typeof require, typeof module, typeof exports, typeof process, typeof fetch, typeof setTimeout, typeof global, typeof Buffer, typeof UnauthorizedError, typeof configuration].join(','));",
    ));
    assert_eq!(
        effects.id_token_claims["types"],
        "function,object,object,undefined,undefined,undefined,undefined,undefined,undefined,undefined"
    );
}

#[test]
fn hostile_handlers_are_contained() {
    type Check = fn(&ActionOutcome) -> bool;
    let timed_out: Check = |o| *o == ActionOutcome::TimedOut;
    let failed_or_timed_out: Check =
        |o| matches!(o, ActionOutcome::Failed { .. } | ActionOutcome::TimedOut);
    let cases: &[(&str, Check)] = &[
        ("while (true) {}", timed_out),
        ("await null; while (true) {}", timed_out),
        (
            "await new Promise((resolve) => { Promise.resolve().then(() => { while (true) {} }); });",
            timed_out,
        ),
        (
            "const f = () => Promise.resolve().then(f); f();",
            timed_out,
        ),
        (
            "try { while (true) {} } catch (e) {} api.idToken.setCustomClaim('escaped', 1);",
            timed_out,
        ),
        (
            "function r(n) { return r(n + 1) + 1; } r(0);",
            |o| matches!(o, ActionOutcome::Failed { error } if error.contains("stack")),
        ),
        (
            "const a = []; while (true) a.push(new Array(1e6).fill(1));",
            failed_or_timed_out,
        ),
        ("let s = 'x'; while (true) s += s;", failed_or_timed_out),
        (
            "let s = 'x'; while (true) { try { s += s; } catch (e) {} }",
            timed_out,
        ),
        (
            "api.idToken.setCustomClaim('big', 'x'.repeat(1 << 30));",
            failed_or_timed_out,
        ),
        (
            "const o = { toJSON() { while (true) {} } }; api.idToken.setCustomClaim('o', o);",
            timed_out,
        ),
        (
            "console.log({ toJSON() { while (true) {} } });",
            timed_out,
        ),
        (
            "await import('fs');",
            |o| !o.allows(),
        ),
    ];
    for (body, expected) in cases {
        let outcome = contained(body);
        assert!(expected(&outcome), "{body}: {outcome:?}");
    }
}

#[test]
fn state_never_leaks_between_executions() {
    let sandbox = sandbox();
    let polluter = r#"
      globalThis.leaked = 'secret';
      Object.prototype.polluted = 1;
      Array.prototype.includes = () => true;
      JSON.stringify = () => '{}';
      Promise.resolve = () => { throw new Error('tampered'); };
      exports.onExecutePostLogin = async (event, api) => {
        globalThis.fromHandler = event.user.email;
        api.idToken.setCustomClaim('ran', true);
      };"#;
    let probe = r#"exports.onExecutePostLogin = async (event, api) => {
      api.idToken.setCustomClaim('seen', [typeof leaked, typeof fromHandler, ({}).polluted, [].includes('a')]);
    };"#;
    for _ in 0..2 {
        let polluted = run_on(&sandbox, polluter, "post-login", &event());
        assert_eq!(effects(polluted.outcome).id_token_claims["ran"], true);
        sandbox.prepare().unwrap();
        let probed = effects(run_on(&sandbox, probe, "post-login", &event()).outcome);
        assert_eq!(
            probed.id_token_claims["seen"],
            json!(["undefined", "undefined", null, false])
        );
    }
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let code = "exports.onExecutePostLogin = async (event, api) => {\n  const x = ;\n};";
    match compile_action_check(code) {
        Err(ScriptError::Syntax { line, column, .. }) => {
            assert_eq!(line, 2);
            assert!((11..=13).contains(&column), "column {column}");
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    // The first line's columns are the code's own, not shifted by the module wrapper.
    match compile_action_check("exports.a = = 1;") {
        Err(ScriptError::Syntax { line, column, .. }) => {
            assert_eq!(line, 1);
            assert!((12..=14).contains(&column), "column {column}");
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    // An unclosed brace is reported at the end of the code, not in the wrapper.
    match compile_action_check("exports.onExecutePostLogin = async () => {\n  if (x) {\n") {
        Err(ScriptError::Syntax { line, .. }) => assert!(line <= 3, "line {line}"),
        other => panic!("expected a syntax error, got {other:?}"),
    }
    assert_eq!(compile_action_check(HIPAA), Ok(()));
    assert_eq!(
        compile_action_check("exports.onExecutePostLogin = async () => {}; // done"),
        Ok(())
    );

    let outcome = run(code, "post-login").outcome;
    assert!(
        failed(&outcome).starts_with("syntax error at line 2"),
        "{outcome:?}"
    );
}

#[test]
fn compile_check_runs_nothing() {
    // The module body is not run at save time.
    assert_eq!(compile_action_check("while (true) {}"), Ok(()));
    assert_eq!(compile_action_check("require('fs');"), Ok(()));
}

#[test]
fn console_output_is_captured() {
    let execution = run(
        "exports.onExecutePostLogin = async (event, api) => { console.log('user', event.user.user_id, { a: 1 }); console.warn(undefined, null, 2); };",
        "post-login",
    );
    assert!(execution.outcome.allows());
    assert_eq!(
        execution.logs,
        "user auth0|123 {\"a\":1}\nundefined null 2\n"
    );
}

#[test]
fn the_sandbox_recovers_after_hostile_actions() {
    let sandbox = sandbox();
    for hostile in [
        "exports.onExecutePostLogin = async () => { while (true) {} };",
        "exports.onExecutePostLogin = async () => { const a = []; while (true) a.push(new Array(1e6).fill(1)); };",
        "exports.onExecutePostLogin = async () => { const f = () => Promise.resolve().then(f); f(); };",
        "exports.onExecutePostLogin = async () => { await new Promise(() => {}); };",
    ] {
        let execution = run_on(&sandbox, hostile, "post-login", &event());
        assert!(!execution.outcome.allows(), "{hostile}");
        assert!(
            execution.duration < Duration::from_millis(900),
            "{hostile}: {:?}",
            execution.duration
        );
        sandbox.prepare().unwrap();
        assert!(run_on(&sandbox, HIPAA, "post-login", &event())
            .outcome
            .allows());
    }
}

#[test]
fn every_listed_trigger_is_known() {
    for &id in ACTION_TRIGGERS {
        let trigger = api::Trigger::from_id(id).unwrap();
        assert_eq!(trigger.id(), id);
        assert!(trigger.handler().starts_with("onExecute"));
    }
}

#[test]
fn reentrant_api_calls_are_recorded_in_order() {
    let effects = effects(post_login(
        r#"api.idToken.setCustomClaim('outer', { toJSON() { api.idToken.setCustomClaim('inner', 1); api.cache.set('k', 'v'); return 'o'; } });
           console.log({ toJSON() { api.user.setAppMetadata('from_log', true); return 'x'; } });"#,
    ));
    assert_eq!(
        Value::Object(effects.id_token_claims),
        json!({ "inner": 1, "outer": "o" })
    );
    assert_eq!(effects.app_metadata["from_log"], true);
    assert_eq!(effects.cache_set["k"]["value"], "v");
}
