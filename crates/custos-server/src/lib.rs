//! The HTTP face of Custos: the axum router, request extractors (client metadata, management
//! authorisation), the single place where errors become HTTP responses, and the server-rendered
//! pages (login, logout, errors).
//!
//! Handlers are thin: they parse, call [`custos_oidc::Provider`] or
//! [`custos_manage::Manager`], and render. No protocol rule lives here.

mod error;
mod extract;
mod management;
mod oauth;
mod openapi;
mod pages;
mod ratelimit;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::routing::get;
use axum::Router;
use custos_oidc::Provider;
use tower_http::set_header::SetResponseHeaderLayer;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub provider: Arc<Provider>,
    /// The audit trail's runtime: log-stream workers (told when streams change), export jobs.
    pub trail: Arc<custos_trail::Runtime>,
    /// The relationship engine (loaded on first use, then kept coherent with the database).
    pub authz: Arc<custos_manage::Authz>,
    /// Management tokens verified in the last second.
    pub bearers: Arc<extract::BearerCache>,
    /// The Management API's per-client rate limit (`None`: off).
    pub limiter: Option<Arc<ratelimit::RateLimiter>>,
}

/// Settings of the HTTP layer itself.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Management API requests per second per client (0: no limit); `CUSTOS_MANAGEMENT_RATE_LIMIT`.
    pub management_rate_limit: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            management_rate_limit: 1_000,
        }
    }
}

/// Largest request body accepted anywhere (Auth0's Management API limit is 1 MB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The whole HTTP surface.
pub fn router(provider: Arc<Provider>, trail: Arc<custos_trail::Runtime>) -> Router {
    router_with(provider, trail, &HttpSettings::default())
}

/// The whole HTTP surface, with explicit HTTP settings.
pub fn router_with(
    provider: Arc<Provider>,
    trail: Arc<custos_trail::Runtime>,
    settings: &HttpSettings,
) -> Router {
    let limiter = ratelimit::RateLimiter::new(settings.management_rate_limit).map(Arc::new);
    let authz = custos_manage::Authz::new(provider.store.clone());
    let state = AppState {
        provider,
        trail,
        authz,
        bearers: Arc::default(),
        limiter,
    };
    Router::new()
        .merge(oauth::routes())
        .nest(
            "/api/v2",
            management::routes().layer(axum::middleware::from_fn(ratelimit::headers)),
        )
        .route("/.well-known/custos/audit-keys.json", get(audit_keys))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi::document))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(request_id))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .with_state(state)
}

/// Gives every request an id (the caller's `X-Request-Id` if it is short and printable, else a
/// new one), returns it in the response, and runs the request in a span carrying it, so an
/// error logged anywhere below names the request it belongs to.
async fn request_id(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument as _;
    const HEADER: &str = "x-request-id";
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .or_else(|| custos_crypto::random::alphanumeric(20).ok())
        .unwrap_or_default();
    let value = HeaderValue::from_str(&id).ok();
    if let Some(v) = &value {
        req.headers_mut().insert(HEADER, v.clone());
    }
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let mut response = next.run(req).instrument(span).await;
    if let Some(v) = value {
        response.headers_mut().insert(HEADER, v);
    }
    response
}

/// The audit checkpoint public keys (JWK Set, Ed25519), for checking exported checkpoints.
async fn audit_keys(
    axum::extract::State(s): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match custos_trail::keys::jwks(&s.provider.store).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "reading audit keys");
            axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(
    axum::extract::State(s): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let db = s.provider.store.ping().await;
    let keys = s
        .provider
        .keys
        .snapshot()
        .signer(custos_crypto::jws::Alg::RS256)
        .is_ok();
    let body = serde_json::json!({"database": db, "keys": keys});
    let status = if db && keys {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn not_found() -> axum::response::Response {
    error::api_error(&custos_manage::ApiError::not_found(
        "Not Found",
        "not_found",
    ))
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve_plain(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
