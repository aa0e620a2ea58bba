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
