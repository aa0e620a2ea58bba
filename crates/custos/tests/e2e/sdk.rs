//! Auth0's own Management API SDKs, unchanged, manage Custos: the `auth0` npm package
//! (`ManagementClient`) and the `auth0-python` package (`ManagementClient`, `GetToken`). They
//! only speak HTTPS to a domain, so Custos serves TLS with a certificate from a test CA that the
//! scripts are told to trust. Each script creates, reads, updates, lists and deletes APIs,
//! applications, client grants, users, roles and permissions and checks every answer; this test
//! then checks that the audit trail holds the matching records and still verifies.
//!
//! `tests/interop/install.sh` installs the pinned SDKs (the test script runs it); a missing
//! install fails the test rather than skipping it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

use crate::support::*;

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop")
}

/// Runs one SDK script against `app` with names prefixed by `prefix`.
async fn run(app: &TestApp, program: PathBuf, script: &str, prefix: &str) -> TestResult {
    let ca = app.ca_file.clone().ok_or("the server must run with TLS")?;
    let domain = url::Url::parse(&app.base)?;
    let domain = format!(
        "{}:{}",
        domain.host_str().ok_or("host")?,
        domain.port().ok_or("port")?
    );
    let (id, secret) = app.bootstrap.clone();
    let (script, prefix) = (script.to_owned(), prefix.to_owned());
    let name = script.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&program)
            .arg(&script)
            .current_dir(interop_dir())
            .env("CUSTOS_DOMAIN", &domain)
            .env("CLIENT_ID", &id)
            .env("CLIENT_SECRET", &secret)
            .env("NAME_PREFIX", &prefix)
            // Node's fetch, Python's httpx (the Management client) and requests (GetToken).
            .env("NODE_EXTRA_CA_CERTS", &ca)
            .env("SSL_CERT_FILE", &ca)
            .env("REQUESTS_CA_BUNDLE", &ca)
            .output()
    })
    .await?
    .map_err(|e| {
        format!(
            "could not start {}: {e} (run tests/interop/install.sh)",
            program_name(&name)
        )
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(": ok"), "{stdout}");
    Ok(())
}

fn program_name(script: &str) -> &str {
    if script.ends_with(".py") {
        "python (tests/interop/python/.venv)"
    } else {
        "node"
    }
}

