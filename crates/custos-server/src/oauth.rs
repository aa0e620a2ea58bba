//! OAuth 2.0 / OIDC routes at Auth0's paths.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use custos_crypto::Secret;
use custos_oidc::{
    AuthorizeOutcome, AuthorizeParams, ClientCredentials, LoginForm, LoginOutcome, LogoutOutcome,
    LogoutParams, OAuthError, SignupRequest, TokenRequest,
};
use serde_json::{json, Value};

use crate::error::{oauth_error, provider_error};
use crate::extract::{Meta, OAuthForm};
use crate::pages;
use crate::AppState;

pub const SESSION_COOKIE: &str = "custos_session";
pub const CSRF_COOKIE: &str = "custos_csrf";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/authorize", get(authorize))
        .route("/u/login", get(login_page).post(login_submit))
        .route("/oauth/token", post(token))
        .route("/userinfo", get(userinfo).post(userinfo))
        .route("/oauth/revoke", post(revoke))
        .route("/oauth/introspect", post(introspect))
        .route("/oidc/logout", get(oidc_logout).post(oidc_logout_post))
        .route("/v2/logout", get(v2_logout))
        .route("/dbconnections/signup", post(signup))
}

fn cacheable_json(bytes: std::sync::Arc<[u8]>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ],
        axum::body::Bytes::from_owner(bytes),
    )
        .into_response()
}

async fn discovery(State(s): State<AppState>) -> Response {
    cacheable_json(s.provider.discovery())
}

async fn jwks(State(s): State<AppState>) -> Response {
    cacheable_json(s.provider.jwks())
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn set_cookie(
    s: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<i64>,
) -> HeaderValue {
    let secure = if s.provider.settings.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let age = max_age
        .map(|a| format!("; Max-Age={a}"))
        .unwrap_or_default();
    let text = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax{secure}{age}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

fn respond_to_client(r: &custos_oidc::ClientResponse) -> Response {
    match r.response_mode {
        custos_domain::oauth::ResponseMode::Query => Redirect::to(&r.location()).into_response(),
        custos_domain::oauth::ResponseMode::FormPost => {
            pages::form_post(&r.redirect_uri, &r.params)
        }
    }
}

async fn authorize(
    State(s): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let mut map: HashMap<String, String> = HashMap::new();
    for (k, v) in q {
        if map.insert(k.clone(), v).is_some() {
            return pages::error_page(&OAuthError::invalid_request(format!(
                "Parameter '{k}' was sent more than once"
            )));
        }
    }
    let g = |k: &str| map.get(k).cloned();
    let params = AuthorizeParams {
        client_id: g("client_id"),
        redirect_uri: g("redirect_uri"),
        response_type: g("response_type"),
        response_mode: g("response_mode"),
        scope: g("scope"),
        state: g("state"),
        nonce: g("nonce"),
        code_challenge: g("code_challenge"),
        code_challenge_method: g("code_challenge_method"),
        prompt: g("prompt"),
        max_age: g("max_age"),
        audience: g("audience"),
        organization: g("organization"),
        session_token: cookie(&headers, SESSION_COOKIE),
    };
    match s.provider.authorize(params, &meta).await {
        Ok(AuthorizeOutcome::ErrorPage(e)) => pages::error_page(&e),
        Ok(AuthorizeOutcome::Respond(r)) => respond_to_client(&r),
        Ok(AuthorizeOutcome::Login {
            transaction_id,
            csrf,
        }) => {
            let location = format!(
                "/u/login?state={}",
                url::form_urlencoded::byte_serialize(transaction_id.as_bytes()).collect::<String>()
            );
            let mut r = Redirect::to(&location).into_response();
            r.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(&s, CSRF_COOKIE, &csrf, "/u/", None),
            );
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "authorize failed");
            pages::error_page(&OAuthError {
                error: "server_error",
                description: "The server could not complete the request".into(),
                status: 500,
                challenge: None,
            })
        }
    }
}

