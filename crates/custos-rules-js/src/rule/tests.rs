//! Rule decisions, table-driven where the shape allows, and every hostile case of issue 5.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;
use crate::sandbox::Limits;

/// The seed rule from the product brief, exactly as written.
const SEED_RULE: &str = include_str!("../../fixtures/seed-rule.js");

const DENIAL: &str = "Access denied. You do not have the required permissions.";

fn sandbox() -> Sandbox {
    Sandbox::new(Limits::default()).unwrap()
}

fn user(roles: &[&str]) -> Value {
    json!({
        "user_id": "auth0|123",
        "email": "ada@example.com",
        "app_metadata": { "roles": roles },
        "user_metadata": {}
    })
}

fn context(body: Value) -> Value {
    json!({
        "clientID": "client-1",
        "clientName": "Records",
        "connection": "Username-Password-Authentication",
        "protocol": "oidc-basic-profile",
        "request": { "ip": "203.0.113.7", "userAgent": "test", "hostname": "id.example.com", "query": {}, "body": body },
        "idToken": {},
        "accessToken": {},
        "authorization": { "roles": [] },
        "stats": { "loginsCount": 3 }
    })
}

fn run(script: &str, user: Value, context: Value) -> Execution {
    run_rule(&sandbox(), script, &user, &context, &json!({}))
}

fn simple(script: &str) -> Execution {
    run(script, user(&[]), context(json!({})))
}

/// Hostile scripts must end quickly and never allow.
fn contained(script: &str) -> Execution {
    let started = Instant::now();
    let execution = simple(script);
    assert!(
        !execution.outcome.allows(),
        "{script} allowed: {:?}",
        execution.outcome
    );
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{script} took {:?}",
        started.elapsed()
    );
    execution
}

#[test]
fn seed_rule_decisions() {
    let records = json!({ "path": "/api/v1/patients/records" });
    let cases = [
        (user(&["doctor"]), records.clone(), true),
        (user(&["patient"]), records.clone(), true),
        (user(&["nurse"]), records.clone(), false),
        (
            user(&["doctor"]),
            json!({ "path": "/api/v1/billing" }),
            false,
        ),
        // As written, the rule denies every request whose body has no path, doctors included.
        (user(&["doctor"]), json!({}), false),
        (user(&["doctor"]), Value::Null, false),
        (json!({ "user_id": "auth0|no-metadata" }), records, false),
    ];
    for (user, body, allowed) in cases {
        let execution = run(SEED_RULE, user.clone(), context(body.clone()));
        if allowed {
            assert_eq!(
                execution.outcome,
                RuleOutcome::Continue {
                    user: user.clone(),
                    context: context(body)
                }
            );
        } else {
            assert_eq!(
                execution.outcome,
                RuleOutcome::Denied {
                    message: DENIAL.to_owned(),
                    unauthorized: true
                },
                "{user} {body}"
            );
        }
    }
}

#[test]
fn claims_added_to_the_context_flow_back() {
    let script = r#"function (user, context, callback) {
      context.idToken['https://example.com/dept'] = user.app_metadata.dept;
      context.accessToken['https://example.com/clearance'] = 3;
      user.app_metadata.seen = true;
      callback(null, user, context);
    }"#;
    let execution = run(
        script,
        json!({ "user_id": "u", "app_metadata": { "dept": "cardiology" } }),
        context(json!({})),
    );
    let RuleOutcome::Continue { user, context } = execution.outcome else {
        panic!("{:?}", execution.outcome);
    };
    assert_eq!(context["idToken"]["https://example.com/dept"], "cardiology");
    assert_eq!(context["accessToken"]["https://example.com/clearance"], 3);
    assert_eq!(user["app_metadata"]["seen"], true);
}

#[test]
fn configuration_is_a_global() {
    let script = "function (user, context, callback) { context.idToken.k = configuration.KEY; callback(null, user, context); }";
    let execution = run_rule(
        &sandbox(),
        script,
        &user(&[]),
        &context(json!({})),
        &json!({ "KEY": "s3cret" }),
    );
    let RuleOutcome::Continue { context, .. } = execution.outcome else {
        panic!("{:?}", execution.outcome);
    };
    assert_eq!(context["idToken"]["k"], "s3cret");
}

#[test]
fn callback_from_a_promise() {
    let script = r#"function (user, context, callback) {
      Promise.resolve(2)
        .then((n) => n * 21)
        .then(async (n) => { await null; context.idToken.answer = n; callback(null, user, context); });
    }"#;
    let execution = simple(script);
    let RuleOutcome::Continue { context, .. } = execution.outcome else {
        panic!("{:?}", execution.outcome);
    };
    assert_eq!(context["idToken"]["answer"], 42);
}

