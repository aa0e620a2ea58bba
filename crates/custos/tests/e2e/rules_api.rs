//! The Management API of customers' code (Auth0's shapes): Rules, the rules configuration,
//! Actions with their versions, triggers and bindings; and `custos rules` on the command line.
//! Scripts are checked by the engine before they are saved; secrets never come back out, not
//! even in the audit trail.

use std::process::Command;

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::*;

const RULE: &str = "function (user, context, callback) {\n  context.idToken['https://example.com/seen'] = true;\n  callback(null, user, context);\n}";
/// A syntax error on line 2.
const BAD_RULE: &str = "function (user, context, callback) {\n  callback(null user, context);\n}";
const ACTION: &str = "exports.onExecutePostLogin = async (event, api) => {\n  api.idToken.setCustomClaim('https://example.com/v', 1);\n};";
const ACTION_V2: &str = "exports.onExecutePostLogin = async (event, api) => {\n  api.idToken.setCustomClaim('https://example.com/v', 2);\n};";
/// A syntax error on line 3.
const BAD_ACTION: &str =
    "exports.onExecutePostLogin = async (event, api) => {\n  const ok = 1;\n  const = 2;\n};";

/// Every audit record, oldest first, as text (for "this secret appears nowhere") and as the
/// `sapi` records' `details`.
async fn audit_trail(app: &TestApp) -> R<(String, Vec<Value>)> {
    let records = app.store().audit_records(0, i64::MAX, 1_000_000).await?;
    let text = format!("{records:?}");
    let sapi = records
        .into_iter()
        .filter(|r| r.event.event_type.code() == "sapi")
        .map(|r| r.event.details)
        .collect();
    Ok((text, sapi))
}

/// The `sapi` details of writes with this action (a write scope: reads record read scopes).
fn writes<'a>(sapi: &'a [Value], action: &str) -> Vec<&'a Value> {
    sapi.iter().filter(|d| d["action"] == action).collect()
}

