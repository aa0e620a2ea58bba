//! The authorization-code flow through the login page, and its failure modes.

use reqwest::Method;
use serde_json::json;

use crate::support::*;

async fn public_client(app: &TestApp) -> R<String> {
    let c = app.create_client(json!({"app_type": "spa"})).await?;
    Ok(c["client_id"].as_str().ok_or("id")?.to_owned())
}

#[tokio::test]
async fn code_flow_userinfo_refresh_reuse_and_revoke() -> TestResult {
    let app = TestApp::start().await?;
    let client = public_client(&app).await?;
    let user = app.create_user("Alice@Example.com").await?;
    let login = app.login(&client, "alice@example.com", PASSWORD).await?;
    assert_eq!(login.state, "st-1");
    let (s, t) = app.exchange(&client, &login).await?;
    assert_eq!(s, 200, "{t}");
    let id_token = t["id_token"].as_str().ok_or("id_token")?;
    let claims: serde_json::Value = serde_json::from_slice(
        &custos_crypto::b64url_decode(id_token.split('.').nth(1).ok_or("p")?).ok_or("b")?,
    )?;
    assert_eq!(claims["sub"], user["user_id"]);
    assert_eq!(claims["aud"], client);
    assert_eq!(claims["azp"], client);
    assert_eq!(claims["nonce"], "n-1");
    for c in ["iss", "exp", "iat", "auth_time", "at_hash", "sid"] {
        assert!(claims.get(c).is_some(), "id token lacks {c}");
    }
    let access = t["access_token"].as_str().ok_or("at")?;
    let (s, info) = app.userinfo(access).await?;
    assert_eq!(
        (s, info["email"].as_str()),
        (200, Some("alice@example.com"))
    );

    // Refresh rotates; the old token reused revokes the whole family, the newest included.
    let rt1 = t["refresh_token"].as_str().ok_or("rt")?.to_owned();
    let (s, t2) = app
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client),
            ("refresh_token", &rt1),
        ])
        .await?;
    assert_eq!(s, 200, "{t2}");
    let rt2 = t2["refresh_token"].as_str().ok_or("rt2")?.to_owned();
    assert_ne!(rt1, rt2);
    let (s, e) = app
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client),
            ("refresh_token", &rt1),
        ])
        .await?;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    let (s, _) = app
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client),
            ("refresh_token", &rt2),
        ])
        .await?;
    assert_eq!(s, 400, "family revoked");
    let (s, _) = app
        .userinfo(t2["access_token"].as_str().ok_or("at2")?)
        .await?;
    assert_eq!(s, 401, "access tokens of a revoked family fail at userinfo");
    assert_eq!(app.logs_of_type("ferrt").await?.len(), 1);

    // SSO: the session answers a second authorize without the login page; then revoke.
    let verifier = custos_crypto::random::token()?;
    let r = login
        .browser
        .get(app.authorize_url(&client, &custos_crypto::pkce::s256(&verifier), ""))
        .send()
        .await?;
    let loc = r.headers()["location"].to_str()?.to_owned();
    assert!(
        loc.starts_with(CALLBACK),
        "SSO should redirect straight back: {loc}"
    );
    let l2 = Login {
        browser: login.browser.clone(),
        verifier,
        code: query_param(&loc, "code").ok_or("code")?,
        state: String::new(),
    };
    let (_, t3) = app.exchange(&client, &l2).await?;
    let rt3 = t3["refresh_token"].as_str().ok_or("rt3")?;
    let r = reqwest::Client::new()
        .post(app.url("oauth/revoke"))
        .form(&[("client_id", client.as_str()), ("token", rt3)])
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    let (s, _) = app
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client),
            ("refresh_token", rt3),
        ])
        .await?;
    assert_eq!(s, 400);
    let (s, _) = app
        .userinfo(t3["access_token"].as_str().ok_or("at3")?)
        .await?;
    assert_eq!(s, 401);

    // Logout ends the session: authorize asks for a login again.
    let r = login
        .browser
        .get(app.url(&format!(
            "oidc/logout?client_id={client}&post_logout_redirect_uri=http://127.0.0.1:9/bye"
        )))
        .send()
        .await?;
    assert_eq!(r.headers()["location"], "http://127.0.0.1:9/bye");
    let r = login
        .browser
        .get(app.authorize_url(
            &client,
            &custos_crypto::pkce::s256(&custos_crypto::random::token()?),
            "",
        ))
        .send()
        .await?;
    assert!(r.headers()["location"].to_str()?.starts_with("/u/login"));
    for t in ["s", "seacft", "sertft", "srrt", "slo"] {
        assert!(
            !app.logs_of_type(t).await?.is_empty(),
            "no {t} audit record"
        );
    }
    Ok(())
}

