//! Customers' JavaScript in the two pipelines, through real logins and real checks: the
//! product brief's seed Rule as written, its Actions equivalent, a HIPAA-training gate, claim
//! enrichment reaching both tokens (and refreshed ones), metadata persisted after the flow,
//! an execution record for every run, and hostile scripts contained without touching the
//! rest of the server.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::*;

/// The product brief's rule, verbatim.
const SEED_RULE: &str = include_str!("../../../custos-rules-js/fixtures/seed-rule.js");

const SEED_MESSAGE: &str = "Access denied. You do not have the required permissions.";

/// The same policy as an Action on Custos's `access-check` trigger.
const SEED_ACTION: &str = include_str!("../../../custos-rules-js/fixtures/seed-action.js");

const HIPAA_ACTION: &str = r#"exports.onExecutePostLogin = async (event, api) => {
  const done = event.user.app_metadata && event.user.app_metadata.hipaa_training_completed_at;
  if (!done) {
    console.log('no HIPAA training on record for', event.user.user_id);
    api.access.deny('HIPAA training required before access to PHI.');
  }
};"#;

const CLAIMS_ACTION: &str = r#"exports.onExecutePostLogin = async (event, api) => {
  const ns = 'https://clinic.example/';
  const md = event.user.app_metadata || {};
  api.idToken.setCustomClaim(ns + 'department', md.department);
  api.accessToken.setCustomClaim(ns + 'department', md.department);
  api.accessToken.setCustomClaim(ns + 'clearance', md.clearance);
  api.idToken.setCustomClaim('sub', 'someone-else');
  api.idToken.setCustomClaim(ns + 'region', event.secrets.REGION);
  console.log('enriching with region', event.secrets.REGION);
  api.user.setAppMetadata('last_enriched_client', event.client.client_id);
  api.multifactor.enable('any', { allowRememberBrowser: false });
};"#;

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn user_with_metadata(app: &TestApp, email: &str, app_metadata: Value) -> R<String> {
    let (s, u) = app
        .api(
            Method::POST,
            "users",
            Some(
                json!({"connection": "Username-Password-Authentication", "email": email,
                "password": PASSWORD, "app_metadata": app_metadata}),
            ),
        )
        .await?;
    assert_eq!(s, 201, "{u}");
    Ok(u["user_id"].as_str().ok_or("user id")?.to_owned())
}

/// `/authorize` then the login form; where the browser is sent back to.
async fn login_redirect(app: &TestApp, client_id: &str, email: &str) -> R<String> {
    let browser = TestApp::browser()?;
    let verifier = custos_crypto::random::token()?;
    let url = app.authorize_url(client_id, &custos_crypto::pkce::s256(&verifier), "");
    let form = app.login_form(&browser, &url, email, PASSWORD).await?;
    let r = browser.post(app.url("u/login")).form(&form).send().await?;
    assert!(r.status().is_redirection(), "{}", r.status());
    Ok(r.headers()["location"].to_str()?.to_owned())
}

const RECORDS_PATH: &str = "/api/v1/patients/records";