#[tokio::test]
async fn rules_crud_order_syntax_errors_and_audit() -> TestResult {
    let app = TestApp::start().await?;
    let (s, first) = app
        .api(
            Method::POST,
            "rules",
            Some(json!({"name": "seen-claim", "script": RULE})),
        )
        .await?;
    assert_eq!(s, 201, "{first}");
    let first_id = first["id"].as_str().ok_or("id")?.to_owned();
    assert!(first_id.starts_with("rul_"), "{first}");
    assert_eq!(
        (
            &first["order"],
            &first["enabled"],
            &first["stage"],
            &first["script"]
        ),
        (
            &json!(1),
            &json!(true),
            &json!("login_success"),
            &json!(RULE)
        )
    );
    // `order` defaults to after the last rule.
    let (s, second) = app
        .api(
            Method::POST,
            "rules",
            Some(json!({"name": "second rule", "script": RULE, "enabled": false})),
        )
        .await?;
    assert_eq!((s, &second["order"]), (201, &json!(2)), "{second}");
    let second_id = second["id"].as_str().ok_or("id")?.to_owned();

    // Refusals: nothing is stored.
    for (body, status) in [
        (json!({"name": "seen-claim", "script": RULE}), 409),
        (json!({"name": "other", "script": RULE, "order": 1}), 409),
        (json!({"name": "other"}), 400),
        (json!({"script": RULE}), 400),
        (json!({"name": "bad/name", "script": RULE}), 400),
        (
            json!({"name": "other", "script": RULE, "stage": "pre_authorize"}),
            400,
        ),
        (json!({"name": "other", "script": RULE, "secret": 1}), 400),
        (json!({"name": "other", "script": RULE, "order": -1}), 400),
    ] {
        let (s, e) = app.api(Method::POST, "rules", Some(body.clone())).await?;
        assert_eq!(
            (s, &e["statusCode"]),
            (status, &json!(status)),
            "{body}: {e}"
        );
    }
    let (s, e) = app
        .api(
            Method::POST,
            "rules",
            Some(json!({"name": "broken", "script": BAD_RULE})),
        )
        .await?;
    assert_eq!((s, &e["errorCode"]), (400, &json!("invalid_body")), "{e}");
    assert_eq!(e["error"], "Bad Request");
    let message = e["message"].as_str().ok_or("message")?;
    assert!(
        message.contains("line 2") && message.contains("column"),
        "{message}"
    );

    // Lists: by order, filtered, with totals.
    let (_, list) = app.api(Method::GET, "rules", None).await?;
    let names: Vec<&str> = list
        .as_array()
        .ok_or("list")?
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["seen-claim", "second rule"]);
    let (_, enabled) = app.api(Method::GET, "rules?enabled=true", None).await?;
    assert_eq!(enabled.as_array().map(Vec::len), Some(1), "{enabled}");
    assert_eq!(enabled[0]["id"], json!(first_id));
    let (_, totals) = app
        .api(Method::GET, "rules?include_totals=true&per_page=1", None)
        .await?;
    assert_eq!(
        (&totals["total"], &totals["length"]),
        (&json!(2), &json!(1))
    );
    let (s, _) = app.api(Method::GET, "rules?enabled=maybe", None).await?;
    assert_eq!(s, 400);

    // Updates: a broken script is refused and the rule keeps its own.
    let path = format!("rules/{second_id}");
    let (s, e) = app
        .api(Method::PATCH, &path, Some(json!({"script": BAD_RULE})))
        .await?;
    assert_eq!(s, 400, "{e}");
    assert!(e["message"].as_str().unwrap_or_default().contains("line 2"));
    let (s, e) = app
        .api(Method::PATCH, &path, Some(json!({"order": 1})))
        .await?;
    assert_eq!(s, 409, "{e}");
    let (s, updated) = app
        .api(
            Method::PATCH,
            &path,
            Some(json!({"enabled": true, "order": 0, "name": "runs-first"})),
        )
        .await?;
    assert_eq!(s, 200, "{updated}");
    assert_eq!(
        (&updated["order"], &updated["enabled"], &updated["script"]),
        (&json!(0), &json!(true), &json!(RULE))
    );
    let (_, list) = app.api(Method::GET, "rules", None).await?;
    assert_eq!(list[0]["name"], "runs-first");

    // Not found.
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let body = (method == Method::PATCH).then(|| json!({"enabled": false}));
        let (s, e) = app.api(method.clone(), "rules/rul_nope", body).await?;
        assert_eq!(
            (s, &e["errorCode"]),
            (404, &json!("inexistent_rule")),
            "{method}"
        );
    }
    let (s, _) = app
        .api(Method::DELETE, &format!("rules/{first_id}"), None)
        .await?;
    assert_eq!(s, 204);
    let (s, _) = app
        .api(Method::GET, &format!("rules/{first_id}"), None)
        .await?;
    assert_eq!(s, 404);

    // One `sapi` per write, naming the rule, never holding its script.
    let (text, sapi) = audit_trail(&app).await?;
    assert_eq!(writes(&sapi, "create:rules").len(), 2);
    assert_eq!(writes(&sapi, "update:rules").len(), 1);
    let deleted = writes(&sapi, "delete:rules");
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["target"]["id"], json!(first_id));
    assert_eq!(deleted[0]["target"]["before"]["name"], "seen-claim");
    assert!(deleted[0]["target"]["before"]["script_sha256"].is_string());
    assert!(
        !text.contains("example.com/seen"),
        "a script reached the trail"
    );
    assert_eq!(app.verify_chain().await?, None);
    Ok(())
}

