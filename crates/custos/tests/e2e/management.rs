//! Management API shapes, authorisation and errors.

use reqwest::Method;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn users_crud_and_paging() -> TestResult {
    let app = TestApp::start().await?;
    for i in 0..3 {
        app.create_user(&format!("user{i}@example.com")).await?;
    }
    let (s, page) = app
        .api(
            Method::GET,
            "users?page=0&per_page=2&include_totals=true",
            None,
        )
        .await?;
    assert_eq!(s, 200);
    assert_eq!(
        (
            page["start"].as_i64(),
            page["limit"].as_i64(),
            page["length"].as_i64(),
            page["total"].as_i64()
        ),
        (Some(0), Some(2), Some(2), Some(3))
    );
    let uid = page["users"][0]["user_id"]
        .as_str()
        .ok_or("uid")?
        .to_owned();
    assert!(page["users"][0].get("password_hash").is_none());
    let (s, u) = app
        .api(
            Method::PATCH,
            &format!("users/{uid}"),
            Some(json!({"app_metadata": {"roles": ["doctor"]}, "user_metadata": {"lang": "fr"}})),
        )
        .await?;
    assert_eq!(s, 200);
    assert_eq!(u["app_metadata"]["roles"][0], "doctor");
    let (s, u) = app
        .api(
            Method::PATCH,
            &format!("users/{uid}"),
            Some(json!({"app_metadata": {"roles": null, "ward": "3B"}})),
        )
        .await?;
    assert_eq!((s, u["app_metadata"].clone()), (200, json!({"ward": "3B"})));
    let (s, e) = app.api(Method::POST, "users", Some(json!({"connection": "Username-Password-Authentication", "email": "user0@example.com", "password": PASSWORD}))).await?;
    assert_eq!((s, e["statusCode"].as_i64()), (409, Some(409)));
    let (s, _) = app
        .api(Method::DELETE, &format!("users/{uid}"), None)
        .await?;
    assert_eq!(s, 204);
    let (s, e) = app.api(Method::GET, &format!("users/{uid}"), None).await?;
    assert_eq!(
        (s, e["errorCode"].as_str(), e["error"].as_str()),
        (404, Some("inexistent_user"), Some("Not Found"))
    );
    let (s, e) = app.api(Method::GET, "users?per_page=1000", None).await?;
    assert_eq!(
        (s, e["errorCode"].as_str()),
        (400, Some("invalid_query_string"))
    );
    let (s, e) = app.api(Method::POST, "users", Some(json!({"connection": "Username-Password-Authentication", "email": "not-an-email", "password": PASSWORD}))).await?;
    assert_eq!((s, e["errorCode"].as_str()), (400, Some("invalid_body")));
    Ok(())
}

#[tokio::test]
async fn tokens_and_scopes_are_enforced() -> TestResult {
    let app = TestApp::start().await?;
    let c = reqwest::Client::new();
    let r = c.get(app.url("api/v2/users")).send().await?;
    assert_eq!(r.status().as_u16(), 401);
    let b: serde_json::Value = r.json().await?;
    assert_eq!(b["statusCode"], 401);
    let r = c
        .get(app.url("api/v2/users"))
        .bearer_auth("not.a.jwt")
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 401);
    // A client granted only read:users may not create users.
    let m = app
        .create_client(json!({"app_type": "non_interactive"}))
        .await?;
    let id = m["client_id"].as_str().ok_or("id")?;
    let (s, _) = app
        .api(
            Method::POST,
            "client-grants",
            Some(json!({"client_id": id, "audience": app.url("api/v2/"), "scope": ["read:users"]})),
        )
        .await?;
    assert_eq!(s, 201);
    let (_, t) = app
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", m["client_secret"].as_str().ok_or("s")?),
            ("audience", &app.url("api/v2/")),
        ])
        .await?;
    let token = t["access_token"].as_str().ok_or("t")?;
    let r = c
        .get(app.url("api/v2/users"))
        .bearer_auth(token)
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    let r = c
        .post(app.url("api/v2/users"))
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 403);
    let b: serde_json::Value = r.json().await?;
    assert_eq!(b["errorCode"], "insufficient_scope");
    assert!(!app.logs_of_type("fapi").await?.is_empty());
    // Deleting the client revokes its tokens.
    let (s, _) = app
        .api(Method::DELETE, &format!("clients/{id}"), None)
        .await?;
    assert_eq!(s, 204);
    let r = c
        .get(app.url("api/v2/users"))
        .bearer_auth(token)
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 401);
    Ok(())
}