#[tokio::test]
async fn the_seed_rule_runs_as_written_in_both_pipelines() -> TestResult {
    let app = TestApp::start().await?;
    let client = app
        .create_client(json!({"name": "Clinic portal", "app_type": "spa"}))
        .await?;
    let client_id = client["client_id"].as_str().ok_or("client")?.to_owned();
    let doctor =
        user_with_metadata(&app, "house@clinic.test", json!({"roles": ["doctor"]})).await?;
    let patient =
        user_with_metadata(&app, "alice@clinic.test", json!({"roles": ["patient"]})).await?;
    let nurse = user_with_metadata(&app, "joy@clinic.test", json!({"roles": ["nurse"]})).await?;
    let rule_id = create_rule(&app, "seed rule", SEED_RULE).await?;

    // Login pipeline: run faithfully, the rule denies every login, doctors included, because
    // a login's request body has no `path`.
    let location = login_redirect(&app, &client_id, "house@clinic.test").await?;
    assert!(location.starts_with(CALLBACK), "{location}");
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("unauthorized")
    );
    assert_eq!(
        query_param(&location, "error_description").as_deref(),
        Some(SEED_MESSAGE)
    );
    assert_eq!(query_param(&location, "state").as_deref(), Some("st-1"));
    assert!(query_param(&location, "code").is_none());
    let failed = app.logs_of_type("f").await?;
    assert!(
        failed
            .iter()
            .any(|l| l["user_id"] == doctor.as_str() && l["details"]["reason"] == "denied_by_rule"),
        "{failed:?}"
    );
    let runs = app.logs_of_type("custos_rule_executed").await?;
    let login_run = runs
        .iter()
        .find(|l| l["details"]["trigger"] == "post-login")
        .ok_or("no record of the rule's run at login")?;
    assert_eq!(login_run["details"]["rule_id"], rule_id.as_str());
    assert_eq!(login_run["details"]["name"], "seed rule");
    assert_eq!(login_run["details"]["outcome"], "denied");
    assert_eq!(login_run["details"]["message"], SEED_MESSAGE);
    assert_eq!(login_run["user_id"], doctor.as_str());
    assert!(login_run["details"]["duration_us"].is_u64());
    assert!(login_run["details"]["script_sha256"].is_string());

    // Access-check pipeline: `context.request.body` is the check's body.
    let d = check(&app, json!({"user_id": doctor, "path": RECORDS_PATH})).await?;
    assert_eq!(d["allowed"], true, "{d}");
    let d = check(&app, json!({"user_id": patient, "path": RECORDS_PATH})).await?;
    assert_eq!(d["allowed"], true, "{d}");
    let d = check(&app, json!({"user_id": nurse, "path": RECORDS_PATH})).await?;
    assert_eq!(d["allowed"], false, "{d}");
    let rules_step = d["reasons"]
        .as_array()
        .and_then(|r| r.iter().find(|s| s["step"] == "rules"))
        .ok_or("no rules step")?;
    assert_eq!(rules_step["detail"], SEED_MESSAGE);
    assert_eq!(rules_step["error"], "unauthorized");
    let d = check(&app, json!({"user_id": doctor, "path": "/api/v1/billing"})).await?;
    assert_eq!(d["allowed"], false, "{d}");
    // The decision record and the rule's record are both in the trail.
    let denied = app.logs_of_type("custos_access_denied").await?;
    assert!(denied.iter().any(|l| l["user_id"] == nurse.as_str()));
    let runs = app.logs_of_type("custos_rule_executed").await?;
    assert!(runs
        .iter()
        .any(|l| l["details"]["trigger"] == "access-check"
            && l["user_id"] == nurse.as_str()
            && l["details"]["outcome"] == "denied"));
    assert!(runs
        .iter()
        .any(|l| l["details"]["trigger"] == "access-check"
            && l["user_id"] == doctor.as_str()
            && l["details"]["outcome"] == "continued"));

    // Disabled, it no longer runs: the doctor logs in, and paths go back to default deny.
    let (s, _) = app
        .api(
            Method::PATCH,
            &format!("rules/{rule_id}"),
            Some(json!({"enabled": false})),
        )
        .await?;
    assert_eq!(s, 200);
    let login = app.login(&client_id, "house@clinic.test", PASSWORD).await?;
    let (s, t) = app.exchange(&client_id, &login).await?;
    assert_eq!(s, 200, "{t}");
    let d = check(&app, json!({"user_id": doctor, "path": RECORDS_PATH})).await?;
    assert_eq!(d["allowed"], false, "{d}");
    assert!(app.verify_chain().await?.is_none());
    Ok(())
}

