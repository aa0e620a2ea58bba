//! Scripts and the network, through real logins and real checks: an Action that declares an
//! HTTPS host (`// @custos-allow-https`) reads it into the ID token; a Rule that fetches a host
//! it did not declare, or fetches with no declaration at all, fails, and the check it ran for
//! is denied.

use std::sync::atomic::Ordering;

use reqwest::Method;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn an_action_reads_a_declared_https_host_into_the_id_token() -> TestResult {
    let app = TestApp::start().await?;
    let directory = app
        .https_json_server(r#"{"department":"cardiology"}"#)
        .await?;
    let code = format!(
        r#"// @custos-allow-https {host}
exports.onExecutePostLogin = async (event, api) => {{
  const response = await fetch('https://{host}/departments/' + encodeURIComponent(event.user.user_id), {{
    headers: {{ accept: 'application/json' }},
  }});
  if (!response.ok) {{
    api.access.deny('the directory is unavailable');
    return;
  }}
  const data = await response.json();
  api.idToken.setCustomClaim('https://clinic.example/department', data.department);
}};"#,
        host = directory.host
    );
    let action_id =
        deploy_action(&app, "Department lookup", "post-login", &code, json!([])).await?;
    let client = app
        .create_client(json!({"name": "Clinic portal", "app_type": "spa"}))
        .await?;
    let client_id = client["client_id"].as_str().ok_or("client")?.to_owned();
    app.create_user("house@clinic.test").await?;

    let login = app.login(&client_id, "house@clinic.test", PASSWORD).await?;
    let (s, tokens) = app.exchange(&client_id, &login).await?;
    assert_eq!(s, 200, "{tokens}");
    let claims = jwt_claims(tokens["id_token"].as_str().ok_or("no id_token")?)?;
    assert_eq!(claims["https://clinic.example/department"], "cardiology");
    assert_eq!(directory.hits.load(Ordering::SeqCst), 1);

    let runs = app.logs_of_type("custos_rule_executed").await?;
    let run = runs
        .iter()
        .find(|l| l["details"]["action_id"] == action_id.as_str())
        .ok_or("no record of the action's run")?;
    assert_eq!(run["details"]["outcome"], "continued", "{run}");
    assert!(app.verify_chain().await?.is_none());
    Ok(())
}

#[tokio::test]
async fn a_rule_fetching_an_undeclared_host_fails_and_the_check_is_denied() -> TestResult {
    let app = TestApp::start().await?;
    let directory = app.https_json_server(r#"{"allow":true}"#).await?;
    let user = app.create_user("joy@clinic.test").await?;
    let user_id = user["user_id"].as_str().ok_or("user id")?.to_owned();
    let question = json!({"user_id": user_id, "path": "/api/v1/patients/records"});
    // Would allow if the request went through.
    let body = format!(
        "async function (user, context, callback) {{\n  const response = await fetch('https://{}/allow');\n  const data = await response.json();\n  if (data.allow) return callback(null, user, context);\n  callback(new UnauthorizedError('not allowed'));\n}}",
        directory.host
    );
    let cases = [
        (
            "declares another host",
            format!("// @custos-allow-https directory.clinic.example\n{body}"),
            format!("{} is not in the script's allow-list", directory.host),
        ),
        (
            "declares nothing",
            body.clone(),
            "fetch is not defined".to_owned(),
        ),
    ];
    for (name, script, expected) in cases {
        let rule_id = create_rule(&app, name, &script).await?;
        let d = check(&app, question.clone()).await?;
        assert_eq!(d["allowed"], false, "{name}: {d}");
        let failures = app.logs_of_type("custos_rule_failed").await?;
        let failure = failures
            .iter()
            .find(|l| l["details"]["rule_id"] == rule_id.as_str())
            .ok_or(format!("{name}: no custos_rule_failed record"))?;
        assert_eq!(failure["details"]["outcome"], "failed", "{name}: {failure}");
        let error = failure["details"]["error"].as_str().unwrap_or_default();
        assert!(error.contains(&expected), "{name}: {error}");
        let (s, _) = app
            .api(Method::DELETE, &format!("rules/{rule_id}"), None)
            .await?;
        assert_eq!(s, 204, "{name}");
    }
    assert_eq!(
        directory.hits.load(Ordering::SeqCst),
        0,
        "nothing reached the undeclared host"
    );

    // A malformed declaration is refused when the rule is saved, with its position.
    let (s, e) = app
        .api(
            Method::POST,
            "rules",
            Some(json!({"name": "wildcard", "script": format!("// @custos-allow-https *.clinic.example\n{body}"), "enabled": true})),
        )
        .await?;
    assert_eq!(s, 400, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("wildcards"),
        "{e}"
    );
    assert!(app.verify_chain().await?.is_none());
    Ok(())
}