#[test]
fn denials_and_failures() {
    let cases: &[(&str, RuleOutcome)] = &[
        (
            "function (u, c, cb) { cb(new Error('no')); }",
            RuleOutcome::Denied { message: "no".into(), unauthorized: false },
        ),
        (
            "function (u, c, cb) { cb('plain text'); }",
            RuleOutcome::Denied { message: "plain text".into(), unauthorized: false },
        ),
        (
            "function (u, c, cb) { Promise.resolve().then(() => cb(new UnauthorizedError('later'))); }",
            RuleOutcome::Denied { message: "later".into(), unauthorized: true },
        ),
        (
            "function (u, c, cb) { cb(new UnauthorizedError('first')); cb(null, u, c); }",
            RuleOutcome::Denied { message: "first".into(), unauthorized: true },
        ),
        (
            "function (u, c, cb) { }",
            RuleOutcome::Failed { error: "the rule finished without calling callback".into() },
        ),
        (
            "function (u, c, cb) { throw new TypeError('boom'); }",
            RuleOutcome::Failed { error: "TypeError: boom".into() },
        ),
        (
            "function (u, c, cb) { cb(null, u, c); throw new Error('after'); }",
            RuleOutcome::Failed { error: "Error: after".into() },
        ),
        (
            "function (u, c, cb) { cb(null); }",
            RuleOutcome::Failed { error: "callback was called without a user object".into() },
        ),
        (
            "function (u, c, cb) { cb(null, u, 7); }",
            RuleOutcome::Failed { error: "callback was called without a context object".into() },
        ),
        (
            "function (u, c, cb) { Promise.reject(new Error('lost')); }",
            RuleOutcome::Failed {
                error: "the rule finished without calling callback (unhandled promise rejection: Error: lost)".into(),
            },
        ),
    ];
    for (script, expected) in cases {
        assert_eq!(&simple(script).outcome, expected, "{script}");
    }
}

#[test]
fn a_cyclic_user_fails() {
    let execution = simple("function (u, c, cb) { u.self = u; cb(null, u, c); }");
    assert!(
        matches!(execution.outcome, RuleOutcome::Failed { .. }),
        "{:?}",
        execution.outcome
    );
}

#[test]
fn console_output_is_captured_and_capped() {
    let execution = simple(
        "function (u, c, cb) { console.log('hello', { a: 1 }, 2); console.error('x'); cb(null, u, c); }",
    );
    assert_eq!(execution.logs, "hello {\"a\":1} 2\nx\n");
    assert!(execution.outcome.allows());

    let execution = simple(
        "function (u, c, cb) { for (let i = 0; i < 10000; i++) console.log('line ' + i); cb(null, u, c); }",
    );
    assert!(execution.logs.len() <= Limits::default().log_bytes + 32);
    assert!(execution.logs.ends_with("[log truncated]\n"));
    assert!(execution.outcome.allows());
}

#[test]
fn a_syntax_error_fails_with_its_location() {
    let execution = simple("function (u, c, cb) {\n  cb(null, u, c\n}");
    let RuleOutcome::Failed { error } = execution.outcome else {
        panic!("{:?}", execution.outcome);
    };
    assert!(error.starts_with("syntax error at line 3"), "{error}");
}

#[test]
fn hostile_scripts_are_contained() {
    type Check = fn(&RuleOutcome) -> bool;
    let cases: &[(&str, Check)] = &[
        ("function (u, c, cb) { while (true) {} }", |o| {
            *o == RuleOutcome::TimedOut
        }),
        (
            "function (u, c, cb) { try { while (true) {} } catch (e) {} cb(null, u, c); }",
            |o| *o == RuleOutcome::TimedOut,
        ),
        (
            "function (u, c, cb) { Promise.resolve().then(() => { while (true) {} }); }",
            |o| *o == RuleOutcome::TimedOut,
        ),
        (
            "function (u, c, cb) { const f = () => Promise.resolve().then(f); f(); }",
            |o| *o == RuleOutcome::TimedOut,
        ),
        (
            "function (u, c, cb) { function r(n) { return r(n + 1) + 1; } r(0); }",
            |o| matches!(o, RuleOutcome::Failed { error } if error.contains("stack")),
        ),
        (
            "function (u, c, cb) { let a = []; while (true) a.push(new Array(1e6)); }",
            |o| matches!(o, RuleOutcome::Failed { .. } | RuleOutcome::TimedOut),
        ),
        (
            "function (u, c, cb) { let a = []; while (true) a.push(new Array(1e6).fill(1)); }",
            |o| matches!(o, RuleOutcome::Failed { .. } | RuleOutcome::TimedOut),
        ),
        (
            "function (u, c, cb) { let s = 'x'; while (true) s += s; }",
            |o| matches!(o, RuleOutcome::Failed { .. } | RuleOutcome::TimedOut),
        ),
        (
            "function (u, c, cb) { let s = 'x'; while (true) { try { s += s; } catch (e) {} } }",
            |o| *o == RuleOutcome::TimedOut,
        ),
        (
            "function (u, c, cb) { require('fs'); cb(null, u, c); }",
            |o| matches!(o, RuleOutcome::Failed { error } if error.contains("require")),
        ),
        (
            "function (u, c, cb) { c.idToken.env = process.env; cb(null, u, c); }",
            |o| matches!(o, RuleOutcome::Failed { error } if error.contains("process")),
        ),
        (
            "function (u, c, cb) { fetch('https://evil.example'); cb(null, u, c); }",
            |o| matches!(o, RuleOutcome::Failed { error } if error.contains("fetch")),
        ),
        (
            "function (u, c, cb) { import('fs').then(() => cb(null, u, c)); }",
            |o| !o.allows(),
        ),
    ];
    for (script, expected) in cases {
        let execution = contained(script);
        assert!(
            expected(&execution.outcome),
            "{script}: {:?}",
            execution.outcome
        );
    }
}