#[tokio::test]
async fn actions_gate_logins_on_hipaa_training_enrich_tokens_and_decide_checks() -> TestResult {
    let app = TestApp::start().await?;
    let client = app
        .create_client(json!({"name": "Records viewer", "app_type": "spa", "grant_types": ["authorization_code", "refresh_token"]}))
        .await?;
    let client_id = client["client_id"].as_str().ok_or("client")?.to_owned();
    let doctor = user_with_metadata(
        &app,
        "house@clinic.test",
        json!({"roles": ["doctor"], "department": "cardiology", "clearance": 3}),
    )
    .await?;
    let nurse = user_with_metadata(&app, "joy@clinic.test", json!({"roles": ["nurse"]})).await?;
    let gate = deploy_action(
        &app,
        "HIPAA training",
        "post-login",
        HIPAA_ACTION,
        json!([]),
    )
    .await?;
    let enrich = deploy_action(
        &app,
        "Claims",
        "post-login",
        CLAIMS_ACTION,
        json!([{"name": "REGION", "value": "north-east"}]),
    )
    .await?;
    deploy_action(&app, "Records gate", "access-check", SEED_ACTION, json!([])).await?;

    // No training on record: the login ends at the client with access_denied.
    let location = login_redirect(&app, &client_id, "house@clinic.test").await?;
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(
        query_param(&location, "error_description").as_deref(),
        Some("HIPAA training required before access to PHI.")
    );
    let runs = app.logs_of_type("custos_rule_executed").await?;
    let denied = runs
        .iter()
        .find(|l| l["details"]["action_id"] == gate.as_str())
        .ok_or("no record of the gate's run")?;
    assert_eq!(denied["details"]["outcome"], "denied");
    assert_eq!(denied["details"]["version"], 1);
    assert_eq!(denied["details"]["trigger"], "post-login");
    assert!(denied["details"]["logs"]
        .as_str()
        .is_some_and(|l| l.contains("no HIPAA training on record")));
    // The claims action never ran: a denial ends the flow.
    assert!(!runs
        .iter()
        .any(|l| l["details"]["action_id"] == enrich.as_str()));

    // The password grant runs the same pipeline: no way around the gate.
    let backend = app
        .create_client(
            json!({"name": "Back office", "app_type": "regular_web", "grant_types": ["password"]}),
        )
        .await?;
    let backend_id = backend["client_id"].as_str().ok_or("client")?.to_owned();
    let backend_secret = backend["client_secret"]
        .as_str()
        .ok_or("secret")?
        .to_owned();
    let form = [
        ("grant_type", "password"),
        ("client_id", backend_id.as_str()),
        ("client_secret", backend_secret.as_str()),
        ("username", "house@clinic.test"),
        ("password", PASSWORD),
        ("scope", "openid"),
    ];
    let (s, e) = app.token_form(&form).await?;
    assert_eq!(s, 403, "{e}");
    assert_eq!(e["error"], "access_denied");
    assert_eq!(
        e["error_description"],
        "HIPAA training required before access to PHI."
    );

    // Training completed: the login goes through, with the claims.
    let (s, _) = app
        .api(
            Method::PATCH,
            &format!("users/{}", enc(&doctor)),
            Some(json!({"app_metadata": {"hipaa_training_completed_at": "2026-11-01T09:00:00Z"}})),
        )
        .await?;
    assert_eq!(s, 200);
    let login = app.login(&client_id, "house@clinic.test", PASSWORD).await?;
    let (s, tokens) = app.exchange(&client_id, &login).await?;
    assert_eq!(s, 200, "{tokens}");
    let id = jwt_claims(tokens["id_token"].as_str().ok_or("id token")?)?;
    assert_eq!(id["https://clinic.example/department"], "cardiology");
    assert_eq!(id["https://clinic.example/region"], "north-east");
    assert_eq!(id["sub"], doctor.as_str(), "a script cannot replace sub");
    let access = jwt_claims(tokens["access_token"].as_str().ok_or("access token")?)?;
    assert_eq!(access["https://clinic.example/department"], "cardiology");
    assert_eq!(access["https://clinic.example/clearance"], 3);
    // Metadata set by the action is persisted after the flow.
    let (_, u) = app
        .api(Method::GET, &format!("users/{}", enc(&doctor)), None)
        .await?;
    assert_eq!(
        u["app_metadata"]["last_enriched_client"],
        client_id.as_str()
    );
    assert_eq!(
        u["app_metadata"]["hipaa_training_completed_at"],
        "2026-11-01T09:00:00Z"
    );
    let (s, t) = app.token_form(&form).await?;
    assert_eq!(s, 200, "{t}");
    let id = jwt_claims(t["id_token"].as_str().ok_or("id token")?)?;
    assert_eq!(id["https://clinic.example/department"], "cardiology");
    // Refreshed tokens keep the login's claims.
    let refresh = tokens["refresh_token"].as_str().ok_or("refresh token")?;
    let (s, refreshed) = app
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client_id),
            ("refresh_token", refresh),
        ])
        .await?;
    assert_eq!(s, 200, "{refreshed}");
    let access = jwt_claims(refreshed["access_token"].as_str().ok_or("access token")?)?;
    assert_eq!(access["https://clinic.example/clearance"], 3);
    // The secret's value is in the token it was put in, never in the trail.
    let (_, logs) = app.api(Method::GET, "logs?per_page=100", None).await?;
    let trail = logs.to_string();
    assert!(!trail.contains("north-east"), "a secret reached the trail");
    assert!(
        trail.contains("enriching with region [redacted]"),
        "{trail}"
    );
    let enriched = app
        .logs_of_type("custos_rule_executed")
        .await?
        .into_iter()
        .find(|l| l["details"]["action_id"] == enrich.as_str())
        .ok_or("no record of the claims action")?;
    assert_eq!(enriched["details"]["outcome"], "continued");
    assert_eq!(enriched["details"]["dropped_claims"], json!(["sub"]));
    assert_eq!(enriched["details"]["multifactor"]["provider"], "any");
    let logins = app.logs_of_type("s").await?;
    assert!(
        logins
            .iter()
            .any(|l| l["details"]["multifactor_requested"]["provider"] == "any"),
        "{logins:?}"
    );

    // The Actions equivalent of the seed rule decides checks.
    let d = check(&app, json!({"user_id": doctor, "path": RECORDS_PATH})).await?;
    assert_eq!(d["allowed"], true, "{d}");
    let d = check(&app, json!({"user_id": nurse, "path": RECORDS_PATH})).await?;
    assert_eq!(d["allowed"], false, "{d}");
    assert!(d.to_string().contains(SEED_MESSAGE), "{d}");
    assert!(app.verify_chain().await?.is_none());
    Ok(())
}