#[tokio::test]
async fn authorize_rejections() -> TestResult {
    let app = TestApp::start().await?;
    let client = public_client(&app).await?;
    let b = TestApp::browser()?;
    let challenge = custos_crypto::pkce::s256(&custos_crypto::random::token()?);
    // Wrong redirect URI: an error page, never a redirect.
    let r = b
        .get(format!("{}authorize?response_type=code&client_id={client}&redirect_uri=https://evil.example/cb&code_challenge={challenge}&code_challenge_method=S256", app.base))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.headers().get("location").is_none());
    // Unknown client.
    let r = b
        .get(app.url("authorize?response_type=code&client_id=nope&redirect_uri=x"))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 400);
    // Errors after validation go back to the client with state.
    for (extra_challenge, extra, error) in [
        ("", "&code_challenge_method=", "invalid_request"),
        (
            "plain-verifier-plain-verifier-plain-verifier-x",
            "&code_challenge_method=plain",
            "invalid_request",
        ),
        (challenge.as_str(), "&prompt=none", "login_required"),
        (challenge.as_str(), "&prompt=consent", "invalid_request"),
        (challenge.as_str(), "&max_age=-5", "invalid_request"),
        (challenge.as_str(), "&audience=urn:unknown", "access_denied"),
    ] {
        let url = app
            .authorize_url(&client, extra_challenge, extra)
            .replace("&code_challenge=&", "&")
            .replace(
                "&code_challenge_method=S256&code_challenge_method=",
                "&code_challenge_method=",
            );
        let r = b.get(&url).send().await?;
        let loc = r
            .headers()
            .get("location")
            .ok_or(format!("no redirect for {extra}"))?
            .to_str()?
            .to_owned();
        assert!(loc.starts_with(CALLBACK), "{loc}");
        assert_eq!(
            query_param(&loc, "error").as_deref(),
            Some(error),
            "{extra}: {loc}"
        );
        assert_eq!(query_param(&loc, "state").as_deref(), Some("st-1"));
    }
    Ok(())
}

#[tokio::test]
async fn code_exchange_failures() -> TestResult {
    let app = TestApp::start().await?;
    let client = public_client(&app).await?;
    app.create_user("bob@example.com").await?;

    // Wrong and missing verifier.
    let l = app.login(&client, "bob@example.com", PASSWORD).await?;
    let (s, e) = app
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &client),
            ("code", &l.code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &custos_crypto::random::token()?),
        ])
        .await?;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    let (s, e) = app
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &client),
            ("code", &l.code),
            ("redirect_uri", CALLBACK),
        ])
        .await?;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_request")));
    // Wrong redirect URI at the token endpoint.
    let (s, e) = app
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &client),
            ("code", &l.code),
            ("redirect_uri", "http://127.0.0.1:9/other"),
            ("code_verifier", &l.verifier),
        ])
        .await?;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));

    // A code used twice: the second use fails and revokes what the first issued.
    let (s, t) = app.exchange(&client, &l).await?;
    assert_eq!(s, 200, "{t}");
    let (s, e) = app.exchange(&client, &l).await?;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    let (s, _) = app
        .userinfo(t["access_token"].as_str().ok_or("at")?)
        .await?;
    assert_eq!(s, 401);
    let (s, _) = app
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client),
            ("refresh_token", t["refresh_token"].as_str().ok_or("rt")?),
        ])
        .await?;
    assert_eq!(s, 400);

    // An expired code.
    let l = app.login(&client, "bob@example.com", PASSWORD).await?;
    app.advance(120);
    let (s, e) = app.exchange(&client, &l).await?;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    Ok(())
}

