//! Discovery, JWKS, client credentials and their failures.

use reqwest::Method;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn discovery_and_jwks() -> TestResult {
    let app = TestApp::start().await?;
    let d: serde_json::Value = reqwest::get(app.url(".well-known/openid-configuration"))
        .await?
        .json()
        .await?;
    assert_eq!(d["issuer"], app.base);
    assert_eq!(d["token_endpoint"], app.url("oauth/token"));
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    let jwks: serde_json::Value = reqwest::get(app.url(".well-known/jwks.json"))
        .await?
        .json()
        .await?;
    let keys = jwks["keys"].as_array().ok_or("no keys")?;
    // Current and next for each of RS256, ES256, EdDSA.
    assert_eq!(keys.len(), 6);
    for k in keys {
        assert!(k.get("d").is_none(), "private part published");
        assert!(k["kid"].is_string() && k["alg"].is_string());
    }
    Ok(())
}

#[tokio::test]
async fn client_credentials_per_algorithm_and_audit() -> TestResult {
    let app = TestApp::start().await?;
    for alg in ["RS256", "ES256", "EdDSA"] {
        let aud = format!("urn:test:{alg}");
        let (s, _) = app
            .api(
                Method::POST,
                "resource-servers",
                Some(
                    json!({"identifier": aud, "signing_alg": alg, "scopes": [{"value": "read:x"}]}),
                ),
            )
            .await?;
        assert_eq!(s, 201);
        let c = app
            .create_client(json!({"app_type": "non_interactive"}))
            .await?;
        let id = c["client_id"].as_str().ok_or("id")?;
        let (s, _) = app
            .api(
                Method::POST,
                "client-grants",
                Some(json!({"client_id": id, "audience": aud, "scope": ["read:x"]})),
            )
            .await?;
        assert_eq!(s, 201);
        let (s, t) = app
            .token_form(&[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", c["client_secret"].as_str().ok_or("s")?),
                ("audience", &aud),
            ])
            .await?;
        assert_eq!(s, 200, "{t}");
        assert_eq!(t["token_type"], "Bearer");
        assert_eq!(t["scope"], "read:x");
        let header: serde_json::Value = serde_json::from_slice(
            &custos_crypto::b64url_decode(
                t["access_token"]
                    .as_str()
                    .ok_or("at")?
                    .split('.')
                    .next()
                    .ok_or("h")?,
            )
            .ok_or("b64")?,
        )?;
        assert_eq!(header["alg"], alg);
    }
    let issued = app.logs_of_type("seccft").await?;
    assert!(issued.len() >= 4, "every token leaves an audit record");
    Ok(())
}

#[tokio::test]
async fn client_credentials_failures_change_nothing() -> TestResult {
    let app = TestApp::start().await?;
    let aud = app.url("api/v2/");
    let (id, secret) = app.bootstrap.clone();
    // (form, expected status, expected error)
    type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", "wrong"),
                ("audience", &aud),
            ],
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
                ("client_secret", &secret),
                ("audience", &aud),
            ],
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
            ],
            403,
            "access_denied",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
                ("audience", "urn:none"),
            ],
            403,
            "access_denied",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
                ("audience", &aud),
                ("scope", "read:users nope:x"),
            ],
            403,
            "access_denied",
        ),
        (
            vec![
                ("grant_type", "magic"),
                ("client_id", &id),
                ("client_secret", &secret),
            ],
            400,
            "unsupported_grant_type",
        ),
        (vec![("client_id", &id)], 400, "invalid_request"),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "' OR 1=1 --"),
                ("client_secret", "x"),
                ("audience", &aud),
            ],
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "ünï©ødé💥"),
                ("client_secret", "\u{0}"),
                ("audience", &aud),
            ],
            401,
            "invalid_client",
        ),
    ];
    let before = app
        .api(Method::GET, "clients?include_totals=true", None)
        .await?
        .1["total"]
        .clone();
    for (form, status, error) in cases {
        let (s, body) = app.token_form(&form).await?;
        assert_eq!(
            (s, body["error"].as_str()),
            (status, Some(error)),
            "{form:?} → {body}"
        );
        assert!(body["error_description"].is_string());
    }
    assert_eq!(
        app.api(Method::GET, "clients?include_totals=true", None)
            .await?
            .1["total"],
        before
    );
    assert!(!app.logs_of_type("feccft").await?.is_empty());
    // Basic auth with a wrong secret carries a challenge.
    let r = reqwest::Client::new()
        .post(app.url("oauth/token"))
        .basic_auth(&id, Some("wrong"))
        .form(&[("grant_type", "client_credentials"), ("audience", &aud)])
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    Ok(())
}