#[tokio::test]
async fn rules_configs_values_are_sealed_and_never_returned() -> TestResult {
    let app = TestApp::start().await?;
    let secret = "xoxb-very-secret-slack-token-4242";
    let (s, put) = app
        .api(
            Method::PUT,
            "rules-configs/SLACK_HOOK",
            Some(json!({"value": secret})),
        )
        .await?;
    assert_eq!(s, 200, "{put}");
    assert_eq!(put, json!({"key": "SLACK_HOOK", "value": secret}));
    // Replacing keeps one key.
    let (s, _) = app
        .api(
            Method::PUT,
            "rules-configs/SLACK_HOOK",
            Some(json!({"value": format!("{secret}-2")})),
        )
        .await?;
    assert_eq!(s, 200);
    let (s, list) = app.api(Method::GET, "rules-configs", None).await?;
    assert_eq!((s, &list), (200, &json!([{"key": "SLACK_HOOK"}])));

    for (path, body) in [
        ("rules-configs/1bad", json!({"value": "x"})),
        ("rules-configs/has.dot", json!({"value": "x"})),
        ("rules-configs/OK", json!({})),
        ("rules-configs/OK", json!({"value": ""})),
        ("rules-configs/OK", json!({"value": 7})),
        ("rules-configs/OK", json!({"value": "x", "other": 1})),
        ("rules-configs/OK", json!({"value": "x".repeat(4097)})),
    ] {
        let (s, e) = app.api(Method::PUT, path, Some(body)).await?;
        assert_eq!(s, 400, "{path}: {e}");
    }
    let (_, list) = app.api(Method::GET, "rules-configs", None).await?;
    assert_eq!(list.as_array().map(Vec::len), Some(1));

    // Sealed at rest.
    let stored = app.store().rules_configs().await?;
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].sealed_value.contains(secret));

    let (s, _) = app
        .api(Method::DELETE, "rules-configs/SLACK_HOOK", None)
        .await?;
    assert_eq!(s, 204);
    let (s, e) = app
        .api(Method::DELETE, "rules-configs/SLACK_HOOK", None)
        .await?;
    assert_eq!(
        (s, &e["errorCode"]),
        (404, &json!("inexistent_rules_config"))
    );
    let (_, list) = app.api(Method::GET, "rules-configs", None).await?;
    assert_eq!(list, json!([]));

    let (text, sapi) = audit_trail(&app).await?;
    assert_eq!(writes(&sapi, "update:rules_configs").len(), 2);
    assert_eq!(writes(&sapi, "delete:rules_configs").len(), 1);
    assert!(
        !text.contains(secret),
        "a configuration value reached the trail"
    );
    // Also as Auth0 log JSON, through the API.
    let (_, logs) = app.api(Method::GET, "logs?per_page=100", None).await?;
    assert!(!logs.to_string().contains(secret));
    Ok(())
}

async fn create_action(app: &TestApp, body: Value) -> R<Value> {
    let (s, a) = app.api(Method::POST, "actions/actions", Some(body)).await?;
    assert_eq!(s, 201, "{a}");
    Ok(a)
}