#[tokio::test]
async fn logs_list_and_checkpoint() -> TestResult {
    let app = TestApp::start().await?;
    let (s, logs) = app
        .api(Method::GET, "logs?include_totals=true&per_page=5", None)
        .await?;
    assert_eq!(s, 200);
    assert!(logs["total"].as_i64().unwrap_or(0) >= 3);
    let first = logs["logs"]
        .as_array()
        .ok_or("logs")?
        .last()
        .ok_or("empty")?;
    for f in ["log_id", "date", "type", "description"] {
        assert!(first.get(f).is_some(), "log lacks {f}");
    }
    let (s, after) = app
        .api(Method::GET, "logs?from=00000000000000000000&take=2", None)
        .await?;
    assert_eq!(s, 200);
    assert_eq!(after.as_array().map(Vec::len), Some(2));
    let id = after[0]["log_id"].as_str().ok_or("id")?;
    let (s, one) = app.api(Method::GET, &format!("logs/{id}"), None).await?;
    assert_eq!((s, one["log_id"].as_str()), (200, Some(id)));
    let (s, _) = app.api(Method::GET, "logs/abc'--", None).await?;
    assert_eq!(s, 404);
    // No secret ever appears in the audit trail.
    let (_, all) = app.api(Method::GET, "logs?per_page=100", None).await?;
    assert!(!all.to_string().contains(&app.bootstrap.1));
    Ok(())
}

/// Users cannot obtain Management API tokens: not through /authorize, not through the password
/// grant.
#[tokio::test]
async fn users_cannot_get_management_tokens() -> TestResult {
    let app = TestApp::start().await?;
    let mgmt_aud = app.url("api/v2/");
    let spa = app.create_client(json!({"app_type": "spa"})).await?;
    let id = spa["client_id"].as_str().ok_or("id")?;
    app.create_user("mallory@example.com").await?;
    let extra = format!(
        "&audience={}&scope=openid%20delete:users",
        url::form_urlencoded::byte_serialize(mgmt_aud.as_bytes()).collect::<String>()
    );
    let challenge = custos_crypto::pkce::s256(&custos_crypto::random::token()?);
    let r = TestApp::browser()?
        .get(
            app.authorize_url(id, &challenge, &extra)
                .replace("&scope=openid%20profile%20email%20offline_access", ""),
        )
        .send()
        .await?;
    let loc = r.headers()["location"].to_str()?.to_owned();
    assert!(loc.starts_with(CALLBACK), "{loc}");
    assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"));

    let pw = app
        .create_client(json!({"app_type": "regular_web", "grant_types": ["password"]}))
        .await?;
    let (s, e) = app
        .token_form(&[
            ("grant_type", "password"),
            ("client_id", pw["client_id"].as_str().ok_or("id")?),
            ("client_secret", pw["client_secret"].as_str().ok_or("s")?),
            ("username", "mallory@example.com"),
            ("password", PASSWORD),
            ("audience", &mgmt_aud),
            ("scope", "delete:users"),
        ])
        .await?;
    assert_eq!((s, e["error"].as_str()), (403, Some("access_denied")));

    // A user's userinfo token is not a management token either.
    let l = app.login(id, "mallory@example.com", PASSWORD).await?;
    let (_, t) = app.exchange(id, &l).await?;
    let r = reqwest::Client::new()
        .get(app.url("api/v2/users"))
        .bearer_auth(t["access_token"].as_str().ok_or("at")?)
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 401);
    Ok(())
}

#[tokio::test]
async fn an_upgrade_grants_new_management_scopes_to_the_bootstrap_client() -> TestResult {
    let app = TestApp::start().await?;
    // A data directory from a version without log streams: the scope is missing from the
    // Management API and from the bootstrap client's grant.
    let admin = custos_store::admin::Admin::connect(&app.db_url).await?;
    admin
        .execute("UPDATE resource_servers SET scopes = REPLACE(scopes, '{\"description\":\"\",\"value\":\"read:log_streams\"},', '') WHERE is_system = 1")
        .await?;
    admin
        .execute("UPDATE client_grants SET scope = REPLACE(scope, '\"read:log_streams\",', '')")
        .await?;
    let api = app
        .store()
        .list_resource_servers(0, 10)
        .await?
        .items
        .into_iter()
        .find(|r| r.is_system)
        .ok_or("no management api")?;
    assert!(
        !api.has_scope("read:log_streams"),
        "the test set-up removed it"
    );
    // Start-up of the new version.
    custos_oidc::Provider::new(
        app.store().clone(),
        app.clock.clone(),
        app._provider.master.clone(),
        custos_oidc::ProviderSettings {
            issuer: app.base.clone(),
            session: custos_domain::session::SessionPolicy::from_hours(1.0, 8.0),
        },
    )
    .await?;
    let grant = app
        .store()
        .find_client_grant(&app.bootstrap.0, &format!("{}api/v2/", app.base))
        .await?;
    assert!(
        grant.scope.iter().any(|s| s == "read:log_streams"),
        "{:?}",
        grant.scope
    );
    Ok(())
}

