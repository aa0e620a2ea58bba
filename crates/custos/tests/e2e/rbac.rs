//! Roles and their permissions through the Management API, in Auth0's shapes, with the trail.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::*;

#[tokio::test]
async fn roles_and_role_permissions() -> TestResult {
    let app = TestApp::start().await?;
    let (s, _) = app
        .api(
            Method::POST,
            "resource-servers",
            Some(json!({"identifier": "urn:clinic:charts", "name": "Charts",
                "scopes": [{"value": "read:charts", "description": "Read charts"}, {"value": "write:charts"}]})),
        )
        .await?;
    assert_eq!(s, 201);
    let (s, doctor) = app
        .api(
            Method::POST,
            "roles",
            Some(json!({"name": "Doctor", "description": "Treats patients"})),
        )
        .await?;
    assert_eq!(s, 200, "{doctor}");
    let id = doctor["id"].as_str().unwrap_or_default().to_owned();
    assert!(id.starts_with("rol_"));
    let (s, e) = app
        .api(Method::POST, "roles", Some(json!({"name": "Doctor"})))
        .await?;
    assert_eq!((s, e["errorCode"].as_str()), (409, Some("role_conflict")));
    for (bad, says) in [
        (json!({}), "name"),
        (json!({"name": "x", "bogus": 1}), "bogus"),
        (json!({"name": "x".repeat(51)}), "too long"),
    ] {
        let (s, e) = app.api(Method::POST, "roles", Some(bad.clone())).await?;
        assert_eq!(s, 400, "{bad}: {e}");
        assert!(
            e["message"].as_str().unwrap_or_default().contains(says),
            "{e}"
        );
    }
    app.api(Method::POST, "roles", Some(json!({"name": "Nurse"})))
        .await?;
    let (_, list) = app
        .api(
            Method::GET,
            "roles?name_filter=doc&include_totals=true",
            None,
        )
        .await?;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["roles"][0]["name"], "Doctor");

    // Permissions: scopes of existing APIs only.
    let perms = |name: &str| json!({"permissions": [{"resource_server_identifier": "urn:clinic:charts", "permission_name": name}]});
    let path = format!("roles/{id}/permissions");
    let (s, _) = app
        .api(Method::POST, &path, Some(perms("read:charts")))
        .await?;
    assert_eq!(s, 201);
    let (s, e) = app
        .api(Method::POST, &path, Some(perms("delete:charts")))
        .await?;
    assert_eq!(s, 400, "{e}");
    assert!(e["message"]
        .as_str()
        .unwrap_or_default()
        .contains("delete:charts"));
    let (s, e) = app
        .api(Method::POST, &path, Some(json!({"permissions": [{"resource_server_identifier": "urn:nope", "permission_name": "x"}]})))
        .await?;
    assert_eq!(s, 404, "{e}");
    let (s, e) = app
        .api(Method::POST, &path, Some(json!({"permissions": []})))
        .await?;
    assert_eq!(s, 400, "{e}");
    let (_, got) = app.api(Method::GET, &path, None).await?;
    assert_eq!(
        got,
        json!([{"resource_server_identifier": "urn:clinic:charts", "permission_name": "read:charts",
                "resource_server_name": "Charts", "description": "Read charts"}])
    );
    let (s, _) = app
        .api(Method::DELETE, &path, Some(perms("read:charts")))
        .await?;
    assert_eq!(s, 204);
    let (_, got) = app.api(Method::GET, &path, None).await?;
    assert_eq!(got, json!([]));

    // Rename, then delete; unknown roles are 404.
    let (s, r) = app
        .api(
            Method::PATCH,
            &format!("roles/{id}"),
            Some(json!({"name": "Physician"})),
        )
        .await?;
    assert_eq!((s, r["name"].as_str()), (200, Some("Physician")));
    let (s, _) = app
        .api(Method::DELETE, &format!("roles/{id}"), None)
        .await?;
    assert_eq!(s, 200);
    let (s, e) = app.api(Method::GET, &format!("roles/{id}"), None).await?;
    assert_eq!((s, e["errorCode"].as_str()), (404, Some("inexistent_role")));

    // Every change is in the trail with what changed.
    let changes = app.logs_of_type("custos_rbac_changed").await?;
    let descriptions: Vec<&str> = changes
        .iter()
        .filter_map(|c| c["description"].as_str())
        .collect();
    for d in [
        "Role created",
        "Permissions added to a role",
        "Permissions removed from a role",
        "Role updated",
        "Role deleted",
    ] {
        assert!(descriptions.contains(&d), "{d}: {descriptions:?}");
    }
    let renamed: &Value = changes
        .iter()
        .find(|c| c["description"] == "Role updated")
        .ok_or("renamed")?;
    assert_eq!(renamed["details"]["before"]["name"], "Doctor");
    assert_eq!(renamed["details"]["after"]["name"], "Physician");
    Ok(())
}