#[tokio::test]
async fn actions_create_deploy_bind_patch_and_roll_back() -> TestResult {
    let app = TestApp::start().await?;
    let secret = "sk_live_do-not-leak-0123456789";
    let action = create_action(
        &app,
        json!({"name": "add-version-claim", "code": ACTION,
            "supported_triggers": [{"id": "post-login", "version": "v3"}],
            "dependencies": [{"name": "lodash", "version": "4.17.21"}],
            "secrets": [{"name": "API_KEY", "value": secret}]}),
    )
    .await?;
    let id = action["id"].as_str().ok_or("id")?.to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(action["runtime"], "node22");
    assert_eq!(action["status"], "built");
    assert_eq!(action["deployed_version"], Value::Null);
    assert_eq!(action["all_changes_deployed"], false);
    assert_eq!(
        action["supported_triggers"],
        json!([{"id": "post-login", "version": "v3"}])
    );
    assert_eq!(
        action["dependencies"],
        json!([{"name": "lodash", "version": "4.17.21"}])
    );
    assert_eq!(action["secrets"][0]["name"], "API_KEY");
    assert!(action["secrets"][0]["updated_at"]
        .as_str()
        .is_some_and(|d| d.ends_with('Z')));
    assert!(action["secrets"][0].get("value").is_none());
    assert!(action["created_at"]
        .as_str()
        .is_some_and(|d| d.contains('T')));
    assert!(!action.to_string().contains(secret));
    let path = format!("actions/actions/{id}");
    let (s, got) = app.api(Method::GET, &path, None).await?;
    assert_eq!((s, &got["name"]), (200, &json!("add-version-claim")));
    assert!(!got.to_string().contains(secret));

    // Not deployed yet: cannot be bound.
    let bindings = "actions/triggers/post-login/bindings";
    let (s, e) = app
        .api(
            Method::PATCH,
            bindings,
            Some(json!({"bindings": [{"ref": {"type": "action_id", "value": id}}]})),
        )
        .await?;
    assert_eq!(s, 400, "{e}");
    assert!(e["message"]
        .as_str()
        .unwrap_or_default()
        .contains("deployed"));

    // Deploy: version 1.
    let (s, v1) = app
        .api(Method::POST, &format!("{path}/deploy"), None)
        .await?;
    assert_eq!(s, 200, "{v1}");
    assert_eq!(
        (
            &v1["number"],
            &v1["deployed"],
            &v1["code"],
            &v1["action_id"]
        ),
        (&json!(1), &json!(true), &json!(ACTION), &json!(id))
    );
    assert_eq!(v1["action"]["all_changes_deployed"], true);
    let v1_id = v1["id"].as_str().ok_or("version id")?.to_owned();
    let (_, got) = app.api(Method::GET, &path, None).await?;
    assert_eq!(got["all_changes_deployed"], true);
    assert_eq!(got["deployed_version"]["id"], json!(v1_id));

    // Bind (by name), list the bindings.
    let (s, bound) = app
        .api(
            Method::PATCH,
            bindings,
            Some(json!({"bindings": [{"ref": {"type": "action_name", "value": "add-version-claim"}, "display_name": "Version claim"}]})),
        )
        .await?;
    assert_eq!(s, 200, "{bound}");
    let binding_id = bound["bindings"][0]["id"]
        .as_str()
        .ok_or("binding id")?
        .to_owned();
    let (s, list) = app.api(Method::GET, bindings, None).await?;
    assert_eq!(s, 200);
    assert_eq!(
        (&list["total"], &list["page"], &list["per_page"]),
        (&json!(1), &json!(0), &json!(20))
    );
    let b = &list["bindings"][0];
    assert_eq!(
        (
            &b["id"],
            &b["trigger_id"],
            &b["display_name"],
            &b["action"]["id"]
        ),
        (
            &json!(binding_id),
            &json!("post-login"),
            &json!("Version claim"),
            &json!(id)
        )
    );
    assert!(!list.to_string().contains(secret));
    let (_, other) = app
        .api(Method::GET, "actions/triggers/access-check/bindings", None)
        .await?;
    assert_eq!(other["total"], 0);
    // Rebinding by binding id keeps the binding.
    let (s, again) = app
        .api(
            Method::PATCH,
            bindings,
            Some(json!({"bindings": [{"ref": {"type": "binding_id", "value": binding_id}}]})),
        )
        .await?;
    assert_eq!((s, &again["bindings"][0]["id"]), (200, &json!(binding_id)));
    assert_eq!(again["bindings"][0]["display_name"], "Version claim");

    // Edit the draft: no longer all deployed; the bound version stays v1.
    let (s, patched) = app
        .api(
            Method::PATCH,
            &path,
            Some(json!({"code": ACTION_V2, "secrets": [{"name": "API_KEY"}, {"name": "OTHER", "value": "second-secret-value"}]})),
        )
        .await?;
    assert_eq!(s, 200, "{patched}");
    assert_eq!(patched["all_changes_deployed"], false);
    assert_eq!(patched["deployed_version"]["number"], 1);
    assert_eq!(patched["secrets"].as_array().map(Vec::len), Some(2));
    let stored = app.store().get_action(&id).await?;
    let kept = stored
        .secrets
        .iter()
        .find(|s| s.name == "API_KEY")
        .ok_or("secret kept")?;
    assert!(!kept.sealed_value.contains(secret));
    // Deploy v2, then roll back to v1 (a new version, 3, with v1's code).
    let (_, v2) = app
        .api(Method::POST, &format!("{path}/deploy"), None)
        .await?;
    assert_eq!((&v2["number"], &v2["code"]), (&json!(2), &json!(ACTION_V2)));
    let (s, v3) = app
        .api(
            Method::POST,
            &format!("{path}/versions/{v1_id}/deploy"),
            None,
        )
        .await?;
    assert_eq!(s, 200, "{v3}");
    assert_eq!(
        (&v3["number"], &v3["code"], &v3["deployed"]),
        (&json!(3), &json!(ACTION), &json!(true))
    );
    let (_, got) = app.api(Method::GET, &path, None).await?;
    assert_eq!(got["deployed_version"]["number"], 3);
    assert_eq!(got["code"], ACTION_V2, "the draft is kept");
    assert_eq!(got["all_changes_deployed"], false);
    let bound_now = app.store().bound_actions("post-login").await?;
    assert_eq!(bound_now.len(), 1);
    assert_eq!(
        (bound_now[0].version_number, bound_now[0].code.as_str()),
        (3, ACTION)
    );
    // With update_draft, the draft follows.
    let (s, v4) = app
        .api(
            Method::POST,
            &format!("{path}/versions/{v1_id}/deploy"),
            Some(json!({"update_draft": true})),
        )
        .await?;
    assert_eq!((s, &v4["number"]), (200, &json!(4)), "{v4}");
    let (_, got) = app.api(Method::GET, &path, None).await?;
    assert_eq!(
        (&got["code"], &got["all_changes_deployed"]),
        (&json!(ACTION), &json!(true))
    );

    // Versions, newest first; one by id; not found.
    let (s, versions) = app
        .api(Method::GET, &format!("{path}/versions"), None)
        .await?;
    assert_eq!((s, &versions["total"]), (200, &json!(4)), "{versions}");
    let numbers: Vec<i64> = versions["versions"]
        .as_array()
        .ok_or("versions")?
        .iter()
        .filter_map(|v| v["number"].as_i64())
        .collect();
    assert_eq!(numbers, [4, 3, 2, 1]);
    assert_eq!(versions["versions"][0]["deployed"], true);
    assert_eq!(versions["versions"][3]["deployed"], false);
    let (s, one) = app
        .api(Method::GET, &format!("{path}/versions/{v1_id}"), None)
        .await?;
    assert_eq!((s, &one["number"]), (200, &json!(1)));
    let (s, e) = app
        .api(Method::GET, &format!("{path}/versions/nope"), None)
        .await?;
    assert_eq!(
        (s, &e["errorCode"]),
        (404, &json!("inexistent_action_version"))
    );

    // Lists and filters.
    create_action(
        &app,
        json!({"name": "decision-hook", "code": ACTION,
            "supported_triggers": [{"id": "access-check"}]}),
    )
    .await?;
    let (s, all) = app.api(Method::GET, "actions/actions", None).await?;
    assert_eq!(
        (s, &all["total"], &all["per_page"]),
        (200, &json!(2), &json!(20))
    );
    for (query, expected) in [
        ("triggerId=post-login", vec!["add-version-claim"]),
        ("triggerId=access-check", vec!["decision-hook"]),
        ("deployed=true", vec!["add-version-claim"]),
        ("deployed=false", vec!["decision-hook"]),
        ("actionName=decision-hook", vec!["decision-hook"]),
        ("installed=true", vec![]),
    ] {
        let (s, l) = app
            .api(Method::GET, &format!("actions/actions?{query}"), None)
            .await?;
        assert_eq!(s, 200, "{query}: {l}");
        let names: Vec<&str> = l["actions"]
            .as_array()
            .ok_or("actions")?
            .iter()
            .filter_map(|a| a["name"].as_str())
            .collect();
        assert_eq!(names, expected, "{query}");
    }

    // Triggers.
    let (s, triggers) = app.api(Method::GET, "actions/triggers", None).await?;
    assert_eq!(s, 200);
    let t = triggers["triggers"]
        .as_array()
        .ok_or("triggers")?
        .iter()
        .find(|t| t["id"] == "post-login")
        .ok_or("post-login")?;
    assert_eq!(
        (&t["version"], &t["status"], &t["default_runtime"]),
        (&json!("v3"), &json!("CURRENT"), &json!("node22"))
    );
    assert!(triggers["triggers"]
        .as_array()
        .is_some_and(|a| a.iter().any(|t| t["id"] == "access-check")));

    // Deleting a bound action needs force, which unbinds it.
    let (s, e) = app.api(Method::DELETE, &path, None).await?;
    assert_eq!(s, 409, "{e}");
    let (s, _) = app
        .api(Method::DELETE, &format!("{path}?force=true"), None)
        .await?;
    assert_eq!(s, 204);
    let (s, e) = app.api(Method::GET, &path, None).await?;
    assert_eq!((s, &e["errorCode"]), (404, &json!("inexistent_action")));
    let (_, list) = app.api(Method::GET, bindings, None).await?;
    assert_eq!(list["total"], 0);

    // The trail: one record per write, no secret value, no code.
    let (text, sapi) = audit_trail(&app).await?;
    assert_eq!(writes(&sapi, "create:actions").len(), 2);
    assert_eq!(writes(&sapi, "delete:actions").len(), 1);
    let updates = writes(&sapi, "update:actions");
    // patch, 2 deploys, 2 rollbacks, 2 binding updates
    assert_eq!(updates.len(), 7, "{updates:?}");
    assert!(updates
        .iter()
        .any(|d| d["target"]["operation"] == "bind" && d["target"]["trigger_id"] == "post-login"));
    assert!(!text.contains(secret), "a secret reached the trail");
    assert!(!text.contains("second-secret-value"));
    assert!(!text.contains("setCustomClaim"), "code reached the trail");
    assert_eq!(app.verify_chain().await?, None);
    Ok(())
}