#[tokio::test]
async fn malformed_and_oversized_bodies() -> TestResult {
    let app = TestApp::start().await?;
    let c = reqwest::Client::new();
    // Not a form.
    let r = c
        .post(app.url("oauth/token"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 400);
    // Repeated parameter.
    let r = c
        .post(app.url("oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=a&grant_type=b")
        .send()
        .await?;
    let b: serde_json::Value = r.json().await?;
    assert_eq!(b["error"], "invalid_request");
    // Oversized form.
    let big = format!("grant_type=client_credentials&x={}", "a".repeat(200_000));
    let r = c
        .post(app.url("oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 400);
    // Management API: bad JSON, huge JSON, unknown property.
    let r = c
        .post(app.url("api/v2/users"))
        .bearer_auth(&app.mgmt_token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 400);
    let b: serde_json::Value = r.json().await?;
    assert_eq!(
        (b["statusCode"].as_i64(), b["errorCode"].as_str()),
        (Some(400), Some("invalid_body"))
    );
    let huge = format!("{{\"name\":\"{}\"}}", "a".repeat(2_000_000));
    let r = c
        .post(app.url("api/v2/clients"))
        .bearer_auth(&app.mgmt_token)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 413);
    let (s, b) = app
        .api(
            Method::POST,
            "clients",
            Some(json!({"name": "x", "evil": true})),
        )
        .await?;
    assert_eq!((s, b["errorCode"].as_str()), (400, Some("invalid_body")));
    Ok(())
}

/// Configuration is cached for the token endpoint; a change through the Management API must
/// take effect on the very next request.
#[tokio::test]
async fn configuration_changes_apply_immediately() -> TestResult {
    let app = TestApp::start().await?;
    let aud = "urn:test:cache";
    let (s, api) = app
        .api(
            Method::POST,
            "resource-servers",
            Some(json!({"identifier": aud, "scopes": [{"value": "a"}, {"value": "b"}]})),
        )
        .await?;
    assert_eq!(s, 201);
    let c = app
        .create_client(json!({"app_type": "non_interactive"}))
        .await?;
    let id = c["client_id"].as_str().ok_or("id")?;
    let secret = c["client_secret"].as_str().ok_or("secret")?;
    let (_, g) = app
        .api(
            Method::POST,
            "client-grants",
            Some(json!({"client_id": id, "audience": aud, "scope": ["a", "b"]})),
        )
        .await?;
    let form = |scope: &'static str| {
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
            ("audience", aud),
            ("scope", scope),
        ]
    };
    let (s, t) = app.token_form(&form("b")).await?;
    assert_eq!(s, 200, "{t} {g}");
    // Narrow the grant: scope b is refused at once.
    let (s, _) = app
        .api(
            Method::PATCH,
            &format!("client-grants/{}", g["id"].as_str().ok_or("gid")?),
            Some(json!({"scope": ["a"]})),
        )
        .await?;
    assert_eq!(s, 200);
    assert_eq!(app.token_form(&form("b")).await?.0, 403);
    // Switch the API's algorithm: the next token is signed with it.
    let (s, _) = app
        .api(
            Method::PATCH,
            &format!("resource-servers/{}", api["id"].as_str().ok_or("api id")?),
            Some(json!({"signing_alg": "EdDSA"})),
        )
        .await?;
    assert_eq!(s, 200);
    let (_, t) = app.token_form(&form("a")).await?;
    let header = t["access_token"]
        .as_str()
        .ok_or("at")?
        .split('.')
        .next()
        .ok_or("h")?
        .to_owned();
    let header: serde_json::Value =
        serde_json::from_slice(&custos_crypto::b64url_decode(&header).ok_or("b64")?)?;
    assert_eq!(header["alg"], "EdDSA");
    // Rotate the secret: the old one stops working at once.
    let (s, _) = app
        .api(Method::POST, &format!("clients/{id}/rotate-secret"), None)
        .await?;
    assert_eq!(s, 200);
    assert_eq!(app.token_form(&form("a")).await?.0, 401);
    Ok(())
}

#[tokio::test]
async fn every_response_carries_a_request_id() -> TestResult {
    let app = TestApp::start().await?;
    let c = reqwest::Client::new();
    let r = c.get(app.url("healthz")).send().await?;
    let generated = r
        .headers()
        .get("x-request-id")
        .ok_or("no request id")?
        .to_str()?
        .to_owned();
    assert_eq!(generated.len(), 20);
    let r = c
        .get(app.url("healthz"))
        .header("x-request-id", "trace-abc-123")
        .send()
        .await?;
    assert_eq!(r.headers()["x-request-id"], "trace-abc-123");
    let r = c
        .get(app.url("healthz"))
        .header("x-request-id", "x".repeat(200))
        .send()
        .await?;
    assert_ne!(
        r.headers()["x-request-id"].to_str()?,
        "x".repeat(200),
        "overlong ids are replaced"
    );
    Ok(())
}