#[tokio::test]
async fn user_roles_and_permissions_with_their_sources() -> TestResult {
    let app = TestApp::start().await?;
    app.api(
        Method::POST,
        "resource-servers",
        Some(json!({"identifier": "urn:clinic:charts", "name": "Charts",
            "scopes": [{"value": "read:charts"}, {"value": "write:charts"}, {"value": "sign:charts"}]})),
    )
    .await?;
    let (_, role) = app
        .api(Method::POST, "roles", Some(json!({"name": "Doctor"})))
        .await?;
    let rid = role["id"].as_str().unwrap_or_default().to_owned();
    let perm = |name: &str| json!({"permissions": [{"resource_server_identifier": "urn:clinic:charts", "permission_name": name}]});
    app.api(
        Method::POST,
        &format!("roles/{rid}/permissions"),
        Some(perm("read:charts")),
    )
    .await?;
    let u = app.create_user("house@example.com").await?;
    let uid = u["user_id"].as_str().unwrap_or_default().to_owned();
    let enc: String = url::form_urlencoded::byte_serialize(uid.as_bytes()).collect();

    let (s, e) = app
        .api(
            Method::POST,
            &format!("users/{enc}/roles"),
            Some(json!({"roles": ["rol_nope"]})),
        )
        .await?;
    assert_eq!(s, 404, "{e}");
    let (s, _) = app
        .api(
            Method::POST,
            &format!("users/{enc}/roles"),
            Some(json!({"roles": [rid]})),
        )
        .await?;
    assert_eq!(s, 204);
    let (_, roles) = app
        .api(Method::GET, &format!("users/{enc}/roles"), None)
        .await?;
    assert_eq!(roles[0]["name"], "Doctor");
    let (_, members) = app
        .api(Method::GET, &format!("roles/{rid}/users"), None)
        .await?;
    assert_eq!(members[0]["email"], "house@example.com");

    // Direct grants and role grants, each with its source; one entry when both apply.
    let (s, _) = app
        .api(
            Method::POST,
            &format!("users/{enc}/permissions"),
            Some(perm("sign:charts")),
        )
        .await?;
    assert_eq!(s, 201);
    app.api(
        Method::POST,
        &format!("users/{enc}/permissions"),
        Some(perm("read:charts")),
    )
    .await?;
    let (_, perms) = app
        .api(Method::GET, &format!("users/{enc}/permissions"), None)
        .await?;
    let list = perms.as_array().ok_or("array")?;
    assert_eq!(list.len(), 2, "{perms}");
    let read = list
        .iter()
        .find(|p| p["permission_name"] == "read:charts")
        .ok_or("read")?;
    let kinds: Vec<&str> = read["sources"]
        .as_array()
        .ok_or("sources")?
        .iter()
        .filter_map(|s| s["source_type"].as_str())
        .collect();
    assert_eq!(kinds, vec!["DIRECT", "ROLE"]);
    assert_eq!(read["sources"][1]["source_name"], "Doctor");

    // Removing the role leaves the direct grants; deleting the role removes assignments.
    let (s, _) = app
        .api(
            Method::DELETE,
            &format!("users/{enc}/roles"),
            Some(json!({"roles": [rid]})),
        )
        .await?;
    assert_eq!(s, 204);
    let (_, perms) = app
        .api(Method::GET, &format!("users/{enc}/permissions"), None)
        .await?;
    assert!(perms
        .as_array()
        .is_some_and(|a| a.iter().all(|p| p["sources"][0]["source_type"] == "DIRECT")));
    app.api(
        Method::POST,
        &format!("roles/{rid}/users"),
        Some(json!({"users": [uid]})),
    )
    .await?;
    app.api(Method::DELETE, &format!("roles/{rid}"), None)
        .await?;
    let (_, roles) = app
        .api(Method::GET, &format!("users/{enc}/roles"), None)
        .await?;
    assert_eq!(roles, json!([]));
    let (s, _) = app
        .api(
            Method::DELETE,
            &format!("users/{enc}/permissions"),
            Some(perm("sign:charts")),
        )
        .await?;
    assert_eq!(s, 204);
    let changes = app.logs_of_type("custos_rbac_changed").await?;
    assert!(changes
        .iter()
        .any(|c| c["description"] == "Roles assigned to a user" && c["user_id"] == uid.as_str()));
    let (s, e) = app
        .api(
            Method::POST,
            &format!("users/{enc}/roles"),
            Some(json!({"roles": []})),
        )
        .await?;
    assert_eq!(s, 400, "{e}");
    Ok(())
}