#[tokio::test]
async fn actions_refuse_bad_code_unknown_triggers_and_bad_bindings() -> TestResult {
    let app = TestApp::start().await?;
    let post_login = json!([{"id": "post-login", "version": "v3"}]);
    let (s, e) = app
        .api(
            Method::POST,
            "actions/actions",
            Some(json!({"name": "broken", "code": BAD_ACTION, "supported_triggers": post_login})),
        )
        .await?;
    assert_eq!((s, &e["errorCode"]), (400, &json!("invalid_body")), "{e}");
    let message = e["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("line 3") && message.contains("column"),
        "{message}"
    );
    for body in [
        json!({"name": "x", "code": ACTION, "supported_triggers": [{"id": "send-phone-message"}]}),
        json!({"name": "x", "code": ACTION, "supported_triggers": [{"id": "post-login", "version": "v1"}]}),
        json!({"name": "x", "code": ACTION, "supported_triggers": []}),
        json!({"name": "x", "code": ACTION}),
        json!({"code": ACTION, "supported_triggers": post_login}),
        json!({"name": "x", "code": ACTION, "supported_triggers": post_login, "runtime": "node12"}),
        json!({"name": "x", "code": ACTION, "supported_triggers": post_login, "secrets": [{"name": "NO_VALUE"}]}),
        json!({"name": "x", "code": ACTION, "supported_triggers": post_login, "secrets": [{"name": "1bad", "value": "v"}]}),
        json!({"name": "x", "code": ACTION, "supported_triggers": post_login, "dependencies": [{"name": "lodash"}]}),
        json!({"name": "x", "code": ACTION, "supported_triggers": post_login, "modules": []}),
    ] {
        let (s, e) = app
            .api(Method::POST, "actions/actions", Some(body.clone()))
            .await?;
        assert_eq!(s, 400, "{body}: {e}");
    }
    let (_, list) = app.api(Method::GET, "actions/actions", None).await?;
    assert_eq!(list["total"], 0, "nothing stored: {list}");

    let deployed = create_action(
        &app,
        json!({"name": "deployed", "code": ACTION, "supported_triggers": post_login, "deploy": true}),
    )
    .await?;
    assert_eq!(deployed["deployed_version"]["number"], 1);
    assert_eq!(deployed["all_changes_deployed"], true);
    let draft = create_action(
        &app,
        json!({"name": "draft", "code": ACTION, "supported_triggers": post_login}),
    )
    .await?;
    let (s, _) = app
        .api(
            Method::POST,
            "actions/actions",
            Some(json!({"name": "draft", "code": ACTION, "supported_triggers": post_login})),
        )
        .await?;
    assert_eq!(s, 409);
    let draft_path = format!("actions/actions/{}", draft["id"].as_str().ok_or("id")?);
    let (s, e) = app
        .api(
            Method::PATCH,
            &draft_path,
            Some(json!({"code": BAD_ACTION})),
        )
        .await?;
    assert_eq!(s, 400, "{e}");
    let (_, kept) = app.api(Method::GET, &draft_path, None).await?;
    assert_eq!(kept["code"], ACTION);

    // Bindings: all or nothing.
    let bindings = "actions/triggers/post-login/bindings";
    let by_name = |n: &str| json!({"ref": {"type": "action_name", "value": n}});
    let (s, ok) = app
        .api(
            Method::PATCH,
            bindings,
            Some(json!({"bindings": [by_name("deployed")]})),
        )
        .await?;
    assert_eq!(s, 200, "{ok}");
    for (body, status) in [
        (
            json!({"bindings": [by_name("deployed"), by_name("draft")]}),
            400,
        ),
        (
            json!({"bindings": [by_name("deployed"), by_name("nobody")]}),
            404,
        ),
        (
            json!({"bindings": [by_name("deployed"), by_name("deployed")]}),
            400,
        ),
        (
            json!({"bindings": [{"ref": {"type": "binding_id", "value": "nope"}}]}),
            404,
        ),
        (
            json!({"bindings": [{"ref": {"type": "uuid", "value": "x"}}]}),
            400,
        ),
        (
            json!({"bindings": [{"ref": {"type": "action_name", "value": "deployed"}, "secrets": []}]}),
            400,
        ),
        (
            json!({"bindings": (0..21).map(|_| by_name("deployed")).collect::<Vec<_>>()}),
            400,
        ),
        (json!({}), 400),
    ] {
        let (s, e) = app.api(Method::PATCH, bindings, Some(body.clone())).await?;
        assert_eq!(s, status, "{body}: {e}");
    }
    // A deployed action of another trigger cannot be bound here.
    create_action(
        &app,
        json!({"name": "checker", "code": ACTION, "supported_triggers": [{"id": "access-check"}], "deploy": true}),
    )
    .await?;
    let (s, e) = app
        .api(
            Method::PATCH,
            bindings,
            Some(json!({"bindings": [by_name("checker")]})),
        )
        .await?;
    assert_eq!(s, 400, "{e}");
    let (_, list) = app.api(Method::GET, bindings, None).await?;
    assert_eq!(list["total"], 1, "unchanged: {list}");
    assert_eq!(list["bindings"][0]["action"]["name"], "deployed");
    // A bound action keeps its trigger.
    let deployed_path = format!("actions/actions/{}", deployed["id"].as_str().ok_or("id")?);
    let (s, e) = app
        .api(
            Method::PATCH,
            &deployed_path,
            Some(json!({"supported_triggers": [{"id": "access-check"}]})),
        )
        .await?;
    assert_eq!(s, 409, "{e}");

    // Unknown triggers and actions.
    let (s, _) = app
        .api(Method::GET, "actions/triggers/nope/bindings", None)
        .await?;
    assert_eq!(s, 400);
    let (s, _) = app
        .api(Method::GET, "actions/actions?triggerId=nope", None)
        .await?;
    assert_eq!(s, 400);
    for (method, path) in [
        (Method::GET, "actions/actions/nope"),
        (Method::DELETE, "actions/actions/nope"),
        (Method::POST, "actions/actions/nope/deploy"),
        (Method::GET, "actions/actions/nope/versions"),
    ] {
        let (s, e) = app.api(method.clone(), path, None).await?;
        assert_eq!(
            (s, &e["errorCode"]),
            (404, &json!("inexistent_action")),
            "{method} {path}"
        );
    }
    let (s, _) = app
        .api(
            Method::PATCH,
            "actions/actions/nope",
            Some(json!({"code": ACTION})),
        )
        .await?;
    assert_eq!(s, 404);
    assert_eq!(app.verify_chain().await?, None);
    Ok(())
}