#[tokio::test]
async fn user_search_in_auth0_syntax() -> TestResult {
    let app = TestApp::start().await?;
    for (email, name, meta) in [
        (
            "house@clinic.example",
            "Gregory House",
            json!({"ward": "3B", "staff": {"grade": 7}, "active": true}),
        ),
        (
            "wilson@clinic.example",
            "James Wilson",
            json!({"ward": "4A", "active": false}),
        ),
        ("cuddy@admin.example", "Lisa Cuddy", json!({})),
    ] {
        let (s, u) = app
            .api(
                Method::POST,
                "users",
                Some(json!({"connection": "Username-Password-Authentication", "email": email, "password": PASSWORD, "name": name, "app_metadata": meta})),
            )
            .await?;
        assert_eq!(s, 201, "{u}");
        app.advance(1);
    }
    let search = |q: &str, extra: &str| {
        let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
        let path = format!("users?q={q}&search_engine=v3{extra}");
        let app = &app;
        async move { app.api(Method::GET, &path, None).await }
    };
    let emails = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|u| u["email"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (s, found) = search("email:\"wilson@clinic.example\"", "").await?;
    assert_eq!(s, 200, "{found}");
    assert_eq!(emails(&found), vec!["wilson@clinic.example"]);
    let (_, found) = search("name:Greg* OR name:Lisa*", "&sort=email:1").await?;
    assert_eq!(
        emails(&found),
        vec!["cuddy@admin.example", "house@clinic.example"]
    );
    let (_, found) = search("NOT email:cuddy*", "&sort=created_at:-1").await?;
    assert_eq!(
        emails(&found),
        vec!["wilson@clinic.example", "house@clinic.example"]
    );
    let (_, found) = search("created_at:[2000-01-01 TO *]", "&include_totals=true").await?;
    assert_eq!(found["total"], 3);
    // app_metadata paths: strings, nested numbers, booleans, prefixes, existence.
    for (q, expected) in [
        ("app_metadata.ward:\"3B\"", vec!["house@clinic.example"]),
        ("app_metadata.ward:4*", vec!["wilson@clinic.example"]),
        ("app_metadata.staff.grade:7", vec!["house@clinic.example"]),
        ("app_metadata.active:false", vec!["wilson@clinic.example"]),
        (
            "_exists_:app_metadata.ward",
            vec!["house@clinic.example", "wilson@clinic.example"],
        ),
        ("app_metadata.staff:x", vec![]),
        (
            "NOT app_metadata.active:true",
            vec!["cuddy@admin.example", "wilson@clinic.example"],
        ),
    ] {
        let (s, found) = search(q, "&sort=email:1").await?;
        assert_eq!(s, 200, "{q}: {found}");
        assert_eq!(emails(&found), expected, "{q}");
    }
    // users-by-email: exact, case-insensitive, an array; empty when nobody has it.
    let (s, found) = app
        .api(
            Method::GET,
            "users-by-email?email=WILSON%40Clinic.example",
            None,
        )
        .await?;
    assert_eq!(
        (s, emails(&found)),
        (200, vec!["wilson@clinic.example".to_owned()])
    );
    let (s, found) = app
        .api(
            Method::GET,
            "users-by-email?email=nobody%40clinic.example",
            None,
        )
        .await?;
    assert_eq!((s, found), (200, json!([])));
    for bad in ["users-by-email", "users-by-email?email=not-an-email"] {
        let (s, e) = app.api(Method::GET, bad, None).await?;
        assert_eq!(
            (s, &e["errorCode"]),
            (400, &json!("invalid_query_string")),
            "{bad}: {e}"
        );
    }
    for (bad, extra) in [
        ("nope:x", ""),
        ("email:(", ""),
        ("email:x", "&sort=password:1"),
        ("app_metadata:x", ""),
        ("app_metadata.a..b:x", ""),
        ("name.first:x", ""),
        ("email:x", "&sort=app_metadata:1"),
    ] {
        let (s, e) = search(bad, extra).await?;
        assert_eq!(s, 400, "{bad}: {e}");
        assert_eq!(e["statusCode"], 400);
    }
    Ok(())
}