#[tokio::test]
async fn with_rbac_on_tokens_carry_only_held_permissions() -> TestResult {
    let app = TestApp::start().await?;
    let (s, api) = app
        .api(
            Method::POST,
            "resource-servers",
            Some(json!({"identifier": "urn:clinic:charts", "scopes": [{"value": "read:charts"}, {"value": "write:charts"}]})),
        )
        .await?;
    assert_eq!(s, 201, "{api}");
    assert_eq!(
        (
            api["enforce_policies"].as_bool(),
            api["token_dialect"].as_str()
        ),
        (Some(false), Some("access_token"))
    );
    let api_id = api["id"].as_str().unwrap_or_default().to_owned();
    let (s, e) = app
        .api(
            Method::PATCH,
            &format!("resource-servers/{api_id}"),
            Some(json!({"token_dialect": "jwt"})),
        )
        .await?;
    assert_eq!(s, 400, "{e}");
    app.create_user("nurse@example.com").await?;
    let c = app
        .create_client(json!({"app_type": "regular_web", "grant_types": ["password"]}))
        .await?;
    let token = || async {
        let (s, t) = app
            .token_form(&[
                ("grant_type", "password"),
                ("client_id", c["client_id"].as_str().unwrap_or_default()),
                (
                    "client_secret",
                    c["client_secret"].as_str().unwrap_or_default(),
                ),
                ("username", "nurse@example.com"),
                ("password", PASSWORD),
                ("audience", "urn:clinic:charts"),
                ("scope", "openid read:charts write:charts"),
            ])
            .await?;
        assert_eq!(s, 200, "{t}");
        jwt_claims(t["access_token"].as_str().unwrap_or_default())
    };
    // RBAC off: what was requested and exists.
    assert_eq!(token().await?["scope"], "openid read:charts write:charts");
    // RBAC on, with the permissions claim: only what the user holds (nothing yet).
    let (s, _) = app
        .api(
            Method::PATCH,
            &format!("resource-servers/{api_id}"),
            Some(json!({"enforce_policies": true, "token_dialect": "access_token_authz"})),
        )
        .await?;
    assert_eq!(s, 200);
    let claims = token().await?;
    assert_eq!(claims["scope"], "openid");
    assert_eq!(claims["permissions"], json!([]));
    // Through a role.
    let (_, role) = app
        .api(Method::POST, "roles", Some(json!({"name": "Nurse"})))
        .await?;
    let rid = role["id"].as_str().unwrap_or_default().to_owned();
    app.api(
        Method::POST,
        &format!("roles/{rid}/permissions"),
        Some(json!({"permissions": [{"resource_server_identifier": "urn:clinic:charts", "permission_name": "read:charts"}]})),
    )
    .await?;
    let users = app.api(Method::GET, "users", None).await?.1;
    let uid = users[0]["user_id"].as_str().unwrap_or_default().to_owned();
    app.api(
        Method::POST,
        &format!("roles/{rid}/users"),
        Some(json!({"users": [uid]})),
    )
    .await?;
    let claims = token().await?;
    assert_eq!(claims["scope"], "openid read:charts");
    assert_eq!(claims["permissions"], json!(["read:charts"]));
    Ok(())
}

