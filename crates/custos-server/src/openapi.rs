//! The OpenAPI document of the HTTP surface, served at `/openapi.json`.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// The document, kept beside the code so a test can check it against the router.
pub const DOCUMENT: &str = include_str!("../openapi.json");

pub async fn document() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        DOCUMENT,
    )
        .into_response()
}