/// Scripts that try to escape, stall or exhaust the sandbox. Each is saved (it is valid
/// JavaScript), then contained when it runs: the check is denied, a failure is recorded.
const HOSTILE: &[(&str, &str)] = &[
    ("infinite loop", "function (user, context, callback) { while (true) {} }"),
    ("deep recursion", "function (user, context, callback) { function f(n) { return f(n + 1) + 1; } f(0); callback(null, user, context); }"),
    ("memory bomb", "function (user, context, callback) { const a = []; while (true) { a.push(new Array(100000).fill(a.length)); } }"),
    ("giant string", "function (user, context, callback) { let s = 'x'; while (true) { s = s + s; } }"),
    ("loop inside a promise", "function (user, context, callback) { Promise.resolve().then(() => { while (true) {} }); }"),
    ("require fs", "function (user, context, callback) { const fs = require('fs'); callback(null, user, context); }"),
    ("process env", "function (user, context, callback) { context.idToken.env = process.env; callback(null, user, context); }"),
    ("network", "function (user, context, callback) { fetch('https://attacker.example/').then(() => callback(null, user, context)); }"),
    ("never calls back", "function (user, context, callback) { }"),
];

#[tokio::test]
async fn hostile_scripts_are_contained_and_deny() -> TestResult {
    let app = TestApp::start().await?;
    let doctor =
        user_with_metadata(&app, "house@clinic.test", json!({"roles": ["doctor"]})).await?;
    for (name, script) in HOSTILE {
        let rule_id = create_rule(&app, name, script).await?;
        let d = check(&app, json!({"user_id": doctor, "path": RECORDS_PATH})).await?;
        assert_eq!(d["allowed"], false, "{name}: {d}");
        let (s, _) = app
            .api(Method::DELETE, &format!("rules/{rule_id}"), None)
            .await?;
        assert_eq!(s, 204, "{name}");
    }
    let failures = app.logs_of_type("custos_rule_failed").await?;
    for (name, _) in HOSTILE {
        let r = failures
            .iter()
            .find(|l| l["details"]["name"] == *name)
            .ok_or(format!("no failure record for {name}"))?;
        assert!(
            r["details"]["outcome"] == "failed" || r["details"]["outcome"] == "timed_out",
            "{name}: {r}"
        );
    }
    let timed_out = |n: &str| {
        failures
            .iter()
            .any(|l| l["details"]["name"] == n && l["details"]["outcome"] == "timed_out")
    };
    assert!(timed_out("infinite loop"));
    assert!(timed_out("loop inside a promise"));

    // Pollution and leftovers from one execution are invisible to the next.
    let polluter = create_rule(
        &app,
        "polluter",
        "function (user, context, callback) { Object.prototype.isAdmin = true; globalThis.lastUser = user.user_id; Array.prototype.includes = function () { return true; }; callback(null, user, context); }",
    )
    .await?;
    let d = check(&app, json!({"user_id": doctor, "path": RECORDS_PATH})).await?;
    assert_eq!(d["allowed"], true, "{d}");
    app.api(Method::DELETE, &format!("rules/{polluter}"), None)
        .await?;
    create_rule(
        &app,
        "observer",
        "function (user, context, callback) { if (({}).isAdmin || typeof lastUser !== 'undefined' || [].includes('x')) { return callback(new Error('saw another execution')); } callback(null, user, context); }",
    )
    .await?;
    let d = check(&app, json!({"user_id": doctor, "path": RECORDS_PATH})).await?;
    assert_eq!(d["allowed"], true, "an execution saw another's data: {d}");

    // Syntax errors are refused at save time, with line and column, and nothing is stored.
    let (s, e) = app
        .api(
            Method::POST,
            "rules",
            Some(json!({"name": "broken", "script": "function (user, context, callback) {\n  callback(null, user, context;\n}"})),
        )
        .await?;
    assert_eq!(s, 400, "{e}");
    assert!(
        e["message"].as_str().is_some_and(|m| m.contains("line 2")),
        "{e}"
    );
    let (_, rules) = app.api(Method::GET, "rules", None).await?;
    assert!(!rules.to_string().contains("broken"));
    Ok(())
}

