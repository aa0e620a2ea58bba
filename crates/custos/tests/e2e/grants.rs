//! Client authentication by private key JWT, introspection, the password grant, form_post,
//! and refresh-token leeway.

use custos_crypto::jws::{Alg, SigningKey};
use reqwest::Method;
use serde_json::json;

use crate::support::*;

fn now() -> i64 {
    custos_domain::Clock::now_secs(&custos_domain::SystemClock)
}

#[tokio::test]
async fn private_key_jwt_accepts_each_assertion_once() -> TestResult {
    let app = TestApp::start().await?;
    let key = SigningKey::generate(Alg::ES256, "k1")?;
    let other = SigningKey::generate(Alg::ES256, "k1")?;
    let (s, _) = app
        .api(
            Method::POST,
            "resource-servers",
            Some(json!({"identifier": "urn:pkj"})),
        )
        .await?;
    assert_eq!(s, 201);
    let c = app
        .create_client(json!({"app_type": "non_interactive", "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [key.public_jwk()]}}))
        .await?;
    assert!(
        c.get("client_secret").is_none(),
        "key-based clients have no secret"
    );
    let id = c["client_id"].as_str().ok_or("id")?;
    app.api(
        Method::POST,
        "client-grants",
        Some(json!({"client_id": id, "audience": "urn:pkj", "scope": []})),
    )
    .await?;
    let assertion = |signer: &SigningKey, aud: &str, jti: &str| {
        signer.sign_jwt(
            &json!({"iss": id, "sub": id, "aud": aud, "exp": now() + 60, "iat": now(), "jti": jti}),
        )
    };
    let token_endpoint = app.url("oauth/token");
    let request = |a: String| {
        vec![
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            ("audience".to_owned(), "urn:pkj".to_owned()),
            (
                "client_assertion_type".to_owned(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion".to_owned(), a),
        ]
    };
    let send = |form: Vec<(String, String)>| {
        let url = token_endpoint.clone();
        async move {
            let r = reqwest::Client::new().post(url).form(&form).send().await?;
            Ok::<u16, reqwest::Error>(r.status().as_u16())
        }
    };
    let good = assertion(&key, &token_endpoint, "jti-1")?;
    assert_eq!(send(request(good.clone())).await?, 200);
    assert_eq!(
        send(request(good)).await?,
        401,
        "a replayed assertion is refused"
    );
    assert_eq!(
        send(request(assertion(&other, &token_endpoint, "jti-2")?)).await?,
        401,
        "wrong key"
    );
    assert_eq!(
        send(request(assertion(&key, "https://elsewhere/", "jti-3")?)).await?,
        401,
        "wrong audience"
    );
    // A secret is not accepted for a key-based client.
    let (s, e) = app
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", "guess"),
            ("audience", "urn:pkj"),
        ])
        .await?;
    assert_eq!((s, e["error"].as_str()), (401, Some("invalid_client")));
    Ok(())
}

#[tokio::test]
async fn introspection_reports_revocation_and_guards_refresh_tokens() -> TestResult {
    let app = TestApp::start().await?;
    let web = app
        .create_client(json!({"app_type": "regular_web"}))
        .await?;
    let other = app
        .create_client(json!({"app_type": "regular_web"}))
        .await?;
    let (wid, wsec) = (
        web["client_id"].as_str().ok_or("id")?,
        web["client_secret"].as_str().ok_or("s")?,
    );
    app.create_user("ivy@example.com").await?;
    let l = app.login(wid, "ivy@example.com", PASSWORD).await?;
    let (_, t) = app
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", wid),
            ("client_secret", wsec),
            ("code", &l.code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &l.verifier),
        ])
        .await?;
    let introspect = |token: String, who: (String, String)| {
        let url = app.url("oauth/introspect");
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .form(&[
                    ("token", token),
                    ("client_id", who.0),
                    ("client_secret", who.1),
                ])
                .send()
                .await?;
            r.json::<serde_json::Value>().await
        }
    };
    let me = (wid.to_owned(), wsec.to_owned());
    let them = (
        other["client_id"].as_str().ok_or("id")?.to_owned(),
        other["client_secret"].as_str().ok_or("s")?.to_owned(),
    );
    let at = t["access_token"].as_str().ok_or("at")?.to_owned();
    let rt = t["refresh_token"].as_str().ok_or("rt")?.to_owned();
    let v = introspect(at.clone(), me.clone()).await?;
    assert_eq!(
        (v["active"].as_bool(), v["client_id"].as_str()),
        (Some(true), Some(wid))
    );
    let v = introspect(rt.clone(), me.clone()).await?;
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(
        introspect(rt.clone(), them).await?["active"],
        false,
        "refresh tokens only to their client"
    );
    assert_eq!(
        introspect("garbage".into(), me.clone()).await?["active"],
        false
    );
    let r = reqwest::Client::new()
        .post(app.url("oauth/revoke"))
        .form(&[
            ("token", rt.as_str()),
            ("client_id", wid),
            ("client_secret", wsec),
        ])
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        introspect(at, me.clone()).await?["active"],
        false,
        "revoking the family deactivates its access token"
    );
    assert_eq!(introspect(rt, me).await?["active"], false);
    // Unauthenticated introspection is refused.
    let r = reqwest::Client::new()
        .post(app.url("oauth/introspect"))
        .form(&[("token", "x")])
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 401);
    Ok(())
}

