//! Independently written relying parties (openid-client for Node.js, authlib for Python) log in
//! through the real login page. `tests/interop/install.sh` installs them (the test script runs
//! it); a missing install fails the test rather than skipping it.

use std::path::PathBuf;
use std::process::Command;

use serde_json::json;

use crate::support::*;

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop")
}

async fn run(
    app: &TestApp,
    program: &str,
    args: &[&str],
    client: &serde_json::Value,
    email: &str,
    audience: Option<&str>,
) -> TestResult {
    let secret = client["client_secret"].as_str().unwrap_or_default();
    let app_base = app.base.clone();
    let client_id = client["client_id"].as_str().ok_or("id")?.to_owned();
    let (program, args, email, audience, secret) = (
        program.to_owned(),
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        email.to_owned(),
        audience.map(str::to_owned),
        secret.to_owned(),
    );
    let name = program.clone();
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(&program);
        cmd.args(&args)
            .current_dir(interop_dir())
            .env("CUSTOS_ISSUER", &app_base)
            .env("CLIENT_ID", &client_id)
            .env("CLIENT_SECRET", &secret)
            .env("REDIRECT_URI", CALLBACK)
            .env("USER_EMAIL", &email)
            .env("USER_PASSWORD", PASSWORD);
        if let Some(a) = &audience {
            cmd.env("AUDIENCE", a);
        }
        cmd.output()
    })
    .await??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(": ok"), "{stdout}");
    Ok(())
}

#[tokio::test]
async fn openid_client_node_public_client() -> TestResult {
    let app = TestApp::start().await?;
    let client = app.create_client(json!({"app_type": "spa"})).await?;
    app.create_user("node@example.com").await?;
    run(
        &app,
        "node",
        &["node/login.mjs"],
        &client,
        "node@example.com",
        None,
    )
    .await
}

#[tokio::test]
async fn authlib_python_confidential_client_with_api() -> TestResult {
    let app = TestApp::start().await?;
    let (s, _) = app
        .api(reqwest::Method::POST, "resource-servers", Some(json!({"identifier": "urn:interop:api", "signing_alg": "ES256", "allow_offline_access": true, "scopes": [{"value": "read:charts"}]})))
        .await?;
    assert_eq!(s, 201);
    let client = app
        .create_client(json!({"app_type": "regular_web"}))
        .await?;
    app.create_user("python@example.com").await?;
    let python = interop_dir().join("python/.venv/bin/python");
    run(
        &app,
        python.to_str().ok_or("path")?,
        &["python/login.py"],
        &client,
        "python@example.com",
        Some("urn:interop:api"),
    )
    .await
}