#[tokio::test]
async fn a_stalled_script_leaves_the_server_responsive_and_ends_logins_in_a_denial() -> TestResult {
    // A long limit makes the ordering below unmistakable: the discovery document answers
    // while a script is still spinning on a blocking thread.
    let app = TestApp::start_with_script_time(1500).await?;
    let client = app
        .create_client(json!({"name": "Portal", "app_type": "spa"}))
        .await?;
    let client_id = client["client_id"].as_str().ok_or("client")?.to_owned();
    let doctor =
        user_with_metadata(&app, "house@clinic.test", json!({"roles": ["doctor"]})).await?;
    create_rule(
        &app,
        "spinner",
        "function (user, context, callback) { while (true) {} }",
    )
    .await?;
    let http = app.http.clone();
    let check_url = app.url("api/v2/check");
    let token = app.mgmt_token.clone();
    let body = json!({"user_id": doctor, "path": RECORDS_PATH});
    let stalled = tokio::spawn(async move {
        http.post(check_url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?
            .json::<Value>()
            .await
    });
    // Discovery requests while the script spins.
    for _ in 0..5 {
        let r = app
            .http
            .get(app.url(".well-known/openid-configuration"))
            .send()
            .await?;
        assert_eq!(r.status(), 200);
    }
    assert!(
        !stalled.is_finished(),
        "the stalled check answered before discovery did"
    );
    let d = stalled.await??;
    assert_eq!(d["allowed"], false, "{d}");
    let failures = app.logs_of_type("custos_rule_failed").await?;
    assert!(failures
        .iter()
        .any(|l| l["details"]["outcome"] == "timed_out"));

    // At login, a stalled script is a denial at the client's redirect URI.
    let location = login_redirect(&app, &client_id, "house@clinic.test").await?;
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("access_denied")
    );
    assert!(query_param(&location, "code").is_none());
    Ok(())
}

async fn machine_token(app: &TestApp, c: &Value) -> R<(u16, Value)> {
    app.token_form(&[
        ("grant_type", "client_credentials"),
        ("client_id", c["client_id"].as_str().unwrap_or_default()),
        (
            "client_secret",
            c["client_secret"].as_str().unwrap_or_default(),
        ),
        ("audience", "urn:lab:results"),
    ])
    .await
}