/// Every record of the given types, oldest first.
async fn records(app: &TestApp, types: &[&str]) -> R<Vec<Value>> {
    let q = types
        .iter()
        .map(|t| format!("type:{t}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let q = url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>();
    let mut out = Vec::new();
    for page in 0.. {
        let (s, body) = app
            .api(
                reqwest::Method::GET,
                &format!("logs?q={q}&sort=date:1&per_page=100&page={page}"),
                None,
            )
            .await?;
        assert_eq!(s, 200, "{body}");
        let items = body.as_array().ok_or("logs are an array")?;
        out.extend(items.iter().cloned());
        if items.len() < 100 {
            break;
        }
    }
    Ok(out)
}

/// The management writes of one script run, as its audit records show them.
async fn check_trail(app: &TestApp, prefix: &str) -> TestResult {
    let identifier = format!("urn:custos:sdk:{prefix}:charts");
    let emails: Vec<String> = ["alice", "bob", "carol"]
        .iter()
        .map(|n| format!("{prefix}-{n}@sdk.example.com"))
        .collect();
    let logs = records(app, &["sapi", "fapi", "custos_rbac_changed"]).await?;
    // Management API calls (start-up writes such as the first signing keys are `sapi` too).
    let sapi: Vec<&Value> = logs
        .iter()
        .filter(|l| l["type"] == "sapi")
        .filter(|l| {
            l["description"]
                .as_str()
                .is_some_and(|d| d.starts_with("Management API:"))
        })
        .collect();
    let action = |a: &str| -> Vec<&Value> {
        sapi.iter()
            .copied()
            .filter(|l| l["details"]["action"] == a)
            .collect()
    };

    // Every write the scripts made, by the client the SDK authenticated as.
    let mut counts = BTreeMap::new();
    for l in &sapi {
        assert_eq!(l["client_id"], app.bootstrap.0, "{l}");
        assert_eq!(l["ip"], "127.0.0.1", "{l}");
        *counts
            .entry(l["details"]["action"].as_str().unwrap_or_default())
            .or_insert(0) += 1;
    }
    for (a, at_least) in [
        ("create:resource_servers", 1),
        ("update:resource_servers", 1),
        ("delete:resource_servers", 1),
        ("create:clients", 1),
        ("update:clients", 1),
        ("delete:clients", 1),
        ("create:client_grants", 1),
        ("update:client_grants", 1),
        ("delete:client_grants", 1),
        ("create:users", 3),
        ("delete:users", 3),
        ("create:roles", 2),
        ("delete:roles", 2),
        ("read:users", 1),
        ("read:roles", 1),
    ] {
        let n = counts.get(a).copied().unwrap_or(0);
        assert!(
            n >= at_least,
            "{a}: {n} sapi records, expected {at_least}; {counts:?}"
        );
    }

    // What changed, with before and after, never a secret.
    let api = action("create:resource_servers");
    assert!(
        api.iter()
            .any(|l| l["details"]["target"]["identifier"] == identifier.as_str()),
        "{api:?}"
    );
    let api_update = action("update:resource_servers")
        .into_iter()
        .find(|l| l["details"]["target"]["identifier"] == identifier.as_str())
        .ok_or("update:resource_servers record")?;
    assert_eq!(
        api_update["details"]["target"]["before"]["name"],
        format!("{prefix} charts")
    );
    assert_eq!(
        api_update["details"]["target"]["after"]["name"],
        format!("{prefix} charts v2")
    );
    assert_eq!(
        api_update["details"]["target"]["after"]["token_dialect"],
        "access_token_authz"
    );
    let client_update = action("update:clients")
        .into_iter()
        .find(|l| l["details"]["target"]["after"]["name"] == format!("{prefix} worker").as_str())
        .ok_or("update:clients record")?;
    assert_eq!(
        client_update["details"]["target"]["after"]["client_metadata"],
        json!({"team": "interop", "tier": "gold"})
    );
    let grant_update = action("update:client_grants")
        .into_iter()
        .find(|l| l["details"]["target"]["after"]["audience"] == identifier.as_str())
        .ok_or("update:client_grants record")?;
    assert_eq!(
        grant_update["details"]["target"]["before"]["scope"],
        json!(["read:charts"])
    );
    assert_eq!(
        grant_update["details"]["target"]["after"]["scope"],
        json!(["read:charts", "write:charts"])
    );
    let metadata = action("update:users")
        .into_iter()
        .find(|l| l["details"]["target"]["after"]["email"] == emails[0].as_str())
        .ok_or("update:users record with the metadata change")?;
    assert_eq!(
        metadata["details"]["target"]["before"]["app_metadata"],
        json!({"plan": "free"})
    );
    assert_eq!(
        metadata["details"]["target"]["after"]["app_metadata"],
        json!({"plan": "gold", "region": "eu"})
    );
    let mut deleted: Vec<&str> = action("delete:users")
        .iter()
        .filter_map(|l| l["details"]["target"]["before"]["email"].as_str())
        .filter(|e| e.starts_with(&format!("{prefix}-")))
        .collect();
    deleted.sort_unstable();
    assert_eq!(deleted, emails, "delete:users records name the users");
    let text = serde_json::to_string(&logs)?;
    assert!(!text.contains("client_secret\""), "no secret in the trail");
    assert!(!text.contains(PASSWORD), "no password in the trail");

    // Role and permission changes, each with its own record.
    let rbac: Vec<&str> = logs
        .iter()
        .filter(|l| l["type"] == "custos_rbac_changed")
        .filter_map(|l| l["description"].as_str())
        .collect();
    for (what, at_least) in [
        ("Role created", 2),
        ("Role updated", 1),
        ("Permissions added to a role", 2),
        ("Roles assigned to a user", 1),
        ("Users assigned to a role", 1),
        ("Permissions granted to a user", 1),
        ("Permissions removed from a user", 1),
        ("Permissions removed from a role", 1),
        ("Roles removed from a user", 1),
        ("Role deleted", 2),
    ] {
        let n = rbac.iter().filter(|d| **d == what).count();
        assert!(n >= at_least, "{what}: {n} records; {rbac:?}");
    }

    // The only refusals are the reads of what the scripts had just deleted.
    for l in logs.iter().filter(|l| l["type"] == "fapi") {
        assert_eq!(l["details"]["statusCode"], 404, "unexpected refusal: {l}");
    }
    assert!(app.verify_chain().await?.is_none(), "the chain verifies");
    Ok(())
}

#[tokio::test]
async fn auth0_node_sdk_manages_custos_over_tls() -> TestResult {
    let app = TestApp::start_tls().await?;
    run(&app, "node".into(), "node/management.mjs", "node").await?;
    check_trail(&app, "node").await
}

#[tokio::test]
async fn auth0_python_sdk_manages_custos_over_tls() -> TestResult {
    let app = TestApp::start_tls().await?;
    let python = interop_dir().join("python/.venv/bin/python");
    run(&app, python, "python/management.py", "py").await?;
    check_trail(&app, "py").await
}