async fn login_page(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let state = q.get("state").cloned().unwrap_or_default();
    match s.provider.login_page(&state).await {
        Ok(Some(page)) => pages::login(&page),
        Ok(None) => pages::error_page(&OAuthError::invalid_request(
            "This login request has expired or is unknown. Go back to the application and try again.",
        )),
        Err(e) => provider_error(e),
    }
}

async fn login_submit(
    State(s): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    OAuthForm(f): OAuthForm,
) -> Response {
    let g = |k: &str| f.get(k).cloned().unwrap_or_default();
    let form = LoginForm {
        transaction_id: g("state"),
        csrf_form: g("csrf"),
        csrf_cookie: cookie(&headers, CSRF_COOKIE),
        username: g("username"),
        password: Secret::new(g("password")),
    };
    match s.provider.login(form, &meta).await {
        Ok(LoginOutcome::Success {
            session_token,
            respond,
        }) => {
            let mut r = respond_to_client(&respond);
            let max_age = s.provider.settings.session.absolute / 1000;
            let h = r.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(&s, SESSION_COOKIE, &session_token, "/", Some(max_age)),
            );
            h.append(
                header::SET_COOKIE,
                set_cookie(&s, CSRF_COOKIE, "", "/u/", Some(0)),
            );
            r
        }
        Ok(LoginOutcome::Retry(page)) => {
            let mut r = pages::login(&page);
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r
        }
        Ok(LoginOutcome::ErrorPage(e)) => pages::error_page(&e),
        Err(e) => provider_error(e),
    }
}

/// Client credentials from the Authorization header and the form.
fn credentials(
    headers: &HeaderMap,
    f: &HashMap<String, String>,
) -> Result<ClientCredentials, OAuthError> {
    let basic = match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(v) if v.len() > 6 && v[..6].eq_ignore_ascii_case("basic ") => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(v[6..].trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    OAuthError::invalid_client("Malformed Basic authorization header")
                })?;
            let (id, secret) = decoded.split_once(':').ok_or_else(|| {
                OAuthError::invalid_client("Malformed Basic authorization header")
            })?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded.
            let dec = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((
                dec(id).unwrap_or_default(),
                Secret::new(dec(secret).unwrap_or_default()),
            ))
        }
        _ => None,
    };
    Ok(ClientCredentials {
        basic,
        client_id: f.get("client_id").cloned(),
        client_secret: f.get("client_secret").cloned().map(Secret::new),
        client_assertion_type: f.get("client_assertion_type").cloned(),
        client_assertion: f.get("client_assertion").cloned(),
    })
}

fn no_store(body: Value) -> Response {
    let mut r = Json(body).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

async fn token(
    State(s): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    OAuthForm(f): OAuthForm,
) -> Response {
    let creds = match credentials(&headers, &f) {
        Ok(c) => c,
        Err(e) => return oauth_error(&e),
    };
    let g = |k: &str| f.get(k).cloned();
    let req = TokenRequest {
        grant_type: g("grant_type"),
        code: g("code"),
        redirect_uri: g("redirect_uri"),
        code_verifier: g("code_verifier"),
        refresh_token: g("refresh_token"),
        scope: g("scope"),
        audience: g("audience"),
        username: g("username"),
        password: g("password").map(Secret::new),
        credentials: creds,
    };
    match s.provider.token(req, &meta).await {
        Ok(t) => no_store(serde_json::to_value(&t).unwrap_or_default()),
        Err(e) => provider_error(e),
    }
}

async fn userinfo(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") {
                Some(v[7..].trim())
            } else {
                None
            }
        });
    let Some(token) = token else {
        let mut r = (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_request", "error_description": "Missing bearer token"})),
        )
            .into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"custos\""),
        );
        return r;
    };
    match s.provider.userinfo(token).await {
        Ok(v) => no_store(v),
        Err(e) => provider_error(e),
    }
}