#[tokio::test]
async fn wrong_password_blocked_user_and_csrf() -> TestResult {
    let app = TestApp::start().await?;
    let client = public_client(&app).await?;
    let user = app.create_user("carol@example.com").await?;
    assert!(app
        .login(&client, "carol@example.com", "not the password")
        .await
        .is_err());
    assert!(app
        .login(&client, "nobody@example.com", PASSWORD)
        .await
        .is_err());
    assert_eq!(app.logs_of_type("fp").await?.len(), 1);
    assert_eq!(app.logs_of_type("fu").await?.len(), 1);

    // The login form without the browser's CSRF cookie is refused.
    let b = TestApp::browser()?;
    let url = app.authorize_url(
        &client,
        &custos_crypto::pkce::s256(&custos_crypto::random::token()?),
        "",
    );
    let form = app
        .login_form(&b, &url, "carol@example.com", PASSWORD)
        .await?;
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .post(app.url("u/login"))
        .form(&form)
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 400);

    // Blocking revokes refresh tokens and prevents login.
    let l = app.login(&client, "carol@example.com", PASSWORD).await?;
    let (_, t) = app.exchange(&client, &l).await?;
    let uid = user["user_id"].as_str().ok_or("uid")?;
    let (s, _) = app
        .api(
            Method::PATCH,
            &format!("users/{uid}"),
            Some(json!({"blocked": true})),
        )
        .await?;
    assert_eq!(s, 200);
    let (s, _) = app
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client),
            ("refresh_token", t["refresh_token"].as_str().ok_or("rt")?),
        ])
        .await?;
    assert_eq!(s, 400);
    let (s, _) = app
        .userinfo(t["access_token"].as_str().ok_or("at")?)
        .await?;
    assert_eq!(s, 401);
    assert!(app
        .login(&client, "carol@example.com", PASSWORD)
        .await
        .is_err());
    Ok(())
}

#[tokio::test]
async fn userinfo_rejects_tampered_and_expired_tokens() -> TestResult {
    let app = TestApp::start().await?;
    let client = public_client(&app).await?;
    app.create_user("dan@example.com").await?;
    let l = app.login(&client, "dan@example.com", PASSWORD).await?;
    let (_, t) = app.exchange(&client, &l).await?;
    let at = t["access_token"].as_str().ok_or("at")?;
    let mut parts: Vec<String> = at.split('.').map(str::to_owned).collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&custos_crypto::b64url_decode(&parts[1]).ok_or("b")?)?;
    claims["sub"] = json!("auth0|someone-else");
    parts[1] = custos_crypto::b64url(serde_json::to_vec(&claims)?);
    for bad in [
        parts.join("."),
        "garbage".into(),
        format!("{at}x"),
        String::new(),
    ] {
        let (s, e) = app.userinfo(&bad).await?;
        assert_eq!(s, 401, "{bad:.20} → {e}");
    }
    app.advance(90_000);
    let (s, e) = app.userinfo(at).await?;
    assert_eq!((s, e["error"].as_str()), (401, Some("invalid_token")));
    Ok(())
}

#[tokio::test]
async fn signup_and_key_rotation_keep_tokens_valid() -> TestResult {
    let app = TestApp::start().await?;
    let client = public_client(&app).await?;
    let c = reqwest::Client::new();
    let body = json!({"client_id": client, "email": "eve@example.com", "password": PASSWORD, "connection": "Username-Password-Authentication", "name": "Eve ünïcødé 💥 '; DROP TABLE users; --"});
    let r = c
        .post(app.url("dbconnections/signup"))
        .json(&body)
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    let r = c
        .post(app.url("dbconnections/signup"))
        .json(&body)
        .send()
        .await?;
    let e: serde_json::Value = r.json().await?;
    assert_eq!(e["code"], "user_exists");
    let r = c.post(app.url("dbconnections/signup")).json(&json!({"client_id": client, "email": "weak@example.com", "password": "short", "connection": "Username-Password-Authentication"})).send().await?;
    assert_eq!(r.status().as_u16(), 400);
    let l = app.login(&client, "eve@example.com", PASSWORD).await?;
    let (_, t) = app.exchange(&client, &l).await?;
    let (s, info) = app
        .userinfo(t["access_token"].as_str().ok_or("at")?)
        .await?;
    assert_eq!(
        (s, info["name"].as_str()),
        (200, Some("Eve ünïcødé 💥 '; DROP TABLE users; --"))
    );
    let (s, rotated) = app.api(Method::POST, "keys/signing/rotate", None).await?;
    assert_eq!(s, 201, "{rotated}");
    let (s, _) = app
        .userinfo(t["access_token"].as_str().ok_or("at")?)
        .await?;
    assert_eq!(s, 200, "a token signed before rotation still verifies");
    Ok(())
}