#[tokio::test]
async fn the_decision_api_answers_and_records_every_decision() -> TestResult {
    let app = TestApp::start().await?;
    app.api(
        Method::POST,
        "resource-servers",
        Some(json!({"identifier": "urn:clinic:charts", "scopes": [{"value": "read:charts"}]})),
    )
    .await?;
    let u = app.create_user("dr@example.com").await?;
    let uid = u["user_id"].as_str().unwrap_or_default().to_owned();
    let enc: String = url::form_urlencoded::byte_serialize(uid.as_bytes()).collect();
    let check = |body: Value| app.api(Method::POST, "check", Some(body));

    let (s, d) = check(
        json!({"user_id": uid, "permission": "read:charts", "audience": "urn:clinic:charts"}),
    )
    .await?;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["allowed"], false);
    app.api(
        Method::POST,
        &format!("users/{enc}/permissions"),
        Some(json!({"permissions": [{"resource_server_identifier": "urn:clinic:charts", "permission_name": "read:charts"}]})),
    )
    .await?;
    let (_, d) = check(json!({"user_id": uid, "permission": "read:charts", "object": "patient:42", "relation": "viewer"})).await?;
    assert_eq!(
        d["allowed"], false,
        "no model yet: relationships cannot hold"
    );
    let (_, d) = check(json!({"user_id": uid, "permission": "read:charts"})).await?;
    assert_eq!(d["allowed"], true, "{d}");
    let decision = d["decision_id"].as_str().unwrap_or_default().to_owned();
    assert!(decision.starts_with("dec_"));
    assert_eq!(d["reasons"][1]["via"]["source_type"], "DIRECT");
    let (_, d) = check(json!({"user_id": "auth0|nobody", "permission": "read:charts"})).await?;
    assert_eq!(d["allowed"], false);
    let (s, b) = app
        .api(
            Method::POST,
            "check/batch",
            Some(json!({"checks": [
            {"user_id": uid, "permission": "read:charts"},
            {"user_id": uid, "permission": "write:charts"}]})),
        )
        .await?;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (
            b["results"][0]["allowed"].as_bool(),
            b["results"][1]["allowed"].as_bool()
        ),
        (Some(true), Some(false))
    );
    for bad in [
        json!({}),
        json!({"user_id": uid}),
        json!({"user_id": uid, "relation": "viewer"}),
        json!({"user_id": uid, "permission": 5}),
        json!({"user_id": uid, "permission": "x", "bogus": 1}),
    ] {
        let (s, e) = check(bad.clone()).await?;
        assert_eq!(s, 400, "{bad}: {e}");
    }
    // Evidence: each decision is in the trail with its decision_id, and the one that named a
    // resource is found by it.
    let allowed = app.logs_of_type("custos_access_allowed").await?;
    assert!(allowed
        .iter()
        .any(|l| l["details"]["decision_id"] == decision.as_str()));
    let q: String = url::form_urlencoded::byte_serialize(b"resource:\"patient:42\"").collect();
    let (_, found) = app.api(Method::GET, &format!("logs?q={q}"), None).await?;
    assert_eq!(found[0]["type"], "custos_access_denied", "{found}");
    assert_eq!(app.logs_of_type("custos_access_denied").await?.len(), 4);
    Ok(())
}