async fn revoke(
    State(s): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    OAuthForm(f): OAuthForm,
) -> Response {
    let creds = match credentials(&headers, &f) {
        Ok(c) => c,
        Err(e) => return oauth_error(&e),
    };
    let token = f.get("token").cloned().unwrap_or_default();
    match s.provider.revoke(&creds, &token, &meta).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => provider_error(e),
    }
}

async fn introspect(
    State(s): State<AppState>,
    headers: HeaderMap,
    OAuthForm(f): OAuthForm,
) -> Response {
    let creds = match credentials(&headers, &f) {
        Ok(c) => c,
        Err(e) => return oauth_error(&e),
    };
    let token = f.get("token").cloned().unwrap_or_default();
    match s
        .provider
        .introspect(&creds, &token, f.get("token_type_hint").map(String::as_str))
        .await
    {
        Ok(v) => no_store(v),
        Err(e) => provider_error(e),
    }
}

async fn logout(
    s: AppState,
    meta: custos_oidc::RequestMeta,
    headers: HeaderMap,
    p: LogoutParams,
) -> Response {
    let p = LogoutParams {
        session_token: cookie(&headers, SESSION_COOKIE),
        ..p
    };
    let mut r = match s.provider.logout(p, &meta).await {
        Ok(LogoutOutcome::Redirect(url)) => Redirect::to(&url).into_response(),
        Ok(LogoutOutcome::LoggedOut) => pages::logged_out(),
        Ok(LogoutOutcome::ErrorPage(e)) => return pages::error_page(&e),
        Err(e) => return provider_error(e),
    };
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&s, SESSION_COOKIE, "", "/", Some(0)),
    );
    r
}

fn oidc_logout_params(q: &HashMap<String, String>) -> LogoutParams {
    LogoutParams {
        session_token: None,
        id_token_hint: q.get("id_token_hint").cloned(),
        client_id: q.get("client_id").cloned(),
        post_logout_redirect_uri: q.get("post_logout_redirect_uri").cloned(),
        state: q.get("state").cloned(),
    }
}

async fn oidc_logout(
    State(s): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    logout(s, meta, headers, oidc_logout_params(&q)).await
}

async fn oidc_logout_post(
    State(s): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    OAuthForm(f): OAuthForm,
) -> Response {
    logout(s, meta, headers, oidc_logout_params(&f)).await
}

async fn v2_logout(
    State(s): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let p = LogoutParams {
        session_token: None,
        id_token_hint: None,
        client_id: q.get("client_id").cloned(),
        post_logout_redirect_uri: q.get("returnTo").cloned(),
        state: None,
    };
    logout(s, meta, headers, p).await
}

/// Auth0's `/dbconnections/signup` error body.
fn signup_error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"name": "BadRequestError", "code": code, "description": description, "statusCode": status.as_u16()})),
    )
        .into_response()
}

async fn signup(State(s): State<AppState>, Meta(meta): Meta, body: axum::body::Bytes) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return signup_error(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "Invalid request payload JSON format",
        );
    };
    let str_of = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let (Some(client_id), Some(email), Some(password), Some(connection)) = (
        str_of("client_id"),
        str_of("email"),
        str_of("password"),
        str_of("connection"),
    ) else {
        return signup_error(
            StatusCode::BAD_REQUEST,
            "invalid_signup",
            "client_id, email, password and connection are required",
        );
    };
    let req = SignupRequest {
        client_id,
        connection,
        email,
        password: Secret::new(password),
        name: str_of("name"),
        given_name: str_of("given_name"),
        family_name: str_of("family_name"),
        nickname: str_of("nickname"),
        picture: str_of("picture"),
        user_metadata: v.get("user_metadata").cloned(),
    };
    match s.provider.signup(req, &meta).await {
        Ok(Ok(user)) => Json(json!({
            "_id": user.user_id.trim_start_matches(custos_domain::user::USER_ID_PREFIX),
            "email": user.email,
            "email_verified": user.email_verified,
        }))
        .into_response(),
        Ok(Err(refusal)) => {
            signup_error(StatusCode::BAD_REQUEST, refusal.code, &refusal.description)
        }
        Err(e) => provider_error(e),
    }
}