#[test]
fn host_globals_are_absent() {
    let script = r#"function (u, c, cb) {
      c.idToken.types = [typeof require, typeof process, typeof fetch, typeof module, typeof exports,
        typeof std, typeof os, typeof setTimeout, typeof XMLHttpRequest, typeof Deno, typeof Bun].join(',');
      cb(null, u, c);
    }"#;
    let RuleOutcome::Continue { context, .. } = simple(script).outcome else {
        panic!("the probe did not continue");
    };
    assert_eq!(context["idToken"]["types"], ["undefined"; 11].join(","));
}

#[test]
fn state_never_leaks_between_executions() {
    let sandbox = sandbox();
    let polluter = r#"function (u, c, cb) {
      globalThis.x = 1;
      Object.prototype.polluted = 'yes';
      Array.prototype.includes = function () { return true; };
      JSON.stringify = function () { return '{}'; };
      UnauthorizedError = function () {};
      cb(null, u, c);
    }"#;
    let probe = r#"function (u, c, cb) {
      c.idToken.seen = [typeof globalThis.x, typeof ({}).polluted, [].includes('a'), typeof UnauthorizedError].join(',');
      cb(null, u, c);
    }"#;
    for polluter_outcome_allows in [true, true] {
        let polluted = run_rule(
            &sandbox,
            polluter,
            &user(&[]),
            &context(json!({})),
            &json!({}),
        );
        assert_eq!(polluted.outcome.allows(), polluter_outcome_allows);
        let probed = run_rule(&sandbox, probe, &user(&[]), &context(json!({})), &json!({}));
        let RuleOutcome::Continue { context, .. } = probed.outcome else {
            panic!("{:?}", probed.outcome);
        };
        assert_eq!(
            context["idToken"]["seen"],
            "undefined,undefined,false,function"
        );
    }
}

#[test]
fn the_sandbox_recovers_after_hostile_scripts() {
    let sandbox = sandbox();
    let allowed = || {
        run_rule(
            &sandbox,
            SEED_RULE,
            &user(&["doctor"]),
            &context(json!({ "path": "/api/v1/patients/records" })),
            &json!({}),
        )
    };
    for hostile in [
        "function (u, c, cb) { while (true) {} }",
        "function (u, c, cb) { let a = []; while (true) a.push(new Array(1e6).fill(1)); }",
        "function (u, c, cb) { const f = () => Promise.resolve().then(f); f(); }",
        "function (u, c, cb) { globalThis.keep = []; for (let i = 0; i < 1e5; i++) keep.push({ i }); cb(null, u, c); }",
    ] {
        let execution = run_rule(&sandbox, hostile, &user(&[]), &context(json!({})), &json!({}));
        assert!(
            execution.duration < Duration::from_millis(900),
            "{hostile}: {:?}",
            execution.duration
        );
        assert!(allowed().outcome.allows(), "after {hostile}");
    }
}

#[test]
fn a_pending_callback_from_an_earlier_run_cannot_decide_a_later_one() {
    let sandbox = sandbox();
    // The first run calls back late, from a job that never ran before the time limit.
    let late = "function (u, c, cb) { Promise.resolve().then(() => { while (true) {} }).then(() => cb(null, u, c)); }";
    let first = run_rule(&sandbox, late, &user(&[]), &context(json!({})), &json!({}));
    assert_eq!(first.outcome, RuleOutcome::TimedOut);
    let second = run_rule(
        &sandbox,
        "function (u, c, cb) { }",
        &user(&[]),
        &context(json!({})),
        &json!({}),
    );
    assert!(matches!(second.outcome, RuleOutcome::Failed { .. }));
}