#[tokio::test]
async fn rules_and_actions_need_their_scopes() -> TestResult {
    let app = TestApp::start().await?;
    let m = app
        .create_client(json!({"app_type": "non_interactive"}))
        .await?;
    let id = m["client_id"].as_str().ok_or("id")?;
    let (s, _) = app
        .api(
            Method::POST,
            "client-grants",
            Some(json!({"client_id": id, "audience": app.url("api/v2/"),
                "scope": ["read:rules", "read:actions"]})),
        )
        .await?;
    assert_eq!(s, 201);
    let (_, t) = app
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            (
                "client_secret",
                m["client_secret"].as_str().ok_or("secret")?,
            ),
            ("audience", &app.url("api/v2/")),
        ])
        .await?;
    let token = t["access_token"].as_str().ok_or("token")?;
    let c = reqwest::Client::new();
    for (method, path, status) in [
        (Method::GET, "rules", 200),
        (Method::GET, "actions/actions", 200),
        (Method::GET, "actions/triggers", 200),
        (Method::GET, "actions/triggers/post-login/bindings", 200),
        (Method::POST, "rules", 403),
        (Method::PATCH, "rules/rul_x", 403),
        (Method::DELETE, "rules/rul_x", 403),
        (Method::GET, "rules-configs", 403),
        (Method::PUT, "rules-configs/KEY", 403),
        (Method::DELETE, "rules-configs/KEY", 403),
        (Method::POST, "actions/actions", 403),
        (Method::PATCH, "actions/actions/x", 403),
        (Method::DELETE, "actions/actions/x", 403),
        (Method::POST, "actions/actions/x/deploy", 403),
        (Method::POST, "actions/actions/x/versions/y/deploy", 403),
        (Method::PATCH, "actions/triggers/post-login/bindings", 403),
    ] {
        let r = c
            .request(method.clone(), app.url(&format!("api/v2/{path}")))
            .bearer_auth(token)
            .json(&json!({}))
            .send()
            .await?;
        assert_eq!(r.status().as_u16(), status, "{method} {path}");
        if status == 403 {
            let b: Value = r.json().await?;
            assert_eq!(b["errorCode"], "insufficient_scope", "{method} {path}");
        }
    }
    // The bootstrap client holds every new scope.
    for path in [
        "rules",
        "rules-configs",
        "actions/actions",
        "actions/triggers",
    ] {
        let (s, _) = app.api(Method::GET, path, None).await?;
        assert_eq!(s, 200, "{path}");
    }
    Ok(())
}

