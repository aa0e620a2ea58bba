//! The `custos` binary itself: version, init, serve with graceful shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_custos");

#[test]
fn version_and_help() -> TestResult {
    let out = Command::new(BIN).arg("version").output()?;
    assert!(String::from_utf8(out.stdout)?.starts_with("custos "));
    let out = Command::new(BIN).args(["clients", "--help"]).output()?;
    assert!(String::from_utf8(out.stdout)?.contains("create"));
    Ok(())
}

#[test]
fn init_then_serve_then_sigterm() -> TestResult {
    let dir = tempfile::tempdir()?;
    let out = Command::new(BIN)
        .arg("init")
        .env("CUSTOS_DATA_DIR", dir.path())
        .env_remove("CUSTOS_DATABASE_URL")
        .output()?;
    let text = String::from_utf8(out.stdout)?;
    assert!(out.status.success(), "{text}");
    assert!(text.contains("client_secret:"), "{text}");
    let key = dir.path().join("master.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&key)?.permissions().mode() & 0o777, 0o600);
    }
    // A second init does not show the secret again.
    let again = String::from_utf8(
        Command::new(BIN)
            .arg("init")
            .env("CUSTOS_DATA_DIR", dir.path())
            .output()?
            .stdout,
    )?;
    assert!(!again.contains("client_secret:"));

    let mut child = Command::new(BIN)
        .arg("serve")
        .env("CUSTOS_DATA_DIR", dir.path())
        .env("CUSTOS_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("stdout")?).lines();
    let first = lines.next().ok_or("no output")??;
    let addr = first.rsplit(' ').next().ok_or("addr")?.to_owned();
    let rt = tokio::runtime::Runtime::new()?;
    let status = rt.block_on(async {
        reqwest::get(format!("{addr}/readyz"))
            .await
            .map(|r| r.status().as_u16())
    })?;
    assert_eq!(status, 200);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    let code = child.wait()?;
    assert!(code.success(), "graceful shutdown exits 0: {code:?}");
    Ok(())
}

/// A data directory created by an older version (fewer Management API scopes) gains the new
/// scopes at the next start.
#[tokio::test]
async fn new_management_scopes_reach_existing_data_directories() -> TestResult {
    let dir = tempfile::tempdir()?;
    let init = Command::new(BIN)
        .arg("init")
        .env("CUSTOS_DATA_DIR", dir.path())
        .env_remove("CUSTOS_DATABASE_URL")
        .output()?;
    assert!(init.status.success());
    let db = format!("sqlite://{}", dir.path().join("custos.db").display());
    custos_store::admin::Admin::connect(&db)
        .await?
        .execute(r#"UPDATE resource_servers SET scopes = '[{"value":"read:users","description":""}]' WHERE is_system = 1"#)
        .await?;
    let out = Command::new(BIN)
        .args(["apis", "list"])
        .env("CUSTOS_DATA_DIR", dir.path())
        .env_remove("CUSTOS_DATABASE_URL")
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let api = list["resource_servers"]
        .as_array()
        .ok_or("list")?
        .iter()
        .find(|a| a["is_system"] == true)
        .ok_or("no system api")?;
    let scopes: Vec<&str> = api["scopes"]
        .as_array()
        .ok_or("scopes")?
        .iter()
        .filter_map(|s| s["value"].as_str())
        .collect();
    assert!(
        scopes.contains(&"read:users") && scopes.contains(&"update:client_keys"),
        "{scopes:?}"
    );
    Ok(())
}

/// `custos serve` with `CUSTOS_MANAGEMENT_RATE_LIMIT`: Management API answers carry Auth0's
/// `x-ratelimit-*` headers, a client over its limit gets Auth0's 429, and the first refusal is
/// recorded as `api_limit`.
#[tokio::test]
async fn management_rate_limit_headers_and_429() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut child = tokio::process::Command::new(BIN)
        .arg("serve")
        .env("CUSTOS_DATA_DIR", dir.path())
        .env_remove("CUSTOS_DATABASE_URL")
        .env("CUSTOS_LISTEN", "127.0.0.1:0")
        .env("CUSTOS_BOOTSTRAP_CLIENT_ID", "limits-client")
        .env("CUSTOS_BOOTSTRAP_CLIENT_SECRET", "limits-secret-0123456789")
        .env("CUSTOS_MANAGEMENT_RATE_LIMIT", "3")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    use tokio::io::AsyncBufReadExt as _;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().ok_or("stdout")?).lines();
    let first = lines.next_line().await?.ok_or("no output")?;
    let base = format!("{}/", first.rsplit(' ').next().ok_or("addr")?);
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{base}oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "limits-client"),
            ("client_secret", "limits-secret-0123456789"),
            ("audience", &format!("{base}api/v2/")),
        ])
        .send()
        .await?
        .json()
        .await?;
    let token = token["access_token"].as_str().ok_or("token")?.to_owned();
    let header = |r: &reqwest::Response, name: &str| -> Option<u64> {
        r.headers().get(name)?.to_str().ok()?.parse().ok()
    };
    let mut seen = Vec::new();
    for _ in 0..10 {
        let r = http
            .get(format!("{base}api/v2/roles"))
            .bearer_auth(&token)
            .send()
            .await?;
        let now = (custos_domain::Clock::now_ms(&custos_domain::SystemClock) / 1000) as u64;
        let (limit, remaining, reset) = (
            header(&r, "x-ratelimit-limit"),
            header(&r, "x-ratelimit-remaining"),
            header(&r, "x-ratelimit-reset").ok_or("no reset header")?,
        );
        assert!(
            reset >= now && reset <= now + 2,
            "reset {reset} vs now {now}"
        );
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await?;
        if status == 429 {
            assert_eq!(body["errorCode"], "too_many_requests", "{body}");
            assert_eq!(body["statusCode"], 429);
        }
        seen.push((status, limit, remaining));
    }
    // The bucket holds 3 and refills 3/s: a full bucket answers with 2 left, every answer names
    // the limit, and ten quick calls run into refusals (a refill may slip in between them).
    assert_eq!(seen[0], (200, Some(3), Some(2)), "{seen:?}");
    assert!(seen.iter().all(|s| s.1 == Some(3)), "{seen:?}");
    assert!(
        seen.iter().any(|s| s.0 == 429 && s.2 == Some(0)),
        "{seen:?}"
    );
    // Unauthenticated calls are refused before the bucket and get no headers.
    let r = http.get(format!("{base}api/v2/roles")).send().await?;
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().get("x-ratelimit-limit").is_none());
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let logs: serde_json::Value = http
        .get(format!("{base}api/v2/logs?q=type:api_limit"))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    let logs = logs.as_array().ok_or("logs")?;
    assert!(!logs.is_empty(), "api_limit recorded");
    assert_eq!(logs[0]["client_id"], "limits-client");
    child.kill().await?;
    Ok(())
}