/// HIPAA automatic logoff: a session ends after its idle lifetime without use, and after its
/// absolute lifetime even when used (the test app: idle 1 h, absolute 8 h).
#[tokio::test]
async fn sessions_expire_when_idle_and_at_their_absolute_limit() -> TestResult {
    let app = TestApp::start().await?;
    let client = public_client(&app).await?;
    app.create_user("gus@example.com").await?;
    let sso = |l: &Login| {
        let url = app.authorize_url(
            &client,
            &custos_crypto::pkce::s256("v".repeat(43).as_str()),
            "",
        );
        let b = l.browser.clone();
        async move {
            let r = b.get(url).send().await?;
            Ok::<bool, reqwest::Error>(
                r.headers()["location"]
                    .to_str()
                    .unwrap_or_default()
                    .starts_with(CALLBACK),
            )
        }
    };
    let l = app.login(&client, "gus@example.com", PASSWORD).await?;
    app.advance(50 * 60);
    assert!(
        sso(&l).await?,
        "used within the idle lifetime: still logged in"
    );
    app.advance(50 * 60);
    assert!(sso(&l).await?, "each use extends the idle deadline");
    app.advance(61 * 60);
    assert!(!sso(&l).await?, "idle for over an hour: logged off");

    let l = app.login(&client, "gus@example.com", PASSWORD).await?;
    for _ in 0..9 {
        app.advance(55 * 60);
        if !sso(&l).await? {
            break;
        }
    }
    assert!(
        !sso(&l).await?,
        "the absolute lifetime ends the session even when it is used"
    );
    Ok(())
}

#[tokio::test]
async fn brute_force_protection_blocks_an_address_after_ten_wrong_passwords() -> TestResult {
    let app = TestApp::start().await?;
    let u = app.create_user("target@example.com").await?;
    let id = u["user_id"].as_str().unwrap_or_default().to_owned();
    let c = app
        .create_client(json!({"app_type": "regular_web", "grant_types": ["password"]}))
        .await?;
    let post = |pw: &str| {
        let form = vec![
            ("grant_type", "password".to_owned()),
            (
                "client_id",
                c["client_id"].as_str().unwrap_or_default().to_owned(),
            ),
            (
                "client_secret",
                c["client_secret"].as_str().unwrap_or_default().to_owned(),
            ),
            ("username", "target@example.com".to_owned()),
            ("password", pw.to_owned()),
        ];
        let url = app.url("oauth/token");
        async move {
            let r = reqwest::Client::new().post(url).form(&form).send().await?;
            let s = r.status().as_u16();
            Ok::<(u16, serde_json::Value), reqwest::Error>((s, r.json().await?))
        }
    };
    for i in 1..=10 {
        let (s, e) = post("guess").await?;
        assert_eq!(
            (s, e["error"].as_str()),
            (400, Some("invalid_grant")),
            "{i}: {e}"
        );
        if i == 10 {
            assert!(
                e["error_description"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("blocked"),
                "{e}"
            );
        }
    }
    // Blocked now, even with the right password; the login page refuses too.
    let (s, e) = post(PASSWORD).await?;
    assert_eq!(s, 400);
    assert!(
        e["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("blocked"),
        "{e}"
    );
    let client = public_client(&app).await?;
    assert!(app
        .login(&client, "target@example.com", PASSWORD)
        .await
        .is_err());
    let limit = app.logs_of_type("limit_wc").await?;
    assert_eq!(limit.len(), 1);
    assert_eq!(limit[0]["user_id"], id);
    assert_eq!(app.logs_of_type("fepft").await?.len(), 11);
    // The administrator sees and lifts the block; the right password works again.
    let path = format!(
        "user-blocks/{}",
        url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
    );
    let (s, blocks) = app.api(reqwest::Method::GET, &path, None).await?;
    assert_eq!(s, 200, "{blocks}");
    assert_eq!(blocks["blocked_for"][0]["identifier"], "target@example.com");
    let (s, _) = app.api(reqwest::Method::DELETE, &path, None).await?;
    assert_eq!(s, 204);
    let (s, t) = post(PASSWORD).await?;
    assert_eq!(s, 200, "{t}");
    // A successful login resets the count: nine more failures do not block.
    for _ in 0..9 {
        post("guess").await?;
    }
    let (s, _) = post(PASSWORD).await?;
    assert_eq!(s, 200);
    Ok(())
}
