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