async fn signup(app: &TestApp, client_id: &str, email: &str) -> R<(u16, Value)> {
    let body = json!({"client_id": client_id, "email": email, "password": PASSWORD,
        "connection": "Username-Password-Authentication"});
    let r = reqwest::Client::new()
        .post(app.url("dbconnections/signup"))
        .json(&body)
        .send()
        .await?;
    let s = r.status().as_u16();
    Ok((s, r.json::<Value>().await?))
}

/// Records of one type about `user_id`, waiting for the ones written after the response
/// (asynchronous triggers run after their change has committed).
async fn eventually_logged(app: &TestApp, t: &str, action_id: &str) -> R<Value> {
    for _ in 0..100 {
        let found = app
            .logs_of_type(t)
            .await?
            .into_iter()
            .find(|l| l["details"]["action_id"] == action_id);
        if let Some(l) = found {
            return Ok(l);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Err(format!("no {t} record for action {action_id}").into())
}

#[tokio::test]
async fn machine_tokens_sign_ups_and_password_changes_run_their_triggers() -> TestResult {
    let app = TestApp::start().await?;
    // credentials-exchange: a claim on machine tokens, and a denial for a flagged client.
    let (s, _) = app
        .api(
            Method::POST,
            "resource-servers",
            Some(json!({"identifier": "urn:lab:results"})),
        )
        .await?;
    assert_eq!(s, 201);
    let machine = |name: &str, flagged: bool| {
        json!({"name": name, "app_type": "non_interactive",
            "client_metadata": {"suspended": if flagged { "yes" } else { "no" }}})
    };
    let ok = app.create_client(machine("Lab feed", false)).await?;
    let flagged = app.create_client(machine("Old feed", true)).await?;
    for c in [&ok, &flagged] {
        let (s, g) = app
            .api(
                Method::POST,
                "client-grants",
                Some(json!({"client_id": c["client_id"], "audience": "urn:lab:results", "scope": []})),
            )
            .await?;
        assert_eq!(s, 201, "{g}");
    }
    let exchange = deploy_action(
        &app,
        "Machine gate",
        "credentials-exchange",
        r#"exports.onExecuteCredentialsExchange = async (event, api) => {
  if (event.client.metadata && event.client.metadata.suspended === 'yes') {
    api.access.deny('invalid_request', 'This integration is suspended.');
    return;
  }
  api.accessToken.setCustomClaim('https://lab.example/feed', event.client.name);
};"#,
        json!([]),
    )
    .await?;
    let (s, t) = machine_token(&app, &ok).await?;
    assert_eq!(s, 200, "{t}");
    let claims = jwt_claims(t["access_token"].as_str().ok_or("token")?)?;
    assert_eq!(claims["https://lab.example/feed"], "Lab feed");
    let (s, e) = machine_token(&app, &flagged).await?;
    assert_eq!(s, 403, "{e}");
    assert_eq!(e["error"], "access_denied");
    assert_eq!(e["error_description"], "This integration is suspended.");
    let r = eventually_logged(&app, "custos_rule_executed", &exchange).await?;
    assert_eq!(r["details"]["trigger"], "credentials-exchange");
    assert!(!app.logs_of_type("feccft").await?.is_empty());

    // pre-user-registration refuses a domain and tags the rest; post-user-registration and
    // post-change-password run after their change.
    let spa = app
        .create_client(json!({"name": "Sign-up", "app_type": "spa"}))
        .await?;
    let spa_id = spa["client_id"].as_str().ok_or("client")?.to_owned();
    deploy_action(
        &app,
        "Sign-up policy",
        "pre-user-registration",
        r#"exports.onExecutePreUserRegistration = async (event, api) => {
  if (event.user.email.endsWith('@blocked.example')) {
    api.access.deny('blocked domain', 'Sign-ups from this domain are closed.');
    return;
  }
  api.user.setAppMetadata('plan', 'trial');
};"#,
        json!([]),
    )
    .await?;
    let welcome = deploy_action(
        &app,
        "Welcome",
        "post-user-registration",
        "exports.onExecutePostUserRegistration = async (event, api) => { console.log('welcome', event.user.email); };",
        json!([]),
    )
    .await?;
    let changed = deploy_action(
        &app,
        "Password changed",
        "post-change-password",
        "exports.onExecutePostChangePassword = async (event) => { console.log('password changed for', event.user.user_id); };",
        json!([]),
    )
    .await?;
    let (s, e) = signup(&app, &spa_id, "mallory@blocked.example").await?;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["code"], "extensibility_error");
    let (_, users) = app.api(Method::GET, "users", None).await?;
    assert!(!users.to_string().contains("mallory@blocked.example"));
    let (s, u) = signup(&app, &spa_id, "eve@clinic.test").await?;
    assert_eq!(s, 200, "{u}");
    let (_, found) = app
        .api(Method::GET, "users-by-email?email=eve@clinic.test", None)
        .await?;
    let eve = &found[0];
    assert_eq!(eve["app_metadata"]["plan"], "trial", "{eve}");
    let r = eventually_logged(&app, "custos_rule_executed", &welcome).await?;
    assert!(r["details"]["logs"]
        .as_str()
        .is_some_and(|l| l.contains("welcome eve@clinic.test")));
    let eve_id = eve["user_id"].as_str().ok_or("user id")?;
    let (s, _) = app
        .api(
            Method::PATCH,
            &format!("users/{}", enc(eve_id)),
            Some(json!({"password": "another correct horse battery"})),
        )
        .await?;
    assert_eq!(s, 200);
    let r = eventually_logged(&app, "custos_rule_executed", &changed).await?;
    assert_eq!(r["details"]["trigger"], "post-change-password");
    assert_eq!(r["user_id"], eve_id);
    assert!(app.verify_chain().await?.is_none());
    Ok(())
}

