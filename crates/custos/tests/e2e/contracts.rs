//! Rules of the codebase and of the HTTP contract that are checked, not just written.

use std::path::PathBuf;

use crate::support::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_crate_has_a_module_doc_and_an_architecture_section() -> TestResult {
    let architecture = std::fs::read_to_string(root().join("ARCHITECTURE.md"))?;
    let mut crates = 0;
    for entry in std::fs::read_dir(root().join("crates"))? {
        let dir = entry?.path();
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or("name")?
            .to_owned();
        let top = ["src/lib.rs", "src/main.rs"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.exists())
            .ok_or(format!("{name} has no lib.rs or main.rs"))?;
        let text = std::fs::read_to_string(&top)?;
        assert!(
            text.starts_with("//!"),
            "{name}: {} must open with a //! module doc",
            top.display()
        );
        let heading = if name == "custos" {
            "### custos (bin)".to_owned()
        } else {
            format!("### {name}")
        };
        assert!(
            architecture.contains(&heading),
            "ARCHITECTURE.md lacks a section `{heading}`"
        );
        crates += 1;
    }
    assert!(crates >= 8);
    Ok(())
}

/// Every operation in the OpenAPI document reaches a real route (not the 404 fallback and not
/// 405 Method Not Allowed), and the bootstrap client holds every scope the document names.
#[tokio::test]
async fn openapi_document_matches_the_router() -> TestResult {
    let app = TestApp::start().await?;
    let doc: serde_json::Value = reqwest::get(app.url("openapi.json")).await?.json().await?;
    let paths = doc["paths"].as_object().ok_or("no paths")?;
    assert!(paths.len() >= 25);
    let client = TestApp::browser()?;
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let url = app.url(&path.replace("{id}", "doc-check"));
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())?;
            let r = client
                .request(m, &url)
                .bearer_auth(&app.mgmt_token)
                .send()
                .await?;
            let status = r.status().as_u16();
            let body = r.text().await?;
            assert_ne!(status, 405, "{method} {path} is documented but not routed");
            assert_ne!(
                status, 403,
                "{method} {path}: the bootstrap client lacks its scope"
            );
            assert!(
                !(status == 404 && body.contains("\"errorCode\":\"not_found\"")),
                "{method} {path} is documented but not routed"
            );
        }
    }
    Ok(())
}

/// Both engines end their migrations with the same tables and columns. In the SQLite-only run
/// the migrated schema is compared with the list below, which the PostgreSQL run also checks.
#[tokio::test]
async fn migrations_give_both_engines_the_same_schema() -> TestResult {
    use custos_store::admin::Admin;
    use custos_store::Dialect;

    let dir = tempfile::tempdir()?;
    let sqlite = format!("sqlite://{}", dir.path().join("schema.db").display());
    custos_store::Store::connect(&sqlite).await?.close().await;
    let sqlite_cols = Admin::connect(&sqlite)
        .await?
        .columns(Dialect::Sqlite)
        .await?;
    let tables: std::collections::BTreeSet<&str> =
        sqlite_cols.iter().map(|(t, _)| t.as_str()).collect();
    let expected = [
        "action_versions",
        "actions",
        "audit_archives",
        "audit_checkpoints",
        "audit_head",
        "audit_keys",
        "audit_log",
        "audit_policy",
        "auth_codes",
        "authz_models",
        "authz_tuples",
        "client_grants",
        "clients",
        "custos_migrations",
        "grants",
        "jobs",
        "log_streams",
        "login_failures",
        "organization_member_roles",
        "organization_members",
        "organizations",
        "refresh_tokens",
        "resource_servers",
        "role_permissions",
        "roles",
        "rules",
        "rules_configs",
        "sessions",
        "signing_keys",
        "trigger_bindings",
        "user_permissions",
        "user_roles",
        "users",
    ];
    assert_eq!(tables.into_iter().collect::<Vec<_>>(), expected);
    assert!(sqlite_cols.contains(&("refresh_tokens".into(), "replaced_by".into())));
    assert!(sqlite_cols.contains(&("audit_log".into(), "hash".into())));

    let other = database_url(dir.path()).await?;
    if other.starts_with("postgres") {
        custos_store::Store::connect(&other).await?.close().await;
        let pg_cols = Admin::connect(&other)
            .await?
            .columns(Dialect::Postgres)
            .await?;
        assert_eq!(pg_cols, sqlite_cols);
    }
    Ok(())
}
