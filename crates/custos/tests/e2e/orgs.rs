//! Organizations (Auth0's shapes): members, roles held within an organization, logins for an
//! organization (`organization=` at `/authorize`, `org_id` in the tokens), and the trail.

use reqwest::Method;
use serde_json::json;

use crate::support::*;

/// `/authorize` for `organization`, then the login form; returns where the browser was sent
/// back to and the PKCE verifier.
async fn login_for(
    app: &TestApp,
    client_id: &str,
    email: &str,
    organization: &str,
) -> R<(String, String)> {
    let browser = TestApp::browser()?;
    let verifier = custos_crypto::random::token()?;
    let challenge = custos_crypto::pkce::s256(&verifier);
    let url = app.authorize_url(
        client_id,
        &challenge,
        &format!("&audience=urn%3Aclinic%3Acharts&organization={organization}"),
    );
    let form = app.login_form(&browser, &url, email, PASSWORD).await?;
    let r = browser.post(app.url("u/login")).form(&form).send().await?;
    assert!(r.status().is_redirection(), "{}", r.status());
    Ok((r.headers()["location"].to_str()?.to_owned(), verifier))
}

#[tokio::test]
async fn organizations_members_roles_and_logins_for_an_organization() -> TestResult {
    let app = TestApp::start().await?;
    let (s, _) = app
        .api(
            Method::POST,
            "resource-servers",
            Some(
                json!({"identifier": "urn:clinic:charts", "enforce_policies": true,
                "token_dialect": "access_token_authz", "allow_offline_access": true,
                "scopes": [{"value": "read:charts"}, {"value": "write:charts"}]}),
            ),
        )
        .await?;
    assert_eq!(s, 201);
    let (_, role) = app
        .api(
            Method::POST,
            "roles",
            Some(json!({"name": "Clinic doctor"})),
        )
        .await?;
    let role_id = role["id"].as_str().ok_or("role")?.to_owned();
    app.api(
        Method::POST,
        &format!("roles/{role_id}/permissions"),
        Some(json!({"permissions": [{"resource_server_identifier": "urn:clinic:charts", "permission_name": "write:charts"}]})),
    )
    .await?;

    // Organizations: create, refuse bad input, find by name.
    let (s, org) = app
        .api(
            Method::POST,
            "organizations",
            Some(json!({"name": "clinic-north", "display_name": "North Clinic",
                "branding": {"logo_url": "https://north.example/logo.png", "colors": {"primary": "#0059d6"}},
                "metadata": {"region": "north"}})),
        )
        .await?;
    assert_eq!(s, 201, "{org}");
    let org_id = org["id"].as_str().ok_or("org id")?.to_owned();
    assert!(org_id.starts_with("org_"));
    assert_eq!(org["display_name"], "North Clinic");
    assert_eq!(org["metadata"], json!({"region": "north"}));
    for (bad, status) in [
        (json!({"name": "clinic-north"}), 409),
        (json!({"name": "North Clinic"}), 400),
        (json!({}), 400),
        (json!({"name": "ok", "metadata": {"beds": 40}}), 400),
        (
            json!({"name": "ok", "branding": {"logo_url": "http://insecure"}}),
            400,
        ),
        (json!({"name": "ok", "enabled": true}), 400),
    ] {
        let (s, e) = app
            .api(Method::POST, "organizations", Some(bad.clone()))
            .await?;
        assert_eq!(s, status, "{bad}: {e}");
        assert_eq!(e["statusCode"], status);
    }
    let (s, found) = app
        .api(Method::GET, "organizations/name/clinic-north", None)
        .await?;
    assert_eq!((s, &found["id"]), (200, &json!(org_id)));
    let (s, e) = app.api(Method::GET, "organizations/org_nope", None).await?;
    assert_eq!(
        (s, &e["errorCode"]),
        (404, &json!("inexistent_organization"))
    );

    // Members and their roles in the organization.
    let dr = app.create_user("dr.north@example.com").await?;
    let dr_id = dr["user_id"].as_str().ok_or("uid")?.to_owned();
    app.create_user("outsider@example.com").await?;
    let members = format!("organizations/{org_id}/members");
    let (s, e) = app
        .api(
            Method::POST,
            &members,
            Some(json!({"members": ["auth0|nobody"]})),
        )
        .await?;
    assert_eq!(s, 404, "{e}");
    let (s, _) = app
        .api(Method::POST, &members, Some(json!({"members": [dr_id]})))
        .await?;
    assert_eq!(s, 204);
    let (_, list) = app
        .api(Method::GET, &format!("{members}?include_totals=true"), None)
        .await?;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["members"][0]["email"], "dr.north@example.com");
    let enc: String = url::form_urlencoded::byte_serialize(dr_id.as_bytes()).collect();
    let member_roles = format!("{members}/{enc}/roles");
    let (s, _) = app
        .api(
            Method::POST,
            &member_roles,
            Some(json!({"roles": [role_id]})),
        )
        .await?;
    assert_eq!(s, 204);
    let (_, roles) = app.api(Method::GET, &member_roles, None).await?;
    assert_eq!(roles[0]["name"], "Clinic doctor", "{roles}");
    let (s, e) = app
        .api(
            Method::POST,
            &format!("{members}/auth0%7Cnobody/roles"),
            Some(json!({"roles": [role_id]})),
        )
        .await?;
    assert_eq!(s, 404, "{e}");
    let (_, orgs) = app
        .api(Method::GET, &format!("users/{enc}/organizations"), None)
        .await?;
    assert_eq!(orgs[0]["name"], "clinic-north", "{orgs}");

    // A login for the organization: org_id in both tokens, and the permissions of the roles
    // held in it (the user holds none outside it).
    let client = app.create_client(json!({"app_type": "spa"})).await?;
    let cid = client["client_id"].as_str().ok_or("cid")?.to_owned();
    let (location, verifier) =
        login_for(&app, &cid, "dr.north@example.com", "clinic-north").await?;
    let code = query_param(&location, "code").ok_or(location.clone())?;
    let (s, t) = app
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &cid),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &verifier),
        ])
        .await?;
    assert_eq!(s, 200, "{t}");
    let access = jwt_claims(t["access_token"].as_str().unwrap_or_default())?;
    assert_eq!(access["org_id"], json!(org_id));
    assert_eq!(access["permissions"], json!([]), "no API scope requested");
    let id_token = jwt_claims(t["id_token"].as_str().unwrap_or_default())?;
    assert_eq!(id_token["org_id"], json!(org_id));
    let refresh = t["refresh_token"].as_str().ok_or("refresh")?.to_owned();
    // The same login by name with the API scope requested: the org role's permission.
    let browser = TestApp::browser()?;
    let verifier = custos_crypto::random::token()?;
    let url = format!(
        "{}authorize?response_type=code&client_id={cid}&redirect_uri={}&scope=openid%20write%3Acharts%20read%3Acharts&code_challenge={}&code_challenge_method=S256&audience=urn%3Aclinic%3Acharts&organization={org_id}",
        app.base,
        url::form_urlencoded::byte_serialize(CALLBACK.as_bytes()).collect::<String>(),
        custos_crypto::pkce::s256(&verifier)
    );
    let form = app
        .login_form(&browser, &url, "dr.north@example.com", PASSWORD)
        .await?;
    let r = browser.post(app.url("u/login")).form(&form).send().await?;
    let location = r.headers()["location"].to_str()?.to_owned();
    let code = query_param(&location, "code").ok_or(location.clone())?;
    let (_, t) = app
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &cid),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &verifier),
        ])
        .await?;
    let access = jwt_claims(t["access_token"].as_str().unwrap_or_default())?;
    assert_eq!(access["permissions"], json!(["write:charts"]), "{access}");
    assert_eq!(access["org_id"], json!(org_id));

    // Not a member: access_denied to the client, and a failed login in the trail.
    let (location, _) = login_for(&app, &cid, "outsider@example.com", "clinic-north").await?;
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("access_denied"),
        "{location}"
    );
    // An organization that does not exist: invalid_request before any login page.
    let r = TestApp::browser()?
        .get(app.authorize_url(&cid, "x".repeat(43).as_str(), "&organization=clinic-south"))
        .send()
        .await?;
    let location = r.headers()["location"].to_str()?.to_owned();
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("invalid_request"),
        "{location}"
    );

    // Leaving the organization ends refreshes of what was issued for it.
    let (s, _) = app
        .api(Method::DELETE, &members, Some(json!({"members": [dr_id]})))
        .await?;
    assert_eq!(s, 204);
    let (s, e) = app
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &cid),
            ("refresh_token", &refresh),
        ])
        .await?;
    assert_eq!((s, &e["error"]), (400, &json!("invalid_grant")), "{e}");

    // The trail: every change names the organization.
    let q: String =
        url::form_urlencoded::byte_serialize(format!("organization_id:{org_id}").as_bytes())
            .collect();
    let (_, logs) = app.api(Method::GET, &format!("logs?q={q}"), None).await?;
    let types: Vec<&str> = logs
        .as_array()
        .ok_or("logs")?
        .iter()
        .filter_map(|l| l["type"].as_str())
        .collect();
    for t in ["sapi", "custos_rbac_changed", "s", "seacft", "f"] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
    let (s, _) = app
        .api(
            Method::PATCH,
            &format!("organizations/{org_id}"),
            Some(json!({"display_name": "North"})),
        )
        .await?;
    assert_eq!(s, 200);
    let (s, _) = app
        .api(Method::DELETE, &format!("organizations/{org_id}"), None)
        .await?;
    assert_eq!(s, 204);
    let (s, _) = app
        .api(Method::GET, &format!("organizations/{org_id}"), None)
        .await?;
    assert_eq!(s, 404);
    assert!(app.verify_chain().await?.is_none());
    Ok(())
}