/// `custos actions test`: an author runs a script locally against a sample event, without a
/// server or a database, and sees the decision, the claims and the logs.
#[test]
fn actions_test_runs_a_script_locally_and_prints_its_decisions() -> TestResult {
    let bin = env!("CARGO_BIN_EXE_custos");
    let dir = tempfile::tempdir()?;
    let code = dir.path().join("action.js");
    std::fs::write(&code, CLAIMS_ACTION)?;
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        json!({"user": {"user_id": "auth0|1", "email": "house@clinic.test",
            "app_metadata": {"department": "cardiology", "clearance": 3}},
            "client": {"client_id": "portal", "name": "Portal"},
            "secrets": {"REGION": "north-east"}})
        .to_string(),
    )?;
    let run = |file: &std::path::Path, event: &std::path::Path| {
        std::process::Command::new(bin)
            .args(["actions", "test"])
            .arg(file)
            .args(["--trigger", "post-login", "--event"])
            .arg(event)
            .env("CUSTOS_DATA_DIR", dir.path().join("unused"))
            .output()
    };
    let out = run(&code, &event)?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(printed["outcome"], "continued");
    assert_eq!(
        printed["id_token_claims"]["https://clinic.example/department"],
        "cardiology"
    );
    assert_eq!(
        printed["access_token_claims"]["https://clinic.example/clearance"],
        3
    );
    assert_eq!(printed["dropped_claims"], json!(["sub"]));
    assert_eq!(printed["app_metadata"]["last_enriched_client"], "portal");
    assert!(
        !dir.path().join("unused").exists(),
        "the harness touched a data directory"
    );

    // A denial prints its reason and logs, and exits non-zero.
    std::fs::write(&code, HIPAA_ACTION)?;
    let out = run(&code, &event)?;
    assert!(!out.status.success());
    let printed: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(printed["outcome"], "denied");
    assert_eq!(
        printed["reason"],
        "HIPAA training required before access to PHI."
    );
    assert!(printed["logs"]
        .as_str()
        .is_some_and(|l| l.contains("no HIPAA training")));

    // A syntax error is reported with its position; an unknown trigger is refused.
    std::fs::write(
        &code,
        "exports.onExecutePostLogin = async (event, api) => {\n  api.access.deny('x';\n};",
    )?;
    let out = run(&code, &event)?;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new(bin)
        .args(["actions", "test"])
        .arg(&code)
        .args(["--trigger", "post-logout"])
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown trigger"));
    Ok(())
}