const BIN: &str = env!("CARGO_BIN_EXE_custos");

/// `custos rules create/list/delete`: the same validation as the API, and audited as the CLI.
#[tokio::test]
async fn cli_rules_create_list_and_delete() -> TestResult {
    let dir = tempfile::tempdir()?;
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env("CUSTOS_DATA_DIR", dir.path())
            .env_remove("CUSTOS_DATABASE_URL")
            .output()
    };
    let script = dir.path().join("seen.js");
    std::fs::write(&script, RULE)?;
    let broken = dir.path().join("broken.js");
    std::fs::write(&broken, BAD_RULE)?;
    let script = script.to_str().ok_or("path")?;

    let out = run(&["rules", "create", "--name", "seen-claim", "--file", script])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout)?;
    let id = created["id"].as_str().ok_or("id")?.to_owned();
    assert_eq!(
        (&created["order"], &created["enabled"]),
        (&json!(1), &json!(true))
    );
    let out = run(&[
        "rules",
        "create",
        "--name",
        "later",
        "--file",
        script,
        "--order",
        "10",
        "--disabled",
    ])?;
    assert!(out.status.success());
    let out = run(&[
        "rules",
        "create",
        "--name",
        "broken",
        "--file",
        broken.to_str().ok_or("path")?,
    ])?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2"), "{err}");

    let out = run(&["rules", "list"])?;
    assert!(out.status.success());
    let list: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(list["total"], 2, "{list}");
    assert_eq!(
        (
            &list["rules"][1]["name"],
            &list["rules"][1]["order"],
            &list["rules"][1]["enabled"]
        ),
        (&json!("later"), &json!(10), &json!(false))
    );
    let out = run(&["rules", "delete", &id])?;
    assert!(out.status.success());
    let out = run(&["rules", "delete", &id])?;
    assert!(!out.status.success(), "a second delete finds nothing");

    let db = format!("sqlite://{}", dir.path().join("custos.db").display());
    let store = custos_store::Store::connect(&db).await?;
    let records = store.audit_records(0, i64::MAX, 100_000).await?;
    let cli_writes: Vec<&str> = records
        .iter()
        .filter(|r| r.event.client_id.as_deref() == Some("cli"))
        .filter_map(|r| r.event.details["action"].as_str())
        .collect();
    assert_eq!(cli_writes, ["create:rules", "create:rules", "delete:rules"]);
    store.close().await;
    Ok(())
}
