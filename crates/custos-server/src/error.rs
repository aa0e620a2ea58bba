//! The one place where errors become HTTP responses. Internal detail is logged here, once,
//! and never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use custos_manage::ApiError;
use custos_oidc::{OAuthError, ProviderError};
use serde_json::json;

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Protocol endpoints' JSON errors (RFC 6749 §5.2), never cached.
pub fn oauth_error(e: &OAuthError) -> Response {
    let mut r = (
        status(e.status),
        Json(json!({"error": e.error, "error_description": e.description})),
    )
        .into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(c) = e
        .challenge
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        h.insert(header::WWW_AUTHENTICATE, c);
    }
    r
}

/// A provider failure on a protocol endpoint.
pub fn provider_error(e: ProviderError) -> Response {
    match e {
        ProviderError::OAuth(o) => oauth_error(&o),
        ProviderError::InvalidToken(why) => oauth_error(&OAuthError::invalid_token(why)),
        other => {
            tracing::error!(error = %other, "request failed");
            oauth_error(&OAuthError {
                error: "server_error",
                description: "The server could not complete the request".into(),
                status: 500,
                challenge: None,
            })
        }
    }
}

/// Management API errors in Auth0's envelope.
pub fn api_error(e: &ApiError) -> Response {
    (status(e.status), Json(e.body())).into_response()
}