#[tokio::test]
async fn password_grant_only_where_enabled() -> TestResult {
    let app = TestApp::start().await?;
    app.create_user("pat@example.com").await?;
    let plain = app
        .create_client(json!({"app_type": "regular_web"}))
        .await?;
    let enabled = app
        .create_client(
            json!({"app_type": "regular_web", "grant_types": ["password", "refresh_token"]}),
        )
        .await?;
    let form = |c: &serde_json::Value, pw: &'static str| {
        vec![
            ("grant_type", "password".to_owned()),
            (
                "client_id",
                c["client_id"].as_str().unwrap_or_default().to_owned(),
            ),
            (
                "client_secret",
                c["client_secret"].as_str().unwrap_or_default().to_owned(),
            ),
            ("username", "pat@example.com".to_owned()),
            ("password", pw.to_owned()),
            ("scope", "openid offline_access".to_owned()),
        ]
    };
    let url = app.url("oauth/token");
    let post = |f: Vec<(&'static str, String)>| {
        let url = url.clone();
        async move {
            let r = reqwest::Client::new().post(url).form(&f).send().await?;
            let s = r.status().as_u16();
            Ok::<(u16, serde_json::Value), reqwest::Error>((s, r.json().await?))
        }
    };
    let (s, e) = post(form(&plain, PASSWORD)).await?;
    assert_eq!((s, e["error"].as_str()), (400, Some("unauthorized_client")));
    let (s, e) = post(form(&enabled, "wrong password")).await?;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    let (s, t) = post(form(&enabled, PASSWORD)).await?;
    assert_eq!(s, 200, "{t}");
    assert!(t["id_token"].is_string() && t["refresh_token"].is_string());
    assert_eq!(
        app.userinfo(t["access_token"].as_str().ok_or("at")?)
            .await?
            .0,
        200
    );
    assert!(
        !app.logs_of_type("sepft").await?.is_empty()
            && !app.logs_of_type("fepft").await?.is_empty()
    );
    Ok(())
}

#[tokio::test]
async fn form_post_response_mode() -> TestResult {
    let app = TestApp::start().await?;
    let client = app.create_client(json!({"app_type": "spa"})).await?;
    let id = client["client_id"].as_str().ok_or("id")?;
    app.create_user("fay@example.com").await?;
    let b = TestApp::browser()?;
    let challenge = custos_crypto::pkce::s256(&custos_crypto::random::token()?);
    let url = app.authorize_url(id, &challenge, "&response_mode=form_post");
    let form = app
        .login_form(&b, &url, "fay@example.com", PASSWORD)
        .await?;
    let r = b.post(app.url("u/login")).form(&form).send().await?;
    assert_eq!(r.status().as_u16(), 200);
    let csp = r.headers()["content-security-policy"].to_str()?.to_owned();
    let html = r.text().await?;
    assert!(html.contains(&format!("action=\"{CALLBACK}\"")), "{html}");
    assert!(hidden(&html, "code").is_some() && hidden(&html, "state").as_deref() == Some("st-1"));
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    Ok(())
}

#[tokio::test]
async fn refresh_leeway_allows_only_the_previous_token_within_the_window() -> TestResult {
    let app = TestApp::start().await?;
    let client = app.create_client(json!({"app_type": "spa", "refresh_token": {"rotation_type": "rotating", "leeway": 30}})).await?;
    let id = client["client_id"].as_str().ok_or("id")?;
    app.create_user("lee@example.com").await?;
    let l = app.login(id, "lee@example.com", PASSWORD).await?;
    let (_, t) = app.exchange(id, &l).await?;
    let refresh = |rt: String| {
        let f = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("client_id", id.to_owned()),
            ("refresh_token", rt),
        ];
        let url = app.url("oauth/token");
        async move {
            let r = reqwest::Client::new().post(url).form(&f).send().await?;
            let s = r.status().as_u16();
            Ok::<(u16, serde_json::Value), reqwest::Error>((s, r.json().await?))
        }
    };
    let rt1 = t["refresh_token"].as_str().ok_or("rt1")?.to_owned();
    let (s, t2) = refresh(rt1.clone()).await?;
    assert_eq!(s, 200);
    // Within the leeway, the previous token may be used again (a lost response, a second tab).
    let (s, t2b) = refresh(rt1.clone()).await?;
    assert_eq!(s, 200, "{t2b}");
    // Once its successor has been used, the previous token is a reuse: the family is revoked.
    let rt2 = t2["refresh_token"].as_str().ok_or("rt2")?.to_owned();
    assert_eq!(refresh(rt2).await?.0, 200);
    assert_eq!(refresh(rt1.clone()).await?.0, 400);
    assert_eq!(
        refresh(t2b["refresh_token"].as_str().ok_or("rt2b")?.to_owned())
            .await?
            .0,
        400,
        "whole family revoked"
    );

    // After the window, reuse is detected even if the successor is unused.
    let l = app.login(id, "lee@example.com", PASSWORD).await?;
    let (_, t) = app.exchange(id, &l).await?;
    let rt1 = t["refresh_token"].as_str().ok_or("rt1")?.to_owned();
    assert_eq!(refresh(rt1.clone()).await?.0, 200);
    app.advance(31);
    assert_eq!(refresh(rt1).await?.0, 400);
    assert!(app.logs_of_type("ferrt").await?.len() >= 2);
    Ok(())
}