#[test]
fn time_limits_are_configurable() {
    let sandbox = Sandbox::new(Limits {
        time: Duration::from_millis(20),
        ..Limits::default()
    })
    .unwrap();
    let execution = run_rule(
        &sandbox,
        "function (u, c, cb) { while (true) {} }",
        &user(&[]),
        &context(json!({})),
        &json!({}),
    );
    assert_eq!(execution.outcome, RuleOutcome::TimedOut);
    assert!(
        execution.duration < Duration::from_millis(200),
        "{:?}",
        execution.duration
    );
}

#[test]
fn unauthorized_error_behaves_like_an_error_class() {
    let script = r#"function (u, c, cb) {
      const e = new UnauthorizedError('nope');
      const plain = UnauthorizedError('called');
      c.idToken.shape = [e instanceof Error, e instanceof UnauthorizedError, e.name, e.message,
        String(e), typeof e.stack, e.constructor === UnauthorizedError, plain.message,
        new UnauthorizedError().message, new Error('x') instanceof UnauthorizedError];
      cb(null, u, c);
    }"#;
    let RuleOutcome::Continue { context, .. } = simple(script).outcome else {
        panic!("the probe did not continue");
    };
    assert_eq!(
        context["idToken"]["shape"],
        json!([
            true,
            true,
            "UnauthorizedError",
            "nope",
            "UnauthorizedError: nope",
            "string",
            true,
            "called",
            "",
            false
        ])
    );
    // A replaced global does not make other errors count as unauthorized.
    let script = "function (u, c, cb) { const Original = UnauthorizedError; UnauthorizedError = Error; cb(new Error('plain')); }";
    assert_eq!(
        simple(script).outcome,
        RuleOutcome::Denied {
            message: "plain".into(),
            unauthorized: false
        }
    );
}

#[test]
fn reentrant_calls_from_getters_are_harmless() {
    let script = r#"function (u, c, cb) {
      console.log({ toJSON() { console.log('inner'); return 'outer'; } });
      cb({ get message() { cb(null, u, c); return 'from getter'; } });
    }"#;
    let execution = simple(script);
    assert_eq!(execution.logs, "inner\n\"outer\"\n");
    assert_eq!(
        execution.outcome,
        RuleOutcome::Denied {
            message: "from getter".into(),
            unauthorized: false
        }
    );
}

#[test]
fn prepared_contexts_are_fresh() {
    let sandbox = sandbox();
    let polluter = "function (u, c, cb) { globalThis.x = 1; Object.prototype.polluted = 'yes'; cb(null, u, c); }";
    let probe = "function (u, c, cb) { c.idToken.seen = [typeof x, typeof ({}).polluted].join(','); cb(null, u, c); }";
    for _ in 0..3 {
        assert!(run_rule(
            &sandbox,
            polluter,
            &user(&[]),
            &context(json!({})),
            &json!({})
        )
        .outcome
        .allows());
        sandbox.prepare().unwrap();
        sandbox.prepare().unwrap();
        let RuleOutcome::Continue { context, .. } =
            run_rule(&sandbox, probe, &user(&[]), &context(json!({})), &json!({})).outcome
        else {
            panic!("the probe did not continue");
        };
        assert_eq!(context["idToken"]["seen"], "undefined,undefined");
    }
    // A prepared context survives nothing: a timeout replaces the runtime it belongs to.
    sandbox.prepare().unwrap();
    let timed_out = Sandbox::new(Limits {
        time: Duration::from_millis(20),
        ..Limits::default()
    })
    .unwrap();
    timed_out.prepare().unwrap();
    let execution = run_rule(
        &timed_out,
        "function (u, c, cb) { while (true) {} }",
        &user(&[]),
        &context(json!({})),
        &json!({}),
    );
    assert_eq!(execution.outcome, RuleOutcome::TimedOut);
    timed_out.prepare().unwrap();
    assert!(run_rule(
        &timed_out,
        SEED_RULE,
        &user(&["doctor"]),
        &context(json!({ "path": "/api/v1/patients/records" })),
        &json!({})
    )
    .outcome
    .allows());
}

#[test]
fn an_idle_sandbox_is_small() {
    let sandbox = sandbox();
    for _ in 0..50 {
        run_rule(
            &sandbox,
            SEED_RULE,
            &user(&["doctor"]),
            &context(json!({})),
            &json!({}),
        );
    }
    sandbox.prepare().unwrap();
    // Limits, not a benchmark: the target is 2 MiB per idle runtime.
    assert!(
        sandbox.heap_bytes() < 2 * 1024 * 1024,
        "{}",
        sandbox.heap_bytes()
    );
}
